package jmespath

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var fixedNow = time.Date(2023, 1, 12, 17, 37, 0, 0, time.UTC)

func newTestInterpreter(opts ...Option) *Interpreter {
	return New(append([]Option{WithClock(func() time.Time { return fixedNow })}, opts...)...)
}

func mustJSON(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad test JSON %q: %v", s, err)
	}
	return v
}

// podData is a Kyverno JSON context with int64 numbers, as Kubernetes JSON
// decoding produces them.
func podData() map[string]any {
	return map[string]any{
		"request": map[string]any{
			"operation": "CREATE",
			"namespace": "default",
			"object": map[string]any{
				"metadata": map[string]any{
					"name":   "mypod",
					"labels": map[string]any{"app": "web", "tier": "front"},
				},
				"spec": map[string]any{
					"replicas": int64(3),
					"containers": []any{
						map[string]any{"name": "nginx", "image": "nginx:1.21", "resources": map[string]any{"limits": map[string]any{"memory": "200Mi"}}},
						map[string]any{"name": "sidecar", "image": "busybox", "ports": []any{int64(80), int64(443)}},
					},
					"initContainers": []any{
						map[string]any{"name": "init", "image": "redis"},
					},
				},
			},
		},
		"foo": "BAR",
	}
}

type searchCase struct {
	name    string
	expr    string
	data    any
	want    any
	wantErr string
}

func runSearchCases(t *testing.T, in *Interpreter, cases []searchCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.data
			if data == nil {
				// Kyverno's context is never null; a multi-select list of
				// null is null.
				data = map[string]any{}
			}
			got, err := in.Search(tc.expr, data)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("Search(%q) = %#v, want error %q", tc.expr, got, tc.wantErr)
				}
				if diff := cmp.Diff(tc.wantErr, err.Error()); diff != "" {
					t.Fatalf("Search(%q) error mismatch (-want +got):\n%s", tc.expr, diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("Search(%q) unexpected error: %v", tc.expr, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("Search(%q) mismatch (-want +got):\n%s", tc.expr, diff)
			}
		})
	}
}

func TestSearchSemantics(t *testing.T) {
	data := podData()
	runSearchCases(t, newTestInterpreter(), []searchCase{
		{name: "field", expr: "request.object.metadata.name", data: data, want: "mypod"},
		{name: "int64 kept", expr: "request.object.spec.replicas", data: data, want: int64(3)},
		{name: "missing key is an error", expr: "request.object.metadata.annotations.foo", data: data, wantErr: `Unknown key "annotations" in path`},
		{name: "missing last key is an error", expr: "request.object.metadata.labels.missing", data: data, wantErr: `Unknown key "missing" in path`},
		{name: "or swallows missing key", expr: "request.object.metadata.labels.missing || 'dflt'", data: data, want: "dflt"},
		{name: "or right missing is null", expr: "x || y", data: data, want: nil},
		{name: "field of null is null", expr: "a.b", data: map[string]any{"a": nil}, want: nil},
		{name: "field of string is null", expr: "foo.bar", data: data, want: nil},
		{name: "function swallows missing arg", expr: "not_null(request.nope, 'x')", data: data, want: "x"},
		{name: "pipe swallows missing", expr: "request.nope | length(@)", data: data, wantErr: `Invalid type for: <nil>, expected: []jmespath.JpType{"string", "array", "object"}`},
		{name: "and right propagates", expr: "foo && nope", data: data, wantErr: `Unknown key "nope" in path`},
		{name: "and left swallowed", expr: "nope && foo", data: data, want: nil},
		{name: "not swallows", expr: "!nope", data: data, want: true},
		{name: "comparison int64 vs literal", expr: "request.object.spec.replicas > `2`", data: data, want: true},
		{name: "equality int64 vs literal", expr: "request.object.spec.replicas == `3`", data: data, want: true},
		{name: "deep equality mixed numbers", expr: "request.object.spec.containers[1].ports == `[80, 443]`", data: data, want: true},
		{name: "ordering non numbers is null", expr: "foo > `1`", data: data, want: nil},
		{name: "projection", expr: "request.object.spec.containers[].image", data: data, want: []any{"nginx:1.21", "busybox"}},
		{name: "projection skips missing", expr: "request.object.spec.containers[*].resources.limits.memory", data: data, want: []any{"200Mi"}},
		{name: "filter", expr: "request.object.spec.containers[?name=='sidecar'].image | [0]", data: data, want: "busybox"},
		{name: "filter of missing is null", expr: "request.nope[?a].b", data: data, want: nil},
		{name: "flatten of missing is null", expr: "request.nope[]", data: data, want: nil},
		{name: "multiselect flatten", expr: "request.object.spec.[initContainers, containers][].name", data: data, want: []any{"init", "nginx", "sidecar"}},
		{name: "multiselect hash", expr: "request.object.metadata.{n: name, l: labels.app}", data: data, want: map[string]any{"n": "mypod", "l": "web"}},
		{name: "multiselect of null", expr: "nope.[a]", data: map[string]any{"nope": nil}, want: nil},
		{name: "value projection sorted", expr: "request.object.metadata.labels.*", data: data, want: []any{"web", "front"}},
		{name: "index", expr: "request.object.spec.containers[-1].name", data: data, want: "sidecar"},
		{name: "index out of range", expr: "request.object.spec.containers[5]", data: data, want: nil},
		{name: "slice", expr: "request.object.spec.containers[::-1].name", data: data, want: []any{"sidecar", "nginx"}},
		{name: "slice of string is null", expr: "foo[0:1]", data: data, want: nil},
		{name: "quoted identifier", expr: `"foo"`, data: data, want: "BAR"},
		{name: "json literal", expr: "`{\"a\": [1, true]}`", data: nil, want: map[string]any{"a": []any{1.0, true}}},
		{name: "raw string keeps double backslash", expr: `'a\\d'`, data: nil, want: `a\\d`},
		{name: "raw string unescapes quote", expr: `'it\'s'`, data: nil, want: `it's`},
		{name: "raw string double backslash in regex", expr: `regex_match('^\\d+$', '\dd')`, data: nil, want: true},
		{name: "raw string single backslash in regex", expr: `regex_match('^\d+$', '12')`, data: nil, want: true},
		{name: "raw string backslash before quote is unterminated", expr: `'\\'`, data: nil, wantErr: "SyntaxError: Unclosed delimiter: '"},
		{name: "multiselect list of null", expr: "[`1`]", data: "ignored", want: []any{1.0}},
		{name: "current node", expr: "@", data: "x", want: "x"},
		{name: "unknown function", expr: "upper(foo)", data: data, wantErr: "unknown function: upper"},
		{name: "wrong arity", expr: "length('a', 'b')", data: nil, wantErr: "incorrect number of args"},
		{name: "variadic arity", expr: "not_null()", data: nil, wantErr: "Invalid arity."},
		{name: "arithmetic rejected", expr: "a - b", data: nil, wantErr: "SyntaxError: unsupported expression (arithmetic operators, $ and let are not part of Kyverno's JMESPath)"},
		{name: "root rejected", expr: "$", data: nil, wantErr: "SyntaxError: unsupported expression (arithmetic operators, $ and let are not part of Kyverno's JMESPath)"},
		{name: "syntax error", expr: "foo[", data: nil, wantErr: "SyntaxError: Expected tStar, received: tEOF"},
		{name: "step zero", expr: "[::0]", data: []any{}, wantErr: "Invalid slice, step cannot be 0"},
	})
}

