package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/html"
)

// browser is a browser without JavaScript: a cookie jar, redirects
// followed inside hallpass, forms posted with their hidden fields.
type browser struct {
	e    *env
	http *http.Client
	// user is who signs in at the login form.
	user credential
}

func (e *env) newBrowser(user credential) (*browser, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, fmt.Errorf("cookie jar: %w", err)
	}
	c := &http.Client{
		Transport: e.http.Transport,
		Timeout:   e.cfg.Timeout,
		Jar:       jar,
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			// The app's redirect URI is not served: stop there, as the
			// app would take over.
			if strings.HasPrefix(r.URL.String(), e.redirectURI) {
				return http.ErrUseLastResponse
			}
			if len(via) > 10 {
				return errors.New("more than 10 redirects")
			}
			return nil
		},
	}
	return &browser{e: e, http: c, user: user}, nil
}

// page is where the browser ended: a hallpass page, or the redirect to
// the app (callback set).
type page struct {
	url      *url.URL
	body     string
	callback *url.URL
}

// do sends a request and follows redirects; a status outside 2xx/3xx is
// an error.
func (b *browser) do(ctx context.Context, method, target string, form url.Values) (page, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return page{}, fmt.Errorf("%s %s: %w", method, target, err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	what := method + " " + req.URL.Path
	resp, err := b.http.Do(req)
	if err != nil {
		return page{}, fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return page{}, fmt.Errorf("%s: read body: %w", what, err)
	}
	if resp.StatusCode >= 400 {
		se := &statusError{what: what + " (ended at " + resp.Request.URL.Path + ")", status: resp.StatusCode, body: firstLine(string(data))}
		if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && n > 0 && resp.StatusCode == http.StatusServiceUnavailable {
			se.retryAfter = time.Duration(n) * time.Second
		}
		return page{}, se
	}
	p := page{url: resp.Request.URL, body: string(data)}
	if resp.StatusCode >= 300 {
		loc, err := resp.Location()
		if err != nil {
			return page{}, fmt.Errorf("%s: redirect %d without Location: %w", what, resp.StatusCode, err)
		}
		p.callback = loc
	}
	return p, nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// form is an HTML form of a page.
type form struct {
	action string
	fields url.Values // hidden inputs
	names  map[string]bool
}

// findForm returns the page's POST form that has an input or button
// named field.
func (p page) findForm(field string) (form, error) {
	doc, err := html.Parse(strings.NewReader(p.body))
	if err != nil {
		return form{}, fmt.Errorf("parse %s: %w", p.url.Path, err)
	}
	var forms []form
	var walk func(n *html.Node, cur *form)
	walk = func(n *html.Node, cur *form) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "form":
				if strings.EqualFold(attr(n, "method"), "post") {
					f := form{action: attr(n, "action"), fields: url.Values{}, names: map[string]bool{}}
					for c := n.FirstChild; c != nil; c = c.NextSibling {
						walk(c, &f)
					}
					forms = append(forms, f)
					return
				}
			case "input", "button":
				if cur != nil && attr(n, "name") != "" {
					cur.names[attr(n, "name")] = true
					if attr(n, "type") == "hidden" {
						cur.fields.Add(attr(n, "name"), attr(n, "value"))
					}
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, cur)
		}
	}
	walk(doc, nil)
	for _, f := range forms {
		if f.names[field] {
			return f, nil
		}
	}
	return form{}, fmt.Errorf("page %s has no form with %q", p.url.Path, field)
}

