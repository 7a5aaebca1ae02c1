package provider_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/internal/testkit/oauthtest"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// codeReadingStore runs hook once, when armed, right after a read of an
// authorization code's rows found the code unspent: the moment a change
// that commits then leaves the exchange spending a code it read unspent.
type codeReadingStore struct {
	storage.Store
	hook atomic.Pointer[func()]
}

func (s *codeReadingStore) GetTokens(ctx context.Context, keys []storage.TokenKey) ([]storage.Token, error) {
	ts, err := s.Store.GetTokens(ctx, keys)
	for _, t := range ts {
		if err == nil && t.Kind == storage.KindAuthorizeCode && t.Active {
			if hook := s.hook.Swap(nil); hook != nil {
				(*hook)()
			}
			break
		}
	}
	return ts, err
}

// codeEnv is a school server whose store can be made to run a change in
// the middle of a code exchange, with its log kept for the tests to read.
type codeEnv struct {
	*ssoEnv
	store *codeReadingStore
	logs  *lockedBuffer
}

func newCodeEnv(t *testing.T, dsn string) *codeEnv {
	t.Helper()
	st, logs := &codeReadingStore{}, &lockedBuffer{}
	e := newSSOEnv(t, dsn, func(c *provider.Config) {
		st.Store = c.Store
		c.Store = st
		c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	return &codeEnv{ssoEnv: e, store: st, logs: logs}
}

// codeReuse is how often a code has been taken for a replay so far: the
// count of the metric, of the audit entries, and of the log lines.
type codeReuse struct {
	Counted       float64
	Recorded, Log int
}

func (e *codeEnv) codeReuse(t *testing.T) codeReuse {
	t.Helper()
	v, _ := e.metric(t, "hallpass_token_reuse_detections_total", `grant_type="authorization_code"`)
	recorded := 0
	for _, x := range e.auditPage(t, "limit=1000&type=token.reuse_detected").Entries {
		var d map[string]any
		if json.Unmarshal(x.Details, &d) == nil && d["grant_type"] == "authorization_code" {
			recorded++
		}
	}
	lines := 0
	for l := range strings.SplitSeq(e.logs.String(), "\n") {
		if strings.Contains(l, "one-time credential presented twice") && strings.Contains(l, `"grant_type":"authorization_code"`) {
			lines++
		}
	}
	return codeReuse{Counted: v, Recorded: recorded, Log: lines}
}

// wantReuse fails unless one code reuse (want) or none was taken for a
// replay between before and now.
func (e *codeEnv) wantReuse(t *testing.T, before codeReuse, want bool) {
	t.Helper()
	after := e.codeReuse(t)
	n := 0
	if want {
		n = 1
	}
	if after.Counted-before.Counted != float64(n) || after.Recorded-before.Recorded != n || after.Log-before.Log != n {
		t.Errorf("code reuse counted %v, recorded %d, logged %d times; want %d of each",
			after.Counted-before.Counted, after.Recorded-before.Recorded, after.Log-before.Log, n)
	}
}

// adminNoT sends an admin API request without a testing.T (from the
// server's goroutines), body JSON-encoded unless nil.
func (e *codeEnv) adminNoT(method, path string, body any, want int) error {
	var rd *bytes.Reader
	if body != nil {
		enc, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(enc)
	} else {
		rd = bytes.NewReader(nil)
	}
	hr, err := http.NewRequest(method, e.URL+path, rd)
	if err != nil {
		return err
	}
	hr.Header.Set("Authorization", "Bearer "+e.AdminToken)
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.HTTP.Do(hr)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d", method, path, resp.StatusCode, want)
	}
	return nil
}

// codeEnding ends every outstanding code of user at client c, the way one
// of hallpass's changes does: prepare does what needs a testing.T, and
// returns the change itself, which runs without one.
type codeEnding struct {
	name    string
	prepare func(t *testing.T, e *codeEnv, c *ssoClient, user string) func() error
}

var codeEndings = []codeEnding{
	{"consent withdrawn", func(t *testing.T, e *codeEnv, c *ssoClient, user string) func() error {
		b := e.newBrowser(t)
		if p := e.consoleSignIn(t, b, provider.PathAccount, user, alicePassword); p.Status != http.StatusOK {
			t.Fatalf("the account page of %s: %s", user, p)
		}
		csrf := b.formCSRF(t, e.ssoEnv)
		return func() error {
			res := postNoT(b.http, e.URL+"/account/apps/"+c.Meta.ClientID+"/withdraw", "", url.Values{"csrf": {csrf}})
			if res.Err != nil || res.Status != http.StatusOK {
				return fmt.Errorf("withdraw consent: %d %v", res.Status, res.Err)
			}
			return nil
		}
	}},
	{"password reset", func(t *testing.T, e *codeEnv, _ *ssoClient, user string) func() error {
		return func() error {
			return e.adminNoT(http.MethodPut, "/admin/users/"+user,
				map[string]any{"username": user, "password": "another-violet-otter-harbour-77", "roles": []string{"teacher"}}, http.StatusOK)
		}
	}},
	{"user disabled", func(t *testing.T, e *codeEnv, _ *ssoClient, user string) func() error {
		return func() error {
			return e.adminNoT(http.MethodPut, "/admin/users/"+user,
				map[string]any{"username": user, "roles": []string{"teacher"}, "disabled": true}, http.StatusOK)
		}
	}},
	{"client's tokens revoked", func(t *testing.T, e *codeEnv, c *ssoClient, _ string) func() error {
		return func() error {
			return e.adminNoT(http.MethodPost, "/admin/clients/"+c.Meta.ClientID+"/revoke-tokens", nil, http.StatusNoContent)
		}
	}},
}

// codeScopes are the two ways a code is spent: an exchange that issues
// no refresh token spends it only at its user's token epoch, one that
// issues one in the transaction that stores it.
var codeScopes = map[string]string{
	"without refresh token": "openid results:read",
	"with refresh token":    "openid offline_access results:read",
}

// TestCodeEndedIsNoReplay checks that an authorization code spent by the
// end of its grant before it was exchanged (its user withdrew consent,
// their password was reset, they were disabled, the client's tokens were
// revoked) and then exchanged by its client is refused (invalid_grant)
// without being taken for a replay: no reuse counted, recorded or
// logged. The end comes before the exchange, or while it runs: after it
// read the code unspent and before it spends it, where the exchange lost
// the race to spend the code and was taken for a replay.
func TestCodeEndedIsNoReplay(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newCodeEnv(t, dsn)
		n := 0
		for _, end := range codeEndings {
			for scopeName, scope := range codeScopes {
				for _, during := range []bool{false, true} {
					when := "before the exchange"
					if during {
						when = "during the exchange"
					}
					n++
					c := e.Confidential
					if n%2 == 0 {
						c = e.Public
					}
					t.Run(end.name+" "+when+" "+scopeName, func(t *testing.T) {
						user := fmt.Sprintf("ended%d", n)
						e.newUser(t, directory.UserInput{Username: user, Password: alicePassword, Roles: []string{"teacher"}})
						// A grant first: the consent to withdraw.
						b := e.newBrowser(t)
						e.grant(t, b, c, user, alicePassword, scope)
						ar, cb := e.code(t, b, c, scope)
						change := end.prepare(t, e, c, user)
						var changeErr atomic.Pointer[error]
						if during {
							hook := func() {
								err := change()
								changeErr.Store(&err)
							}
							e.store.hook.Store(&hook)
						} else if err := change(); err != nil {
							t.Fatal(err)
						}
						before := e.codeReuse(t)
						_, err := e.tryExchange(ar, cb)
						wantRetrieveError(t, err, "invalid_grant")
						if during {
							if e.store.hook.Swap(nil) != nil {
								t.Fatal("the exchange never read the code unspent")
							}
							if err := changeErr.Load(); err == nil || *err != nil {
								t.Fatalf("the change during the exchange: %v", err)
							}
						}
						e.wantReuse(t, before, false)
					})
				}
			}
		}
	})
}

