package keys

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

func serve(h http.Handler, method string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "/.well-known/jwks.json", nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestJWKSHandler(t *testing.T) {
	m, _ := loaded(t)
	body, etag := m.JWKS()
	h := m.JWKSHandler()

	tests := []struct {
		name        string
		method      string
		ifNoneMatch []string
		wantCode    int
		wantBody    bool
	}{
		{name: "GET", method: "GET", wantCode: 200, wantBody: true},
		{name: "HEAD", method: "HEAD", wantCode: 200},
		{name: "If-None-Match current", method: "GET", ifNoneMatch: []string{etag}, wantCode: 304},
		{name: "If-None-Match weak", method: "GET", ifNoneMatch: []string{"W/" + etag}, wantCode: 304},
		{name: "If-None-Match list", method: "GET", ifNoneMatch: []string{`"old", ` + etag}, wantCode: 304},
		{name: "If-None-Match repeated header", method: "GET", ifNoneMatch: []string{`"old"`, etag}, wantCode: 304},
		{name: "If-None-Match star", method: "GET", ifNoneMatch: []string{"*"}, wantCode: 304},
		{name: "If-None-Match HEAD", method: "HEAD", ifNoneMatch: []string{etag}, wantCode: 304},
		{name: "If-None-Match stale", method: "GET", ifNoneMatch: []string{`"old"`}, wantCode: 200, wantBody: true},
		{name: "If-None-Match unquoted", method: "GET", ifNoneMatch: []string{etag[1 : len(etag)-1]}, wantCode: 200, wantBody: true},
		{name: "POST", method: "POST", wantCode: 405},
		{name: "PUT", method: "PUT", wantCode: 405},
		{name: "DELETE", method: "DELETE", wantCode: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header := http.Header{}
			if tt.ifNoneMatch != nil {
				header["If-None-Match"] = tt.ifNoneMatch
			}
			rec := serve(h, tt.method, header)
			if rec.Code != tt.wantCode {
				t.Fatalf("status = %d, want %d", rec.Code, tt.wantCode)
			}
			if tt.wantCode == 405 {
				if got := rec.Header().Get("Allow"); got != "GET, HEAD" {
					t.Errorf("Allow = %q", got)
				}
				return
			}
			if got := rec.Header().Get("ETag"); got != etag {
				t.Errorf("ETag = %q, want %q", got, etag)
			}
			if got := rec.Header().Get("Cache-Control"); got != "public, max-age=300" {
				t.Errorf("Cache-Control = %q", got)
			}
			if tt.wantBody != (rec.Body.Len() > 0) {
				t.Errorf("body is %d bytes, want body: %v", rec.Body.Len(), tt.wantBody)
			}
			if tt.wantBody && rec.Body.String() != string(body) {
				t.Error("body differs from JWKS()")
			}
			if tt.wantCode == 200 {
				if got := rec.Header().Get("Content-Type"); got != "application/json" {
					t.Errorf("Content-Type = %q", got)
				}
				if got := rec.Header().Get("Content-Length"); got != strconv.Itoa(len(body)) {
					t.Errorf("Content-Length = %q, want %d", got, len(body))
				}
			}
		})
	}
}

func TestJWKSHandlerMaxAge(t *testing.T) {
	store := newFakeStore()
	m := newTestManager(t, store, 1, Options{JWKSMaxAge: 90 * time.Second})
	if err := m.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := serve(m.JWKSHandler(), "GET", nil).Header().Get("Cache-Control"); got != "public, max-age=90" {
		t.Errorf("Cache-Control = %q", got)
	}
}

func TestETagFormat(t *testing.T) {
	m, _ := loaded(t)
	_, etag := m.JWKS()
	// A quoted, unpadded base64url SHA-256: 43 characters between quotes.
	if len(etag) != 45 || etag[0] != '"' || etag[44] != '"' {
		t.Errorf("ETag = %q", etag)
	}
	if _, err := b64.DecodeString(etag[1:44]); err != nil {
		t.Errorf("ETag is not base64url: %v", err)
	}
}
