package variables

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/jmespath"
)

func testData() map[string]any {
	return map[string]any{
		"request": map[string]any{
			"operation": "CREATE",
			"namespace": "ns1",
			"object": map[string]any{
				"metadata": map[string]any{
					"name":   "mypod",
					"labels": map[string]any{"app": "web", "injected": "{{ request.namespace }}"},
				},
				"spec": map[string]any{
					"replicas": int64(3),
					"ratio":    1.5,
					"containers": []any{
						map[string]any{"name": "nginx", "image": "nginx:1.21", "workingDir": "/release-name---/x"},
					},
				},
			},
			"oldObject": map[string]any{"metadata": map[string]any{"name": "old"}},
		},
		"cm":       map[string]any{"data": map[string]any{"ns1": "high", "json": `["a","b"]`}},
		"nested":   "{{ request.namespace }}",
		"element":  map[string]any{"name": "nginx", "image": "nginx:1.21"},
		"elemIdx":  int64(0),
		"nullable": nil,
	}
}

func TestSubstitute(t *testing.T) {
	jp := jmespath.New()
	data := testData()
	for _, tc := range []struct {
		name    string
		in      string
		want    any
		wantErr string
	}{
		{name: "no variables", in: "plain text", want: "plain text"},
		{name: "whole string keeps type number", in: "{{ request.object.spec.replicas }}", want: int64(3)},
		{name: "whole string keeps type object", in: "{{request.object.metadata.name}}", want: "mypod"},
		{name: "whole string null", in: "{{ nullable }}", want: nil},
		{name: "embedded number", in: "replicas={{ request.object.spec.replicas }}", want: "replicas=3"},
		{name: "embedded float", in: "ratio {{ request.object.spec.ratio }}", want: "ratio 1.5"},
		{name: "embedded bool", in: "is {{ request.object.spec.replicas > `2` }}", want: "is true"},
		{name: "embedded null", in: "x {{ nullable }}", want: "x null"},
		{name: "embedded object as JSON", in: "l={{ request.object.metadata.labels }}", want: `l={"app":"web","injected":"ns1"}`},
		{name: "embedded array as JSON", in: "c={{ request.object.spec.containers[].name }}", want: `c=["nginx"]`},
		{name: "several variables", in: "{{request.namespace}}/{{ request.object.metadata.name }}", want: "ns1/mypod"},
		{name: "adjacent variables", in: "{{request.namespace}}{{request.namespace}}", want: "ns1ns1"},
		{name: "repeated variable", in: "{{ element.name }}-{{ element.name }}", want: "nginx-nginx"},
		{name: "nested variable", in: `{{ cm.data."{{ request.namespace }}" }}`, want: "high"},
		{name: "nested variable in function", in: "{{ regex_match('^[0-9]+%$', '{{ request.object.spec.minAvailable || ''}}') }}", want: false},
		{name: "nested twice", in: `{{ cm.data."{{ cm.data."{{ request.namespace }}" || 'ns1' }}" || 'none' }}`, want: "none"},
		{name: "escaped variable", in: `\{{ request.namespace }}`, want: "{{ request.namespace }}"},
		{name: "escaped and real", in: `\{{ a }} {{ request.namespace }}`, want: "{{ a }} ns1"},
		{name: "substituted text is substituted again", in: "x-{{ nested }}", want: "x-ns1"},
		{name: "whole string value is not substituted again", in: "{{ nested }}", want: "{{ request.namespace }}"},
		{name: "shallow substitution", in: "x-{{- nested }}", want: "x-{{ request.namespace }}"},
		{name: "object value strings are substituted", in: "{{ request.object.metadata.labels }}", want: map[string]any{"app": "web", "injected": "ns1"}},
		{name: "to_string of number", in: "{{ to_string(request.object.spec.replicas) }}", want: "3"},
		{name: "parse_json", in: "{{ cm.data.json | parse_json(@) }}", want: []any{"a", "b"}},
		{name: "replace_all doc example", in: "{{ replace_all('{{request.object.spec.containers[0].workingDir}}', 'release-name---', '{{request.object.metadata.name}}') }}", want: "/mypod/x"},
		{name: "missing key", in: "{{ request.object.metadata.annotations.foo }}", wantErr: `failed to resolve request.object.metadata.annotations.foo at path : JMESPath query failed: Unknown key "annotations" in path`},
		{name: "missing key embedded", in: "a {{ nope }}", wantErr: `failed to resolve nope at path : JMESPath query failed: Unknown key "nope" in path`},
		{name: "or default", in: "{{ request.object.metadata.annotations.foo || 'dflt' }}", want: "dflt"},
		{name: "syntax error", in: "{{ foo[ }}", wantErr: "failed to resolve foo[ at path : incorrect query foo[: SyntaxError: Expected tStar, received: tEOF"},
		{name: "empty variable", in: "{{ }}", wantErr: "failed to resolve  at path : invalid query (nil)"},
		{name: "function error", in: "{{ divide(`1`, `0`) }}", wantErr: "failed to resolve divide(`1`, `0`) at path : JMESPath query failed: JMESPath function 'divide': Zero divisor passed"},
		{name: "at is request.object", in: "{{@.metadata.name}}", wantErr: `failed to resolve @.metadata.name at path : JMESPath query failed: Unknown key "metadata" in path`},
		{name: "at alone", in: "{{@}}", want: map[string]any{
			"metadata": map[string]any{"name": "mypod", "labels": map[string]any{"app": "web", "injected": "ns1"}},
			"spec": map[string]any{"replicas": int64(3), "ratio": 1.5, "containers": []any{
				map[string]any{"name": "nginx", "image": "nginx:1.21", "workingDir": "/release-name---/x"},
			}},
		}},
		{name: "unicode prefix", in: "é{{ request.namespace }}", want: "éns1"},
		{name: "braces in JSON literal", in: "{{ `{\"a\":1}`.a }}", want: 1.0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Substitute(tc.in, jp, data)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("Substitute(%q) = %#v, want error %q", tc.in, got, tc.wantErr)
				}
				if diff := cmp.Diff(tc.wantErr, err.Error()); diff != "" {
					t.Fatalf("error mismatch (-want +got):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("Substitute(%q): %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("Substitute(%q) mismatch (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestResolveErrorTypes(t *testing.T) {
	jp := jmespath.New()
	_, err := Substitute("{{ request.object.metadata.annotations.x }}", jp, testData())
	var re *ResolveError
	if !errors.As(err, &re) || !re.NotFound() || re.Variable != "request.object.metadata.annotations.x" {
		t.Fatalf("got %#v, want a not-found ResolveError", err)
	}
	var nf jmespath.NotFoundError
	if !errors.As(err, &nf) || nf.Key != "annotations" {
		t.Fatalf("errors.As(NotFoundError) failed on %v", err)
	}
	_, err = Substitute("{{ divide(`1`, `0`) }}", jp, testData())
	if !errors.As(err, &re) || re.NotFound() {
		t.Fatalf("got %#v, want a ResolveError that is not NotFound", err)
	}
}

func mustJSON(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad JSON %q: %v", s, err)
	}
	return v
}

func TestTemplateDocuments(t *testing.T) {
	jp := jmespath.New()
	for _, tc := range []struct {
		name    string
		doc     string
		path    string
		data    any
		opts    []EvalOption
		want    string
		wantErr string
	}{
		{
			name: "values and keys",
			doc:  `{"metadata":{"labels":{"ns":"{{request.namespace}}","{{request.object.metadata.name}}-key":"v","n":1}}}`,
			want: `{"metadata":{"labels":{"mypod-key":"v","n":1,"ns":"ns1"}}}`,
		},
		{
			name: "key resolving to null is kept",
			doc:  `{"{{ nullable }}":"v"}`,
			want: `{"{{ nullable }}":"v"}`,
		},
		{
			name:    "key must be a string",
			doc:     `{"{{ request.object.spec.replicas }}":"v"}`,
			wantErr: `expected string after substituting variables in key "{{ request.object.spec.replicas }}"`,
		},
		{
			name: "escaped key",
			doc:  `{"\\{{ x }}":"\\{{ y }}"}`,
			want: `{"{{ x }}":"{{ y }}"}`,
		},
		{
			name:    "error path",
			doc:     `{"spec":{"containers":[{"image":"{{ nope }}"}]}}`,
			path:    "/validate/pattern",
			wantErr: `failed to resolve nope at path /validate/pattern/spec/containers/0/image: JMESPath query failed: Unknown key "nope" in path`,
		},
		{
			name: "at in mutate patch",
			doc:  `{"spec":{"containers":[{"(name)":"*","workingDir":"{{ replace_all('{{@}}', 'release-name---', 'rel') }}"}]}}`,
			path: "/mutate/patchStrategicMerge",
			want: `{"spec":{"containers":[{"(name)":"*","workingDir":"/rel/x"}]}}`,
		},
		{
			name: "at in foreach uses target",
			doc:  `{"metadata":{"name":"{{ @ }}"}}`,
			path: "/mutate/foreach/0/patchStrategicMerge",
			data: map[string]any{"target": map[string]any{"metadata": map[string]any{"name": "tgt"}}},
			want: `{"metadata":{"name":"tgt"}}`,
		},
		{
			name: "delete request reads oldObject",
			doc:  `"{{ request.object.metadata.name }}"`,
			data: map[string]any{"request": map[string]any{"operation": "DELETE", "object": nil, "oldObject": map[string]any{"metadata": map[string]any{"name": "old"}}}},
			want: `"old"`,
		},
		{
			name: "operation option overrides data",
			doc:  `"{{ request.object.metadata.name }}"`,
			opts: []EvalOption{WithOperation("DELETE")},
			want: `"old"`,
		},
		{
			name: "reference relative",
			doc:  `{"spec":{"containers":[{"name":"*","resources":{"requests":{"memory":"$(<=./../../limits/memory)"},"limits":{"memory":"2048Mi"}}}]}}`,
			want: `{"spec":{"containers":[{"name":"*","resources":{"limits":{"memory":"2048Mi"},"requests":{"memory":"<=2048Mi"}}}]}}`,
		},
		{
			name: "reference through anchor and into variable",
			doc:  `{"spec":{"(name)":"{{ element.name }}","copy":"prefix-$(./../name)"}}`,
			want: `{"spec":{"(name)":"nginx","copy":"prefix-nginx"}}`,
		},
		{
			name: "reference absolute with number operator",
			doc:  `{"a":{"n":2},"b":"$(>/a/n)"}`,
			data: map[string]any{},
			want: `{"a":{"n":2},"b":">2.000000"}`,
		},
		{
			name: "escaped reference",
			doc:  `{"a":"\\$(./b)"}`,
			want: `{"a":"$(./b)"}`,
		},
		{
			name:    "reference to nothing",
			doc:     `{"a":"$(./missing)"}`,
			wantErr: `got nil resolved variable $(./missing) at path /a: <nil>`,
		},
		{
			name:    "reference to non string",
			doc:     `{"a":{"n":2},"b":"$(/a/n)"}`,
			wantErr: `NotResolvedReferenceErr,reference $(/a/n) not resolved at path /b`,
		},
		{
			name: "substituted object is traversed",
			doc:  `{"labels":"{{ request.object.metadata.labels }}","n":"{{ request.object.spec.replicas }}"}`,
			want: `{"labels":{"app":"web","injected":"ns1"},"n":3}`,
		},
		{
			name: "static parts are kept",
			doc:  `{"a":[1,"x",{"b":true}],"c":"{{ element.image }}"}`,
			want: `{"a":[1,"x",{"b":true}],"c":"nginx:1.21"}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.data
			if data == nil {
				data = testData()
			}
			tpl, err := Compile(mustJSON(t, tc.doc), jp, WithPath(tc.path))
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			got, err := tpl.Evaluate(data, tc.opts...)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("Evaluate = %#v, want error %q", got, tc.wantErr)
				}
				if diff := cmp.Diff(tc.wantErr, err.Error()); diff != "" {
					t.Fatalf("error mismatch (-want +got):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			if diff := cmp.Diff(mustJSON(t, tc.want), normalize(t, got)); diff != "" {
				t.Fatalf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// normalize round-trips v through JSON so int64 and float64 compare equal.
func normalize(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return mustJSON(t, string(b))
}

func TestEvaluateDoesNotMutate(t *testing.T) {
	jp := jmespath.New()
	doc := mustJSON(t, `{"a":{"{{ request.namespace }}":"{{ element.name }}","s":"static"},"l":["{{ element.image }}",1]}`)
	before := normalize(t, doc)
	data := testData()
	dataBefore := normalize(t, data)
	tpl, err := Compile(doc, jp)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		got, err := tpl.Evaluate(data)
		if err != nil {
			t.Fatal(err)
		}
		want := mustJSON(t, `{"a":{"ns1":"nginx","s":"static"},"l":["nginx:1.21",1]}`)
		if diff := cmp.Diff(want, normalize(t, got)); diff != "" {
			t.Fatalf("mismatch (-want +got):\n%s", diff)
		}
	}
	if diff := cmp.Diff(before, normalize(t, doc)); diff != "" {
		t.Fatalf("document mutated:\n%s", diff)
	}
	if diff := cmp.Diff(dataBefore, normalize(t, data)); diff != "" {
		t.Fatalf("data mutated:\n%s", diff)
	}
}

func TestHasVariables(t *testing.T) {
	jp := jmespath.New()
	for _, tc := range []struct {
		doc  any
		want bool
	}{
		{doc: "plain", want: false},
		{doc: map[string]any{"a": []any{"x", 1.0}}, want: false},
		{doc: map[string]any{"a": "{{ x }}"}, want: true},
		{doc: map[string]any{"{{ x }}": "a"}, want: true},
		{doc: []any{"$(./a)"}, want: true},
	} {
		tpl, err := Compile(tc.doc, jp)
		if err != nil {
			t.Fatal(err)
		}
		if got := tpl.HasVariables(); got != tc.want {
			t.Errorf("HasVariables(%v) = %v, want %v", tc.doc, got, tc.want)
		}
		if !tc.want {
			got, err := tpl.Evaluate(nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.doc, got); diff != "" {
				t.Errorf("Evaluate changed a document without variables:\n%s", diff)
			}
		}
	}
}

func TestLimits(t *testing.T) {
	jp := jmespath.New()
	many := map[string]any{}
	for i := range MaxVariables + 1 {
		many[itoa(i)] = "{{ a }}"
	}
	var le *LimitError
	if _, err := Compile(many, jp); !errors.As(err, &le) {
		t.Fatalf("Compile with too many variables: %v, want a LimitError", err)
	}
	// A value that substitutes itself forever.
	loop := map[string]any{"a": "x{{ a }}"}
	if _, err := Substitute("{{ a }}y{{ a }}", jp, loop); !errors.As(err, &le) {
		t.Fatalf("self-referencing substitution: %v, want a LimitError", err)
	}
	self := map[string]any{"m": map[string]any{"k": "{{ m }}"}}
	if _, err := Substitute("{{ m }}", jp, self); !errors.As(err, &le) {
		t.Fatalf("self-referencing object: %v, want a LimitError", err)
	}
}

func TestPointerJMESPath(t *testing.T) {
	for _, tc := range []struct {
		path, prefix, want string
	}{
		{path: "/mutate/patchStrategicMerge/spec/containers/0/image", prefix: "request.object", want: "request.object.spec.containers[0].image"},
		{path: "/mutate/foreach/0/patchStrategicMerge/metadata/labels/app", prefix: "target", want: "target.metadata.labels.app"},
		{path: `/a/b/metadata/labels/app.kubernetes.io\/name`, prefix: "request.object", want: `request.object.metadata.labels."app.kubernetes.io/name"`},
		{path: "/a/b", prefix: "request.object", want: "request.object"},
		{path: "/a/b/(name)", prefix: "request.object", want: `request.object."(name)"`},
	} {
		if got := atExpression(tc.path, tc.prefix); got != tc.want {
			t.Errorf("atExpression(%q, %q) = %q, want %q", tc.path, tc.prefix, got, tc.want)
		}
	}
}

func TestRenderMatchesJSON(t *testing.T) {
	for _, v := range []any{0.0, -0.0, 1.5, 3.0, 1e20, 1e21, 1e-6, 1e-7, -2.5e-7, 123456789.0, int64(-7), 42, true, nil, "s", []any{1.0}, map[string]any{"b": "<", "a": 1.0}} {
		got, err := render(v)
		if err != nil {
			t.Fatal(err)
		}
		want := "s"
		if _, ok := v.(string); !ok {
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			want = string(b)
		}
		if got != want {
			t.Errorf("render(%#v) = %q, want %q", v, got, want)
		}
	}
}
