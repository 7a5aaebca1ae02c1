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
// "OPTIONS *" goes to h too, like every request net/http can parse:
// net/http's own answer to it, a bare 200, carries none of the headers
// h gives every answer.
func NewServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:                      h,
		DisableGeneralOptionsHandler: true,
		ReadHeaderTimeout:            10 * time.Second,
		ReadTimeout:                  30 * time.Second,
		WriteTimeout:                 30 * time.Second,
		IdleTimeout:                  2 * time.Minute,
		MaxHeaderBytes:               32 << 10,
		ErrorLog:                     slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Binding is a server and the listener it serves on.
type Binding struct {
	Server   *http.Server
	Listener net.Listener
}

// Serve serves every binding until ctx ends or one of them fails, then
// shuts them all down gracefully, giving requests under way up to
// shutdownTimeout to finish. It returns nil after a clean shutdown, and
// otherwise every error: serving that failed before ctx ended (the other
// servers are still shut down gracefully, so nothing is cut off while the
// caller cleans up), or requests still running when the time was up,
// whose connections are then closed.
func Serve(ctx context.Context, shutdownTimeout time.Duration, log *slog.Logger, bindings ...Binding) error {
	errc := make(chan error, len(bindings))
	for _, b := range bindings {
		go func() { errc <- b.Server.Serve(b.Listener) }()
	}
	var errs []error
	running := len(bindings)
	select {
	case err := <-errc:
		running--
		errs = append(errs, fmt.Errorf("serve: %w", err))
		log.Error("serving failed; shutting down", "err", err, "timeout", shutdownTimeout.String())
	case <-ctx.Done():
		log.Info("shutting down", "timeout", shutdownTimeout.String())
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	for _, b := range bindings {
		if err := b.Server.Shutdown(sctx); err != nil {
			// The requests still running are cut off: left running,
			// they would go on using what the caller closes next (the
			// database) while the process exits under them.
			_ = b.Server.Close()
			errs = append(errs, fmt.Errorf("shutdown %s: requests still running after %v were cut off: %w", b.Listener.Addr(), shutdownTimeout, err))
		}
	}
	for range running {
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("serve: %w", err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	log.Info("stopped")
	return nil
}
