package provider

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

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
	// The exchange goes through the token endpoint in-process, exactly as a
	// client's would over the network.
	req, _ := http.NewRequestWithContext(context.WithoutCancel(r.Context()), http.MethodPost, PathToken, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := &bufferedResponse{header: http.Header{}}
	p.Handler().ServeHTTP(rec, req)
	var tok map[string]any
	_ = json.Unmarshal(rec.body.Bytes(), &tok)
	if rec.status != http.StatusOK {
		d.Error, _ = tok["error"].(string)
		d.ErrorDescription, _ = tok["error_description"].(string)
		p.pages.DevCallback(w, http.StatusOK, d)
		return
	}
	d.GrantedScopes, _ = tok["scope"].(string)
	if s, ok := tok["id_token"].(string); ok {
		d.IDTokenClaims = jwtPayload(s)
	}
	if s, ok := tok["access_token"].(string); ok {
		d.AccessTokenClaims = jwtPayload(s)
	}
	d.Raw = map[string]string{"token_type": stringOf(tok["token_type"]), "expires_in": stringOf(tok["expires_in"])}
	if _, ok := tok["refresh_token"]; ok {
		d.Raw["refresh_token"] = "(issued; not shown)"
	}
	p.pages.DevCallback(w, http.StatusOK, d)
}

// jwtPayload pretty-prints a JWT's claims, unverified: it was just
// received from the token endpoint itself.
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

// bufferedResponse captures an in-process response.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }
func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}
func (b *bufferedResponse) WriteHeader(s int) { b.status = s }
