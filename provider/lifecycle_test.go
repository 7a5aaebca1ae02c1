package provider_test

// Token lifecycle: introspection answers, revocation, replay, admin
// revocation, deleting and disabling what tokens hang off, expiry
// housekeeping and configured lifetimes, on every storage backend.
//
// Already covered elsewhere, and not repeated here: introspection by the
// admin token and refusals of bad callers, client_secret_post
// introspection, CC access-token revocation by its client
// (TestRevocationAndIntrospection, TestIntrospectionAuthMethodsAdvertised,
// e2e_test.go); code replay revoking the tokens of the first redemption,
// spent-refresh-token reuse revoking the grant, a disabled or deleted
// user's refresh failing, a disabled user's session ending
// (TestSSOCodeReplay, TestSSORefresh, TestSSODisabledUserLosesSession,
// sso_test.go); one round of concurrent consent and login posts
// (TestSSOConcurrentReplays; the many-round races for codes and refresh
// tokens are TestLifecycleConcurrentRaces below).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/internal/testkit/oauthtest"
	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/web"
)

// lcScope is what the user grants below ask for.
const lcScope = "openid offline_access results:read"

// audOf returns the aud of an introspection answer or JWT claims as a
// sorted list (a JWT may carry a single audience as a string).
func audOf(m map[string]any) []string {
	var out []string
	switch a := m["aud"].(type) {
	case string:
		out = []string{a}
	case []any:
		for _, x := range a {
			s, _ := x.(string)
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// wantFields fails unless m has each of want's keys with that value.
func wantFields(t *testing.T, what string, m map[string]any, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s: %s = %v, want %v (answer %v)", what, k, m[k], v, m)
		}
	}
}

func TestLifecycleIntrospectionAnswers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		const refreshLife = 5 * time.Hour
		e := newSSOEnv(t, dsn, func(c *provider.Config) { c.RefreshTokenLifespan = refreshLife })
		// A resource server asks; it is not the client the tokens were
		// issued to, but the school API their aud names.
		rs := e.registerResourceServer(t, "client_secret_basic", "results:read", schoolAudience)
		who := credOf(rs)
		g := e.grant(t, e.newBrowser(t), e.Confidential, "alice", alicePassword, lcScope+" results:write")
		scope := strings.Join(grantedScope(t, g.Token), " ")
		jwtClaims := e.access(t, g.Access).Raw

		t.Run("access token of a user grant", func(t *testing.T) {
			m := e.WantActive(t, "alice's access token", who, g.Access)
			wantFields(t, "alice's access token", m, map[string]any{
				"client_id": confidentialID, "sub": e.AliceID, "username": "alice", "iss": e.URL,
			})
			if tt, _ := m["token_type"].(string); !strings.EqualFold(tt, "bearer") {
				t.Errorf("token_type = %v, want Bearer", m["token_type"])
			}
			if got, _ := m["scope"].(string); !slices.Equal(sortedFields(got), sortedFields(scope)) {
				t.Errorf("scope = %q, want the granted %q", got, scope)
			}
			if got, want := audOf(m), audOf(jwtClaims); len(want) == 0 || !slices.Equal(got, want) {
				t.Errorf("aud = %q, want the token's %q", got, want)
			}
			if got, want := unixClaim(t, m, "exp"), unixClaim(t, jwtClaims, "exp"); got != want {
				t.Errorf("exp = %d, want the token's exp %d", got, want)
			}
			within(t, "iat", time.Unix(unixClaim(t, m, "iat"), 0), time.Unix(unixClaim(t, jwtClaims, "iat"), 0), 2*time.Second)
		})

		t.Run("access token of a client-credentials grant", func(t *testing.T) {
			tok := e.token(t, rs.ClientID, rs.ClientSecret, "results:read")
			claims := rawClaims(t, tok.AccessToken)
			m := e.WantActive(t, "service token", who, tok.AccessToken)
			wantFields(t, "service token", m, map[string]any{
				"client_id": rs.ClientID, "sub": rs.ClientID, "scope": "results:read", "iss": e.URL,
			})
			if u, ok := m["username"]; ok {
				t.Errorf("username = %v in the answer for a token without a user", u)
			}
			if tt, _ := m["token_type"].(string); !strings.EqualFold(tt, "bearer") {
				t.Errorf("token_type = %v, want Bearer", m["token_type"])
			}
			if got := audOf(m); !slices.Equal(got, []string{schoolAudience}) {
				t.Errorf("aud = %q, want [%s]", got, schoolAudience)
			}
			if got, want := unixClaim(t, m, "exp"), unixClaim(t, claims, "exp"); got != want {
				t.Errorf("exp = %d, want the token's exp %d", got, want)
			}
			within(t, "iat", time.Unix(unixClaim(t, m, "iat"), 0), time.Unix(unixClaim(t, claims, "iat"), 0), 2*time.Second)
		})

		t.Run("refresh token", func(t *testing.T) {
			// Only its own client may ask about a refresh token.
			m := e.WantActive(t, "alice's refresh token", credOf(e.Confidential.Meta), g.Refresh)
			wantFields(t, "alice's refresh token", m, map[string]any{
				"token_type": "refresh_token", "client_id": confidentialID, "sub": e.AliceID, "username": "alice", "iss": e.URL,
			})
			if got, _ := m["scope"].(string); !slices.Equal(sortedFields(got), sortedFields(scope)) {
				t.Errorf("scope = %q, want the granted %q", got, scope)
			}
			exp := time.Unix(unixClaim(t, m, "exp"), 0)
			if exp.Before(g.IssuedAfter.Add(refreshLife).Add(-2*time.Second)) || exp.After(g.IssuedBefore.Add(refreshLife).Add(2*time.Second)) {
				t.Errorf("exp = %v, want the refresh token's expiry, %v after issue (%v…%v); the access token expires at %v",
					exp.UTC(), refreshLife, g.IssuedAfter.UTC(), g.IssuedBefore.UTC(), time.Unix(unixClaim(t, jwtClaims, "exp"), 0).UTC())
			}
			within(t, "iat", time.Unix(unixClaim(t, m, "iat"), 0), g.IssuedAfter, 3*time.Second)
		})
	})
}

func TestLifecycleIntrospectionCallersAndHints(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		rs := credOf(e.registerResourceServer(t, "client_secret_post", "results:read", schoolAudience))
		admin := e.adminCred()
		g := e.grant(t, e.newBrowser(t), e.Public, "bob", bobPassword, lcScope)

		t.Run("a public client may not introspect", func(t *testing.T) {
			for name, who := range map[string]cred{
				"client_id only":           credOf(e.Public.Meta),
				"Basic with empty secret":  {ID: publicID, Secret: "", Method: "client_secret_basic"},
				"client_secret_post empty": {ID: publicID, Secret: "", Method: "client_secret_post"},
			} {
				for _, tok := range []string{g.Access, g.Refresh} {
					res := e.Introspect(t, who, tok, "")
					if res.Status != http.StatusUnauthorized {
						t.Errorf("%s: status %d, want 401: %s", name, res.Status, res.Body)
					}
					if res.Header.Get("WWW-Authenticate") == "" {
						t.Errorf("%s: 401 without WWW-Authenticate", name)
					}
					if strings.Contains(string(res.Body), `"active"`) {
						t.Errorf("%s: refused introspection says something about the token: %s", name, res.Body)
					}
				}
			}
		})

		// token_type_hint is honoured but not trusted: a wrong or unknown
		// hint still finds the token, and says what it really is. The
		// public client cannot ask about its refresh token; the admin can.
		for _, tc := range []struct {
			name, token, hint, wantType string
			who                         cred
		}{
			{"refresh_token hint for an access token", g.Access, "refresh_token", "bearer", rs},
			{"access_token hint for a refresh token", g.Refresh, "access_token", "refresh_token", admin},
			{"unknown hint for an access token", g.Access, "id_token", "bearer", rs},
			{"unknown hint for a refresh token", g.Refresh, "nonsense", "refresh_token", admin},
			{"right hint for a refresh token", g.Refresh, "refresh_token", "refresh_token", admin},
		} {
			t.Run(tc.name, func(t *testing.T) {
				m := e.Introspection(t, tc.who, tc.token, tc.hint)
				if m["active"] != true {
					t.Fatalf("not active: %v", m)
				}
				if tt, _ := m["token_type"].(string); !strings.EqualFold(tt, tc.wantType) {
					t.Errorf("token_type = %v, want %s", m["token_type"], tc.wantType)
				}
				if m["sub"] != e.BobID || m["client_id"] != publicID {
					t.Errorf("sub, client_id = %v, %v; want %s, %s", m["sub"], m["client_id"], e.BobID, publicID)
				}
			})
		}
	})
}

