package admission

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portcullis-dev/portcullis/internal/engine"
)

func request(obj string) *Review {
	rv, err := Decode([]byte(`{"apiVersion":"admission.k8s.io/v1","request":{"uid":"uid-1","namespace":"bar","name":"baz","operation":"CREATE","kind":{"version":"v1","kind":"Pod"},"object":` + obj + `}}`))
	if err != nil {
		panic(err)
	}
	return rv
}

func TestKyvernoDenial(t *testing.T) {
	ref := engine.PolicyRef{Dialect: "kyverno", Kind: "ClusterPolicy", Name: "test"}
	other := engine.PolicyRef{Dialect: "kyverno", Kind: "ClusterPolicy", Name: "audit-only"}
	res := engine.Result{Rules: []engine.RuleResult{
		{Policy: ref, Rule: "rule-fail", Verdict: engine.Fail, Action: engine.ActionDeny, Message: "message fail"},
		{Policy: ref, Rule: "rule-error", Verdict: engine.Error, Action: engine.ActionDeny, Message: "message error"},
		{Policy: ref, Rule: "rule-pass", Verdict: engine.Pass, Message: "passed"},
		{Policy: other, Rule: "audited", Verdict: engine.Fail, Action: engine.ActionAudit, Message: "not shown"},
	}}
	resp, err := Respond(request(`{"kind":"Pod","metadata":{"name":"baz","namespace":"bar"}}`), res, FormatFor("kyverno", engine.PhaseValidate), false)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Allowed {
		t.Fatal("allowed")
	}
	// Byte for byte what Kyverno 1.19.1 writes (pkg/webhooks/utils/block_test.go).
	want := "\n\nresource Pod/bar/baz was blocked due to the following policies \n\ntest:\n  rule-error: message error\n  rule-fail: message fail\n"
	if diff := cmp.Diff(want, resp.Result.Message); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if resp.Result.Code != 0 || resp.Result.Status != metav1.StatusFailure {
		t.Errorf("status %+v", resp.Result)
	}

	// With failure policy Ignore, errors alone do not deny.
	errOnly := engine.Result{Rules: []engine.RuleResult{res.Rules[1]}}
	resp, _ = Respond(request(`{}`), errOnly, FormatFor("kyverno", engine.PhaseValidate), true)
	if !resp.Allowed {
		t.Error("an error under failure policy Ignore denied the request")
	}
}

// TestKyvernoWarnings checks the warnings of Kyverno's webhooks: Audit
// failures of emitWarning policies in both, and in the mutating webhook
// mutate and verifyImages rules that failed or erred without blocking.
func TestKyvernoWarnings(t *testing.T) {
	ref := engine.PolicyRef{Dialect: "kyverno", Kind: "ClusterPolicy", Name: "defaults"}
	res := engine.Result{Rules: []engine.RuleResult{
		{Policy: ref, Rule: "add-labels", Type: engine.Mutation, Verdict: engine.Error, Action: engine.ActionAudit, Message: "variable substitution failed"},
		{Policy: ref, Rule: "add-limits", Type: engine.Mutation, Verdict: engine.Pass, Message: "mutated"},
		{Policy: ref, Rule: "signed", Type: engine.ImageVerify, Verdict: engine.Fail, Action: engine.ActionAudit, Message: "failed to verify image x: no signatures found"},
		{Policy: ref, Rule: "audit-warned", Type: engine.Validation, Verdict: engine.Fail, Action: engine.ActionWarn, Message: "label team is required"},
		{Policy: ref, Rule: "audit-silent", Type: engine.Validation, Verdict: engine.Fail, Action: engine.ActionAudit, Message: "not shown"},
	}}
	for phase, want := range map[engine.Phase][]string{
		engine.PhaseMutate: {
			"policy defaults.add-labels: variable substitution failed",
			"policy defaults.signed: failed to verify image x: no signatures found",
			"policy defaults.audit-warned: label team is required",
		},
		engine.PhaseValidate: {"policy defaults.audit-warned: label team is required"},
	} {
		resp, err := Respond(request(`{"kind":"Pod","metadata":{"name":"baz","namespace":"bar"}}`), res, FormatFor("kyverno", phase), true)
		if err != nil {
			t.Fatal(err)
		}
		if !resp.Allowed {
			t.Fatal("denied")
		}
		if diff := cmp.Diff(want, resp.Warnings); diff != "" {
			t.Errorf("%s warnings (-want +got):\n%s", phase, diff)
		}
	}
}

