package conditions

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/blang/semver/v4"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/pattern"
)

// Operator is a condition operator, spelled as in Kyverno policies.
type Operator string

// The operators Kyverno accepts. Equal, NotEqual, In and NotIn are
// deprecated spellings that Kyverno still evaluates; the Duration* operators
// are deprecated in favour of the numeric ones, which also compare
// durations.
const (
	Equals                      Operator = "Equals"
	NotEquals                   Operator = "NotEquals"
	AnyIn                       Operator = "AnyIn"
	AllIn                       Operator = "AllIn"
	AnyNotIn                    Operator = "AnyNotIn"
	AllNotIn                    Operator = "AllNotIn"
	GreaterThan                 Operator = "GreaterThan"
	GreaterThanOrEquals         Operator = "GreaterThanOrEquals"
	LessThan                    Operator = "LessThan"
	LessThanOrEquals            Operator = "LessThanOrEquals"
	DurationGreaterThan         Operator = "DurationGreaterThan"
	DurationGreaterThanOrEquals Operator = "DurationGreaterThanOrEquals"
	DurationLessThan            Operator = "DurationLessThan"
	DurationLessThanOrEquals    Operator = "DurationLessThanOrEquals"
	Equal                       Operator = "Equal"
	NotEqual                    Operator = "NotEqual"
	In                          Operator = "In"
	NotIn                       Operator = "NotIn"
)

// Operators returns the names of all operators Kyverno accepts in a policy,
// sorted. Kyverno's policy validation is case-sensitive, although its engine
// would evaluate any casing.
func Operators() []string {
	return []string{
		"AllIn", "AllNotIn", "AnyIn", "AnyNotIn",
		"DurationGreaterThan", "DurationGreaterThanOrEquals", "DurationLessThan", "DurationLessThanOrEquals",
		"Equal", "Equals", "GreaterThan", "GreaterThanOrEquals", "In", "LessThan", "LessThanOrEquals",
		"NotEqual", "NotEquals", "NotIn",
	}
}

// Valid reports whether op is one of Operators().
func (op Operator) Valid() bool {
	switch op {
	case Equals, NotEquals, AnyIn, AllIn, AnyNotIn, AllNotIn,
		GreaterThan, GreaterThanOrEquals, LessThan, LessThanOrEquals,
		DurationGreaterThan, DurationGreaterThanOrEquals, DurationLessThan, DurationLessThanOrEquals,
		Equal, NotEqual, In, NotIn:
		return true
	}
	return false
}

// Eval decides the condition "key op value" for a substituted key and value
// with Kyverno's semantics and type coercions: wildcards in values,
// Kubernetes quantities ("1Gi" = "1024Mi"), durations ("1h" > "30m", and
// numbers as seconds), semantic versions for the numeric operators, ranges
// ("1-10") for the set operators, JSON lists in strings, and numbers in
// strings. Numbers of any Go type are treated as float64, as Kyverno sees
// them. An unknown operator is false.
func (op Operator) Eval(key, value any) bool {
	key, value = normalize(key), normalize(value)
	switch op {
	case Equals, Equal:
		return equals(key, value)
	case NotEquals, NotEqual:
		return !equals(key, value)
	case GreaterThan, GreaterThanOrEquals, LessThan, LessThanOrEquals:
		return numeric(op, key, value)
	case DurationGreaterThan, DurationGreaterThanOrEquals, DurationLessThan, DurationLessThanOrEquals:
		return durations(op, key, value)
	case AnyIn, AllIn, AnyNotIn, AllNotIn:
		return setOperator(op, key, value)
	case In, NotIn:
		return legacyIn(op == NotIn, key, value)
	}
	return false
}

// normalize returns v with every number as a float64, the way Kyverno reads
// values through JSON. It copies only when something changes.
func normalize(v any) any {
	if !hasNonFloat(v) {
		return v
	}
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = normalize(e)
		}
		return out
	}
	if f, ok := toFloat(v); ok {
		return f
	}
	return v
}

// hasNonFloat reports whether v holds a number that is not a float64.
func hasNonFloat(v any) bool {
	switch t := v.(type) {
	case nil, string, bool, float64:
		return false
	case map[string]any:
		for _, e := range t {
			if hasNonFloat(e) {
				return true
			}
		}
		return false
	case []any:
		for _, e := range t {
			if hasNonFloat(e) {
				return true
			}
		}
		return false
	}
	_, ok := toFloat(v)
	return ok
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case float32:
		return float64(n), true
	case uint64:
		return float64(n), true
	case uint32:
		return float64(n), true
	case json.Number:
		f, err := strconv.ParseFloat(string(n), 64)
		return f, err == nil
	}
	return 0, false
}

