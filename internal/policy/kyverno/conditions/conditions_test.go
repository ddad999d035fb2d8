package conditions

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func errorStrings(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want []string
	}{
		{"null", `null`, nil},
		{"empty map", `{}`, nil},
		{"empty list", `[]`, nil},
		{"any and all", `{"any": [{"key": "a", "operator": "Equals", "value": "a"}], "all": [{"key": 1, "operator": "AnyIn", "value": [1]}]}`, nil},
		{"null any", `{"any": null}`, nil},
		{"legacy", `[{"key": "a", "operator": "NotEquals", "value": "b", "message": "m"}]`, nil},
		{"deprecated spellings", `[{"key": "a", "operator": "Equal", "value": "b"}, {"key": "a", "operator": "NotIn", "value": ["b"]}, {"key": "1h", "operator": "DurationGreaterThan", "value": "1m"}]`, nil},
		{
			name: "unknown field",
			raw:  `{"any": [], "none": []}`,
			want: []string{`spec.rules[0].preconditions: Unsupported value: "none": supported values: "all", "any"`},
		},
		{
			name: "any not a list",
			raw:  `{"any": {"key": "a"}}`,
			want: []string{`spec.rules[0].preconditions.any: Invalid value: {"key":"a"}: must be a list of conditions`},
		},
		{
			name: "wrong case operator",
			raw:  `{"all": [{"key": "a", "operator": "equals", "value": "a"}]}`,
			want: []string{`spec.rules[0].preconditions.all[0].operator: Unsupported value: "equals": supported values: "AllIn", "AllNotIn", "AnyIn", "AnyNotIn", "DurationGreaterThan", "DurationGreaterThanOrEquals", "DurationLessThan", "DurationLessThanOrEquals", "Equal", "Equals", "GreaterThan", "GreaterThanOrEquals", "In", "LessThan", "LessThanOrEquals", "NotEqual", "NotEquals", "NotIn"`},
		},
		{
			name: "every problem is reported",
			raw:  `{"any": [{"operator": "Equals"}, "x", {"key": "a", "operator": 3, "value": "b", "message": 1}], "all": [{"key": "a", "value": "b"}]}`,
			want: []string{
				"spec.rules[0].preconditions.all[0].operator: Required value: entered value of `key`, `value` or `operator` is missing or misspelled",
				"spec.rules[0].preconditions.any[0].key: Required value: entered value of `key`, `value` or `operator` is missing or misspelled",
				"spec.rules[0].preconditions.any[0].value: Required value: entered value of `key`, `value` or `operator` is missing or misspelled",
				`spec.rules[0].preconditions.any[1]: Invalid value: "x": must be a condition with key, operator and value`,
				`spec.rules[0].preconditions.any[2].operator: Invalid value: 3: must be a string`,
				`spec.rules[0].preconditions.any[2].message: Invalid value: 1: must be a string`,
			},
		},
		{
			name: "legacy list with an unknown operator",
			raw:  `[{"key": "a", "operator": "Like", "value": "a"}]`,
			want: []string{`spec.rules[0].preconditions[0].operator: Unsupported value: "Like": supported values: "AllIn", "AllNotIn", "AnyIn", "AnyNotIn", "DurationGreaterThan", "DurationGreaterThanOrEquals", "DurationLessThan", "DurationLessThanOrEquals", "Equal", "Equals", "GreaterThan", "GreaterThanOrEquals", "In", "LessThan", "LessThanOrEquals", "NotEqual", "NotEquals", "NotIn"`},
		},
		{
			name: "request operation values",
			raw:  `{"any": [{"key": "{{ request.operation }}", "operator": "AnyIn", "value": ["CREATE", "PATCH"]}, {"key": "{{request.operation}}", "operator": "Equals", "value": "Update"}, {"key": "{{request.operation}}", "operator": "Equals", "value": "{{ op }}"}]}`,
			want: []string{
				`spec.rules[0].preconditions.any[0].value[1]: Invalid value: "PATCH": only CREATE, UPDATE, DELETE and CONNECT are allowed`,
				`spec.rules[0].preconditions.any[1].value: Invalid value: "Update": only CREATE, UPDATE, DELETE and CONNECT are allowed`,
			},
		},
		{
			name: "not a block",
			raw:  `"x"`,
			want: []string{`spec.rules[0].preconditions: Invalid value: "x": must be a list of conditions or a map with any and all`},
		},
	}
	path := field.NewPath("spec", "rules").Index(0).Child("preconditions")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, errs := Compile(j(t, tt.raw), path)
			if diff := cmp.Diff(tt.want, errorStrings(errs)); diff != "" {
				t.Errorf("Compile() errors (-want +got):\n%s", diff)
			}
			if len(errs) > 0 && b != nil {
				t.Errorf("Compile() returned a block with errors")
			}
		})
	}
}

