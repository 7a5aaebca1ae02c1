package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hallpass/hallpass/directory"
)

// The admin commands work on one of two backends: the database directly
// (bootstrap, no server running) or, with --server, a running hallpass
// through its admin API, as Hydra's CLI does, so that an admin needs
// neither the database URL nor the key secret.

// kind is what the commands do with one kind of record; the directory
// service's parts and the admin API's resources both offer it.
type kind[In, Out any] interface {
	Create(ctx context.Context, in In) (Out, error)
	List(ctx context.Context) ([]Out, error)
	Get(ctx context.Context, id string) (Out, error)
	Update(ctx context.Context, id string, in In) (Out, error)
	Delete(ctx context.Context, id string) error
}

// directoryAPI is the directory as the commands see it.
type directoryAPI interface {
	users() kind[directory.UserInput, directory.UserView]
	roles() kind[directory.RoleView, directory.RoleView]
	scopes() kind[directory.ScopeView, directory.ScopeView]
	clients() kind[directory.ClientMetadata, directory.ClientMetadata]
	revokeClientTokens(ctx context.Context, id string) error
	resetFactors(ctx context.Context, user string) error
}

// localDirectory is the directory service on the database.
type localDirectory struct{ svc *directory.Service }

func (l localDirectory) users() kind[directory.UserInput, directory.UserView] { return l.svc.Users() }
func (l localDirectory) roles() kind[directory.RoleView, directory.RoleView]  { return l.svc.Roles() }
func (l localDirectory) scopes() kind[directory.ScopeView, directory.ScopeView] {
	return l.svc.Scopes()
}
func (l localDirectory) clients() kind[directory.ClientMetadata, directory.ClientMetadata] {
	return l.svc.Clients()
}
func (l localDirectory) revokeClientTokens(ctx context.Context, id string) error {
	return l.svc.Clients().RevokeTokens(ctx, id)
}
func (l localDirectory) resetFactors(ctx context.Context, user string) error {
	return l.svc.Users().ResetFactors(ctx, user)
}

// maxAnswer bounds what the CLI reads of one admin API answer.
const maxAnswer = 32 << 20

// adminClient calls the admin API of the server at base with the admin
// token.
type adminClient struct {
	base  string
	token string
	http  *http.Client
}

// newAdminClient checks the server URL and the token. The token crosses
// the network, so plain http is accepted only to this machine.
func newAdminClient(server, token string) (*adminClient, error) {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("--server %q: want the server's URL, such as https://login.example.com", server)
	}
	if u.Scheme == "http" && !directory.IsLoopback(strings.ToLower(u.Hostname())) {
		return nil, fmt.Errorf("--server %q: the admin token would cross the network unencrypted; use https", server)
	}
	if token == "" {
		return nil, errors.New("--server needs the admin token: set HALLPASS_ADMIN_TOKEN (or --token)")
	}
	return &adminClient{
		base:  strings.TrimSuffix(u.String(), "/"),
		token: token,
		http: &http.Client{
			Timeout: time.Minute,
			// A redirect could carry the token to another host.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// remoteError is the admin API refusing a request, or failing: its JSON
// error, as the server worded it.
type remoteError struct {
	Status      int
	Code        string
	Description string
}

func (e *remoteError) Error() string {
	if e.Description == "" {
		return fmt.Sprintf("server answered %d", e.Status)
	}
	return e.Description
}

// do sends in (when not nil) as JSON and decodes the answer into out
// (when not nil).
func (c *adminClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if len(raw) > maxAnswer {
		return fmt.Errorf("%s %s: answer larger than %d bytes", method, path, maxAnswer)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(raw, &e)
		if resp.StatusCode == http.StatusNotFound && e.Error == "not_found" && e.Description == "no such endpoint" {
			e.Description = fmt.Sprintf("%s has no %s: is --server the URL of the admin listener (--admin-addr), and is it hallpass?", c.base, path)
		}
		return &remoteError{Status: resp.StatusCode, Code: e.Error, Description: e.Description}
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: the answer is not what hallpass answers: %w", method, path, err)
	}
	return nil
}

// remoteKind is one admin API resource: POST and GET on path, GET, PUT
// and DELETE on path/{id}.
type remoteKind[In, Out any] struct {
	c    *adminClient
	path string
}

func (k remoteKind[In, Out]) one(id string) string { return k.path + "/" + url.PathEscape(id) }

func (k remoteKind[In, Out]) Create(ctx context.Context, in In) (Out, error) {
	var out Out
	err := k.c.do(ctx, http.MethodPost, k.path, in, &out)
	return out, err
}

func (k remoteKind[In, Out]) List(ctx context.Context) ([]Out, error) {
	var out []Out
	err := k.c.do(ctx, http.MethodGet, k.path, nil, &out)
	return out, err
}

func (k remoteKind[In, Out]) Get(ctx context.Context, id string) (Out, error) {
	var out Out
	err := k.c.do(ctx, http.MethodGet, k.one(id), nil, &out)
	return out, err
}

func (k remoteKind[In, Out]) Update(ctx context.Context, id string, in In) (Out, error) {
	var out Out
	err := k.c.do(ctx, http.MethodPut, k.one(id), in, &out)
	return out, err
}

func (k remoteKind[In, Out]) Delete(ctx context.Context, id string) error {
	return k.c.do(ctx, http.MethodDelete, k.one(id), nil, nil)
}

// remoteDirectory is the directory through the admin API.
type remoteDirectory struct{ c *adminClient }

func (r remoteDirectory) users() kind[directory.UserInput, directory.UserView] {
	return remoteKind[directory.UserInput, directory.UserView]{r.c, "/admin/users"}
}
func (r remoteDirectory) roles() kind[directory.RoleView, directory.RoleView] {
	return remoteKind[directory.RoleView, directory.RoleView]{r.c, "/admin/roles"}
}
func (r remoteDirectory) scopes() kind[directory.ScopeView, directory.ScopeView] {
	return remoteKind[directory.ScopeView, directory.ScopeView]{r.c, "/admin/scopes"}
}
func (r remoteDirectory) clients() kind[directory.ClientMetadata, directory.ClientMetadata] {
	return remoteKind[directory.ClientMetadata, directory.ClientMetadata]{r.c, "/admin/clients"}
}
func (r remoteDirectory) revokeClientTokens(ctx context.Context, id string) error {
	return r.c.do(ctx, http.MethodPost, "/admin/clients/"+url.PathEscape(id)+"/revoke-tokens", nil, nil)
}

func (r remoteDirectory) resetFactors(ctx context.Context, user string) error {
	return r.c.do(ctx, http.MethodDelete, "/admin/users/"+url.PathEscape(user)+"/factors", nil, nil)
}
