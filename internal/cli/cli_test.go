package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var (
	repo   = filepath.Join("..", "..")
	shared = filepath.Join(repo, "..", "shared")
)

func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := RunWith(context.Background(), args, IO{In: strings.NewReader(stdin), Out: &out, Err: &errOut})
	return code, out.String(), errOut.String()
}

func TestTestCommandExamples(t *testing.T) {
	code, out, errOut := run(t, "", "test", "-o", "json", filepath.Join(repo, "examples"))
	if code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	var rep struct {
		Summary struct{ Total, Passed, Failed int }
		Results []map[string]any
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Summary.Total == 0 || rep.Summary.Failed != 0 || rep.Summary.Total != len(rep.Results) {
		t.Errorf("summary %+v with %d results", rep.Summary, len(rep.Results))
	}
	for _, key := range []string{"file", "policy", "rule", "kind", "resource", "expected", "actual", "ok", "message"} {
		if _, ok := rep.Results[0][key]; !ok {
			t.Errorf("result has no %q field", key)
		}
	}
}

func TestTestCommandFailsOnMismatch(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "policy.yaml", `apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: require-team}
spec:
  rules:
  - name: team
    match: {any: [{resources: {kinds: [Pod]}}]}
    validate: {pattern: {metadata: {labels: {team: "?*"}}}}`)
	write(t, dir, "resources.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: a, labels: {team: x}}\nspec: {containers: [{name: c, image: x}]}")
	write(t, dir, "kyverno-test.yaml", `apiVersion: cli.kyverno.io/v1alpha1
kind: Test
metadata: {name: t}
policies: [policy.yaml]
resources: [resources.yaml]
results:
- {policy: require-team, rule: team, kind: Pod, resources: [a], result: fail}`)
	code, out, _ := run(t, "", "test", "-o", "junit", dir)
	if code != ExitFailed {
		t.Fatalf("exit %d, want %d\n%s", code, ExitFailed, out)
	}
	if !strings.Contains(out, `<failure message="expected fail, got pass"`) {
		t.Errorf("junit output does not show the failure:\n%s", out)
	}
}

func TestTestCommandBadTestFile(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "kyverno-test.yaml", "apiVersion: cli.kyverno.io/v1alpha1\nkind: Test\npolicy: [a.yaml]\n")
	code, _, errOut := run(t, "", "test", dir)
	if code != ExitBadInput {
		t.Fatalf("exit %d, want %d", code, ExitBadInput)
	}
	if !strings.Contains(errOut, "kyverno-test.yaml") || !strings.Contains(errOut, `unknown field "policy"`) {
		t.Errorf("error does not name the file and field: %s", errOut)
	}
}

func TestApplyJSON(t *testing.T) {
	code, out, errOut := run(t, "", "apply", "-o", "json",
		"-p", filepath.Join(repo, "examples", "kyverno", "policies"),
		"-r", filepath.Join(repo, "examples", "kyverno", "resources.yaml"))
	if code != ExitFailed {
		t.Fatalf("exit %d, want %d (rooty is denied)\n%s", code, ExitFailed, errOut)
	}
	var rep struct {
		Summary map[string]int
		Results []struct{ Policy, Rule, Kind, Resource, Result, Message string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := map[string]int{"pass": 10, "fail": 1, "warn": 0, "error": 0, "skip": 1}
	if diff := cmp.Diff(want, rep.Summary); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	for _, r := range rep.Results {
		if r.Result == "fail" && (r.Resource != "payments/rooty" || r.Policy != "pod-security-restricted") {
			t.Errorf("unexpected failure %+v", r)
		}
	}
}

func TestApplyStdinAndPolicyReport(t *testing.T) {
	pods := "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a}\n  spec: {containers: [{name: c, image: x, resources: {limits: {cpu: 1, memory: 1Gi}}}]}\n"
	code, out, errOut := run(t, pods, "apply", "-o", "policyreport",
		"-p", filepath.Join(shared, "seeds", "policies", "kyverno-require-limits.yaml"), "-r", "-")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep["kind"] != "ClusterPolicyReport" || rep["summary"].(map[string]any)["pass"].(float64) != 1 {
		t.Errorf("report %v", rep)
	}
}

func TestApplyBadInput(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "bad-policy.yaml", `apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: bad}
spec:
  rules:
  - name: r
    match: {any: [{resources: {kinds: [Pod]}}]}
    validate: {pattern: {a: b}, unknownField: 1}`)
	write(t, dir, "pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n")
	write(t, dir, "broken.yaml", "apiVersion: v1\nkind: Pod\nmetadata: [unterminated\n")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"invalid policy", []string{"-p", filepath.Join(dir, "bad-policy.yaml"), "-r", filepath.Join(dir, "pod.yaml")},
			"bad-policy.yaml[ClusterPolicy/bad].spec.rules[0].validate.unknownField"},
		{"malformed resource", []string{"-p", filepath.Join(shared, "seeds", "policies", "kyverno-require-limits.yaml"), "-r", filepath.Join(dir, "broken.yaml")},
			"broken.yaml: document 0"},
		{"missing file", []string{"-p", filepath.Join(dir, "nope.yaml"), "-r", filepath.Join(dir, "pod.yaml")}, "nope.yaml"},
		{"bad output", []string{"-o", "xml", "-p", "a", "-r", "b"}, "unknown output format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := run(t, "", append([]string{"apply"}, tt.args...)...)
			if code != ExitBadInput {
				t.Errorf("exit %d, want %d", code, ExitBadInput)
			}
			if !strings.Contains(errOut, tt.want) {
				t.Errorf("error %q does not contain %q", errOut, tt.want)
			}
		})
	}
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
