package jmespath

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// jpType is an argument type of a function signature.
type jpType string

const (
	tNumber      jpType = "number"
	tString      jpType = "string"
	tArray       jpType = "array"
	tObject      jpType = "object"
	tArrayNumber jpType = "array[number]"
	tArrayString jpType = "array[string]"
	tExpref      jpType = "expref"
	tAny         jpType = "any"
)

// function is a registered JMESPath function.
type function struct {
	name string
	// args are the accepted types of each argument. A function without args
	// accepts any arguments unchecked, as the fork does for time_now.
	args     [][]jpType
	variadic bool // the last argument repeats
	handler  func(e *evaluator, args []any) (any, error)
}

func sig(types ...jpType) []jpType { return types }

// call checks arity and types like the fork, normalises numeric arguments to
// float64 and calls the handler.
func (e *evaluator) call(f *function, args []any) (any, error) {
	if len(f.args) > 0 {
		if !f.variadic {
			if len(args) != len(f.args) {
				return nil, errors.New("incorrect number of args")
			}
		} else if len(args) < len(f.args) {
			return nil, errors.New("Invalid arity.")
		}
		for i, arg := range args {
			spec := f.args[min(i, len(f.args)-1)]
			if !typeMatches(spec, arg) {
				return nil, fmt.Errorf("Invalid type for: %v, expected: %s", arg, formatTypes(spec))
			}
		}
	}
	for i, arg := range args {
		if _, isFloat := arg.(float64); !isFloat {
			if f, ok := toNumber(arg); ok {
				args[i] = f
			}
		}
	}
	result, err := f.handler(e, args)
	if err != nil {
		return nil, err
	}
	if s, ok := result.(string); ok && len(s) > MaxStringLength {
		return nil, fmt.Errorf("JMESPath function '%s': result longer than %d bytes", f.name, MaxStringLength)
	}
	return result, nil
}

func typeMatches(types []jpType, arg any) bool {
	for _, t := range types {
		switch t {
		case tAny:
			return true
		case tNumber:
			if _, ok := toNumber(arg); ok {
				return true
			}
		case tString:
			if _, ok := arg.(string); ok {
				return true
			}
		case tArray:
			if _, ok := arg.([]any); ok {
				return true
			}
		case tObject:
			if _, ok := arg.(map[string]any); ok {
				return true
			}
		case tArrayNumber:
			if _, ok := toNumbers(arg); ok {
				return true
			}
		case tArrayString:
			if _, ok := toStrings(arg); ok {
				return true
			}
		case tExpref:
			if _, ok := arg.(expRef); ok {
				return true
			}
		}
	}
	return false
}

// formatTypes renders a type list as the fork's %#v does.
func formatTypes(types []jpType) string {
	parts := make([]string, len(types))
	for i, t := range types {
		parts[i] = strconv.Quote(string(t))
	}
	return "[]jmespath.JpType{" + strings.Join(parts, ", ") + "}"
}

func toNumbers(v any) ([]float64, bool) {
	arr, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]float64, len(arr))
	for i, el := range arr {
		f, ok := toNumber(el)
		if !ok {
			return nil, false
		}
		out[i] = f
	}
	return out, true
}

func toStrings(v any) ([]string, bool) {
	arr, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, len(arr))
	for i, el := range arr {
		s, ok := el.(string)
		if !ok {
			return nil, false
		}
		out[i] = s
	}
	return out, true
}