func TestLifecycleIntrospectionInactive(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		const accessLife, refreshLife = 5 * time.Minute, time.Hour
		clock := &testClock{}
		e := newSSOEnv(t, dsn, func(c *provider.Config) {
			c.Now = clock.Now
			c.AccessTokenLifespan = accessLife
			c.RefreshTokenLifespan = refreshLife
		})
		// A resource server of the school API: entitled to alice's access
		// tokens (their aud names it) and to its own.
		svc := e.registerResourceServer(t, "client_secret_basic", "results:read", schoolAudience)
		who := credOf(svc)
		admin := e.adminCred()
		owner := credOf(e.Confidential.Meta) // the only client entitled to its refresh tokens
		b := e.newBrowser(t)
		g := e.grant(t, b, e.Confidential, "alice", alicePassword, lcScope)
		cc := e.token(t, svc.ClientID, svc.ClientSecret).AccessToken
		set, _ := e.fetchJWKS(t)

		// inactive checks token with the caller and every hint.
		inactive := func(t *testing.T, what, token string) {
			t.Helper()
			for _, hint := range []string{"", "access_token", "refresh_token"} {
				e.WantInactive(t, what+" (hint "+hint+")", who, token, hint)
			}
			e.WantInactive(t, what+" (admin)", admin, token, "")
			e.WantInactive(t, what+" (alice's client)", owner, token, "")
		}

		t.Run("not tokens", func(t *testing.T) {
			for name, tok := range map[string]string{
				"garbage":            "not-a-token",
				"three empty parts":  "..",
				"three junk parts":   "a.b.c",
				"bad base64 JWT":     "eyJ%%%.eyJ%%%.%%%",
				"opaque-looking":     "ory_at_abc.def",
				"refresh prefix":     "ory_rt_" + strings.Repeat("A", 43) + "." + strings.Repeat("B", 43),
				"very long":          strings.Repeat("x", 8000),
				"whitespace":         "   ",
				"access token twice": g.Access + g.Access,
			} {
				inactive(t, name, tok)
			}
		})

		t.Run("tampered tokens", func(t *testing.T) {
			// The payload changes, the signature stays: the row is found
			// by its signature, so only verifying the JWT refuses it.
			widened := replacePayload(t, g.Access, func(c map[string]any) { c["scope"] = "openid offline_access results:read results:write schedule:write" })
			inactive(t, "access token with a widened scope and the original signature", widened)
			otherSub := replacePayload(t, g.Access, func(c map[string]any) { c["sub"] = e.BobID })
			inactive(t, "access token with another sub and the original signature", otherSub)
			parts := strings.Split(g.Access, ".")
			inactive(t, "access token with a truncated signature", parts[0]+"."+parts[1]+"."+parts[2][:len(parts[2])-4])
			// A refresh token is key.signature: the row is found by the
			// signature, so only the HMAC check refuses another key.
			key, sig, _ := strings.Cut(g.Refresh, ".")
			inactive(t, "refresh token with another key and the original signature", key[:len(key)-4]+"AAAA."+sig)
		})

		t.Run("signed by a foreign key with our kid", func(t *testing.T) {
			tok := signWithForeignKey(t, e.Keys.ActiveKeyID(), forgedClaims(e.URL, svc.ClientID))
			inactive(t, "foreign-key token", tok)
		})

		t.Run("alg none with our kid", func(t *testing.T) {
			header := b64url.EncodeToString([]byte(`{"alg":"none","kid":"` + e.Keys.ActiveKeyID() + `","typ":"at+jwt"}`))
			payload, _ := json.Marshal(forgedClaims(e.URL, svc.ClientID))
			inactive(t, "unsigned token", header+"."+b64url.EncodeToString(payload)+".")
		})

		t.Run("signed by our key for another issuer", func(t *testing.T) {
			inactive(t, "other issuer's token", e.signWithOurKey(t, forgedClaims("https://other-issuer.example", svc.ClientID)))
		})

		t.Run("signed by our key, never issued", func(t *testing.T) {
			// Everything a stateless check looks at is right; only the
			// store knows hallpass never issued it.
			tok := e.signWithOurKey(t, forgedClaims(e.URL, svc.ClientID))
			verifyAccessToken(t, tok, set)
			inactive(t, "never-issued token", tok)
		})

		t.Run("ID token", func(t *testing.T) {
			if g.IDToken == "" {
				t.Fatal("no ID token")
			}
			inactive(t, "ID token", g.IDToken)
		})

		t.Run("authorization codes", func(t *testing.T) {
			inactive(t, "redeemed code", g.Code)
			_, cb := e.code(t, b, e.Confidential, lcScope)
			inactive(t, "unredeemed code", cb.Code)
		})

		t.Run("revoked access token still verifies offline", func(t *testing.T) {
			tok := e.token(t, svc.ClientID, svc.ClientSecret).AccessToken
			e.WantActive(t, "fresh token", who, tok)
			e.MustRevoke(t, who, tok, "")
			// Stateless: the signature and claims are still fine.
			verifyAccessToken(t, tok, set)
			// Stateful: introspection sees the revocation.
			inactive(t, "revoked token", tok)
		})

		t.Run("spent refresh token and the access token issued with it", func(t *testing.T) {
			g2 := e.grant(t, b, e.Confidential, "alice", alicePassword, lcScope)
			r := oauthtest.DecodeToken(t, e.refresh(t, e.Confidential, g2.Refresh, ""))
			inactive(t, "spent refresh token", g2.Refresh)
			inactive(t, "access token of the spent refresh token", g2.Access)
			e.WantActive(t, "rotated refresh token", owner, r.RefreshToken)
			e.WantActive(t, "new access token", who, r.AccessToken)
		})

		// Expiry last: the clock only moves forward. fosite checks the
		// JWT's exp with the real clock; hallpass's own check follows
		// Config.Now, which is what moves here.
		t.Run("expired", func(t *testing.T) {
			e.WantActive(t, "alice's access token before expiry", who, g.Access)
			clock.Advance(accessLife - 30*time.Second)
			e.WantActive(t, "alice's access token 30 s before expiry", who, g.Access)
			e.WantActive(t, "service token 30 s before expiry", who, cc)
			clock.Advance(time.Minute)
			inactive(t, "expired access token of a user", g.Access)
			inactive(t, "expired service token", cc)
			e.WantActive(t, "refresh token after its access token expired", owner, g.Refresh)
			clock.Advance(refreshLife)
			inactive(t, "expired refresh token", g.Refresh)
		})
	})
}

