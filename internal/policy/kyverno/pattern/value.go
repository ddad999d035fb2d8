package pattern

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

// op is a comparison operator at the start of a string pattern.
type op uint8

const (
	opEqual      op = iota // no prefix
	opNotEqual             // "!"
	opMore                 // ">"
	opLess                 // "<"
	opMoreEqual            // ">="
	opLessEqual            // "<="
	opInRange              // "a-b"
	opNotInRange           // "a!-b"
)

// Kyverno recognises ranges of numbers or quantities, such as "1-10",
// "128Mi-512Mi" or "-10--8", and their negation "1!-10". The two regular
// expressions are immutable once compiled.
var (
	inRangeRegex    = regexp.MustCompile(`^([-|\+]?\d+(?:\.\d+)?[A-Za-z]*)-([-|\+]?\d+(?:\.\d+)?[A-Za-z]*)$`)
	notInRangeRegex = regexp.MustCompile(`^([-|\+]?\d+(?:\.\d+)?[A-Za-z]*)!-([-|\+]?\d+(?:\.\d+)?[A-Za-z]*)$`)
)

// valueKind is the JSON type of a scalar pattern.
type valueKind uint8

const (
	valueNil valueKind = iota
	valueBool
	valueNumber
	valueString
	valueMap   // matches any map: only reachable through MatchValue
	valueOther // lists and unknown types never match
)

// valuePattern is a compiled scalar pattern: a bool, a number, null or a
// string with operators.
type valuePattern struct {
	kind valueKind
	b    bool
	f    float64
	s    string
	// alts holds the "|"-separated alternatives of a string pattern, each a
	// list of "&"-separated conditions that must all hold.
	alts [][]condition
}

// condition is one comparison of a string pattern, such as ">= 1Gi" or
// "!*:latest", with its operand parsed once.
type condition struct {
	op      op
	operand string
	// dur and qty hold the operand parsed as a duration and as a Kubernetes
	// quantity, when it parses.
	dur    time.Duration
	hasDur bool
	qty    resource.Quantity
	hasQty bool
	// lo and hi are the two bounds of a range: ">= lo" and "<= hi" for
	// opInRange, "< lo" and "> hi" for opNotInRange.
	lo, hi *condition
}

