package webhook

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/portcullis-dev/portcullis/internal/admission"
	"github.com/portcullis-dev/portcullis/internal/engine"
)

// Metrics are the server's Prometheus metrics, in a registry of their own.
type Metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	rules    *prometheus.CounterVec
}

// NewMetrics creates the metrics and their registry (with the Go and
// process collectors).
func NewMetrics() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_admission_requests_total",
			Help: "Admission requests by webhook, verdict (allowed, denied, error), kind and operation.",
		}, []string{"webhook", "verdict", "kind", "operation"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portcullis_admission_request_duration_seconds",
			Help:    "Time from reading an admission review to writing the answer.",
			Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"webhook"}),
		rules: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_policy_results_total",
			Help: "Rule results at admission by dialect, policy, rule and result.",
		}, []string{"dialect", "policy", "rule", "result"}),
	}
	m.registry.MustRegister(m.requests, m.latency, m.rules,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry returns the registry, so that other components can add metrics.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Handler serves the metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

func (m *Metrics) observe(e Endpoint, review *admission.Review, resp *admissionv1.AdmissionResponse, d time.Duration) {
	verdict, kind, op := "allowed", "", ""
	if review != nil && review.Request != nil {
		kind, op = review.Request.Kind.Kind, string(review.Request.Operation)
	}
	switch {
	case resp == nil:
		verdict = "error"
	case !resp.Allowed && resp.Result != nil && resp.Result.Code == http.StatusInternalServerError:
		verdict = "error"
	case !resp.Allowed:
		verdict = "denied"
	}
	m.requests.WithLabelValues(e.Name, verdict, kind, op).Inc()
	m.latency.WithLabelValues(e.Name).Observe(d.Seconds())
}

func (m *Metrics) results(res engine.Result) {
	for _, r := range res.Rules {
		m.rules.WithLabelValues(r.Policy.Dialect, r.Policy.Name, r.Rule, string(r.Verdict)).Inc()
	}
}