func TestStandardFunctions(t *testing.T) {
	data := podData()
	runSearchCases(t, newTestInterpreter(), []searchCase{
		{name: "abs", expr: "abs(`-2`)", want: 2.0},
		{name: "avg", expr: "avg(`[1, 2, 3]`)", want: 2.0},
		{name: "ceil", expr: "ceil(`1.2`)", want: 2.0},
		{name: "floor", expr: "floor(`1.8`)", want: 1.0},
		{name: "contains string", expr: "contains('foobar', 'oba')", want: true},
		{name: "contains array", expr: "contains(request.object.spec.containers[].name, 'nginx')", data: data, want: true},
		{name: "contains int64", expr: "contains(request.object.spec.containers[1].ports, `443`)", data: data, want: true},
		{name: "contains object never", expr: "contains([`{}`], `{}`)", want: false},
		{name: "starts_with", expr: "starts_with('nginx:1', 'nginx')", want: true},
		{name: "ends_with", expr: "ends_with('nginx:1', ':1')", want: true},
		{name: "join", expr: "join(',', ['a', 'b'])", want: "a,b"},
		{name: "join type error", expr: "join(',', [`1`])", wantErr: `Invalid type for: [1], expected: []jmespath.JpType{"array[string]"}`},
		{name: "keys sorted", expr: "keys(request.object.metadata.labels)", data: data, want: []any{"app", "tier"}},
		{name: "values sorted", expr: "values(request.object.metadata.labels)", data: data, want: []any{"web", "front"}},
		{name: "length string runes", expr: "length('héllo')", want: 5.0},
		{name: "length object", expr: "length(request.object.metadata.labels)", data: data, want: 2.0},
		{name: "map", expr: "map(&name, request.object.spec.containers)", data: data, want: []any{"nginx", "sidecar"}},
		{name: "map keeps nulls", expr: "map(&resources, request.object.spec.containers)", data: data, want: []any{map[string]any{"limits": map[string]any{"memory": "200Mi"}}, nil}},
		{name: "max numbers", expr: "max(request.object.spec.containers[1].ports)", data: data, want: 443.0},
		{name: "max strings", expr: "max(['a', 'c', 'b'])", want: "c"},
		{name: "max empty", expr: "max(`[]`)", want: nil},
		{name: "min", expr: "min(`[3, 1, 2]`)", want: 1.0},
		{name: "max_by", expr: "max_by(request.object.spec.containers, &name).name", data: data, want: "sidecar"},
		{name: "min_by", expr: "min_by(request.object.spec.containers, &name).name", data: data, want: "nginx"},
		{name: "min_by missing key", expr: "min_by(request.object.spec.containers, &resources.limits.memory)", data: data, wantErr: "invalid type, must be string"},
		{name: "merge", expr: "merge(`{\"a\": 1}`, `{\"a\": 2, \"b\": 3}`)", want: map[string]any{"a": 2.0, "b": 3.0}},
		{name: "not_null", expr: "not_null(`null`, 'x')", want: "x"},
		{name: "reverse string", expr: "reverse('abc')", want: "cba"},
		{name: "reverse array", expr: "reverse(`[1, 2]`)", want: []any{2.0, 1.0}},
		{name: "sort", expr: "sort(['b', 'a'])", want: []any{"a", "b"}},
		{name: "sort numbers", expr: "sort(request.object.spec.containers[1].ports)", data: data, want: []any{80.0, 443.0}},
		{name: "sort_by", expr: "sort_by(`[{\"n\": 2}, {\"n\": 1}]`, &n)[].n", want: []any{1.0, 2.0}},
		{name: "sort_by missing key", expr: "sort_by(request.object.spec.containers, &image)", data: data, want: []any{
			data["request"].(map[string]any)["object"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[1],
			data["request"].(map[string]any)["object"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0],
		}},
		{name: "sort_by bad key", expr: "sort_by(`[{\"n\": 2}, {\"n\": \"x\"}]`, &n)", wantErr: "error in sort_by comparison"},
		{name: "to_array", expr: "to_array('a')", want: []any{"a"}},
		{name: "to_string number", expr: "to_string(request.object.spec.replicas)", data: data, want: "3"},
		{name: "to_string object", expr: "to_string(`{\"b\": 1, \"a\": \"<\"}`)", want: `{"a":"\u003c","b":1}`},
		{name: "to_number", expr: "to_number('1.5')", want: 1.5},
		{name: "to_number bad", expr: "to_number('x')", want: nil},
		{name: "to_number int64", expr: "to_number(request.object.spec.replicas)", data: data, want: 3.0},
		{name: "type number", expr: "type(request.object.spec.replicas)", data: data, want: "number"},
		{name: "type null", expr: "type(`null`)", want: "null"},
	})
}

func TestKyvernoFunctions(t *testing.T) {
	data := podData()
	runSearchCases(t, newTestInterpreter(), []searchCase{
		{name: "compare", expr: "compare('a', 'b')", want: -1.0},
		{name: "equal_fold", expr: "equal_fold('pizza', 'pIzZa')", want: true},
		{name: "replace docs", expr: "replace('Lorem ipsum dolor sit amet foo ipsum bar ipsum', 'ipsum', 'muspi', `2`)", want: "Lorem muspi dolor sit amet foo muspi bar ipsum"},
		{name: "replace all with -1", expr: "replace('aaa', 'a', 'b', `-1`)", want: "bbb"},
		{name: "replace_all docs", expr: "replace_all('Lorem ipsum dolor sit amet', 'ipsum', 'muspi')", want: "Lorem muspi dolor sit amet"},
		{name: "to_upper", expr: "to_upper(foo)", data: data, want: "BAR"},
		{name: "to_lower", expr: "to_lower(foo)", data: data, want: "bar"},
		{name: "trim docs 1", expr: "trim('¡¡¡Hello, Gophers!!!', '!¡')", want: "Hello, Gophers"},
		{name: "trim docs 2", expr: "trim('foocorpcom', 'mo')", want: "foocorpc"},
		{name: "trim docs 3", expr: "trim('foocorpcom', 'o')", want: "foocorpcom"},
		{name: "trim docs 4", expr: "trim('foocorpcom', 'mcof')", want: "rp"},
		{name: "trim needs two args", expr: "trim('x')", wantErr: "incorrect number of args"},
		{name: "trim_prefix docs", expr: "trim_prefix('docker://kubevirt/fedora-cloud-registry-disk-demo', 'docker://')", want: "kubevirt/fedora-cloud-registry-disk-demo"},
		{name: "split docs", expr: "split('cat,dog,horse', ',')", want: []any{"cat", "dog", "horse"}},
		{name: "split as method", expr: "request.object.spec.containers[0].image.split(@, ':')[1]", data: data, want: "1.21"},
		{name: "regex_replace_all docs", expr: "regex_replace_all('([0-9])([0-9])', 'hello im 42 months old', '${1}1')", want: "hello im 41 months old"},
		{name: "regex_replace_all numbers", expr: "regex_replace_all('4', `42`, `5`)", want: "52"},
		{name: "regex_replace_all bad regexp", expr: "regex_replace_all('(', 'a', 'b')", wantErr: "JMESPath function 'regex_replace_all': error parsing regexp: missing closing ): `(`"},
		{name: "regex_replace_all_literal docs", expr: `regex_replace_all_literal('^(\d{3}-?\d{2}-?\d{4})$', '123-45-6789', 'redacted')`, want: "redacted"},
		{name: "regex_replace_all_literal no expansion", expr: "regex_replace_all_literal('a', 'abc', '$1')", want: "$1bc"},
		{name: "regex_match docs number", expr: "regex_match('^[1-7]$', `1`)", want: true},
		{name: "regex_match docs string", expr: "regex_match('^[1-7]$', '1')", want: true},
		{name: "regex_match unanchored", expr: "regex_match('b', 'abc')", want: true},
		{name: "regex_match float32 formatting", expr: "regex_match('^123456790$', `123456789`)", want: true},
		{name: "regex_match bad regexp", expr: "regex_match('(', 'a')", wantErr: "error parsing regexp: missing closing ): `(`"},
		{name: "regex_match null", expr: "regex_match('a', nope)", data: data, wantErr: `Invalid type for: <nil>, expected: []jmespath.JpType{"string", "number"}`},
		{name: "pattern_match", expr: "pattern_match('158-7?-4*', '158-73-417')", want: true},
		{name: "pattern_match miss", expr: "pattern_match('158-6?-3*', '158-73-417')", want: false},
		{name: "pattern_match number", expr: "pattern_match('1*', `123`)", want: true},
		{name: "pattern_match empty", expr: "pattern_match('', '')", want: true},
		{name: "label_match subset", expr: "label_match(`{\"dog\": \"lab\", \"color\": \"tan\"}`, `{\"color\": \"tan\", \"weight\": \"chonky\", \"dog\": \"lab\"}`)", want: true},
		{name: "label_match mismatch", expr: "label_match(`{\"dog\": \"lab\", \"color\": \"tan\"}`, `{\"color\": \"black\", \"dog\": \"lab\"}`)", want: false},
		{name: "to_boolean", expr: "to_boolean('FalsE')", want: false},
		{name: "to_boolean true", expr: "to_boolean('true')", want: true},
		{name: "to_boolean bad", expr: "to_boolean('yes')", wantErr: "JMESPath function 'to_boolean': lowercase argument must be 'true' or 'false' (provided: 'yes')"},
		{name: "round docs", expr: "round(`10.125`, `2`)", want: 10.13},
		{name: "round non integer", expr: "round(`1.5`, `1.5`)", wantErr: "JMESPath function 'round': Non-integer argument(s) passed for round off"},
		{name: "round negative", expr: "round(`1.5`, `-1`)", wantErr: "JMESPath function 'round': %!d(MISSING) argument is out of bounds (%!d(MISSING))"},
		{name: "base64_decode", expr: "base64_decode('aGVsbG8=')", want: "hello"},
		{name: "base64_decode bad", expr: "base64_decode('!')", wantErr: "illegal base64 data at input byte 0"},
		{name: "base64_encode", expr: "base64_encode('hello')", want: "aGVsbG8="},
		{name: "path_canonicalize docs", expr: "path_canonicalize('/var//lib///kubelet')", want: "/var/lib/kubelet"},
		{name: "path_canonicalize dots", expr: "path_canonicalize('/var/run/../run/containerd/containerd.sock')", want: "/var/run/containerd/containerd.sock"},
		{name: "truncate docs", expr: "truncate('foobar', `3`)", want: "foo"},
		{name: "truncate runes", expr: "truncate('héllo', `2`)", want: "hé"},
		{name: "truncate negative", expr: "truncate('foobar', `-1`)", want: ""},
		{name: "truncate longer", expr: "truncate('foo', `9`)", want: "foo"},
		{name: "semver_compare equal", expr: "semver_compare('1.2.3', '1.2.4')", want: false},
		{name: "semver_compare x", expr: "semver_compare('4.1.3', '>=4.1.x')", want: true},
		{name: "semver_compare not", expr: "semver_compare('4.1.3', '!4.x.x')", want: false},
		{name: "semver_compare and", expr: "semver_compare('1.8.6', '>1.0.0 <2.0.0')", want: true},
		{name: "semver_compare or", expr: "semver_compare('2.1.5', '<2.0.0 || >=3.0.0')", want: false},
		{name: "semver_compare bad range", expr: "semver_compare('1.0.0', 'abc')", wantErr: `Could not get version from string: "abc"`},
		{name: "parse_json", expr: "parse_json('[\"1001\",\"1002\"]')[*].to_number(@)", want: []any{1001.0, 1002.0}},
		{name: "parse_json bad", expr: "parse_json('{')", wantErr: "unexpected end of JSON input"},
		{name: "parse_yaml", expr: "parse_yaml('species:\n  isGoodBoi: false\n  height: 15').species", want: map[string]any{"isGoodBoi": false, "height": 15.0}},
		{name: "lookup object", expr: "lookup(`{\"key1\": \"value1\", \"key2\": \"value2\"}`, `\"key2\"`)", want: "value2"},
		{name: "lookup array", expr: "lookup(`[\"item0\", \"item1\", \"item2\"]`, `1`)", want: "item1"},
		{name: "lookup missing key", expr: "lookup(`{}`, 'x')", want: nil},
		{name: "lookup out of range", expr: "lookup(`[1]`, `5`)", want: nil},
		{name: "lookup wrong key type", expr: "lookup(`{}`, `1`)", wantErr: "JMESPath function 'lookup': argument #2 is not of type String"},
		{name: "lookup non integer", expr: "lookup(`[1]`, `0.5`)", wantErr: "JMESPath function 'lookup': argument #2: expected an integer number but got: 0.5"},
		{name: "items object docs", expr: "items(`{\"team\": \"apple\", \"organization\": \"banana\"}`, 'key', 'value')", want: []any{
			map[string]any{"key": "organization", "value": "banana"},
			map[string]any{"key": "team", "value": "apple"},
		}},
		{name: "items array docs", expr: "items(`[{\"team\": \"apple\"}, {\"organization\": \"banana\"}]`, 'key', 'value')", want: []any{
			map[string]any{"key": 0.0, "value": map[string]any{"team": "apple"}},
			map[string]any{"key": 1.0, "value": map[string]any{"organization": "banana"}},
		}},
		{name: "items one arg", expr: "items(`{}`)", wantErr: "incorrect number of args"},
		{name: "object_from_lists", expr: "object_from_lists(['KEY', 'endpoint', 'extra'], ['123', 'corp.org'])", want: map[string]any{"KEY": "123", "endpoint": "corp.org", "extra": nil}},
		{name: "object_from_lists bad key", expr: "object_from_lists([`{}`], [`1`])", wantErr: "JMESPath function 'object_from_lists': argument #1 is not of type StringArray"},
		{name: "random empty", expr: "random('')", wantErr: "no pattern provided"},
		{name: "image_normalize docs", expr: "image_normalize('nginx')", want: "docker.io/nginx:latest"},
		{name: "image_normalize digest", expr: "image_normalize('ghcr.io/kyverno/kyverno@sha256:" + strings.Repeat("a", 64) + "')", want: "ghcr.io/kyverno/kyverno@sha256:" + strings.Repeat("a", 64)},
		{name: "image_normalize bad", expr: "image_normalize('Nginx:Latest')", wantErr: "JMESPath function 'image_normalize': bad image: docker.io/Nginx:Latest, defaultRegistry: docker.io, enableDefaultRegistryMutation: true: repository name must be lowercase"},
		{name: "is_external_url private", expr: "is_external_url('http://10.0.0.1/x')", want: false},
		{name: "is_external_url loopback", expr: "is_external_url('http://127.0.0.1:8080')", want: false},
		{name: "is_external_url public ip", expr: "is_external_url('https://8.8.8.8')", want: true},
		{name: "is_external_url no resolver", expr: "is_external_url('https://example.com')", wantErr: "lookup example.com: host name resolution is disabled"},
		{name: "sha256 docs", expr: "sha256('alertmanager-kube-prometheus-stack-alertmanager')", want: "75c07bb807f2d80a85d34880b8af0c5f29f7c27577076ed5d0e4b427dee7dbcc"},
		{name: "sha1 docs", expr: "sha1('Alice & Bob')", want: "e3ec484930685a61b0f824cd684a68699d2b98c1"},
		{name: "md5 docs", expr: "md5('Alice & Bob')", want: "def42e1abd2462df1f9f0a4b3d488221"},
	})
}

func TestArithmetic(t *testing.T) {
	runSearchCases(t, newTestInterpreter(), []searchCase{
		{name: "scalar+scalar", expr: "add(`12`, `13`)", want: 25.0},
		{name: "int64 scalars", expr: "add(a, b)", data: map[string]any{"a": int64(1), "b": int64(2)}, want: 3.0},
		{name: "quantity+quantity", expr: "add('12Ki', '13Ki')", want: "25Ki"},
		{name: "quantity+plain quantity", expr: "add('12Ki', '13')", want: "12301"},
		{name: "duration+duration", expr: "add('12s', '13s')", want: "25s"},
		{name: "scalar+quantity mismatch", expr: "add(`12`, '13Ki')", wantErr: "JMESPath function 'add': Types mismatch"},
		{name: "quantity+duration mismatch", expr: "add('12Ki', '13s')", wantErr: "JMESPath function 'add': Types mismatch"},
		{name: "duration+scalar mismatch", expr: "add('12s', `13`)", wantErr: "JMESPath function 'add': Types mismatch"},
		{name: "minutes are milli", expr: "add('1m', '1s')", wantErr: "JMESPath function 'add': Types mismatch"},
		{name: "invalid operand", expr: "add('abc', `1`)", wantErr: "JMESPath function 'add': invalid operand"},
		{name: "null operand", expr: "add(nope, `1`)", data: map[string]any{}, wantErr: "JMESPath function 'add': invalid operand"},
		{name: "docs add example", expr: "add('100Mi', '100Mi')", want: "200Mi"},
		{name: "sum empty", expr: "sum(`[]`)", wantErr: "JMESPath function 'sum': at least one element in the array is required"},
		{name: "sum scalars", expr: "sum(`[6, 3, 8]`)", want: 17.0},
		{name: "sum quantities docs", expr: "sum(['2Ki', '5Gi', '8Mi'])", want: "5251074Ki"},
		{name: "sum durations docs", expr: "sum(['2h', '50s', '90s'])", want: "2h2m20s"},
		{name: "sum single", expr: "sum(['12Ki'])", want: "12Ki"},
		{name: "sum mixed", expr: "sum(['12Ki', `13`])", wantErr: "JMESPath function 'sum': Types mismatch"},
		{name: "sum not array", expr: "sum('x')", wantErr: `Invalid type for: x, expected: []jmespath.JpType{"array"}`},
		{name: "subtract scalar", expr: "subtract(`12`, `13`)", want: -1.0},
		{name: "subtract quantity", expr: "subtract('12Ki', '13Ki')", want: "-1Ki"},
		{name: "subtract quantity plain", expr: "subtract('12Ki', '13')", want: "12275"},
		{name: "subtract docs", expr: "subtract('10Mi', '5Ki')", want: "10235Ki"},
		{name: "subtract duration", expr: "subtract('12s', '13s')", want: "-1s"},
		{name: "subtract mismatch", expr: "subtract('12s', `13`)", wantErr: "JMESPath function 'subtract': Types mismatch"},
		{name: "multiply quantity scalar", expr: "multiply('12Ki', `2`)", want: "24Ki"},
		{name: "multiply duration scalar", expr: "multiply('12s', `2`)", want: "24s"},
		{name: "multiply scalars", expr: "multiply(`2.5`, `2.5`)", want: 6.25},
		{name: "multiply scalar quantity", expr: "multiply(`2.5`, '12Ki')", want: "30Ki"},
		{name: "multiply scalar plain quantity", expr: "multiply(`2.5`, '12')", want: "30"},
		{name: "multiply scalar duration", expr: "multiply(`2.5`, '40s')", want: "1m40s"},
		{name: "multiply quantities", expr: "multiply('12Ki', '12Ki')", wantErr: "JMESPath function 'multiply': Types mismatch"},
		{name: "divide quantities", expr: "divide('512M', '256M')", want: 2.0},
		{name: "divide plain quantities", expr: "divide('8', '3')", want: 8.0 / 3.0},
		{name: "divide docs", expr: "divide('10Mi', '5Ki')", want: 2048.0},
		{name: "divide quantity scalar", expr: "divide('12Ki', `3`)", want: "4Ki"},
		{name: "divide quantity by plain", expr: "divide('12Ki', '200')", want: 61.44},
		{name: "divide duration scalar", expr: "divide('12s', `3`)", want: "4s"},
		{name: "divide durations", expr: "divide('12s', '5s')", want: 2.4},
		{name: "divide scalars", expr: "divide(`14`, `3`)", want: 4.666666666666667},
		{name: "divide scalar by quantity", expr: "divide(`14`, '5')", wantErr: "JMESPath function 'divide': Types mismatch"},
		{name: "divide by zero", expr: "divide(`14`, `0`)", wantErr: "JMESPath function 'divide': Zero divisor passed"},
		{name: "divide quantity by zero", expr: "divide('4Ki', '0Ki')", wantErr: "JMESPath function 'divide': Zero divisor passed"},
		{name: "divide duration by zero", expr: "divide('4s', '0s')", wantErr: "JMESPath function 'divide': Zero divisor passed"},
		{name: "modulo scalars", expr: "modulo(`13`, `5`)", want: 3.0},
		{name: "modulo quantities", expr: "modulo('12Ki', '5Ki')", want: "2Ki"},
		{name: "modulo durations", expr: "modulo('13s', '2s')", want: "1s"},
		{name: "modulo mismatch", expr: "modulo('12Ki', `13`)", wantErr: "JMESPath function 'modulo': Types mismatch"},
		{name: "modulo non int", expr: "modulo(`14`, `1.5`)", wantErr: "JMESPath function 'modulo': Non-integer argument(s) passed for modulo"},
		{name: "modulo quantity non int", expr: "modulo('4', '1.5')", wantErr: "JMESPath function 'modulo': Non-integer argument(s) passed for modulo"},
		{name: "modulo zero", expr: "modulo(`14`, `0`)", wantErr: "JMESPath function 'modulo': Zero divisor passed"},
	})
}

func TestTimeFunctions(t *testing.T) {
	runSearchCases(t, newTestInterpreter(), []searchCase{
		{name: "time_now", expr: "time_now()", want: "2023-01-12T17:37:00Z"},
		{name: "time_now_utc", expr: "time_now_utc()", want: "2023-01-12T17:37:00Z"},
		{name: "time_since docs", expr: "time_since('', '2022-04-10T03:14:05-07:00', '2022-04-11T03:14:05-07:00')", want: "24h0m0s"},
		{name: "time_since layout docs", expr: "time_since('Mon Jan _2 15:04:05 MST 2006', 'Mon Jan 02 15:04:05 MST 2021', 'Mon Jan 10 03:14:16 MST 2021')", want: "180h10m11s"},
		{name: "time_since helm docs", expr: "time_since('2006-Jan-02', '2020-Jan-14', '2020-Jan-17')", want: "72h0m0s"},
		{name: "time_since now", expr: "time_since('', '2023-01-12T16:37:00Z', '')", want: "1h0m0s"},
		{name: "time_since bad", expr: "time_since('', 'x', '')", wantErr: `parsing time "x" as "2006-01-02T15:04:05Z07:00": cannot parse "x" as "2006"`},
		{name: "time_to_cron docs", expr: "time_to_cron('2022-04-11T03:14:05-07:00')", want: "14 3 11 4 1"},
		{name: "time_add docs", expr: "time_add('2023-01-12T12:37:56-05:00', '6h')", want: "2023-01-12T18:37:56-05:00"},
		{name: "time_parse docs 1", expr: "time_parse('Mon Jan 02 2006 15:04:05 -0700', 'Fri Jun 22 2022 17:45:00 +0100')", want: "2022-06-22T17:45:00+01:00"},
		{name: "time_parse docs 2", expr: "time_parse('2006-01-02T15:04:05Z07:00', '2021-01-02T15:04:05-07:00')", want: "2021-01-02T15:04:05-07:00"},
		{name: "time_parse epoch docs", expr: "time_parse('1702691171', '1702691171')", want: "2023-12-16T01:46:11Z"},
		{name: "time_utc docs 1", expr: "time_utc('2021-01-02T18:04:05-05:00')", want: "2021-01-02T23:04:05Z"},
		{name: "time_utc docs 2", expr: "time_utc('2021-01-02T02:04:05+08:30')", want: "2021-01-01T17:34:05Z"},
		{name: "time_diff docs", expr: "time_diff('2023-01-10T00:00:00Z', '2023-01-11T00:00:00Z')", want: "24h0m0s"},
		{name: "time_diff negative docs", expr: "time_diff('2023-01-12T00:00:00Z', '2023-01-11T00:00:00Z')", want: "-24h0m0s"},
		{name: "time_before docs 1", expr: "time_before('2023-01-12T19:05:59Z', '2023-01-13T19:05:59Z')", want: true},
		{name: "time_before docs 2", expr: "time_before('2023-01-12T19:05:59Z', '2023-01-11T19:05:59Z')", want: false},
		{name: "time_after docs 1", expr: "time_after('2023-01-12T14:07:55-05:00', '2023-01-12T19:05:59Z')", want: true},
		{name: "time_after docs 2", expr: "time_after('2023-01-12T19:05:59Z', '2023-01-13T19:05:59Z')", want: false},
		{name: "time_between docs 1", expr: "time_between('2023-01-12T19:05:59Z', '2023-01-01T19:05:59Z', '2023-01-15T19:05:59Z')", want: true},
		{name: "time_between docs 2", expr: "time_between('2023-01-12T19:05:59Z', '2023-01-01T19:05:59Z', '2023-01-11T19:05:59Z')", want: false},
		{name: "time_truncate docs 1", expr: "time_truncate('2023-01-12T17:37:00Z', '1h')", want: "2023-01-12T17:00:00Z"},
		{name: "time_truncate docs 2", expr: "time_truncate('2023-01-12T17:37:00Z', '2h')", want: "2023-01-12T16:00:00Z"},
		{name: "cleanup schedule docs", expr: "time_add(time_now_utc(), '4h') | time_to_cron(@)", want: "37 21 12 1 4"},
	})
}

func TestTimeNowLocalZone(t *testing.T) {
	loc := time.FixedZone("X", -5*3600)
	in := New(WithClock(func() time.Time { return fixedNow.In(loc) }))
	got, err := in.Search("[time_now(), time_now_utc()]", map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]any{"2023-01-12T12:37:00-05:00", "2023-01-12T17:37:00Z"}, got); diff != "" {
		t.Fatalf("mismatch (-want +got):\n%s", diff)
	}
}

