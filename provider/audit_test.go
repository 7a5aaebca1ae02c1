package provider_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hallpass/hallpass/audit"
	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/keys"
	"github.com/hallpass/hallpass/provider"
)

// lockedBuffer is a bytes.Buffer the server's goroutines may write to
// while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// auditPage reads GET /admin/audit with query.
func (ts *testServer) auditPage(t *testing.T, query string) provider.AuditPage {
	t.Helper()
	res := ts.admin(t, http.MethodGet, "/admin/audit?"+query, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("GET /admin/audit?%s: %d %s", query, res.Status, res.Body)
	}
	var p provider.AuditPage
	if err := json.Unmarshal(res.Body, &p); err != nil {
		t.Fatalf("decode audit page: %v: %s", err, res.Body)
	}
	return p
}

// wantAudit fails unless an entry of type typ matching match is in the
// audit log, and returns the last such entry.
func (ts *testServer) wantAudit(t *testing.T, typ string, match func(e audit.EntryView) bool) audit.EntryView {
	t.Helper()
	es := ts.auditPage(t, "limit=1000&type="+url.QueryEscape(typ)).Entries
	for i := len(es) - 1; i >= 0; i-- {
		if match == nil || match(es[i]) {
			return es[i]
		}
	}
	t.Fatalf("no %s entry as expected in the audit log; entries of that type: %+v", typ, es)
	return audit.EntryView{}
}

// details decodes an entry's details.
func details(t *testing.T, e audit.EntryView) map[string]any {
	t.Helper()
	var d map[string]any
	if len(e.Details) > 0 {
		if err := json.Unmarshal(e.Details, &d); err != nil {
			t.Fatalf("details of entry %d: %v", e.Seq, err)
		}
	}
	return d
}

func fieldsOf(t *testing.T, e audit.EntryView) []string {
	t.Helper()
	var out []string
	if fs, ok := details(t, e)["fields"].([]any); ok {
		for _, f := range fs {
			out = append(out, fmt.Sprint(f))
		}
	}
	return out
}

