package provider_test

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/internal/testkit/hallpasstest"
	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/keys"
	"github.com/hallpass/hallpass/provider"
)

// answer is what a sweep's request got: the last response, after any
// redirects inside hallpass a browser followed.
type answer struct {
	status int
	header http.Header
	body   string
}

func fromResult(r result) answer { return answer{r.Status, r.Header, string(r.Body)} }
func fromPage(p page) answer {
	if p.Redirect != nil {
		// A redirect out of hallpass (to a client) is what the client
		// gets: an error sent there is the client's to show.
		return answer{p.Status, p.Header, p.Redirect.String()}
	}
	return answer{p.Status, p.Header, p.Body}
}

// sweepCase is one request to walk through a store failure at each of
// its store calls. prepare sets up what the request needs (afresh for
// every call it fails, since a request that got through may have spent
// a code or a session) and returns the request, which sweep then sends
// with the store failing.
type sweepCase struct {
	name    string
	prepare func(t *testing.T) func() answer
	// tolerate names the calls ("op@k": the kth call of op) whose
	// failure alone the request rides out by design: it answers as if
	// nothing failed.
	tolerate []string
}

// sweep sends each case's request with its first store call failing,
// then its second, and so on until it makes no more calls, first with
// only that call failing, then with every call from it on failing (the
// database gone and staying gone). Every answer must be a 5xx that is
// logged at error level with the request's id, with Retry-After, never
// a client's or user's error, a page that blames the user, or a success
// (which would be a check that failed open).
func sweep(t *testing.T, st *nthStore, logs *syncBuffer, cases []sweepCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, sticky := range []bool{false, true} {
				for n := 1; ; n++ {
					do := c.prepare(t)
					st.arm(n, sticky)
					a := do()
					calls, failed := st.disarm()
					if failed == "" {
						if n == 1 {
							t.Fatalf("the request made no store call: %d %.200s", a.status, a.body)
						}
						// With nothing failing, the request succeeds: the
						// sweep walked a request that works.
						if a.status >= 400 {
							t.Fatalf("with no call failing: status %d: %.300s", a.status, a.body)
						}
						break
					}
					k := 0
					for _, op := range calls[:n] {
						if op == failed {
							k++
						}
					}
					// Failing from the request's last call on is failing
					// that call alone.
					if (!sticky || n == len(calls)) && slices.Contains(c.tolerate, fmt.Sprintf("%s@%d", failed, k)) {
						if a.status >= 400 {
							t.Errorf("failing %s@%d, which the request rides out: status %d: %.300s", failed, k, a.status, a.body)
						}
						continue
					}
					checkFailureAnswer(t, logs, a, failed, calls, sticky)
				}
			}
		})
	}
}

// checkFailureAnswer checks one answer to a request whose store call
// failed.
func checkFailureAnswer(t *testing.T, logs *syncBuffer, a answer, failed string, calls []string, sticky bool) {
	t.Helper()
	how := "failing " + failed
	if sticky {
		how += " and every later call"
	}
	if a.status == http.StatusSeeOther || a.status == http.StatusFound {
		// The authorization endpoint sends its failures to the client's
		// redirect URI (RFC 6749 §4.1.2.1): temporarily_unavailable or
		// server_error, never a code, never the client's fault.
		u, err := url.Parse(a.body)
		if e := u.Query().Get("error"); err != nil || (e != "temporarily_unavailable" && e != "server_error") {
			t.Errorf("%s (calls %v): redirected to %.300s, want temporarily_unavailable or server_error", how, calls, a.body)
		}
		if id := a.header.Get("X-Request-Id"); !logs.logged(t, "ERROR", id) {
			t.Errorf("%s: nothing logged at error level for request %s", how, id)
		}
		return
	}
	if a.status < 500 || a.status > 599 {
		t.Errorf("%s (calls %v): status %d, want a 5xx: %.300s", how, calls, a.status, a.body)
		return
	}
	if a.header.Get("Retry-After") == "" {
		t.Errorf("%s: %d without Retry-After", how, a.status)
	}
	if strings.HasPrefix(a.header.Get("Content-Type"), "application/json") {
		var body struct{ Error string }
		if err := json.Unmarshal([]byte(a.body), &body); err != nil || (body.Error != "server_error" && body.Error != "temporarily_unavailable") {
			t.Errorf("%s: error %q, want server_error or temporarily_unavailable: %.300s", how, body.Error, a.body)
		}
	}
	if strings.HasPrefix(a.header.Get("Content-Type"), "text/html") {
		// A page for a person must not blame them or their session.
		text := strings.ToLower(a.body)
		for _, blame := range []string{"expired", "incorrect", "not found", "no such", "invalid", "sign in again"} {
			if strings.Contains(text, blame) {
				t.Errorf("%s: the page says %q: %.600s", how, blame, a.body)
			}
		}
	}
	if id := a.header.Get("X-Request-Id"); !logs.logged(t, "ERROR", id) {
		t.Errorf("%s: nothing logged at error level for request %s", how, id)
	}
}

// checkLogsHoldNoSecret fails t if any line logged holds a secret: one of
// secrets (passwords, client secrets), the admin token, or anything that
// looks like a token, a code or a credential header.
func checkLogsHoldNoSecret(t *testing.T, logs *syncBuffer, secrets ...string) {
	t.Helper()
	logs.mu.Lock()
	text := logs.buf.String()
	logs.mu.Unlock()
	// The marks: a fosite token or code starts ory_, a JWT (an ID token, an
	// access token, a client assertion) eyJ.
	marks := append([]string{testAdminToken, alicePassword, bobPassword, adminPassword,
		"ory_at_", "ory_rt_", "ory_ac_", "eyJ", "Bearer ", "Basic "}, secrets...)
	for line := range strings.Lines(text) {
		for _, m := range marks {
			if m != "" && strings.Contains(line, m) {
				t.Errorf("a log line holds a secret (%.12s…): %.400s", m, line)
			}
		}
	}
}

