package provider

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/hallpass/hallpass/directory"
)

// The admin API for clients, users, roles and scopes. Every kind is
// served the same way: a handler decodes what the request sends, calls
// the directory service (which the CLI calls too) and answers with its
// result, or with its refusal mapped by writeError.

// directoryKind is the directory service's part for one kind of record:
// In is what a request sends, Out what it is answered.
type directoryKind[In, Out any] interface {
	Create(context.Context, In) (Out, error)
	List(context.Context) ([]Out, error)
	Get(context.Context, string) (Out, error)
	Update(context.Context, string, In) (Out, error)
	Delete(context.Context, string) error
}

// adminAPI serves POST (create) and GET (list) on a path, and GET, PUT
// and DELETE on path/{id}.
type adminAPI[In, Out any] struct {
	p   *Provider
	svc directoryKind[In, Out]
	// badBody is the error code of a body that is not JSON for In.
	badBody string
	// logged names the kind in an info log line for each creation and
	// deletion, so operators can follow which clients exist; "" logs
	// nothing.
	logged string
	// id is the id of a created record, for that log line.
	id func(Out) string
}

func (p *Provider) adminClients() adminAPI[directory.ClientMetadata, directory.ClientMetadata] {
	return adminAPI[directory.ClientMetadata, directory.ClientMetadata]{p: p, svc: p.dir.Clients(), badBody: "invalid_client_metadata",
		logged: "client", id: func(m directory.ClientMetadata) string { return m.ClientID }}
}

func (p *Provider) adminUsers() adminAPI[directory.UserInput, directory.UserView] {
	return adminAPI[directory.UserInput, directory.UserView]{p: p, svc: p.dir.Users(), badBody: "invalid_request"}
}

func (p *Provider) adminRoles() adminAPI[directory.RoleView, directory.RoleView] {
	return adminAPI[directory.RoleView, directory.RoleView]{p: p, svc: p.dir.Roles(), badBody: "invalid_request"}
}

func (p *Provider) adminScopes() adminAPI[directory.ScopeView, directory.ScopeView] {
	return adminAPI[directory.ScopeView, directory.ScopeView]{p: p, svc: p.dir.Scopes(), badBody: "invalid_request"}
}

// mount adds the five routes of the kind under path.
func (a adminAPI[In, Out]) mount(r chi.Router, path string) {
	r.Post(path, a.create)
	r.Get(path, a.list)
	r.Get(path+"/{id}", a.get)
	r.Put(path+"/{id}", a.update)
	r.Delete(path+"/{id}", a.delete)
}

func (a adminAPI[In, Out]) create(w http.ResponseWriter, r *http.Request) {
	var in In
	if err := decodeJSON(r, &in, a.badBody, jsonStrict); err != nil {
		a.p.writeError(w, r, err)
		return
	}
	out, err := a.svc.Create(r.Context(), in)
	if err == nil && a.logged != "" {
		a.log(r, "created", a.id(out))
	}
	a.p.answer(w, r, http.StatusCreated, out, err)
}

func (a adminAPI[In, Out]) list(w http.ResponseWriter, r *http.Request) {
	out, err := a.svc.List(r.Context())
	a.p.answer(w, r, http.StatusOK, out, err)
}

// get answers the record with its version as ETag, which a PUT or
// DELETE may send back in If-Match.
func (a adminAPI[In, Out]) get(w http.ResponseWriter, r *http.Request) {
	out, err := a.svc.Get(r.Context(), pathParam(r, "id"))
	if err == nil {
		w.Header().Set("ETag", `"`+versionOf(out)+`"`)
	}
	a.p.answer(w, r, http.StatusOK, out, err)
}

// unchanged checks a request's If-Match (RFC 9110 §13.1.1) against the
// record id as it is now: a change made from a read another change has
// since overtaken is refused with 412 and changes nothing, rather than
// undoing that change. Without If-Match, anything goes, as before.
func (a adminAPI[In, Out]) unchanged(r *http.Request, id string) error {
	match := r.Header.Values("If-Match")
	if len(match) == 0 {
		return nil
	}
	now, err := a.svc.Get(r.Context(), id)
	if err != nil {
		return err
	}
	current := `"` + versionOf(now) + `"`
	for _, line := range match {
		for _, tag := range strings.Split(line, ",") {
			if tag = strings.TrimSpace(tag); tag == "*" || tag == current {
				return nil
			}
		}
	}
	return errorf(http.StatusPreconditionFailed, "precondition_failed", "the record was changed since the read whose ETag If-Match names; read it again (its ETag is %s) and repeat the change on what it is now", current)
}

func (a adminAPI[In, Out]) update(w http.ResponseWriter, r *http.Request) {
	var in In
	if err := decodeJSON(r, &in, a.badBody, jsonStrict); err != nil {
		a.p.writeError(w, r, err)
		return
	}
	id := pathParam(r, "id")
	if err := a.unchanged(r, id); err != nil {
		a.p.writeError(w, r, err)
		return
	}
	out, err := a.svc.Update(r.Context(), id, in)
	a.p.answer(w, r, http.StatusOK, out, err)
}

func (a adminAPI[In, Out]) delete(w http.ResponseWriter, r *http.Request) {
	id := pathParam(r, "id")
	if err := a.unchanged(r, id); err != nil {
		a.p.writeError(w, r, err)
		return
	}
	err := a.svc.Delete(r.Context(), id)
	if err == nil && a.logged != "" {
		a.log(r, "deleted", id)
	}
	a.p.answer(w, r, http.StatusNoContent, nil, err)
}

func (a adminAPI[In, Out]) log(r *http.Request, change, id string) {
	a.p.log.InfoContext(r.Context(), a.logged+" "+change, a.logged+"_id", id, "request_id", RequestID(r.Context()))
}

// versionOf names the state of record v (a client, user, role or scope
// as the admin API shows it): the admin API's ETag and the console's
// edit forms carry it, so that a change made from a read another change
// has overtaken is refused (412, or the form shown again) rather than
// silently undoing it. Two admins editing one client would otherwise
// each save over the other's change.
func versionOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Every record type marshals; a version that matches nothing
		// refuses the change rather than allowing it unchecked.
		return "unversioned"
	}
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:18])
}

// answer writes v with status, or err.
func (p *Provider) answer(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, v)
}
