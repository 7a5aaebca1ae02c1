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
	// For operators' alerts (README "Audit and observability").
	signins        *prometheus.CounterVec
	tokensByClient *prometheus.CounterVec
	tokenReuse     *prometheus.CounterVec
	storageErrors  *prometheus.CounterVec
	passwordWait   prometheus.Histogram
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
		signins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hallpass_signins_total",
			Help: "Sign-in attempts at the login form, by outcome: success, wrong_password, unknown_user, disabled, throttled (refused by a login limit), busy (no password check could start in time).",
		}, []string{"outcome"}),
		tokensByClient: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hallpass_tokens_issued_by_client_total",
			Help: "Access tokens issued by the token endpoint, by grant type and client_id.",
		}, []string{"grant_type", "client_id"}),
		tokenReuse: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hallpass_token_reuse_detections_total",
			Help: "One-time credentials (refresh tokens, authorization codes) presented again, whose grant was revoked, by grant type.",
		}, []string{"grant_type"}),
		storageErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hallpass_storage_errors_total",
			Help: "Operations the database failed (unreachable, timed out, driver errors), by operation; lost races and missing rows are not errors.",
		}, []string{"operation"}),
		passwordWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hallpass_password_check_wait_seconds",
			Help:    "How long requests waited for a password-check (argon2id) slot, including those that gave up.",
			Buckets: []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5},
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.tokensIssued, m.logins,
		m.signins, m.tokensByClient, m.tokenReuse, m.storageErrors, m.passwordWait} {
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

// registerAuditMetrics adds the count of audit entries the store refused.
func registerAuditMetrics(reg prometheus.Registerer, failures func() int64) error {
	c := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "hallpass_audit_append_failures_total",
		Help: "Audit entries that could not be stored (each was logged at error level instead).",
	}, func() float64 { return float64(failures()) })
	if err := reg.Register(c); err != nil {
		return fmt.Errorf("register audit metrics: %w", err)
	}
	return nil
}

// failureObserver is a store that reports its failures (sqlstore.Store).
type failureObserver interface {
	ObserveFailures(fn func(op string))
}