func TestLifecycleRevocation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		svc := e.registerService(t, "client_secret_basic", "results:read", schoolAPI)
		admin := e.adminCred()
		conf, pub := credOf(e.Confidential.Meta), credOf(e.Public.Meta)
		b := e.newBrowser(t)

		t.Run("revoking a refresh token ends the grant's access tokens", func(t *testing.T) {
			g := e.grant(t, b, e.Confidential, "alice", alicePassword, lcScope)
			e.WantActive(t, "access token", admin, g.Access)
			e.MustRevoke(t, conf, g.Refresh, "")
			e.WantInactive(t, "revoked refresh token", admin, g.Refresh, "")
			e.WantInactive(t, "access token of the revoked refresh token", admin, g.Access, "")
			assertError(t, e.refresh(t, e.Confidential, g.Refresh, ""), http.StatusBadRequest, "invalid_grant")
		})

		t.Run("revoking a rotated refresh token ends the access token issued with it", func(t *testing.T) {
			g := e.grant(t, b, e.Confidential, "alice", alicePassword, lcScope)
			r := oauthtest.DecodeToken(t, e.refresh(t, e.Confidential, g.Refresh, ""))
			e.MustRevoke(t, conf, r.RefreshToken, "refresh_token")
			e.WantInactive(t, "revoked refresh token", admin, r.RefreshToken, "")
			e.WantInactive(t, "its access token", admin, r.AccessToken, "")
			assertError(t, e.refresh(t, e.Confidential, r.RefreshToken, ""), http.StatusBadRequest, "invalid_grant")
		})

		t.Run("an access token ended by rotation stays ended re-encoded", func(t *testing.T) {
			// The last base64url character of an RS256 signature carries
			// 2 bits and 4 unused ones: flipping an unused bit gives
			// another string for the same signature, which a lenient
			// decoder accepts and the revocation record (keyed by the
			// signature as written) does not name.
			g := e.grant(t, b, e.Confidential, "alice", alicePassword, lcScope)
			oauthtest.DecodeToken(t, e.refresh(t, e.Confidential, g.Refresh, ""))
			e.WantInactive(t, "access token of the spent refresh token", admin, g.Access, "")
			const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
			last := strings.IndexByte(alphabet, g.Access[len(g.Access)-1])
			variant := g.Access[:len(g.Access)-1] + string(alphabet[last^1])
			e.WantInactive(t, "the same access token with its signature re-encoded", admin, variant, "")
			// A decoder skips line breaks, even a strict one.
			broken := g.Access[:len(g.Access)-4] + "\n" + g.Access[len(g.Access)-4:]
			e.WantInactive(t, "the same access token with a line break in its signature", admin, broken, "")
		})

		t.Run("revoking a spent refresh token ends the grant it was rotated into", func(t *testing.T) {
			g := e.grant(t, b, e.Confidential, "alice", alicePassword, lcScope)
			r := oauthtest.DecodeToken(t, e.refresh(t, e.Confidential, g.Refresh, ""))
			e.WantActive(t, "current access token", admin, r.AccessToken)
			e.MustRevoke(t, conf, g.Refresh, "refresh_token") // the spent one
			e.WantInactive(t, "current refresh token after revoking the spent one", admin, r.RefreshToken, "")
			e.WantInactive(t, "current access token after revoking the spent one", admin, r.AccessToken, "")
		})

		t.Run("public client revokes its refresh token", func(t *testing.T) {
			g := e.grant(t, b, e.Public, "alice", alicePassword, lcScope)
			e.MustRevoke(t, pub, g.Refresh, "refresh_token")
			e.WantInactive(t, "revoked refresh token", admin, g.Refresh, "")
			e.WantInactive(t, "its access token", admin, g.Access, "")
		})

		t.Run("another client's tokens are not revoked", func(t *testing.T) {
			g := e.grant(t, b, e.Confidential, "alice", alicePassword, lcScope)
			for _, who := range []cred{pub, credOf(svc)} {
				for _, tok := range []string{g.Refresh, g.Access} {
					// RFC 7009 §2.1: refused, unauthorized_client.
					assertError(t, e.Revoke(t, who, tok, ""), http.StatusBadRequest, "unauthorized_client")
				}
			}
			e.WantActive(t, "access token after other clients tried to revoke it", admin, g.Access)
			e.WantActive(t, "refresh token after other clients tried to revoke it", admin, g.Refresh)
			oauthtest.DecodeToken(t, e.refresh(t, e.Confidential, g.Refresh, ""))
		})

		t.Run("unknown tokens answer 200", func(t *testing.T) {
			for name, tok := range map[string]string{
				"garbage":                 "no-such-token",
				"refresh-shaped":          "ory_rt_" + strings.Repeat("A", 43) + "." + strings.Repeat("B", 43),
				"never-issued JWT":        e.signWithOurKey(t, forgedClaims(e.URL, confidentialID)),
				"foreign-key JWT":         signWithForeignKey(t, e.Keys.ActiveKeyID(), forgedClaims(e.URL, confidentialID)),
				"code, not a token":       func() string { _, cb := e.code(t, b, e.Confidential, lcScope); return cb.Code }(),
				"ID token, not revocable": e.grant(t, b, e.Confidential, "alice", alicePassword, lcScope).IDToken,
			} {
				for _, hint := range []string{"", "access_token", "refresh_token", "bogus_hint"} {
					if res := e.Revoke(t, conf, tok, hint); res.Status != http.StatusOK {
						t.Errorf("%s, hint %q: status %d, want 200: %s", name, hint, res.Status, res.Body)
					}
				}
			}
		})

		t.Run("another replica sees a revocation at once", func(t *testing.T) {
			// A second provider stack on the same database, reached at its
			// own address, with the same issuer.
			r2 := newTestServer(t, dsn, func(c *provider.Config) { c.Issuer = e.URL })
			tok := e.token(t, svc.ClientID, svc.ClientSecret).AccessToken
			r2.WantActive(t, "token issued by replica 1, at replica 2", admin, tok)
			e.MustRevoke(t, credOf(svc), tok, "")
			r2.WantInactive(t, "token revoked at replica 1, at replica 2", admin, tok, "")

			g := e.grant(t, b, e.Confidential, "alice", alicePassword, lcScope)
			r2.WantActive(t, "alice's refresh token at replica 2", admin, g.Refresh)
			r2.MustRevoke(t, conf, g.Refresh, "")
			e.WantInactive(t, "refresh token revoked at replica 2, at replica 1", admin, g.Refresh, "")
			e.WantInactive(t, "its access token, at replica 1", admin, g.Access, "")
			assertError(t, e.refresh(t, e.Confidential, g.Refresh, ""), http.StatusBadRequest, "invalid_grant")
		})
	})
}

// TestLifecycleCodeReplayRevokesRotatedTokens: a replayed code revokes
// everything issued from it, including what its refresh token was
// rotated into (TestSSOCodeReplay checks the first tokens only).
func TestLifecycleCodeReplayRevokesRotatedTokens(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		admin := e.adminCred()
		g := e.grant(t, e.newBrowser(t), e.Confidential, "alice", alicePassword, lcScope)
		r1 := oauthtest.DecodeToken(t, e.refresh(t, e.Confidential, g.Refresh, ""))
		r2 := oauthtest.DecodeToken(t, e.refresh(t, e.Confidential, r1.RefreshToken, ""))
		e.WantActive(t, "twice-rotated refresh token", admin, r2.RefreshToken)

		_, err := e.tryExchange(g.AR, g.CB)
		wantRetrieveError(t, err, "invalid_grant")
		e.WantInactive(t, "refresh token rotated from the replayed code's grant", admin, r2.RefreshToken, "")
		e.WantInactive(t, "access token of the replayed code's grant", admin, r2.AccessToken, "")
		assertError(t, e.refresh(t, e.Confidential, r2.RefreshToken, ""), http.StatusBadRequest, "invalid_grant")
	})
}

// raceRounds is how many rounds each race of TestLifecycleConcurrentRaces
// runs per backend: HALLPASS_RACE_ROUNDS if set; else 20 with -short (as
// for a run under -race); else 200 under HALLPASS_CI and 100 otherwise.
// With the handling of lost races (lostRace) undone, for codes or for
// refresh tokens, the test fails in its first rounds (0 to 3) on both
// backends; the rarest of the losers' answers came some 280 times in
// 1,000 rounds, so 200 meet every one dozens of times. CI ran 1,000,
// which found nothing more and cost some 90 s of its 15 minutes; run
// more with HALLPASS_RACE_ROUNDS.
func raceRounds(t *testing.T) int {
	t.Helper()
	if v := os.Getenv("HALLPASS_RACE_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("HALLPASS_RACE_ROUNDS=%q: want a positive number", v)
		}
		return n
	}
	switch {
	case testing.Short():
		return 20
	case os.Getenv("HALLPASS_CI") != "":
		return 200
	}
	return 100
}

// racer sends the requests of TestLifecycleConcurrentRaces. Its methods
// run on goroutines other than the test's, so they report failures with
// t.Errorf and return, never t.Fatal.
type racer struct {
	e *ssoEnv
	// hc keeps the connections of every racer open across rounds.
	hc *http.Client
	// browsers are signed in and have consented for both clients, one per
	// worker: each round gets a code from one GET of the authorization
	// endpoint.
	browsers []*http.Client
}

// post sends form to the token endpoint as c. Racers share form: it is
// not changed.
func (rc *racer) post(c *ssoClient, form url.Values) httpResult {
	form = maps.Clone(form)
	auth := ""
	if c.public() {
		form.Set("client_id", c.Meta.ClientID)
	} else {
		auth = basic(c.Meta.ClientID, c.Meta.ClientSecret)
	}
	return postNoT(rc.hc, c.Config.Endpoint.TokenURL, auth, form)
}