type fakeResolver map[string][]string

func (f fakeResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	ips, ok := f[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []net.IPAddr
	for _, ip := range ips {
		out = append(out, net.IPAddr{IP: net.ParseIP(ip)})
	}
	return out, nil
}

func TestIsExternalURLResolver(t *testing.T) {
	in := newTestInterpreter(WithResolver(fakeResolver{
		"example.com":                    {"93.184.216.34"},
		"svc.ns.svc.cluster.local":       {"10.96.0.10"},
		"mixed.example.com":              {"93.184.216.34", "192.168.1.1"},
		"localhost":                      {"127.0.0.1"},
		"ipv6.example.com":               {"2606:2800:220:1::"},
		"private-ipv6.example.com":       {"fd00::1"},
		"also-loopback-ipv6.example.com": {"::1"},
	}))
	runSearchCases(t, in, []searchCase{
		{name: "public", expr: "is_external_url('https://example.com/a')", want: true},
		{name: "cluster service", expr: "is_external_url('http://svc.ns.svc.cluster.local')", want: false},
		{name: "any private address", expr: "is_external_url('http://mixed.example.com')", want: false},
		{name: "localhost", expr: "is_external_url('http://localhost:80')", want: false},
		{name: "public ipv6", expr: "is_external_url('http://ipv6.example.com')", want: true},
		{name: "private ipv6", expr: "is_external_url('http://private-ipv6.example.com')", want: false},
		{name: "unknown host", expr: "is_external_url('http://nope.invalid')", wantErr: "lookup nope.invalid: no such host"},
		{name: "bad url", expr: "is_external_url('http://[::1')", wantErr: `parse "http://[::1": missing ']' in host`},
	})
}

func TestRandom(t *testing.T) {
	in := newTestInterpreter()
	for _, tc := range []struct {
		pattern string
		match   string
	}{
		{pattern: "[a-z0-9]{6}", match: `^[a-z0-9]{6}$`},
		{pattern: "[A-Z0-9]{8}-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{12}", match: `^[A-Z0-9]{8}-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{12}$`},
		{pattern: "[0-9]{1,6}", match: `^[0-9]{1,6}$`},
		{pattern: "(ab|cd)+x?", match: `^(ab|cd)+x?$`},
		{pattern: "^a.b$", match: `^a.b$`},
	} {
		t.Run(tc.pattern, func(t *testing.T) {
			re := regexp.MustCompile(tc.match)
			for range 20 {
				got, err := in.Search(fmt.Sprintf("random('%s')", tc.pattern), nil)
				if err != nil {
					t.Fatal(err)
				}
				if s, _ := got.(string); !re.MatchString(s) {
					t.Fatalf("random(%q) = %q, does not match %s", tc.pattern, s, tc.match)
				}
			}
		})
	}
	if _, err := in.Search(`random('\d')`, nil); err == nil {
		t.Fatal(`random('\d') succeeded; goregen's parser flags reject Perl classes`)
	}
}

// testCertPEM is a self-signed RSA certificate for CN=*.kyverno.svc (the
// certificate of Kyverno's x509_decode documentation).
const testCertPEM = `-----BEGIN CERTIFICATE-----
MIIC7TCCAdWgAwIBAgIBADANBgkqhkiG9w0BAQsFADAYMRYwFAYDVQQDDA0qLmt5
dmVybm8uc3ZjMB4XDTIyMTAxMDExNDYzMloXDTIzMTAxMDEyNDYzMlowGDEWMBQG
A1UEAwwNKi5reXZlcm5vLnN2YzCCASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoC
ggEBAOKF+2P0Ufp855hpdsGD4lYkd6oU7HZAOWm1XskAMwrdsqWwTNNAinyHRoPQ
IbNbGDQ+r6Cggc2mlxHJ90PnC2weHj5otaD17Z+ARZpJZ4HMWkEfFt8sxwo9vuQJ
RWihqNwFheowjswoSB1DHnPufrZHfztkMoRx278ZfHaIMdlSTg50ektkNDoHA3OJ
sxxw54X3HR1iq6SZwN8xNT0TI6B6BbfAYWMNmKCiZ2iV6kW//XnTEqGd2WcmhuP0
SjwO4tCJbj9oV6+Bj/uhFr7J4foErMaodYDBtQs/ul2tcAwSBHfnC2KcLbiZTZsC
0Rs0WPJ4YwF/cOsD7Z/RmLs4FHsCAwEAAaNCMEAwDgYDVR0PAQH/BAQDAgKkMA8G
A1UdEwEB/wQFMAMBAf8wHQYDVR0OBBYEFJaK+3Wfnf7rVkYBzMCLSaV56NMqMA0G
CSqGSIb3DQEBCwUAA4IBAQDY7F6b+t9BX7098JyGk6zeT39MoLdSv+8IaKXn+m8G
yOKn3CZkruko57ycvPd4taC0gggtmUYynFhwPMQr+boNrrK9rat8Jw3yPPsBq/8D
/s6tvwxSNXBfPUI5OvNIB/hA5XpJpdHQaCkYm+FWkcJsolkkbSOfVjUjImW26JHB
nnPPtR4Y7dx0SVoPS19IC0T5RmdvgqlXj4XbhTnX3QOujVHn8u+wQ8po7EngHDQs
+onfkp8ipe0QpEJL1ZdW2LhyDXGKrZ2y8UPZ9wYNzxHWaj1Thu4B9YFdsPUwWqSx
n9e+FygpoktlD8YgT7jwgiVKX7Koz++zyvMIdhvRrtgS
-----END CERTIFICATE-----`

func TestX509Decode(t *testing.T) {
	in := newTestInterpreter()
	data := map[string]any{"cert": testCertPEM}
	got, err := in.Search("x509_decode(cert).{cn: Subject.CommonName, issuer: Issuer.CommonName, isCA: IsCA, e: PublicKey.E, notAfter: NotAfter, since: time_since('', NotBefore, NotAfter), keyUsage: KeyUsage}", data)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"cn": "*.kyverno.svc", "issuer": "*.kyverno.svc", "isCA": true, "e": 65537.0, "notAfter": "2023-10-10T12:46:32Z", "since": "8761h0m0s", "keyUsage": 37.0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("mismatch (-want +got):\n%s", diff)
	}
	runSearchCases(t, in, []searchCase{
		{name: "not pem", expr: "x509_decode('x')", wantErr: "failed to decode PEM block"},
		{name: "wrong block", expr: "x509_decode('-----BEGIN FOO-----\nAAAA\n-----END FOO-----')", wantErr: "PEM block neither contains a CERTIFICATE or CERTIFICATE REQUEST"},
	})
}