// TestAuditEvents drives each family of audited events through the real
// server (admin API, login and consent forms, token endpoint, revocation)
// and checks that each is in the audit log with who, what and from where,
// that each was also logged as one structured line, that the chain
// verifies with checkpoints signed by the server's signing key, and that
// GET /admin/audit filters, pages and refuses bad parameters.
func TestAuditEvents(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		logs := &lockedBuffer{}
		e := newSSOEnv(t, dsn, func(c *provider.Config) {
			c.LoginLimits = provider.LoginLimits{AccountFreeFailures: 2}
			c.Audit = audit.New(c.Store, audit.Options{Logger: slog.New(slog.NewJSONHandler(logs, nil)), Signer: c.Keys, CheckpointEvery: 5})
		})

		t.Run("AdminChanges", func(t *testing.T) {
			created := e.wantAudit(t, "client.create", func(x audit.EntryView) bool { return x.ClientID == confidentialID })
			if created.Actor != "admin-token" || created.Object != "client:"+confidentialID || created.ClientAddr != "127.0.0.1" {
				t.Errorf("client.create entry: %+v", created)
			}
			u := e.wantAudit(t, "user.create", func(x audit.EntryView) bool { return x.Object == "user:"+e.AliceID })
			if d := details(t, u); d["username"] != "alice" || !slices.Contains(fieldsOf(t, u), "password") {
				t.Errorf("user.create details %v, want alice's username and the password among the fields", d)
			}
			if s := string(u.Details); strings.Contains(s, alicePassword) || strings.Contains(s, "argon2") {
				t.Errorf("user.create details hold the password or its hash: %s", s)
			}

			meta := e.Confidential.Meta
			meta.ClientSecret, meta.ClientName = "", "Renamed portal"
			if res := e.admin(t, http.MethodPut, "/admin/clients/"+confidentialID, meta); res.Status != http.StatusOK {
				t.Fatalf("PUT client: %d %s", res.Status, res.Body)
			}
			upd := e.wantAudit(t, "client.update", nil)
			if got := fieldsOf(t, upd); !slices.Equal(got, []string{"client_name"}) || upd.ClientID != confidentialID {
				t.Errorf("client.update fields %v (client %q), want [client_name] of %s", got, upd.ClientID, confidentialID)
			}

			e.setUser(t, "bob", map[string]any{"name": "Bob Tables", "email": "bob@example.com", "roles": []string{"student"}, "disabled": true})
			if got := fieldsOf(t, e.wantAudit(t, "user.update", nil)); !slices.Equal(got, []string{"disabled"}) {
				t.Errorf("user.update fields %v, want [disabled]", got)
			}
			e.wantAudit(t, "user.disabled", func(x audit.EntryView) bool { return x.Object == "user:"+e.BobID })

			if res := e.admin(t, http.MethodPut, "/admin/roles/student", map[string]any{"scopes": []string{"results:read", "schedule:write"}}); res.Status != http.StatusOK {
				t.Fatalf("PUT role: %d %s", res.Status, res.Body)
			}
			if got := fieldsOf(t, e.wantAudit(t, "role.update", nil)); !slices.Equal(got, []string{"scopes"}) {
				t.Errorf("role.update fields %v, want [scopes]", got)
			}
			if res := e.admin(t, http.MethodDelete, "/admin/scopes/schedule:write", nil); res.Status != http.StatusNoContent {
				t.Fatalf("DELETE scope: %d %s", res.Status, res.Body)
			}
			e.wantAudit(t, "scope.delete", func(x audit.EntryView) bool { return x.Object == "scope:schedule:write" })
			e.wantAudit(t, "admin_token.configured", nil)

			reg := e.register(t, directory.ClientMetadata{ClientName: "Registered", RedirectURIs: []string{"https://reg.example/cb"},
				GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"}, TokenEndpointAuthMethod: "client_secret_basic"})
			if r := e.wantAudit(t, "client.register", nil); r.Actor != "admin-token" || r.ClientID != reg.ClientID || strings.Contains(string(r.Details), reg.ClientSecret) {
				t.Errorf("client.register entry: %+v %s", r, r.Details)
			}
		})

		t.Run("Keys", func(t *testing.T) {
			// The first start generated the active and the next key.
			if g := e.wantAudit(t, "key.generated", nil); g.Actor != "hallpass" {
				t.Errorf("key.generated at start by %q, want hallpass", g.Actor)
			}
			if res := e.admin(t, http.MethodPost, "/admin/keys/rotate", map[string]any{"immediate": true}); res.Status != http.StatusOK {
				t.Fatalf("rotate: %d %s", res.Status, res.Body)
			}
			if p := e.wantAudit(t, "key.promoted", nil); p.Actor != "admin-token" {
				t.Errorf("key.promoted by %q, want admin-token", p.Actor)
			}
			e.wantAudit(t, "key.retired", nil)
			var next string
			for _, k := range mustKeys(t, e.testServer) {
				if k.State == "next" {
					next = k.ID
				}
			}
			if res := e.admin(t, http.MethodPost, "/admin/keys/"+next+"/revoke", nil); res.Status != http.StatusOK {
				t.Fatalf("revoke: %d %s", res.Status, res.Body)
			}
			e.wantAudit(t, "key.revoked", func(x audit.EntryView) bool { return x.Object == "key:"+next })
		})

		t.Run("SignIns", func(t *testing.T) {
			b := e.newBrowser(t)
			g := e.grant(t, b, e.Confidential, "alice", alicePassword, "openid offline_access results:read")
			ok := e.wantAudit(t, "signin.success", nil)
			if ok.Actor != "user:"+e.AliceID || ok.ClientID != confidentialID || ok.ClientAddr != "127.0.0.1" || ok.UserAgent == "" || details(t, ok)["username"] != "alice" {
				t.Errorf("signin.success entry: %+v %s", ok, ok.Details)
			}
			e.wantAudit(t, "consent.given", func(x audit.EntryView) bool { return x.Actor == "user:"+e.AliceID && x.ClientID == confidentialID })

			// Wrong passwords for alice: two fail, the third is throttled.
			for range 2 {
				e.wantLoginRefused(t, e.Public, "alice", "not-alices-password")
			}
			wrong := e.wantAudit(t, "signin.failure", func(x audit.EntryView) bool { return details(t, x)["reason"] == "wrong_password" })
			if wrong.Object != "user:"+e.AliceID || details(t, wrong)["username"] != "alice" {
				t.Errorf("wrong-password entry: %+v %s", wrong, wrong.Details)
			}
			lb := e.newBrowser(t)
			p := lb.login(t, lb.get(t, e.Public.request("openid").URL), "alice", "not-alices-password-either")
			if p.Status != http.StatusTooManyRequests {
				t.Fatalf("third wrong password: status %d, want 429", p.Status)
			}
			e.wantAudit(t, "signin.throttled", func(x audit.EntryView) bool { return x.ClientID == publicID })

			mb := e.newBrowser(t)
			if p := mb.login(t, mb.get(t, e.Public.request("openid").URL), "mallory-does-not-exist", "whatever-password"); p.kind() != "login" {
				t.Fatalf("unknown user: want the login form again, got %s", p)
			}
			unknown := e.wantAudit(t, "signin.failure", func(x audit.EntryView) bool { return details(t, x)["reason"] == "unknown_user" })
			if d := details(t, unknown); d["username"] != nil || d["username_digest"] == nil || unknown.Actor != "" {
				t.Errorf("unknown-user entry names the typed username or an actor: %+v %s", unknown, unknown.Details)
			}

			t.Run("ConsentDenied", func(t *testing.T) {
				pg := b.get(t, e.Confidential.request("openid results:write").URL)
				b.decide(t, pg, "deny")
				e.wantAudit(t, "consent.denied", func(x audit.EntryView) bool { return x.Actor == "user:"+e.AliceID })
			})
			t.Run("Revocation", func(t *testing.T) {
				e.MustRevoke(t, credOf(e.Confidential.Meta), g.Access, "access_token")
				if r := e.wantAudit(t, "token.revoked", nil); r.ClientID != confidentialID || strings.Contains(string(r.Details), g.Access) {
					t.Errorf("token.revoked entry: %+v %s", r, r.Details)
				}
			})
			t.Run("RefreshReuse", func(t *testing.T) {
				g2 := e.grant(t, b, e.Confidential, "alice", alicePassword, "openid offline_access results:read")
				if res := e.refresh(t, e.Confidential, g2.Refresh, ""); res.Status != http.StatusOK {
					t.Fatalf("first refresh: %d %s", res.Status, res.Body)
				}
				if res := e.refresh(t, e.Confidential, g2.Refresh, ""); res.Status != http.StatusBadRequest {
					t.Fatalf("replayed refresh: %d %s", res.Status, res.Body)
				}
				e.wantAudit(t, "token.reuse_detected", func(x audit.EntryView) bool { return x.ClientID == confidentialID })
			})
		})

		t.Run("LogLines", func(t *testing.T) {
			// Every entry is one JSON log line with the same fields.
			es := e.auditPage(t, "limit=1000&type=signin").Entries
			lines := map[string]bool{}
			sc := bufio.NewScanner(strings.NewReader(logs.String()))
			for sc.Scan() {
				var l struct {
					Msg    string `json:"msg"`
					Action string `json:"action"`
					Hash   string `json:"hash"`
				}
				if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "audit" {
					lines[l.Action+" "+l.Hash] = true
				}
			}
			for _, x := range es {
				if !lines[x.Type+" "+x.Hash] {
					t.Errorf("entry %d (%s) has no log line", x.Seq, x.Type)
				}
			}
		})

		t.Run("Query", func(t *testing.T) {
			all := e.auditPage(t, "limit=1000").Entries
			first := e.auditPage(t, "limit=2")
			if len(first.Entries) != 2 || first.Next == "" {
				t.Fatalf("limit=2: %d entries, next %q", len(first.Entries), first.Next)
			}
			second := e.auditPage(t, "limit=2&after="+first.Next)
			if second.Entries[0].Seq != all[2].Seq {
				t.Errorf("second page starts at %d, want %d", second.Entries[0].Seq, all[2].Seq)
			}
			for _, x := range e.auditPage(t, "limit=1000&actor=user:"+e.AliceID).Entries {
				if x.Actor != "user:"+e.AliceID {
					t.Errorf("actor filter let through %+v", x)
				}
			}
			if got := e.auditPage(t, "since=2999-01-01T00:00:00Z").Entries; len(got) != 0 {
				t.Errorf("since the future: %d entries", len(got))
			}
			for _, q := range []string{"since=yesterday", "limit=0", "limit=1001", "after=-1", "type=a%20b"} {
				res := e.admin(t, http.MethodGet, "/admin/audit?"+q, nil)
				if res.Status != http.StatusBadRequest || !strings.Contains(string(res.Body), "invalid_request") {
					t.Errorf("GET /admin/audit?%s: %d %s, want 400 invalid_request", q, res.Status, res.Body)
				}
			}
			if res := e.do(t, req{Path: "/admin/audit"}); res.Status != http.StatusUnauthorized {
				t.Errorf("GET /admin/audit without the admin token: %d", res.Status)
			}
		})

		t.Run("Verify", func(t *testing.T) {
			if err := e.Provider.AuditCheckpoint(t.Context()); err != nil {
				t.Fatalf("checkpoint: %v", err)
			}
			rep, err := audit.Verify(t.Context(), e.Store)
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if rep.First != 1 || rep.Checkpoints < 2 || rep.Unchecked != 0 {
				t.Errorf("verify: %+v, want the whole chain and checkpoints signed by the server's keys", rep)
			}
		})
	})
}

