package bearer

import (
	"net/http"
	"testing"
)

func TestToken(t *testing.T) {
	for _, tc := range []struct {
		name    string
		headers []string
		token   string
		problem bool
	}{
		{name: "none"},
		{name: "another scheme", headers: []string{"Basic YTpi"}},
		{name: "token", headers: []string{"Bearer abc.DEF-_~+/=="}, token: "abc.DEF-_~+/=="},
		{name: "scheme in lower case", headers: []string{"bearer abc"}, token: "abc"},
		{name: "spaces around", headers: []string{"  Bearer   abc  "}, token: "abc"},
		{name: "empty", headers: []string{"Bearer"}, problem: true},
		{name: "only spaces", headers: []string{"Bearer   "}, problem: true},
		{name: "two words", headers: []string{"Bearer abc def"}, problem: true},
		{name: "quoted", headers: []string{`Bearer "abc"`}, problem: true},
		{name: "padding inside", headers: []string{"Bearer ab=c"}, problem: true},
		{name: "only padding", headers: []string{"Bearer =="}, problem: true},
		{name: "comma", headers: []string{"Bearer abc,"}, problem: true},
		{name: "non-ASCII", headers: []string{"Bearer abcé"}, problem: true},
		{name: "two headers", headers: []string{"Bearer abc", "Bearer abc"}, problem: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodGet, "/", nil)
			for _, h := range tc.headers {
				r.Header.Add("Authorization", h)
			}
			token, problem := Token(r)
			if token != tc.token || (problem != "") != tc.problem {
				t.Errorf("Token = %q, problem %q; want %q, problem %v", token, problem, tc.token, tc.problem)
			}
		})
	}
}
