package mutate

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
)

// maxDepth bounds the nesting of resources, overlays and patch values. Every
// recursive walk in this package is bounded by the depth of its input, and
// inputs deeper than this are rejected up front.
const maxDepth = 1000

// errTooDeep is returned for inputs nested deeper than maxDepth.
var errTooDeep = fmt.Errorf("value is nested deeper than %d levels", maxDepth)

// copyValue deep-copies an unstructured JSON value. With normalize set, it
// also converts integral float64 values that fit in an int64 to int64, as
// Kyverno's marshal-then-unmarshal of the whole resource does (encoding/json
// prints float64(1) as "1", which the unstructured decoder reads back as an
// int64). It fails on values nested deeper than maxDepth and on types that
// are not JSON.
func copyValue(v any, normalize bool, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errTooDeep
	}
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			c, err := copyValue(e, normalize, depth+1)
			if err != nil {
				return nil, err
			}
			m[k] = c
		}
		return m, nil
	case []any:
		l := make([]any, len(t))
		for i, e := range t {
			c, err := copyValue(e, normalize, depth+1)
			if err != nil {
				return nil, err
			}
			l[i] = c
		}
		return l, nil
	case nil, string, bool, int64:
		return t, nil
	case float64:
		if normalize {
			if i, ok := integral(t); ok {
				return i, nil
			}
		}
		return t, nil
	case int:
		return int64(t), nil
	case int32:
		return int64(t), nil
	case float32:
		return copyValue(float64(t), normalize, depth)
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i, nil
		}
		f, err := t.Float64()
		if err != nil {
			return nil, fmt.Errorf("invalid number %q: %w", t.String(), err)
		}
		return f, nil
	default:
		return nil, fmt.Errorf("unsupported value type %T", v)
	}
}

// normalized reports whether copyValue(v, true, depth) would return a value
// identical to v: no number to convert, no nil map or list (which copyValue
// turns into an empty one), no NaN (which is not equal to itself, so that a
// shared copy would compare differently from a fresh one), and no value
// nested too deeply. A normalized value can be shared instead of copied.
func normalized(v any, depth int) bool {
	if depth > maxDepth {
		return false
	}
	switch t := v.(type) {
	case map[string]any:
		if t == nil {
			return false
		}
		for _, e := range t {
			if !normalized(e, depth+1) {
				return false
			}
		}
		return true
	case []any:
		if t == nil {
			return false
		}
		for _, e := range t {
			if !normalized(e, depth+1) {
				return false
			}
		}
		return true
	case nil, string, bool, int64:
		return true
	case float64:
		_, isInt := integral(t)
		return !isInt && t == t
	}
	return false
}

// copyNormalized returns what copyValue(v, true, depth) returns, sharing v
// instead of copying it when that changes nothing (see normalized).
func copyNormalized(v any, depth int) (any, error) {
	if normalized(v, depth) {
		return v, nil
	}
	return copyValue(v, true, depth)
}

// checkDepth fails on values nested deeper than maxDepth.
func checkDepth(v any, depth int) error {
	if depth > maxDepth {
		return errTooDeep
	}
	switch t := v.(type) {
	case map[string]any:
		for _, e := range t {
			if err := checkDepth(e, depth+1); err != nil {
				return err
			}
		}
	case []any:
		for _, e := range t {
			if err := checkDepth(e, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// integral reports whether f is a whole number that fits in an int64, and
// returns it as one.
func integral(f float64) (int64, bool) {
	if f != math.Trunc(f) || math.IsInf(f, 0) || f < -(1<<63) || f >= 1<<63 {
		return 0, false
	}
	return int64(f), true
}

// clone deep-copies a value that is already known to be a valid, bounded
// unstructured JSON value.
func clone(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[k] = clone(e)
		}
		return m
	case []any:
		l := make([]any, len(t))
		for i, e := range t {
			l[i] = clone(e)
		}
		return l
	default:
		return t
	}
}

// jsonEqual reports whether a and b are the same JSON document: numbers are
// compared by value whatever their Go type. Maps and lists that a and b
// share are equal without a walk, so comparing a result with the resource it
// shares most of its subtrees with costs little. Callers must not share a
// subtree that holds a NaN, which is not equal to itself.
func jsonEqual(a, b any) bool {
	switch ta := a.(type) {
	case map[string]any:
		tb, ok := b.(map[string]any)
		if !ok || len(ta) != len(tb) {
			return false
		}
		if sameMap(ta, tb) {
			return true
		}
		for k, va := range ta {
			vb, ok := tb[k]
			if !ok || !jsonEqual(va, vb) {
				return false
			}
		}
		return true
	case []any:
		tb, ok := b.([]any)
		if !ok || len(ta) != len(tb) {
			return false
		}
		if len(ta) > 0 && &ta[0] == &tb[0] {
			return true
		}
		for i := range ta {
			if !jsonEqual(ta[i], tb[i]) {
				return false
			}
		}
		return true
	case nil:
		return b == nil
	case string:
		tb, ok := b.(string)
		return ok && ta == tb
	case bool:
		tb, ok := b.(bool)
		return ok && ta == tb
	default:
		fa, ok := toFloat(a)
		if !ok {
			return false
		}
		fb, ok := toFloat(b)
		if !ok {
			return false
		}
		if ia, ok := a.(int64); ok {
			if ib, ok := b.(int64); ok {
				return ia == ib
			}
		}
		return fa == fb
	}
}

// sameMap reports whether a and b are the same map, not merely equal ones.
func sameMap(a, b map[string]any) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// toFloat converts a JSON number of any supported Go type to float64.
func toFloat(v any) (float64, bool) {
	switch t := v.(type) {
	case int64:
		return float64(t), true
	case int:
		return float64(t), true
	case int32:
		return float64(t), true
	case float64:
		return t, true
	case float32:
		return float64(t), true
	case json.Number:
		f, err := t.Float64()
		return f, err == nil
	}
	return 0, false
}

// formatFloat formats f the way encoding/json does.
func formatFloat(f float64) string {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b := strconv.AppendFloat(nil, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return string(b)
}

// scalarText is the text a YAML scalar node holds for v once the value has
// been written as JSON and parsed by kyaml, which is what Kyverno's
// strategic merge compares: strings are unquoted, null is "null", and maps
// and lists have no scalar text.
func scalarText(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case string:
		return t
	case bool:
		return strconv.FormatBool(t)
	case int64:
		return strconv.FormatInt(t, 10)
	case int:
		return strconv.Itoa(t)
	case int32:
		return strconv.FormatInt(int64(t), 10)
	case float64:
		return formatFloat(t)
	case float32:
		return formatFloat(float64(t))
	case json.Number:
		return t.String()
	default:
		return ""
	}
}

// isScalar reports whether v is neither a map nor a list.
func isScalar(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return false
	}
	return true
}
