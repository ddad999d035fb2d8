package k8scel_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/portcullis-dev/portcullis/internal/policy/gatekeeper/k8scel"
)

var root = field.NewPath("spec", "targets").Index(0).Child("code").Index(0).Child("source")

// parse decodes a YAML document for a test table.
func parse(t *testing.T, doc string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func mustCompile(t testing.TB, src map[string]any) *k8scel.Program {
	t.Helper()
	p, errs := k8scel.Compile(src, nil, root)
	if len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	return p
}

// pod is a small Pod; labels may be nil.
func pod(labels map[string]any) map[string]any {
	md := map[string]any{"name": "web", "namespace": "prod"}
	if labels != nil {
		md["labels"] = labels
	}
	return map[string]any{
		"apiVersion": "v1", "kind": "Pod", "metadata": md,
		"spec": map[string]any{"containers": []any{
			map[string]any{"name": "nginx", "image": "nginx:1.25", "ports": []any{map[string]any{"hostPort": int64(8080)}}},
		}},
	}
}

func messages(vs []k8scel.Violation) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Message)
	}
	return out
}

func errMessages(err error) []string {
	var ee *k8scel.EvalError
	if errors.As(err, &ee) {
		return ee.Messages
	}
	if err != nil {
		return []string{"not an EvalError: " + err.Error()}
	}
	return nil
}

// evaluateCase is a source, an input and what Gatekeeper reports.
type evaluateCase struct {
	name   string
	source string
	in     k8scel.Input
	want   []string // violation messages
	errs   []string // EvalError messages
}

