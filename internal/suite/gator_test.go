package suite

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/policy/gatekeeper"
)

// writeFiles writes files below dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const gatorTemplate = `apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: k8srequiredlabels}
spec:
  crd:
    spec:
      names: {kind: K8sRequiredLabels}
      validation:
        openAPIV3Schema:
          type: object
          properties:
            labels: {type: array, items: {type: string}}
  targets:
  - target: admission.k8s.gatekeeper.sh
    rego: |
      package k8srequiredlabels
      violation[{"msg": msg}] {
        not input.review.operation == "DELETE"
        l := input.parameters.labels[_]
        not input.review.object.metadata.labels[l]
        msg := sprintf("missing label %v", [l])
      }
      violation[{"msg": msg}] {
        input.review.operation == "DELETE"
        msg := sprintf("deleting %v", [input.review.object.metadata.name])
      }
      violation[{"msg": msg}] {
        other := data.inventory.namespace[ns][_]["Pod"][name]
        other.metadata.labels.app == input.review.object.metadata.labels.app
        name != input.review.object.metadata.name
        msg := sprintf("app %v is taken by %v/%v", [other.metadata.labels.app, ns, name])
      }
`

// TestGatorSuite runs a suite with every kind of case and checks the
// results, one per case.
func TestGatorSuite(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"template.yaml": gatorTemplate,
		"constraint.yaml": `apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sRequiredLabels
metadata: {name: owner-and-team}
spec:
  parameters: {labels: [owner, team]}
`,
		"bad-constraint.yaml": `apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sRequiredLabels
metadata: {name: bad}
spec:
  parameters: {labels: owner}
`,
		"none.yaml":     "apiVersion: v1\nkind: Pod\nmetadata: {name: none}\n",
		"owner.yaml":    "apiVersion: v1\nkind: Pod\nmetadata: {name: owner, labels: {owner: a}}\n",
		"complete.yaml": "apiVersion: v1\nkind: Pod\nmetadata: {name: complete, labels: {owner: a, team: b, app: web}}\n",
		"delete.yaml": `kind: AdmissionReview
apiVersion: admission.k8s.io/v1
request:
  operation: DELETE
  oldObject:
    apiVersion: v1
    kind: Pod
    metadata: {name: gone}
`,
		"inventory.yaml": "apiVersion: v1\nkind: Pod\nmetadata: {name: other, namespace: prod, labels: {app: web}}\n",
		"suite.yaml": `kind: Suite
apiVersion: test.gatekeeper.sh/v1alpha1
metadata: {name: labels}
tests:
- name: required-labels
  template: template.yaml
  constraint: constraint.yaml
  cases:
  - name: none
    object: none.yaml
    assertions:
    - violations: 2
    - violations: yes
      message: owner
    - violations: "no"
      message: nothing
  - name: owner
    object: owner.yaml
    assertions:
    - violations: 1
      message: ^missing label team$
  - name: complete
    object: complete.yaml
    assertions:
    - violations: no
  - name: delete
    object: delete.yaml
    assertions:
    - message: deleting gone
  - name: taken
    object: complete.yaml
    inventory: [inventory.yaml]
    assertions:
    - violations: 1
      message: app web is taken by prod/other
  - name: wrong
    object: none.yaml
    assertions:
    - violations: no
  - name: skipped
    object: none.yaml
    skip: true
    assertions:
    - violations: no
- name: bad-constraint
  template: template.yaml
  constraint: bad-constraint.yaml
  invalid: true
- name: good-constraint
  template: template.yaml
  constraint: constraint.yaml
  invalid: true
