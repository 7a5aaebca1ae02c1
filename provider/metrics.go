package provider

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the provider's Prometheus series. They live on a registry
// passed in (never the global one) so several providers can run in one
// process, as tests do.
type metrics struct {
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	tokensIssued *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hallpass_http_requests_total",
			Help: "HTTP requests served, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hallpass_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		tokensIssued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hallpass_tokens_issued_total",
			Help: "Access tokens issued by the token endpoint, by grant type.",
		}, []string{"grant_type"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.tokensIssued} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}

func registerRuntimeCollectors(reg *prometheus.Registry) {
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}
