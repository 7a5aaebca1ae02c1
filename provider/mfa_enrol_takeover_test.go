package provider_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// heldAMRStore holds the next SetAuthRequestAMR, once armed, until
// release is closed, telling reached once it holds it: an enrolment's
// record of its factor on the request, made after the factor was stored
// (outside its transaction, so no database lock is held meanwhile).
type heldAMRStore struct {
	storage.Store
	armed            atomic.Bool
	reached, release chan struct{}
}

func (s *heldAMRStore) SetAuthRequestAMR(ctx context.Context, id, userID string, amr []string) error {
	if s.armed.CompareAndSwap(true, false) {
		close(s.reached)
		select {
		case <-s.release:
		case <-ctx.Done():
		}
	}
	return s.Store.SetAuthRequestAMR(ctx, id, userID, amr)
}

// TestEnrolmentShowsCodesWhenRequestTakenOver: an enrolment at the
// sign-in's step stores the authenticator and issues its recovery codes
// before it records the factor on the request; when another user's
// password took the request over meanwhile (the same browser, another
// tab), that record is refused, rightly, but the enrolment stands. Its
// recovery codes are shown then, the only time they can be. Before, the
// step answered "this sign-in request has expired" and the codes, stored,
// were never shown: alice had an authenticator she believed was not set
// up, and no way back in without it.
func TestEnrolmentShowsCodesWhenRequestTakenOver(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		st := &heldAMRStore{reached: make(chan struct{}), release: make(chan struct{})}
		e := newSSOEnv(t, dsn, func(c *provider.Config) {
			st.Store = c.Store
			c.Store = st
		})
		res := e.admin(t, http.MethodPut, "/admin/roles/teacher", map[string]any{"name": "teacher",
			"scopes": []string{"results:read", "results:write", "schedule:write"}, "require_mfa": true})
		if res.Status != http.StatusOK {
			t.Fatalf("PUT role: %d %s", res.Status, res.Body)
		}

		b := e.newBrowser(t)
		login := b.get(t, e.Confidential.request("openid").URL).want(t, "login")
		enrol := b.login(t, login, "alice", alicePassword)
		wantPath(t, enrol, provider.PathEnrol)
		m := secretRE.FindStringSubmatch(enrol.Body)
		if m == nil {
			t.Fatalf("no secret on the enrolment page: %s", enrol)
		}

		// Alice's enrolment is posted from a second tab of the browser,
		// and held once her authenticator is stored; bob's password is
		// posted for the same request meanwhile.
		form := enrol.formWith(t, provider.PathEnrol)
		action, err := enrol.URL.Parse(form.Action)
		if err != nil {
			t.Fatal(err)
		}
		fields := form.hidden()
		fields.Set("code", totpAt(t, m[1], time.Now()))
		tab := &http.Client{Transport: e.HTTP.Transport, Jar: b.jar,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		type answer struct {
			status int
			body   string
			err    error
		}
		done := make(chan answer, 1)
		st.armed.Store(true)
		go func() {
			resp, err := tab.PostForm(action.String(), fields)
			if err != nil {
				done <- answer{err: err}
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			done <- answer{resp.StatusCode, string(body), err}
		}()
		<-st.reached
		b.postLogin(t, e.URL, login, "bob", bobPassword, "")
		close(st.release)
		a := <-done
		if a.err != nil {
			t.Fatalf("alice's enrolment: %v", a.err)
		}

		if _, err := e.Store.GetTOTP(t.Context(), e.AliceID); err != nil {
			t.Fatalf("alice's authenticator after her enrolment: %v", err)
		}
		if n := len(recoveryRE.FindAllString(a.body, -1)); a.status != http.StatusOK || n != 10 {
			t.Fatalf("alice's enrolment, its request taken over meanwhile: want her 10 recovery codes (200), got %d codes (%d): %.2000s", n, a.status, a.body)
		}
		if strings.Contains(a.body, `action="/login/continue"`) {
			t.Errorf("alice's enrolment, its request taken over: offers to go on with it: %.2000s", a.body)
		}
	})
}
