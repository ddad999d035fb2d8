package admission

import (
	"bytes"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	yaml "go.yaml.in/yaml/v3"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portcullis-dev/portcullis/internal/engine"
)

// Format renders the decisions of one dialect as its original controller
// does: the denial status (kubectl prints its reason and message) and the
// warnings.
type Format interface {
	// Denial renders the status of a denied request; denied are the rule
	// results that block it, all are every result of the request.
	Denial(rv *Review, denied, all []engine.RuleResult) *metav1.Status
	// Warnings renders the warnings of an admitted or denied request.
	Warnings(all []engine.RuleResult) []string
}

// FormatFor returns the format of a dialect's webhook for one phase;
// unknown dialects get Kyverno's. Ratify's policies run in Gatekeeper's
// webhooks, so they get its format.
func FormatFor(dialect string, phase engine.Phase) Format {
	switch dialect {
	case "gatekeeper", "ratify":
		return gatekeeperFormat{}
	case "sigstore":
		return sigstoreFormat{}
	default:
		return kyvernoFormat{mutating: phase == engine.PhaseMutate}
	}
}

// Respond turns an engine result into the admission response of a dialect.
// With ignoreErrors (the webhook's failure policy is Ignore) results that
// block only because they errored do not deny.
func Respond(rv *Review, res engine.Result, f Format, ignoreErrors bool) (*admissionv1.AdmissionResponse, error) {
	req := rv.Request
	var denied []engine.RuleResult
	for _, r := range res.Rules {
		if !r.Blocks() {
			continue
		}
		if ignoreErrors && r.Verdict == engine.Error {
			continue
		}
		denied = append(denied, r)
	}
	warnings := append(f.Warnings(res.Rules), res.Warnings...)
	if res.Incomplete != "" {
		warnings = append(warnings, "portcullis: "+res.Incomplete)
	}
	if len(denied) > 0 {
		return Deny(req.UID, f.Denial(rv, denied, res.Rules), warnings), nil
	}
	resp := Allow(req.UID, warnings)
	patch, err := res.Patch()
	if err != nil {
		return nil, err
	}
	if err := WithPatch(resp, patch); err != nil {
		return nil, err
	}
	return resp, nil
}

// kyvernoFormat is Kyverno's: a Failure status with no code (the API server
// makes it 403) whose message lists, as YAML, the failing rules of the
// policies that block the request.
type kyvernoFormat struct {
	// mutating is set for the mutating webhook, which warns of every
	// mutate and verifyImages rule that failed or erred without blocking.
	mutating bool
}

func (kyvernoFormat) Denial(rv *Review, denied, all []engine.RuleResult) *metav1.Status {
	blocking := map[string]bool{}
	for _, r := range denied {
		blocking[r.Policy.Name] = true
	}
	failures := map[string]map[string]string{}
	for _, r := range all {
		if !blocking[r.Policy.Name] || r.Verdict == engine.Pass || r.Verdict == engine.Skip {
			continue
		}
		if failures[r.Policy.Name] == nil {
			failures[r.Policy.Name] = map[string]string{}
		}
		failures[r.Policy.Name][r.Rule] = r.Message
	}
	msg := fmt.Sprintf("\n\nresource %s was blocked due to the following policies \n\n%s", resourceName(rv), failuresYAML(failures))
	return &metav1.Status{Status: metav1.StatusFailure, Message: msg}
}

// failuresYAML renders policy -> rule -> message as Kyverno does, with
// go.yaml.in/yaml/v3 and an indent of two. Single-line strings are rendered
// one scalar at a time (cached, since the same messages recur), which gives
// the same bytes as encoding the whole map; documents with multi-line
// strings, whose block scalars depend on their indentation, are encoded
// whole.
func failuresYAML(failures map[string]map[string]string) string {
	var b strings.Builder
	policies := slices.Sorted(maps.Keys(failures))
	for _, p := range policies {
		ps, ok := yamlScalar(p)
		if !ok {
			return encodeYAML(failures)
		}
		b.WriteString(ps)
		b.WriteString(":\n")
		rules := failures[p]
		for _, r := range slices.Sorted(maps.Keys(rules)) {
			rs, ok1 := yamlScalar(r)
			ms, ok2 := yamlScalar(rules[r])
			if !ok1 || !ok2 {
				return encodeYAML(failures)
			}
			b.WriteString("  ")
			b.WriteString(rs)
			b.WriteString(": ")
			b.WriteString(ms)
			b.WriteString("\n")
		}
	}
	return b.String()
}

