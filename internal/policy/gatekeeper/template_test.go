package gatekeeper_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/policy/gatekeeper"
)

func TestTemplateErrors(t *testing.T) {
	const root = "policy.yaml[ConstraintTemplate/k8sx]"
	for _, tc := range []struct {
		name string
		yaml string
		want []string
	}{{
		name: "parse error with its location",
		yaml: templateYAML("K8sX", "package x\nviolation[{\"msg\": m}] {\n  m := \n}"),
		want: []string{root + ".spec.targets[0].rego: Invalid value: template:4: rego_parse_error: unexpected } token\n\t}\n\t^"},
	}, {
		name: "no violation rule",
		yaml: templateYAML("K8sX", "package x\nfoo { true }"),
		want: []string{root + ".spec.targets[0].rego: Invalid value: invalid module: missing required rules: [violation]"},
	}, {
		name: "compile error",
		yaml: templateYAML("K8sX", "package x\nviolation[{\"msg\": m}] { m := undefined_fn(1) }"),
		want: []string{root + ".spec.targets[0].rego: Invalid value: template:2: rego_type_error: undefined function undefined_fn"},
	}, {
		name: "network builtins are disabled",
		yaml: templateYAML("K8sX", "package x\nviolation[{\"msg\": m}] { r := http.send({\"method\": \"get\", \"url\": \"https://example.com\"}); m := r.body }"),
		want: []string{root + ".spec.targets[0].rego: Invalid value: template:2: rego_type_error: undefined function http.send"},
	}, {
		name: "imports and data references outside data.lib and data.inventory",
		yaml: templateYAML("K8sX", "package x\nimport data.foo\nviolation[{\"msg\": m}] { m := data.foo.bar }"),
		want: []string{
			root + `.spec.targets[0].rego: Invalid value: "data.foo": bad import: templates may only import data.lib packages`,
			root + `.spec.targets[0].rego: Invalid value: "data.foo.bar": disallowed ref: templates may only read data.lib and data.inventory`,
		},
	}, {
		name: "name, kind, structural schema and library package",
		yaml: `apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: k8sx}
spec:
  crd: {spec: {names: {kind: K8sY}, validation: {openAPIV3Schema: {properties: {a: {}}}}}}
  targets:
  - target: admission.k8s.gatekeeper.sh
    rego: "package y\nviolation[{\"msg\": \"x\"}] { true }"
    libs: ["package foo\nx := 1"]
`,
		want: []string{
			root + `.metadata.name: Invalid value: "k8sx": the ConstraintTemplate's name must be the lowercase of its kind "k8sy"`,
			root + ".spec.crd.spec.validation.openAPIV3Schema.properties[a].type: Required value: must not be empty for specified object fields",
			root + ".spec.crd.spec.validation.openAPIV3Schema.type: Required value: must not be empty for specified object fields",
			root + `.spec.targets[0].libs[0]: Invalid value: "data.foo": a library's package must be below data.lib`,
		},
	}, {
		name: "missing kind, two targets",
		yaml: `apiVersion: templates.gatekeeper.sh/v1beta1
kind: ConstraintTemplate
metadata: {name: k8sx}
spec:
  targets:
  - {target: admission.k8s.gatekeeper.sh, rego: "package x\nviolation[{\"msg\": \"x\"}] { true }"}
  - {target: other, rego: "package x\nviolation[{\"msg\": \"x\"}] { true }"}
`,
		want: []string{
			root + ".spec.crd.spec.names.kind: Required value: the kind of the template's constraints",
			root + ".spec.targets: Too many: 2: must have at most 1 item",
		},
	}, {
		name: "unknown target, version and engine-less code",
		yaml: `apiVersion: templates.gatekeeper.sh/v2
kind: ConstraintTemplate
metadata: {name: k8sx}
spec:
  crd: {spec: {names: {kind: K8sX}}}
  targets:
  - target: mutation.gatekeeper.sh
    code:
    - source: {}
`,
		want: []string{
			root + `.apiVersion: Unsupported value: "templates.gatekeeper.sh/v2": supported values: "templates.gatekeeper.sh/v1", "templates.gatekeeper.sh/v1beta1", "templates.gatekeeper.sh/v1alpha1"`,
			root + `.spec.targets[0].target: Unsupported value: "mutation.gatekeeper.sh": supported values: "admission.k8s.gatekeeper.sh"`,
			root + ".spec.targets[0].code[0].engine: Required value: Rego or K8sNativeValidation",
			root + ".spec.targets[0].code: Required value: code for the Rego or K8sNativeValidation engine",
		},
	}, {
		name: "wrong types",
		yaml: `apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: k8sx}
spec:
  crd: {spec: {names: {kind: K8sX}}}
  targets:
  - target: admission.k8s.gatekeeper.sh
    code:
    - engine: Rego
      source: {rego: 5}
`,
		want: []string{
			root + ".spec.targets[0].code[0].source.rego: Invalid value: 5: must be a string",
			root + ".spec.targets[0].code: Required value: code for the Rego or K8sNativeValidation engine",
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := compileYAML(t, tc.yaml)
			if diff := cmp.Diff(tc.want, errorStrings(errs)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBrokenTemplateFailsClosed checks that the constraints of a template
// that does not compile evaluate to errors with their action, so that deny
// constraints deny.
func TestBrokenTemplateFailsClosed(t *testing.T) {
	yaml := templateYAML("K8sX", "package x\nviolation[{\"msg\": m}] { m := undefined_fn(1) }") + `---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sX
metadata: {name: deny-x}
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sX
metadata: {name: warn-x}
spec:
  enforcementAction: warn
  match:
    kinds: [{apiGroups: [""], kinds: ["ConfigMap"]}]
`
	set, errs := compileYAML(t, yaml)
	if len(errs) != 1 {
		t.Fatalf("want one compile error, got %v", errs)
	}
	pod := object(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: default}")
	const msg = "ConstraintTemplate k8sx is invalid: policy.yaml[ConstraintTemplate/k8sx].spec.targets[0].rego: Invalid value: template:2: rego_type_error: undefined function undefined_fn"
	want := []result{{"K8sX/deny-x", engine.Error, engine.ActionDeny, msg}}
	if diff := cmp.Diff(want, evaluate(set, admission(pod, engine.Create), engine.Cluster{})); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	for _, p := range set.Policies() {
		want := map[string]engine.Action{"deny-x": engine.ActionDeny, "warn-x": engine.ActionWarn}[p.Ref().Name]
		if got := p.FailureAction(); got != want {
			t.Errorf("%s: failure action %s, want %s", p.Ref(), got, want)
		}
	}
	res := set.Evaluate(context.Background(), admission(pod, engine.Create), engine.Cluster{})
	if len(res.Denied()) != 1 {
		t.Errorf("the broken deny constraint must deny: %v", res.Rules)
	}
}

// TestRegoVersions checks that code is parsed as Rego v0 by default and as
// v1 when the source says so, falling back to the other version as
// Gatekeeper does.
func TestRegoVersions(t *testing.T) {
	code := func(version, rego string) string {
		return `apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: k8sv}
spec:
  crd: {spec: {names: {kind: K8sV}}}
  targets:
  - target: admission.k8s.gatekeeper.sh
    code:
    - engine: Rego
      source:
        version: "` + version + `"
        rego: |
` + indent(rego, 10) + `
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sV
metadata: {name: v}
`
	}
	const v0 = "package v\nviolation[{\"msg\": msg}] {\n  msg := sprintf(\"name %v\", [input.review.object.metadata.name])\n}"
	const v1 = "package v\nviolation contains {\"msg\": msg} if {\n  some c in input.review.object.spec.containers\n  msg := sprintf(\"container %v\", [c.name])\n}"
	pod := object(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a}, {name: b}]}")
	for _, tc := range []struct {
		name, version, rego string
		want                []string
	}{
		{"v0 by default", "", v0, []string{"name p"}},
		{"v1", "v1", v1, []string{"container a", "container b"}},
		{"v1 code without the version", "", v1, []string{"container a", "container b"}},
		{"v0 code marked v1", "v1", v0, []string{"name p"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := mustCompile(t, code(tc.version, tc.rego))
			var got []string
			for _, r := range evaluate(set, admission(pod, engine.Create), engine.Cluster{}) {
				got = append(got, r.Message)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEvaluationErrors checks that an evaluation error becomes an error
// result whose message is OPA's error, with the constraint's action.
func TestEvaluationErrors(t *testing.T) {
	set := mustCompile(t, templateYAML("K8sConflict", `package conflict
x := input.review.object.metadata.name
x := "other"
violation[{"msg": x}] { true }
`)+`---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sConflict
metadata: {name: c}
spec: {enforcementAction: dryrun}
`)
	pod := object(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}")
	want := []result{{"K8sConflict/c", engine.Error, engine.ActionAudit,
		"template:3: eval_conflict_error: rule data.template.x produced conflicting values:\n  \"p\" at template:2\n  \"other\" at template:3"}}
	if diff := cmp.Diff(want, evaluate(set, admission(pod, engine.Create), engine.Cluster{})); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}

func TestNewOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  gatekeeper.Option
		ok   bool
	}{
		{"rego", gatekeeper.WithEngine(gatekeeper.EngineRego), true},
		{"cel", gatekeeper.WithEngine(gatekeeper.EngineCEL), true},
		{"unknown engine", gatekeeper.WithEngine("Lua"), false},
		{"gator point", gatekeeper.WithEnforcementPoint(gatekeeper.EnforcementPointGator), true},
		{"unknown point", gatekeeper.WithEnforcementPoint("mutation.gatekeeper.sh"), false},
		{"timeout", gatekeeper.WithEvalTimeout(time.Second), true},
		{"negative timeout", gatekeeper.WithEvalTimeout(-time.Second), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := gatekeeper.New(tc.opt)
			if (err == nil) != tc.ok {
				t.Errorf("New: err = %v, want ok = %v", err, tc.ok)
			}
		})
	}
}