// passwordChangeCase is a fresh student changing their password on the
// account page.
func passwordChangeCase(e *ssoEnv) sweepCase {
	return sweepCase{name: "account: password", prepare: func(t *testing.T) func() answer {
		b := e.newBrowser(t)
		home := e.consoleSignIn(t, b, provider.PathAccount, newStudent(t, e), bobPassword)
		const np = "quiet-harbor-lantern-95"
		return func() answer {
			return fromPage(b.submitTo(t, home, "/password", url.Values{"current": {bobPassword}, "new": {np}, "confirm": {np}}))
		}
	}}
}

// onSweepBackend runs a sweep over an nthStore on SQLite alone. The
// failures nthStore makes (an error, or a wait for the request's time to
// run out) are made above the backend, so the provider meets the same
// ones over either; only their cost differs, and the sweeps are the
// longest tests of the package (CI's 15 minutes). What PostgreSQL itself
// does when it goes away mid-request, transactions included, is
// TestProxyCutSweep's, over a real PostgreSQL cut off.
//
// The sweeps run in parallel with each other: each has a server, a
// database, an nthStore and a log of its own, and one request at a time
// keeps about one CPU busy (StoreHangsAnswers mostly waits for requests'
// time to run out), so two at once take about half the time.
func onSweepBackend(t *testing.T, f func(t *testing.T, dsn string)) {
	t.Helper()
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) { f(t, testdb.SQLite(t)) })
}

// newSweepEnv is a school server over an nthStore, its logs (every
// level) in a buffer.
func newSweepEnv(t *testing.T, dsn string, opts ...func(*provider.Config)) (*ssoEnv, *nthStore, *syncBuffer) {
	t.Helper()
	return newSweepEnvWith(t, dsn, hallpasstest.Options{}, opts...)
}

// newSweepEnvWith is newSweepEnv with the harness's options o.
func newSweepEnvWith(t *testing.T, dsn string, o hallpasstest.Options, opts ...func(*provider.Config)) (*ssoEnv, *nthStore, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	st := &nthStore{}
	e := ssoEnvOn(t, startTestServer(t, dsn, o, append(opts, func(c *provider.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		// Every read of clients, scopes and roles reaches the store, so
		// that its failures are swept too.
		c.DirectoryCacheInterval = -1
		st.Store = c.Store
		c.Store = st
	})...))
	return e, st, logs
}

// TestFailureSweepPasskeys walks the passkey steps through a store
// failure at each of their calls.
func TestFailureSweepPasskeys(t *testing.T) {
	onSweepBackend(t, func(t *testing.T, dsn string) {
		e, st, logs := newSweepEnvWith(t, dsn, hallpasstest.Options{LocalhostIssuer: true})
		// withKey is a fresh student with a passkey of their own.
		withKey := func(t *testing.T) (string, *softKey) {
			user := newStudent(t, e)
			key := newSoftKey(t, e.userID(t, user))
			key.store(t, e.Store, "Key")
			return user, key
		}
		sweep(t, st, logs, []sweepCase{
			{name: "passkey sign-in", prepare: func(t *testing.T) func() answer {
				_, key := withKey(t)
				b := e.newBrowser(t)
				login := b.get(t, e.Confidential.request("openid").URL)
				return func() answer {
					return fromPage(b.submitTo(t, login, provider.PathLoginPasskey,
						url.Values{"credential": {key.assertion(t, challengeOf(t, login), e.URL, "localhost", flagsUPUV)}}))
				}
				// As for a password, the throttle's reset after the
				// passkey succeeded (succeeded) is ridden out.
			}, tolerate: []string{"UpdateThrottle@2"}},
			{name: "passkey as second factor", prepare: func(t *testing.T) func() answer {
				user, key := withKey(t)
				b := e.newBrowser(t)
				p := b.login(t, b.get(t, e.Confidential.request("openid").URL), user, bobPassword)
				wantPath(t, p, provider.PathSecondFactor)
				return func() answer {
					return fromPage(b.submitTo(t, p, provider.PathSecondFactorPasskey,
						url.Values{"credential": {key.assertion(t, challengeOf(t, p), e.URL, "localhost", flagsUP)}}))
				}
			}, tolerate: []string{"UpdateThrottle@2"}},
			{name: "account: add passkey", prepare: func(t *testing.T) func() answer {
				user := newStudent(t, e)
				b := e.newBrowser(t)
				home := e.consoleSignIn(t, b, provider.PathAccount, user, bobPassword)
				key := newSoftKey(t, e.userID(t, user))
				return func() answer {
					return fromPage(b.submitTo(t, home, provider.PathAccountPasskeys,
						url.Values{"name": {"Laptop"}, "credential": {key.attestation(t, challengeOf(t, home), e.URL, "localhost")}}))
				}
				// The passkey is added: recording it on the browser's
				// session (selfProved) is ridden out, and the next page
				// asks for it.
			}, tolerate: []string{"SetBrowserSessionAMR@1"}},
			{name: "account: remove passkey", prepare: func(t *testing.T) func() answer {
				user, key := withKey(t)
				b := e.newBrowser(t)
				p := b.login(t, b.get(t, e.URL+provider.PathAccount), user, bobPassword)
				home := b.submitTo(t, p, provider.PathSecondFactorPasskey,
					url.Values{"credential": {key.assertion(t, challengeOf(t, p), e.URL, "localhost", flagsUP)}})
				return func() answer { return fromPage(b.submitTo(t, home, "/remove", nil)) }
			}},
		})
	})
}

