package provider

// Signing in to the admin console (/console) and the account page
// (/account). Both are a first-party OIDC client of hallpass itself, the
// "own client": a visit without a sign-in goes through hallpass's own
// authorization endpoint, login page and token exchange, with PKCE, like
// any other app. What the exchange yields, the SSO session's sid, is kept
// in a cookie of its own (signed with the token secret), and every request
// checks that this SSO session still lives: signing out of hallpass, a
// password change or a disable ends the console's sign-in too.
//
//	GET /console ──(no sign-in)──► /oauth2/authorize?client_id=hallpass-console&code_challenge=…
//	     ▲                                │ login page (first party: no consent)
//	     └── 303 ◄── /console/callback ◄──┘ code → token exchange (in process) → sid → cookie

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/hallpass/hallpass/audit"
	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/web"
)

// SelfClientID is the client id of hallpass's own client, which the
// console and the account page sign in with. Assemble registers it.
const SelfClientID = "hallpass-console"

// BuiltinClients are the clients hallpass registers itself, for
// directory.Options.BuiltinClients: a server and the CLI on its database
// refuse alike to change or delete them.
func BuiltinClients() []string { return []string{SelfClientID} }

// Paths of the console and the account page.
const (
	PathConsole = "/console"
	PathAccount = "/account"
)

// selfScope is what the own client asks for: who the user is.
const selfScope = "openid profile"

// selfArea is the console or the account page: where its pages live,
// where its sign-in returns, and whether it needs the admin role.
type selfArea struct {
	name  string
	root  string
	admin bool
}

func (a selfArea) callback() string { return a.root + "/callback" }

// The two areas, as functions rather than variables: no package-level
// state.
func consoleArea() selfArea { return selfArea{name: "console", root: PathConsole, admin: true} }
func accountArea() selfArea { return selfArea{name: "account", root: PathAccount} }

// selfClient is the own client's registration: public (PKCE is its
// proof), code flow only, first party (no consent), its redirect URIs on
// the issuer.
func (p *Provider) selfClient() directory.ClientMetadata {
	return directory.ClientMetadata{
		ClientID:                SelfClientID,
		ClientName:              "hallpass console and account page",
		RedirectURIs:            []string{p.url(consoleArea().callback()), p.url(accountArea().callback())},
		GrantTypes:              []string{"authorization_code"},
		ResponseTypes:           []string{"code"},
		TokenEndpointAuthMethod: "none",
		Scope:                   selfScope,
		SkipConsent:             true,
	}
}

// EnsureSelfClient registers hallpass's own client through the directory
// service, or puts its registration back as it must be where any field
// differs (the issuer may have changed, or the row was edited behind the
// service's back, which refuses every other change of it). Concurrent
// starts of several replicas may race; the loser's conflict is harmless.
func (p *Provider) EnsureSelfClient(ctx context.Context) error {
	_, err := p.dir.Clients().RegisterBuiltin(ctx, p.selfClient())
	if err != nil && !errors.Is(err, directory.ErrConflict) {
		return fmt.Errorf("register hallpass's own client %s: %w", SelfClientID, err)
	}
	return nil
}

// selfSignIn is a browser signed in to the console or the account page.
type selfSignIn struct {
	user    *storage.User
	session *storage.BrowserSession
	// cookie is the sign-in cookie's value, to which form tokens are bound.
	cookie string
	// epoch is the own client's token epoch the sign-in's grant was
	// issued under (selfCookie).
	epoch int64
}

type selfKey struct{}

// actorKey carries who acts in a console request (see withActor).
type actorKey struct{}

// withActor is the one place where a console or account request says who
// is acting: every change the request makes through the directory
// service or the key manager is made in this user's name. The audit log
// reads the actor from the context it is given; this is where it is put.
func withActor(ctx context.Context, u *storage.User) context.Context {
	// The audit log names the same actor for what they change.
	return audit.WithActor(context.WithValue(ctx, actorKey{}, u.ID), "user:"+u.ID)
}