// standardFunctions are the functions of Kyverno's go-jmespath fork. sum is
// replaced by Kyverno's own version in kyvernoFunctions.
func standardFunctions() []*function {
	return []*function{
		{name: "abs", args: [][]jpType{sig(tNumber)}, handler: func(_ *evaluator, a []any) (any, error) {
			return math.Abs(a[0].(float64)), nil
		}},
		{name: "avg", args: [][]jpType{sig(tArrayNumber)}, handler: func(_ *evaluator, a []any) (any, error) {
			nums, _ := toNumbers(a[0])
			total := 0.0
			for _, n := range nums {
				total += n
			}
			return total / float64(len(nums)), nil
		}},
		{name: "ceil", args: [][]jpType{sig(tNumber)}, handler: func(_ *evaluator, a []any) (any, error) {
			return math.Ceil(a[0].(float64)), nil
		}},
		{name: "floor", args: [][]jpType{sig(tNumber)}, handler: func(_ *evaluator, a []any) (any, error) {
			return math.Floor(a[0].(float64)), nil
		}},
		{name: "contains", args: [][]jpType{sig(tArray, tString), sig(tAny)}, handler: jpContains},
		{name: "starts_with", args: [][]jpType{sig(tString), sig(tString)}, handler: func(_ *evaluator, a []any) (any, error) {
			return strings.HasPrefix(a[0].(string), a[1].(string)), nil
		}},
		{name: "ends_with", args: [][]jpType{sig(tString), sig(tString)}, handler: func(_ *evaluator, a []any) (any, error) {
			return strings.HasSuffix(a[0].(string), a[1].(string)), nil
		}},
		{name: "join", args: [][]jpType{sig(tString), sig(tArrayString)}, handler: func(_ *evaluator, a []any) (any, error) {
			parts, _ := toStrings(a[1])
			return strings.Join(parts, a[0].(string)), nil
		}},
		{name: "keys", args: [][]jpType{sig(tObject)}, handler: func(_ *evaluator, a []any) (any, error) {
			keys := slices.Sorted(maps.Keys(a[0].(map[string]any)))
			out := make([]any, len(keys))
			for i, k := range keys {
				out[i] = k
			}
			return out, nil
		}},
		{name: "values", args: [][]jpType{sig(tObject)}, handler: func(_ *evaluator, a []any) (any, error) {
			m := a[0].(map[string]any)
			out := make([]any, 0, len(m))
			for _, k := range slices.Sorted(maps.Keys(m)) {
				out = append(out, m[k])
			}
			return out, nil
		}},
		{name: "length", args: [][]jpType{sig(tString, tArray, tObject)}, handler: func(_ *evaluator, a []any) (any, error) {
			switch v := a[0].(type) {
			case string:
				return float64(utf8.RuneCountInString(v)), nil
			case []any:
				return float64(len(v)), nil
			case map[string]any:
				return float64(len(v)), nil
			}
			return nil, errors.New("could not compute length()")
		}},
		{name: "map", args: [][]jpType{sig(tExpref), sig(tArray)}, handler: jpMap},
		{name: "max", args: [][]jpType{sig(tArrayNumber, tArrayString)}, handler: func(_ *evaluator, a []any) (any, error) {
			return extreme(a[0], func(x, y float64) bool { return x > y }, func(x, y string) bool { return x > y }), nil
		}},
		{name: "min", args: [][]jpType{sig(tArrayNumber, tArrayString)}, handler: func(_ *evaluator, a []any) (any, error) {
			return extreme(a[0], func(x, y float64) bool { return x < y }, func(x, y string) bool { return x < y }), nil
		}},
		{name: "max_by", args: [][]jpType{sig(tArray), sig(tExpref)}, handler: func(e *evaluator, a []any) (any, error) {
			return extremeBy(e, a, func(x, y float64) bool { return x > y }, func(x, y string) bool { return x > y })
		}},
		{name: "min_by", args: [][]jpType{sig(tArray), sig(tExpref)}, handler: func(e *evaluator, a []any) (any, error) {
			return extremeBy(e, a, func(x, y float64) bool { return x < y }, func(x, y string) bool { return x < y })
		}},
		{name: "merge", args: [][]jpType{sig(tObject)}, variadic: true, handler: func(_ *evaluator, a []any) (any, error) {
			out := map[string]any{}
			for _, arg := range a {
				for k, v := range arg.(map[string]any) {
					out[k] = v
				}
			}
			return out, nil
		}},
		{name: "not_null", args: [][]jpType{sig(tAny)}, variadic: true, handler: func(_ *evaluator, a []any) (any, error) {
			for _, arg := range a {
				if arg != nil {
					return arg, nil
				}
			}
			return nil, nil
		}},
		{name: "reverse", args: [][]jpType{sig(tArray, tString)}, handler: func(_ *evaluator, a []any) (any, error) {
			if s, ok := a[0].(string); ok {
				r := []rune(s)
				for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
					r[i], r[j] = r[j], r[i]
				}
				return string(r), nil
			}
			arr := a[0].([]any)
			out := make([]any, len(arr))
			for i, v := range arr {
				out[len(arr)-1-i] = v
			}
			return out, nil
		}},
		{name: "sort", args: [][]jpType{sig(tArrayString, tArrayNumber)}, handler: func(_ *evaluator, a []any) (any, error) {
			if nums, ok := toNumbers(a[0]); ok {
				sort.Float64s(nums)
				out := make([]any, len(nums))
				for i, n := range nums {
					out[i] = n
				}
				return out, nil
			}
			strs, _ := toStrings(a[0])
			sort.Strings(strs)
			out := make([]any, len(strs))
			for i, s := range strs {
				out[i] = s
			}
			return out, nil
		}},
		{name: "sort_by", args: [][]jpType{sig(tArray), sig(tExpref)}, handler: jpSortBy},
		{name: "to_array", args: [][]jpType{sig(tAny)}, handler: func(_ *evaluator, a []any) (any, error) {
			if arr, ok := a[0].([]any); ok {
				return arr, nil
			}
			return []any{a[0]}, nil
		}},
		{name: "to_string", args: [][]jpType{sig(tAny)}, handler: func(_ *evaluator, a []any) (any, error) {
			if s, ok := a[0].(string); ok {
				return s, nil
			}
			b, err := json.Marshal(a[0])
			if err != nil {
				return nil, err
			}
			return string(b), nil
		}},
		{name: "to_number", args: [][]jpType{sig(tAny)}, handler: func(_ *evaluator, a []any) (any, error) {
			switch v := a[0].(type) {
			case float64:
				return v, nil
			case string:
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return nil, nil
				}
				return f, nil
			case nil, bool, []any, map[string]any:
				return nil, nil
			}
			return nil, errors.New("unknown type")
		}},
		{name: "type", args: [][]jpType{sig(tAny)}, handler: func(_ *evaluator, a []any) (any, error) {
			if t := typeName(a[0]); t != "" {
				return t, nil
			}
			return nil, errors.New("unknown type")
		}},
	}
}

