package main

import (
	"bytes"
	"cmp"
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
	"github.com/hallpass/hallpass/storage"
)

// The admin commands work on one of two backends: the database directly
// (bootstrap, no server running) or, with --server, a running hallpass
// through its admin API, as Hydra's CLI does, so that an admin needs
// neither the database URL nor the key secret.

// kind is what the commands do with one kind of record: on the
// database (localKind) or through the admin API (remoteKind).
type kind[In, Out any] interface {
	Create(ctx context.Context, in In) (Out, error)
	List(ctx context.Context) ([]Out, error)
	Get(ctx context.Context, id string) (Out, error)
	// Change reads record id, has edit make from it what to write (the
	// record with the command's flags applied) and writes that, unless
	// the record changed between the read and the write: then nothing
	// is written and the error says so (changedError). An update that
	// wrote without that check would silently undo a change made
	// meanwhile by another admin, the console or an apply. edit runs
	// before the write's transaction, so it only computes.
	Change(ctx context.Context, id string, edit func(old Out) (In, error)) (Out, error)
	Delete(ctx context.Context, id string) error
}

// part is the directory service's part for one kind of record.
type part[In, Out any] interface {
	Create(ctx context.Context, in In) (Out, error)
	List(ctx context.Context) ([]Out, error)
	Get(ctx context.Context, id string) (Out, error)
	// PrepareUpdate does the work of an update that must come before its
	// transaction (a user's new password is hashed) and returns the rest.
	PrepareUpdate(ctx context.Context, id string, in In) (func(ctx context.Context) (Out, error), error)
	Delete(ctx context.Context, id string) error
}

// localKind is one kind of record on the database.
type localKind[In, Out any] struct {
	part[In, Out]
	svc *directory.Service
	// noun names a record of the kind in messages: "client".
	noun string
}

