package provider

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/hallpass/hallpass/storage/sqlstore"
)

// Tracing: a server span per request (observe), and child spans for
// storage statements, password checks and signatures. Spans carry no
// secrets: no tokens, no passwords, no statement values.

// queryObserver is a store that reports its statements (sqlstore.Store).
type queryObserver interface {
	ObserveQueries(fn sqlstore.QueryObserver)
}

// tracerOr returns t, or a tracer that records nothing.
func tracerOr(t trace.Tracer) trace.Tracer {
	if t == nil {
		return noop.NewTracerProvider().Tracer("")
	}
	return t
}

// storageSpan starts the span of one storage statement.
func (p *Provider) storageSpan(ctx context.Context, query string) func(error) {
	d := p.statements.describe(query)
	_, span := p.tracer.Start(ctx, d.name, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.statement", d.text)))
	return func(err error) {
		if errors.Is(err, sql.ErrNoRows) {
			err = nil
		}
		endSpan(span, err)
	}
}

// statementNames remembers the span name and one-line text of each
// statement the store runs: the store's statements are a fixed set, and
// splitting each one's text into words twice per run showed in profiles.
type statementNames struct {
	m sync.Map // query → statementDesc
	n atomic.Int64
}

// statementDesc is what a storage span says of its statement.
type statementDesc struct{ name, text string }

// maxRememberedStatements bounds statementNames should the store ever
// build statements from data; past it, descriptions are made each time.
const maxRememberedStatements = 1024

func (s *statementNames) describe(query string) statementDesc {
	if d, ok := s.m.Load(query); ok {
		return d.(statementDesc)
	}
	d := statementDesc{name: "storage " + statementName(query), text: strings.Join(strings.Fields(query), " ")}
	if s.n.Load() < maxRememberedStatements {
		if _, loaded := s.m.LoadOrStore(query, d); !loaded {
			s.n.Add(1)
		}
	}
	return d
}

// statementName names a statement by its verb and first table:
// "SELECT clients", "UPDATE audit_head".
func statementName(query string) string {
	f := strings.Fields(query)
	if len(f) == 0 {
		return "statement"
	}
	verb := strings.ToUpper(f[0])
	after := map[string]string{"SELECT": "FROM", "DELETE": "FROM", "INSERT": "INTO", "UPDATE": ""}[verb]
	for i := 1; i < len(f); i++ {
		if after == "" || strings.EqualFold(f[i-1], after) {
			return verb + " " + strings.Trim(f[i], "(),")
		}
	}
	return verb
}

// endSpan ends span, marking it failed when err is not nil.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

type spanNoteKey struct{}

// spanNote collects what handlers learn about a request for its span.
type spanNote struct{ clientID string }

// noteClientID records the client a request turned out to be for, for
// its span.
func noteClientID(ctx context.Context, id string) {
	if n, ok := ctx.Value(spanNoteKey{}).(*spanNote); ok {
		n.clientID = id
	}
}

// spanText is client-chosen text (a path, a user agent, a client id) as
// a span attribute holds it: valid UTF-8, any other byte as U+FFFD. OTLP
// carries attributes as protobuf strings, and the exporter refuses to
// encode one that is not UTF-8: the whole batch it is in, every other
// request's spans with it, would be dropped.
func spanText(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// spanClientID is the client_id of a request's span: what a handler
// noted, else the HTTP Basic user or the query's client_id (never the
// body, which only its handler reads).
func spanClientID(n *spanNote, user string, hasBasic bool, query url.Values) string {
	switch {
	case n.clientID != "":
		return n.clientID
	case hasBasic:
		if id, err := url.QueryUnescape(user); err == nil {
			return id
		}
		return user
	}
	return query.Get("client_id")
}
