package conditions

import (
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/util/json"
)

// j decodes JSON as the engine does (integers become int64).
func j(t testing.TB, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad JSON %q: %v", s, err)
	}
	return v
}

// opCase is "key op value = want", with key and value as JSON.
type opCase struct {
	key   string
	op    Operator
	value string
	want  bool
}

func runOpCases(t *testing.T, cases []opCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(fmt.Sprintf("%s %s %s", tt.key, tt.op, tt.value), func(t *testing.T) {
			if got := tt.op.Eval(j(t, tt.key), j(t, tt.value)); got != tt.want {
				t.Errorf("%s.Eval(%s, %s) = %v, want %v", tt.op, tt.key, tt.value, got, tt.want)
			}
		})
	}
}

func TestEquals(t *testing.T) {
	runOpCases(t, []opCase{
		{`"string"`, Equals, `"string"`, true},
		{`1`, Equals, `1`, true},
		{`1`, Equals, `1.0`, true},
		{`1.5`, Equals, `1.5`, true},
		{`true`, Equals, `true`, true},
		{`false`, Equals, `false`, true},
		{`"1024"`, Equals, `"1Ki"`, true},
		{`"1Ki"`, Equals, `"1024"`, true},
		{`"1Gi"`, Equals, `"1Gi"`, true},
		{`"1Gi"`, Equals, `"1024Mi"`, true},
		{`"1h"`, Equals, `"1h"`, true},
		{`"1h"`, Equals, `"60m"`, true},
		{`{"foo": "bar"}`, Equals, `{"foo": "bar"}`, true},
		{`{"n": 1}`, Equals, `{"n": 1.0}`, true},
		{`["foo", "bar"]`, Equals, `["foo", "bar"]`, true},
		{`[{"foo": "bar"}]`, Equals, `[{"foo": "bar"}]`, true},
		{`"string"`, Equals, `"not string"`, false},
		{`1`, Equals, `2`, false},
		{`1.0`, Equals, `2.0`, false},
		{`true`, Equals, `false`, false},
		{`"1Gi"`, Equals, `"10Gi"`, false},
		{`"10Gi"`, Equals, `"1024Mi"`, false},
		{`"1h"`, Equals, `"5h"`, false},
		{`"1h"`, Equals, `"30m"`, false},
		{`"string"`, Equals, `1`, false},
		{`1`, Equals, `"2"`, false},
		{`1`, Equals, `"1"`, true},
		{`1`, Equals, `"1.0"`, true},
		{`1.0`, Equals, `"2.0"`, false},
		{`true`, Equals, `"true"`, false},
		{`false`, Equals, `"true"`, false},
		{`{"foo": "bar"}`, Equals, `{"bar": "foo"}`, false},
		{`{"foo": "bar"}`, Equals, `"not a map"`, false},
		{`["foo", "bar"]`, Equals, `["bar", "foo"]`, false},
		{`["a", "b", "c"]`, Equals, `["a", "b"]`, false},
		{`"1h"`, Equals, `3600`, true},
		{`"2h"`, Equals, `3600`, false},
		{`3600`, Equals, `"1h"`, false}, // a number key parses the value as a float
		{`"1.5.2"`, Equals, `"1.5.2"`, true},
		{`"1.5.2"`, Equals, `"1.5.*"`, true},
		{`"1.5.0"`, Equals, `"1.5.5"`, false},
		{`"hello-world"`, Equals, `"hello-*"`, true},
		{`"goodbye-world"`, Equals, `"hello-*"`, false},
		{`"hello"`, Equals, `123`, false},
		{`"hello-*"`, Equals, `"hello-world"`, false},
		// A quantity key with a non-quantity value does not fall back to
		// wildcards.
		{`"100"`, Equals, `"1*"`, false},
		{`"100Mi"`, Equals, `"not-a-quantity"`, false},
		// A string quantity equals the same number (kyverno/kyverno#16358).
		{`"5"`, Equals, `5`, true},
		{`"5"`, Equals, `5.0`, true},
		{`"5"`, Equals, `6`, false},
		{`"abc"`, Equals, `5`, false},
		{`""`, Equals, `""`, true},
		{`""`, Equals, `"*"`, true},
		{`null`, Equals, `null`, false},
		{`null`, Equals, `""`, false},
	})
}

