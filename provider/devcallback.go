package provider

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/ory/fosite"

	"github.com/hallpass/hallpass/web"
)

// DevClientID is the client `hallpass serve --dev` registers for
// /dev/callback.
const DevClientID = "hallpass-dev"

// DevCallbackVerifier is the fixed PKCE verifier of the dev client's
// authorization link. Fixed is fine only because this is a demo page that
// must work from a link printed at start; production clients make one
// per request.
const DevCallbackVerifier = "hallpass-dev-pkce-verifier-0123456789-abcdefghijklmnop"

// handleDevCallback (only with Config.Dev) redeems the code sent to the dev
// client and shows what came of it, so the whole flow can be seen in a
// browser with nothing else running.
func (p *Provider) handleDevCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := web.DevCallbackData{Error: q.Get("error"), ErrorDescription: q.Get("error_description")}
	if d.Error != "" || q.Get("code") == "" {
		if d.Error == "" {
			d.Error = "no code in the callback"
		}
		p.pages.DevCallback(w, http.StatusOK, d)
		return
	}
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {q.Get("code")},
		"redirect_uri":  {p.url(PathDevCallback)},
		"client_id":     {DevClientID},
		"code_verifier": {DevCallbackVerifier},
	}
	// The code is redeemed by the token exchange itself, called directly:
	// the same checks and answers a client's request to the token
	// endpoint meets, without going back through the router. Like a
	// request of its own, the exchange outlives a browser that gives up
	// waiting, so a code is never left half redeemed, and has its own
	// time limit.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), p.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, PathToken, strings.NewReader(form.Encode()))
	if err != nil {
		p.logFailure(ctx, "build the dev callback's token request", err)
		d.Error, d.ErrorDescription = "server_error", "the token request could not be built"
		p.pages.DevCallback(w, http.StatusOK, d)
		return
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// Capped as every request body is (limitBody): the code comes from
	// the query.
	req.Body = http.MaxBytesReader(nil, req.Body, p.cfg.MaxBodyBytes)
	ar, resp, err := p.exchange(ctx, req)
	if err != nil {
		rfc := fosite.ErrorToRFC6749Error(p.accessFailure(req, ar, err))
		d.Error, d.ErrorDescription = rfc.ErrorField, rfc.GetDescription()
		p.pages.DevCallback(w, http.StatusOK, d)
		return
	}
	tok := resp.ToMap()
	d.GrantedScopes, _ = tok["scope"].(string)
	if s, ok := tok["id_token"].(string); ok {
		d.IDTokenClaims = jwtPayload(s)
	}
	if s, ok := tok["access_token"].(string); ok {
		d.AccessTokenClaims = jwtPayload(s)
	}
	d.Raw = map[string]string{"token_type": stringOf(tok["token_type"]), "expires_in": stringOf(tok["expires_in"])}
	// The tokens themselves, to copy into curl or a resource server's
	// test: this page exists for development only.
	for _, name := range []string{"access_token", "id_token", "refresh_token"} {
		if v, ok := tok[name].(string); ok && v != "" {
			d.Tokens = append(d.Tokens, web.DevToken{Name: name, Value: v})
		}
	}
	p.pages.DevCallback(w, http.StatusOK, d)
}

// jwtPayload pretty-prints a JWT's claims, unverified: it was just
// issued by the token exchange itself.
func jwtPayload(tok string) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var out bytes.Buffer
	if json.Indent(&out, raw, "", "  ") != nil {
		return ""
	}
	return out.String()
}

func stringOf(v any) string {
	b, _ := json.Marshal(v)
	return strings.Trim(string(b), `"`)
}
