// Package webhook serves the admission webhooks over HTTPS: one validating
// and one mutating webhook per dialect and failure policy, each dispatching
// to its policies inside. It bounds every request (body size, the deadline
// the API server gives, panic recovery that still answers the request's UID)
// and exposes /metrics, /healthz and /readyz. Decisions come from the
// engine; rendering from the admission package.
package webhook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/portcullis-dev/portcullis/internal/admission"
	"github.com/portcullis-dev/portcullis/internal/engine"
)

// MaxRequestBytes bounds an AdmissionReview body. The API server sends
// objects of up to about 3 MiB, twice for updates.
const MaxRequestBytes = 7 << 20

// DefaultTimeout is the evaluation deadline when the API server gives none.
const DefaultTimeout = 10 * time.Second

// Endpoint is one webhook the server serves.
type Endpoint struct {
	// Name is the webhook's name, which kubectl prints in every denial,
	// e.g. "validate.kyverno.svc-fail".
	Name string
	// Path is the URL path, e.g. "/validate/fail".
	Path string
	// Dialect is the dialect whose policies the endpoint evaluates.
	Dialect string
	// Phase is PhaseValidate or PhaseMutate.
	Phase engine.Phase
	// Ignore is set for the endpoints of failurePolicy Ignore policies:
	// their errors do not deny.
	Ignore bool
}

// Endpoints are every webhook portcullis can serve, with the names and
// paths of the controllers whose policies they run.
var Endpoints = []Endpoint{
	{Name: "validate.kyverno.svc-fail", Path: "/validate/fail", Dialect: "kyverno", Phase: engine.PhaseValidate},
	{Name: "validate.kyverno.svc-ignore", Path: "/validate/ignore", Dialect: "kyverno", Phase: engine.PhaseValidate, Ignore: true},
	{Name: "mutate.kyverno.svc-fail", Path: "/mutate/fail", Dialect: "kyverno", Phase: engine.PhaseMutate},
	{Name: "mutate.kyverno.svc-ignore", Path: "/mutate/ignore", Dialect: "kyverno", Phase: engine.PhaseMutate, Ignore: true},
	{Name: "validation.gatekeeper.sh", Path: "/v1/admit", Dialect: "gatekeeper", Phase: engine.PhaseValidate},
	{Name: "policy.sigstore.dev", Path: "/validations", Dialect: "sigstore", Phase: engine.PhaseValidate},
	{Name: "defaulting.policy.sigstore.dev", Path: "/mutations", Dialect: "sigstore", Phase: engine.PhaseMutate},
	// Ratify's chart installs a Gatekeeper mutation that resolves image
	// tags to digests before Gatekeeper validates them; its webhook is
	// Gatekeeper's mutating one.
	{Name: "mutation.gatekeeper.sh", Path: "/v1/mutate", Dialect: "ratify", Phase: engine.PhaseMutate},
}

// Selects reports whether a policy belongs to the endpoint: its dialect and
// its failure policy.
func (e Endpoint) Selects(p engine.Policy) bool {
	if p.Ref().Dialect != e.Dialect {
		return false
	}
	if e.Dialect == "kyverno" {
		return (p.FailureAction() == engine.ActionDeny) != e.Ignore
	}
	return true
}

// Snapshot is what the server evaluates against: immutable, swapped as a
// whole when policies change.
type Snapshot struct {
	// Sets holds the policies of each endpoint, by path.
	Sets map[string]*engine.Set
	// Cluster is the cluster data the policies read.
	Cluster engine.Cluster
}

// NewSnapshot splits a compiled set by endpoint.
func NewSnapshot(set *engine.Set, cluster engine.Cluster) *Snapshot {
	s := &Snapshot{Sets: map[string]*engine.Set{}, Cluster: cluster}
	for _, e := range Endpoints {
		s.Sets[e.Path] = set.Select(e.Selects)
	}
	return s
}

// Server is the webhook server.
type Server struct {
	snapshot atomic.Pointer[Snapshot]
	ready    func() error
	metrics  *Metrics
	log      logr.Logger
	// denialLines bounds the denial log lines per second; lines over the
	// limit are counted and reported in the next line that is written.
	denialLines *rate.Limiter
	suppressed  atomic.Int64
}

// DefaultDenialLogRate is how many denial lines per second are logged by
// default, with a burst of twice as many. Every denial is counted in the
// metrics whatever the limit.
const DefaultDenialLogRate = 100

// New returns a server. ready reports whether every policy source has
// synced; until it returns nil, admission requests get HTTP 503 so that the
// API server applies the webhook's failure policy, and /readyz fails.
func New(log logr.Logger, metrics *Metrics, ready func() error) *Server {
	if ready == nil {
		ready = func() error { return nil }
	}
	s := &Server{log: log, metrics: metrics, ready: ready, denialLines: rate.NewLimiter(rate.Inf, 0)}
	s.SetDenialLogRate(DefaultDenialLogRate)
	return s
}

// SetDenialLogRate sets how many denial lines per second are logged; 0 logs
// every denial.
func (s *Server) SetDenialLogRate(perSecond int) {
	if perSecond <= 0 {
		s.denialLines.SetLimit(rate.Inf)
		return
	}
	s.denialLines.SetBurst(2 * perSecond)
	s.denialLines.SetLimit(rate.Limit(perSecond))
}