// ActorFrom returns the user id of whoever acts in ctx through the
// console or the account page; false for any other request.
func ActorFrom(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(actorKey{}).(string)
	return id, ok
}

// signedIn returns the sign-in requireSelf put into the request.
func signedIn(r *http.Request) *selfSignIn {
	s, _ := r.Context().Value(selfKey{}).(*selfSignIn)
	return s
}

// selfCookie is the sign-in cookie's value: base64url("sid|expiry|epoch")
// and a MAC of it under the token secret (a fixed 43 characters). epoch
// is the own client's token epoch (storage.Client.TokenEpoch) the
// sign-in's grant was issued under: revoking the own client's tokens
// advances it, and so ends every sign-in made before (selfUser).
func (p *Provider) selfCookie(sid string, exp time.Time, epoch int64) string {
	payload := base64.RawURLEncoding.EncodeToString([]byte(sid + "|" + strconv.FormatInt(exp.Unix(), 10) + "|" + strconv.FormatInt(epoch, 10)))
	return payload + web.CSRFToken(p.cfg.TokenSecret, "self-session", payload)
}

const macLen = 43

// readSelfCookie returns the sid a valid, unexpired sign-in cookie
// names, and the own client's token epoch it was made under.
func (p *Provider) readSelfCookie(value string) (string, int64, bool) {
	if len(value) <= macLen {
		return "", 0, false
	}
	payload, mac := value[:len(value)-macLen], value[len(value)-macLen:]
	if !web.SameToken(mac, web.CSRFToken(p.cfg.TokenSecret, "self-session", payload)) {
		return "", 0, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return "", 0, false
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != 3 || parts[0] == "" {
		return "", 0, false
	}
	secs, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || !p.cfg.Now().Before(time.Unix(secs, 0)) {
		return "", 0, false
	}
	epoch, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return "", 0, false
	}
	return parts[0], epoch, true
}

// selfUser returns the browser's sign-in to the console and account page,
// or nil: the cookie must be valid, made under the own client's current
// token epoch (revoking the own client's tokens ends every sign-in, as it
// ends every other client's grants), the SSO session it names alive (not
// expired, not idle too long), and its user enabled.
func (p *Provider) selfUser(ctx context.Context, r *http.Request) (*selfSignIn, error) {
	value, ok := p.cookies.Self(r)
	if !ok {
		return nil, nil
	}
	sid, epoch, ok := p.readSelfCookie(value)
	if !ok {
		return nil, nil
	}
	// Read from the store, not the cache of clients: a revocation on
	// another replica ends the sign-in at once.
	c, err := p.cfg.Store.GetClient(ctx, SelfClientID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load the own client: %w", err)
	}
	if c.TokenEpoch != epoch {
		return nil, nil
	}
	s, err := p.cfg.Store.GetBrowserSessionBySID(ctx, sid)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load browser session: %w", err)
	}
	now := p.cfg.Now()
	if p.sessionOver(s, now) {
		return nil, nil
	}
	// Using the console is using the session: it keeps it from idling
	// out, at most one write a minute.
	if now.Sub(s.LastSeenAt) > time.Minute {
		if err := p.cfg.Store.TouchBrowserSession(ctx, s.ID, now.UTC()); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, fmt.Errorf("touch browser session: %w", err)
		}
	}
	u, err := p.activeUser(ctx, s.UserID)
	if err != nil || u == nil {
		return nil, err
	}
	return &selfSignIn{user: u, session: s, cookie: value, epoch: epoch}, nil
}

