package provider

import (
	"context"
	"errors"
	"net/http"
	"slices"
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
	// PrepareUpdate does the work of an update that must come before its
	// transaction (a user's new password is hashed) and returns the rest.
	PrepareUpdate(context.Context, string, In) (func(context.Context) (Out, error), error)
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

// mount adds the five routes of the kind under path; DELETE takes no
// input (noInput).
func (a adminAPI[In, Out]) mount(r chi.Router, path string) {
	r.Post(path, a.create)
	r.Get(path, a.list)
	r.Get(path+"/{id}", a.get)
	r.Put(path+"/{id}", a.update)
	r.With(a.p.noInput).Delete(path+"/{id}", a.delete)
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
		w.Header().Set("ETag", `"`+directory.Version(out)+`"`)
	}
	a.p.answer(w, r, http.StatusOK, out, err)
}

// ifUnchanged runs change, the PUT or DELETE r asks of record id,
// honouring r's If-Match, parsed into match (parseIfMatch; RFC 9110
// §13.1.1): a change made from a read another change has since overtaken
// is refused with 412 and changes nothing, rather than undoing that
// change. With If-Match, the record is read, locked and compared in the
// transaction change runs in (changeIfCurrent), so that of concurrent
// changes made from one read exactly one goes through: this check, not
// checkIfMatch's, decides. Without If-Match, anything goes, as before.
func (a adminAPI[In, Out]) ifUnchanged(r *http.Request, match func(version string) bool, id string, change func(ctx context.Context) error) error {
	if match == nil {
		return change(r.Context())
	}
	now, current, err := changeIfCurrent(r.Context(), a.p,
		func(ctx context.Context) (Out, error) { return a.svc.Get(ctx, id) },
		func(now Out) bool { return match(directory.Version(now)) },
		func(ctx context.Context, _ Out) error { return change(ctx) })
	if current {
		return err
	}
	return preconditionFailed(now, err)
}

// checkIfMatch refuses, as ifUnchanged would, a change of record id whose
// If-Match (match; nil: none) the record as it is now fails, before the
// request's content is processed (RFC 9110 §13.2.2): a client whose read
// is stale learns that whatever it sent, and a user's new password is not
// hashed (argon2id's tens of milliseconds, in a slot of the password
// gate) for a change that will be refused. It reads without locking, so
// it only saves work: the record may change after it passed, and
// ifUnchanged's locked read in the change's transaction decides.
func (a adminAPI[In, Out]) checkIfMatch(ctx context.Context, match func(version string) bool, id string) error {
	if match == nil {
		return nil
	}
	now, err := a.svc.Get(ctx, id)
	if err == nil && match(directory.Version(now)) {
		return nil
	}
	// Refused only on the record as the database holds it: the read
	// above may have been served by the cache of clients, roles and
	// scopes, an interval behind another replica's change, whose ETag
	// the request may send. A transaction's reads skip the cache.
	err = a.p.dir.InTransaction(ctx, func(tx context.Context) (err error) {
		now, err = a.svc.Get(tx, id)
		return err
	})
	if err == nil && match(directory.Version(now)) {
		return nil
	}
	return preconditionFailed(now, err)
}

// preconditionFailed is the answer to a change whose If-Match did not
// match now, the record as read, or err, why it could not be read: 412
// naming now's ETag to read again; 412 too for a record that does not
// exist, since If-Match, "*" included, is false where there is no current
// representation (RFC 9110 §13.1.1) and the client's read is stale all
// the same. Any other err is returned as it is.
func preconditionFailed[V any](now V, err error) error {
	var de *directory.Error
	switch {
	case err == nil:
		return errorf(http.StatusPreconditionFailed, "precondition_failed", "the record was changed since the read whose ETag If-Match names; read it again (its ETag is \"%s\") and repeat the change on what it is now", directory.Version(now))
	case !storeFailed(err) && errors.As(err, &de) && errors.Is(de.Kind, directory.ErrNotFound):
		return errorf(http.StatusPreconditionFailed, "precondition_failed", "%s, so no ETag can match If-Match: the record was deleted since the read that gave it, or never existed", de.Message)
	}
	return err
}