// evaluateCases are run by TestEvaluate and, against the API server's
// implementation, by TestReference.
func evaluateCases() []evaluateCase {
	return []evaluateCase{{
		name: "message expression",
		source: `
validations:
- expression: has(object.metadata.labels) && 'owner' in object.metadata.labels
  messageExpression: '"missing owner on " + object.metadata.name'
  message: static`,
		in:   k8scel.Input{Object: pod(nil)},
		want: []string{"missing owner on web"},
	}, {
		name: "passing validation",
		source: `
validations:
- expression: has(object.metadata.labels) && 'owner' in object.metadata.labels
  message: static`,
		in: k8scel.Input{Object: pod(map[string]any{"owner": "me"})},
	}, {
		name: "static message when the message expression fails",
		source: `
validations:
- expression: "false"
  messageExpression: 'string(object.metadata.missing)'
  message: '  static  '`,
		in:   k8scel.Input{Object: pod(nil)},
		want: []string{"static"},
	}, {
		name: "static message when the message expression is blank or multi-line",
		source: `
validations:
- expression: "false"
  messageExpression: '"  "'
  message: blank
- expression: "false"
  messageExpression: '"a\nb"'
  message: lines`,
		in:   k8scel.Input{Object: pod(nil)},
		want: []string{"blank", "lines"},
	}, {
		name: "expression when there is no message",
		source: `
validations:
- expression: "  1 > 2 "`,
		in:   k8scel.Input{Object: pod(nil)},
		want: []string{"failed expression: 1 > 2"},
	}, {
		name: "variables.params",
		source: `
variables:
- name: max
  expression: 'has(variables.params.max) ? variables.params.max : 100'
validations:
- expression: object.spec.containers.all(c, c.ports.all(p, p.hostPort <= variables.max))
  messageExpression: '"port above " + string(variables.max)'`,
		in:   k8scel.Input{Object: pod(nil), Params: map[string]any{"max": int64(80)}},
		want: []string{"port above 80"},
	}, {
		name: "variables.params is null without parameters",
		source: `
validations:
- expression: variables.params == null`,
		in: k8scel.Input{Object: pod(nil)},
	}, {
		name: "variables can use params, the constraint",
		source: `
variables:
- name: fromConstraint
  expression: params.spec.parameters.max
validations:
- expression: variables.fromConstraint == variables.params.max`,
		in: k8scel.Input{Object: pod(nil), Params: map[string]any{"max": int64(3)}},
	}, {
		name: "variables use earlier variables",
		source: `
variables:
- name: names
  expression: variables.anyObject.spec.containers.map(c, c.name)
- name: first
  expression: variables.names[0]
validations:
- expression: variables.first != "nginx"
  messageExpression: '"container " + variables.first'`,
		in:   k8scel.Input{Object: pod(nil)},
		want: []string{"container nginx"},
	}, {
		name: "anyObject is the old object on DELETE, and object is null",
		source: `
validations:
- expression: object == null
  message: object set
- expression: variables.anyObject.metadata.name != "web"
  message: deleting web`,
		in: k8scel.Input{
			Object: pod(nil), OldObject: pod(nil),
			Request: map[string]any{"operation": "DELETE"},
		},
		want: []string{"deleting web"},
	}, {
		name: "request",
		source: `
validations:
- expression: request.operation != "UPDATE"
  messageExpression: >-
    request.userInfo.username + " " + request.kind.kind + " " + request.name + " " +
    request.namespace + " " + request.requestKind.kind + " " + string(request.dryRun)
- expression: '!has(request.subResource)'
  message: subresource`,
		in: k8scel.Input{Object: pod(nil), Request: map[string]any{
			"operation": "UPDATE", "name": "web", "namespace": "prod", "dryRun": true,
			"kind":     map[string]any{"group": "", "version": "v1", "kind": "Pod"},
			"userInfo": map[string]any{"username": "alice", "groups": []any{"dev"}},
		}},
		want: []string{"alice Pod web prod Pod true"},
	}, {
		name: "namespaceObject",
		source: `
validations:
- expression: namespaceObject == null || namespaceObject.metadata.labels.env != "prod"
  messageExpression: '"namespace " + namespaceObject.metadata.name'`,
		in: k8scel.Input{Object: pod(nil), Namespace: map[string]any{
			"apiVersion": "v1", "kind": "Namespace",
			"metadata": map[string]any{"name": "prod", "labels": map[string]any{"env": "prod"}, "managedFields": []any{}},
		}},
		want: []string{"namespace prod"},
	}, {
		name: "namespaceObject is null when unknown",
		source: `
validations:
- expression: namespaceObject == null`,
		in: k8scel.Input{Object: pod(nil)},
	}, {
		name: "a validation that errors does not hide the others",
		source: `
validations:
- expression: object.metadata.missing == "x"
- expression: "false"
  message: second`,
		in:   k8scel.Input{Object: pod(nil)},
		want: []string{"second"},
		errs: []string{`expression 'object.metadata.missing == "x"' resulted in error: no such key: missing`},
	}, {
		name: "a variable that errors",
		source: `
variables:
- name: broken
  expression: object.spec.missing
validations:
- expression: variables.broken == 1`,
		in:   k8scel.Input{Object: pod(nil)},
		errs: []string{`expression 'variables.broken == 1' resulted in error: composited variable "broken" fails to evaluate: no such key: missing`},
	}, {
		name: "match condition false",
		source: `
matchCondition:
- name: only-kube-system
  expression: object.metadata.namespace == "kube-system"
validations:
- expression: "false"`,
		in: k8scel.Input{Object: pod(nil)},
	}, {
		name: "match condition true",
		source: `
matchCondition:
- name: prod
  expression: object.metadata.namespace == "prod"
validations:
- expression: "false"
  message: denied`,
		in:   k8scel.Input{Object: pod(nil)},
		want: []string{"denied"},
	}, {
		name: "a false match condition wins over one that errors",
		source: `
matchCondition:
- name: broken
  expression: object.missing == 1
- name: never
  expression: "false"
validations:
- expression: "false"`,
		in: k8scel.Input{Object: pod(nil)},
	}, {
		name: "match conditions that error",
		source: `
matchCondition:
- name: a
  expression: object.missing == 1
- name: b
  expression: object.other == 1
validations:
- expression: "false"`,
		in: k8scel.Input{Object: pod(nil)},
		errs: []string{"[expression 'object.missing == 1' resulted in error: no such key: missing, " +
			"expression 'object.other == 1' resulted in error: no such key: other]"},
	}, {
		name: "matchConditions is not a Gatekeeper key",
		source: `
matchConditions:
- name: never
  expression: "false"
validations:
- expression: "false"
  message: denied`,
		in:   k8scel.Input{Object: pod(nil)},
		want: []string{"denied"},
	}, {
		name: "Kubernetes libraries",
		source: `
validations:
- expression: quantity("500Mi").isLessThan(quantity("1Gi"))
- expression: isIP("10.0.0.1") && cidr("10.0.0.0/8").containsIP(ip("10.1.2.3"))
- expression: url("https://example.com/x").getHost() == "example.com"
- expression: '"a,b".split(",").size() == 2'
- expression: sets.contains([1, 2, 3], [2])
- expression: '[3, 1, 2].sort() == [1, 2, 3]'
- expression: 'object.?metadata.?labels.orValue({}).size() == 0'
- expression: '"nginx:1.25".find("[0-9.]+$") == "1.25"'
- expression: 'semver("1.2.3").isLessThan(semver("1.3.0"))'`,
		in: k8scel.Input{Object: pod(nil)},
	}}
}