// requireSelf lets a request into the area only with a sign-in: a GET
// without one starts the own client's sign-in, anything else is told to
// sign in again. In the console, a user without the admin role gets the
// 403 page.
func (p *Provider) requireSelf(area selfArea) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s, err := p.selfUser(r.Context(), r)
			if err != nil {
				p.consoleFailure(w, r, err)
				return
			}
			if s == nil {
				if r.Method == http.MethodGet || r.Method == http.MethodHead {
					p.startSelfSignIn(w, r, area, false)
					return
				}
				// Only a cookie the request carried, and found ended, is
				// cleared: a post without one is as likely a cross-site
				// post, which SameSite keeps the cookie from, and must
				// not sign the browser it passes through out (as
				// endSession).
				if _, sent := p.cookies.Self(r); sent {
					p.cookies.ClearSelf(w)
				}
				p.pageError(w, r, http.StatusForbidden, "Your sign-in has ended",
					"You were signed out (or your session timed out) before this form was sent, so nothing was changed. Sign in again and repeat the change.")
				return
			}
			// Signing out needs nothing more than the sign-in it ends.
			signOut := r.URL.Path == area.root+"/signout"
			// A second factor the user needs now and this sign-in did not
			// prove (selfFactorMissing) is asked for here as at the
			// authorization endpoint: the sign-in goes through the flow
			// again, which asks for it in the same SSO session. Signing
			// out skips the check and its reads, so that it also works
			// while they fail.
			missing, err := false, error(nil)
			if !signOut {
				missing, err = p.selfFactorMissing(r.Context(), s)
			}
			if err != nil {
				p.consoleFailure(w, r, err)
				return
			} else if missing {
				if r.Method == http.MethodGet || r.Method == http.MethodHead {
					p.startSelfSignIn(w, r, area, false)
					return
				}
				p.pageError(w, r, http.StatusForbidden, "Your sign-in needs a second step",
					"Your account now requires two-step sign-in, which this sign-in did not include, so nothing was changed. Open "+p.url(area.root)+" to complete the sign-in, then repeat the change.")
				return
			}
			ctx := context.WithValue(withActor(r.Context(), s.user), selfKey{}, s)
			r = r.WithContext(ctx)
			if area.admin && !slices.Contains(s.user.Roles, p.cfg.ConsoleAdminRole) && !signOut {
				p.log.InfoContext(ctx, "console refused: not an admin", "request_id", RequestID(ctx), "user_id", s.user.ID)
				d := p.consoleData(r, area, "")
				d.Nav = nil
				d.Page = web.Forbidden{Role: p.cfg.ConsoleAdminRole, Account: PathAccount}
				p.pages.Console(w, http.StatusForbidden, web.ConsoleForbidden, d)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// selfFactorMissing reports whether the sign-in s lacks a second factor
// its user needs now, as factorStep decides at the authorization
// endpoint: the user has one (set up since this browser signed in with
// a password alone, in another browser), or one of their roles requires
// one (a role granted, or made to require one, since). The flow decided
// when the browser signed in; what it decided on changes while a
// sign-in lasts.
func (p *Provider) selfFactorMissing(ctx context.Context, s *selfSignIn) (bool, error) {
	enrolled, must, err := p.missingFactor(ctx, s.user, s.session.AMR, nil, false)
	return enrolled || must, err
}

// selfProved records on the sign-in s's session that its user proved a
// second factor of method, by setting it up on the account page, as the
// flow's enrolment step records it (proveFactor). The factor is set up
// whatever comes of this: a failure is logged, and the next page asks
// for the factor.
func (p *Provider) selfProved(ctx context.Context, s *selfSignIn, method string) {
	err := p.cfg.Store.SetBrowserSessionAMR(ctx, s.session.ID, withFactor(s.session.AMR, method))
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		p.logFailure(ctx, "account: record the second factor set up on the session", err)
	}
}

// recentSignIn is how long after signing in a browser may change how
// its user signs in (set up, replace or remove a second factor or a
// passkey) without signing in again: a session left open, or stolen,
// must not let its holder put in an authenticator or a passkey of their
// own, which would outlast the session and a new password.
const recentSignIn = 10 * time.Minute

// recentlySignedIn reports whether a sign-in that proved the password or
// passkey at authTime is recent enough (recentSignIn) to change how its
// user signs in: on the account page (requireRecentSignIn) and at the
// flow's enrolment step (mayEnrol, factorStep) alike.
func (p *Provider) recentlySignedIn(authTime time.Time) bool {
	return p.cfg.Now().Sub(authTime) <= recentSignIn
}