// code gets a fresh authorization code for c in the browser of worker w.
func (rc *racer) code(w int, c *ssoClient) (authRequest, string, error) {
	ar := c.request(lcScope)
	resp, err := rc.browsers[w].Get(ar.URL)
	if err != nil {
		return ar, "", err
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if resp.StatusCode != http.StatusSeeOther || err != nil {
		return ar, "", fmt.Errorf("authorize: %d to %v, want 303 to the client", resp.StatusCode, loc)
	}
	q := loc.Query()
	if q.Get("code") == "" || q.Get("state") != ar.State {
		return ar, "", fmt.Errorf("authorize: redirected to %s, want a code and state %q", loc, ar.State)
	}
	return ar, q.Get("code"), nil
}

// redeemForm is the token request that redeems code, with its PKCE verifier.
func redeemForm(ar authRequest, code string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {ar.RedirectURI}, "code_verifier": {ar.Verifier}}
}

// raceRound is what one round of a race came to.
type raceRound struct {
	Winner oauthtest.TokenResponse
	// Hints counts the losers' error_description texts, which show at
	// which stage each lost: reading the credential or spending it.
	Hints map[string]int
}

// checkRace fails unless exactly one of results is a 200 token response
// and every other one a 400 invalid_grant; no transport error, no 5xx.
func checkRace(t *testing.T, what string, results []httpResult) (raceRound, bool) {
	t.Helper()
	out := raceRound{Hints: map[string]int{}}
	ok, winners := true, 0
	for _, r := range results {
		var body struct {
			oauthtest.TokenResponse
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		jerr := json.Unmarshal([]byte(r.Body), &body)
		switch {
		case r.Err != nil:
			t.Errorf("%s: request failed: %v", what, r.Err)
			ok = false
		case r.Status == http.StatusOK && jerr == nil && body.AccessToken != "":
			winners++
			out.Winner = body.TokenResponse
		case r.Status == http.StatusBadRequest && body.Error == "invalid_grant":
			out.Hints[body.Description]++
		default:
			t.Errorf("%s: got %d %s, want 200 with tokens or 400 invalid_grant", what, r.Status, r.Body)
			ok = false
		}
	}
	if winners != 1 {
		t.Errorf("%s: %d of %d concurrent requests won, want exactly 1", what, winners, len(results))
		ok = false
	}
	return out, ok
}

// wantRevoked fails unless the grant of won, the winner of a race, is
// revoked: its access token introspects inactive and its refresh token is
// refused.
func (rc *racer) wantRevoked(t *testing.T, what string, c *ssoClient, won oauthtest.TokenResponse) bool {
	t.Helper()
	conf := rc.e.Confidential.Meta
	res := postNoT(rc.hc, rc.e.URL+provider.PathIntrospect, basic(conf.ClientID, conf.ClientSecret), url.Values{"token": {won.AccessToken}})
	var m map[string]any
	if res.Err != nil || res.Status != http.StatusOK || json.Unmarshal([]byte(res.Body), &m) != nil || !reflect.DeepEqual(m, map[string]any{"active": false}) {
		t.Errorf("%s: introspection of the winner's access token: %d %s %v, want {\"active\":false}: its grant is not revoked", what, res.Status, res.Body, res.Err)
		return false
	}
	if won.RefreshToken == "" {
		t.Errorf("%s: the winner got no refresh token", what)
		return false
	}
	res = rc.post(c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {won.RefreshToken}})
	if res.Err != nil || res.Status != http.StatusBadRequest || !strings.Contains(res.Body, `"invalid_grant"`) {
		t.Errorf("%s: refresh with the winner's refresh token: %d %s %v, want 400 invalid_grant", what, res.Status, res.Body, res.Err)
		return false
	}
	return true
}

// run plays rounds rounds of race on workers goroutines, alternating the
// confidential and the public client, checks each and returns the losers'
// hints over all rounds. race returns the racers' results, or an error if
// it could not set the round up.
func (rc *racer) run(t *testing.T, rounds int, race func(w int, c *ssoClient) ([]httpResult, error)) map[string]int {
	t.Helper()
	var (
		mu     sync.Mutex
		hints  = map[string]int{}
		next   atomic.Int64
		failed atomic.Int64
		wg     sync.WaitGroup
	)
	start := time.Now()
	for w := range rc.browsers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				round := int(next.Add(1) - 1)
				if round >= rounds || failed.Load() >= 5 {
					return
				}
				c := []*ssoClient{rc.e.Confidential, rc.e.Public}[round%2]
				what := fmt.Sprintf("round %d (%s)", round, c.Meta.ClientID)
				results, err := race(w, c)
				if err != nil {
					t.Errorf("%s: %v", what, err)
					failed.Add(1)
					continue
				}
				out, ok := checkRace(t, what, results)
				if ok {
					ok = rc.wantRevoked(t, what, c, out.Winner)
				}
				if !ok {
					failed.Add(1)
				}
				mu.Lock()
				for h, n := range out.Hints {
					hints[h] += n
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n >= 5 {
		t.Fatalf("gave up after %d failed rounds", n)
	}
	t.Logf("%d rounds in %v; the losers were told %v", rounds, time.Since(start).Round(time.Millisecond), hints)
	return hints
}

// TestLifecycleConcurrentRaces races many requests for one one-time
// credential, round after round, over real HTTP: 25 redemptions of one
// authorization code (with its PKCE verifier), and 15 refreshes of one
// refresh token. In every round exactly one request wins, every loser gets
// 400 invalid_grant (never fosite's invalid_request "retry", never a 5xx),
// and the grant ends as provider/token.go lostRace has it: a credential
// presented twice at once is a replay, so the whole grant is revoked, the
// tokens the winner got included.
func TestLifecycleConcurrentRaces(t *testing.T) {
	const codeRacers, refreshRacers = 25, 15
	// Rounds run on a few goroutines at once, each on a grant of its own:
	// while the racers of one round wait on the database, another round's
	// use the CPU.
	const workers = 2
	rounds := raceRounds(t)
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		// The racers' connections stay open across rounds: with the
		// default of two idle connections per host every round would dial
		// two dozen.
		tr := e.HTTP.Transport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = workers * (codeRacers + 2)
		t.Cleanup(tr.CloseIdleConnections)
		rc := &racer{e: e, hc: &http.Client{Transport: tr}}
		for range workers {
			b := e.newBrowser(t)
			e.grant(t, b, e.Confidential, "alice", alicePassword, lcScope)
			e.grant(t, b, e.Public, "alice", alicePassword, lcScope)
			rc.browsers = append(rc.browsers, &http.Client{
				Transport:     tr,
				Jar:           b.jar,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			})
		}

		t.Run("code", func(t *testing.T) {
			rc.run(t, rounds, func(w int, c *ssoClient) ([]httpResult, error) {
				ar, code, err := rc.code(w, c)
				if err != nil {
					return nil, err
				}
				form := redeemForm(ar, code)
				return raceN(codeRacers, func() httpResult { return rc.post(c, form) }), nil
			})
		})

		t.Run("refresh", func(t *testing.T) {
			hints := rc.run(t, rounds, func(w int, c *ssoClient) ([]httpResult, error) {
				ar, code, err := rc.code(w, c)
				if err != nil {
					return nil, err
				}
				res := rc.post(c, redeemForm(ar, code))
				var tok oauthtest.TokenResponse
				if res.Err != nil || res.Status != http.StatusOK || json.Unmarshal([]byte(res.Body), &tok) != nil || tok.RefreshToken == "" {
					return nil, fmt.Errorf("redeem the code: %d %s %v", res.Status, res.Body, res.Err)
				}
				form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
				return raceN(refreshRacers, func() httpResult { return rc.post(c, form) }), nil
			})
			// Losers that read the token before the winner spent it lose
			// while spending it, the case fosite answers wrongly; if none
			// did, the requests never overlapped and the test proved
			// nothing.
			spending := 0
			for h, n := range hints {
				if strings.Contains(h, "concurrent request") {
					spending += n
				}
			}
			if spending == 0 {
				t.Errorf("no loser lost while spending the refresh token (hints %v): the requests did not race", hints)
			}
		})
	})
}

