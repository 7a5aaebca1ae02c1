package provider_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/hallpass/hallpass/provider"
)

// TestAnnouncedBodyOverCapRefusedUnread: a request whose Content-Length
// is over the body cap is refused at once, as each endpoint refuses a
// body over the cap (413 or its RFC's 400), on every endpoint that takes
// a body, the ones whose form fosite parses itself included; a client
// that asked first (Expect: 100-continue) is never told to go on
// uploading it: net/http sent "100 Continue" on the handler's first read,
// and the client then sent what was cut off at the cap.
func TestAnnouncedBodyOverCapRefusedUnread(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		admin := "Authorization: Bearer " + ts.AdminToken
		tests := []struct {
			name, path, contentType, auth string
			status                        int
		}{
			{"token", provider.PathToken, formType, "Authorization: " + basic("svc", "secret"), 400},
			{"introspection", provider.PathIntrospect, formType, admin, 400},
			{"revocation", provider.PathRevoke, formType, "Authorization: " + basic("svc", "secret"), 400},
			{"PAR", provider.PathPAR, formType, "Authorization: " + basic("svc", "secret"), 400},
			{"authorization", provider.PathAuthorize, formType, "", 400},
			{"userinfo", provider.PathUserinfo, formType, "Authorization: Bearer x", 400},
			{"sign-in form", provider.PathLogin, formType, "", 400},
			{"end session", provider.PathEndSession, formType, "", 400},
			{"registration", provider.PathRegistration, jsonType, admin, 413},
			{"admin API", "/admin/clients", jsonType, admin, 413},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				header := []string{"Content-Type: " + tc.contentType, "Expect: 100-continue",
					"Content-Length: " + strconv.Itoa(1<<30)}
				if tc.auth != "" {
					header = append(header, tc.auth)
				}
				res := rawHTTP(t, ts, http.MethodPost, tc.path, header, "")
				if res.Status != tc.status {
					t.Fatalf("first answer %d, want %d before any of the body is sent: %.300s", res.Status, tc.status, res.Body)
				}
				checkSafetyHeaders(t, tc.name, res.Status, res.Header, tc.path)
			})
		}
	})
}