// mustKeys lists the signing keys through the admin API.
func mustKeys(t *testing.T, ts *testServer) []keys.KeyInfo {
	t.Helper()
	res := ts.admin(t, http.MethodGet, "/admin/keys", nil)
	var out []keys.KeyInfo
	if res.Status != http.StatusOK || json.Unmarshal(res.Body, &out) != nil {
		t.Fatalf("GET /admin/keys: %d %s", res.Status, res.Body)
	}
	return out
}

// TestAuditRetention: with a retention set, housekeeping's PruneAudit
// deletes the entries older than it up to a signed checkpoint, records
// that it did, and the chain still verifies from that checkpoint; entries
// no checkpoint covers stay however old.
func TestAuditRetention(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		var mu sync.Mutex
		now := time.Now()
		clock := func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			return now
		}
		advance := func(d time.Duration) {
			mu.Lock()
			now = now.Add(d)
			mu.Unlock()
		}
		ts := newTestServer(t, dsn, func(c *provider.Config) {
			c.Now = clock
			c.AuditRetention = time.Hour
			c.Audit = audit.New(c.Store, audit.Options{Now: clock, Signer: c.Keys, CheckpointEvery: 1000, Logger: slog.New(slog.DiscardHandler)})
		})
		role := func(name string) {
			t.Helper()
			if res := ts.admin(t, http.MethodPost, "/admin/roles", map[string]any{"name": name}); res.Status != http.StatusCreated {
				t.Fatalf("create role %s: %d %s", name, res.Status, res.Body)
			}
		}
		role("old-1")
		role("old-2")
		advance(2 * time.Hour)
		// Old entries without a checkpoint are kept.
		if n, err := ts.Provider.PruneAudit(t.Context()); err != nil || n != 0 {
			t.Fatalf("PruneAudit without a checkpoint = %d, %v; want 0", n, err)
		}
		if err := ts.Provider.AuditCheckpoint(t.Context()); err != nil {
			t.Fatalf("checkpoint: %v", err)
		}
		through := ts.auditPage(t, "limit=1000").Entries
		cp := through[len(through)-1].Seq
		advance(2 * time.Hour)
		role("new-1")
		n, err := ts.Provider.PruneAudit(t.Context())
		if err != nil || n != int(cp) {
			t.Fatalf("PruneAudit = %d, %v; want the %d entries the checkpoint covers", n, err, cp)
		}
		left := ts.auditPage(t, "limit=1000").Entries
		if left[0].Seq != cp+1 || left[len(left)-1].Type != "audit.pruned" {
			t.Fatalf("after pruning: first %d, last %s; want %d and audit.pruned", left[0].Seq, left[len(left)-1].Type, cp+1)
		}
		rep, err := audit.Verify(t.Context(), ts.Store)
		if err != nil || rep.First != cp+1 {
			t.Fatalf("verify after pruning: %+v, %v", rep, err)
		}
	})
}
