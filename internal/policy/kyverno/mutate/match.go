package mutate

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/anchor"
)

// This file decides whether a resource value matches the value of a
// conditional anchor. Kyverno checks mutation conditions with its validate
// pattern matcher (pkg/engine/validate.MatchPattern), so this is that
// matcher, reduced to its verdict: values, wildcards, operators, ranges,
// quantities and durations, and the validate anchors inside the pattern.

// outcome is the result of matching a pattern element.
type outcome int

const (
	matched outcome = iota
	// mismatched is an ordinary failure.
	mismatched
	// skipped is the failure of a conditional or global anchor; a list of
	// maps ignores elements that fail this way.
	skipped
)

// matchPattern reports whether value matches pattern.
func matchPattern(value, pattern any) bool {
	return matchElement(value, pattern) == matched
}

func matchElement(value, pattern any) outcome {
	switch p := pattern.(type) {
	case map[string]any:
		v, ok := value.(map[string]any)
		if !ok {
			return mismatched
		}
		return matchMap(v, p)
	case []any:
		v, ok := value.([]any)
		if !ok {
			return mismatched
		}
		return matchArray(v, p)
	case string, float64, int, int64, bool, nil:
		if list, ok := value.([]any); ok {
			for _, e := range list {
				if !matchValue(e, pattern) {
					return mismatched
				}
			}
			return matched
		}
		if !matchValue(value, pattern) {
			return mismatched
		}
		return matched
	}
	return mismatched
}

func matchMap(value, pattern map[string]any) outcome {
	pattern = expandMetadata(pattern, value)
	var anchors, front, back []string
	for k, pv := range pattern {
		switch anchor.Parse(k).Type {
		case anchor.Condition, anchor.Existence, anchor.Equality, anchor.Negation:
			anchors = append(anchors, k)
		case anchor.Global:
			front = append(front, k)
		default:
			if hasValidateAnchors(pv) {
				front = append(front, k)
			} else {
				back = append(back, k)
			}
		}
	}
	sort.Strings(anchors)
	sort.Strings(front)
	sort.Strings(back)
	for _, group := range [3][]string{anchors, front, back} {
		for _, k := range group {
			if o := matchKey(value, k, pattern[k]); o != matched {
				return o
			}
		}
	}
	return matched
}

// hasValidateAnchors reports whether a pattern holds a validate anchor below.
func hasValidateAnchors(v any) bool {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if anchor.Parse(k).Type != anchor.None || hasValidateAnchors(e) {
				return true
			}
		}
	case []any:
		for _, e := range t {
			if hasValidateAnchors(e) {
				return true
			}
		}
	}
	return false
}

// matchKey applies one key of a pattern map to the resource map.
func matchKey(value map[string]any, key string, pv any) outcome {
	a := anchor.Parse(key)
	rv, present := value[a.Key]
	switch a.Type {
	case anchor.Condition:
		if !present || matchElement(rv, pv) != matched {
			return skipped
		}
	case anchor.Global:
		if present && matchElement(rv, pv) != matched {
			return skipped
		}
	case anchor.Equality:
		if present {
			return matchElement(rv, pv)
		}
	case anchor.Negation:
		if present {
			return mismatched
		}
	case anchor.Existence:
		if !present {
			return matched
		}
		list, ok := rv.([]any)
		if !ok {
			return mismatched
		}
		patterns, ok := pv.([]any)
		if !ok {
			return mismatched
		}
		for _, p := range patterns {
			pm, ok := p.(map[string]any)
			if !ok {
				return mismatched
			}
			found := false
			for _, e := range list {
				if matchElement(e, pm) == matched {
					found = true
					break
				}
			}
			if !found {
				return mismatched
			}
		}
	default:
		rv := value[key]
		if s, ok := pv.(string); ok && s == "*" {
			if rv == nil {
				return mismatched
			}
			return matched
		}
		return matchElement(rv, pv)
	}
	return matched
}

func matchArray(value, pattern []any) outcome {
	if len(pattern) == 0 {
		return mismatched
	}
	switch p := pattern[0].(type) {
	case map[string]any:
		applied, skips := 0, 0
		for _, e := range value {
			switch matchElement(e, p) {
			case matched:
				applied++
			case skipped:
				skips++
			default:
				return mismatched
			}
		}
		if applied == 0 && skips > 0 {
			return skipped
		}
		return matched
	case string, float64, int, int64, bool, nil:
		return matchElement(value, p)
	}
	if len(value) < len(pattern) {
		return mismatched
	}
	applied, skips := 0, 0
	for i, p := range pattern {
		switch matchElement(value[i], p) {
		case matched:
			applied++
		case skipped:
			skips++
		default:
			return mismatched
		}
	}
	if applied == 0 && skips > 0 {
		return skipped
	}
	return matched
}