func TestNotEquals(t *testing.T) {
	runOpCases(t, []opCase{
		{`"string"`, NotEquals, `"string"`, false},
		{`1`, NotEquals, `1`, false},
		{`true`, NotEquals, `false`, true},
		{`"1024"`, NotEquals, `"1Ki"`, false},
		{`"1023"`, NotEquals, `"1Ki"`, true},
		{`"1Ki"`, NotEquals, `"1023"`, true},
		{`"10Gi"`, NotEquals, `"1024Mi"`, true},
		{`"1h"`, NotEquals, `"60m"`, false},
		{`{"foo": "bar"}`, NotEquals, `{"foo": "bar"}`, false},
		{`["foo", "bar"]`, NotEquals, `["bar", "foo"]`, true},
		{`"string"`, NotEquals, `1`, true},
		{`1`, NotEquals, `"2"`, true},
		{`true`, NotEquals, `"false"`, true},
		{`"1h"`, NotEquals, `3600`, false},
		{`"2h"`, NotEquals, `3600`, true},
		{`"1.5.2"`, NotEquals, `"1.5.5"`, true},
		{`"1.5.2"`, NotEquals, `"1.5.*"`, false},
		{`5`, NotEquals, `5.5`, true},
		{`"100Mi"`, NotEquals, `"not-a-quantity"`, true},
		{`"5"`, NotEquals, `5`, false},
		{`null`, NotEquals, `"x"`, true},
		{`""`, NotEquals, `""`, false},
		{`"x"`, NotEquals, `""`, true},
		{`"x"`, NotEqual, `"x"`, false},
		{`"x"`, Equal, `"x"`, true},
	})
}