func TestImageInfo(t *testing.T) {
	digest := "sha256:" + strings.Repeat("a", 64)
	for _, tc := range []struct {
		ref     string
		want    map[string]any
		wantErr string
	}{
		{ref: "nginx", want: map[string]any{"registry": "docker.io", "name": "nginx", "path": "nginx", "tag": "latest", "reference": "docker.io/nginx:latest", "referenceWithTag": "docker.io/nginx:latest"}},
		{ref: "nginx:1.21", want: map[string]any{"registry": "docker.io", "name": "nginx", "path": "nginx", "tag": "1.21", "reference": "docker.io/nginx:1.21", "referenceWithTag": "docker.io/nginx:1.21"}},
		{ref: "library/nginx", want: map[string]any{"registry": "docker.io", "name": "nginx", "path": "library/nginx", "tag": "latest", "reference": "docker.io/library/nginx:latest", "referenceWithTag": "docker.io/library/nginx:latest"}},
		{ref: "ghcr.io/kyverno/kyverno:v1.19.1", want: map[string]any{"registry": "ghcr.io", "name": "kyverno", "path": "kyverno/kyverno", "tag": "v1.19.1", "reference": "ghcr.io/kyverno/kyverno:v1.19.1", "referenceWithTag": "ghcr.io/kyverno/kyverno:v1.19.1"}},
		{ref: "localhost:5000/app@" + digest, want: map[string]any{"registry": "localhost:5000", "name": "app", "path": "app", "digest": digest, "reference": "localhost:5000/app@" + digest, "referenceWithTag": "localhost:5000/app:"}},
		{ref: "localhost/app:v1", want: map[string]any{"registry": "localhost", "name": "app", "path": "app", "tag": "v1", "reference": "localhost/app:v1", "referenceWithTag": "localhost/app:v1"}},
		{ref: "quay.io/org/team/app:v1@" + digest, want: map[string]any{"registry": "quay.io", "name": "app", "path": "org/team/app", "tag": "v1", "digest": digest, "reference": "quay.io/org/team/app@" + digest, "referenceWithTag": "quay.io/org/team/app:v1"}},
		{ref: "[::1]:5000/app", want: map[string]any{"registry": "[::1]:5000", "name": "app", "path": "app", "tag": "latest", "reference": "[::1]:5000/app:latest", "referenceWithTag": "[::1]:5000/app:latest"}},
		{ref: "Nginx", wantErr: "bad image: docker.io/Nginx, defaultRegistry: docker.io, enableDefaultRegistryMutation: true: repository name must be lowercase"},
		{ref: "", wantErr: "bad image: docker.io/, defaultRegistry: docker.io, enableDefaultRegistryMutation: true: invalid reference format"},
		{ref: "nginx@sha256:abc", wantErr: "bad image: docker.io/nginx@sha256:abc, defaultRegistry: docker.io, enableDefaultRegistryMutation: true: invalid reference format"},
		{ref: "nginx@sha256:" + strings.Repeat("a", 63) + "ab", wantErr: "bad image: docker.io/nginx@sha256:" + strings.Repeat("a", 63) + "ab, defaultRegistry: docker.io, enableDefaultRegistryMutation: true: invalid checksum digest length"},
		{ref: "nginx@md5:" + strings.Repeat("a", 32), wantErr: "bad image: docker.io/nginx@md5:" + strings.Repeat("a", 32) + ", defaultRegistry: docker.io, enableDefaultRegistryMutation: true: unsupported digest algorithm"},
		{ref: "nginx:-bad", wantErr: "bad image: docker.io/nginx:-bad, defaultRegistry: docker.io, enableDefaultRegistryMutation: true: invalid reference format"},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			got, err := ImageInfo(tc.ref)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("ImageInfo(%q) error = %v, want %q", tc.ref, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("ImageInfo(%q) mismatch (-want +got):\n%s", tc.ref, diff)
			}
		})
	}
}