// TestLifecycleRefreshRefusals: refresh requests that are wrong, not raced,
// keep fosite's answer (but for a missing refresh_token) and change nothing; only a credential spent by
// another request is answered as a lost race (TestLifecycleConcurrentRaces).
func TestLifecycleRefreshRefusals(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		b := e.newBrowser(t)
		g := e.grant(t, b, e.Confidential, "alice", alicePassword, lcScope)
		other := e.grant(t, b, e.Public, "alice", alicePassword, lcScope)
		key, sig, ok := strings.Cut(g.Refresh, ".")
		if !ok {
			t.Fatalf("refresh token %q is not key.signature", g.Refresh)
		}
		for _, tc := range []struct {
			name   string
			c      *ssoClient
			form   url.Values
			status int
			code   string
		}{
			{"unknown token", e.Confidential, url.Values{"refresh_token": {"ory_rt_" + strings.Repeat("A", 43) + "." + strings.Repeat("B", 43)}}, http.StatusBadRequest, "invalid_grant"},
			{"tampered signature", e.Confidential, url.Values{"refresh_token": {key + "." + strings.ToUpper(sig[:1]) + strings.ToLower(sig[1:])}}, http.StatusBadRequest, "invalid_grant"},
			// A missing parameter, not a bad grant (RFC 6749 §5.2;
			// TestGrantParameterMissing).
			{"no refresh_token", e.Confidential, url.Values{}, http.StatusBadRequest, "invalid_request"},
			{"another client's token", e.Public, url.Values{"refresh_token": {g.Refresh}}, http.StatusBadRequest, "invalid_grant"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tc.form.Set("grant_type", "refresh_token")
				res := e.tokenRequest(t, tc.c, tc.form)
				assertError(t, res, tc.status, tc.code)
				if strings.Contains(string(res.Body), "concurrent") {
					t.Errorf("answered as a lost race: %s", res.Body)
				}
			})
		}
		// Nothing above touched either grant.
		e.WantActive(t, "the access token after refused refreshes", e.adminCred(), g.Access)
		oauthtest.DecodeToken(t, e.refresh(t, e.Confidential, g.Refresh, ""))
		oauthtest.DecodeToken(t, e.refresh(t, e.Public, other.Refresh, ""))
	})
}

func TestLifecycleAdminRevokeClientTokens(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		admin := e.adminCred()
		svc := e.registerService(t, "client_secret_basic", "results:read", schoolAPI)
		b := e.newBrowser(t)
		alice := e.grant(t, b, e.Confidential, "alice", alicePassword, lcScope)
		rotated := oauthtest.DecodeToken(t, e.refresh(t, e.Confidential, e.grant(t, b, e.Confidential, "alice", alicePassword, lcScope).Refresh, ""))
		unused, unusedCB := e.code(t, b, e.Confidential, lcScope)
		bob := e.grant(t, e.newBrowser(t), e.Public, "bob", bobPassword, lcScope)
		svcTok := e.token(t, svc.ClientID, svc.ClientSecret).AccessToken

		res := e.admin(t, http.MethodPost, "/admin/clients/"+confidentialID+"/revoke-tokens", nil)
		if res.Status != http.StatusNoContent {
			t.Fatalf("revoke-tokens: status %d, want 204: %s", res.Status, res.Body)
		}
		for name, tok := range map[string]string{
			"access token": alice.Access, "refresh token": alice.Refresh,
			"rotated access token": rotated.AccessToken, "rotated refresh token": rotated.RefreshToken,
		} {
			e.WantInactive(t, "client's "+name+" after revoke-tokens", admin, tok, "")
		}
		assertError(t, e.refresh(t, e.Confidential, alice.Refresh, ""), http.StatusBadRequest, "invalid_grant")
		assertError(t, e.refresh(t, e.Confidential, rotated.RefreshToken, ""), http.StatusBadRequest, "invalid_grant")
		_, err := e.tryExchange(unused, unusedCB)
		wantRetrieveError(t, err, "invalid_grant")

		// Other clients keep theirs.
		e.WantActive(t, "another client's access token", admin, bob.Access)
		e.WantActive(t, "another client's refresh token", admin, bob.Refresh)
		e.WantActive(t, "a service's token", admin, svcTok)

		// The client stays and gets new grants.
		if res := e.admin(t, http.MethodGet, "/admin/clients/"+confidentialID, nil); res.Status != http.StatusOK {
			t.Errorf("client after revoke-tokens: GET status %d", res.Status)
		}
		fresh := e.grant(t, b, e.Confidential, "alice", alicePassword, lcScope)
		e.WantActive(t, "a new token after revoke-tokens", admin, fresh.Access)
		oauthtest.DecodeToken(t, e.refresh(t, e.Confidential, fresh.Refresh, ""))

		t.Run("client credentials", func(t *testing.T) {
			res := e.admin(t, http.MethodPost, "/admin/clients/"+svc.ClientID+"/revoke-tokens", nil)
			if res.Status != http.StatusNoContent {
				t.Fatalf("revoke-tokens: status %d, want 204: %s", res.Status, res.Body)
			}
			e.WantInactive(t, "service token after revoke-tokens", admin, svcTok, "")
			e.WantActive(t, "new service token", admin, e.token(t, svc.ClientID, svc.ClientSecret).AccessToken)
		})

		t.Run("errors", func(t *testing.T) {
			res := e.admin(t, http.MethodPost, "/admin/clients/no-such-client/revoke-tokens", nil)
			if res.Status != http.StatusNotFound {
				t.Errorf("unknown client: status %d, want 404: %s", res.Status, res.Body)
			}
			for name, auth := range map[string]string{"no token": "", "wrong token": "Bearer " + e.AdminToken + "x", "client credentials": basic(svc.ClientID, svc.ClientSecret)} {
				tok := e.token(t, svc.ClientID, svc.ClientSecret).AccessToken
				res := e.do(t, req{Method: http.MethodPost, Path: "/admin/clients/" + svc.ClientID + "/revoke-tokens", Auth: auth})
				if res.Status != http.StatusUnauthorized {
					t.Errorf("%s: status %d, want 401: %s", name, res.Status, res.Body)
				}
				e.WantActive(t, "service token after an unauthenticated revoke-tokens", admin, tok)
			}
		})
	})
}

func TestLifecycleDeleteClient(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		ctx := context.Background()
		admin := e.adminCred()
		b := e.newBrowser(t)
		alice := e.grant(t, b, e.Confidential, "alice", alicePassword, lcScope)
		unused, unusedCB := e.code(t, b, e.Confidential, lcScope)
		bob := e.grant(t, e.newBrowser(t), e.Public, "bob", bobPassword, lcScope)
		// A request for more, waiting at the consent page.
		waiting := e.newBrowser(t)
		ar := e.Confidential.request("openid results:write")
		consentPage := waiting.login(t, waiting.get(t, ar.URL), "alice", alicePassword).want(t, "consent")

		// Access tokens are self-contained: they have no row, and end with
		// their client (checked below through introspection).
		// A code's row carries its PKCE challenge and OIDC request.
		for kind, tok := range map[storage.TokenKind]string{
			storage.KindRefreshToken:  alice.Refresh,
			storage.KindAuthorizeCode: unusedCB.Code,
		} {
			e.wantRow(t, "before delete", kind, tok)
		}
		e.WantActive(t, "alice's access token before delete", admin, alice.Access)
		if _, err := e.Store.GetConsent(ctx, e.AliceID, confidentialID); err != nil {
			t.Fatalf("alice's consent before delete: %v", err)
		}

		if res := e.admin(t, http.MethodDelete, "/admin/clients/"+confidentialID, nil); res.Status != http.StatusNoContent {
			t.Fatalf("delete client: status %d: %s", res.Status, res.Body)
		}
		e.WantInactive(t, "deleted client's access token", admin, alice.Access, "")
		e.WantInactive(t, "deleted client's refresh token", admin, alice.Refresh, "")
		// Deleted, not hidden behind the missing client.
		for kind, tok := range map[storage.TokenKind]string{
			storage.KindAccessToken: alice.Access, storage.KindRefreshToken: alice.Refresh,
			storage.KindAuthorizeCode: alice.Code, storage.KindPKCE: alice.Code,
		} {
			e.wantNoRow(t, "redeemed grant of a deleted client", kind, tok)
		}
		for _, kind := range []storage.TokenKind{storage.KindAuthorizeCode, storage.KindPKCE, storage.KindOpenIDConnect} {
			e.wantNoRow(t, "unredeemed code of a deleted client", kind, unusedCB.Code)
		}
		if _, err := e.Store.GetConsent(ctx, e.AliceID, confidentialID); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("alice's consent to the deleted client: err %v, want ErrNotFound", err)
		}
		if p := waiting.decide(t, consentPage, "allow"); p.Redirect != nil && p.Redirect.Query().Get("code") != "" {
			t.Errorf("a consent page of a deleted client still minted a code: %s", p.Redirect)
		}

		// Other clients keep theirs.
		e.WantActive(t, "another client's access token", admin, bob.Access)
		e.WantActive(t, "another client's refresh token", admin, bob.Refresh)
		if _, err := e.Store.GetConsent(ctx, e.BobID, publicID); err != nil {
			t.Errorf("bob's consent to another client: %v", err)
		}

		// A new client under the same id inherits nothing.
		m := e.Confidential.Meta
		res := e.admin(t, http.MethodPost, "/admin/clients", directory.ClientMetadata{
			ClientID: m.ClientID, ClientName: m.ClientName, RedirectURIs: m.RedirectURIs, PostLogoutRedirectURIs: m.PostLogoutRedirectURIs,
			GrantTypes: m.GrantTypes, ResponseTypes: m.ResponseTypes, TokenEndpointAuthMethod: m.TokenEndpointAuthMethod, Scope: m.Scope,
		})
		if res.Status != http.StatusCreated {
			t.Fatalf("re-create client: status %d: %s", res.Status, res.Body)
		}
		reborn := *e.Confidential
		reborn.Meta = decodeClient(t, res)
		reborn.Config.ClientSecret = reborn.Meta.ClientSecret
		e.WantInactive(t, "old access token after the client id was re-registered", admin, alice.Access, "")
		e.WantInactive(t, "old refresh token after the client id was re-registered", admin, alice.Refresh, "")
		assertError(t, e.refresh(t, &reborn, alice.Refresh, ""), http.StatusBadRequest, "invalid_grant")
		_, err := e.tryExchange(authRequest{Client: &reborn, Verifier: unused.Verifier, RedirectURI: unused.RedirectURI}, unusedCB)
		wantRetrieveError(t, err, "invalid_grant")
		// b is still signed in, but the consent went with the old client.
		if p := b.get(t, reborn.request(lcScope).URL); p.kind() != "consent" {
			t.Errorf("the re-registered client got alice's old consent: %s", p)
		}
	})
}