func TestNumeric(t *testing.T) {
	runOpCases(t, []opCase{
		{`10`, GreaterThan, `1`, true},
		{`1.5`, GreaterThan, `1.0`, true},
		{`1.5`, GreaterThan, `1`, true},
		{`1`, GreaterThan, `10`, false},
		{`1`, GreaterThan, `1.5`, false},
		{`1`, GreaterThan, `1`, false},
		{`"1025"`, GreaterThan, `"1Ki"`, true},
		{`"1Ki"`, GreaterThan, `"1023"`, true},
		{`"10Gi"`, GreaterThan, `"1Gi"`, true},
		{`"1Gi"`, GreaterThan, `"1Mi"`, true},
		{`"1Gi"`, GreaterThan, `"10Gi"`, false},
		{`"10Mi"`, GreaterThan, `"10Mi"`, false},
		{`"10h"`, GreaterThan, `"1h"`, true},
		{`"1h"`, GreaterThan, `"30m"`, true},
		{`"1h"`, GreaterThan, `"1h"`, false},
		{`"10"`, GreaterThan, `1`, true},
		{`100`, GreaterThan, `"10"`, true},
		{`"100"`, GreaterThan, `"10"`, true},
		{`"10"`, GreaterThan, `"10"`, false},
		{`"1"`, GreaterThan, `"10"`, false},
		{`"1"`, GreaterThan, `10`, false},
		{`1`, GreaterThan, `"10"`, false},
		{`"1h"`, GreaterThan, `3600`, false},
		{`"2h"`, GreaterThan, `3600`, true},
		{`3600`, GreaterThan, `"1h"`, false},
		{`3600`, GreaterThan, `"30m"`, true},
		{`-5`, GreaterThan, `1`, false},
		{`-5`, GreaterThan, `-10`, true},
		{`"1.5.5"`, GreaterThan, `"1.5.0"`, true},
		{`"1.5.0"`, GreaterThan, `"1.5.5"`, false},
		{`"1.10.0"`, GreaterThan, `"1.9.0"`, true},
		{`"1.5.0"`, GreaterThan, `1`, false},
		{`"abc"`, GreaterThan, `1`, false},
		{`true`, GreaterThan, `1`, false},
		{`"1Gi"`, GreaterThan, `"1"`, true},
		{`"1"`, LessThan, `"1Gi"`, true},
		{`"0"`, LessThan, `"1h"`, true},
		{`10`, LessThan, `1`, false},
		{`1`, LessThan, `10`, true},
		{`1`, LessThan, `1.5`, true},
		{`"1023"`, LessThan, `"1Ki"`, true},
		{`"1Mi"`, LessThan, `"1Gi"`, true},
		{`"1h"`, LessThan, `"30m"`, false},
		{`"1"`, LessThan, `"10"`, true},
		{`"1"`, LessThan, `10`, true},
		{`1`, LessThan, `"10"`, true},
		{`"30m"`, LessThan, `3600`, true},
		{`3600`, LessThan, `"30m"`, false},
		{`"1.5.0"`, LessThan, `"1.5.5"`, true},
		{`10`, GreaterThanOrEquals, `1`, true},
		{`1`, GreaterThanOrEquals, `1`, true},
		{`1.0`, GreaterThanOrEquals, `1`, true},
		{`"1024"`, GreaterThanOrEquals, `"1Ki"`, true},
		{`"1Ki"`, GreaterThanOrEquals, `"1024"`, true},
		{`"1h"`, GreaterThanOrEquals, `"1h"`, true},
		{`"1h"`, GreaterThanOrEquals, `3600`, true},
		{`"1.5.5"`, GreaterThanOrEquals, `"1.5.5"`, true},
		{`"1.5.0"`, GreaterThanOrEquals, `"1.5.5"`, false},
		{`1`, GreaterThanOrEquals, `"10"`, false},
		{`10`, LessThanOrEquals, `1`, false},
		{`1`, LessThanOrEquals, `1`, true},
		{`"1Ki"`, LessThanOrEquals, `"1024"`, true},
		{`"1Ki"`, LessThanOrEquals, `"1025"`, true},
		{`"1h"`, LessThanOrEquals, `"30m"`, false},
		{`"2h"`, LessThanOrEquals, `3600`, false},
		{`"1.5.5"`, LessThanOrEquals, `"1.5.0"`, false},
		{`"NaN"`, LessThanOrEquals, `1`, false},
		{`"NaN"`, GreaterThan, `1`, false},
		{`null`, LessThan, `1`, false},
		{`""`, LessThan, `1`, false},
	})
}

func TestDurationOperators(t *testing.T) {
	runOpCases(t, []opCase{
		{`"1h"`, DurationGreaterThan, `"30m"`, true},
		{`"30m"`, DurationGreaterThan, `"1h"`, false},
		{`"1h"`, DurationGreaterThanOrEquals, `"60m"`, true},
		{`"1h"`, DurationLessThan, `"2h"`, true},
		{`"2h"`, DurationLessThanOrEquals, `"2h"`, true},
		{`3600`, DurationGreaterThanOrEquals, `"1h"`, true},
		{`3599`, DurationGreaterThanOrEquals, `"1h"`, false},
		{`"1h"`, DurationLessThan, `7200`, true},
		{`1.9`, DurationLessThan, `"1s"`, false},
		{`"1h"`, DurationLessThan, `"abc"`, false},
		{`"abc"`, DurationLessThan, `"1h"`, false},
		{`true`, DurationLessThan, `"1h"`, false},
		{`"0"`, DurationLessThan, `"1s"`, true},
	})
}

