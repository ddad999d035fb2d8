package gatekeeper_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/policy/gatekeeper"
)

// bothEngines is a template with CEL and Rego code that report different
// messages, to see which engine runs.
const bothEngines = `apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: k8sboth}
spec:
  crd:
    spec:
      names: {kind: K8sBoth}
      validation:
        openAPIV3Schema:
          type: object
          properties:
            name: {type: string}
  targets:
  - target: admission.k8s.gatekeeper.sh
    code:
    - engine: K8sNativeValidation
      source:
        validations:
        - expression: 'variables.anyObject.metadata.name != variables.params.name'
          messageExpression: '"cel: " + variables.anyObject.metadata.name'
    - engine: Rego
      source:
        rego: |
          package k8sboth
          violation[{"msg": msg}] {
            input.review.object.metadata.name == input.parameters.name
            msg := sprintf("rego: %v", [input.review.object.metadata.name])
          }
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sBoth
metadata: {name: both}
spec:
  parameters: {name: forbidden}
`

// TestEngineChoice checks that CEL runs where a template has both engines,
// as in Gatekeeper, and Rego when the dialect prefers it.
func TestEngineChoice(t *testing.T) {
	pod := object(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: forbidden}")
	allowed := object(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: fine}")
	for _, tc := range []struct {
		name string
		opts []gatekeeper.Option
		want string
	}{
		{"default is CEL", nil, "cel: forbidden"},
		{"rego preferred", []gatekeeper.Option{gatekeeper.WithEngine(gatekeeper.EngineRego)}, "rego: forbidden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := mustCompile(t, bothEngines, tc.opts...)
			want := []result{{"K8sBoth/both", engine.Fail, engine.ActionDeny, tc.want}}
			if diff := cmp.Diff(want, evaluate(set, admission(pod, engine.Create), engine.Cluster{})); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			want = []result{{"K8sBoth/both", engine.Pass, "", ""}}
			if diff := cmp.Diff(want, evaluate(set, admission(allowed, engine.Create), engine.Cluster{})); diff != "" {
				t.Errorf("allowed (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCELErrors checks CEL evaluation errors: with the default failure
// policy they are error results; with Ignore they are dropped. An
// expression that does not compile is reported, and evaluates to an error
// as in Gatekeeper.
func TestCELErrors(t *testing.T) {
	template := func(failurePolicy string) string {
		return `apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: k8scelerr}
spec:
  crd: {spec: {names: {kind: K8sCelErr}}}
  targets:
  - target: admission.k8s.gatekeeper.sh
    code:
    - engine: K8sNativeValidation
      source:
        failurePolicy: ` + failurePolicy + `
        validations:
        - expression: 'variables.anyObject.spec.replicas < 3'
          message: too many replicas
        - expression: 'variables.anyObject.metadata.name != "bad"'
          message: bad name
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sCelErr
metadata: {name: e}
`
	}
	pod := object(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: bad}")
	set := mustCompile(t, template("Fail"))
	got := evaluate(set, admission(pod, engine.Create), engine.Cluster{})
	if len(got) != 2 || got[0] != (result{"K8sCelErr/e", engine.Fail, engine.ActionDeny, "bad name"}) || got[1].Verdict != engine.Error {
		t.Errorf("Fail: got %v, want the violation and an error", got)
	}
	set = mustCompile(t, template("Ignore"))
	want := []result{{"K8sCelErr/e", engine.Fail, engine.ActionDeny, "bad name"}}
	if diff := cmp.Diff(want, evaluate(set, admission(pod, engine.Create), engine.Cluster{})); diff != "" {
		t.Errorf("Ignore (-want +got):\n%s", diff)
	}

	broken := `apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: k8scelbad}
spec:
  crd: {spec: {names: {kind: K8sCelBad}}}
  targets:
  - target: admission.k8s.gatekeeper.sh
    code:
    - engine: K8sNativeValidation
      source:
        validations:
        - expression: 'object.metadata.name'
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sCelBad
metadata: {name: b}
`
	set, errs := compileYAML(t, broken)
	if len(errs) != 1 {
		t.Fatalf("want one compile error, got %v", errs)
	}
	got = evaluate(set, admission(pod, engine.Create), engine.Cluster{})
	if len(got) != 1 || got[0].Verdict != engine.Error || got[0].Action != engine.ActionDeny {
		t.Errorf("got %v, want one error that denies", got)
	}
}
