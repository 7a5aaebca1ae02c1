// Package httpserve is how hallpass's binaries serve HTTP: one set of
// timeouts and limits for every listener, and serving until the context
// ends followed by a graceful shutdown.
package httpserve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// NewServer returns the http.Server for h with the timeouts and limits
// every listener of hallpass's binaries has: a slow or stalled client
// cannot hold a connection (headers within 10 s, the whole request within
// 30 s, the response within 30 s, idle connections closed after 2
// minutes) nor send more than 32 KiB of headers. The server's own errors
// (a TLS handshake, a panic it recovered) are logged to log as warnings.
func NewServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Serve serves srv on ln until ctx ends, then shuts srv down gracefully,
// giving requests under way up to shutdownTimeout to finish. It returns
// nil after a clean shutdown, and the error otherwise: serving failed
// before ctx ended, or requests were still running when the time was up.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, shutdownTimeout time.Duration, log *slog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped")
	return nil
}