func TestSetOperators(t *testing.T) {
	runOpCases(t, []opCase{
		// AnyIn
		{`["1.1.1.1", "5.5.5.5"]`, AnyIn, `["1.1.1.1", "2.2.2.2", "3.3.3.3"]`, true},
		{`["1.1.1.1", "5.5.5.5"]`, AnyIn, `"1.1.1.1"`, true},
		{`["4.4.4.4", "5.5.5.5"]`, AnyIn, `["1.1.1.1", "2.2.2.2", "3.3.3.3"]`, false},
		{`[1, 2]`, AnyIn, `[1, 2, 3, 4]`, true},
		{`[1, 5]`, AnyIn, `[1, 2, 3, 4]`, true},
		{`[5]`, AnyIn, `[1, 2, 3, 4]`, false},
		{`["1*"]`, AnyIn, `["1.1.1.1", "2.2.2.2"]`, true},
		{`["5*"]`, AnyIn, `["1.1.1.1", "2.2.2.2"]`, false},
		{`["1.1.1.1", "2.2.2.2", "5.5.5.5"]`, AnyIn, `["2*"]`, true},
		{`["5"]`, AnyIn, `"1-3"`, false},
		{`"1.1.1.1"`, AnyIn, `["1*"]`, true},
		{`"5"`, AnyIn, `"1-10"`, true},
		{`5`, AnyIn, `"1-10"`, true},
		{`[1, 5]`, AnyIn, `"7-10"`, false},
		{`[1, 5]`, AnyIn, `"0-10"`, true},
		{`[1.002, 1.222]`, AnyIn, `"1.001-10"`, true},
		{`"kyverno"`, AnyIn, `"kyverno"`, true},
		{`"kube-system"`, AnyIn, `["default", "kube-*"]`, true},
		{`"kyverno"`, AnyIn, `"default"`, false},
		{`64`, AnyIn, `"64"`, true},
		{`1`, AnyIn, `[1, 2, 3]`, true},
		{`64`, AnyIn, `"default"`, false},
		{`3.14`, AnyIn, `"3.14"`, true},
		{`2.2`, AnyIn, `[1.1, 2.2, 3.3]`, true},
		{`true`, AnyIn, `"true"`, true},
		{`["kube-system", "kube-public"]`, AnyIn, `"kube-*"`, true},
		{`["kube-system", "default"]`, AnyIn, `"kube-system"`, true},
		{`["default", "kyverno"]`, AnyIn, `"kube-*"`, false},
		{`["default", "kyverno"]`, AnyIn, `["kube-*", "ky*"]`, true},
		{`[]`, AnyIn, `["default", "kyverno"]`, false},
		{`""`, AnyIn, `["default", "kyverno"]`, false},
		{`{"foo": "bar"}`, AnyIn, `"test"`, false},
		{`"0"`, AnyIn, `"1-10"`, false},
		{`["0", "5"]`, AnyIn, `"1-10"`, true},
		{`["0", "20"]`, AnyIn, `"1-10"`, false},
		{`"apple"`, AnyIn, `"[\"apple\", \"banana\"]"`, true},
		{`"cherry"`, AnyIn, `"[\"apple\", \"banana\"]"`, false},
		{`["apple", "cherry"]`, AnyIn, `"[\"apple\", \"banana\"]"`, true},
		{`["cherry", "date"]`, AnyIn, `"[\"apple\", \"banana\"]"`, false},
		{`"a"`, AnyIn, `"123"`, false},
		{`"a"`, AnyIn, `5`, false},
		{`100000000`, AnyIn, `["100000000"]`, false}, // Kyverno prints the float as 1e+08
		{`[8080]`, AnyIn, `["8080"]`, true},
		{`[true, false]`, AnyIn, `true`, true},
		{`[1, 2]`, AnyIn, `2`, true},
		// AllIn
		{`["1.1.1.1", "2.2.2.2"]`, AllIn, `["1.1.1.1", "2.2.2.2", "3.3.3.3"]`, true},
		{`["1.1.1.1", "5.5.5.5"]`, AllIn, `["1.1.1.1", "2.2.2.2", "3.3.3.3"]`, false},
		{`["1.1.1.1", "5.5.5.5"]`, AllIn, `["1.1.1.1"]`, false},
		{`[1, 2]`, AllIn, `[1, 2, 3, 4]`, true},
		{`[1, 5]`, AllIn, `[1, 2, 3, 4]`, false},
		{`["1*"]`, AllIn, `["1.1.1.1", "2.2.2.2"]`, true},
		{`["2.1.1.1", "2.2.2.2", "2.5.5.5"]`, AllIn, `["2*"]`, true},
		{`["1.1.1.1", "2.2.2.2", "5.5.5.5"]`, AllIn, `["4*"]`, false},
		{`["1.1.1.1", "5.5.5.5"]`, AllIn, `"5.5.5.5"`, false},
		{`5`, AllIn, `"1-10"`, true},
		{`[3, 2]`, AllIn, `"1-10"`, true},
		{`[3, 2]`, AllIn, `"5-10"`, false},
		{`[]`, AllIn, `["a"]`, true},
		{`["a"]`, AllIn, `"a"`, true},
		{`"kube-system"`, AllIn, `["default", "kube-*"]`, true},
		// AllNotIn
		{`1`, AllNotIn, `[1, 2, 3]`, false},
		{`1.5`, AllNotIn, `[1, 1.5, 2, 3]`, false},
		{`"1"`, AllNotIn, `["1", "2", "3"]`, false},
		{`["1.1.1.1", "2.2.2.2"]`, AllNotIn, `["1.1.1.1", "2.2.2.2", "3.3.3.3"]`, false},
		{`5`, AllNotIn, `[1, 2, 3]`, true},
		{`5.5`, AllNotIn, `[1, 1.5, 2, 3]`, true},
		{`["1.1.1.1", "4.4.4.4"]`, AllNotIn, `["1.1.1.1", "2.2.2.2", "3.3.3.3"]`, false},
		{`["5.5.5.5", "4.4.4.4"]`, AllNotIn, `["1.1.1.1", "2.2.2.2", "3.3.3.3"]`, true},
		{`["7*", "6*", "5*"]`, AllNotIn, `["1.1.1.1", "2.2.2.2", "3.3.3.3"]`, true},
		{`["1*", "2*"]`, AllNotIn, `["1.1.1.1", "2.2.2.2", "3.3.3.3"]`, false},
		{`["1.1.1.1", "3.3.3.3", "5.5.5.5"]`, AllNotIn, `["2*"]`, true},
		{`["4.1.1.1", "4.2.2.2"]`, AllNotIn, `["4*"]`, false},
		{`["1.1.1.1", "4.4.4.4"]`, AllNotIn, `"2.2.2.2"`, true},
		{`5.5`, AllNotIn, `"6-10"`, true},
		{`"5"`, AllNotIn, `"1-6"`, false},
		{`[3, 2]`, AllNotIn, `"5-10"`, true},
		{`[2, 6]`, AllNotIn, `"5-10"`, false},
		{`"kyverno"`, AllNotIn, `"kyverno"`, false},
		{`"kube-system"`, AllNotIn, `["default", "kube-*"]`, false},
		{`"kyverno"`, AllNotIn, `"default"`, true},
		{`64`, AllNotIn, `"64"`, false},
		{`64`, AllNotIn, `"default"`, true},
		{`["kube-system", "kube-public"]`, AllNotIn, `"kube-*"`, false},
		{`["kube-system", "default"]`, AllNotIn, `"kube-system"`, false},
		{`["default", "kyverno"]`, AllNotIn, `"kube-*"`, true},
		{`["default", "kyverno"]`, AllNotIn, `["kube-*", "kube-system"]`, true},
		{`["default", "kyverno"]`, AllNotIn, `["kube-*", "ky*"]`, false},
		{`["a"]`, AllNotIn, `"a"`, false},
		// AnyNotIn
		{`1`, AnyNotIn, `[1, 2, 3]`, false},
		{`"1"`, AnyNotIn, `["1", "2", "3"]`, false},
		{`["1.1.1.1", "2.2.2.2"]`, AnyNotIn, `["1.1.1.1", "2.2.2.2", "3.3.3.3"]`, false},
		{`5`, AnyNotIn, `[1, 2, 3]`, true},
		{`["1.1.1.1", "4.4.4.4"]`, AnyNotIn, `["1.1.1.1", "2.2.2.2", "3.3.3.3"]`, true},
		{`["5.5.5.5", "4.4.4.4"]`, AnyNotIn, `"4.4.4.4"`, true},
		{`["1*", "3*", "5*"]`, AnyNotIn, `["1.1.1.1", "2.2.2.2", "3.3.3.3"]`, true},
		{`["1.1.1.1", "2.2.2.2", "5.5.5.5"]`, AnyNotIn, `["2*"]`, true},
		{`["2.2*"]`, AnyNotIn, `["2.2.2.2"]`, false},
		{`"5"`, AnyNotIn, `"1-3"`, true},
		{`[1, 5, 11]`, AnyNotIn, `"0-10"`, true},
		{`[1, 5, 7]`, AnyNotIn, `"0-10"`, false},
		{`"kyverno"`, AnyNotIn, `"kyverno"`, false},
		{`"kube-system"`, AnyNotIn, `["default", "kube-*"]`, false},
		{`"kyverno"`, AnyNotIn, `"default"`, true},
		{`64`, AnyNotIn, `"64"`, false},
		{`1`, AnyNotIn, `[1, 2, 3]`, false},
		{`3.14`, AnyNotIn, `"3.14"`, false},
		{`2.2`, AnyNotIn, `[1.1, 2.2, 3.3]`, false},
		{`3.14`, AnyNotIn, `"default"`, true},
		{`true`, AnyNotIn, `true`, false},
		{`["kube-system", "kube-public"]`, AnyNotIn, `"kube-*"`, false},
		{`["kube-system", "default"]`, AnyNotIn, `"kube-system"`, true},
		{`[1, 2, 3]`, AnyNotIn, `2`, true},
		{`[1, 2, 3]`, AnyNotIn, `4`, true},
		{`[1.1, 2.2, 3.3]`, AnyNotIn, `1.1`, true},
		{`[true, false]`, AnyNotIn, `true`, true},
		{`[true]`, AnyNotIn, `false`, true},
		{`["default", "kyverno"]`, AnyNotIn, `["kube-*", "ky*"]`, true},
		{`[]`, AnyNotIn, `["default", "kyverno"]`, false},
		{`""`, AnyNotIn, `["default", "kyverno"]`, true},
		{`["a"]`, AnyNotIn, `"a"`, false},
		{`null`, AnyNotIn, `["a"]`, false},
		{`"a"`, AnyNotIn, `"[1]"`, false},
	})
}

