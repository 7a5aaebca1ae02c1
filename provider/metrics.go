package provider

import (
	"fmt"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/hallpass/hallpass/keys"
	"github.com/hallpass/hallpass/storage"
)

// metrics are the provider's Prometheus series. They live on a registry
// passed in (never the global one) so several providers can run in one
// process, as tests do.
type metrics struct {
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	tokensIssued *prometheus.CounterVec
	logins       *prometheus.CounterVec
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
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hallpass_logins_total",
			Help: "Login form submissions, by result: success, failure (wrong credentials), throttled (refused by a login limit, password not checked), busy (no password check could start in time).",
		}, []string{"result"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.tokensIssued, m.logins} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}

func registerRuntimeCollectors(reg *prometheus.Registry) {
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

// registerKeyMetrics adds gauges computed from the key manager's Status at
// scrape time, so they never lag what the process signs with. Times are
// NaN until the keys are loaded.
func registerKeyMetrics(reg prometheus.Registerer, km interface{ Status() keys.Status }, now func() time.Time) error {
	since := func(t time.Time) float64 {
		if t.IsZero() {
			return math.NaN()
		}
		return now().Sub(t).Seconds()
	}
	gauges := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hallpass_signing_key_active_age_seconds",
			Help: "How long the signing key this process signs with has been active.",
		}, func() float64 { return since(km.Status().ActivatedAt) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hallpass_signing_key_next_rotation_seconds",
			Help: "Time until the next scheduled key rotation; negative when overdue.",
		}, func() float64 { return -since(km.Status().RotatesAt) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hallpass_signing_keys_loaded_age_seconds",
			Help: "Time since this process last reloaded the signing keys; at twice the key refresh interval it stops signing.",
		}, func() float64 { return since(km.Status().LoadedAt) }),
	}
	for _, state := range []storage.KeyState{storage.KeyNext, storage.KeyActive, storage.KeyRetired} {
		gauges = append(gauges, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "hallpass_signing_keys",
			Help:        "Signing keys this process publishes in the JWKS, by state.",
			ConstLabels: prometheus.Labels{"state": string(state)},
		}, func() float64 { return float64(km.Status().Published[state]) }))
	}
	for _, g := range gauges {
		if err := reg.Register(g); err != nil {
			return fmt.Errorf("register key metrics: %w", err)
		}
	}
	return nil
}