func TestLifecycleDisableUser(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		ctx := context.Background()
		admin := e.adminCred()
		b1, b2 := e.newBrowser(t), e.newBrowser(t)
		g1 := e.grant(t, b1, e.Confidential, "alice", alicePassword, lcScope)
		g2 := e.grant(t, b1, e.Public, "alice", alicePassword, lcScope)
		e.grant(t, b2, e.Confidential, "alice", alicePassword, lcScope)
		sessions := []string{b1.sessionID(t), b2.sessionID(t)}
		bb := e.newBrowser(t)
		bob := e.grant(t, bb, e.Confidential, "bob", bobPassword, lcScope)
		// Codes issued before the disable, with a refresh token to come
		// and without one (whose exchange reads no user).
		type code struct {
			scope string
			ar    authRequest
			cb    callback
		}
		var pending []code
		for _, scope := range []string{lcScope, "openid results:read"} {
			ar, cb := e.code(t, b1, e.Public, scope)
			pending = append(pending, code{scope, ar, cb})
		}

		alice := map[string]any{"email": "alice@example.com", "email_verified": true, "name": "Alice Liddell", "roles": []string{"teacher"}}
		disabled := map[string]any{"disabled": true}
		for k, v := range alice {
			disabled[k] = v
		}
		e.setUser(t, "alice", disabled)
		for _, c := range pending {
			if tok, err := e.tryExchange(c.ar, c.cb); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
				t.Errorf("exchange of a code (%s) issued before its user was disabled: %v, %v; want invalid_grant", c.scope, tok, err)
			}
		}

		for i, id := range sessions {
			if _, err := e.Store.GetBrowserSession(ctx, id); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("session %d of a disabled user: err %v, want it deleted", i, err)
			}
		}
		b1.get(t, e.Confidential.request("openid").URL).want(t, "login")
		for name, tok := range map[string]string{
			"access token via " + confidentialID: g1.Access, "refresh token via " + confidentialID: g1.Refresh,
			"access token via " + publicID: g2.Access, "refresh token via " + publicID: g2.Refresh,
		} {
			e.WantInactive(t, "disabled user's "+name, admin, tok, "")
		}
		e.wantLoginRefused(t, e.Confidential, "alice", alicePassword)

		// Others are untouched.
		e.WantActive(t, "bob's access token", admin, bob.Access)
		none := e.Confidential.request("openid", oauth2.SetAuthURLParam("prompt", "none"))
		e.callback(t, bb.get(t, none.URL), none).wantCode(t)

		// Enabling alice again brings nothing back but her login.
		e.setUser(t, "alice", alice)
		e.WantInactive(t, "access token of before the disable", admin, g1.Access, "")
		e.WantInactive(t, "refresh token of before the disable", admin, g1.Refresh, "")
		assertError(t, e.refresh(t, e.Confidential, g1.Refresh, ""), http.StatusBadRequest, "invalid_grant")
		assertError(t, e.refresh(t, e.Public, g2.Refresh, ""), http.StatusBadRequest, "invalid_grant")
		fresh := e.grant(t, e.newBrowser(t), e.Confidential, "alice", alicePassword, lcScope)
		e.WantActive(t, "new token after re-enabling", admin, fresh.Access)
	})
}

func TestLifecycleDeleteUser(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		ctx := context.Background()
		admin := e.adminCred()
		b := e.newBrowser(t)
		g1 := e.grant(t, b, e.Confidential, "alice", alicePassword, lcScope)
		g2 := e.grant(t, b, e.Public, "alice", alicePassword, lcScope)
		_, unusedCB := e.code(t, b, e.Confidential, lcScope)
		session := b.sessionID(t)
		waiting := e.newBrowser(t)
		consentPage := waiting.login(t, waiting.get(t, e.Confidential.request("openid results:write").URL), "alice", alicePassword).want(t, "consent")
		bob := e.grant(t, e.newBrowser(t), e.Confidential, "bob", bobPassword, lcScope)
		e.WantActive(t, "access token before delete", admin, g1.Access)
		e.wantRow(t, "before delete", storage.KindRefreshToken, g1.Refresh)
		e.wantRow(t, "before delete", storage.KindAuthorizeCode, unusedCB.Code)

		if res := e.admin(t, http.MethodDelete, "/admin/users/alice", nil); res.Status != http.StatusNoContent {
			t.Fatalf("delete user: %d %s", res.Status, res.Body)
		}
		if _, err := e.Store.GetBrowserSession(ctx, session); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("deleted user's session: err %v, want it deleted", err)
		}
		for _, c := range []string{confidentialID, publicID} {
			if _, err := e.Store.GetConsent(ctx, e.AliceID, c); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("deleted user's consent to %s: err %v, want it deleted", c, err)
			}
		}
		for name, tok := range map[string]string{"access token 1": g1.Access, "refresh token 1": g1.Refresh, "access token 2": g2.Access, "refresh token 2": g2.Refresh} {
			e.WantInactive(t, "deleted user's "+name, admin, tok, "")
		}
		for kind, tok := range map[storage.TokenKind]string{storage.KindAccessToken: g1.Access, storage.KindRefreshToken: g1.Refresh, storage.KindAuthorizeCode: g1.Code} {
			e.wantNoRow(t, "deleted user's grant", kind, tok)
		}
		for _, kind := range []storage.TokenKind{storage.KindAuthorizeCode, storage.KindPKCE, storage.KindOpenIDConnect} {
			e.wantNoRow(t, "deleted user's unredeemed code", kind, unusedCB.Code)
		}
		if p := waiting.decide(t, consentPage, "allow"); p.Redirect != nil && p.Redirect.Query().Get("code") != "" {
			t.Errorf("a deleted user's pending consent still minted a code: %s", p.Redirect)
		}
		b.get(t, e.Confidential.request("openid").URL).want(t, "login")
		e.wantLoginRefused(t, e.Confidential, "alice", alicePassword)
		e.WantActive(t, "bob's access token", admin, bob.Access)

		// A new alice is someone else: nothing of the old one's applies.
		res := e.admin(t, http.MethodPost, "/admin/users", map[string]any{"username": "alice", "password": alicePassword, "roles": []string{"teacher"}})
		if res.Status != http.StatusCreated {
			t.Fatalf("re-create alice: %d %s", res.Status, res.Body)
		}
		if u := decodeInto[directory.UserView](t, res); u.ID == e.AliceID {
			t.Errorf("the new alice got the deleted user's id %s", u.ID)
		}
		e.WantInactive(t, "old alice's access token after a new alice", admin, g1.Access, "")
		assertError(t, e.refresh(t, e.Confidential, g1.Refresh, ""), http.StatusBadRequest, "invalid_grant")
		nb := e.newBrowser(t)
		if p := nb.login(t, nb.get(t, e.Confidential.request(lcScope).URL), "alice", alicePassword); p.kind() != "consent" {
			t.Errorf("the new alice inherited the old one's consent: %s", p)
		}
	})
}

