package provider_test

import (
	"math"
	"net/http"
	"testing"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/provider"
)

// TestOperatorMetrics drives sign-ins of every outcome, token issuance,
// a refresh token replay and a database failure through the real server
// and reads each from /metrics: the series README "Audit and
// observability" lists alerts for.
func TestOperatorMetrics(t *testing.T) {
	e := newSSOEnv(t, testdb.SQLite(t), func(c *provider.Config) {
		c.LoginLimits = provider.LoginLimits{AccountFreeFailures: 1}
	})
	want := func(name, labels string, value float64) {
		t.Helper()
		got, ok := e.metric(t, name, labels)
		if !ok || got != value {
			t.Errorf("%s{%s} = %v (present %v), want %v", name, labels, got, ok, value)
		}
	}

	b := e.newBrowser(t)
	g := e.grant(t, b, e.Confidential, "alice", alicePassword, "openid offline_access results:read")
	want("hallpass_signins_total", `outcome="success"`, 1)
	want("hallpass_tokens_issued_by_client_total", `client_id="`+confidentialID+`",grant_type="authorization_code"`, 1)

	lb := e.newBrowser(t)
	lb.login(t, lb.get(t, e.Public.request("openid").URL), "bob", "not-bobs-password")
	want("hallpass_signins_total", `outcome="wrong_password"`, 1)
	if p := lb.login(t, lb.get(t, e.Public.request("openid").URL), "bob", "still-not-bobs-password"); p.Status != http.StatusTooManyRequests {
		t.Fatalf("second wrong password: status %d, want 429 (throttled)", p.Status)
	}
	want("hallpass_signins_total", `outcome="throttled"`, 1)
	lb.login(t, lb.get(t, e.Public.request("openid").URL), "nobody-here", "whatever-password")
	want("hallpass_signins_total", `outcome="unknown_user"`, 1)

	// Every password check waited (briefly) for its slot.
	if n, ok := e.metric(t, "hallpass_password_check_wait_seconds_count", ""); !ok || n < 3 {
		t.Errorf("hallpass_password_check_wait_seconds_count = %v, want at least the 3 password checks", n)
	}

	if res := e.refresh(t, e.Confidential, g.Refresh, ""); res.Status != http.StatusOK {
		t.Fatalf("refresh: %d %s", res.Status, res.Body)
	}
	want("hallpass_tokens_issued_by_client_total", `client_id="`+confidentialID+`",grant_type="refresh_token"`, 1)
	if res := e.refresh(t, e.Confidential, g.Refresh, ""); res.Status != http.StatusBadRequest {
		t.Fatalf("replayed refresh: %d %s", res.Status, res.Body)
	}
	want("hallpass_token_reuse_detections_total", `grant_type="refresh_token"`, 1)

	if age, ok := e.metric(t, "hallpass_signing_key_active_age_seconds", ""); !ok || math.IsNaN(age) || age < 0 {
		t.Errorf("hallpass_signing_key_active_age_seconds = %v (present %v), want the active key's age", age, ok)
	}
	want("hallpass_audit_append_failures_total", "", 0)

	if _, ok := e.metric(t, "hallpass_storage_errors_total", `operation="list_clients"`); ok {
		t.Fatal("a storage error counted before the database failed")
	}
	if err := e.Store.Close(); err != nil {
		t.Fatalf("close the store: %v", err)
	}
	if res := e.admin(t, http.MethodGet, "/admin/clients", nil); res.Status < 500 {
		t.Fatalf("GET /admin/clients with the database closed: %d", res.Status)
	}
	want("hallpass_storage_errors_total", `operation="list_clients"`, 1)
}