func TestKyvernoDenialQuotesLikeYAML(t *testing.T) {
	ref := engine.PolicyRef{Dialect: "kyverno", Name: "require-resource-limits"}
	res := engine.Result{Rules: []engine.RuleResult{{Policy: ref, Rule: "require-cpu-mem-limits", Verdict: engine.Fail, Action: engine.ActionDeny,
		Message: "validation failure: CPU and memory limits are required on every container."}}}
	resp, _ := Respond(request(`{"kind":"Pod","metadata":{"name":"p","namespace":"default"}}`), res, FormatFor("kyverno", engine.PhaseValidate), false)
	want := "\n\nresource Pod/default/p was blocked due to the following policies \n\nrequire-resource-limits:\n  require-cpu-mem-limits: 'validation failure: CPU and memory limits are required on every container.'\n"
	if diff := cmp.Diff(want, resp.Result.Message); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestGatekeeperDenialAndWarnings(t *testing.T) {
	repo := engine.PolicyRef{Dialect: "gatekeeper", Kind: "K8sAllowedReposv2", Name: "repo-is-cgr-dev"}
	digest := engine.PolicyRef{Dialect: "gatekeeper", Kind: "K8sImageDigests", Name: "container-image-must-have-digest"}
	res := engine.Result{Rules: []engine.RuleResult{
		{Policy: repo, Verdict: engine.Fail, Action: engine.ActionDeny, Message: `container <nginx> has an invalid image <nginx>, allowed images are ["cgr.dev/*"]`},
		{Policy: digest, Verdict: engine.Fail, Action: engine.ActionWarn, Message: "container <nginx> uses an image without a digest <cgr.dev/chainguard/nginx>"},
	}}
	resp, _ := Respond(request(`{}`), res, FormatFor("gatekeeper", engine.PhaseValidate), false)
	if resp.Allowed || resp.Result.Code != 403 || resp.Result.Reason != metav1.StatusReasonForbidden {
		t.Fatalf("response %+v", resp)
	}
	if want := `[repo-is-cgr-dev] container <nginx> has an invalid image <nginx>, allowed images are ["cgr.dev/*"]`; resp.Result.Message != want {
		t.Errorf("message %q, want %q", resp.Result.Message, want)
	}
	if diff := cmp.Diff([]string{"[container-image-must-have-digest] container <nginx> uses an image without a digest <cgr.dev/chainguard/nginx>"}, resp.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

func TestDecodeVersionsAndEncode(t *testing.T) {
	for _, version := range []string{"admission.k8s.io/v1", "admission.k8s.io/v1beta1"} {
		t.Run(version, func(t *testing.T) {
			body := `{"apiVersion":"` + version + `","kind":"AdmissionReview","request":{"uid":"u1","kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE","object":{"kind":"Pod","spec":{"replicas":3}}}}`
			rv, err := Decode([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			req := EngineRequest(rv, engine.PhaseValidate)
			if req.UID != "u1" || req.Operation != engine.Create || req.Object["spec"].(map[string]any)["replicas"] != int64(3) {
				t.Errorf("request %+v", req)
			}
			resp := Allow(rv.Request.UID, []string{"w"})
			if err := WithPatch(resp, []engine.PatchOperation{{Op: "add", Path: "/a", Value: 1}}); err != nil {
				t.Fatal(err)
			}
			out, err := Encode(rv, resp)
			if err != nil {
				t.Fatal(err)
			}
			var back map[string]any
			json.Unmarshal(out, &back)
			if back["apiVersion"] != version || back["response"].(map[string]any)["uid"] != "u1" || back["response"].(map[string]any)["patchType"] != "JSONPatch" {
				t.Errorf("encoded %s", out)
			}
		})
	}
	if _, err := Decode([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`)); err != ErrNoRequest {
		t.Errorf("err %v, want ErrNoRequest", err)
	}
	if _, err := Decode([]byte(`{"apiVersion":"admission.k8s.io/v2"}`)); err == nil || !strings.Contains(err.Error(), "unsupported") {
		t.Errorf("err %v", err)
	}
}

// FuzzDecode checks that no AdmissionReview body panics the decoder.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE","object":{"a":1}}}`))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1beta1","request":{"uid":"u","oldObject":null}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		rv, err := Decode(body)
		if err != nil {
			return
		}
		EngineRequest(rv, engine.PhaseAll)
		Encode(rv, Allow(rv.Request.UID, nil))
	})
}

// TestFailuresYAMLMatchesEncoder checks the scalar-by-scalar rendering
// against yaml.v3 encoding the whole map, on the messages of every rule
// result the conformance corpus and tricky strings produce.
func TestFailuresYAMLMatchesEncoder(t *testing.T) {
	messages := []string{
		"", "plain", "true", "null", "123", "1.5", "- dash", "a: b", "key: value with 'quotes'",
		`double "quotes"`, "ends with colon:", "# hash", "tab\there", "unicode é ✓", "  leading space",
		"trailing space ", "{braces}", "[brackets]", "*star", "&anchor", "!tag", "%percent", "@at", "`tick",
		"validation error: label 'team' is required. rule check-team failed at path /metadata/labels/team/",
		"multi\nline", "multi\nline\n", strings.Repeat("long ", 50),
	}
	for _, m := range messages {
		f := map[string]map[string]string{"policy-a": {"rule-1": m, "rule-2": "x"}, "b": {"r": m}}
		if got, want := failuresYAML(f), encodeYAML(f); got != want {
			t.Errorf("message %q:\ngot  %q\nwant %q", m, got, want)
		}
	}
}