// parseIfMatch parses the If-Match field lines (RFC 9110 §13.1.1:
// "*" / #entity-tag) into the test a version must pass, nil when there
// are none. A weak tag is kept but never matches: If-Match compares
// strongly. Anything else is refused as malformed.
func parseIfMatch(lines []string) (func(version string) bool, error) {
	if len(lines) == 0 {
		return nil, nil
	}
	malformed := errorf(http.StatusBadRequest, "invalid_request", `If-Match must be "*" or a comma-separated list of entity-tags as an ETag header gave them, quotes included (e.g. If-Match: "abc")`)
	if len(lines) == 1 && strings.TrimSpace(lines[0]) == "*" {
		return func(string) bool { return true }, nil
	}
	var strong []string
	tags := 0
	for _, line := range lines {
		for _, elem := range strings.Split(line, ",") {
			elem = strings.Trim(elem, " \t")
			if elem == "" {
				continue // RFC 9110 §5.6.1: empty list elements are ignored
			}
			weak := strings.HasPrefix(elem, "W/")
			tag := strings.TrimPrefix(elem, "W/")
			if len(tag) < 2 || tag[0] != '"' || tag[len(tag)-1] != '"' || !etagChars(tag[1:len(tag)-1]) {
				return nil, malformed
			}
			tags++
			if !weak {
				strong = append(strong, tag[1:len(tag)-1])
			}
		}
	}
	if tags == 0 {
		return nil, malformed // no entity-tag at all
	}
	return func(version string) bool { return slices.Contains(strong, version) }, nil
}

// etagChars reports whether s is made of etagc (RFC 9110 §8.8.3): any
// visible character but the double quote, and obs-text.
func etagChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != 0x21 && (c < 0x23 || c == 0x7f) {
			return false
		}
	}
	return true
}

func (a adminAPI[In, Out]) update(w http.ResponseWriter, r *http.Request) {
	id := pathParam(r, "id")
	match, err := parseIfMatch(r.Header.Values("If-Match"))
	if err == nil {
		// Before the body is even read: the precondition needs only the
		// record, so a stale one is answered 412 whatever the body is,
		// JSON or not, valid or not.
		err = a.checkIfMatch(r.Context(), match, id)
	}
	if err != nil {
		a.p.writeError(w, r, err)
		return
	}
	var in In
	if err := decodeJSON(r, &in, a.badBody, jsonStrict); err != nil {
		a.p.writeError(w, r, err)
		return
	}
	// Prepared before ifUnchanged's transaction begins: a user's new
	// password is hashed here, within the password gate, never while the
	// transaction holds the record's lock (SQLite's write lock).
	update, err := a.svc.PrepareUpdate(r.Context(), id, in)
	if err != nil {
		a.p.writeError(w, r, err)
		return
	}
	var out Out
	err = a.ifUnchanged(r, match, id, func(ctx context.Context) (err error) {
		out, err = update(ctx)
		return err
	})
	a.p.answer(w, r, http.StatusOK, out, err)
}

func (a adminAPI[In, Out]) delete(w http.ResponseWriter, r *http.Request) {
	id := pathParam(r, "id")
	match, err := parseIfMatch(r.Header.Values("If-Match"))
	if err == nil {
		err = a.ifUnchanged(r, match, id, func(ctx context.Context) error { return a.svc.Delete(ctx, id) })
	}
	if err == nil && a.logged != "" {
		a.log(r, "deleted", id)
	}
	a.p.answer(w, r, http.StatusNoContent, nil, err)
}

func (a adminAPI[In, Out]) log(r *http.Request, change, id string) {
	a.p.log.InfoContext(r.Context(), a.logged+" "+change, a.logged+"_id", id, "request_id", RequestID(r.Context()))
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