func attr(n *html.Node, name string) string {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

// submit posts the form of p that has field, with its hidden fields
// (request and csrf on hallpass's pages) and values.
func (b *browser) submit(ctx context.Context, p page, field string, values url.Values) (page, error) {
	f, err := p.findForm(field)
	if err != nil {
		return page{}, err
	}
	for _, h := range []string{"request", "csrf"} {
		if f.fields.Get(h) == "" {
			return page{}, fmt.Errorf("form on %s has no hidden %q", p.url.Path, h)
		}
	}
	action, err := p.url.Parse(f.action)
	if err != nil {
		return page{}, fmt.Errorf("form action %q: %w", f.action, err)
	}
	for k, v := range values {
		f.fields[k] = v
	}
	return b.do(ctx, http.MethodPost, action.String(), f.fields)
}

// maxLoginRetries bounds how often one login is sent again after a 503.
const maxLoginRetries = 10

// login posts the login form of p. A 503 with Retry-After (every password
// check busy for longer than the server lets a login wait) is the server
// shedding load as designed; the browser waits as told and sends the form
// again, as a user would, and the scenario counts it (env.shed).
func (b *browser) login(ctx context.Context, p page) (page, error) {
	for i := 0; ; i++ {
		next, err := b.submit(ctx, p, "password", url.Values{"username": {b.user.username}, "password": {b.user.password}})
		var se *statusError
		if !errors.As(err, &se) || se.retryAfter <= 0 || i == maxLoginRetries {
			return next, err
		}
		b.e.shed.Add(1)
		select {
		case <-ctx.Done():
			return page{}, ctx.Err()
		case <-time.After(se.retryAfter):
		}
	}
}

// authRequest is one authorization request with PKCE.
type authRequest struct {
	url, state, verifier string
}

func (e *env) newAuthRequest() authRequest {
	verifier := randomString(43)
	sum := sha256.Sum256([]byte(verifier))
	state := randomString(16)
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {e.publicID},
		"redirect_uri":          {e.redirectURI},
		"scope":                 {"openid " + e.scope},
		"state":                 {state},
		"nonce":                 {randomString(16)},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	return authRequest{url: e.cfg.BaseURL + "/oauth2/authorize?" + q.Encode(), state: state, verifier: verifier}
}

// flow runs one authorization: GET authorize, then (if login is true)
// the login form and, if asked, the consent form, then the code
// exchange. Without login, a login page is an error: the session should
// have carried the user straight back with a code.
func (b *browser) flow(ctx context.Context, login bool) error {
	ar := b.e.newAuthRequest()
	p, err := b.do(ctx, http.MethodGet, ar.url, nil)
	if err != nil {
		return err
	}
	if p.callback == nil && login {
		if p, err = b.login(ctx, p); err != nil {
			return fmt.Errorf("login: %w", err)
		}
	}
	if p.callback == nil && login {
		if p, err = b.submit(ctx, p, "decision", url.Values{"decision": {"allow"}}); err != nil {
			return fmt.Errorf("consent: %w", err)
		}
	}
	if p.callback == nil {
		return fmt.Errorf("authorize ended on the page %s, not at the app", p.url.Path)
	}
	q := p.callback.Query()
	if q.Get("error") != "" || q.Get("code") == "" || q.Get("state") != ar.state {
		return fmt.Errorf("callback without a code for our state: error=%q %s", q.Get("error"), q.Get("error_description"))
	}
	body, err := b.e.postForm(ctx, b.http, "/oauth2/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {b.e.redirectURI},
		"client_id": {b.e.publicID}, "code_verifier": {ar.verifier},
	}, "", "")
	if err != nil {
		return fmt.Errorf("code exchange: %w", err)
	}
	_, err = accessToken(body)
	return err
}

// signedInWorker signs its own browser in once (login and consent forms,
// untimed); each op is then the flow of a signed-in user.
func (e *env) signedInWorker(ctx context.Context, i int) (op, error) {
	b, err := e.newBrowser(e.user(i))
	if err != nil {
		return nil, err
	}
	if err := b.flow(ctx, true); err != nil {
		return nil, fmt.Errorf("sign in: %w", err)
	}
	return func(ctx context.Context) error { return b.flow(ctx, false) }, nil
}

// freshLoginWorker's ops each start a new browser and sign in with the
// password (consent, remembered after the first, is given if asked).
func (e *env) freshLoginWorker(i int) op {
	return func(ctx context.Context) error {
		b, err := e.newBrowser(e.user(i))
		if err != nil {
			return err
		}
		return b.flow(ctx, true)
	}
}
