package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// scenario makes one worker's op; a worker keeps its own state (a browser
// session, say) across its ops.
type scenario struct {
	unit   string
	worker func(ctx context.Context, e *env, i int) (op, error)
}

// lookupScenario returns the scenario name names (one of allScenarios).
func lookupScenario(name string) scenario {
	switch name {
	case "client-credentials":
		return scenario{"req", func(_ context.Context, e *env, _ int) (op, error) { return e.clientCredentials, nil }}
	case "introspection":
		return scenario{"req", func(_ context.Context, e *env, _ int) (op, error) { return e.introspect, nil }}
	case "jwks":
		return scenario{"req", func(_ context.Context, e *env, _ int) (op, error) { return e.getOK("/.well-known/jwks.json"), nil }}
	case "discovery":
		return scenario{"req", func(_ context.Context, e *env, _ int) (op, error) {
			return e.getOK("/.well-known/openid-configuration"), nil
		}}
	case "signed-in":
		return scenario{"flow", func(ctx context.Context, e *env, i int) (op, error) { return e.signedInWorker(ctx, i) }}
	case "fresh-login":
		return scenario{"flow", func(_ context.Context, e *env, i int) (op, error) { return e.freshLoginWorker(i), nil }}
	}
	panic("unknown scenario " + name) // parseFlags admits only allScenarios
}

// env is what setup made on the server, shared by every scenario.
type env struct {
	cfg  config
	http *http.Client
	// The service client (client credentials, introspection) and a token
	// of it to introspect.
	serviceID, serviceSecret, serviceToken string
	// The users and the public client of the browser flows: worker i
	// signs in as users[i/workersPerUser].
	users                        []credential
	publicID, redirectURI, scope string
	// shed counts logins the server refused for now (503 with
	// Retry-After: no password check free) and the browser sent again.
	shed atomic.Int64
}

// credential is a user's username and password.
type credential struct{ username, password string }

// workersPerUser is how many browser workers share a user. The login
// throttle counts an attempt before its password is checked and forgets
// it only once the password proved right, so a user's logins in flight
// at once count as failures meanwhile: five of them (its
// AccountFreeFailures) would lock the account on a server that checks
// that many passwords at once. Four never do.
const workersPerUser = 4

// user is the user worker i signs in as.
func (e *env) user(i int) credential { return e.users[i/workersPerUser%len(e.users)] }

// setup creates, through the admin API, a scope and a role granting it,
// a service client, users holding the role (one per workersPerUser
// workers) and a public client; names carry a random suffix so runs do
// not collide.
func setup(ctx context.Context, cfg config) (*env, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 4 * cfg.C
	tr.MaxIdleConnsPerHost = 4 * cfg.C
	e := &env{cfg: cfg, http: &http.Client{Transport: tr, Timeout: cfg.Timeout}}
	suffix := randomString(6)
	e.scope = "loadtest-" + suffix + ":read"
	audience := "https://loadtest.example/" + suffix
	if err := e.admin(ctx, "/admin/scopes", map[string]any{"name": e.scope, "description": "Load test scope", "audience": audience}, nil); err != nil {
		return nil, err
	}
	role := "loadtest-" + suffix
	if err := e.admin(ctx, "/admin/roles", map[string]any{"name": role, "scopes": []string{e.scope}}, nil); err != nil {
		return nil, err
	}
	var svc struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := e.admin(ctx, "/admin/clients", map[string]any{
		"client_name": "loadtest service " + suffix, "grant_types": []string{"client_credentials"},
		"token_endpoint_auth_method": "client_secret_basic", "scope": e.scope,
	}, &svc); err != nil {
		return nil, err
	}
	e.serviceID, e.serviceSecret = svc.ClientID, svc.ClientSecret
	tok, err := e.token(ctx)
	if err != nil {
		return nil, fmt.Errorf("get a token to introspect: %w", err)
	}
	e.serviceToken = tok

	for i := range (max(cfg.C, 1) + workersPerUser - 1) / workersPerUser {
		u := credential{
			username: "loadtest-" + suffix + "-" + strconv.Itoa(i),
			password: randomString(24), // random: passes the strength policy
		}
		if err := e.admin(ctx, "/admin/users", map[string]any{
			"username": u.username, "password": u.password, "name": "Load Test", "roles": []string{role},
		}, nil); err != nil {
			return nil, err
		}
		e.users = append(e.users, u)
	}
	e.redirectURI = "http://127.0.0.1/loadtest-callback"
	var pub struct {
		ClientID string `json:"client_id"`
	}
	if err := e.admin(ctx, "/admin/clients", map[string]any{
		"client_name": "loadtest app " + suffix, "redirect_uris": []string{e.redirectURI},
		"grant_types": []string{"authorization_code"}, "response_types": []string{"code"},
		"token_endpoint_auth_method": "none", "scope": "openid " + e.scope,
	}, &pub); err != nil {
		return nil, err
	}
	e.publicID = pub.ClientID
	return e, nil
}

