package jmespath

import (
	"errors"
	"fmt"
	"sort"
)

// evaluator holds the state of one Search.
type evaluator struct {
	in    *Interpreter
	steps int
}

// expRef is the value of an &expression argument.
type expRef struct{ n *node }

func isNotFound(err error) bool {
	_, ok := err.(NotFoundError)
	return ok
}

// eval follows Kyverno's go-jmespath fork: see the package documentation for
// where a NotFoundError is swallowed and where it propagates.
func (e *evaluator) eval(n *node, value any) (any, error) {
	e.steps++
	if e.steps > MaxSteps {
		return nil, ErrBudget
	}
	switch n.kind {
	case kField:
		if m, ok := value.(map[string]any); ok {
			if v, ok := m[n.str]; ok {
				return v, nil
			}
			return nil, NotFoundError{Key: n.str}
		}
		return nil, nil

	case kSub:
		left, err := e.eval(n.kids[0], value)
		if err != nil {
			return nil, err
		}
		return e.eval(n.kids[1], left)

	case kCurrent:
		return value, nil

	case kLiteral:
		return n.val, nil

	case kIndex:
		arr, ok := value.([]any)
		if !ok {
			return nil, nil
		}
		i := n.index
		if i < 0 {
			i += len(arr)
		}
		if i >= 0 && i < len(arr) {
			return arr[i], nil
		}
		return nil, nil

	case kSlice:
		arr, ok := value.([]any)
		if !ok {
			return nil, nil
		}
		return sliceArray(arr, n.slice)

	case kProjection:
		left, err := e.eval(n.kids[0], value)
		if err != nil && !isNotFound(err) {
			return nil, err
		}
		arr, ok := left.([]any)
		if !ok {
			return nil, nil
		}
		collected := []any{}
		for _, el := range arr {
			cur, err := e.eval(n.kids[1], el)
			if err != nil && !isNotFound(err) {
				return nil, err
			}
			if cur != nil {
				collected = append(collected, cur)
			}
		}
		return collected, nil

	case kFilter:
		left, err := e.eval(n.kids[0], value)
		if err != nil {
			return nil, nil
		}
		arr, ok := left.([]any)
		if !ok {
			return nil, nil
		}
		collected := []any{}
		for _, el := range arr {
			cond, err := e.eval(n.kids[2], el)
			if err != nil && !isNotFound(err) {
				return nil, err
			}
			if isFalse(cond) {
				continue
			}
			cur, err := e.eval(n.kids[1], el)
			if err != nil && !isNotFound(err) {
				return nil, err
			}
			if cur != nil {
				collected = append(collected, cur)
			}
		}
		return collected, nil

	case kFlatten:
		left, err := e.eval(n.kids[0], value)
		if err != nil {
			return nil, nil
		}
		arr, ok := left.([]any)
		if !ok {
			return nil, nil
		}
		flat := make([]any, 0, len(arr))
		for _, el := range arr {
			if inner, ok := el.([]any); ok {
				flat = append(flat, inner...)
			} else {
				flat = append(flat, el)
			}
		}
		return flat, nil

	case kValueProjection:
		left, err := e.eval(n.kids[0], value)
		if err != nil {
			return nil, nil
		}
		m, ok := left.(map[string]any)
		if !ok {
			return nil, nil
		}
		collected := []any{}
		// The fork builds its list of values with len(m) leading nils
		// (make + append); reproduce what projecting them yields.
		if len(m) > 0 {
			cur, err := e.eval(n.kids[1], nil)
			if err != nil && !isNotFound(err) {
				return nil, err
			}
			if cur != nil {
				for range m {
					collected = append(collected, cur)
				}
			}
		}
		// Go map order is random in Kyverno; use key order to be
		// deterministic.
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			cur, err := e.eval(n.kids[1], m[k])
			if err != nil && !isNotFound(err) {
				return nil, err
			}
			if cur != nil {
				collected = append(collected, cur)
			}
		}
		return collected, nil

	case kMultiList:
		if value == nil {
			return nil, nil
		}
		collected := make([]any, 0, len(n.kids))
		for _, k := range n.kids {
			cur, err := e.eval(k, value)
			if err != nil && !isNotFound(err) {
				return nil, err
			}
			collected = append(collected, cur)
		}
		return collected, nil

	case kMultiHash:
		if value == nil {
			return nil, nil
		}
		collected := make(map[string]any, len(n.kids))
		for _, k := range n.kids {
			cur, err := e.eval(k, value)
			if err != nil && !isNotFound(err) {
				return nil, err
			}
			collected[k.str] = cur
		}
		return collected, nil

	case kKeyVal:
		return e.eval(n.kids[0], value)

	case kOr:
		left, err := e.eval(n.kids[0], value)
		if err != nil {
			if !isNotFound(err) {
				return nil, err
			}
			left = nil
		}
		if !isFalse(left) {
			return left, nil
		}
		right, err := e.eval(n.kids[1], value)
		if err != nil && !isNotFound(err) {
			return nil, err
		}
		return right, nil

	case kAnd:
		left, err := e.eval(n.kids[0], value)
		if err != nil && !isNotFound(err) {
			return nil, err
		}
		if isFalse(left) {
			return left, nil
		}
		return e.eval(n.kids[1], value)

	case kNot:
		v, err := e.eval(n.kids[0], value)
		if err != nil && !isNotFound(err) {
			return nil, err
		}
		return isFalse(v), nil

	case kPipe:
		result := value
		for _, k := range n.kids {
			var err error
			result, err = e.eval(k, result)
			if err != nil && !isNotFound(err) {
				return nil, err
			}
		}
		return result, nil

	case kCompare:
		left, err := e.eval(n.kids[0], value)
		if err != nil && !isNotFound(err) {
			return nil, err
		}
		right, err := e.eval(n.kids[1], value)
		if err != nil && !isNotFound(err) {
			return nil, err
		}
		switch n.op {
		case opEQ:
			return equal(left, right), nil
		case opNE:
			return !equal(left, right), nil
		}
		l, ok := toNumber(left)
		if !ok {
			return nil, nil
		}
		r, ok := toNumber(right)
		if !ok {
			return nil, nil
		}
		switch n.op {
		case opLT:
			return l < r, nil
		case opLTE:
			return l <= r, nil
		case opGT:
			return l > r, nil
		default:
			return l >= r, nil
		}

	case kExpRef:
		return expRef{n: n.kids[0]}, nil

	case kFunction:
		args := make([]any, len(n.kids))
		for i, k := range n.kids {
			v, err := e.eval(k, value)
			if err != nil && !isNotFound(err) {
				return nil, err
			}
			args[i] = v
		}
		if n.fn == nil {
			return nil, errors.New("unknown function: " + n.str)
		}
		return e.call(n.fn, args)
	}
	return nil, fmt.Errorf("unknown AST node %d", n.kind)
}

// sliceArray implements [start:stop:step].
func sliceArray(arr []any, parts [3]*int) (any, error) {
	length := len(arr)
	step := 1
	if parts[2] != nil {
		step = *parts[2]
		if step == 0 {
			return nil, errors.New("Invalid slice, step cannot be 0")
		}
	}
	capIndex := func(actual int) int {
		if actual < 0 {
			actual += length
			if actual < 0 {
				if step < 0 {
					return -1
				}
				return 0
			}
		} else if actual >= length {
			if step < 0 {
				return length - 1
			}
			return length
		}
		return actual
	}
	var start, stop int
	if parts[0] == nil {
		if step < 0 {
			start = length - 1
		}
	} else {
		start = capIndex(*parts[0])
	}
	if parts[1] == nil {
		if step < 0 {
			stop = -1
		} else {
			stop = length
		}
	} else {
		stop = capIndex(*parts[1])
	}
	result := []any{}
	if step > 0 {
		for i := start; i < stop; i += step {
			result = append(result, arr[i])
		}
	} else {
		for i := start; i > stop; i += step {
			result = append(result, arr[i])
		}
	}
	return result, nil
}