// TestLifecycleHousekeeping runs Housekeep over what real flows leave
// behind, with the clock moved past one lifetime after another.
func TestLifecycleHousekeeping(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		clock := &testClock{}
		e := newSSOEnv(t, dsn, func(c *provider.Config) {
			c.Now = clock.Now
			c.AccessTokenLifespan = 10 * time.Minute
			c.RefreshTokenLifespan = 24 * time.Hour
			c.AuthorizeCodeLifespan = 2 * time.Minute
			c.SessionLifetime = 12 * time.Hour
			c.AuthRequestLifespan = 15 * time.Minute
		})
		svc := e.registerService(t, "client_secret_basic", "results:read", schoolAPI)
		cc := e.token(t, svc.ClientID, svc.ClientSecret).AccessToken
		b := e.newBrowser(t)
		g := e.grant(t, b, e.Confidential, "alice", alicePassword, lcScope)
		r1 := oauthtest.DecodeToken(t, e.refresh(t, e.Confidential, g.Refresh, "")) // g.Refresh is spent now
		_, unused := e.code(t, b, e.Confidential, lcScope)
		session := b.sessionID(t)
		login := e.newBrowser(t).get(t, e.Confidential.request("openid").URL).want(t, "login")
		pending := web.Digest(login.URL.Query().Get("request"))

		type row struct {
			what  string
			kind  storage.TokenKind
			token string
		}
		// Access tokens are self-contained: none has a row. The access
		// token the refresh replaced is revoked by a record, which expires
		// with it.
		for what, tok := range map[string]string{"service access token": cc, "refreshed access token": r1.AccessToken, "replaced access token": g.Access} {
			e.wantNoRow(t, what, storage.KindAccessToken, tok)
		}
		replaced := []string{"token:" + rowKey(storage.KindAccessToken, g.Access)}
		if st, err := e.Store.AccessTokenState(ctx, replaced, ""); err != nil || !st.Revoked {
			t.Fatalf("revocation record of the replaced access token: %+v, %v; want it recorded", st, err)
		}
		// A code's row carries its PKCE challenge and OIDC request.
		expireFirst := []row{
			{"redeemed code", storage.KindAuthorizeCode, g.Code},
			{"unredeemed code", storage.KindAuthorizeCode, unused.Code},
		}
		for _, kind := range []storage.TokenKind{storage.KindPKCE, storage.KindOpenIDConnect} {
			e.wantNoRow(t, "a code's own row", kind, unused.Code)
		}
		refreshRows := []row{
			{"spent refresh token", storage.KindRefreshToken, g.Refresh},
			{"live refresh token", storage.KindRefreshToken, r1.RefreshToken},
		}
		for _, r := range append(slices.Clone(expireFirst), refreshRows...) {
			e.wantRow(t, r.what, r.kind, r.token)
		}
		if _, err := e.Store.GetAuthRequest(ctx, pending); err != nil {
			t.Fatalf("pending request: %v", err)
		}
		if _, err := e.Store.GetBrowserSession(ctx, session); err != nil {
			t.Fatalf("browser session: %v", err)
		}

		housekeep := func(t *testing.T) int {
			t.Helper()
			n, err := e.Provider.Housekeep(ctx)
			if err != nil {
				t.Fatalf("Housekeep: %v (deleted %d)", err, n)
			}
			return n
		}
		if n := housekeep(t); n != 0 {
			t.Errorf("Housekeep with nothing expired deleted %d rows", n)
		}

		// An hour on: access tokens, codes and the pending request are past
		// their lifetimes; the refresh tokens and the session are not.
		clock.Advance(time.Hour)
		if n := housekeep(t); n < len(expireFirst)+1 {
			t.Errorf("Housekeep after an hour deleted %d rows, want at least %d", n, len(expireFirst)+1)
		}
		for _, r := range expireFirst {
			e.wantNoRow(t, "an hour on, "+r.what, r.kind, r.token)
		}
		if st, err := e.Store.AccessTokenState(ctx, replaced, ""); err != nil || st.Revoked {
			t.Errorf("an hour on, the revocation record of the replaced access token: %+v, %v; want it deleted", st, err)
		}
		if _, err := e.Store.GetAuthRequest(ctx, pending); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("an hour on, the pending request: err %v, want it deleted", err)
		}
		for _, r := range refreshRows {
			e.wantRow(t, "an hour on, "+r.what, r.kind, r.token)
		}
		if _, err := e.Store.GetBrowserSession(ctx, session); err != nil {
			t.Errorf("an hour on, the 12 h session: %v, want it kept", err)
		}
		if n := housekeep(t); n != 0 {
			t.Errorf("a second pass deleted %d rows, want 0", n)
		}
		// What was kept still works: the live refresh token refreshes, and
		// the spent one is still recognised as reuse, ending the grant.
		r2 := oauthtest.DecodeToken(t, e.refresh(t, e.Confidential, r1.RefreshToken, ""))
		assertError(t, e.refresh(t, e.Confidential, g.Refresh, ""), http.StatusBadRequest, "invalid_grant")
		e.WantInactive(t, "refresh token of the grant after reuse", e.adminCred(), r2.RefreshToken, "")

		// (fosite deletes the row of a reused refresh token itself; the
		// rest of the grant stays, revoked, until it expires.)
		refreshRows = []row{
			{"spent refresh token", storage.KindRefreshToken, r1.RefreshToken},
			{"revoked refresh token", storage.KindRefreshToken, r2.RefreshToken},
		}

		// Past the session's absolute lifetime.
		clock.Advance(12 * time.Hour)
		housekeep(t)
		if _, err := e.Store.GetBrowserSession(ctx, session); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("13 h on, the 12 h session: err %v, want it deleted", err)
		}
		for _, r := range refreshRows {
			e.wantRow(t, "13 h on, "+r.what, r.kind, r.token)
		}

		// Past the refresh tokens' lifetime: nothing of the grant is left.
		clock.Advance(24 * time.Hour)
		housekeep(t)
		for _, r := range refreshRows {
			e.wantNoRow(t, "37 h on, "+r.what, r.kind, r.token)
		}
	})
}