func TestLegacyIn(t *testing.T) {
	runOpCases(t, []opCase{
		{`1`, In, `[1, 2, 3]`, true},
		{`1.5`, In, `[1, 1.5, 2, 3]`, true},
		{`"1"`, In, `["1", "2", "3"]`, true},
		{`["1.1.1.1", "2.2.2.2"]`, In, `["1.1.1.1", "2.2.2.2", "3.3.3.3"]`, true},
		{`5`, In, `[1, 2, 3]`, false},
		{`"5"`, In, `["1", "2", "3"]`, false},
		{`"1.1.1.1"`, In, `["1*"]`, true},
		{`["1.1.1.1", "4.4.4.4"]`, In, `["1.1.1.1", "2.2.2.2", "3.3.3.3"]`, false},
		{`["a"]`, In, `[1]`, false},
		{`"a"`, In, `"[\"a\", \"b\"]"`, true},
		{`"a"`, In, `"a*"`, true},
		{`"a"`, In, `"b"`, false},
		{`1`, NotIn, `[1, 2, 3]`, false},
		{`"1"`, NotIn, `["1", "2", "3"]`, false},
		{`["1.1.1.1", "2.2.2.2"]`, NotIn, `["1.1.1.1", "2.2.2.2", "3.3.3.3"]`, false},
		{`5`, NotIn, `[1, 2, 3]`, true},
		{`5.5`, NotIn, `[1, 1.5, 2, 3]`, true},
		{`"5"`, NotIn, `["1", "2", "3"]`, true},
		{`["1.1.1.1", "4.4.4.4"]`, NotIn, `["1.1.1.1", "2.2.2.2", "3.3.3.3"]`, true},
		{`"a"`, NotIn, `"b"`, false},
		{`true`, NotIn, `["a"]`, false},
	})
}

func TestUnknownOperator(t *testing.T) {
	if Operator("equals").Eval("a", "a") {
		t.Error("an unknown operator must be false")
	}
}