// randomString is n random URL-safe characters.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

// admin POSTs body to an admin API path and decodes the 201 answer into
// out (if not nil).
func (e *env) admin(ctx context.Context, path string, body, out any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.cfg.BaseURL+path, bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	req.Header.Set("Authorization", "Bearer "+e.cfg.AdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.http.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST %s: status %d: %s", path, resp.StatusCode, bytes.TrimSpace(answer))
	}
	if out != nil {
		if err := json.Unmarshal(answer, out); err != nil {
			return fmt.Errorf("POST %s: decode answer: %w", path, err)
		}
	}
	return nil
}

// statusError is an answer outside 2xx/3xx (or not the one expected).
type statusError struct {
	what   string
	status int
	body   string
	// retryAfter is a 503's Retry-After, when it had one.
	retryAfter time.Duration
}

func (s *statusError) Error() string {
	return fmt.Sprintf("%s: status %d: %s", s.what, s.status, s.body)
}

// postForm sends form to path (with Basic auth if id is set) and
// returns the body of a 200 answer.
func (e *env) postForm(ctx context.Context, c *http.Client, path string, form url.Values, id, secret string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.cfg.BaseURL+path, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", path, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	return readOK(c, req, "POST "+path)
}

// readOK sends req and returns the body of a 200 answer.
func readOK(c *http.Client, req *http.Request, what string) ([]byte, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: read body: %w", what, err)
	}
	if resp.StatusCode != http.StatusOK {
		if len(body) > 200 {
			body = body[:200]
		}
		return nil, &statusError{what: what, status: resp.StatusCode, body: string(bytes.TrimSpace(body))}
	}
	return body, nil
}

// accessToken reads the access_token of a token response.
func accessToken(body []byte) (string, error) {
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" {
		return "", fmt.Errorf("token response without access_token (%v)", err)
	}
	return tok.AccessToken, nil
}

// token is one client-credentials grant of the service client.
func (e *env) token(ctx context.Context) (string, error) {
	body, err := e.postForm(ctx, e.http, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {e.scope}}, e.serviceID, e.serviceSecret)
	if err != nil {
		return "", err
	}
	return accessToken(body)
}

func (e *env) clientCredentials(ctx context.Context) error {
	_, err := e.token(ctx)
	return err
}

// introspect checks the service token; an inactive answer is an error.
func (e *env) introspect(ctx context.Context) error {
	body, err := e.postForm(ctx, e.http, "/oauth2/introspect", url.Values{"token": {e.serviceToken}}, e.serviceID, e.serviceSecret)
	if err != nil {
		return err
	}
	var ans struct {
		Active bool `json:"active"`
	}
	if err := json.Unmarshal(body, &ans); err != nil || !ans.Active {
		return fmt.Errorf("introspection: want active, got %s", body)
	}
	return nil
}

// getOK makes an op that GETs path and wants 200 with a body.
func (e *env) getOK(path string) op {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.cfg.BaseURL+path, nil)
		if err != nil {
			return fmt.Errorf("GET %s: %w", path, err)
		}
		body, err := readOK(e.http, req, "GET "+path)
		if err == nil && len(body) == 0 {
			err = fmt.Errorf("GET %s: empty body", path)
		}
		return err
	}
}