// seedExpiredTokens stores n token rows that expired an hour ago and live
// live ones, in one transaction, and returns their signatures.
func seedExpiredTokens(t testing.TB, s storage.Store, prefix string, n, live int) (expired, kept []string) {
	t.Helper()
	ctx, err := s.BeginTX(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	kinds := []storage.TokenKind{storage.KindAccessToken, storage.KindRefreshToken, storage.KindAuthorizeCode, storage.KindPKCE, storage.KindOpenIDConnect}
	add := func(sig string, exp time.Time, kind storage.TokenKind) {
		tok := &storage.Token{
			Kind: kind, Signature: sig, RequestID: prefix + "req-" + sig, RequestedAt: now.Add(-2 * time.Hour),
			ClientID: "seeded-client", Subject: "seeded-user", Session: []byte(`{}`), Active: true, ExpiresAt: exp,
		}
		if err := s.CreateToken(ctx, tok); err != nil {
			_ = s.Rollback(ctx)
			t.Fatalf("seed token %s: %v", sig, err)
		}
	}
	for i := range n {
		sig := fmt.Sprintf("%sexpired-%05d", prefix, i)
		add(sig, now.Add(-time.Hour), kinds[i%len(kinds)])
		expired = append(expired, sig)
	}
	for i := range live {
		sig := fmt.Sprintf("%slive-%05d", prefix, i)
		add(sig, now.Add(time.Hour), storage.KindAccessToken)
		kept = append(kept, sig)
	}
	if err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return expired, kept
}

// checkSeeded fails unless every expired seeded row is gone and every
// live one kept.
func checkSeeded(t *testing.T, s storage.Store, expired, kept []string) {
	t.Helper()
	ctx := context.Background()
	kinds := []storage.TokenKind{storage.KindAccessToken, storage.KindRefreshToken, storage.KindAuthorizeCode, storage.KindPKCE, storage.KindOpenIDConnect}
	left := 0
	for i, sig := range expired {
		if _, err := s.GetToken(ctx, kinds[i%len(kinds)], sig); !errors.Is(err, storage.ErrNotFound) {
			left++
		}
	}
	if left > 0 {
		t.Errorf("%d of %d expired rows are still there", left, len(expired))
	}
	for _, sig := range kept {
		if _, err := s.GetToken(ctx, storage.KindAccessToken, sig); err != nil {
			t.Errorf("live row %s: %v, want it kept", sig, err)
		}
	}
}

// TestLifecycleHousekeepingBatches: one Housekeep call removes more
// expired rows than one batch holds.
func TestLifecycleHousekeepingBatches(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		expired, kept := seedExpiredTokens(t, ts.Store, "b-", 1234, 7)
		n, err := ts.Provider.Housekeep(context.Background())
		if err != nil {
			t.Fatalf("Housekeep: %v", err)
		}
		if n != len(expired) {
			t.Errorf("Housekeep deleted %d rows, want the %d expired ones", n, len(expired))
		}
		checkSeeded(t, ts.Store, expired, kept)
	})
}

// TestLifecycleHousekeepingReplicas runs Housekeep from two providers on
// one database at once.
func TestLifecycleHousekeepingReplicas(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		a := newTestServer(t, dsn)
		b := newTestServer(t, dsn, func(c *provider.Config) { c.Issuer = a.URL })
		replicas := []*testServer{a, b}
		for round := range 5 {
			expired, kept := seedExpiredTokens(t, a.Store, fmt.Sprintf("r%d-", round), 1100, 5)
			var next atomic.Int32
			type outcome struct {
				n   int
				err error
			}
			results := raceN(len(replicas), func() outcome {
				ts := replicas[next.Add(1)-1]
				n, err := ts.Provider.Housekeep(context.Background())
				return outcome{n, err}
			})
			total := 0
			for i, r := range results {
				if r.err != nil {
					t.Errorf("round %d: replica %d: Housekeep: %v", round, i, r.err)
				}
				total += r.n
			}
			// Each stops when a batch comes back short, which another
			// replica's deletes can cause early: a last pass mops up, and
			// together they deleted every expired row exactly once.
			n, err := a.Provider.Housekeep(context.Background())
			if err != nil {
				t.Errorf("round %d: last pass: %v", round, err)
			}
			t.Logf("round %d: replicas deleted %v, the last pass %d", round, []int{results[0].n, results[1].n}, n)
			if total+n != len(expired) {
				t.Errorf("round %d: the replicas deleted %d + %d rows, want the %d expired ones", round, total, n, len(expired))
			}
			checkSeeded(t, a.Store, expired, kept)
		}
	})
}

func TestLifecycleConfiguredLifetimes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		const accessLife, idLife, refreshLife, codeLife = 7 * time.Minute, 20 * time.Minute, 5 * time.Hour, 90 * time.Second
		e := newSSOEnv(t, dsn, func(c *provider.Config) {
			c.AccessTokenLifespan = accessLife
			c.IDTokenLifespan = idLife
			c.RefreshTokenLifespan = refreshLife
			c.AuthorizeCodeLifespan = codeLife
		})
		admin := e.adminCred()
		svc := e.registerService(t, "client_secret_basic", "results:read", schoolAPI)

		checkAccess := func(t *testing.T, what, tok string, expiresIn float64) {
			t.Helper()
			if d := time.Duration(expiresIn) * time.Second; d < accessLife-2*time.Second || d > accessLife {
				t.Errorf("%s: expires_in = %v s, want %v", what, expiresIn, accessLife.Seconds())
			}
			c := rawClaims(t, tok)
			exp, iat := unixClaim(t, c, "exp"), unixClaim(t, c, "iat")
			if d := time.Duration(exp-iat) * time.Second; d < accessLife-time.Second || d > accessLife+time.Second {
				t.Errorf("%s: exp - iat = %v, want %v", what, d, accessLife)
			}
			if got := unixClaim(t, e.WantActive(t, what, admin, tok), "exp"); got != exp {
				t.Errorf("%s: introspection exp %d, want the token's %d", what, got, exp)
			}
		}

		cc := e.token(t, svc.ClientID, svc.ClientSecret)
		ccIn, _ := cc.Extra("expires_in").(float64)
		checkAccess(t, "service token", cc.AccessToken, ccIn)

		g := e.grant(t, e.newBrowser(t), e.Confidential, "alice", alicePassword, lcScope)
		checkAccess(t, "user access token", g.Access, g.ExpiresIn)
		id := e.idToken(t, e.Confidential, g.Token, g.AR.Nonce)
		if d := time.Duration(unixClaim(t, id.Raw, "exp")-unixClaim(t, id.Raw, "iat")) * time.Second; d < idLife-time.Second || d > idLife+time.Second {
			t.Errorf("ID token exp - iat = %v, want %v", d, idLife)
		}
		rexp := time.Unix(unixClaim(t, e.WantActive(t, "refresh token", admin, g.Refresh), "exp"), 0)
		within(t, "refresh token exp", rexp, g.IssuedAfter.Add(refreshLife), 3*time.Second)
		within(t, "refresh token row expiry", e.wantRow(t, "refresh token", storage.KindRefreshToken, g.Refresh).ExpiresAt, g.IssuedAfter.Add(refreshLife), 3*time.Second)
		within(t, "code row expiry", e.wantRow(t, "code", storage.KindAuthorizeCode, g.Code).ExpiresAt, g.IssuedAfter.Add(codeLife), 3*time.Second)

		// A refresh issues the same lifetimes again.
		res := e.refresh(t, e.Confidential, g.Refresh, "")
		r := oauthtest.DecodeToken(t, res)
		var raw struct {
			ExpiresIn float64 `json:"expires_in"`
		}
		_ = json.Unmarshal(res.Body, &raw)
		checkAccess(t, "refreshed access token", r.AccessToken, raw.ExpiresIn)
		rexp = time.Unix(unixClaim(t, e.WantActive(t, "rotated refresh token", admin, r.RefreshToken), "exp"), 0)
		within(t, "rotated refresh token exp", rexp, time.Now().Add(refreshLife), 3*time.Second)
	})
}

// BenchmarkHousekeep measures one Housekeep pass over 1000 expired token
// rows on SQLite (seeding is not timed).
//
//	go test -run '^$' -bench 'Housekeep|Revoke' ./provider/
func BenchmarkHousekeep(b *testing.B) {
	ts := newTestServer(b, testdb.SQLite(b))
	i := 0
	for b.Loop() {
		b.StopTimer()
		seedExpiredTokens(b, ts.Store, fmt.Sprintf("bench-%d-", i), 1000, 0)
		i++
		b.StartTimer()
		n, err := ts.Provider.Housekeep(context.Background())
		if err != nil || n != 1000 {
			b.Fatalf("Housekeep = %d, %v; want 1000 rows", n, err)
		}
	}
}

// BenchmarkRevoke measures revoking one access token at the revocation
// endpoint, in-process (client authentication, lookup, delete); issuing
// the token is not timed.
func BenchmarkRevoke(b *testing.B) {
	ts := newTestServer(b, testdb.SQLite(b))
	c := ts.registerService(b, "client_secret_basic", "results:read")
	h := ts.Provider.Handler()
	auth := basic(c.ClientID, c.ClientSecret)
	serve := func(path, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		r.Header.Set("Content-Type", formType)
		r.Header.Set("Authorization", auth)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for b.Loop() {
		b.StopTimer()
		w := serve(provider.PathToken, "grant_type=client_credentials")
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
			b.Fatalf("token: %d %s", w.Code, w.Body)
		}
		body := url.Values{"token": {tok.AccessToken}}.Encode()
		b.StartTimer()
		if w := serve(provider.PathRevoke, body); w.Code != http.StatusOK {
			b.Fatalf("revoke: %d %s", w.Code, w.Body)
		}
	}
}