func TestEvaluate(t *testing.T) {
	for _, tt := range evaluateCases() {
		t.Run(tt.name, func(t *testing.T) {
			p := mustCompile(t, parse(t, tt.source))
			got, err := p.Evaluate(context.Background(), tt.in)
			if diff := cmp.Diff(tt.want, messages(got)); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.errs, errMessages(err)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name   string
		source string
		want   field.ErrorList
		// program is set when Compile still returns a program.
		program bool
	}{{
		name: "valid",
		source: `
variables:
- name: a
  expression: "1"
validations:
- expression: variables.a == 1
failurePolicy: Ignore`,
		program: true,
	}, {
		name: "shape",
		source: `
validations: {}
variables:
- name: params
  expression: "1"
- name: anyObject
  expression: "1"
- name: gatekeeper_internal_x
  expression: "1"
- name: 1bad
  expression: "1"
- name: ok
  expression: ""
- name: ok
  expression: "1"
- 7
matchCondition:
- name: gatekeeper_internal_match
  expression: "true"
failurePolicy: Sometimes`,
		want: field.ErrorList{
			field.TypeInvalid(root.Child("validations"), map[string]any{}, "must be a list"),
			field.Invalid(root.Child("variables").Index(0).Child("name"), "params", `"params" is a reserved variable name`),
			field.Invalid(root.Child("variables").Index(1).Child("name"), "anyObject", `"anyObject" is a reserved variable name`),
			field.Invalid(root.Child("variables").Index(2).Child("name"), "gatekeeper_internal_x", `must not start with "gatekeeper_internal_"`),
			field.Invalid(root.Child("variables").Index(3).Child("name"), "1bad", "must be a CEL identifier: a letter or underscore followed by letters, digits and underscores"),
			field.Required(root.Child("variables").Index(4).Child("expression"), ""),
			field.Duplicate(root.Child("variables").Index(5).Child("name"), "ok"),
			field.TypeInvalid(root.Child("variables").Index(6), 7.0, "must be an object"),
			field.Invalid(root.Child("matchCondition").Index(0).Child("name"), "gatekeeper_internal_match", `must not start with "gatekeeper_internal_"`),
			field.NotSupported(root.Child("failurePolicy"), "Sometimes", []string{"Fail", "Ignore"}),
		},
	}, {
		name: "types",
		source: `
validations:
- expression: "1"
  messageExpression: "1"
- expression: object.spec
- expression: params.spec.parameters.x == 1
- expression: authorizer.group("").resource("pods").check("get").allowed()
- message: no expression
matchCondition:
- name: m
  expression: '"yes"'`,
		program: true,
		want: field.ErrorList{
			field.Invalid(root.Child("matchCondition").Index(0).Child("expression"), `"yes"`, "must evaluate to bool but got string"),
			field.Invalid(root.Child("validations").Index(0).Child("expression"), "1", "must evaluate to bool but got int"),
			field.Invalid(root.Child("validations").Index(0).Child("messageExpression"), "1", "must evaluate to string but got int"),
			field.Invalid(root.Child("validations").Index(1).Child("expression"), "object.spec", "must evaluate to bool but got dyn"),
			field.Invalid(root.Child("validations").Index(2).Child("expression"), "params.spec.parameters.x == 1",
				"compilation failed: ERROR: <input>:1:1: undeclared reference to 'params' (in container '')\n | params.spec.parameters.x == 1\n | ^"),
			field.Invalid(root.Child("validations").Index(3).Child("expression"), `authorizer.group("").resource("pods").check("get").allowed()`,
				"compilation failed: ERROR: <input>:1:1: undeclared reference to 'authorizer' (in container '')\n | authorizer.group(\"\").resource(\"pods\").check(\"get\").allowed()\n | ^"),
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := parse(t, tt.source)
			if tt.name == "types" {
				// A validation without expression is a shape error; test it
				// apart so the expression errors above still compile.
				src["validations"] = src["validations"].([]any)[:4]
			}
			p, errs := k8scel.Compile(src, nil, root)
			if diff := cmp.Diff(tt.want, errs); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if (p != nil) != tt.program {
				t.Errorf("program = %v, want one: %v", p, tt.program)
			}
		})
	}
}

// TestCompileErrorEvaluates checks that a template whose expressions do not
// all compile evaluates as Gatekeeper evaluates it: the broken expression
// reports an error and the others work.
func TestCompileErrorEvaluates(t *testing.T) {
	p, errs := k8scel.Compile(parse(t, `
variables:
- name: broken
  expression: object.spec +
validations:
- expression: variables.broken == 1
- expression: undefinedThing
- expression: "false"
  message: works`), nil, root)
	if len(errs) != 2 || p == nil {
		t.Fatalf("Compile = %v, %v; want a program and 2 errors", p, errs)
	}
	got, err := p.Evaluate(context.Background(), k8scel.Input{Object: pod(nil)})
	if diff := cmp.Diff([]string{"works"}, messages(got)); diff != "" {
		t.Errorf("violations (-want +got):\n%s", diff)
	}
	msgs := errMessages(err)
	if len(msgs) != 2 ||
		!strings.HasPrefix(msgs[0], `expression 'variables.broken == 1' resulted in error: composited variable "broken" fails to compile: compilation failed: ERROR:`) ||
		!strings.HasPrefix(msgs[1], "compilation error: compilation failed: ERROR: <input>:1:1: undeclared reference to 'undefinedThing'") {
		t.Errorf("errors = %q", msgs)
	}
}

func TestFailurePolicy(t *testing.T) {
	for _, tt := range []struct {
		source string
		want   k8scel.FailurePolicy
	}{
		{`validations: []`, k8scel.FailurePolicyFail},
		{`failurePolicy: Fail`, k8scel.FailurePolicyFail},
		{`failurePolicy: Ignore`, k8scel.FailurePolicyIgnore},
	} {
		t.Run(tt.source, func(t *testing.T) {
			if got := mustCompile(t, parse(t, tt.source)).FailurePolicy(); got != tt.want {
				t.Errorf("FailurePolicy() = %q, want %q", got, tt.want)
			}
		})
	}
}

// bigList is a list whose nested comprehensions cost about n*n.
func bigList(n int) []any {
	l := make([]any, n)
	for i := range l {
		l[i] = int64(i)
	}
	return l
}

func TestCostAndContext(t *testing.T) {
	// Over 250 items, quadratic costs about 400,000 of the 1,000,000 budget.
	obj := map[string]any{"items": bigList(250)}
	quadratic := `object.items.all(a, object.items.all(b, a + b >= 0))`
	tests := []struct {
		name    string
		source  string
		ctx     func() context.Context
		wantErr error
		want    []string
	}{{
		name:   "expressions under the budget",
		source: "validations:\n- expression: '" + quadratic + "'\n- expression: '" + quadratic + "'\n",
	}, {
		name:    "one expression over the per-call limit",
		source:  "validations:\n- expression: 'object.items.all(a, object.items.all(b, object.items.all(c, a + b + c >= 0)))'",
		wantErr: k8scel.ErrCostBudget,
		want:    []string{"validation failed due to running out of cost budget, no further validation rules will be run"},
	}, {
		name: "expressions under the limit that add up over the budget",
		source: "validations:\n- expression: '" + quadratic + "'\n- expression: '" + quadratic + "'\n" +
			"- expression: '" + quadratic + "'\n",
		wantErr: k8scel.ErrCostBudget,
		want:    []string{"validation failed due to running out of cost budget, no further validation rules will be run"},
	}, {
		name: "variables count against the budget",
		source: "variables:\n- name: a\n  expression: '" + quadratic + "'\n- name: b\n  expression: '" + quadratic + "'\n" +
			"- name: c\n  expression: '" + quadratic + "'\n" +
			"validations:\n- expression: variables.a && variables.b && variables.c\n",
		wantErr: k8scel.ErrCostBudget,
		want:    []string{"validation failed due to running out of cost budget, no further validation rules will be run"},
	}, {
		name:   "a cancelled context",
		source: "validations:\n- expression: '" + quadratic + "'",
		ctx: func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		},
		wantErr: context.Canceled,
		want:    []string{"evaluation stopped: context canceled"},
	}, {
		name:   "a deadline that passes during evaluation",
		source: "validations:\n- expression: '" + quadratic + "'\n- expression: '" + quadratic + "'\n",
		ctx: func() context.Context {
			ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
			t.Cleanup(cancel)
			return ctx
		},
		wantErr: context.DeadlineExceeded,
		want:    []string{"evaluation stopped: context deadline exceeded"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.ctx != nil {
				ctx = tt.ctx()
			}
			p := mustCompile(t, parse(t, tt.source))
			violations, err := p.Evaluate(ctx, k8scel.Input{Object: obj})
			if tt.wantErr == nil && err != nil || !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if violations != nil {
				t.Errorf("violations = %v, want none", violations)
			}
			if diff := cmp.Diff(tt.want, errMessages(err)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEvaluateNilProgram(t *testing.T) {
	var p *k8scel.Program
	if _, err := p.Evaluate(context.Background(), k8scel.Input{}); err == nil {
		t.Error("Evaluate on a nil Program: no error")
	}
}

// TestConcurrent evaluates one program from many goroutines; run with -race.
func TestConcurrent(t *testing.T) {
	p := mustCompile(t, parse(t, `
variables:
- name: names
  expression: variables.anyObject.spec.containers.map(c, c.name)
validations:
- expression: '!("nginx" in variables.names)'
  messageExpression: '"has " + variables.names[0]'`))
	done := make(chan []string)
	for range 8 {
		go func() {
			var got []string
			for range 50 {
				v, _ := p.Evaluate(context.Background(), k8scel.Input{Object: pod(nil)})
				got = messages(v)
			}
			done <- got
		}()
	}
	for range 8 {
		if diff := cmp.Diff([]string{"has nginx"}, <-done); diff != "" {
			t.Error(diff)
		}
	}
}