// expandMetadata replaces wildcard keys of the pattern's metadata.labels and
// metadata.annotations by the first matching key of the resource, as
// Kyverno's wildcards.ExpandInMetadata does. It copies what it changes.
func expandMetadata(pattern, value map[string]any) map[string]any {
	metaKey, pmeta := anchoredValue(pattern, "metadata")
	pm, ok := pmeta.(map[string]any)
	if !ok {
		return pattern
	}
	rm, ok := value["metadata"].(map[string]any)
	if !ok {
		return pattern
	}
	var newMeta map[string]any
	for _, tag := range [2]string{"labels", "annotations"} {
		key, pdata := stringMap(pm, tag)
		if pdata == nil {
			continue
		}
		_, rdata := stringMap(rm, tag)
		if rdata == nil {
			continue
		}
		expanded := make(map[string]any, len(pdata))
		changed := false
		for _, k := range sortedStringKeys(pdata) {
			v := pdata[k]
			if !strings.ContainsAny(k, "*?") {
				expanded[k] = v
				continue
			}
			a := anchor.Parse(k)
			nk := expandKey(a.Key, rdata)
			if a.Type != anchor.None {
				nk = anchor.Anchor{Type: a.Type, Key: nk}.String()
			}
			expanded[nk] = v
			changed = changed || nk != k
		}
		if !changed {
			continue
		}
		if newMeta == nil {
			newMeta = make(map[string]any, len(pm))
			for k, v := range pm {
				newMeta[k] = v
			}
		}
		newMeta[key] = expanded
	}
	if newMeta == nil {
		return pattern
	}
	out := make(map[string]any, len(pattern))
	for k, v := range pattern {
		out[k] = v
	}
	out[metaKey] = newMeta
	return out
}

// anchoredValue finds key in m, bare or inside an anchor.
func anchoredValue(m map[string]any, key string) (string, any) {
	if v, ok := m[key]; ok {
		return key, v
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if a := anchor.Parse(k); a.Type != anchor.None && a.Key == key {
			return k, m[k]
		}
	}
	return "", nil
}

// stringMap returns the map of strings at key (bare or anchored) of m; nil
// when there is none or a value is not a string.
func stringMap(m map[string]any, key string) (string, map[string]string) {
	k, v := anchoredValue(m, key)
	vm, ok := v.(map[string]any)
	if !ok {
		return "", nil
	}
	out := make(map[string]string, len(vm))
	for mk, mv := range vm {
		s, ok := mv.(string)
		if !ok {
			return "", nil
		}
		out[mk] = s
	}
	return k, out
}

func sortedStringKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func expandKey(pattern string, data map[string]string) string {
	for _, k := range sortedStringKeys(data) {
		if wildcardMatch(pattern, k) {
			return k
		}
	}
	return pattern
}

// matchValue is Kyverno's pattern.Validate: whether a scalar pattern accepts
// a value.
func matchValue(value, pattern any) bool {
	switch p := pattern.(type) {
	case bool:
		v, ok := value.(bool)
		return ok && v == p
	case int:
		return matchInt(value, int64(p))
	case int64:
		return matchInt(value, p)
	case float64:
		return matchFloat(value, p)
	case nil:
		switch v := value.(type) {
		case float64:
			return v == 0
		case int:
			return v == 0
		case int64:
			return v == 0
		case string:
			return v == ""
		case bool:
			return !v
		case nil:
			return true
		}
		return false
	case map[string]any:
		_, ok := value.(map[string]any)
		return ok
	case string:
		return matchStringPatterns(value, p)
	}
	return false
}

func matchInt(value any, p int64) bool {
	switch v := value.(type) {
	case int:
		return int64(v) == p
	case int64:
		return v == p
	case float64:
		i, ok := integral(v)
		return ok && i == p
	case string:
		i, err := strconv.ParseInt(v, 10, 64)
		return err == nil && i == p
	}
	return false
}

func matchFloat(value any, p float64) bool {
	switch v := value.(type) {
	case int:
		i, ok := integral(p)
		return ok && i == int64(v)
	case int64:
		i, ok := integral(p)
		return ok && i == v
	case float64:
		return v == p
	case string:
		f, err := strconv.ParseFloat(v, 64)
		return err == nil && f == p
	}
	return false
}