func TestImageInfoWithoutRegistryMutation(t *testing.T) {
	in := New(WithDefaultRegistry("docker.io", false))
	got, err := in.ImageInfo("my_org/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"registry": "my_org", "name": "app", "path": "app", "tag": "v1", "reference": "my_org/app:v1", "referenceWithTag": "my_org/app:v1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("mismatch (-want +got):\n%s", diff)
	}
	norm, err := in.Search("image_normalize('nginx')", nil)
	if err != nil {
		t.Fatal(err)
	}
	if norm != "nginx:latest" {
		t.Fatalf("image_normalize = %v, want nginx:latest", norm)
	}
}

func TestNotFoundErrorIsMatchable(t *testing.T) {
	_, err := newTestInterpreter().Search("a.b", map[string]any{})
	var nf NotFoundError
	if !errors.As(fmt.Errorf("wrapped: %w", err), &nf) || nf.Key != "a" {
		t.Fatalf("errors.As(%v) did not find NotFoundError{a}", err)
	}
}

func TestBounds(t *testing.T) {
	in := newTestInterpreter()
	if _, err := in.Compile(strings.Repeat("a.", MaxExpressionLength)); err == nil {
		t.Fatal("Compile of an oversized expression succeeded")
	}
	inner := make([]any, 2000)
	big := make([]any, 2000)
	for i := range big {
		big[i] = inner
	}
	_, err := in.Search("map(&map(&@, @), @)", big)
	if !errors.Is(err, ErrBudget) {
		t.Fatalf("expected ErrBudget, got %v", err)
	}
	if _, err := in.Search("replace_all(replace_all(replace_all(replace_all(replace_all(@, 'a', @), 'a', @), 'a', @), 'a', @), 'a', @)", strings.Repeat("a", 64)); err == nil {
		t.Fatal("expected a result-size error")
	}
}

