package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/manifest"
	"github.com/portcullis-dev/portcullis/internal/policy/kyverno"
)

const policies = `apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: require-team}
spec:
  validationFailureAction: Enforce
  rules:
  - name: team
    match: {any: [{resources: {kinds: [Pod]}}]}
    validate:
      message: "team label required"
      pattern: {metadata: {labels: {team: "?*"}}}
---
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: add-owner}
spec:
  rules:
  - name: owner
    match: {any: [{resources: {kinds: [Pod]}}]}
    mutate:
      patchStrategicMerge: {metadata: {labels: {+(owner): platform}}}
`

func newServer(t *testing.T, ready func() error) (*Server, *httptest.Server) {
	t.Helper()
	var docs []engine.Document
	if err := manifest.Decode(strings.NewReader(policies), "p.yaml", func(o manifest.Object) error {
		docs = append(docs, engine.Document{Source: o.Source, Object: o.Object})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	set, errs := engine.New(kyverno.New()).Compile(docs)
	if len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	s := New(logr.Discard(), NewMetrics(), ready)
	s.Update(NewSnapshot(set, engine.Cluster{}))
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return s, ts
}

func review(uid, labels string) string {
	return `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"` + uid + `",
"kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},
"namespace":"default","name":"p","operation":"CREATE","userInfo":{"username":"alice"},
"object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default","labels":{` + labels + `}},"spec":{"containers":[{"name":"c","image":"x"}]}}}}`
}

func post(t *testing.T, url, body string) (int, *admissionv1.AdmissionReview) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil
	}
	var rv admissionv1.AdmissionReview
	if err := json.Unmarshal(data, &rv); err != nil {
		t.Fatalf("%v: %s", err, data)
	}
	return resp.StatusCode, &rv
}

func TestValidateAndMutate(t *testing.T) {
	_, ts := newServer(t, nil)
	code, rv := post(t, ts.URL+"/validate/fail?timeout=10s", review("u1", ""))
	if code != 200 || rv.Response.UID != "u1" || rv.Response.Allowed {
		t.Fatalf("code %d response %+v", code, rv.Response)
	}
	if !strings.Contains(rv.Response.Result.Message, "resource Pod/default/p was blocked due to the following policies") {
		t.Errorf("message %q", rv.Response.Result.Message)
	}
	_, rv = post(t, ts.URL+"/validate/fail", review("u2", `"team":"x"`))
	if !rv.Response.Allowed {
		t.Errorf("compliant pod denied: %+v", rv.Response.Result)
	}
	_, rv = post(t, ts.URL+"/mutate/fail", review("u3", `"team":"x"`))
	if !rv.Response.Allowed || string(rv.Response.Patch) != `[{"op":"add","path":"/metadata/labels/owner","value":"platform"}]` {
		t.Errorf("mutation %+v patch %s", rv.Response, rv.Response.Patch)
	}
	// The ignore webhook has no policies: it admits.
	_, rv = post(t, ts.URL+"/validate/ignore", review("u4", ""))
	if !rv.Response.Allowed {
		t.Error("an endpoint without policies denied")
	}
}

func TestBounds(t *testing.T) {
	s, ts := newServer(t, nil)
	if code, _ := post(t, ts.URL+"/validate/fail", strings.Repeat(" ", MaxRequestBytes+1)); code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d", code)
	}
	resp, _ := http.Get(ts.URL + "/validate/fail")
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
	code, rv := post(t, ts.URL+"/validate/fail", `{"apiVersion":"admission.k8s.io/v1","request":{"uid":"bad","object":"not an object"}}`)
	if code != 200 || rv.Response.UID != "bad" || rv.Response.Allowed {
		t.Errorf("undecodable object: %d %+v", code, rv)
	}
	code, rv = post(t, ts.URL+"/validate/ignore", `{"apiVersion":"admission.k8s.io/v1","request":{"uid":"bad2","object":"not an object"}}`)
	if code != 200 || !rv.Response.Allowed || len(rv.Response.Warnings) == 0 {
		t.Errorf("errors under Ignore must admit with a warning: %+v", rv.Response)
	}

	// A panic in evaluation still answers with the UID.
	s.Update(&Snapshot{Sets: map[string]*engine.Set{"/validate/fail": panicSet(t)}})
	code, rv = post(t, ts.URL+"/validate/fail", review("u-panic", ""))
	if code != 200 || rv.Response.UID != "u-panic" || rv.Response.Allowed {
		t.Errorf("panic: %d %+v", code, rv)
	}
}