// Change reads the record, has edit make the input and prepares the
// update (PrepareUpdate: a user's new password is hashed, argon2id's tens
// of milliseconds) before its transaction begins, and in the transaction
// reads the record again, locking it (storage.LockingReads), and writes
// only if it is as first read, as the admin API does with If-Match
// (changeIfCurrent) and remoteKind with the ETag: otherwise nothing is
// written (changedError). Hashed in the transaction, the password held
// SQLite's write lock (every other write, a running server's sign-ins
// among them, waiting) and, on PostgreSQL, the record's row.
func (k localKind[In, Out]) Change(ctx context.Context, id string, edit func(old Out) (In, error)) (out Out, err error) {
	old, err := k.Get(ctx, id)
	if err != nil {
		return out, err
	}
	in, err := edit(old)
	if err != nil {
		return out, err
	}
	update, err := k.PrepareUpdate(ctx, id, in)
	if err != nil {
		return out, err
	}
	err = k.svc.InTransaction(ctx, func(ctx context.Context) error {
		cur, err := k.Get(storage.LockingReads(ctx), id)
		if err != nil {
			return err
		}
		// The record's version (directory.Version, the admin API's
		// ETag), updated_at included: any write since shows.
		if directory.Version(cur) != directory.Version(old) {
			return &changedError{noun: k.noun, id: id}
		}
		out, err = update(ctx)
		return err
	})
	return out, err
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

func (l localDirectory) users() kind[directory.UserInput, directory.UserView] {
	return localKind[directory.UserInput, directory.UserView]{l.svc.Users(), l.svc, "user"}
}
func (l localDirectory) roles() kind[directory.RoleView, directory.RoleView] {
	return localKind[directory.RoleView, directory.RoleView]{l.svc.Roles(), l.svc, "role"}
}
func (l localDirectory) scopes() kind[directory.ScopeView, directory.ScopeView] {
	return localKind[directory.ScopeView, directory.ScopeView]{l.svc.Scopes(), l.svc, "scope"}
}
func (l localDirectory) clients() kind[directory.ClientMetadata, directory.ClientMetadata] {
	return localKind[directory.ClientMetadata, directory.ClientMetadata]{l.svc.Clients(), l.svc, "client"}
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
// the network, so plain http is accepted only to this machine. The URL is
// named in messages as scheme, host and path only (or, unreadable, not at
// all), and a user or password in it is refused: the admin token
// authenticates, and what is in the user information, the query or the
// fragment, all refused, may be a token or password itself.
func newAdminClient(server, token string) (*adminClient, error) {
	u, err := url.Parse(server)
	shown := "--server"
	if err == nil {
		bare := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
		shown = fmt.Sprintf("--server %q", bare.String())
	}
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%s: want the server's URL, such as https://login.example.com", shown)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%s: remove the user and password from the URL: the admin API takes the admin token (HALLPASS_ADMIN_TOKEN), nothing else", shown)
	}
	if u.Scheme == "http" && !directory.IsLoopback(strings.ToLower(u.Hostname())) {
		return nil, fmt.Errorf("%s: the admin token would cross the network unencrypted; use https", shown)
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

// changedError is an update refused because the record changed between
// the command's read of it and its write (the admin API's 412): nothing
// was written, and running the command again applies its flags to the
// record as it now is.
type changedError struct{ noun, id string }

func (e *changedError) Error() string {
	return fmt.Sprintf("%s %q was changed (by another admin, the console or an apply) after this command read it, so nothing was changed: run the command again to apply it to the %s as it is now", e.noun, e.id, e.noun)
}

// do sends in (when not nil) as JSON and decodes the answer into out
// (when not nil).
func (c *adminClient) do(ctx context.Context, method, path string, in, out any) error {
	_, err := c.exchange(ctx, method, path, "", in, out)
	return err
}

// exchange is do, sending ifMatch (when not "") as If-Match and
// returning the answer's ETag.
func (c *adminClient) exchange(ctx context.Context, method, path, ifMatch string, in, out any) (etag string, err error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return "", err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return "", fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if len(raw) > maxAnswer {
		return "", fmt.Errorf("%s %s: answer larger than %d bytes", method, path, maxAnswer)
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
		return "", &remoteError{Status: resp.StatusCode, Code: e.Error, Description: e.Description}
	}
	etag = resp.Header.Get("ETag")
	if out == nil {
		// hallpass answers what reads nothing back (a delete, a revoke)
		// with 204. Any other success is someone else's (a proxy's or
		// a portal's page answering 200 to anything), and nothing was
		// done: taken for done, the command said "deleted" and exited 0.
		if resp.StatusCode != http.StatusNoContent {
			return "", fmt.Errorf("%s %s: the answer (%d, %s) is not what hallpass answers (204): nothing is known to have changed; is --server the URL of hallpass's admin API?",
				method, path, resp.StatusCode, cmp.Or(resp.Header.Get("Content-Type"), "no Content-Type"))
		}
		return etag, nil
	}
	if resp.StatusCode == http.StatusNoContent {
		return etag, nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return "", fmt.Errorf("%s %s: the answer is not what hallpass answers: %w", method, path, err)
	}
	return etag, nil
}

// remoteKind is one admin API resource: POST and GET on path, GET, PUT
// and DELETE on path/{id}.
type remoteKind[In, Out any] struct {
	c    *adminClient
	path string
	// noun names a record of the kind in messages: "client".
	noun string
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

// Change sends back, as If-Match, the ETag of the record it read: the
// server writes only if the record is still that version, and answers
// 412 otherwise (provider's ifUnchanged).
func (k remoteKind[In, Out]) Change(ctx context.Context, id string, edit func(old Out) (In, error)) (Out, error) {
	var old, out Out
	etag, err := k.c.exchange(ctx, http.MethodGet, k.one(id), "", nil, &old)
	if err != nil {
		return out, err
	}
	if etag == "" {
		// Writing unconditionally could undo a change made meanwhile.
		return out, fmt.Errorf("GET %s answered no ETag, so the change could undo one made since the read; nothing was changed (is --server a hallpass of this version?)", k.one(id))
	}
	in, err := edit(old)
	if err != nil {
		return out, err
	}
	_, err = k.c.exchange(ctx, http.MethodPut, k.one(id), etag, in, &out)
	if re := (*remoteError)(nil); errors.As(err, &re) && re.Status == http.StatusPreconditionFailed {
		// The server answers 412 too for a record deleted since the
		// read (If-Match is false where there is none), which running
		// the command again cannot apply to: read it again to say
		// which, as localKind's update does.
		if _, gerr := k.Get(ctx, id); errors.As(gerr, &re) && re.Status == http.StatusNotFound {
			return out, gerr
		}
		return out, &changedError{noun: k.noun, id: id}
	}
	return out, err
}

func (k remoteKind[In, Out]) Delete(ctx context.Context, id string) error {
	return k.c.do(ctx, http.MethodDelete, k.one(id), nil, nil)
}

// remoteDirectory is the directory through the admin API.
type remoteDirectory struct{ c *adminClient }

func (r remoteDirectory) users() kind[directory.UserInput, directory.UserView] {
	return remoteKind[directory.UserInput, directory.UserView]{r.c, "/admin/users", "user"}
}
func (r remoteDirectory) roles() kind[directory.RoleView, directory.RoleView] {
	return remoteKind[directory.RoleView, directory.RoleView]{r.c, "/admin/roles", "role"}
}
func (r remoteDirectory) scopes() kind[directory.ScopeView, directory.ScopeView] {
	return remoteKind[directory.ScopeView, directory.ScopeView]{r.c, "/admin/scopes", "scope"}
}
func (r remoteDirectory) clients() kind[directory.ClientMetadata, directory.ClientMetadata] {
	return remoteKind[directory.ClientMetadata, directory.ClientMetadata]{r.c, "/admin/clients", "client"}
}
func (r remoteDirectory) revokeClientTokens(ctx context.Context, id string) error {
	return r.c.do(ctx, http.MethodPost, "/admin/clients/"+url.PathEscape(id)+"/revoke-tokens", nil, nil)
}

func (r remoteDirectory) resetFactors(ctx context.Context, user string) error {
	return r.c.do(ctx, http.MethodDelete, "/admin/users/"+url.PathEscape(user)+"/factors", nil, nil)
}
