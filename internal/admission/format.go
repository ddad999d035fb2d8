package admission

import (
	"bytes"
	"fmt"
	"net/http"
	"sort"
	"strings"

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

// FormatFor returns the format of a dialect; unknown dialects get Kyverno's.
func FormatFor(dialect string) Format {
	switch dialect {
	case "gatekeeper":
		return gatekeeperFormat{}
	case "sigstore":
		return sigstoreFormat{}
	default:
		return kyvernoFormat{}
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
type kyvernoFormat struct{}

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
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	err := enc.Encode(failures)
	if cerr := enc.Close(); err == nil {
		err = cerr
	}
	results := bytes.TrimPrefix(buf.Bytes(), []byte("---\n"))
	if err != nil {
		results = []byte(fmt.Sprintf("failed to encode failures: %v\n", err))
	}
	msg := fmt.Sprintf("\n\nresource %s was blocked due to the following policies \n\n%s", resourceName(rv), results)
	return &metav1.Status{Status: metav1.StatusFailure, Message: msg}
}

func (kyvernoFormat) Warnings(all []engine.RuleResult) []string {
	var out []string
	for _, r := range all {
		if r.Action == engine.ActionWarn {
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