func TestNotReady(t *testing.T) {
	notReady := func() error { return context.DeadlineExceeded }
	_, ts := newServer(t, notReady)
	if code, _ := post(t, ts.URL+"/validate/fail", review("u", "")); code != http.StatusServiceUnavailable {
		t.Errorf("admission before sync: %d, want 503", code)
	}
	resp, _ := http.Get(ts.URL + "/readyz")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("readyz: %d", resp.StatusCode)
	}
	resp, _ = http.Get(ts.URL + "/healthz")
	if resp.StatusCode != http.StatusOK {
		t.Errorf("healthz: %d", resp.StatusCode)
	}
}

func TestMetrics(t *testing.T) {
	_, ts := newServer(t, nil)
	post(t, ts.URL+"/validate/fail", review("u1", ""))
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	io.Copy(&buf, resp.Body)
	for _, want := range []string{
		`portcullis_admission_requests_total{kind="Pod",operation="CREATE",verdict="denied",webhook="validate.kyverno.svc-fail"} 1`,
		`portcullis_policy_results_total{dialect="kyverno",policy="require-team",result="fail",rule="team"} 1`,
		`portcullis_admission_request_duration_seconds_bucket`,
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// panicSet is a set whose only policy panics.
func panicSet(t *testing.T) *engine.Set {
	t.Helper()
	set, _ := engine.New(panicDialect{}).Compile([]engine.Document{{Source: "x", Object: map[string]any{"apiVersion": "x/v1", "kind": "Panic"}}})
	return set
}

type panicDialect struct{}

func (panicDialect) Name() string                         { return "kyverno" }
func (panicDialect) Handles(schema.GroupVersionKind) bool { return true }
func (panicDialect) Compile(docs []engine.Document) ([]engine.Policy, field.ErrorList) {
	return []engine.Policy{panicPolicy{}}, nil
}

type panicPolicy struct{}

func (panicPolicy) Ref() engine.PolicyRef        { return engine.PolicyRef{Dialect: "kyverno", Name: "boom"} }
func (panicPolicy) FailureAction() engine.Action { return engine.ActionDeny }
func (panicPolicy) Evaluate(context.Context, *engine.Request, engine.Cluster) engine.Outcome {
	panic("boom")
}

func TestDenialLogIsRateLimited(t *testing.T) {
	var lines []string
	var mu sync.Mutex
	log := funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, args)
	}, funcr.Options{})
	s, ts := newServer(t, nil)
	s.log = log
	s.SetDenialLogRate(1) // a burst of 2, then one a second
	for i := range 5 {
		post(t, ts.URL+"/validate/fail", review(fmt.Sprint("d", i), ""))
	}
	post(t, ts.URL+"/validate/fail", review("allowed", `"team":"x"`))
	mu.Lock()
	if len(lines) != 2 || !strings.Contains(lines[0], `"rules"="require-team/team"`) {
		t.Fatalf("want 2 denial lines, got %q", lines)
	}
	mu.Unlock()
	s.SetDenialLogRate(0)
	post(t, ts.URL+"/validate/fail", review("d5", ""))
	mu.Lock()
	defer mu.Unlock()
	if len(lines) != 3 || !strings.Contains(lines[2], `"unloggedDenials"=3`) {
		t.Fatalf("the next line must count the 3 left out: %q", lines)
	}
}