// TestCodeReplayIsDetected checks that a code exchanged for tokens and
// presented again is a replay, however late: refused (invalid_grant),
// counted, recorded and logged once, and what the first exchange issued
// revoked (RFC 6749 §4.1.2). It is so when the second exchange comes
// after the first, after the grant the first began had ended as well
// (the end does not make the spent code an ended one), and when it read
// the code before the first spent it and lost the race to spend it.
func TestCodeReplayIsDetected(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newCodeEnv(t, dsn)
		admin := e.adminCred()
		for scopeName, scope := range codeScopes {
			for _, c := range []*ssoClient{e.Confidential, e.Public} {
				t.Run("replayed "+scopeName+" via "+c.Meta.ClientID, func(t *testing.T) {
					g := e.grant(t, e.newBrowser(t), c, "alice", alicePassword, scope)
					before := e.codeReuse(t)
					_, err := e.tryExchange(g.AR, g.CB)
					wantRetrieveError(t, err, "invalid_grant")
					e.wantReuse(t, before, true)
					e.WantInactive(t, "the first exchange's access token", admin, g.Access, "")
					if g.Refresh != "" {
						e.WantInactive(t, "the first exchange's refresh token", admin, g.Refresh, "")
					}
				})
			}
			t.Run("replayed after consent was withdrawn "+scopeName, func(t *testing.T) {
				user := "replayed-" + strings.ReplaceAll(scopeName, " ", "-")
				e.newUser(t, directory.UserInput{Username: user, Password: alicePassword, Roles: []string{"teacher"}})
				g := e.grant(t, e.newBrowser(t), e.Public, user, alicePassword, scope)
				if err := codeEndings[0].prepare(t, e, e.Public, user)(); err != nil {
					t.Fatal(err)
				}
				before := e.codeReuse(t)
				_, err := e.tryExchange(g.AR, g.CB)
				wantRetrieveError(t, err, "invalid_grant")
				e.wantReuse(t, before, true)
			})
			t.Run("replayed during the first exchange "+scopeName, func(t *testing.T) {
				b := e.newBrowser(t)
				e.grant(t, b, e.Confidential, "alice", alicePassword, scope)
				ar, cb := e.code(t, b, e.Confidential, scope)
				var first atomic.Pointer[httpResult]
				hook := func() {
					res := postNoT(e.HTTP, e.Confidential.Config.Endpoint.TokenURL,
						basic(e.Confidential.Meta.ClientID, e.Confidential.Meta.ClientSecret), redeemForm(ar, cb.Code))
					first.Store(&res)
				}
				e.store.hook.Store(&hook)
				before := e.codeReuse(t)
				_, err := e.tryExchange(ar, cb)
				wantRetrieveError(t, err, "invalid_grant")
				res := first.Load()
				if res == nil || res.Err != nil || res.Status != http.StatusOK {
					t.Fatalf("the first exchange, run while the second read the code: %+v", res)
				}
				var tok oauthtest.TokenResponse
				if err := json.Unmarshal([]byte(res.Body), &tok); err != nil {
					t.Fatalf("decode the first exchange's tokens: %v", err)
				}
				e.wantReuse(t, before, true)
				e.WantInactive(t, "the first exchange's access token", admin, tok.AccessToken, "")
				if tok.RefreshToken != "" {
					e.WantInactive(t, "the first exchange's refresh token", admin, tok.RefreshToken, "")
				}
			})
		}
	})
}
