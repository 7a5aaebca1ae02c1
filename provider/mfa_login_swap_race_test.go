package provider_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// heldThrottleStore holds one UpdateThrottle call until release is
// closed, telling reached once it holds it: the hold-th call after hold
// was set (with 1, the next: a second-factor post's count, made after
// it read the pending request and before it records the factor). It
// holds the call before it reaches the store, so no database lock is
// held meanwhile.
type heldThrottleStore struct {
	storage.Store
	hold             atomic.Int32
	reached, release chan struct{}
}

func (s *heldThrottleStore) UpdateThrottle(ctx context.Context, ids []string, update func([]storage.ThrottleEntry) []storage.ThrottleEntry) error {
	if s.hold.Load() > 0 && s.hold.Add(-1) == 0 {
		close(s.reached)
		select {
		case <-s.release:
		case <-ctx.Done():
		}
	}
	return s.Store.UpdateThrottle(ctx, ids, update)
}

// TestSecondFactorNotCarriedToAnotherLogin: a second factor proved for
// one user's sign-in must not be recorded on the same pending request
// once another user has signed in for it. The attacker knows alice's
// password but not her codes; in one browser they sign in as bob (their
// own account) for a request, post bob's right code and, while that post
// is checked, post alice's password for the same request. Before, bob's
// code was then written onto the request as alice's second factor
// (SetAuthRequestAMR wrote whatever login the request held by then), and
// continuing the request signed alice in with "mfa" without her code.
func TestSecondFactorNotCarriedToAnotherLogin(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		st := &heldThrottleStore{reached: make(chan struct{}), release: make(chan struct{})}
		e := newSSOEnv(t, dsn, func(c *provider.Config) {
			st.Store = c.Store
			c.Store = st
		})
		bobSecret, _ := e.enrolOnAccountPage(t, e.newBrowser(t), "bob", bobPassword)
		e.enrolOnAccountPage(t, e.newBrowser(t), "alice", alicePassword)

		b := e.newBrowser(t)
		login := b.get(t, e.Confidential.request("openid").URL).want(t, "login")
		bobPrompt := b.login(t, login, "bob", bobPassword)
		wantPath(t, bobPrompt, provider.PathSecondFactor)

		// Bob's right code (of the next step: his enrolment spent this
		// one), from a second tab of the same browser.
		form := bobPrompt.formWith(t, provider.PathSecondFactor)
		action, err := bobPrompt.URL.Parse(form.Action)
		if err != nil {
			t.Fatal(err)
		}
		fields := form.hidden()
		fields.Set("code", totpAt(t, bobSecret, time.Now().Add(30*time.Second)))
		tab := &http.Client{Transport: e.HTTP.Transport, Jar: b.jar,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		codeStatus := make(chan int, 1)
		st.hold.Store(1)
		go func() {
			resp, err := tab.PostForm(action.String(), fields)
			if err != nil {
				codeStatus <- 0
				return
			}
			resp.Body.Close()
			codeStatus <- resp.StatusCode
		}()
		<-st.reached
		alicePrompt := b.postLogin(t, e.URL, login, "alice", alicePassword, "")
		close(st.release)
		if s := <-codeStatus; s == 0 || s >= 500 {
			t.Errorf("bob's code post, its request taken by alice's sign-in: status %d, want an answer that is not a failure of ours", s)
		}
		wantPath(t, alicePrompt, provider.PathSecondFactor)

		// Alice's sign-in proved no second factor: going on asks for it.
		p := b.post(t, e.URL+provider.PathFactorContinue, alicePrompt.formWith(t, provider.PathSecondFactor).hidden())
		if p.Redirect != nil || p.URL.Path != provider.PathSecondFactor {
			t.Fatalf("alice's sign-in, bob's code posted for its request meanwhile, went on without her code: %s", p)
		}
	})
}
