package variables

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"
)

// Kyverno's reference syntax (pkg/engine/variables/regex).
var (
	// regexReferences matches $(...) at the start of a string or after a
	// character other than a backslash.
	regexReferences = regexp.MustCompile(`^\$\(.[^\ ]*\)|[^\\]\$\(.[^\ ]*\)`)
	// regexEscapedReferences matches \$(...).
	regexEscapedReferences = regexp.MustCompile(`\\\$\(.[^\ \)]*\)`)
	inRangeRegex           = regexp.MustCompile(`^([-|\+]?\d+(?:\.\d+)?[A-Za-z]*)-([-|\+]?\d+(?:\.\d+)?[A-Za-z]*)$`)
	notInRangeRegex        = regexp.MustCompile(`^([-|\+]?\d+(?:\.\d+)?[A-Za-z]*)!-([-|\+]?\d+(?:\.\d+)?[A-Za-z]*)$`)
)

// hasReferences reports whether any string or key of doc contains "$(".
func hasReferences(doc any) bool {
	switch v := doc.(type) {
	case string:
		return strings.Contains(v, "$(")
	case map[string]any:
		for k, e := range v {
			if strings.Contains(k, "$(") || hasReferences(e) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if hasReferences(e) {
				return true
			}
		}
	}
	return false
}

// substituteReferences resolves the $(...) references of doc, as Kyverno's
// substituteReferences does before substituting variables. References only
// depend on the document, so this runs once, at compile time. prefix is the
// path of doc.
func substituteReferences(doc any, prefix string) (any, error) {
	r := refResolver{root: doc, prefix: prefix}
	return r.walk(doc, prefix)
}

type refResolver struct {
	root   any
	prefix string
}

func (r *refResolver) walk(v any, p string) (any, error) {
	switch t := v.(type) {
	case string:
		return r.substitute(t, p)
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = e
		}
		for _, k := range slices.Sorted(maps.Keys(t)) {
			nk, err := r.substitute(k, p)
			if err != nil {
				return nil, err
			}
			val, err := r.walk(t[k], childPath(p, k))
			if err != nil {
				return nil, err
			}
			if nk != k {
				delete(out, k)
			}
			out[nk] = val
		}
		return out, nil
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			val, err := r.walk(e, indexPath(p, i))
			if err != nil {
				return nil, err
			}
			out[i] = val
		}
		return out, nil
	}
	return v, nil
}

func (r *refResolver) substitute(value, p string) (string, error) {
	if !strings.Contains(value, "$(") {
		return value, nil
	}
	for _, v := range regexReferences.FindAllString(value, -1) {
		initial := strings.HasPrefix(v, "$(")
		old := v
		if !initial {
			_, size := firstRune(v)
			v = v[size:]
		}
		resolved, err := r.resolve(v, p)
		if err != nil {
			return "", &ReferenceError{Reference: v, Path: p, Err: err}
		}
		if resolved == nil {
			return "", &ReferenceError{Reference: v, Path: p}
		}
		s, ok := resolved.(string)
		if !ok {
			return "", &NotResolvedReferenceError{Reference: v, Path: p}
		}
		replacement := s
		if !initial {
			prefixRune, _ := firstRune(old)
			replacement = prefixRune + s
		}
		value = strings.Replace(value, old, replacement, 1)
	}
	for _, v := range regexEscapedReferences.FindAllString(value, -1) {
		value = strings.ReplaceAll(value, v, v[1:])
	}
	return value, nil
}

// resolve is Kyverno's resolveReference.
func (r *refResolver) resolve(reference, absolutePath string) (any, error) {
	p := strings.Trim(reference, "$()")
	op := operatorPrefix(p)
	p = p[len(op):]
	if p == "" {
		return nil, errors.New("expected path, found empty reference")
	}
	if !path.IsAbs(p) {
		p = path.Join(absolutePath, p)
	}
	value := r.find(r.root, r.prefix, p)
	if op == "" {
		return value, nil
	}
	var s string
	switch t := value.(type) {
	case string:
		s = t
	case int, int64:
		s = fmt.Sprintf("%d", t)
	case float64:
		s = fmt.Sprintf("%f", t)
	default:
		return nil, fmt.Errorf("incorrect expression: operator %s does not match with value %v", op, value)
	}
	return op + s, nil
}

// find returns the last leaf or key (in key order) whose anchor-free path is
// target, as Kyverno's getValueFromReference does.
func (r *refResolver) find(v any, p, target string) any {
	var found any
	var visit func(v any, p string)
	visit = func(v any, p string) {
		switch t := v.(type) {
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(t)) {
				if removeAnchorsFromPath(p) == target {
					found = k
				}
				visit(t[k], childPath(p, k))
			}
		case []any:
			for i, e := range t {
				visit(e, indexPath(p, i))
			}
		default:
			if removeAnchorsFromPath(p) == target {
				found = v
			}
		}
	}
	visit(v, p)
	return found
}

// operatorPrefix is Kyverno's operator.GetOperatorFromStringPattern.
func operatorPrefix(p string) string {
	if len(p) < 2 {
		return ""
	}
	for _, op := range []string{">=", "<=", ">", "<", "!"} {
		if strings.HasPrefix(p, op) {
			return op
		}
	}
	if notInRangeRegex.MatchString(p) {
		return "!-"
	}
	if inRangeRegex.MatchString(p) {
		return "-"
	}
	return ""
}
