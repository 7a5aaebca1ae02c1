package resource

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// WellKnownMetadataPath is where RFC 9728 puts a protected resource's
// metadata, between the host and the path of its identifier (§3.1).
const WellKnownMetadataPath = "/.well-known/oauth-protected-resource"

// Metadata is OAuth 2.0 Protected Resource Metadata (RFC 9728 §2): what a
// client needs to learn, from the resource server alone, which
// authorization server issues tokens for it and what it accepts.
type Metadata struct {
	// Resource is the resource server's identifier: the audience its
	// tokens carry, an https URL (http only on loopback) without query or
	// fragment. Required.
	Resource string `json:"resource"`
	// AuthorizationServers are the issuers whose tokens it accepts.
	AuthorizationServers []string `json:"authorization_servers,omitempty"`
	// ScopesSupported are the scopes it checks.
	ScopesSupported []string `json:"scopes_supported,omitempty"`
	// BearerMethodsSupported says how it takes tokens; this package's
	// middleware reads only the Authorization header, so "header" is the
	// default.
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	// ResourceName is shown to people; optional.
	ResourceName string `json:"resource_name,omitempty"`
	// ResourceDocumentation is a URL of documentation for developers;
	// optional.
	ResourceDocumentation string `json:"resource_documentation,omitempty"`
}

// MetadataURL returns the URL of the metadata of the resource identified
// by resource (RFC 9728 §3.1): https://api.example/v1 has its metadata at
// https://api.example/.well-known/oauth-protected-resource/v1.
func MetadataURL(resource string) (string, error) {
	u, err := checkResourceID(resource)
	if err != nil {
		return "", err
	}
	path := strings.TrimSuffix(u.Path, "/")
	return u.Scheme + "://" + u.Host + WellKnownMetadataPath + path, nil
}

// checkResourceID checks a resource identifier as §2 wants it.
func checkResourceID(resource string) (*url.URL, error) {
	u, err := url.Parse(resource)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "":
		return nil, fmt.Errorf("resource %q is not an absolute URL", resource)
	case u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(resource, "?#"):
		return nil, fmt.Errorf("resource %q must have no query or fragment (RFC 9728 §2)", resource)
	case u.User != nil:
		return nil, fmt.Errorf("resource %q must have no user information", resource)
	case u.Scheme == "https":
		return u, nil
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
		return u, nil
	}
	return nil, fmt.Errorf("resource %q must use https (http only on localhost or a loopback address)", resource)
}

func isLoopbackHost(h string) bool {
	h = strings.ToLower(h)
	return h == "localhost" || strings.HasSuffix(h, ".localhost") || h == "::1" || strings.HasPrefix(h, "127.")
}

// MetadataHandler serves m as JSON (GET and HEAD), readable from any
// origin, after checking it: a resource identifier as §2 wants, absolute
// authorization server URLs, bearer methods among header, body and query.
// Mount it at the path of MetadataURL(m.Resource).
func MetadataHandler(m Metadata) (http.Handler, error) {
	if _, err := checkResourceID(m.Resource); err != nil {
		return nil, fmt.Errorf("protected resource metadata: %w", err)
	}
	for _, as := range m.AuthorizationServers {
		if u, err := url.Parse(as); err != nil || !u.IsAbs() || u.Host == "" {
			return nil, fmt.Errorf("protected resource metadata: authorization server %q is not an absolute URL", as)
		}
	}
	if len(m.BearerMethodsSupported) == 0 {
		m.BearerMethodsSupported = []string{"header"}
	}
	for _, bm := range m.BearerMethodsSupported {
		if bm != "header" && bm != "body" && bm != "query" {
			return nil, fmt.Errorf("protected resource metadata: bearer method %q is not header, body or query (RFC 9728 §2)", bm)
		}
	}
	for _, s := range m.ScopesSupported {
		if !isScopeToken(s) {
			return nil, fmt.Errorf("protected resource metadata: %q is not a scope", s)
		}
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, errors.New("protected resource metadata: cannot encode")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "invalid_request", "metadata is read with GET")
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "public, max-age=3600")
		h.Set("Access-Control-Allow-Origin", "*")
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(body)
	}), nil
}