// TestStoreHangsAnswers: a database that stops answering (the request
// runs out of RequestTimeout waiting for it) at a request's first store
// call, or at its first write (a read-only one's last call), is a logged 503 with Retry-After, as a
// database that fails at once is.
func TestStoreHangsAnswers(t *testing.T) {
	onSweepBackend(t, func(t *testing.T, dsn string) {
		e, st, logs := newSweepEnv(t, dsn, func(c *provider.Config) { c.RequestTimeout = 2 * time.Second })
		alice := e.newBrowser(t)
		e.signInTokens(t, alice, e.Confidential.request("openid offline_access"), "alice", alicePassword)
		cases := []sweepCase{
			{name: "token: refresh", prepare: func(t *testing.T) func() answer {
				ar := e.Confidential.request("openid offline_access")
				tok := e.exchange(t, ar, e.callback(t, alice.get(t, ar.URL), ar))
				return func() answer {
					return fromResult(e.refresh(t, e.Confidential, tok.RefreshToken, ""))
				}
			}},
			{name: "introspect", prepare: func(t *testing.T) func() answer {
				ar := e.Confidential.request("openid offline_access")
				tok := e.exchange(t, ar, e.callback(t, alice.get(t, ar.URL), ar))
				return func() answer {
					return fromResult(e.Introspect(t, credOf(e.Confidential.Meta), tok.RefreshToken, "refresh_token"))
				}
			}},
			{name: "login", prepare: func(t *testing.T) func() answer {
				b := e.newBrowser(t)
				p := b.get(t, e.Confidential.request("openid").URL)
				return func() answer { return fromPage(b.login(t, p, "alice", alicePassword)) }
			}},
			passwordChangeCase(e),
			{name: "admin: create user", prepare: func(t *testing.T) func() answer {
				name := "made-" + strings.ToLower(rand.Text()[:10])
				return func() answer {
					return fromResult(e.admin(t, http.MethodPost, "/admin/users", map[string]any{"username": name, "password": bobPassword}))
				}
			}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				do := c.prepare(t)
				st.arm(1<<30, false)
				do()
				calls, _ := st.disarm()
				write := slices.IndexFunc(calls, func(op string) bool {
					return strings.HasPrefix(op, "Create") || strings.HasPrefix(op, "Update") || strings.HasPrefix(op, "Put") ||
						strings.HasPrefix(op, "Delete") || strings.HasPrefix(op, "Set") || op == "InTransaction"
				})
				if write < 0 {
					write = len(calls) - 1 // a read-only request: its last call
				}
				for _, n := range []int{1, write + 1} {
					do := c.prepare(t)
					st.hangs.Store(true)
					st.arm(n, true)
					a := do()
					calls, failed := st.disarm()
					st.hangs.Store(false)
					checkFailureAnswer(t, logs, a, failed+" (hanging)", calls, true)
				}
			})
		}
	})
}

