package resource_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/resource"
)

// RequireACR and RequireAMR let a request through only when the token
// records a strong enough sign-in, and otherwise answer RFC 9470's
// challenge.
func TestRequireUserAuthentication(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mfa := &resource.Claims{Subject: "u", ACR: "urn:hallpass:acr:mfa", AMR: []string{"pwd", "otp", "mfa"}}
	pwd := &resource.Claims{Subject: "u", ACR: "urn:hallpass:acr:pwd", AMR: []string{"pwd"}}
	service := &resource.Claims{Subject: "svc", ClientID: "svc"}
	tests := []struct {
		name      string
		mw        func(http.Handler) http.Handler
		claims    *resource.Claims
		status    int
		challenge string
	}{
		{"acr met", resource.RequireACR("urn:hallpass:acr:mfa"), mfa, 204, ""},
		{"acr one of several", resource.RequireACR("x", "urn:hallpass:acr:pwd"), pwd, 204, ""},
		{"acr not met", resource.RequireACR("urn:hallpass:acr:mfa"), pwd, 403, `acr_values="urn:hallpass:acr:mfa"`},
		{"no acr (a service)", resource.RequireACR("urn:hallpass:acr:mfa"), service, 403, `acr_values="urn:hallpass:acr:mfa"`},
		{"amr met", resource.RequireAMR("mfa"), mfa, 204, ""},
		{"amr all needed", resource.RequireAMR("otp", "hwk"), mfa, 403, `error="insufficient_user_authentication"`},
		{"amr not met", resource.RequireAMR("mfa"), pwd, 403, `error="insufficient_user_authentication"`},
		{"no claims", resource.RequireAMR("mfa"), nil, 500, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPut, "/schedule", nil)
			if tt.claims != nil {
				r = r.WithContext(resource.NewContext(r.Context(), tt.claims))
			}
			rec := httptest.NewRecorder()
			tt.mw(ok).ServeHTTP(rec, r)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if tt.status == 403 {
				h := rec.Header().Get("WWW-Authenticate")
				if !strings.HasPrefix(h, `Bearer error="insufficient_user_authentication"`) || !strings.Contains(h, tt.challenge) {
					t.Errorf("WWW-Authenticate = %q, want it to contain %s", h, tt.challenge)
				}
				if !strings.Contains(rec.Body.String(), `"error":"insufficient_user_authentication"`) {
					t.Errorf("body = %s", rec.Body)
				}
			}
		})
	}
}
