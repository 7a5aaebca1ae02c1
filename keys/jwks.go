package keys

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
)

var b64 = base64.RawURLEncoding

// JWKS returns the published key set, as served, and its ETag. Both are empty
// before Load. The body is a copy the caller may keep.
func (m *Manager) JWKS() (body []byte, etag string) {
	s := m.snap.Load()
	if s == nil {
		return nil, ""
	}
	return bytes.Clone(s.jwks), s.etag
}

// JWKSHandler serves the key set from memory for GET and HEAD, with an ETag
// and Cache-Control max-age of Options.JWKSMaxAge; a matching If-None-Match
// gets 304. Before Load it answers 503, since an empty set would make clients
// reject every token until their cache expires.
func (m *Manager) JWKSHandler() http.Handler {
	cacheControl := "public, max-age=" + strconv.Itoa(int(m.maxAge.Seconds()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		s := m.snap.Load()
		if s == nil {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "signing keys not loaded", http.StatusServiceUnavailable)
			return
		}
		h := w.Header()
		h.Set("Cache-Control", cacheControl)
		h.Set("ETag", s.etag)
		if etagMatches(r.Header.Values("If-None-Match"), s.etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(s.jwks)))
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(s.jwks)
		}
	})
}

// etag is the quoted base64url SHA-256 of body. It depends on the bytes
// alone, so replicas that loaded the same keys agree on it.
func etag(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + b64.EncodeToString(sum[:]) + `"`
}

// etagMatches applies If-None-Match's weak comparison (RFC 9110 §13.1.2) to
// the header's comma-separated entity tags.
func etagMatches(headers []string, current string) bool {
	for _, h := range headers {
		for tag := range strings.SplitSeq(h, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "*" || strings.TrimPrefix(tag, "W/") == current {
				return true
			}
		}
	}
	return false
}
