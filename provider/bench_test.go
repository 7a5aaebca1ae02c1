package provider_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/internal/testdb"
	"github.com/hallpass/hallpass/provider"
)

// BenchmarkClientCredentialsToken measures the whole token endpoint
// in-process (client authentication, fosite, RS256 signing, the
// access-token row write on SQLite), without network. Compare with
// keys.BenchmarkRSASign in the same run for the share RSA takes.
//
//	go test -run '^$' -bench 'ClientCredentialsToken|RSASign' ./provider/ ./keys/
func BenchmarkClientCredentialsToken(b *testing.B) {
	ts := newTestServer(b, testdb.SQLite(b))
	c := ts.registerService(b, "client_secret_basic", "results:read")
	h := ts.Provider.Handler()
	body := url.Values{"grant_type": {"client_credentials"}, "scope": {"results:read"}}.Encode()
	auth := basic(c.ClientID, c.ClientSecret)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, provider.PathToken, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Authorization", auth)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("token: %d %s", w.Code, w.Body)
		}
	}
}