func TestNaNAverageOfEmpty(t *testing.T) {
	got, err := newTestInterpreter().Search("avg(`[]`)", nil)
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := got.(float64); !ok || !math.IsNaN(f) {
		t.Fatalf("avg([]) = %v, want NaN as in Kyverno", got)
	}
}

func TestFixRawStrings(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{in: `foo`, want: `foo`},
		{in: `'a\\b'`, want: `'a\\\\b'`},
		{in: `'it\'s'`, want: `'it\'s'`},
		{in: "`\"\\\\\"` && 'a\\\\b'", want: "`\"\\\\\"` && 'a\\\\\\\\b'"},
		{in: `"a\\b" || 'x\y'`, want: `"a\\b" || 'x\\y'`},
		{in: `'unterminated\\`, want: `'unterminated\\\\`},
		{in: `'a\\'`, want: `'a\\\'`},
	} {
		if got := fixRawStrings(tc.in); got != tc.want {
			t.Errorf("fixRawStrings(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	in := newTestInterpreter()
	q, err := in.Compile("request.object.spec.containers[?name=='nginx'].image | [0]")
	if err != nil {
		t.Fatal(err)
	}
	data := podData()
	done := make(chan error)
	for range 8 {
		go func() {
			for range 100 {
				v, err := q.Search(data)
				if err == nil && v != "nginx:1.21" {
					err = fmt.Errorf("got %v", v)
				}
				if err == nil {
					_, err = in.Search("regex_match('^n', request.object.metadata.name)", data)
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
