package gatekeeper_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-dev/portcullis/internal/engine"
)

const labelsTemplate = `apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: k8slabels}
spec:
  crd:
    spec:
      names: {kind: K8sLabels}
      validation:
        openAPIV3Schema:
          type: object
          properties:
            labels:
              type: array
              items: {type: string}
            mode:
              type: string
              enum: [strict, lax]
            limits:
              type: object
              properties:
                max: {type: integer, minimum: 0}
  targets:
  - target: admission.k8s.gatekeeper.sh
    rego: |
      package k8slabels
      violation[{"msg": msg}] {
        l := input.parameters.labels[_]
        not input.review.object.metadata.labels[l]
        msg := sprintf("missing label %v", [l])
      }
---
`

func TestConstraintErrors(t *testing.T) {
	const root = "policy.yaml[K8sLabels/c]"
	for _, tc := range []struct {
		name       string
		constraint string
		want       []string
	}{{
		name:       "valid",
		constraint: "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sLabels\nmetadata: {name: c}\nspec: {parameters: {labels: [a], mode: strict, limits: {max: 3}}}",
	}, {
		name:       "parameters of the wrong type",
		constraint: "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sLabels\nmetadata: {name: c}\nspec: {parameters: {labels: a, limits: {max: -1}}}",
		want: []string{
			root + `.spec.parameters.labels: Invalid value: "string": labels in body must be of type array: "string"`,
			root + ".spec.parameters.limits.max: Invalid value: -1: limits.max in body should be greater than or equal to 0",
		},
	}, {
		name:       "parameters outside an enum",
		constraint: "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sLabels\nmetadata: {name: c}\nspec: {parameters: {mode: sometimes}}",
		want:       []string{root + `.spec.parameters.mode: Unsupported value: "sometimes": supported values: "strict", "lax"`},
	}, {
		name:       "unknown parameters",
		constraint: "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sLabels\nmetadata: {name: c}\nspec: {parameters: {labels: [a], extra: 1, limits: {min: 1}}}",
		want: []string{
			root + ".spec.parameters.extra: Forbidden: unknown field",
			root + ".spec.parameters.limits.min: Forbidden: unknown field",
		},
	}, {
		name:       "missing template",
		constraint: "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sOther\nmetadata: {name: c}",
		want:       []string{`policy.yaml[K8sOther/c].kind: Invalid value: "K8sOther": no ConstraintTemplate defines this kind`},
	}, {
		name: "bad spec",
		constraint: `apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sLabels
metadata: {name: c}
spec:
  enforcementAction: block
  extra: true
  match:
    scope: cluster
    namespaces: ["-bad", "ok-*"]
    excludedNamespaces: ["k*s"]
    name: "a*b*"
    source: Both
    labelSelector: {matchExpressions: [{key: app, operator: Has}]}
    operations: [CREATE]
`,
		want: []string{
			root + ".spec.extra: Forbidden: unknown field",
			root + `.spec.enforcementAction: Unsupported value: "block": supported values: "deny", "dryrun", "warn", "scoped"`,
			root + ".spec.match.operations: Forbidden: unknown field",
			root + `.spec.match.scope: Unsupported value: "cluster": supported values: "*", "Cluster", "Namespaced"`,
			root + `.spec.match.namespaces[0]: Invalid value: "-bad": must be a namespace name with an optional leading or trailing *`,
			root + `.spec.match.excludedNamespaces[0]: Invalid value: "k*s": must be a namespace name with an optional leading or trailing *`,
			root + `.spec.match.labelSelector.matchExpressions[0].operator: Invalid value: "Has": not a valid selector operator`,
			root + `.spec.match.name: Invalid value: "a*b*": must be a name with an optional leading or trailing *`,
			root + `.spec.match.source: Unsupported value: "Both": supported values: "All", "Generated", "Original"`,
		},
	}, {
		name:       "scoped without scopedEnforcementActions",
		constraint: "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sLabels\nmetadata: {name: c}\nspec: {enforcementAction: scoped}",
		want:       []string{root + ".spec.scopedEnforcementActions: Required value: enforcementAction scoped needs scopedEnforcementActions"},
	}, {
		name:       "invalid name",
		constraint: "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sLabels\nmetadata: {name: C_1}",
		want: []string{
			`policy.yaml[K8sLabels/C_1].metadata.name: Invalid value: "C_1": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
		},
	}, {
		name:       "unsupported version",
		constraint: "apiVersion: constraints.gatekeeper.sh/v2\nkind: K8sLabels\nmetadata: {name: c}",
		want: []string{
			root + `.apiVersion: Unsupported value: "constraints.gatekeeper.sh/v2": supported values: "constraints.gatekeeper.sh/v1beta1", "constraints.gatekeeper.sh/v1alpha1", "constraints.gatekeeper.sh/v1"`,
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			set, errs := compileYAML(t, labelsTemplate+tc.constraint)
			if diff := cmp.Diff(tc.want, errorStrings(errs)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			// Every constraint is a policy; one that did not compile
			// evaluates to an error.
			if len(set.Policies()) != 1 {
				t.Fatalf("%d policies, want 1", len(set.Policies()))
			}
			pod := object(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {a: x}}")
			res := evaluate(set, admission(pod, engine.Create), engine.Cluster{})
			if len(tc.want) > 0 && (len(res) != 1 || res[0].Verdict != engine.Error) {
				t.Errorf("an invalid constraint must evaluate to one error, got %v", res)
			}
		})
	}
}

// TestLegacySchema checks that templates before v1 accept parameters their
// schema does not describe, as Gatekeeper's legacySchema does, and that a
// v1 template without a schema accepts no parameters.
func TestLegacySchema(t *testing.T) {
	legacy := `apiVersion: templates.gatekeeper.sh/v1beta1
kind: ConstraintTemplate
metadata: {name: k8slegacy}
spec:
  crd:
    spec:
      names: {kind: K8sLegacy}
      validation:
        openAPIV3Schema:
          properties:
            labels: {type: array, items: {type: string}}
  targets:
  - target: admission.k8s.gatekeeper.sh
    rego: |
      package k8slegacy
      violation[{"msg": sprintf("%v", [input.parameters])}] { true }
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sLegacy
metadata: {name: l}
spec: {parameters: {labels: [a], other: {x: 1}}}
`
	set := mustCompile(t, legacy)
	pod := object(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}")
	want := []result{{"K8sLegacy/l", engine.Fail, engine.ActionDeny, `{"labels": ["a"], "other": {"x": 1}}`}}
	if diff := cmp.Diff(want, evaluate(set, admission(pod, engine.Create), engine.Cluster{})); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	_, errs := compileYAML(t, `apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: k8snoschema}
spec:
  crd: {spec: {names: {kind: K8sNoSchema}}}
  targets:
  - target: admission.k8s.gatekeeper.sh
    rego: |
      package k8snoschema
      violation[{"msg": "x"}] { false }
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sNoSchema
metadata: {name: noschema}
spec: {parameters: {a: 1}}
`)
	wantErrs := []string{"policy.yaml[K8sNoSchema/noschema].spec.parameters: Forbidden: unknown field: the template declares no parameters schema"}
	if diff := cmp.Diff(wantErrs, errorStrings(errs)); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func TestDuplicates(t *testing.T) {
	constraint := "---\napiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sLabels\nmetadata: {name: c}\n"
	set, errs := compileYAML(t, labelsTemplate+labelsTemplate+constraint+constraint)
	want := []string{
		`policy.yaml[ConstraintTemplate/k8slabels].spec.crd.spec.names.kind: Duplicate value: "K8sLabels (also defined by policy.yaml[ConstraintTemplate/k8slabels])"`,
		`policy.yaml[K8sLabels/c].metadata.name: Duplicate value: "c (also defined by policy.yaml[K8sLabels/c])"`,
	}
	if diff := cmp.Diff(want, errorStrings(errs)); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	if n := len(set.Policies()); n != 1 {
		t.Errorf("%d policies, want 1", n)
	}
}
