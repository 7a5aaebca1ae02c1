package storagetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hallpass/hallpass/storage"
)

// badTexts are strings no backend can keep as text: PostgreSQL refuses
// NUL and invalid UTF-8 in a TEXT column, SQLite keeps them (and its JSON
// lists replace invalid UTF-8 with U+FFFD).
var badTexts = map[string]string{
	"NUL":                "a\x00b",
	"invalid byte":       "a\xffb",
	"truncated sequence": "\xc3(",
	"surrogate":          "\xed\xa0\x80",
	"overlong NUL":       "\xc0\x80",
}

// testUnstorableInput: a write carrying text or a time no backend can
// store fails with storage.ErrInvalidInput on every backend, never
// storage.ErrUnavailable (a failure of ours) and never stored, changed or
// in part; a read by such text finds nothing, as it would on any backend.
func testUnstorableInput(t *testing.T, s storage.Store) {
	ctx := t.Context()
	mustCreateRoles(t, ctx, s, "teacher")
	noErr(t, s.CreateClient(ctx, &storage.Client{ID: "app", Name: "App", RedirectURIs: []string{"https://app.example/cb"}}), "CreateClient(app)")
	noErr(t, s.CreateScope(ctx, &storage.Scope{Name: "results:read"}), "CreateScope")
	mustCreateUser(t, ctx, s, "id-ann")
	noErr(t, s.AppendAudit(ctx, &storage.AuditEntry{Time: baseTime(), Actor: "admin", Action: "client.create", Object: "app"},
		func(*storage.AuditEntry) string { return "h1" }), "AppendAudit")
	before := snapshot(t, ctx, s)

	invalid := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, storage.ErrInvalidInput) || errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("%s: got %v, want storage.ErrInvalidInput (and not ErrUnavailable)", what, err)
		}
	}
	missing := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("%s: got %v, want storage.ErrNotFound", what, err)
		}
	}
	for name, bad := range badTexts {
		invalid("CreateClient(id "+name+")", s.CreateClient(ctx, &storage.Client{ID: bad}))
		invalid("CreateClient(name "+name+")", s.CreateClient(ctx, &storage.Client{ID: "c", Name: bad}))
		invalid("CreateClient(redirect URI "+name+")", s.CreateClient(ctx, &storage.Client{ID: "c", RedirectURIs: []string{"https://c.example/cb", bad}}))
		invalid("UpdateClient(name "+name+")", s.UpdateClient(ctx, &storage.Client{ID: "app", Name: bad}))
		invalid("UpdateClient(scope "+name+")", s.UpdateClient(ctx, &storage.Client{ID: "app", Scopes: []string{bad}}))
		invalid("CreateUser(username "+name+")", s.CreateUser(ctx, &storage.User{ID: "u", Username: bad}))
		invalid("CreateUser(role "+name+")", s.CreateUser(ctx, &storage.User{ID: "u", Username: "u", Roles: []string{"teacher", bad}}))
		invalid("UpdateUser(name "+name+")", s.UpdateUser(ctx, &storage.User{ID: "id-ann", Username: "name-id-ann", Name: bad}))
		invalid("CreateRole(name "+name+")", s.CreateRole(ctx, &storage.Role{Name: bad}))
		invalid("CreateRole(scope "+name+")", s.CreateRole(ctx, &storage.Role{Name: "r", Scopes: []string{bad}}))
		invalid("UpdateRole(scope "+name+")", s.UpdateRole(ctx, &storage.Role{Name: "teacher", Scopes: []string{bad}}))
		invalid("CreateScope(description "+name+")", s.CreateScope(ctx, &storage.Scope{Name: "s", Description: bad}))
		invalid("SetClientAssertionJTI("+name+")", s.SetClientAssertionJTI(ctx, bad, time.Now().Add(time.Hour)))
		// A transaction whose write is refused leaves nothing of it.
		err := s.InTransaction(ctx, func(tx context.Context) error {
			if err := s.CreateClient(tx, &storage.Client{ID: "first"}); err != nil {
				return err
			}
			return s.CreateRole(tx, &storage.Role{Name: bad})
		})
		invalid("InTransaction(CreateClient, CreateRole("+name+"))", err)

		_, err = s.GetClient(ctx, bad)
		missing("GetClient("+name+")", err)
		_, err = s.GetUserByUsername(ctx, bad)
		missing("GetUserByUsername("+name+")", err)
		_, err = s.GetRole(ctx, bad)
		missing("GetRole("+name+")", err)
		_, err = s.GetScope(ctx, bad)
		missing("GetScope("+name+")", err)
		_, err = s.GetPasskey(ctx, bad)
		missing("GetPasskey("+name+")", err)
		_, err = s.GetBrowserSessionBySID(ctx, bad)
		missing("GetBrowserSessionBySID("+name+")", err)
		_, err = s.GetClientAssertionJTI(ctx, bad)
		missing("GetClientAssertionJTI("+name+")", err)
		us, err := s.FindUsersByUsernameFold(ctx, bad)
		if err != nil || len(us) != 0 {
			t.Errorf("FindUsersByUsernameFold(%s): got %q, %v; want none", name, usernames(us), err)
		}
		pks, err := s.ListPasskeys(ctx, bad)
		if err != nil || len(pks) != 0 {
			t.Errorf("ListPasskeys(%s): got %d, %v; want none", name, len(pks), err)
		}
		es, err := s.ListAudit(ctx, storage.AuditQuery{Actor: bad})
		if err != nil || len(es) != 0 {
			t.Errorf("ListAudit(actor %s): got %d, %v; want none", name, len(es), err)
		}
	}

	// Times: the years 1 to 9999 are stored as they are; outside them
	// SQLite's microseconds overflow (the far future wraps to the far
	// past: a jti recorded as long spent) and PostgreSQL's range ends.
	last := time.Date(9999, time.December, 31, 23, 59, 59, 999999000, time.UTC)
	noErr(t, s.SetClientAssertionJTI(ctx, "last", last), "SetClientAssertionJTI(9999-12-31)")
	if got := mustGetJTI(t, ctx, s, "last"); !got.Equal(last) {
		t.Errorf("jti recorded until %v came back %v", last, got)
	}
	for _, far := range []time.Time{
		time.Date(10000, time.January, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(1e13, 0),
		time.Date(0, time.December, 31, 0, 0, 0, 0, time.UTC),
	} {
		what := fmt.Sprintf("(%v)", far)
		invalid("SetClientAssertionJTI"+what, s.SetClientAssertionJTI(ctx, "far", far))
		_, err := s.GetClientAssertionJTI(ctx, "far")
		missing("GetClientAssertionJTI after SetClientAssertionJTI"+what, err)
		invalid("CreateClient(CreatedAt "+what+")", s.CreateClient(ctx, &storage.Client{ID: "c", CreatedAt: far}))
		invalid("UpdateRole(UpdatedAt "+what+")", s.UpdateRole(ctx, &storage.Role{Name: "teacher", UpdatedAt: far}))
		if far.Year() > 9999 {
			es, err := s.ListAudit(ctx, storage.AuditQuery{Since: far})
			if err != nil || len(es) != 0 {
				t.Errorf("ListAudit(since %v): got %d, %v; want none", far, len(es), err)
			}
		}
	}

	// An audit entry refused inside a caller's transaction, which goes
	// on (audit.Log logs the refusal), leaves the chain without a gap:
	// the next entry takes the next seq and links to the last stored.
	headSeq, headHash, err := s.AuditHead(ctx)
	noErr(t, err, "AuditHead")
	err = s.InTransaction(ctx, func(tx context.Context) error {
		invalid("AppendAudit(user agent not UTF-8) in a transaction", s.AppendAudit(tx,
			&storage.AuditEntry{Time: baseTime(), Actor: "admin", Action: "client.update", UserAgent: "Mozilla\xff"},
			func(*storage.AuditEntry) string { return "h-refused" }))
		return s.AppendAudit(tx, &storage.AuditEntry{Time: baseTime(), Actor: "admin", Action: "client.update"},
			func(*storage.AuditEntry) string { return "h-next" })
	})
	noErr(t, err, "InTransaction past a refused audit entry")
	es, err := s.ListAudit(ctx, storage.AuditQuery{AfterSeq: headSeq})
	noErr(t, err, "ListAudit")
	if len(es) != 1 || es[0].Seq != headSeq+1 || es[0].PrevHash != headHash {
		t.Errorf("audit after a refused entry: got %+v, want one entry, seq %d, linked to %q", es, headSeq+1, headHash)
	}

	if after := snapshot(t, ctx, s); after != before {
		t.Errorf("refused writes changed the store:\nbefore %s\nafter  %s", before, after)
	}
}

// snapshot describes the clients, users, roles and scopes of s.
func snapshot(t *testing.T, ctx context.Context, s storage.Store) string {
	t.Helper()
	cs, err := s.ListClients(ctx)
	noErr(t, err, "ListClients")
	rs, err := s.ListRoles(ctx)
	noErr(t, err, "ListRoles")
	ss, err := s.ListScopes(ctx)
	noErr(t, err, "ListScopes")
	return fmt.Sprintf("clients %+v users %+v roles %+v scopes %+v", cs, mustListUsers(t, ctx, s), rs, ss)
}