// requireRecentSignIn lets a request of area through only when its
// sign-in (requireSelf's) proved the password or passkey within
// recentSignIn; otherwise the browser signs in again (prompt=login) and
// nothing is changed.
func (p *Provider) requireRecentSignIn(area selfArea) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s := signedIn(r)
			if s == nil || !p.recentlySignedIn(s.session.AuthTime) {
				p.log.InfoContext(r.Context(), "sign-in not recent enough: signing in again", "request_id", RequestID(r.Context()), "path", r.URL.Path)
				p.startSelfSignIn(w, r, area, true)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// requireSelfCSRF refuses a post of the console or the account page
// whose csrf field is not the token bound to this browser's sign-in, or
// that readBrowserForm refuses (a single-valued field sent twice).
func (p *Provider) requireSelfCSRF(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !p.readBrowserForm(w, r) {
			return
		}
		s := signedIn(r)
		if s == nil || !web.SameToken(r.PostForm.Get("csrf"), p.selfCSRF(s)) {
			p.refuseForeignForm(w, r, "console csrf token missing or invalid")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// selfCSRF is the token every form of the console and the account page
// carries: bound to the sign-in cookie, which no other site can read.
func (p *Provider) selfCSRF(s *selfSignIn) string {
	return web.CSRFToken(p.cfg.TokenSecret, "self-form", s.cookie)
}

// selfFlowSecrets derives a sign-in's state and PKCE verifier from the
// random value of its flow cookie, so nothing is stored on the server.
func (p *Provider) selfFlowSecrets(flow string, area selfArea) (state, verifier string) {
	return web.CSRFToken(p.cfg.TokenSecret, "self-state", flow, area.name), web.CSRFToken(p.cfg.TokenSecret, "self-pkce", flow)
}

// startSelfSignIn sends the browser to hallpass's own authorization
// endpoint as the own client, with state and a PKCE challenge tied to a
// fresh flow cookie; with again, the user signs in anew (prompt=login)
// even if the SSO session lives.
func (p *Provider) startSelfSignIn(w http.ResponseWriter, r *http.Request, area selfArea, again bool) {
	flow := web.RandomToken()
	state, verifier := p.selfFlowSecrets(flow, area)
	sum := sha256.Sum256([]byte(verifier))
	p.cookies.SetSelfFlow(w, flow, p.cfg.AuthRequestLifespan)
	q := url.Values{
		"client_id":             {SelfClientID},
		"response_type":         {"code"},
		"redirect_uri":          {p.url(area.callback())},
		"scope":                 {selfScope},
		"state":                 {state},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	if again {
		q.Set("prompt", "login")
	}
	http.Redirect(w, r, p.url(PathAuthorize)+"?"+q.Encode(), http.StatusSeeOther)
}

// handleSelfCallback finishes the own client's sign-in: the state must
// be this browser's, the code is redeemed at the token endpoint (in
// process, with the PKCE verifier), and the grant's SSO session becomes
// the area's sign-in.
func (p *Provider) handleSelfCallback(area selfArea) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		flow, ok := p.cookies.SelfFlow(r)
		state, verifier := "", ""
		if ok {
			state, verifier = p.selfFlowSecrets(flow, area)
		}
		again := "Open " + p.url(area.root) + " to start again."
		if !ok || !web.SameToken(q.Get("state"), state) {
			p.pageError(w, r, http.StatusBadRequest, "This sign-in was not started here",
				"The sign-in did not start in this browser, or took too long. "+again)
			return
		}
		p.cookies.ClearSelfFlow(w)
		if iss := q.Get("iss"); iss != "" && iss != p.cfg.Issuer {
			p.pageError(w, r, http.StatusBadRequest, "This sign-in came from elsewhere", "The answer did not come from this hallpass. "+again)
			return
		}
		switch e := q.Get("error"); {
		case e == fosite.ErrServerError.ErrorField || e == fosite.ErrTemporarilyUnavailable.ErrorField:
			// The authorization endpoint failed on our side (and logged
			// why under its own request id): ours here too, not a
			// sign-in the user left unfinished. It answers
			// temporarily_unavailable only for a store that failed.
			cause := fmt.Errorf("own client sign-in: the authorization endpoint answered %s: %s", e, capLog(q.Get("error_description")))
			if e == fosite.ErrTemporarilyUnavailable.ErrorField {
				cause = fmt.Errorf("%w: %w", storage.ErrUnavailable, cause)
			}
			p.consoleFailure(w, r, cause)
			return
		case e != "" || q.Get("code") == "":
			p.pageError(w, r, http.StatusBadRequest, "You are not signed in", "The sign-in did not complete. "+again)
			return
		}
		sid, epoch, err := p.redeemSelfCode(r, area, q.Get("code"), verifier)
		if err != nil {
			if ourFault(err) {
				p.consoleFailure(w, r, err)
				return
			}
			p.pageError(w, r, http.StatusBadRequest, "You are not signed in", "The sign-in could not be completed. "+again)
			return
		}
		s, err := p.cfg.Store.GetBrowserSessionBySID(r.Context(), sid)
		if errors.Is(err, storage.ErrNotFound) {
			p.pageError(w, r, http.StatusBadRequest, "You are not signed in", "Your session ended during the sign-in. "+again)
			return
		}
		if err != nil {
			p.consoleFailure(w, r, fmt.Errorf("load browser session: %w", err))
			return
		}
		p.cookies.SetSelf(w, p.selfCookie(sid, s.ExpiresAt, epoch), s.ExpiresAt.Sub(p.cfg.Now()))
		p.log.InfoContext(r.Context(), "signed in", "request_id", RequestID(r.Context()), "area", area.name, "user_id", s.UserID)
		http.Redirect(w, r, area.root, http.StatusSeeOther)
	}
}

// redeemSelfCode exchanges the code at the token endpoint itself, called
// directly as the dev callback does (same checks, no network), and
// returns the sid of the SSO session the grant was made in and the own
// client's token epoch the grant was issued under (read in the exchange,
// so a revocation after it is not missed).
func (p *Provider) redeemSelfCode(r *http.Request, area selfArea, code, verifier string) (string, int64, error) {
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {p.url(area.callback())},
		"client_id":     {SelfClientID},
		"code_verifier": {verifier},
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), p.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, PathToken, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, fmt.Errorf("build the own client's token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Body = http.MaxBytesReader(nil, req.Body, p.cfg.MaxBodyBytes)
	ar, _, err := p.exchange(ctx, req)
	if err != nil {
		err = p.accessFailure(req, ar, err)
		if !ourFault(err) {
			p.log.InfoContext(r.Context(), "own client sign-in refused", "request_id", RequestID(r.Context()), "err", errText(err))
		}
		return "", 0, err
	}
	sess, ok := ar.GetSession().(*Session)
	if !ok || ar.GetClient().GetID() != SelfClientID {
		return "", 0, errors.New("the own client's grant has no hallpass session")
	}
	sid, _ := sess.Claims.Extra["sid"].(string)
	if sid == "" {
		return "", 0, fosite.ErrInvalidGrant.WithHint("The grant was made without a browser session.")
	}
	return sid, sess.ClientEpoch, nil
}

// handleSelfSignOut signs the browser out of hallpass (endSession, as
// logout does) and out of the console and the account page.
func (p *Provider) handleSelfSignOut(w http.ResponseWriter, r *http.Request) {
	if err := p.endSession(w, r); err != nil {
		p.consoleFailure(w, r, err)
		return
	}
	p.cookies.ClearSelf(w)
	p.pages.LoggedOut(w, http.StatusOK, web.LoggedOutData{})
}

// consoleFailure answers a failure of ours on a console or account page:
// logged, and a 5xx page that blames nobody but hallpass.
func (p *Provider) consoleFailure(w http.ResponseWriter, r *http.Request, err error) {
	p.failurePage(w, r, "console request failed", err, "hallpass cannot do this right now",
		"Something went wrong on our side, not yours. Nothing was changed unless the page says so. Wait a moment, then try again.")
}
