package provider

import (
	"context"
	"log/slog"

	"github.com/hallpass/hallpass/telemetry"
)

// observedLogger returns log adding, to each line logged with a context,
// the trace and span ids of a traced request (telemetry.LogHandler) and
// the request's id when the line does not carry one already: each line of
// a request (a failure deep in a handler, readiness, introspection at
// debug level) is found from its X-Request-Id without every call site
// remembering to add it. A logger it returned is returned as it is.
func observedLogger(log *slog.Logger) *slog.Logger {
	if _, ok := log.Handler().(requestIDHandler); ok {
		return log
	}
	return slog.New(requestIDHandler{telemetry.LogHandler(log.Handler())})
}

// requestIDHandler is the slog.Handler of observedLogger.
type requestIDHandler struct{ slog.Handler }

func (l requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" && !hasRequestID(r) {
		r = r.Clone()
		r.AddAttrs(slog.String("request_id", id))
	}
	return l.Handler.Handle(ctx, r)
}

func (l requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return requestIDHandler{l.Handler.WithAttrs(as)}
}

func (l requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{l.Handler.WithGroup(name)}
}

// hasRequestID reports whether the record names its request already (the
// call sites that add request_id themselves).
func hasRequestID(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == "request_id"
		return !found
	})
	return found
}