// equals implements Equals: the key's type decides the comparison.
func equals(key, value any) bool {
	switch k := key.(type) {
	case bool:
		v, ok := value.(bool)
		return ok && v == k
	case float64:
		switch v := value.(type) {
		case float64:
			return v == k
		case string:
			f, err := strconv.ParseFloat(v, 64)
			return err == nil && f == k
		}
		return false
	case string:
		return equalString(k, value)
	case map[string]any:
		v, ok := value.(map[string]any)
		return ok && reflect.DeepEqual(k, v)
	case []any:
		v, ok := value.([]any)
		return ok && reflect.DeepEqual(k, v)
	}
	return false
}

// equalString compares a string key: as durations when either side is one,
// as quantities when the key is one, and otherwise with the value as a
// wildcard pattern.
func equalString(k string, value any) bool {
	if kd, vd, ok := parseDurations(k, value); ok {
		return kd.Seconds() == vd.Seconds()
	}
	if kq, ok := parseQuantity(k); ok {
		switch v := value.(type) {
		case string:
			vq, ok := parseQuantity(v)
			return ok && kq.Cmp(vq) == 0
		case float64:
			// A string quantity equals the same number (kyverno/kyverno#16358).
			vq, ok := parseQuantity(strconv.FormatFloat(v, 'f', -1, 64))
			return ok && kq.Cmp(vq) == 0
		}
	}
	if v, ok := value.(string); ok {
		return pattern.Wildcard(v, k)
	}
	return false
}

// parseDurations reads key and value as durations when at least one of them
// is a duration string ("0" does not count); the other may then be a number
// of seconds.
func parseDurations(key, value any) (time.Duration, time.Duration, bool) {
	kd, kok := durationString(key)
	vd, vok := durationString(value)
	if !kok && !vok {
		return 0, 0, false
	}
	if !kok {
		f, ok := key.(float64)
		if !ok {
			return 0, 0, false
		}
		kd = time.Duration(f) * time.Second
	}
	if !vok {
		f, ok := value.(float64)
		if !ok {
			return 0, 0, false
		}
		vd = time.Duration(f) * time.Second
	}
	return kd, vd, true
}

