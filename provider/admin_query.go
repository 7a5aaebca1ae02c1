package provider

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/hallpass/hallpass/directory"
)

// adminQuery returns r's query parameters when each is one of allowed
// (exactly: names are case-sensitive) and given once; otherwise the
// invalid_request refusal naming the parameter. It is the one rule for
// the admin API's query strings, as decodeJSON's is for its bodies: a
// parameter the route does not read ("limt", "Limit", "?immediate=true"
// on a rotation) is refused rather than ignored, since its sender
// believes it took effect; and a repeated one ("limit=5&limit=5000") is
// refused rather than read as its first value, which a proxy or a log
// reader may take for the other. A query that does not parse (a bad
// %-escape) is refused too: url.Values would drop the pair without a
// word.
func adminQuery(r *http.Request, allowed ...string) (url.Values, error) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "invalid_request", "the query string is malformed: %s", queryParseReason(err))
	}
	names := make([]string, 0, len(v))
	for name := range v {
		names = append(names, name)
	}
	slices.Sort(names) // the first refusal is the same every time
	for _, name := range names {
		if !slices.Contains(allowed, name) {
			if len(allowed) == 0 {
				return nil, errorf(http.StatusBadRequest, "invalid_request", "unknown query parameter %s: this request takes no query parameters", directory.Shown(name))
			}
			return nil, errorf(http.StatusBadRequest, "invalid_request", "unknown query parameter %s: this request takes only %s (names are case-sensitive)", directory.Shown(name), strings.Join(allowed, ", "))
		}
		if n := len(v[name]); n > 1 {
			return nil, errorf(http.StatusBadRequest, "invalid_request", "query parameter %q is given %d times; give it once", name, n)
		}
	}
	return v, nil
}

// queryParseReason is url.ParseQuery's error in words that do not
// repeat the request.
func queryParseReason(err error) string {
	if strings.Contains(err.Error(), "semicolon") {
		return "parameters are separated by &, not ;"
	}
	return "a %-escape is not two hexadecimal digits"
}

// noQuery guards the admin routes that read no query parameter: a
// request naming one is refused (adminQuery), not served as if it had
// none.
func (p *Provider) noQuery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := adminQuery(r); err != nil {
			p.writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}
