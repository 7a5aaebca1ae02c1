package state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/hallpass/hallpass/directory"
)

// Export reads the stored directory as a file: what hallpass sets by
// itself (ids, timestamps) and secrets are left out, so that the file,
// applied, changes nothing. The clients hallpass registers itself
// (directory.Clients.IsBuiltin) are left out too: a file cannot manage
// them.
func Export(ctx context.Context, dir *directory.Service) (*File, error) {
	f := &File{}
	scopes, err := dir.Scopes().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	for _, s := range scopes {
		f.Scopes = append(f.Scopes, directory.ScopeView{Name: s.Name, Description: s.Description, Audience: s.Audience})
	}
	roles, err := dir.Roles().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	for _, r := range roles {
		f.Roles = append(f.Roles, directory.RoleView{Name: r.Name, Description: r.Description, Scopes: r.Scopes, RequireMFA: r.RequireMFA})
	}
	clients, err := dir.Clients().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	for _, c := range clients {
		if dir.Clients().IsBuiltin(c.ClientID) {
			continue
		}
		c.ClientSecret, c.ClientIDIssuedAt, c.ClientSecretExpiresAt = "", 0, nil
		f.Clients = append(f.Clients, Client{ClientMetadata: c})
	}
	users, err := dir.Users().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	for _, u := range users {
		f.Users = append(f.Users, User{UserInput: directory.UserInput{Username: u.Username, Email: u.Email,
			EmailVerified: u.EmailVerified, Name: u.Name, Roles: u.Roles, Disabled: u.Disabled}})
	}
	return f, nil
}

// Marshal writes f as YAML in the form Load reads, fields in the admin
// API's order, leaving out what is empty where empty is the default.
// Secrets are never written (a file holds none). A client's key set that
// is not JSON is an error naming the client: written without it, the
// file, applied, would remove the client's keys.
func Marshal(f *File) ([]byte, error) {
	jwks := make([]*yaml.Node, len(f.Clients))
	for i, c := range f.Clients {
		if len(c.JWKS) == 0 {
			continue
		}
		n, err := jwksNode(c.JWKS)
		if err != nil {
			return nil, fmt.Errorf("marshal: client %q: its stored jwks cannot be exported (%w); set its key set again (PUT /admin/clients/{id}) and export anew", c.ClientID, err)
		}
		jwks[i] = n
	}
	doc := &mapping{}
	doc.optList("scopes", len(f.Scopes), func(i int, m *mapping) {
		s := f.Scopes[i]
		m.str("name", s.Name)
		m.optStr("description", s.Description)
		m.optStr("audience", s.Audience)
	})
	doc.optList("roles", len(f.Roles), func(i int, m *mapping) {
		r := f.Roles[i]
		m.str("name", r.Name)
		m.optStr("description", r.Description)
		m.optStrs("scopes", r.Scopes)
		m.optBool("require_mfa", r.RequireMFA)
	})
	doc.optList("clients", len(f.Clients), func(i int, m *mapping) {
		c := f.Clients[i]
		m.str("client_id", c.ClientID)
		m.optStr("client_name", c.ClientName)
		m.optStrs("redirect_uris", c.RedirectURIs)
		m.optStrs("post_logout_redirect_uris", c.PostLogoutRedirectURIs)
		// Absent grant and response types mean the defaults, and []
		// means none: both are written as they are.
		if c.GrantTypes != nil {
			m.strs("grant_types", c.GrantTypes)
		}
		if c.ResponseTypes != nil {
			m.strs("response_types", c.ResponseTypes)
		}
		m.str("token_endpoint_auth_method", c.TokenEndpointAuthMethod)
		m.str("scope", c.Scope)
		m.optStrs("audience", c.Audience)
		m.optBool("skip_consent", c.SkipConsent)
		m.optStrs("resource_servers", c.ResourceServers)
		if c.RequirePKCE != nil && !*c.RequirePKCE {
			m.boolean("require_pkce", false)
		}
		if jwks[i] != nil {
			m.add("jwks", jwks[i])
		}
		m.optStr("jwks_uri", c.JWKSURI)
		m.optStr("token_endpoint_auth_signing_alg", c.TokenEndpointAuthSigningAlg)
		m.optBool("require_pushed_authorization_requests", c.RequirePushedAuthorizationRequests)
		m.optStr("backchannel_logout_uri", c.BackchannelLogoutURI)
		m.optBool("backchannel_logout_session_required", c.BackchannelLogoutSessionRequired)
		m.optStr("client_secret_env", c.ClientSecretEnv)
	})
	doc.optList("users", len(f.Users), func(i int, m *mapping) {
		u := f.Users[i]
		m.str("username", u.Username)
		m.optStr("name", u.Name)
		m.optStr("email", u.Email)
		m.optBool("email_verified", u.EmailVerified)
		m.optStrs("roles", u.Roles)
		m.optBool("disabled", u.Disabled)
		m.optStr("password_env", u.PasswordEnv)
	})
	if len(doc.node().Content) == 0 {
		return []byte("{}\n"), nil
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(doc.node()); err != nil {
		return nil, fmt.Errorf("marshal: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("marshal: %w", err)
	}
	return out.Bytes(), nil
}

// jwksNode returns a stored key set, which is JSON, as the YAML node
// written for it: a mapping, its keys in the stored order when the YAML
// parser reads the stored text as it is. The YAML
// parser reads most JSON as it is, but not all of it (the escape \/,
// an escaped surrogate pair): such JSON is written again by
// encoding/json, which uses neither, and read once more. What is not
// JSON at all is an error rather than a node: it is not a key set.
func jwksNode(b json.RawMessage) (*yaml.Node, error) {
	if !json.Valid(b) {
		return nil, errors.New("not valid JSON")
	}
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err == nil && len(n.Content) == 1 {
		return n.Content[0], nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode as JSON: %w", err)
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode as JSON: %w", err)
	}
	n = yaml.Node{}
	if err := yaml.Unmarshal(out.Bytes(), &n); err != nil {
		return nil, fmt.Errorf("read as YAML: %w", err)
	}
	if len(n.Content) != 1 {
		return nil, errors.New("read as YAML: not one value")
	}
	return n.Content[0], nil
}

// mapping builds a YAML mapping with its keys in the order they are
// added.
type mapping struct{ n yaml.Node }

func (m *mapping) node() *yaml.Node {
	m.n.Kind = yaml.MappingNode
	return &m.n
}

func (m *mapping) add(key string, v *yaml.Node) {
	m.n.Content = append(m.n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
}

func (m *mapping) str(key, v string) {
	m.add(key, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v})
}

func (m *mapping) optStr(key, v string) {
	if v != "" {
		m.str(key, v)
	}
}

func (m *mapping) boolean(key string, v bool) {
	m.add(key, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v)})
}

func (m *mapping) optBool(key string, v bool) {
	if v {
		m.boolean(key, v)
	}
}

func (m *mapping) strs(key string, v []string) {
	seq := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, s := range v {
		seq.Content = append(seq.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s})
	}
	m.add(key, seq)
}

func (m *mapping) optStrs(key string, v []string) {
	if len(v) > 0 {
		m.strs(key, v)
	}
}

// optList adds key with a sequence of n mappings that item fills, or
// nothing when n is 0 (an empty list is the default).
func (m *mapping) optList(key string, n int, item func(int, *mapping)) {
	if n == 0 {
		return
	}
	seq := &yaml.Node{Kind: yaml.SequenceNode}
	for i := range n {
		var im mapping
		item(i, &im)
		seq.Content = append(seq.Content, im.node())
	}
	m.add(key, seq)
}