// vars substitutes "{{name}}" strings from a map, fails on "{{fail}}" and
// records what it resolved.
type vars struct {
	values   map[string]any
	resolved []string
}

func (v *vars) subst(x any) (any, error) {
	s, ok := x.(string)
	if !ok || !strings.HasPrefix(s, "{{") {
		return x, nil
	}
	name := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(s, "{{"), "}}"))
	v.resolved = append(v.resolved, name)
	if name == "fail" {
		return nil, errors.New("variable fail not found")
	}
	return v.values[name], nil
}

func TestEvaluate(t *testing.T) {
	values := map[string]any{
		"name":     "temp",
		"foo":      "bar",
		"replicas": int64(3),
		"kinds":    []any{"Pod", "Deployment"},
	}
	tests := []struct {
		name     string
		raw      string
		want     bool
		wantMsg  string
		wantErr  string
		resolved []string
	}{
		{name: "empty block", raw: `{}`, want: true},
		{name: "empty legacy list", raw: `[]`, want: true},
		{name: "empty any list fails", raw: `{"any": []}`, want: false},
		{name: "empty all list holds", raw: `{"all": []}`, want: true},
		{
			name:     "any stops at the first true condition",
			raw:      `{"any": [{"key": "{{name}}", "operator": "Equals", "value": "temp"}, {"key": "{{fail}}", "operator": "Equals", "value": "x"}]}`,
			want:     true,
			resolved: []string{"name"},
		},
		{
			name:     "all stops at the first false condition",
			raw:      `{"all": [{"key": "{{name}}", "operator": "Equals", "value": "other"}, {"key": "{{fail}}", "operator": "Equals", "value": "x"}]}`,
			want:     false,
			resolved: []string{"name"},
		},
		{
			name:     "all is evaluated even when any fails",
			raw:      `{"any": [{"key": "{{name}}", "operator": "Equals", "value": "other"}], "all": [{"key": "{{fail}}", "operator": "Equals", "value": "x"}]}`,
			wantErr:  "failed to substitute variables in condition key: variable fail not found",
			resolved: []string{"name", "fail"},
		},
		{
			name:     "error in a value",
			raw:      `[{"key": "{{name}}", "operator": "Equals", "value": "{{fail}}"}]`,
			wantErr:  "failed to substitute variables in condition value: variable fail not found",
			resolved: []string{"name", "fail"},
		},
		{
			name: "both any and all must hold",
			raw:  `{"any": [{"key": "{{replicas}}", "operator": "GreaterThan", "value": 2}], "all": [{"key": "{{kinds}}", "operator": "AllIn", "value": ["Pod"]}]}`,
			want: false,
		},
		{
			name: "numbers are compared as floats",
			raw:  `{"all": [{"key": "{{replicas}}", "operator": "Equals", "value": "3.0"}, {"key": "{{kinds}}", "operator": "AnyIn", "value": ["Deploy*"]}]}`,
			want: true,
		},
		{
			name:    "messages of false any conditions",
			raw:     `{"any": [{"key": "{{name}}", "operator": "Equals", "value": "temp2", "message": "invalid name"}, {"key": "{{foo}}", "operator": "Equals", "value": "bar2", "message": "invalid foo"}]}`,
			want:    false,
			wantMsg: "invalid name; invalid foo",
		},
		{
			name:    "message of the true any condition",
			raw:     `{"any": [{"key": "{{name}}", "operator": "Equals", "value": "temp", "message": "invalid name"}, {"key": "{{foo}}", "operator": "Equals", "value": "bar", "message": "invalid foo"}]}`,
			want:    true,
			wantMsg: "invalid name",
		},
		{
			name: "any true, all false",
			raw: `{"any": [{"key": "{{name}}", "operator": "Equals", "value": "temp", "message": "invalid name"}],
				"all": [{"key": "{{name}}", "operator": "Equals", "value": "temp", "message": "invalid name"}, {"key": "{{foo}}", "operator": "Equals", "value": "bar2", "message": "invalid foo"}]}`,
			want:    false,
			wantMsg: "invalid foo",
		},
		{
			name: "any and all false",
			raw: `{"any": [{"key": "{{name}}", "operator": "Equals", "value": "temp1", "message": "invalid name"}, {"key": "{{foo}}", "operator": "Equals", "value": "bar2", "message": "invalid foo"}],
				"all": [{"key": "{{name}}", "operator": "Equals", "value": "temp", "message": "invalid name"}, {"key": "{{foo}}", "operator": "Equals", "value": "bar2", "message": "invalid foo2"}]}`,
			want:    false,
			wantMsg: "invalid name; invalid foo; invalid foo2",
		},
		{
			name:    "all true joins messages",
			raw:     `{"all": [{"key": "a", "operator": "Equals", "value": "a", "message": "one"}, {"key": "b", "operator": "Equals", "value": "b"}, {"key": "c", "operator": "Equals", "value": "c", "message": "three"}]}`,
			want:    true,
			wantMsg: "one; three",
		},
		{
			name:    "legacy true joins messages without a space",
			raw:     `[{"key": "a", "operator": "Equals", "value": "a", "message": "one"}, {"key": "b", "operator": "Equals", "value": "b", "message": "two"}]`,
			want:    true,
			wantMsg: "one;two",
		},
		{
			name:    "legacy false reports the failing condition",
			raw:     `[{"key": "a", "operator": "Equals", "value": "a", "message": "one"}, {"key": "b", "operator": "Equals", "value": "c", "message": "two"}]`,
			want:    false,
			wantMsg: "two",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, errs := Compile(j(t, tt.raw), field.NewPath("preconditions"))
			if len(errs) > 0 {
				t.Fatalf("Compile() = %v", errs)
			}
			v := &vars{values: values}
			got, msg, err := b.Evaluate(v.subst)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if diff := cmp.Diff([]any{tt.want, tt.wantMsg, tt.wantErr}, []any{got, msg, gotErr}); diff != "" {
				t.Errorf("Evaluate() (-want +got):\n%s", diff)
			}
			if tt.resolved != nil {
				if diff := cmp.Diff(tt.resolved, v.resolved); diff != "" {
					t.Errorf("resolved variables (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestEvaluateNilBlock(t *testing.T) {
	var b *Block
	got, msg, err := b.Evaluate(nil)
	if diff := cmp.Diff([]any{true, "", nil}, []any{got, msg, err}); diff != "" {
		t.Errorf("Evaluate() (-want +got):\n%s", diff)
	}
}

func TestEvaluateWrapsErrors(t *testing.T) {
	sentinel := errors.New("boom")
	b, _ := Compile(j(t, `[{"key": "{{x}}", "operator": "Equals", "value": 1}]`), field.NewPath("p"))
	_, _, err := b.Evaluate(func(any) (any, error) { return nil, sentinel })
	if !errors.Is(err, sentinel) {
		t.Errorf("Evaluate() error = %v, want it to wrap %v", err, sentinel)
	}
}

func ExampleBlock_Evaluate() {
	raw := map[string]any{
		"any": []any{
			map[string]any{"key": "{{ request.object.spec.type }}", "operator": "Equals", "value": "NodePort", "message": "NodePort is not allowed"},
			map[string]any{"key": "{{ request.object.spec.ports[].port }}", "operator": "AnyIn", "value": "1-1023", "message": "privileged ports are not allowed"},
		},
	}
	b, errs := Compile(raw, field.NewPath("spec", "rules").Index(0).Child("validate", "deny", "conditions"))
	if len(errs) > 0 {
		panic(errs)
	}
	// The caller resolves variables; here with fixed values.
	service := map[string]any{
		"{{ request.object.spec.type }}":         "ClusterIP",
		"{{ request.object.spec.ports[].port }}": []any{int64(8080), int64(443)},
	}
	deny, msg, err := b.Evaluate(func(v any) (any, error) {
		if s, ok := v.(string); ok {
			if r, ok := service[s]; ok {
				return r, nil
			}
		}
		return v, nil
	})
	fmt.Println(deny, msg, err)
	// Output: true privileged ports are not allowed <nil>
}

func BenchmarkEvaluate(b *testing.B) {
	raw := j(b, `{"any": [
		{"key": "{{ limits.memory }}", "operator": "Equals", "value": ""},
		{"key": "{{ limits.cpu }}", "operator": "Equals", "value": ""},
		{"key": "{{ replicas }}", "operator": "GreaterThan", "value": 10},
		{"key": "{{ namespaces }}", "operator": "AnyIn", "value": ["kube-*", "default"]}]}`)
	block, errs := Compile(raw, field.NewPath("conditions"))
	if len(errs) > 0 {
		b.Fatal(errs)
	}
	values := map[string]any{
		"{{ limits.memory }}": "1Gi",
		"{{ limits.cpu }}":    "500m",
		"{{ replicas }}":      int64(3),
		"{{ namespaces }}":    []any{"team-a", "team-b"},
	}
	subst := func(v any) (any, error) {
		if s, ok := v.(string); ok {
			if r, ok := values[s]; ok {
				return r, nil
			}
		}
		return v, nil
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if ok, _, err := block.Evaluate(subst); ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
