package provider

import (
	"context"
	"net/http"
	"time"
)

// handleHealthz reports that the process is serving; it touches nothing
// else so a slow database never gets a healthy process restarted.
func (p *Provider) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	body := "ok\n"
	if p.cfg.Version != "" {
		// Which build answers: what an operator checks after a rollout.
		body += "version: " + p.cfg.Version + "\n"
	}
	_, _ = w.Write([]byte(body))
}

// handleReadyz reports whether this replica can issue tokens: the database
// answers and a signing key is loaded.
func (p *Provider) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := p.cfg.Store.Ping(ctx); err != nil {
		p.log.WarnContext(ctx, "not ready: database unreachable", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("database unreachable\n"))
		return
	}
	if p.cfg.Keys.ActiveKeyID() == "" {
		p.log.WarnContext(ctx, "not ready: no signing key loaded")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("no active signing key\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}
