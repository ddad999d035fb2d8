package sigstore_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// regoPolicy is a ClusterImagePolicy for ghcr.io/** with a static pass
// authority and the given Rego module (indented by four spaces).
func regoPolicy(mode, extra, module string) string {
	var b strings.Builder
	b.WriteString("apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata:\n  name: rego\nspec:\n")
	b.WriteString("  images: [{glob: \"ghcr.io/**\"}]\n  authorities: [{static: {action: pass}}]\n")
	if mode != "" {
		b.WriteString("  mode: " + mode + "\n")
	}
	b.WriteString("  policy:\n    type: rego\n" + extra + "    data: |\n")
	for _, line := range strings.Split(strings.TrimSpace(module), "\n") {
		b.WriteString("      " + strings.TrimSpace(line) + "\n")
	}
	return b.String()
}

// TestRegoResults covers the forms of isCompliant policy-controller
// understands and its messages for each.
func TestRegoResults(t *testing.T) {
	e := newEnv(t)
	img := "ghcr.io/team/app@" + digestOf('a')
	head := "validation failed: " + img + " failed evaluating rego policy for type ClusterImagePolicy: "
	tests := []struct {
		name   string
		mode   string
		module string
		want   verdict
	}{
		{
			name:   "boolean true",
			module: "package sigstore\nisCompliant = true",
		},
		{
			name:   "boolean false",
			module: "package sigstore\ndefault isCompliant = false",
			want:   verdict{Denial: head + "policy is not compliant for query 'isCompliant = data.sigstore.isCompliant'"},
		},
		{
			name:   "undefined",
			module: "package sigstore\nisCompliant { input.nothing }",
			want:   verdict{Denial: head + "policy is not compliant for query 'isCompliant = data.sigstore.isCompliant'"},
		},
		{
			name:   "empty set",
			module: "package sigstore\nisCompliant[r] { r := {\"result\": true}; false }",
			want:   verdict{Denial: head + `policy is not compliant for query "isCompliant = data.sigstore.isCompliant"`},
		},
		{
			name:   "set, one compliant element wins",
			module: "package sigstore\nisCompliant[{\"result\": false, \"error\": \"no\"}]\nisCompliant[{\"result\": true}]",
		},
		{
			name:   "set, error",
			module: "package sigstore\nisCompliant[{\"result\": false, \"error\": \"too old\", \"warning\": \"look\"}]",
			want:   verdict{Denial: head + "policy is not compliant for query 'isCompliant = data.sigstore.isCompliant' with errors: too old"},
		},
		{
			// policy-controller fails a compliant result that carries a
			// warning, with the warning as the reason.
			name:   "set, compliant with a warning",
			module: "package sigstore\nisCompliant[{\"result\": true, \"warning\": \"deprecated registry\"}]",
			want:   verdict{Denial: "validation failed: " + img + " warning: deprecated registry"},
		},
		{
			name:   "warn mode, compliant with a warning",
			mode:   "warn",
			module: "package sigstore\nisCompliant[{\"result\": true, \"warning\": \"deprecated registry\"}]",
			want:   verdict{Warnings: []string{img + " warning: deprecated registry"}},
		},
		{
			name:   "warn mode, error",
			mode:   "warn",
			module: "package sigstore\ndefault isCompliant = false",
			want:   verdict{Warnings: []string{img + " failed evaluating rego policy for type ClusterImagePolicy: policy is not compliant for query 'isCompliant = data.sigstore.isCompliant'"}},
		},
		{
			name:   "set of strings",
			module: "package sigstore\nisCompliant[\"yes\"]",
			want:   verdict{Denial: head + "policy is not compliant for query 'isCompliant = data.sigstore.isCompliant': unexpected result type string"},
		},
		{
			name:   "result of the wrong type",
			module: "package sigstore\nisCompliant[{\"result\": \"yes\"}]",
			want: verdict{Denial: head + "policy is not compliant for query 'isCompliant = data.sigstore.isCompliant' due to parsing errors: " +
				"json: cannot unmarshal string into Go struct field cosignRuleResult.result of type bool"},
		},
		{
			name:   "network builtins are not available",
			module: "package sigstore\nisCompliant { http.send({\"method\": \"get\", \"url\": \"http://127.0.0.1:1\"}).status_code == 200 }",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := regoPolicy(tc.mode, "", tc.module)
			if tc.name == "network builtins are not available" {
				_, errs := compileErrs(t, src)
				if len(errs) != 1 || !strings.Contains(errs[0], "undefined function http.send") {
					t.Errorf("errors = %q, want http.send to be undefined", errs)
				}
				return
			}
			set := compile(t, src)
			got, res := evaluate(t, set, request(pod(img)), e.cluster())
			assertFailures(t, res)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("verdict (-want +got):\n%s", diff)
			}
			var wantWhere []string
			if tc.want.Denial != "" || len(tc.want.Warnings) > 0 {
				wantWhere = []string{"rego spec.containers[0].image"}
			}
			if diff := cmp.Diff(wantWhere, where(res)); diff != "" {
				t.Errorf("failing policies and paths (-want +got):\n%s", diff)
			}
		})
	}
}