func jpContains(_ *evaluator, a []any) (any, error) {
	if s, ok := a[0].(string); ok {
		if sub, ok := a[1].(string); ok {
			return strings.Contains(s, sub), nil
		}
		return false, nil
	}
	for _, item := range a[0].([]any) {
		if scalarEqual(item, a[1]) {
			return true, nil
		}
	}
	return false, nil
}

// scalarEqual is the fork's interface comparison for contains: scalars
// compare by value, arrays and objects never match.
func scalarEqual(a, b any) bool {
	switch a.(type) {
	case []any, map[string]any:
		return false
	}
	switch b.(type) {
	case []any, map[string]any:
		return false
	}
	return equal(a, b)
}

func jpMap(e *evaluator, a []any) (any, error) {
	ref := a[0].(expRef)
	arr := a[1].([]any)
	out := make([]any, 0, len(arr))
	for _, v := range arr {
		cur, err := e.eval(ref.n, v)
		if err != nil && !isNotFound(err) {
			return nil, err
		}
		out = append(out, cur)
	}
	return out, nil
}

func extreme(v any, numBetter func(x, y float64) bool, strBetter func(x, y string) bool) any {
	if nums, ok := toNumbers(v); ok {
		if len(nums) == 0 {
			return nil
		}
		best := nums[0]
		for _, n := range nums[1:] {
			if numBetter(n, best) {
				best = n
			}
		}
		return best
	}
	strs, _ := toStrings(v)
	if len(strs) == 0 {
		return nil
	}
	best := strs[0]
	for _, s := range strs[1:] {
		if strBetter(s, best) {
			best = s
		}
	}
	return best
}

func extremeBy(e *evaluator, a []any, numBetter func(x, y float64) bool, strBetter func(x, y string) bool) (any, error) {
	arr := a[0].([]any)
	ref := a[1].(expRef)
	if len(arr) == 0 {
		return nil, nil
	}
	if len(arr) == 1 {
		return arr[0], nil
	}
	key := func(v any) (any, error) {
		k, err := e.eval(ref.n, v)
		if err != nil && !isNotFound(err) {
			return nil, err
		}
		return k, nil
	}
	start, err := key(arr[0])
	if err != nil {
		return nil, err
	}
	best := arr[0]
	if bestNum, ok := toNumber(start); ok {
		for _, item := range arr[1:] {
			k, err := key(item)
			if err != nil {
				return nil, err
			}
			n, ok := toNumber(k)
			if !ok {
				return nil, errors.New("invalid type, must be number")
			}
			if numBetter(n, bestNum) {
				bestNum, best = n, item
			}
		}
		return best, nil
	}
	if bestStr, ok := start.(string); ok {
		for _, item := range arr[1:] {
			k, err := key(item)
			if err != nil {
				return nil, err
			}
			s, ok := k.(string)
			if !ok {
				return nil, errors.New("invalid type, must be string")
			}
			if strBetter(s, bestStr) {
				bestStr, best = s, item
			}
		}
		return best, nil
	}
	return nil, errors.New("invalid type, must be number of string")
}

// jpSortBy sorts a copy of the array; the fork sorts in place.
func jpSortBy(e *evaluator, a []any) (any, error) {
	arr := a[0].([]any)
	ref := a[1].(expRef)
	if len(arr) < 2 {
		return arr, nil
	}
	keys := make([]any, len(arr))
	first, err := e.eval(ref.n, arr[0])
	if err != nil && !isNotFound(err) {
		return nil, err
	}
	keys[0] = first
	_, numeric := toNumber(first)
	_, str := first.(string)
	if !numeric && !str {
		return nil, errors.New("invalid type, must be number of string")
	}
	// The fork re-evaluates keys while sorting and fails on any error,
	// including a missing key, or on a key of the wrong type.
	for i := range arr {
		k, err := e.eval(ref.n, arr[i])
		if err != nil {
			if isNotFound(err) {
				return nil, errors.New("error in sort_by comparison")
			}
			return nil, err
		}
		if _, ok := toNumber(k); numeric && !ok {
			return nil, errors.New("error in sort_by comparison")
		}
		if _, ok := k.(string); str && !ok {
			return nil, errors.New("error in sort_by comparison")
		}
		keys[i] = k
	}
	idx := make([]int, len(arr))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(x, y int) bool {
		if numeric {
			a, _ := toNumber(keys[idx[x]])
			b, _ := toNumber(keys[idx[y]])
			return a < b
		}
		return keys[idx[x]].(string) < keys[idx[y]].(string)
	})
	out := make([]any, len(arr))
	for i, j := range idx {
		out[i] = arr[j]
	}
	return out, nil
}