// Update installs a new snapshot.
func (s *Server) Update(snap *Snapshot) { s.snapshot.Store(snap) }

// Ready reports whether the server can admit requests: a snapshot is
// installed and every source has synced.
func (s *Server) Ready() error {
	if s.snapshot.Load() == nil {
		return errors.New("policies are not loaded yet")
	}
	return s.ready()
}

// Handler returns the HTTP handler with every endpoint, /metrics, /healthz
// and /readyz.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, e := range Endpoints {
		mux.Handle(e.Path, s.endpoint(e))
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := s.Ready(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	})
	if s.metrics != nil {
		mux.Handle("/metrics", s.metrics.Handler())
	}
	return mux
}

// ServedEndpoints returns the endpoints that have policies in the current
// snapshot.
func (s *Server) ServedEndpoints() []Endpoint {
	snap := s.snapshot.Load()
	var out []Endpoint
	for _, e := range Endpoints {
		if snap != nil && snap.Sets[e.Path] != nil && snap.Sets[e.Path].Len() > 0 {
			out = append(out, e)
		}
	}
	return out
}

func (s *Server) endpoint(e Endpoint) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		if r.Method != http.MethodPost {
			http.Error(w, "admission reviews are POSTed", http.StatusMethodNotAllowed)
			return
		}
		if err := s.Ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBytes+1))
		if err != nil {
			http.Error(w, "failed to read the request body", http.StatusBadRequest)
			return
		}
		if len(body) > MaxRequestBytes {
			http.Error(w, fmt.Sprintf("request body larger than %d bytes", MaxRequestBytes), http.StatusRequestEntityTooLarge)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), deadline(r))
		defer cancel()
		review, resp := s.review(ctx, e, body)
		out, err := admission.Encode(review, resp)
		if err != nil {
			http.Error(w, "failed to encode the response", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(out)
		if s.metrics != nil {
			s.metrics.observe(e, review, resp, time.Since(start))
		}
	})
}

// deadline returns the time evaluation may take: the API server's timeout
// parameter minus a margin for the round trip, or DefaultTimeout.
func deadline(r *http.Request) time.Duration {
	t := DefaultTimeout
	if v := r.URL.Query().Get("timeout"); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			t = d
		}
	}
	margin := t / 10
	if margin > time.Second {
		margin = time.Second
	}
	return t - margin
}

// review decodes, evaluates and answers one request. A panic anywhere is
// recovered and still answered with the request's UID.
func (s *Server) review(ctx context.Context, e Endpoint, body []byte) (review *admission.Review, resp *admissionv1.AdmissionResponse) {
	defer func() {
		if p := recover(); p != nil {
			uid := admission.UID(body)
			s.log.Error(fmt.Errorf("panic: %v", p), "recovered while handling an admission request", "webhook", e.Name, "uid", uid)
			resp = admission.Errored(uid, fmt.Errorf("internal error while evaluating policies"), e.Ignore)
		}
	}()
	review, err := admission.Decode(body)
	if err != nil {
		return nil, admission.Errored(admission.UID(body), err, e.Ignore)
	}
	req := admission.EngineRequest(review, e.Phase)
	snap := s.snapshot.Load()
	set := snap.Sets[e.Path]
	if set == nil || set.Len() == 0 {
		return review, admission.Allow(review.Request.UID, nil)
	}
	res := set.Evaluate(ctx, req, snap.Cluster)
	resp, err = admission.Respond(review, res, admission.FormatFor(e.Dialect, e.Phase), e.Ignore)
	if err != nil {
		return review, admission.Errored(review.Request.UID, err, e.Ignore)
	}
	if s.metrics != nil {
		s.metrics.results(res)
	}
	if !resp.Allowed {
		s.logDenial(e, review, req, res, resp)
	}
	return review, resp
}

// logDenial writes one short line per denial: which rules denied what. The
// full message (what kubectl shows) is logged at verbosity 1. Under a storm
// of denials the lines are rate limited, and the next line written says how
// many were left out.
func (s *Server) logDenial(e Endpoint, review *admission.Review, req engine.Request, res engine.Result, resp *admissionv1.AdmissionResponse) {
	if !s.denialLines.Allow() {
		s.suppressed.Add(1)
		return
	}
	kv := []any{"webhook", e.Name, "uid", review.Request.UID, "operation", review.Request.Operation,
		"kind", review.Request.Kind.Kind, "namespace", review.Request.Namespace, "name", review.Request.Name,
		"dryRun", req.DryRun, "rules", deniedRules(res)}
	if n := s.suppressed.Swap(0); n > 0 {
		kv = append(kv, "unloggedDenials", n)
	}
	s.log.Info("denied", kv...)
	s.log.V(1).Info("denial message", "uid", review.Request.UID, "message", strings.TrimSpace(resp.Result.Message))
}

// deniedRules lists the policy/rule of every result that blocked a request.
func deniedRules(res engine.Result) string {
	var b strings.Builder
	for _, r := range res.Rules {
		if !r.Blocks() {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(r.Policy.Name)
		if r.Rule != "" {
			b.WriteByte('/')
			b.WriteString(r.Rule)
		}
	}
	return b.String()
}