// TestFailureSweepProtocol walks the protocol endpoints through a store
// failure at each of their calls.
func TestFailureSweepProtocol(t *testing.T) {
	onSweepBackend(t, func(t *testing.T, dsn string) {
		e, st, logs := newSweepEnv(t, dsn)
		svc := e.registerService(t, "client_secret_basic", "results:read")
		alice := e.newBrowser(t)
		aliceTok := e.signInTokens(t, alice, e.Confidential.request("openid profile offline_access"), "alice", alicePassword)
		portal := credOf(e.Confidential.Meta)
		// enrolStep signs a fresh user of a role that requires a second
		// factor in, up to the enrolment page.
		if res := e.admin(t, http.MethodPost, "/admin/roles", map[string]any{"name": "guarded", "scopes": []string{"results:read"}, "require_mfa": true}); res.Status != http.StatusCreated {
			t.Fatalf("create role: %d %s", res.Status, res.Body)
		}
		enrolStep := func(t *testing.T) (*browser, page) {
			user := newStudent(t, e)
			e.setUser(t, user, map[string]any{"roles": []string{"guarded"}})
			b := e.newBrowser(t)
			p := b.login(t, b.get(t, e.Confidential.request("openid").URL), user, bobPassword)
			wantPath(t, p, provider.PathEnrol)
			return b, p
		}
		tokenForm := func(form url.Values) func() answer {
			return func() answer {
				return fromResult(e.do(t, req{Method: http.MethodPost, Path: provider.PathToken, ContentType: formType,
					Auth: basic(e.Confidential.Meta.ClientID, e.Confidential.Meta.ClientSecret), Body: form.Encode()}))
			}
		}
		sweep(t, st, logs, []sweepCase{
			{name: "token: client credentials", prepare: func(t *testing.T) func() answer {
				return func() answer {
					return fromResult(e.do(t, req{Method: http.MethodPost, Path: provider.PathToken, ContentType: formType,
						Auth: basic(svc.ClientID, svc.ClientSecret), Body: "grant_type=client_credentials"}))
				}
			}},
			{name: "token: code", prepare: func(t *testing.T) func() answer {
				ar := e.Confidential.request("openid offline_access")
				cb := e.callback(t, alice.get(t, ar.URL), ar)
				return tokenForm(url.Values{"grant_type": {"authorization_code"}, "code": {cb.wantCode(t)},
					"redirect_uri": {ar.RedirectURI}, "code_verifier": {ar.Verifier}})
			}},
			{name: "token: refresh", prepare: func(t *testing.T) func() answer {
				ar := e.Confidential.request("openid offline_access")
				tok := e.exchange(t, ar, e.callback(t, alice.get(t, ar.URL), ar))
				return tokenForm(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
			}},
			{name: "introspect: access token as admin", prepare: func(t *testing.T) func() answer {
				return func() answer { return fromResult(e.Introspect(t, e.adminCred(), aliceTok.AccessToken, "")) }
			}},
			{name: "introspect: revoked access token", prepare: func(t *testing.T) func() answer {
				ar := e.Confidential.request("openid offline_access")
				tok := e.exchange(t, ar, e.callback(t, alice.get(t, ar.URL), ar))
				if res := e.Revoke(t, portal, tok.AccessToken, "access_token"); res.Status != http.StatusOK {
					t.Fatalf("revoke: %d %s", res.Status, res.Body)
				}
				return func() answer { return fromResult(e.Introspect(t, portal, tok.AccessToken, "")) }
			}},
			{name: "introspect: refresh token", prepare: func(t *testing.T) func() answer {
				return func() answer {
					return fromResult(e.Introspect(t, portal, aliceTok.RefreshToken, "refresh_token"))
				}
			}},
			{name: "revoke: refresh token", prepare: func(t *testing.T) func() answer {
				ar := e.Confidential.request("openid offline_access")
				tok := e.exchange(t, ar, e.callback(t, alice.get(t, ar.URL), ar))
				return func() answer { return fromResult(e.Revoke(t, portal, tok.RefreshToken, "refresh_token")) }
			}},
			{name: "revoke: refresh token without hint", prepare: func(t *testing.T) func() answer {
				ar := e.Confidential.request("openid offline_access")
				tok := e.exchange(t, ar, e.callback(t, alice.get(t, ar.URL), ar))
				return func() answer { return fromResult(e.Revoke(t, portal, tok.RefreshToken, "")) }
			}},
			{name: "revoke: access token", prepare: func(t *testing.T) func() answer {
				ar := e.Confidential.request("openid offline_access")
				tok := e.exchange(t, ar, e.callback(t, alice.get(t, ar.URL), ar))
				return func() answer { return fromResult(e.Revoke(t, portal, tok.AccessToken, "")) }
				// Without a hint fosite first looks the token up as a
				// refresh token, which it is not; when that lookup fails,
				// it goes on to revoke the access token's grant, which is
				// what was asked.
			}, tolerate: []string{"GetToken@1"}},
			{name: "userinfo", prepare: func(t *testing.T) func() answer {
				return func() answer {
					return fromResult(e.do(t, req{Path: provider.PathUserinfo, Auth: "Bearer " + aliceTok.AccessToken}))
				}
			}},
			{name: "registration", prepare: func(t *testing.T) func() answer {
				return func() answer {
					return fromResult(e.admin(t, http.MethodPost, provider.PathRegistration, map[string]any{"grant_types": []string{"client_credentials"}}))
				}
			}},
			{name: "par", prepare: func(t *testing.T) func() answer {
				ar := e.Confidential.request("openid")
				u, _ := url.Parse(ar.URL)
				return func() answer {
					return fromResult(e.do(t, req{Method: http.MethodPost, Path: provider.PathPAR, ContentType: formType,
						Auth: basic(e.Confidential.Meta.ClientID, e.Confidential.Meta.ClientSecret), Body: u.RawQuery}))
				}
			}},
			{name: "authorize: signed in", prepare: func(t *testing.T) func() answer {
				ar := e.Confidential.request("openid offline_access")
				return func() answer { return fromPage(alice.get(t, ar.URL)) }
			}},
			{name: "authorize: signed out", prepare: func(t *testing.T) func() answer {
				ar := e.Confidential.request("openid")
				return func() answer { return fromPage(e.newBrowser(t).get(t, ar.URL)) }
			}},
			{name: "login page", prepare: func(t *testing.T) func() answer {
				b := e.newBrowser(t)
				p := b.get(t, e.Confidential.request("openid").URL).want(t, "login")
				return func() answer { return fromPage(b.get(t, p.URL.String())) }
			}},
			{name: "login", prepare: func(t *testing.T) func() answer {
				b := e.newBrowser(t)
				p := b.get(t, e.Confidential.request("openid").URL)
				return func() answer { return fromPage(b.login(t, p, "alice", alicePassword)) }
				// The second UpdateThrottle takes the attempt back after
				// the right password (checkLogin).
			}, tolerate: []string{"UpdateThrottle@2"}},
			{name: "second factor", prepare: func(t *testing.T) func() answer {
				user := newStudent(t, e)
				secret, _ := e.enrolOnAccountPage(t, e.newBrowser(t), user, bobPassword)
				b := e.newBrowser(t)
				p := b.login(t, b.get(t, e.Confidential.request("openid").URL), user, bobPassword)
				wantPath(t, p, provider.PathSecondFactor)
				return func() answer {
					return fromPage(b.submitTo(t, p, provider.PathSecondFactor, url.Values{"code": {totpAt(t, secret, time.Now())}}))
				}
			}, tolerate: []string{"UpdateThrottle@2"}},
			{name: "login: wrong password", prepare: func(t *testing.T) func() answer {
				b := e.newBrowser(t)
				p := b.get(t, e.Confidential.request("openid").URL)
				return func() answer { return fromPage(b.login(t, p, "bob", "not-"+bobPassword)) }
			}},
			{name: "enrolment page", prepare: func(t *testing.T) func() answer {
				b, p := enrolStep(t)
				return func() answer { return fromPage(b.get(t, p.URL.String())) }
			}},
			{name: "enrolment", prepare: func(t *testing.T) func() answer {
				b, p := enrolStep(t)
				secret := secretRE.FindStringSubmatch(p.Body)[1]
				return func() answer {
					return fromPage(b.submitTo(t, p, provider.PathEnrol, url.Values{"code": {totpAt(t, secret, time.Now())}}))
				}
			}},
			{name: "enrolment: continue", prepare: func(t *testing.T) func() answer {
				b, p := enrolStep(t)
				secret := secretRE.FindStringSubmatch(p.Body)[1]
				codes := b.submitTo(t, p, provider.PathEnrol, url.Values{"code": {totpAt(t, secret, time.Now())}})
				return func() answer { return fromPage(b.submitTo(t, codes, provider.PathFactorContinue, nil)) }
			}},
			{name: "consent page", prepare: func(t *testing.T) func() answer {
				b := e.newBrowser(t)
				p := b.login(t, b.get(t, e.Public.request("openid").URL), newStudent(t, e), bobPassword).want(t, "consent")
				return func() answer { return fromPage(b.get(t, p.URL.String())) }
			}},
			{name: "consent", prepare: func(t *testing.T) func() answer {
				b := e.newBrowser(t)
				p := b.login(t, b.get(t, e.Public.request("openid").URL), newStudent(t, e), bobPassword).want(t, "consent")
				return func() answer { return fromPage(b.decide(t, p, "allow")) }
			}},
			{name: "end session: page", prepare: func(t *testing.T) func() answer {
				b := e.newBrowser(t)
				b.signIn(t, e.Confidential.request("openid"), "alice", alicePassword)
				return func() answer { return fromPage(b.get(t, e.URL+provider.PathEndSession)) }
			}},
			{name: "end session: confirm", prepare: func(t *testing.T) func() answer {
				b := e.newBrowser(t)
				b.signIn(t, e.Confidential.request("openid"), "alice", alicePassword)
				p := b.get(t, e.URL+provider.PathEndSession)
				return func() answer { return fromPage(b.submit(t, p, url.Values{"confirm": {"yes"}})) }
			}},
			{name: "end session: id_token_hint", prepare: func(t *testing.T) func() answer {
				b := e.newBrowser(t)
				ar := e.Confidential.request("openid")
				cb, _ := b.signIn(t, ar, "alice", alicePassword)
				tok := e.exchange(t, ar, cb)
				q := url.Values{"id_token_hint": {tok.Extra("id_token").(string)}, "post_logout_redirect_uri": {confidentialLogout}}
				return func() answer { return fromPage(b.get(t, e.URL+provider.PathEndSession+"?"+q.Encode())) }
			}},
		})
		checkLogsHoldNoSecret(t, logs, append(alice.cookieValues(), svc.ClientSecret, e.Confidential.Meta.ClientSecret)...)
	})
}

// cookieValues are the values of the browser's cookies for hallpass.
func (b *browser) cookieValues() []string {
	u, _ := url.Parse(b.env.URL)
	var out []string
	for _, c := range b.jar.Cookies(u) {
		out = append(out, c.Value)
	}
	return out
}

// newStudent creates a student with bob's password (e.newUser: a sweep
// creates one for each call it fails, and argon2id was a third of the
// sweeps' CPU time) and returns the username.
func newStudent(t *testing.T, e *ssoEnv) string {
	t.Helper()
	name := "student-" + strings.ToLower(rand.Text()[:12])
	e.newUser(t, directory.UserInput{Username: name, Password: bobPassword, Roles: []string{"student"}})
	return name
}

// TestFailureSweepPages walks the account page and the console through a
// store failure at each of their calls.
func TestFailureSweepPages(t *testing.T) {
	onSweepBackend(t, func(t *testing.T, dsn string) {
		e, st, logs := newSweepEnv(t, dsn)
		e.withConsoleAdmin(t)
		ada := e.newBrowser(t)
		e.consoleSignIn(t, ada, provider.PathConsole, adminUsername, adminPassword)
		csrf := ada.formCSRF(t, e)
		get := func(path string) func(t *testing.T) func() answer {
			return func(t *testing.T) func() answer {
				return func() answer { return fromPage(ada.get(t, e.URL+path)) }
			}
		}
		post := func(path string, form url.Values) func() answer {
			f := url.Values{"csrf": {csrf}}
			for k, v := range form {
				f[k] = v
			}
			return func() answer { return fromPage(ada.post(t, e.URL+path, f)) }
		}
		// account signs a fresh student in to the account page in a
		// browser of its own, with a second session in another.
		account := func(t *testing.T) (*browser, page, string) {
			user := newStudent(t, e)
			e.consoleSignIn(t, e.newBrowser(t), provider.PathAccount, user, bobPassword)
			b := e.newBrowser(t)
			home := e.consoleSignIn(t, b, provider.PathAccount, user, bobPassword)
			return b, home, user
		}
		// formOn is the request that submits the form posting to an
		// address ending in suffix on the console page at path: its hidden
		// fields and fields.
		formOn := func(path, suffix string, fields url.Values) func(t *testing.T) func() answer {
			return func(t *testing.T) func() answer {
				p := ada.get(t, e.URL+path)
				return func() answer { return fromPage(ada.submitTo(t, p, suffix, fields)) }
			}
		}
		seq := 0
		sweep(t, st, logs, []sweepCase{
			{name: "account: home", prepare: func(t *testing.T) func() answer {
				b, _, _ := account(t)
				return func() answer { return fromPage(b.get(t, e.URL+provider.PathAccount)) }
			}},
			{name: "account: security", prepare: func(t *testing.T) func() answer {
				b, _, _ := account(t)
				return func() answer { return fromPage(b.get(t, e.URL+provider.PathAccountSecurity)) }
			}},
			{name: "account: password", prepare: func(t *testing.T) func() answer {
				b, home, _ := account(t)
				const np = "quiet-harbor-lantern-95"
				return func() answer {
					return fromPage(b.submitTo(t, home, "/password", url.Values{"current": {bobPassword}, "new": {np}, "confirm": {np}}))
				}
				// The password changed; the throttle's reset after it
				// (resetAfterPassword) is ridden out.
			}, tolerate: []string{"UpdateThrottle@2", "FindUsersByUsernameFold@1"}},
			{name: "account: enrol", prepare: func(t *testing.T) func() answer {
				b, _, _ := account(t)
				form := b.get(t, e.URL+provider.PathAccountSecurity)
				secret := secretRE.FindStringSubmatch(form.Body)[1]
				return func() answer {
					return fromPage(b.submitTo(t, form, "/security/totp", url.Values{"code": {totpAt(t, secret, time.Now())}}))
				}
				// As adding a passkey: the authenticator is set up.
			}, tolerate: []string{"SetBrowserSessionAMR@1"}},
			{name: "account: withdraw", prepare: func(t *testing.T) func() answer {
				b, _, user := account(t)
				b.signIn(t, e.Confidential.request("openid"), user, bobPassword)
				home := b.get(t, e.URL+provider.PathAccount)
				return func() answer { return fromPage(b.submitTo(t, home, "/withdraw", nil)) }
			}},
			{name: "account: end session", prepare: func(t *testing.T) func() answer {
				b, home, _ := account(t)
				return func() answer { return fromPage(b.submitTo(t, home, "/end", nil)) }
			}},
			{name: "account: sign out", prepare: func(t *testing.T) func() answer {
				b, home, _ := account(t)
				return func() answer { return fromPage(b.submitTo(t, home, "/signout", nil)) }
			}},
			{name: "console: dashboard", prepare: get("/console/")},
			{name: "console: clients", prepare: get("/console/clients")},
			{name: "console: client", prepare: get("/console/clients/" + confidentialID)},
			{name: "console: users", prepare: get("/console/users")},
			{name: "console: user", prepare: get("/console/users/" + e.AliceID)},
			{name: "console: roles", prepare: get("/console/roles")},
			{name: "console: role", prepare: get("/console/roles/teacher")},
			{name: "console: scopes", prepare: get("/console/scopes")},
			{name: "console: scope", prepare: get("/console/scopes/results:read")},
			{name: "console: keys", prepare: get("/console/keys")},
			{name: "console: audit", prepare: get("/console/audit")},
			{name: "console: create client", prepare: func(t *testing.T) func() answer {
				seq++
				return post("/console/clients/new", url.Values{"client_id": {fmt.Sprintf("app%d", seq)}, "redirect_uris": {"https://app.example/cb"},
					"grant_types": {"authorization_code"}, "token_endpoint_auth_method": {"none"}, "require_pkce": {"yes"}})
			}},
			{name: "console: rotate secret", prepare: func(t *testing.T) func() answer {
				return post("/console/clients/"+confidentialID+"/secret", nil)
			}},
			{name: "console: create role", prepare: func(t *testing.T) func() answer {
				seq++
				return post("/console/roles", url.Values{"name": {fmt.Sprintf("role%d", seq)}, "scopes": {"results:read"}})
			}},
			{name: "console: create user", prepare: func(t *testing.T) func() answer {
				seq++
				return post("/console/users", url.Values{"username": {fmt.Sprintf("made%d", seq)}, "password": {bobPassword}})
			}},
			{name: "console: reset password", prepare: func(t *testing.T) func() answer {
				id := e.userID(t, newStudent(t, e))
				return post("/console/users/"+id+"/password", url.Values{"password": {"quiet-harbor-lantern-95"}})
			}},
			{name: "console: end sessions", prepare: func(t *testing.T) func() answer {
				_, _, user := account(t)
				return post("/console/users/"+e.userID(t, user)+"/sessions", nil)
			}},
			{name: "console: reset factors", prepare: func(t *testing.T) func() answer {
				return post("/console/users/"+e.BobID+"/factors", nil)
			}},
			{name: "console: rotate keys", prepare: func(t *testing.T) func() answer { return post("/console/keys/rotate", nil) }},
			{name: "console: update client", prepare: formOn("/console/clients/"+confidentialID, "/clients/"+confidentialID, url.Values{
				"client_name": {"School portal"}, "redirect_uris": {confidentialRedirect}, "post_logout_redirect_uris": {confidentialLogout},
				"grant_types": {"authorization_code", "refresh_token"}, "token_endpoint_auth_method": {"client_secret_basic"}, "scope": {ssoClientScopes}})},
			{name: "console: delete client", prepare: func(t *testing.T) func() answer {
				seq++
				id := fmt.Sprintf("doomed%d", seq)
				if res := e.admin(t, http.MethodPost, "/admin/clients", map[string]any{"client_id": id, "grant_types": []string{"client_credentials"}}); res.Status != http.StatusCreated {
					t.Fatalf("create client: %d %s", res.Status, res.Body)
				}
				return formOn("/console/clients/"+id+"/delete", "/delete", nil)(t)
			}},
			{name: "console: update user", prepare: func(t *testing.T) func() answer {
				id := e.userID(t, newStudent(t, e))
				return formOn("/console/users/"+id, "/users/"+id, url.Values{"name": {"A Student"}, "roles": {"student"}})(t)
			}},
			{name: "console: update role", prepare: formOn("/console/roles/teacher", "/roles/teacher", url.Values{"scopes": {"results:read", "results:write", "schedule:write"}})},
			{name: "console: delete role", prepare: func(t *testing.T) func() answer {
				seq++
				name := fmt.Sprintf("temp%d", seq)
				if res := e.admin(t, http.MethodPost, "/admin/roles", map[string]any{"name": name}); res.Status != http.StatusCreated {
					t.Fatalf("create role: %d %s", res.Status, res.Body)
				}
				return formOn("/console/roles/"+name+"/delete", "/delete", nil)(t)
			}},
			{name: "console: create scope", prepare: func(t *testing.T) func() answer {
				seq++
				return post("/console/scopes", url.Values{"name": {fmt.Sprintf("notes%d:read", seq)}, "description": {"Read notes"}})
			}},
			{name: "console: update scope", prepare: formOn("/console/scopes/results:read", "/scopes/results:read", url.Values{"description": {"Read exam results"}, "audience": {schoolAudience}})},
		})
		checkLogsHoldNoSecret(t, logs, append(ada.cookieValues(), csrf, e.Confidential.Meta.ClientSecret)...)
	})
}

// userID is the id of the user username.
func (e *ssoEnv) userID(t *testing.T, username string) string {
	t.Helper()
	var u struct{ ID string }
	res := e.admin(t, http.MethodGet, "/admin/users/"+username, nil)
	if err := json.Unmarshal(res.Body, &u); err != nil || u.ID == "" {
		t.Fatalf("get %s: %d %s", username, res.Status, res.Body)
	}
	return u.ID
}

// TestFailureSweepAdmin walks the admin API through a store failure at
// each of its calls.
func TestFailureSweepAdmin(t *testing.T) {
	onSweepBackend(t, func(t *testing.T, dsn string) {
		e, st, logs := newSweepEnv(t, dsn)
		seq := 0
		call := func(method, path string, body any) func() answer {
			return func() answer { return fromResult(e.admin(t, method, path, body)) }
		}
		fresh := func(t *testing.T) string {
			seq++
			name := fmt.Sprintf("obj%d", seq)
			if res := e.admin(t, http.MethodPost, "/admin/roles", map[string]any{"name": name}); res.Status != http.StatusCreated {
				t.Fatalf("create role: %d %s", res.Status, res.Body)
			}
			return name
		}
		sweep(t, st, logs, []sweepCase{
			{name: "list clients", prepare: func(t *testing.T) func() answer { return call(http.MethodGet, "/admin/clients", nil) }},
			{name: "get client", prepare: func(t *testing.T) func() answer { return call(http.MethodGet, "/admin/clients/"+confidentialID, nil) }},
			{name: "create client", prepare: func(t *testing.T) func() answer {
				seq++
				return call(http.MethodPost, "/admin/clients", map[string]any{"client_id": fmt.Sprintf("svc%d", seq), "grant_types": []string{"client_credentials"}})
			}},
			{name: "delete client", prepare: func(t *testing.T) func() answer {
				seq++
				id := fmt.Sprintf("gone%d", seq)
				e.registerService(t, "client_secret_basic", "results:read")
				if res := e.admin(t, http.MethodPost, "/admin/clients", map[string]any{"client_id": id, "grant_types": []string{"client_credentials"}}); res.Status != http.StatusCreated {
					t.Fatalf("create client: %d %s", res.Status, res.Body)
				}
				return call(http.MethodDelete, "/admin/clients/"+id, nil)
			}},
			{name: "revoke client tokens", prepare: func(t *testing.T) func() answer {
				return call(http.MethodPost, "/admin/clients/"+confidentialID+"/revoke-tokens", nil)
			}},
			{name: "list users", prepare: func(t *testing.T) func() answer { return call(http.MethodGet, "/admin/users", nil) }},
			{name: "get user", prepare: func(t *testing.T) func() answer { return call(http.MethodGet, "/admin/users/alice", nil) }},
			{name: "update user", prepare: func(t *testing.T) func() answer {
				name := newStudent(t, e)
				return call(http.MethodPut, "/admin/users/"+name, map[string]any{"username": name, "roles": []string{"teacher"}, "disabled": true})
			}},
			{name: "delete user", prepare: func(t *testing.T) func() answer {
				return call(http.MethodDelete, "/admin/users/"+newStudent(t, e), nil)
			}},
			{name: "reset factors", prepare: func(t *testing.T) func() answer { return call(http.MethodDelete, "/admin/users/bob/factors", nil) }},
			{name: "get role", prepare: func(t *testing.T) func() answer { return call(http.MethodGet, "/admin/roles/teacher", nil) }},
			{name: "update role", prepare: func(t *testing.T) func() answer {
				return call(http.MethodPut, "/admin/roles/"+fresh(t), map[string]any{"scopes": []string{"results:read"}})
			}},
			{name: "delete role", prepare: func(t *testing.T) func() answer { return call(http.MethodDelete, "/admin/roles/"+fresh(t), nil) }},
			{name: "update client", prepare: func(t *testing.T) func() answer {
				return call(http.MethodPut, "/admin/clients/"+confidentialID, e.Confidential.Meta)
			}},
			{name: "create user", prepare: func(t *testing.T) func() answer {
				seq++
				return call(http.MethodPost, "/admin/users", map[string]any{"username": fmt.Sprintf("new%d", seq), "password": bobPassword})
			}},
			{name: "update scope", prepare: func(t *testing.T) func() answer {
				return call(http.MethodPut, "/admin/scopes/results:read", map[string]any{"description": "Read exam results", "audience": schoolAudience})
			}},
			{name: "delete scope", prepare: func(t *testing.T) func() answer {
				seq++
				name := fmt.Sprintf("gone%d:read", seq)
				if res := e.admin(t, http.MethodPost, "/admin/scopes", map[string]any{"name": name}); res.Status != http.StatusCreated {
					t.Fatalf("create scope: %d %s", res.Status, res.Body)
				}
				return call(http.MethodDelete, "/admin/scopes/"+url.PathEscape(name), nil)
			}},
			{name: "list scopes", prepare: func(t *testing.T) func() answer { return call(http.MethodGet, "/admin/scopes", nil) }},
			{name: "create scope", prepare: func(t *testing.T) func() answer {
				seq++
				return call(http.MethodPost, "/admin/scopes", map[string]any{"name": fmt.Sprintf("s%d:read", seq)})
			}},
			{name: "audit", prepare: func(t *testing.T) func() answer { return call(http.MethodGet, "/admin/audit", nil) }},
		})
		checkLogsHoldNoSecret(t, logs, e.Confidential.Meta.ClientSecret)
	})
}

// TestProxyCutSweep cuts PostgreSQL off (a TCP proxy between hallpass and
// the database drops every connection) just before each store call of a
// request in turn, so that the request meets a real outage wherever it
// is, inside a transaction too; the proxy is restored after each request.
// Every answer is a logged 5xx, and hallpass recovers every time.
func TestProxyCutSweep(t *testing.T) {
	dsn, px := postgresBehindProxy(t)
	e, st, logs := newSweepEnv(t, dsn)
	alice := e.newBrowser(t)
	e.signInTokens(t, alice, e.Confidential.request("openid offline_access"), "alice", alicePassword)
	cases := []sweepCase{
		{name: "token: code", prepare: func(t *testing.T) func() answer {
			ar := e.Confidential.request("openid offline_access")
			cb := e.callback(t, alice.get(t, ar.URL), ar)
			return func() answer {
				return fromResult(e.tokenRequest(t, e.Confidential, url.Values{"grant_type": {"authorization_code"}, "code": {cb.wantCode(t)},
					"redirect_uri": {ar.RedirectURI}, "code_verifier": {ar.Verifier}}))
			}
		}},
		{name: "token: refresh", prepare: func(t *testing.T) func() answer {
			ar := e.Confidential.request("openid offline_access")
			tok := e.exchange(t, ar, e.callback(t, alice.get(t, ar.URL), ar))
			return func() answer { return fromResult(e.refresh(t, e.Confidential, tok.RefreshToken, "")) }
		}},
		{name: "revoke", prepare: func(t *testing.T) func() answer {
			ar := e.Confidential.request("openid offline_access")
			tok := e.exchange(t, ar, e.callback(t, alice.get(t, ar.URL), ar))
			return func() answer { return fromResult(e.Revoke(t, credOf(e.Confidential.Meta), tok.RefreshToken, "")) }
		}},
		{name: "login", prepare: func(t *testing.T) func() answer {
			b := e.newBrowser(t)
			p := b.get(t, e.Confidential.request("openid").URL)
			return func() answer { return fromPage(b.login(t, p, "alice", alicePassword)) }
		}},
		{name: "consent", prepare: func(t *testing.T) func() answer {
			b := e.newBrowser(t)
			p := b.login(t, b.get(t, e.Public.request("openid").URL), newStudent(t, e), bobPassword).want(t, "consent")
			return func() answer { return fromPage(b.decide(t, p, "allow")) }
		}},
		passwordChangeCase(e),
		{name: "admin: delete user", prepare: func(t *testing.T) func() answer {
			name := newStudent(t, e)
			return func() answer { return fromResult(e.admin(t, http.MethodDelete, "/admin/users/"+name, nil)) }
		}},
	}
	st.cut = px.Cut
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for n := 1; ; n++ {
				do := c.prepare(t)
				st.arm(n, false)
				a := do()
				calls, failed := st.disarm()
				px.Restore()
				if failed == "" {
					if a.status >= 400 {
						t.Fatalf("with no cut: status %d: %.300s", a.status, a.body)
					}
					t.Logf("cut before each of %d calls", n-1)
					break
				}
				checkFailureAnswer(t, logs, a, failed+" (cut before it)", calls, true)
				// Ready again before the next request's set-up.
				deadline := time.Now().Add(30 * time.Second)
				for e.do(t, req{Path: "/readyz"}).Status != http.StatusOK {
					if time.Now().After(deadline) {
						t.Fatal("hallpass did not become ready within 30s of the database coming back")
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
	checkLogsHoldNoSecret(t, logs, append(alice.cookieValues(), e.Confidential.Meta.ClientSecret)...)
}

// TestStaleKeysAnswers: signing keys gone stale (the key manager could
// not reload them from the database for two refresh intervals, so it
// refuses to sign) are the database's outage seen from the keys: a
// request that must sign is a logged 5xx with Retry-After, as one that
// met the outage itself is, and readiness says not ready; once a reload
// succeeds, both work again. It was a bare 500 without Retry-After.
func TestStaleKeysAnswers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		var ahead atomic.Int64
		logs := &syncBuffer{}
		ts := startTestServer(t, dsn, hallpasstest.Options{Keys: func(o *keys.Options) {
			o.RefreshInterval = time.Minute
			o.Now = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
		}}, func(c *provider.Config) {
			c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		})
		e := ssoEnvOn(t, ts)
		svc := e.registerService(t, "client_secret_basic", "results:read")
		alice := e.newBrowser(t)
		e.signInTokens(t, alice, e.Confidential.request("openid"), "alice", alicePassword)
		clientCredentials := func() answer {
			return fromResult(e.do(t, req{Method: http.MethodPost, Path: provider.PathToken, ContentType: formType,
				Auth: basic(svc.ClientID, svc.ClientSecret), Body: "grant_type=client_credentials"}))
		}

		// No reload for three minutes: past twice the refresh interval.
		ahead.Store(int64(3 * time.Minute))
		checkFailureAnswer(t, logs, clientCredentials(), "signing (stale keys)", nil, false)
		ar := e.Confidential.request("openid")
		cb := e.callback(t, alice.get(t, ar.URL), ar)
		checkFailureAnswer(t, logs, fromResult(e.tokenRequest(t, e.Confidential, url.Values{"grant_type": {"authorization_code"},
			"code": {cb.wantCode(t)}, "redirect_uri": {ar.RedirectURI}, "code_verifier": {ar.Verifier}})), "signing (stale keys)", nil, false)
		if res := e.do(t, req{Path: "/readyz"}); res.Status != http.StatusServiceUnavailable {
			t.Errorf("readyz with stale keys: %d, want 503", res.Status)
		}

		// A reload succeeds: signing and readiness are back.
		if err := e.Keys.Load(t.Context()); err != nil {
			t.Fatal(err)
		}
		if a := clientCredentials(); a.status != http.StatusOK {
			t.Errorf("client credentials after the reload: %d %.300s", a.status, a.body)
		}
		if res := e.do(t, req{Path: "/readyz"}); res.Status != http.StatusOK {
			t.Errorf("readyz after the reload: %d", res.Status)
		}
		checkLogsHoldNoSecret(t, logs, svc.ClientSecret, e.Confidential.Meta.ClientSecret)
	})
}

// TestKeysOutage: with PostgreSQL cut off, the admin API's and the
// console's key operations are logged 5xx, and the JWKS is still served
// with the key that signs; once the database is back, a rotation works.
func TestKeysOutage(t *testing.T) {
	dsn, px := postgresBehindProxy(t)
	logs := &syncBuffer{}
	e := newSSOEnv(t, dsn, func(c *provider.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	e.withConsoleAdmin(t)
	ada := e.newBrowser(t)
	e.consoleSignIn(t, ada, provider.PathConsole, adminUsername, adminPassword)
	csrf := ada.formCSRF(t, e)
	active := e.Keys.ActiveKeyID()

	px.Cut()
	for name, a := range map[string]answer{
		"admin: list keys": fromResult(e.admin(t, http.MethodGet, "/admin/keys", nil)),
		"admin: rotate":    fromResult(e.admin(t, http.MethodPost, "/admin/keys/rotate", nil)),
		"admin: revoke":    fromResult(e.admin(t, http.MethodPost, "/admin/keys/"+active+"/revoke", nil)),
		"console: keys":    fromPage(ada.get(t, e.URL+"/console/keys")),
		"console: rotate":  fromPage(ada.post(t, e.URL+"/console/keys/rotate", url.Values{"csrf": {csrf}})),
		"console: revoke":  fromPage(ada.post(t, e.URL+"/console/keys/"+active+"/revoke", url.Values{"csrf": {csrf}})),
	} {
		t.Run(name, func(t *testing.T) { checkFailureAnswer(t, logs, a, "the database (cut)", nil, true) })
	}
	jwks, _ := e.fetchJWKS(t)
	if len(jwks.Key(active)) == 0 {
		t.Errorf("the JWKS during the outage lacks the signing key %s", active)
	}

	px.Restore()
	deadline := time.Now().Add(30 * time.Second)
	for e.do(t, req{Path: "/readyz"}).Status != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("hallpass did not become ready within 30s of the database coming back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if res := e.admin(t, http.MethodPost, "/admin/keys/rotate", nil); res.Status != http.StatusOK {
		t.Errorf("rotate after the outage: %d %s", res.Status, res.Body)
	}
	checkLogsHoldNoSecret(t, logs, append(ada.cookieValues(), csrf, e.Confidential.Meta.ClientSecret)...)
}