func matchStringPatterns(value any, pattern string) bool {
	if s, ok := value.(string); ok && s == pattern {
		return true
	}
	for _, or := range strings.Split(pattern, "|") {
		all := true
		for _, and := range strings.Split(strings.Trim(or, " "), "&") {
			if !matchStringPattern(value, strings.Trim(and, " ")) {
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

// operator is a comparison operator of a string pattern.
type operator string

const (
	opEqual      operator = ""
	opMoreEqual  operator = ">="
	opLessEqual  operator = "<="
	opNotEqual   operator = "!"
	opMore       operator = ">"
	opLess       operator = "<"
	opInRange    operator = "-"
	opNotInRange operator = "!-"
)

var (
	inRange    = regexp.MustCompile(`^([-|\+]?\d+(?:\.\d+)?[A-Za-z]*)-([-|\+]?\d+(?:\.\d+)?[A-Za-z]*)$`)
	notInRange = regexp.MustCompile(`^([-|\+]?\d+(?:\.\d+)?[A-Za-z]*)!-([-|\+]?\d+(?:\.\d+)?[A-Za-z]*)$`)
)

func operatorOf(pattern string) operator {
	if len(pattern) < 2 {
		return opEqual
	}
	for _, op := range [5]operator{opMoreEqual, opLessEqual, opMore, opLess, opNotEqual} {
		if strings.HasPrefix(pattern, string(op)) {
			return op
		}
	}
	if notInRange.MatchString(pattern) {
		return opNotInRange
	}
	if inRange.MatchString(pattern) {
		return opInRange
	}
	return opEqual
}

func matchStringPattern(value any, pattern string) bool {
	switch op := operatorOf(pattern); op {
	case opInRange:
		m := inRange.FindStringSubmatch(pattern)
		return matchStringPattern(value, ">= "+m[1]) && matchStringPattern(value, "<= "+m[2])
	case opNotInRange:
		m := notInRange.FindStringSubmatch(pattern)
		return matchStringPattern(value, "< "+m[1]) || matchStringPattern(value, "> "+m[2])
	default:
		p := strings.TrimSpace(pattern[len(op):])
		if res, ok := compareDuration(value, p, op); ok {
			return res
		}
		if res, ok := compareQuantity(value, p, op); ok {
			return res
		}
		return compareString(value, p, op)
	}
}

// numberText is Kyverno's convertNumberToString.
func numberText(value any) (string, bool) {
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

func compare(c int, op operator) (bool, bool) {
	switch op {
	case opEqual:
		return c == 0, true
	case opNotEqual:
		return c != 0, true
	case opMore:
		return c > 0, true
	case opLess:
		return c < 0, true
	case opMoreEqual:
		return c >= 0, true
	case opLessEqual:
		return c <= 0, true
	}
	return false, false
}

func compareDuration(value any, pattern string, op operator) (bool, bool) {
	p, err := time.ParseDuration(pattern)
	if err != nil {
		return false, false
	}
	s, ok := numberText(value)
	if !ok {
		return false, false
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return false, false
	}
	c := 0
	if v < p {
		c = -1
	} else if v > p {
		c = 1
	}
	return compare(c, op)
}

func compareQuantity(value any, pattern string, op operator) (bool, bool) {
	p, err := resource.ParseQuantity(pattern)
	if err != nil {
		return false, false
	}
	s, ok := numberText(value)
	if !ok {
		return false, false
	}
	v, err := resource.ParseQuantity(s)
	if err != nil {
		return false, false
	}
	return compare(v.Cmp(p), op)
}

func compareString(value any, pattern string, op operator) bool {
	if op != opEqual && op != opNotEqual {
		return false
	}
	var s string
	switch v := value.(type) {
	case float64:
		s = strconv.FormatFloat(v, 'E', -1, 64)
	case int:
		s = strconv.Itoa(v)
	case int64:
		s = strconv.FormatInt(v, 10)
	case string:
		s = v
	case bool:
		s = strconv.FormatBool(v)
	default:
		return false
	}
	m := wildcardMatch(pattern, s)
	if op == opNotEqual {
		return !m
	}
	return m
}

// wildcardMatch reports whether name matches pattern, where '*' matches any
// run of characters and '?' any one character. It runs in
// O(len(pattern)*len(name)) time.
func wildcardMatch(pattern, name string) bool {
	p, n := []rune(pattern), []rune(name)
	pi, ni := 0, 0
	star, starN := -1, 0
	for ni < len(n) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, starN = pi+1, ni
			pi++
		case pi < len(p) && (p[pi] == '?' || p[pi] == n[ni]):
			pi++
			ni++
		case star >= 0:
			starN++
			pi, ni = star, starN
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
