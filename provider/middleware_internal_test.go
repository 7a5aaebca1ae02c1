package provider

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestStatusWriter checks what the request log and metrics are told of an
// answer: its first final status (200 when the handler only writes), its
// size, and that informational answers and flushing still reach the
// client.
func TestStatusWriter(t *testing.T) {
	for _, tc := range []struct {
		name       string
		handler    func(w http.ResponseWriter)
		wantStatus int // recorded
		wantSent   int // what the client got; 0: not checked
		wantBytes  int
	}{
		{"nothing written", func(w http.ResponseWriter) {}, 0, http.StatusOK, 0},
		{"body only", func(w http.ResponseWriter) { _, _ = w.Write([]byte("hello")) }, http.StatusOK, http.StatusOK, 5},
		{"status then body", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusTeapot)
			_, _ = w.Write([]byte("ab"))
			_, _ = w.Write([]byte("cd"))
		}, http.StatusTeapot, http.StatusTeapot, 4},
		{"second status ignored", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusBadRequest)
			w.WriteHeader(http.StatusInternalServerError)
		}, http.StatusBadRequest, http.StatusBadRequest, 0},
		{"informational first", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusCreated)
		}, http.StatusCreated, 0, 0}, // the recorder keeps the 103 as its Code
		{"flushed", func(w http.ResponseWriter) {
			_, _ = w.Write([]byte("x"))
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Errorf("flush through statusWriter: %v", err)
			}
		}, http.StatusOK, http.StatusOK, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			sw := &statusWriter{ResponseWriter: rec}
			tc.handler(sw)
			if sw.status != tc.wantStatus || (tc.wantSent != 0 && rec.Code != tc.wantSent) || sw.bytes != tc.wantBytes {
				t.Errorf("recorded status %d, %d bytes; client got %d; want %d, %d bytes, client %d",
					sw.status, sw.bytes, rec.Code, tc.wantStatus, tc.wantBytes, tc.wantSent)
			}
		})
	}
}