`,
	})
	files, err := Discover([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	suite := filepath.Join(dir, "suite.yaml")
	if diff := cmp.Diff([]string{suite}, files); diff != "" {
		t.Fatalf("Discover (-want +got):\n%s", diff)
	}
	d, err := gatekeeper.New()
	if err != nil {
		t.Fatal(err)
	}
	rep := (&Runner{Engine: engine.New(d)}).Run(context.Background(), files)
	if len(rep.Errors) > 0 {
		t.Fatal(rep.Errors)
	}
	type row struct {
		Test, Case, Kind, Expected, Actual string
		OK                                 bool
	}
	var got []row
	for _, r := range rep.Results {
		if r.File != suite {
			t.Errorf("result for %s, want %s", r.File, suite)
		}
		got = append(got, row{r.Rule, r.Resource, r.Kind, r.Expected, r.Actual, r.OK})
	}
	want := []row{
		{"required-labels", "none", "Pod", "2 violations; violations matching /owner/: yes; violations matching /nothing/: no", "2 violations; 1 violations matching /owner/; 0 violations matching /nothing/", true},
		{"required-labels", "owner", "Pod", "1 violations matching /^missing label team$/", "1 violations matching /^missing label team$/", true},
		{"required-labels", "complete", "Pod", "violations: no", "0 violations", true},
		{"required-labels", "delete", "Pod", "violations matching /deleting gone/: yes", "1 violations matching /deleting gone/", true},
		{"required-labels", "taken", "Pod", "1 violations matching /app web is taken by prod/other/", "1 violations matching /app web is taken by prod/other/", true},
		{"required-labels", "wrong", "Pod", "violations: no", "2 violations", false},
		{"required-labels", "skipped", "", "violations: no", "skipped", true},
		{"bad-constraint", "", "", "invalid constraint", "invalid constraint", true},
		{"good-constraint", "", "", "invalid constraint", "valid constraint", false},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if rep.Summary != (Summary{Total: 9, Passed: 7, Failed: 2}) {
		t.Errorf("summary %+v", rep.Summary)
	}
	for _, r := range rep.Results {
		if r.Resource == "wrong" {
			const msg = `got 2 violations but want none: got messages ["missing label owner" "missing label team"]`
			if r.Message != msg {
				t.Errorf("message %q, want %q", r.Message, msg)
			}
		}
		if r.Policy == "" && r.Actual != "skipped" {
			t.Errorf("%s/%s: no policy name", r.Rule, r.Resource)
		}
	}
}

// TestGatorSuiteErrors checks suites that cannot run.
func TestGatorSuiteErrors(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"template.yaml":   gatorTemplate,
		"constraint.yaml": "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sRequiredLabels\nmetadata: {name: c}\n",
		"two.yaml":        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b}\n",
		"pod.yaml":        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n",
		"suite.yaml": `kind: Suite
apiVersion: test.gatekeeper.sh/v1alpha1
tests:
- name: t
  template: template.yaml
  constraint: constraint.yaml
  cases:
  - name: two-objects
    object: two.yaml
    assertions: [{violations: no}]
  - name: no-assertions
    object: pod.yaml
  - name: bad-count
    object: pod.yaml
    assertions: [{violations: maybe}]
  - name: bad-regexp
    object: pod.yaml
    assertions: [{message: "("}]
- name: missing-template
  template: nothing.yaml
  constraint: constraint.yaml
  cases:
  - name: c
    object: pod.yaml
    assertions: [{violations: no}]
`,
		"other/suite.yaml": "kind: Test\napiVersion: cli.kyverno.io/v1alpha1\n",
	})
	d, err := gatekeeper.New()
	if err != nil {
		t.Fatal(err)
	}
	rep := (&Runner{Engine: engine.New(d)}).Run(context.Background(), []string{filepath.Join(dir, "suite.yaml"), filepath.Join(dir, "other", "suite.yaml")})
	if len(rep.Errors) != 1 {
		t.Errorf("want one error for the file that is not a suite, got %v", rep.Errors)
	}
	var got []string
	for _, r := range rep.Results {
		if r.OK {
			t.Errorf("%s/%s passed", r.Rule, r.Resource)
		}
		got = append(got, r.Resource+": "+r.Actual)
	}
	want := []string{"two-objects: error", "no-assertions: error", "bad-count: error", "bad-regexp: error", "c: error"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}
