package provider_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/provider"
)

// TestAdminLengthBounds: every name the admin API and registration take
// is bounded far below what PostgreSQL can index (a btree entry over
// about 2704 bytes fails with SQLSTATE 54000, a 500), and a value past
// its bound is refused, on both backends, with 400, the endpoint's
// error code and a message stating the bound, never by repeating the
// value whole; nothing changes. Values are incompressible (PostgreSQL
// compresses an index entry before measuring it). A scope name over 200
// characters in a role or a client was refused as holding characters
// RFC 6749 does not allow; a user's role name over 64 characters, and a
// scope's audience over 2048, without saying what the rule was. Lists
// are bounded at 1000 entries as given, repeats included: a role's
// scopes and a user's roles had no bound, and a client's lists were
// bounded only once their repeats were gone, each entry compared with
// the others first (a file's role or client of 200,000 scopes took a
// plan minutes).
func TestAdminLengthBounds(t *testing.T) {
	long := incompressible(3000)
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		wantStatus(t, "create scope", ts.admin(t, http.MethodPost, "/admin/scopes", `{"name":"results:read"}`), http.StatusCreated)
		wantStatus(t, "create role", ts.admin(t, http.MethodPost, "/admin/roles", `{"name":"teacher","scopes":["results:read"]}`), http.StatusCreated)
		body := func(v map[string]any) string {
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
		cc := []string{"client_credentials"}
		for _, tc := range []struct {
			name, path, body, code, want string
		}{
			{"role name", "/admin/roles", body(map[string]any{"name": long}), "invalid_request", "role name must be 1 to 64 characters"},
			{"role name, 65", "/admin/roles", body(map[string]any{"name": long[:65]}), "invalid_request", "role name must be 1 to 64 characters"},
			{"role's scope", "/admin/roles", body(map[string]any{"name": "r", "scopes": []string{long}}), "invalid_request", "is longer than the 200 characters a scope may have (it has 3000)"},
			{"role's scope, 201", "/admin/roles", body(map[string]any{"name": "r", "scopes": []string{long[:201]}}), "invalid_request", "is longer than the 200 characters a scope may have (it has 201)"},
			{"role description", "/admin/roles", body(map[string]any{"name": "r", "description": long}), "invalid_request", "at most 500 characters"},
			{"scope name", "/admin/scopes", body(map[string]any{"name": long}), "invalid_request", "is longer than the 200 characters a scope may have"},
			{"scope audience", "/admin/scopes", body(map[string]any{"name": "s", "audience": "https://" + long}), "invalid_request", "must be an identifier of 1 to 2048 characters"},
			{"username", "/admin/users", body(map[string]any{"username": long, "password": "correct horse battery staple 9"}), "invalid_request", "username must be 1 to 64 characters"},
			{"user's role", "/admin/users", body(map[string]any{"username": "u", "password": "correct horse battery staple 9", "roles": []string{long}}), "invalid_request", "must be 1 to 64 characters of letters, digits and . _ : -"},
			{"user's email", "/admin/users", body(map[string]any{"username": "u", "password": "correct horse battery staple 9", "email": long + "@example.com"}), "invalid_request", "at most 254 characters"},
			{"user's name", "/admin/users", body(map[string]any{"username": "u", "password": "correct horse battery staple 9", "name": long}), "invalid_request", "at most 200 characters"},
			{"password", "/admin/users", body(map[string]any{"username": "u", "password": long}), "invalid_request", "at most 256 characters"},
			{"client id", "/admin/clients", body(map[string]any{"client_id": long, "grant_types": cc}), "invalid_client_metadata", "client_id must be 1 to 128 characters"},
			{"client id, 129", "/admin/clients", body(map[string]any{"client_id": long[:129], "grant_types": cc}), "invalid_client_metadata", "client_id must be 1 to 128 characters"},
			{"client name", "/admin/clients", body(map[string]any{"client_name": long, "grant_types": cc}), "invalid_client_metadata", "at most 200 characters"},
			{"client scope", "/admin/clients", body(map[string]any{"scope": long, "grant_types": cc}), "invalid_client_metadata", "is longer than the 200 characters a scope may have"},
			{"client audience", "/admin/clients", body(map[string]any{"audience": []string{"https://" + long}, "grant_types": cc}), "invalid_client_metadata", "at most 2048 characters"},
			{"client resource server", "/admin/clients", body(map[string]any{"resource_servers": []string{"https://" + long}, "grant_types": cc}), "invalid_client_metadata", "at most 2048 characters"},
			{"redirect URI", "/admin/clients", body(map[string]any{"redirect_uris": []string{"https://app.example/" + long}}), "invalid_redirect_uri", "at most 2048 characters"},
			{"registered scope", provider.PathRegistration, body(map[string]any{"scope": long, "grant_types": cc}), "invalid_client_metadata", "is longer than the 200 characters a scope may have"},
			{"registered client name", provider.PathRegistration, body(map[string]any{"client_name": long, "grant_types": cc}), "invalid_client_metadata", "at most 200 characters"},
			{"role listing 1001 scopes", "/admin/roles", body(map[string]any{"name": "r", "scopes": numbered("s", 1001)}), "invalid_request", "scopes may list at most 1000 entries (it lists 1001)"},
			{"user holding 1001 roles", "/admin/users", body(map[string]any{"username": "u", "password": "correct horse battery staple 9", "roles": repeated("teacher", 1001)}), "invalid_request", "roles may list at most 1000 entries (it lists 1001)"},
			{"client scope of 1001 entries", "/admin/clients", body(map[string]any{"scope": strings.TrimSpace(strings.Repeat("results:read ", 1001)), "grant_types": cc}), "invalid_client_metadata", "scope may list at most 1000 entries (it lists 1001)"},
			{"client audience of 1001 entries", "/admin/clients", body(map[string]any{"audience": repeated("https://api.example", 1001), "grant_types": cc}), "invalid_client_metadata", "audience may list at most 1000 entries (it lists 1001)"},
			{"client grant types of 1001 entries", "/admin/clients", body(map[string]any{"grant_types": repeated("client_credentials", 1001)}), "invalid_client_metadata", "grant_types may list at most 1000 entries (it lists 1001)"},
			{"registered scope of 1001 entries", provider.PathRegistration, body(map[string]any{"scope": strings.TrimSpace(strings.Repeat("results:read ", 1001)), "grant_types": cc}), "invalid_client_metadata", "scope may list at most 1000 entries (it lists 1001)"},
			// Refused as unsupported, named by their start and length:
			// they were repeated whole, up to a body's size.
			{"client auth method", "/admin/clients", body(map[string]any{"token_endpoint_auth_method": long, "grant_types": cc}), "invalid_client_metadata", "is not supported; use one of"},
			{"client grant type", "/admin/clients", body(map[string]any{"grant_types": []string{long}}), "invalid_client_metadata", "(3000 bytes) is not supported"},
			{"client response type", "/admin/clients", body(map[string]any{"response_types": []string{long}, "grant_types": cc}), "invalid_client_metadata", "(3000 bytes) is not supported; only code is"},
			{"registered grant type", provider.PathRegistration, body(map[string]any{"grant_types": []string{long}}), "invalid_client_metadata", "(3000 bytes) is not supported"},
			{"registered redirect URI", provider.PathRegistration, body(map[string]any{"redirect_uris": []string{"https://app.example/" + long}}), "invalid_redirect_uri", "at most 2048 characters"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				clients, dir := ts.clients(t), ts.directory(t)
				res := ts.admin(t, http.MethodPost, tc.path, tc.body)
				assertError(t, res, http.StatusBadRequest, tc.code)
				var e struct {
					Description string `json:"error_description"`
				}
				if err := json.Unmarshal(res.Body, &e); err != nil || !strings.Contains(e.Description, tc.want) {
					t.Errorf("POST %s: %.300s; want it to say %q", tc.path, res.Body, tc.want)
				}
				if strings.Contains(e.Description, long[:200]) {
					t.Errorf("POST %s: the refusal repeats the value: %.300s…", tc.path, e.Description)
				}
				ts.assertClientsUnchanged(t, clients)
				ts.assertDirectoryUnchanged(t, dir)
			})
		}

		// At their bounds, incompressible names are stored, indexed and
		// read back on both backends.
		scope, role, id, user := long[:200], long[:64], long[:128], long[:64]
		wantStatus(t, "scope of 200", ts.admin(t, http.MethodPost, "/admin/scopes", body(map[string]any{"name": scope})), http.StatusCreated)
		wantStatus(t, "role of 64", ts.admin(t, http.MethodPost, "/admin/roles", body(map[string]any{"name": role, "scopes": []string{scope}})), http.StatusCreated)
		wantStatus(t, "client id of 128", ts.admin(t, http.MethodPost, "/admin/clients", body(map[string]any{"client_id": id, "grant_types": cc, "scope": scope})), http.StatusCreated)
		wantStatus(t, "username of 64", ts.admin(t, http.MethodPost, "/admin/users", body(map[string]any{"username": user, "password": "correct horse battery staple 9", "roles": []string{role}})), http.StatusCreated)
		for _, path := range []string{"/admin/scopes/" + scope, "/admin/roles/" + role, "/admin/clients/" + id, "/admin/users/" + user} {
			wantStatus(t, "GET "+path[:20], ts.admin(t, http.MethodGet, path, nil), http.StatusOK)
		}
	})
}

// incompressible returns n letters and digits that no compression
// shortens much: PostgreSQL compresses an index entry before measuring
// it against its size limit, so a repeated letter would fit where text
// as long would not.
func incompressible(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = alphabet[x%uint32(len(alphabet))]
	}
	return string(b)
}

// numbered returns n distinct strings: prefix0, prefix1…
func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i)
	}
	return out
}

// repeated returns n copies of s.
func repeated(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}