func encodeYAML(v any) string {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	err := enc.Encode(v)
	if cerr := enc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Sprintf("failed to encode failures: %v\n", err)
	}
	return string(bytes.TrimPrefix(buf.Bytes(), []byte("---\n")))
}

// scalarCache holds rendered YAML scalars by string; it stops growing at
// maxCachedScalars entries.
var scalarCache sync.Map

const maxCachedScalars = 4096

var cachedScalars atomic.Int64

// yamlScalar renders a single-line string as a YAML scalar as yaml.v3 would
// inside a block mapping; false for strings it cannot render alone.
func yamlScalar(s string) (string, bool) {
	if strings.ContainsAny(s, "\n\r") {
		return "", false
	}
	if v, ok := scalarCache.Load(s); ok {
		return v.(string), true
	}
	out, err := yaml.Marshal(s)
	if err != nil {
		return "", false
	}
	r := strings.TrimSuffix(string(out), "\n")
	if strings.Contains(r, "\n") {
		return "", false
	}
	if cachedScalars.Load() < maxCachedScalars {
		if _, loaded := scalarCache.LoadOrStore(s, r); !loaded {
			cachedScalars.Add(1)
		}
	}
	return r, true
}

// Warnings are Kyverno's "policy NAME.RULE: MESSAGE" lines: in both
// webhooks for validate rules that fail under Audit with emitWarning
// (ActionWarn), and in the mutating webhook, whose mutation and image
// verification handlers warn of every rule that neither passed nor was
// skipped, for mutate and verifyImages rules that failed or erred without
// blocking (Audit, or failure policy Ignore).
func (f kyvernoFormat) Warnings(all []engine.RuleResult) []string {
	var out []string
	for _, r := range all {
		mutating := f.mutating && (r.Type == engine.Mutation || r.Type == engine.ImageVerify)
		unblocked := (r.Verdict == engine.Error || r.Verdict == engine.Fail) && !r.Blocks()
		if r.Action == engine.ActionWarn || mutating && unblocked {
			out = append(out, fmt.Sprintf("policy %s.%s: %s", r.Policy.Name, r.Rule, r.Message))
		}
	}
	return out
}

// resourceName is Kyverno's Kind/namespace/name of the request's resource.
func resourceName(rv *Review) string {
	req := rv.Request
	kind, ns, name := req.Kind.Kind, req.Namespace, req.Name
	obj := rv.Object
	if obj == nil {
		obj = rv.OldObject
	}
	if obj != nil {
		if k, _ := obj["kind"].(string); k != "" {
			kind = k
		}
		if md, _ := obj["metadata"].(map[string]any); md != nil {
			if n, _ := md["name"].(string); n != "" {
				name = n
			}
			if n, _ := md["namespace"].(string); n != "" {
				ns = n
			}
		}
	}
	return kind + "/" + ns + "/" + name
}

// gatekeeperFormat is Gatekeeper's: 403 Forbidden with one
// "[constraint] message" line per denying violation.
type gatekeeperFormat struct{}

func (gatekeeperFormat) Denial(_ *Review, denied, _ []engine.RuleResult) *metav1.Status {
	lines := make([]string, 0, len(denied))
	for _, r := range denied {
		lines = append(lines, fmt.Sprintf("[%s] %s", r.Policy.Name, r.Message))
	}
	return &metav1.Status{Code: http.StatusForbidden, Reason: metav1.StatusReasonForbidden, Message: strings.Join(lines, "\n")}
}

func (gatekeeperFormat) Warnings(all []engine.RuleResult) []string {
	var out []string
	for _, r := range all {
		if r.Action == engine.ActionWarn && (r.Verdict == engine.Fail || r.Verdict == engine.Error) {
			out = append(out, fmt.Sprintf("[%s] %s", r.Policy.Name, r.Message))
		}
	}
	return out
}

// sigstoreFormat is policy-controller's: 400 BadRequest, "validation
// failed: " followed by the failures.
type sigstoreFormat struct{}

func (sigstoreFormat) Denial(_ *Review, denied, _ []engine.RuleResult) *metav1.Status {
	msgs := make([]string, 0, len(denied))
	for _, r := range denied {
		msgs = append(msgs, r.Message)
	}
	sort.Strings(msgs)
	return &metav1.Status{Code: http.StatusBadRequest, Reason: metav1.StatusReasonBadRequest,
		Message: "validation failed: " + strings.Join(msgs, "\n")}
}

func (sigstoreFormat) Warnings(all []engine.RuleResult) []string {
	var out []string
	for _, r := range all {
		if r.Action == engine.ActionWarn && (r.Verdict == engine.Fail || r.Verdict == engine.Error) {
			out = append(out, r.Message)
		}
	}
	return out
}
