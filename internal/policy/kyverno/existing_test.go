package kyverno_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-dev/portcullis/internal/engine"
)

// existingPolicies are enforcing rules of each kind, and the same with
// allowExistingViolations off, and an Audit one.
const existingPolicies = `
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: team-label
spec:
  validationFailureAction: Enforce
  rules:
  - name: pattern
    match:
      any:
      - resources:
          kinds: [Pod]
    validate:
      message: "label team is required"
      pattern:
        metadata:
          labels:
            team: "?*"
  - name: strict
    match:
      any:
      - resources:
          kinds: [Pod]
    validate:
      allowExistingViolations: false
      message: "label team is required"
      pattern:
        metadata:
          labels:
            team: "?*"
  - name: protected
    match:
      any:
      - resources:
          kinds: [Pod]
          selector:
            matchLabels:
              protected: "true"
    validate:
      message: "protected Pods are not changed"
      deny:
        conditions:
          any:
          - key: "{{ request.operation }}"
            operator: Equals
            value: UPDATE
  - name: restricted
    match:
      any:
      - resources:
          kinds: [Pod]
    validate:
      podSecurity:
        level: restricted
        version: latest
---
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: team-label-audit
spec:
  validationFailureAction: Audit
  rules:
  - name: pattern
    match:
      any:
      - resources:
          kinds: [Pod]
    validate:
      message: "label team is required"
      pattern:
        metadata:
          labels:
            team: "?*"
`

func existingPod(labels string, privileged bool) string {
	return fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata:
  name: app
  namespace: default
  labels: {%s}
spec:
  securityContext:
    runAsNonRoot: true
    seccompProfile:
      type: RuntimeDefault
  containers:
  - name: app
    image: nginx
    securityContext:
      privileged: %t
      allowPrivilegeEscalation: false
      capabilities:
        drop: [ALL]
`, labels, privileged)
}

// TestAllowExistingViolations checks that an enforcing rule lets an UPDATE
// through when the old object already violated it, as Kyverno's
// allowExistingViolations (true unless set false) does.
func TestAllowExistingViolations(t *testing.T) {
	set := compile(t, existingPolicies)
	const skipped = "skipping the rule evaluation as pre-existing violations are allowed"
	type rv struct {
		Policy, Rule string
		Verdict      engine.Verdict
		Message      string
	}
	run := func(t *testing.T, old, new string, op engine.Operation) map[string]rv {
		t.Helper()
		req := admission(object(t, new), op)
		if old != "" {
			req.OldObject = object(t, old)
		}
		res := set.Evaluate(context.Background(), req, engine.Cluster{})
		out := map[string]rv{}
		for _, r := range res.Rules {
			msg := r.Message
			if r.Verdict != engine.Skip {
				msg = ""
			}
			out[r.Policy.Name+"/"+r.Rule] = rv{r.Policy.Name, r.Rule, r.Verdict, msg}
		}
		return out
	}
	verdictOf := func(m map[string]rv, key string) string {
		r, ok := m[key]
		if !ok {
			return "none"
		}
		if r.Message != "" {
			return string(r.Verdict) + ": " + r.Message
		}
		return string(r.Verdict)
	}
	cases := []struct {
		name     string
		old, new string
		op       engine.Operation
		want     map[string]string
	}{
		{
			name: "old and new violate: enforcing rules skip, strict and audit rules fail",
			old:  existingPod("app: web", true), new: existingPod("app: api", true), op: engine.Update,
			want: map[string]string{
				"team-label/pattern":       "skip: " + skipped,
				"team-label/strict":        "fail",
				"team-label/restricted":    "skip: " + skipped,
				"team-label-audit/pattern": "fail",
			},
		},
		{
			name: "only the new object violates: every rule fails",
			old:  existingPod("team: a", false), new: existingPod("app: api", true), op: engine.Update,
			want: map[string]string{
				"team-label/pattern":       "fail",
				"team-label/strict":        "fail",
				"team-label/restricted":    "fail",
				"team-label-audit/pattern": "fail",
			},
		},
		{
			name: "a CREATE is judged alone",
			new:  existingPod("app: api", true), op: engine.Create,
			want: map[string]string{
				"team-label/pattern":       "fail",
				"team-label/strict":        "fail",
				"team-label/restricted":    "fail",
				"team-label-audit/pattern": "fail",
			},
		},
		{
			// The old object is judged as its CREATE, which the deny on
			// UPDATE allows: the update is still denied.
			name: "a rule that denies updates still denies them",
			old:  existingPod("team: a, protected: \"true\"", false), new: existingPod("team: b, protected: \"true\"", false), op: engine.Update,
			want: map[string]string{
				"team-label/pattern":       "pass",
				"team-label/strict":        "pass",
				"team-label/protected":     "fail",
				"team-label/restricted":    "pass",
				"team-label-audit/pattern": "pass",
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := run(t, c.old, c.new, c.op)
			gotV := map[string]string{}
			for k := range c.want {
				gotV[k] = verdictOf(got, k)
			}
			if d := cmp.Diff(c.want, gotV); d != "" {
				t.Errorf("verdicts (-want +got):\n%s", d)
			}
		})
	}
}

// operationPreset is a values file that names the operation, as
// `request.operation: UPDATE` in a kyverno-test values file does.
type operationPreset struct{}

func (operationPreset) PolicyValues(string) map[string]any {
	return map[string]any{"request.operation": "UPDATE"}
}
func (operationPreset) RuleValues(string, string) map[string]any      { return nil }
func (operationPreset) ForEachValues(string, string) map[string][]any { return nil }

// TestAllowExistingViolationsWithValues checks that the old object is
// judged as its CREATE even when a values file says the request is an
// UPDATE (Kyverno sets the operation after it loads the values).
func TestAllowExistingViolationsWithValues(t *testing.T) {
	set := compile(t, existingPolicies)
	obj := object(t, existingPod("team: a, protected: \"true\"", false))
	req := admission(obj, engine.Update)
	req.OldObject = object(t, existingPod("team: a, protected: \"true\"", false))
	req.Preset = operationPreset{}
	res := set.Evaluate(context.Background(), req, engine.Cluster{})
	for _, r := range res.Rules {
		if r.Rule == "protected" {
			if r.Verdict != engine.Fail {
				t.Errorf("protected: %s %q, want fail", r.Verdict, r.Message)
			}
			return
		}
	}
	t.Error("the protected rule did not run")
}
