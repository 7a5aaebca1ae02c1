// Package telemetry sets up OpenTelemetry tracing from the standard OTEL_*
// environment variables (an OTLP over HTTP exporter; off when none is
// configured) and puts the trace and span ids of a request into its log
// lines. The spans themselves are made where the work is: the provider
// (a span per request, password hashing, signing) and the SQL store (a
// span per statement, through sqlstore.Store.ObserveQueries).
package telemetry
