package resource_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/hallpass/hallpass/resource"
)

// TestChallengesCarryRealmAndMetadata: every WWW-Authenticate challenge
// the package sends, the verifying middlewares' 401s and 400s and the 403s
// of RequireScope, RequireACR and RequireAMR behind either of them, names
// the configured realm and resource_metadata (RFC 9728 §5.1), so a client
// refused for want of a scope or a second factor can find the
// authorization server as one refused for want of a token can. The 403s
// carried neither. Claims an API's own middleware puts in place of the
// Verifier's (NewContext) keep them.
func TestChallengesCarryRealmAndMetadata(t *testing.T) {
	h := newSchool(t)
	mdURL, err := resource.MetadataURL(schoolAPI)
	if err != nil {
		t.Fatal(err)
	}
	const realm = "school-api-realm"
	v := newVerifier(t, h, newRecorder(h.HTTP.Transport), func(c *resource.Config) {
		c.Realm = realm
		c.ResourceMetadataURL = mdURL
	})
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := resource.FromContext(r.Context())
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(c)
	})
	const mfa = "urn:hallpass:acr:mfa"
	mux := http.NewServeMux()
	mux.Handle("GET /results", v.Middleware(resource.RequireScope("results:read")(ok)))
	mux.Handle("POST /results", v.IntrospectMiddleware(resource.RequireScope("results:write")(ok)))
	mux.Handle("PUT /schedule", v.Middleware(resource.RequireACR(mfa)(ok)))
	mux.Handle("PUT /schedule/introspected", v.IntrospectMiddleware(resource.RequireACR(mfa)(ok)))
	mux.Handle("PUT /rooms", v.Middleware(resource.RequireAMR("mfa")(ok)))
	mux.Handle("PUT /rooms/introspected", v.IntrospectMiddleware(resource.RequireAMR("mfa")(ok)))
	// An API's own middleware behind the Verifier's that replaces the
	// claims (NewContext), here adding a role of its own.
	enrich := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, _ := resource.FromContext(r.Context())
			more := *c
			more.Roles = append(slices.Clone(c.Roles), "local")
			next.ServeHTTP(w, r.WithContext(resource.NewContext(r.Context(), &more)))
		})
	}
	mux.Handle("GET /enriched", v.Middleware(enrich(resource.RequireScope("results:write")(ok))))
	api := httptest.NewServer(mux)
	t.Cleanup(api.Close)

	reader := h.serviceToken(t, h.ServiceID, h.ServiceSecret, "results:read")
	alice := h.userTokens(t, "openid results:read results:write").AccessToken // a password alone

	base := `Bearer realm="` + realm + `", resource_metadata="` + mdURL + `"`
	with := func(code, desc, params string) string {
		return base + `, error="` + code + `", error_description="` + desc + `"` + params
	}
	const (
		acrDesc = "The user did not sign in strongly enough for this request"
		amrDesc = "The user did not sign in with the methods this request needs"
	)
	runAPICases(t, api, []apiCase{
		{name: "no token", path: "/results", status: 401, challenge: base, bare: true},
		{name: "no token, introspected", method: "POST", path: "/results", status: 401, challenge: base, bare: true},
		{name: "the Bearer scheme alone", path: "/results", header: http.Header{"Authorization": {"Bearer"}}, status: 400,
			challenge: with("invalid_request", "The Bearer credentials are empty", ""), errorCode: "invalid_request"},
		{name: "a forged token", path: "/results", header: bearer("abc.def.ghi"), status: 401,
			challenge: with("invalid_token", "The access token is malformed", ""), errorCode: "invalid_token"},
		{name: "scope missing, introspected", method: "POST", path: "/results", header: bearer(reader), status: 403,
			challenge: with("insufficient_scope", "The access token does not grant the scope results:write", `, scope="results:write"`), errorCode: "insufficient_scope"},
		{name: "acr not met", method: "PUT", path: "/schedule", header: bearer(alice), status: 403,
			challenge: with("insufficient_user_authentication", acrDesc, `, acr_values="`+mfa+`"`), errorCode: "insufficient_user_authentication"},
		{name: "acr not met, introspected", method: "PUT", path: "/schedule/introspected", header: bearer(alice), status: 403,
			challenge: with("insufficient_user_authentication", acrDesc, `, acr_values="`+mfa+`"`), errorCode: "insufficient_user_authentication"},
		{name: "no acr (a service)", method: "PUT", path: "/schedule", header: bearer(reader), status: 403,
			challenge: with("insufficient_user_authentication", acrDesc, `, acr_values="`+mfa+`"`), errorCode: "insufficient_user_authentication"},
		{name: "amr not met", method: "PUT", path: "/rooms", header: bearer(alice), status: 403,
			challenge: with("insufficient_user_authentication", amrDesc, ""), errorCode: "insufficient_user_authentication"},
		{name: "amr not met, introspected", method: "PUT", path: "/rooms/introspected", header: bearer(alice), status: 403,
			challenge: with("insufficient_user_authentication", amrDesc, ""), errorCode: "insufficient_user_authentication"},
		{name: "scope missing, claims replaced behind the middleware", path: "/enriched", header: bearer(reader), status: 403,
			challenge: with("insufficient_scope", "The access token does not grant the scope results:write", `, scope="results:write"`), errorCode: "insufficient_scope"},
		{name: "scope granted", path: "/results", header: bearer(reader), status: 200, subject: h.ServiceID},
	})
}