func durationString(v any) (time.Duration, bool) {
	s, ok := v.(string)
	if !ok || s == "0" {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	return d, err == nil
}

// Bounds on the quantities this package parses: comparing quantities with
// huge exponents ("1e999999999") takes unbounded time, so such strings are
// not treated as quantities. Kubernetes never produces them.
const (
	maxQuantityLen      = 512
	maxQuantityExponent = 308
)

func parseQuantity(s string) (resource.Quantity, bool) {
	if len(s) > maxQuantityLen {
		return resource.Quantity{}, false
	}
	if i := strings.LastIndexAny(s, "eE"); i >= 0 && i+1 < len(s) {
		exp := strings.TrimLeft(s[i+1:], "+-")
		if exp != "" && strings.Trim(exp, "0123456789") == "" {
			if n, err := strconv.Atoi(exp); err != nil || n > maxQuantityExponent {
				return resource.Quantity{}, false
			}
		}
	}
	q, err := resource.ParseQuantity(s)
	return q, err == nil
}

// compare applies a numeric operator to a three-way comparison result.
func compare(op Operator, cmp int) bool {
	switch op {
	case GreaterThan, DurationGreaterThan:
		return cmp > 0
	case GreaterThanOrEquals, DurationGreaterThanOrEquals:
		return cmp >= 0
	case LessThan, DurationLessThan:
		return cmp < 0
	case LessThanOrEquals, DurationLessThanOrEquals:
		return cmp <= 0
	}
	return false
}

// compareFloats applies a numeric operator to two floats; NaN makes every
// operator false, as in Kyverno.
func compareFloats(op Operator, a, b float64) bool {
	switch op {
	case GreaterThan, DurationGreaterThan:
		return a > b
	case GreaterThanOrEquals, DurationGreaterThanOrEquals:
		return a >= b
	case LessThan, DurationLessThan:
		return a < b
	case LessThanOrEquals, DurationLessThanOrEquals:
		return a <= b
	}
	return false
}

// numeric implements GreaterThan, GreaterThanOrEquals, LessThan and
// LessThanOrEquals.
func numeric(op Operator, key, value any) bool {
	switch k := key.(type) {
	case float64:
		return numericFloat(op, k, value)
	case string:
		if kd, vd, ok := parseDurations(k, value); ok {
			return compareFloats(op, kd.Seconds(), vd.Seconds())
		}
		if v, ok := value.(string); ok {
			if kq, ok := parseQuantity(k); ok {
				if vq, ok := parseQuantity(v); ok {
					return compare(op, kq.Cmp(vq))
				}
			}
		}
		if f, err := strconv.ParseFloat(k, 64); err == nil {
			return numericFloat(op, f, value)
		}
		if kv, err := semver.Parse(k); err == nil {
			v, ok := value.(string)
			if !ok {
				return false
			}
			vv, err := semver.Parse(v)
			return err == nil && compare(op, kv.Compare(vv))
		}
	}
	return false
}

func numericFloat(op Operator, k float64, value any) bool {
	switch v := value.(type) {
	case float64:
		return compareFloats(op, k, v)
	case string:
		if kd, vd, ok := parseDurations(k, v); ok {
			return compareFloats(op, kd.Seconds(), vd.Seconds())
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return compareFloats(op, k, f)
		}
	}
	return false
}

// durations implements the deprecated Duration* operators: numbers are
// seconds and strings must be durations.
func durations(op Operator, key, value any) bool {
	kd, ok := asDuration(key)
	if !ok {
		return false
	}
	vd, ok := asDuration(value)
	if !ok {
		return false
	}
	return compare(op, cmpDuration(kd, vd))
}

func asDuration(v any) (time.Duration, bool) {
	switch t := v.(type) {
	case float64:
		return time.Duration(t) * time.Second, true
	case string:
		d, err := time.ParseDuration(t)
		return d, err == nil
	}
	return 0, false
}

func cmpDuration(a, b time.Duration) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Kyverno recognises a string value such as "1-10" or "128Mi-512Mi" as a
// range for the set operators.
var (
	inRangeRegex    = regexp.MustCompile(`^([-|\+]?\d+(?:\.\d+)?[A-Za-z]*)-([-|\+]?\d+(?:\.\d+)?[A-Za-z]*)$`)
	notInRangeRegex = regexp.MustCompile(`^([-|\+]?\d+(?:\.\d+)?[A-Za-z]*)!-([-|\+]?\d+(?:\.\d+)?[A-Za-z]*)$`)
)

// isRange reports whether Kyverno's pattern operator parser reads s as an
// "in range" pattern.
func isRange(s string) bool {
	if len(s) < 2 || strings.ContainsAny(s[:1], "<>!") {
		return false
	}
	return !notInRangeRegex.MatchString(s) && inRangeRegex.MatchString(s)
}

// inRange reports whether key is in the range r, as a validate pattern.
func inRange(key, r string) bool { return pattern.MatchValue(key, r) }

// keyStrings returns the key of a set operator as strings, and whether it
// was a list.
func keyStrings(key any) ([]string, bool, bool) {
	switch k := key.(type) {
	case string:
		return []string{k}, false, true
	case float64, bool:
		return []string{fmt.Sprint(k)}, false, true
	case []any:
		out := make([]string, len(k))
		for i, e := range k {
			out[i] = fmt.Sprint(e)
		}
		return out, true, true
	}
	return nil, false, false
}

// setOperator implements AnyIn, AllIn, AnyNotIn and AllNotIn. Elements match
// when either is a wildcard pattern matching the other.
func setOperator(op Operator, key, value any) bool {
	keys, isList, ok := keyStrings(key)
	if !ok {
		return false
	}
	negate := op == AnyNotIn || op == AllNotIn
	if !isList {
		exists, valid := keyInValue(keys[0], value)
		if !valid {
			return false
		}
		return exists != negate
	}
	all := op == AllIn || op == AllNotIn
	values, rangeValue, valid := valueStrings(keys, value)
	if !valid {
		return false
	}
	if rangeValue != "" {
		count := 0
		for _, k := range keys {
			if inRange(k, rangeValue) {
				count++
			}
		}
		switch op {
		case AnyIn:
			return count > 0
		case AllIn:
			return count == len(keys)
		case AnyNotIn:
			// Kyverno rewrites "a-b" as "a!-b" for this operator.
			for _, k := range keys {
				if inRange(k, strings.Replace(rangeValue, "-", "!-", 1)) {
					return true
				}
			}
			return false
		}
		return count == 0 // AllNotIn
	}
	if values == nil && len(keys) == 1 {
		// The value is a string equal to the only key.
		return !negate
	}
	found := 0
	for _, k := range keys {
		if matchesAny(k, values) {
			found++
		}
	}
	switch {
	case all && negate:
		return found == 0
	case all:
		return found == len(keys)
	case negate:
		return found < len(keys)
	}
	return found > 0
}

// keyInValue reports whether a single key is in value: a list, or a string
// that is a wildcard pattern, a range, a JSON list of strings or a single
// string. valid is false for other value types and malformed JSON.
func keyInValue(key string, value any) (exists, valid bool) {
	switch v := value.(type) {
	case []any:
		for _, e := range v {
			if matches(key, fmt.Sprint(e)) {
				return true, true
			}
		}
		return false, true
	case string:
		if pattern.Wildcard(v, key) {
			return true, true
		}
		if isRange(v) {
			return inRange(key, v), true
		}
		arr, ok := stringList(v)
		if !ok {
			return false, false
		}
		for _, e := range arr {
			if e == key {
				return true, true
			}
		}
		return false, true
	}
	return false, false
}

// valueStrings returns the value of a set operator with a list key as
// strings; or the range when the value is a range string; or nil values
// when the value is a string equal to the only key.
func valueStrings(keys []string, value any) (values []string, rangeValue string, valid bool) {
	switch v := value.(type) {
	case []any:
		values = make([]string, len(v))
		for i, e := range v {
			values[i] = fmt.Sprint(e)
		}
		return values, "", true
	case float64, bool:
		return []string{fmt.Sprint(v)}, "", true
	case string:
		if len(keys) == 1 && keys[0] == v {
			return nil, "", true
		}
		if isRange(v) {
			return nil, v, true
		}
		arr, ok := stringList(v)
		if !ok {
			return nil, "", false
		}
		if arr == nil {
			arr = []string{}
		}
		return arr, "", true
	}
	return nil, "", false
}

// stringList reads a string value as a JSON list of strings when it is
// valid JSON, and as a list of itself otherwise.
func stringList(s string) ([]string, bool) {
	if !json.Valid([]byte(s)) {
		return []string{s}, true
	}
	var arr []string
	if err := json.Unmarshal([]byte(s), &arr); err != nil {
		return nil, false
	}
	return arr, true
}

func matches(a, b string) bool { return pattern.Wildcard(a, b) || pattern.Wildcard(b, a) }

func matchesAny(k string, values []string) bool {
	for _, v := range values {
		if matches(k, v) {
			return true
		}
	}
	return false
}

// legacyIn implements the deprecated In and NotIn: a single key is in a
// list or string value as for AnyIn; a list key must be a subset of the
// value, compared exactly.
func legacyIn(notIn bool, key, value any) bool {
	var keys []string
	switch k := key.(type) {
	case string:
		return legacyKeyIn(notIn, k, value)
	case float64:
		return legacyKeyIn(notIn, fmt.Sprint(k), value)
	case []any:
		keys = make([]string, len(k))
		for i, e := range k {
			keys[i] = fmt.Sprint(e)
		}
	default:
		return false
	}
	var set []string
	switch v := value.(type) {
	case []any:
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return false
			}
			set = append(set, s)
		}
	case string:
		if len(keys) == 1 && keys[0] == v {
			return !notIn
		}
		if err := json.Unmarshal([]byte(v), &set); err != nil {
			return false
		}
	default:
		return false
	}
	missing := false
	for _, k := range keys {
		found := false
		for _, s := range set {
			if s == k {
				found = true
				break
			}
		}
		if !found {
			missing = true
			break
		}
	}
	if notIn {
		return missing
	}
	return !missing
}

func legacyKeyIn(notIn bool, key string, value any) bool {
	exists := false
	switch v := value.(type) {
	case []any:
		for _, e := range v {
			if matches(key, fmt.Sprint(e)) {
				exists = true
				break
			}
		}
	case string:
		if pattern.Wildcard(v, key) {
			exists = true
			break
		}
		var arr []string
		if err := json.Unmarshal([]byte(v), &arr); err != nil {
			return false
		}
		for _, e := range arr {
			if e == key {
				exists = true
				break
			}
		}
	default:
		return false
	}
	return exists != notIn
}