// normalizeNumber returns v as a float64 when it is a number, as Kyverno
// sees every number of a policy (it decodes policies with encoding/json).
func normalizeNumber(v any) (float64, bool) {
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

// compileValue compiles a scalar pattern.
func compileValue(p any) *valuePattern {
	if f, ok := normalizeNumber(p); ok {
		return &valuePattern{kind: valueNumber, f: f}
	}
	switch t := p.(type) {
	case nil:
		return &valuePattern{kind: valueNil}
	case bool:
		return &valuePattern{kind: valueBool, b: t}
	case string:
		return compileString(t)
	case map[string]any:
		return &valuePattern{kind: valueMap}
	}
	return &valuePattern{kind: valueOther}
}

func compileString(s string) *valuePattern {
	vp := &valuePattern{kind: valueString, s: s}
	for _, alt := range strings.Split(s, "|") {
		alt = strings.Trim(alt, " ")
		var conds []condition
		for _, c := range strings.Split(alt, "&") {
			conds = append(conds, parseCondition(strings.Trim(c, " ")))
		}
		vp.alts = append(vp.alts, conds)
	}
	return vp
}

// parseCondition parses one condition the way Kyverno's
// GetOperatorFromStringPattern does.
func parseCondition(s string) condition {
	if len(s) >= 2 {
		switch {
		case strings.HasPrefix(s, ">="):
			return newCondition(opMoreEqual, s[2:])
		case strings.HasPrefix(s, "<="):
			return newCondition(opLessEqual, s[2:])
		case s[0] == '>':
			return newCondition(opMore, s[1:])
		case s[0] == '<':
			return newCondition(opLess, s[1:])
		case s[0] == '!':
			return newCondition(opNotEqual, s[1:])
		}
		if !rangeStart(s) {
			return newCondition(opEqual, s)
		}
		if m := notInRangeRegex.FindStringSubmatch(s); m != nil {
			lo, hi := newCondition(opLess, m[1]), newCondition(opMore, m[2])
			return condition{op: opNotInRange, operand: s, lo: &lo, hi: &hi}
		}
		if m := inRangeRegex.FindStringSubmatch(s); m != nil {
			lo, hi := newCondition(opMoreEqual, m[1]), newCondition(opLessEqual, m[2])
			return condition{op: opInRange, operand: s, lo: &lo, hi: &hi}
		}
	}
	return newCondition(opEqual, s)
}

func newCondition(o op, operand string) condition {
	c := condition{op: o, operand: strings.TrimSpace(operand)}
	if numeric(c.operand) {
		if d, err := time.ParseDuration(c.operand); err == nil {
			c.dur, c.hasDur = d, true
		}
		c.qty, c.hasQty = parseQuantity(c.operand)
	}
	return c
}

// rangeStart reports whether s can start a range: a digit, possibly signed.
func rangeStart(s string) bool {
	if s[0] == '+' || s[0] == '-' || s[0] == '|' {
		s = s[1:]
	}
	return s != "" && s[0] >= '0' && s[0] <= '9'
}

// numeric reports whether s could be a duration or a quantity: both start
// with an optional sign and a digit or a decimal point. It saves parsing
// (and allocating errors for) strings that cannot be either.
func numeric(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	return s != "" && (s[0] == '.' || (s[0] >= '0' && s[0] <= '9'))
}

// Bounds on the quantities this package parses. Comparing quantities with
// huge exponents ("1e999999999") takes unbounded time, so such strings are
// not treated as quantities; Kubernetes never produces them.
const (
	maxQuantityLen      = 512
	maxQuantityExponent = 308
)

// parseQuantity parses a Kubernetes quantity within the bounds above.
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

// match reports whether value matches the pattern, as Kyverno's
// pattern.Validate does.
func (vp *valuePattern) match(value any) bool {
	switch vp.kind {
	case valueBool:
		b, ok := value.(bool)
		return ok && b == vp.b
	case valueNumber:
		return matchNumber(value, vp.f)
	case valueNil:
		return matchNil(value)
	case valueMap:
		_, ok := value.(map[string]any)
		return ok
	case valueString:
		if s, ok := value.(string); ok && s == vp.s {
			return true
		}
		for _, alt := range vp.alts {
			all := true
			for i := range alt {
				if !alt[i].match(value) {
					all = false
					break
				}
			}
			if all {
				return true
			}
		}
		return false
	}
	return false
}

// matchNumber compares a value with a number pattern. Kyverno's patterns are
// always float64, so an integral pattern matches an integral value and a
// string value is parsed as a float.
func matchNumber(value any, p float64) bool {
	switch v := value.(type) {
	case int64:
		return p == math.Trunc(p) && int64(p) == v
	case int:
		return p == math.Trunc(p) && int(p) == v
	case float64:
		return v == p
	case string:
		f, err := strconv.ParseFloat(v, 64)
		return err == nil && f == p
	}
	return false
}

// matchNil implements the null pattern: it matches null and the zero value
// of every scalar type.
func matchNil(value any) bool {
	switch v := value.(type) {
	case nil:
		return true
	case float64:
		return v == 0
	case int64:
		return v == 0
	case int:
		return v == 0
	case string:
		return v == ""
	case bool:
		return !v
	}
	return false
}

func (c *condition) match(value any) bool {
	switch c.op {
	case opInRange:
		return c.lo.match(value) && c.hi.match(value)
	case opNotInRange:
		return c.lo.match(value) || c.hi.match(value)
	}
	if c.hasDur {
		if s, ok := numberToString(value); ok && numeric(s) {
			if d, err := time.ParseDuration(s); err == nil {
				return compareOrdered(c.op, cmpDuration(d, c.dur))
			}
		}
	}
	if c.hasQty {
		if s, ok := numberToString(value); ok && numeric(s) {
			if q, ok := parseQuantity(s); ok {
				return compareOrdered(c.op, q.Cmp(c.qty))
			}
		}
	}
	return c.compareString(value)
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

// compareOrdered turns a three-way comparison of value and operand into the
// result of the operator.
func compareOrdered(o op, cmp int) bool {
	switch o {
	case opEqual:
		return cmp == 0
	case opNotEqual:
		return cmp != 0
	case opMore:
		return cmp > 0
	case opLess:
		return cmp < 0
	case opMoreEqual:
		return cmp >= 0
	case opLessEqual:
		return cmp <= 0
	}
	return false
}

// numberToString renders a value for duration and quantity parsing, as
// Kyverno's convertNumberToString: null is "0" and floats use "%f".
func numberToString(value any) (string, bool) {
	switch v := value.(type) {
	case nil:
		return "0", true
	case string:
		return v, true
	case float64:
		return fmt.Sprintf("%f", v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case int:
		return strconv.Itoa(v), true
	}
	return "", false
}

// compareString compares a value's string form with a wildcard operand;
// only "equal" and "not equal" apply to strings.
func (c *condition) compareString(value any) bool {
	if c.op != opEqual && c.op != opNotEqual {
		return false
	}
	var s string
	switch v := value.(type) {
	case float64:
		s = strconv.FormatFloat(v, 'E', -1, 64)
	case int64:
		s = strconv.FormatInt(v, 10)
	case int:
		s = strconv.Itoa(v)
	case string:
		s = v
	case bool:
		s = strconv.FormatBool(v)
	default:
		return false
	}
	return Wildcard(c.operand, s) == (c.op == opEqual)
}

// MatchValue reports whether a scalar value matches a scalar pattern with
// Kyverno's rules for validate patterns: wildcards, the operators "!", ">",
// "<", ">=", "<=", ranges "a-b" and "a!-b", "|" and "&", durations and
// quantities in strings, numbers, booleans and null. A map pattern matches
// any map; a list pattern matches nothing.
func MatchValue(value, pattern any) bool {
	return compileValue(pattern).match(value)
}
