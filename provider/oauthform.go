package provider

import (
	"errors"
	"net/http"

	"github.com/ory/fosite"
)

// singleParams are the form parameters RFC 6749 §3.2 forbids repeating
// that fosite would otherwise silently read the first value of. audience
// is absent on purpose: fosite takes it repeated.
var singleParams = []string{
	"grant_type", "scope", "code", "redirect_uri", "code_verifier", "refresh_token",
	"client_id", "client_secret", "token", "token_type_hint",
}

// checkOAuthRequest refuses what fosite would accept ambiguously: several
// Authorization headers (a proxy and hallpass could disagree on who the
// client is) and repeated parameters (RFC 6749 §3.2, §5.2). It parses the
// form, which fosite then reuses.
func checkOAuthRequest(r *http.Request) error {
	if len(r.Header.Values("Authorization")) > 1 {
		return fosite.ErrInvalidRequest.WithHint("The request carries more than one Authorization header.")
	}
	if r.Method != http.MethodPost {
		return nil // fosite answers the method error itself
	}
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fosite.ErrInvalidRequest.WithHint("The request body is too large.")
		}
		return fosite.ErrInvalidRequest.WithHint("The request body is not a valid form.")
	}
	for _, name := range singleParams {
		if len(r.PostForm[name]) > 1 {
			return fosite.ErrInvalidRequest.WithHintf("Parameter %q is repeated.", name)
		}
	}
	return nil
}

// challengeUnauthorized adds the WWW-Authenticate header RFC 6749 §5.2 and
// RFC 9110 §15.5.2 require on a 401.
func challengeUnauthorized(w http.ResponseWriter, err error) {
	if err != nil && fosite.ErrorToRFC6749Error(err).CodeField == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="hallpass"`)
	}
}