// inputProbe is a Rego policy that fails with the parts of its input it
// was asked to show, as JSON.
const inputProbe = `package sigstore
isCompliant[r] {
  shown := {k: v | v := input[k]; k != "config"}
  r := {"result": false, "error": json.marshal(shown)}
}`

// TestRegoInput checks the policy input document: authorityMatches, and
// spec, metadata and typemeta in policy-controller's shapes when asked.
func TestRegoInput(t *testing.T) {
	e := newEnv(t)
	img := "ghcr.io/team/app@" + digestOf('a')
	include := "    includeSpec: true\n    includeObjectMeta: true\n    includeTypeMeta: true\n"
	tests := []struct {
		name   string
		extra  string
		object map[string]any
		path   string
		want   string
	}{
		{
			name:   "authority matches only",
			object: pod(img),
			path:   "spec.containers[0].image",
			want:   `{"authorityMatches":{"authority-0":{"static":true}}}`,
		},
		{
			// policy-controller sets no typemeta for Pods.
			name:   "pod",
			extra:  include,
			object: pod(img),
			path:   "spec.containers[0].image",
			want: `{"authorityMatches":{"authority-0":{"static":true}},` +
				`"metadata":{"name":"p","namespace":"default"},` +
				`"spec":{"containers":[{"image":"` + img + `","name":"c0","resources":{}}]}}`,
		},
		{
			name:   "deployment",
			extra:  include,
			object: deployment(img),
			path:   "spec.template.spec.containers[0].image",
			want: `{"authorityMatches":{"authority-0":{"static":true}},` +
				`"metadata":{"name":"d","namespace":"default"},` +
				`"spec":{"replicas":3,"selector":{"matchLabels":{"app":"a"}},"template":{"metadata":{"labels":{"app":"a"}},` +
				`"spec":{"containers":[{"image":"` + img + `","name":"c0","resources":{}}]}}},` +
				`"typemeta":{"apiVersion":"apps/v1","kind":"Deployment"}}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := compile(t, regoPolicy("", tc.extra, inputProbe))
			got, res := evaluate(t, set, request(tc.object), e.cluster())
			if diff := cmp.Diff([]string{"rego " + tc.path}, where(res)); diff != "" {
				t.Errorf("failing policies and paths (-want +got):\n%s", diff)
			}
			prefix := "validation failed: " + img +
				" failed evaluating rego policy for type ClusterImagePolicy: policy is not compliant for query 'isCompliant = data.sigstore.isCompliant' with errors: "
			if !strings.HasPrefix(got.Denial, prefix) {
				t.Fatalf("denial = %q, want prefix %q", got.Denial, prefix)
			}
			if diff := cmp.Diff(tc.want, strings.TrimPrefix(got.Denial, prefix)); diff != "" {
				t.Errorf("input (-want +got):\n%s", diff)
			}
		})
	}
}

// compileErrs compiles src and returns the set and its error strings.
func compileErrs(t *testing.T, src string) (any, []string) {
	t.Helper()
	set, errs := newEngine().Compile(docs(t, src))
	return set, errorStrings(errs)
}
