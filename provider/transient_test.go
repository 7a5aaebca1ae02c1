package provider_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// TestTransientFailureAnswers: a serialization failure or deadlock that
// outlived the store's retries is a failure of ours wherever it surfaces:
// answered as the database being unavailable is (a 5xx, 503 with
// Retry-After on the pages, server_error at the token endpoint) and
// logged at error level; never as the caller's or user's error ("already
// exists", "code already used", a refresh token refused), which it was
// when it came back as storage.ErrConflict.
func TestTransientFailureAnswers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		logs := &syncBuffer{}
		// Once failing, the store fails the writes whose
		// storage.ErrConflict means something to their callers (a name
		// taken, a TOTP code replayed, a refresh token used concurrently)
		// as a transaction the database could not order does once the
		// store's retries are spent: storage.ErrTransient, marked
		// storage.ErrUnavailable.
		st := &nthStore{
			failOn: []string{"CreateUser", "UseTOTPStep", "DeactivateToken"},
			err:    fmt.Errorf("%w (%w): could not serialize access due to concurrent update", storage.ErrTransient, storage.ErrUnavailable),
		}
		e := newSSOEnv(t, dsn, func(c *provider.Config) {
			c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
			st.Store = c.Store
			c.Store = st
		})
		aliceTok := e.signInTokens(t, e.newBrowser(t), e.Confidential.request("openid profile offline_access"), "alice", alicePassword)
		// bob enrols an authenticator app, then signs in again up to
		// the prompt for its code.
		secret, enrolled := e.enrolOnAccountPage(t, e.newBrowser(t), "bob", bobPassword)
		if enrolled.Status != http.StatusOK {
			t.Fatalf("enrolment: %s", enrolled)
		}
		b := e.newBrowser(t)
		prompt := b.login(t, b.get(t, e.URL+provider.PathAccount), "bob", bobPassword)
		wantPath(t, prompt, provider.PathSecondFactor)

		st.fail.Store(math.MaxInt32) // every call from here on
		type answer struct {
			status int
			header http.Header
			body   string
		}
		for _, c := range []struct {
			name string
			do   func() answer
			// notWant is text that would mean hallpass blamed the caller.
			notWant string
		}{
			{"admin: create user", func() answer {
				r := e.admin(t, http.MethodPost, "/admin/users", map[string]any{"username": "carol", "password": "quiet-harbour-lantern-77"})
				return answer{r.Status, r.Header, string(r.Body)}
			}, "conflict"},
			{"second factor", func() answer {
				p := b.submitTo(t, prompt, provider.PathSecondFactor, url.Values{"code": {totpAt(t, secret, time.Now().Add(30*time.Second))}})
				return answer{p.Status, p.Header, p.Body}
			}, "already used"},
			{"token: refresh", func() answer {
				r := e.refresh(t, e.Confidential, aliceTok.RefreshToken, "")
				return answer{r.Status, r.Header, string(r.Body)}
			}, "invalid_"},
		} {
			a := c.do()
			if a.status < 500 || a.status > 599 {
				t.Errorf("%s: status %d, want a 5xx: %.300s", c.name, a.status, a.body)
			}
			if strings.Contains(a.body, c.notWant) {
				t.Errorf("%s: the answer blames the caller (%q): %.300s", c.name, c.notWant, a.body)
			}
			if a.header.Get("Retry-After") == "" {
				t.Errorf("%s: status %d without Retry-After", c.name, a.status)
			}
			if strings.HasPrefix(a.header.Get("Content-Type"), "application/json") {
				var body struct{ Error string }
				if err := json.Unmarshal([]byte(a.body), &body); err != nil || (body.Error != "server_error" && body.Error != "temporarily_unavailable") {
					t.Errorf("%s: error %q, want server_error or temporarily_unavailable: %.300s", c.name, body.Error, a.body)
				}
			} else if a.status != http.StatusServiceUnavailable {
				t.Errorf("%s: page status %d, want 503", c.name, a.status)
			}
			if id := a.header.Get("X-Request-Id"); !logs.logged(t, "ERROR", id) {
				t.Errorf("%s: nothing logged at error level for request %s", c.name, id)
			}
		}
	})
}
