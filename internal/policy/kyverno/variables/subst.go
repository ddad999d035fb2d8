package variables

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/jmespath"
)

// Kyverno's variable syntax (pkg/engine/variables/regex).
var (
	// regexVariables matches {{...}} at the start of a string or after a
	// character other than a backslash; the braces may enclose one level of
	// {...}.
	regexVariables = regexp.MustCompile(`(^|[^\\])(\{\{(?:\{[^{}]*\}|[^{}])*\}\})`)
	// regexVariableInit matches a variable at the start of a string.
	regexVariableInit = regexp.MustCompile(`^\{\{(\{[^{}]*\}|[^{}])*\}\}`)
)

func itoa(i int) string { return strconv.Itoa(i) }

// firstRune returns the first character of s and its length in bytes.
func firstRune(s string) (string, int) {
	_, size := utf8.DecodeRuneInString(s)
	return s[:size], size
}

// tnode is a compiled document node.
type tnode struct {
	path     string
	isStatic bool
	static   any          // the value when isStatic
	str      *strTemplate // a string with variables
	entries  []entry      // an object that needs work, in key order
	base     map[string]any
	items    []*tnode // an array that needs work
}

type entry struct {
	orig string       // the key in the document
	key  string       // the key after static unescaping
	keyT *strTemplate // nil when the key is static
	val  *tnode
}

// strTemplate is a string with variables, with the variables of its first
// substitution pass parsed and compiled.
type strTemplate struct {
	raw     string
	matches []string // the first pass matches
	vars    []firstVar
}

type firstVar struct {
	match    string // the regexp match, with its leading character
	v        string // the match without its leading character
	prefix   string // the leading character, "" for a variable at the start
	variable string
	shallow  bool
	query    *jmespath.Query
	queryErr error
}

type compiler struct {
	jp   *jmespath.Interpreter
	vars int
}

// compile returns the compiled form of v and whether it differs from v.
func (c *compiler) compile(v any, p string) (*tnode, bool) {
	switch t := v.(type) {
	case string:
		st, static := c.compileString(t)
		if st != nil {
			return &tnode{path: p, str: st}, true
		}
		return &tnode{path: p, isStatic: true, static: static}, static != t
	case map[string]any:
		n := &tnode{path: p, base: t}
		changed, runtime := false, false
		for _, k := range slices.Sorted(maps.Keys(t)) {
			val, valChanged := c.compile(t[k], childPath(p, k))
			e := entry{orig: k, key: k, val: val}
			st, static := c.compileString(k)
			switch {
			case st != nil:
				e.keyT = st
				runtime = true
			case static != k:
				e.key = static.(string)
				changed = true
			}
			changed = changed || valChanged
			runtime = runtime || !val.isStatic
			n.entries = append(n.entries, e)
		}
		if runtime {
			return n, true
		}
		if !changed {
			return &tnode{path: p, isStatic: true, static: t}, false
		}
		out := make(map[string]any, len(t))
		for k, v := range t {
			out[k] = v
		}
		for _, e := range n.entries {
			if e.key != e.orig {
				delete(out, e.orig)
			}
			out[e.key] = e.val.static
		}
		return &tnode{path: p, isStatic: true, static: out}, true
	case []any:
		n := &tnode{path: p, items: make([]*tnode, len(t))}
		changed, runtime := false, false
		for i, e := range t {
			item, itemChanged := c.compile(e, indexPath(p, i))
			n.items[i] = item
			changed = changed || itemChanged
			runtime = runtime || !item.isStatic
		}
		if runtime {
			return n, true
		}
		if !changed {
			return &tnode{path: p, isStatic: true, static: t}, false
		}
		out := make([]any, len(t))
		for i, item := range n.items {
			out[i] = item.static
		}
		return &tnode{path: p, isStatic: true, static: out}, true
	}
	return &tnode{path: p, isStatic: true, static: v}, false
}

// compileString returns the template of a string with variables, or the
// static value of a string without (with "\{{" unescaped).
func (c *compiler) compileString(s string) (*strTemplate, any) {
	if !strings.Contains(s, "{{") {
		return nil, s
	}
	matches := regexVariables.FindAllString(s, -1)
	if len(matches) == 0 {
		return nil, strings.ReplaceAll(s, `\{{`, "{{")
	}
	c.vars += strings.Count(s, "{{")
	st := &strTemplate{raw: s}
	for _, m := range matches {
		fv := firstVar{match: m, v: m}
		if !regexVariableInit.MatchString(m) {
			var size int
			fv.prefix, size = firstRune(m)
			fv.v = m[size:]
		}
		fv.variable, fv.shallow = replaceBracesAndTrimSpaces(fv.v)
		if fv.variable != "@" && fv.variable != "" && c.vars <= MaxVariables {
			fv.query, fv.queryErr = c.jp.Query(fv.variable)
		}
		st.vars = append(st.vars, fv)
		st.matches = append(st.matches, m)
	}
	return st, nil
}

// replaceBracesAndTrimSpaces is Kyverno's: it drops every "{{" and "}}" and
// reports a shallow variable ("{{- x }}").
func replaceBracesAndTrimSpaces(v string) (string, bool) {
	variable := strings.ReplaceAll(v, "{{", "")
	variable = strings.ReplaceAll(variable, "}}", "")
	variable = strings.TrimSpace(variable)
	if strings.HasPrefix(variable, "-") {
		return strings.TrimSpace(variable[1:]), true
	}
	return variable, false
}

// state is one evaluation.
type state struct {
	jp       *jmespath.Interpreter
	data     any
	isDelete bool
	prefix   string // "target" or "request.object", for {{@}}
	lookups  int
}

func newState(jp *jmespath.Interpreter, data any, cfg evalConfig) *state {
	s := &state{jp: jp, data: data, prefix: "request.object"}
	m, _ := data.(map[string]any)
	if _, ok := m["target"]; ok {
		s.prefix = "target"
	}
	op := cfg.operation
	if !cfg.hasOperation {
		if req, ok := m["request"].(map[string]any); ok {
			op, _ = req["operation"].(string)
		}
	}
	s.isDelete = op == "DELETE"
	return s
}

func (s *state) evalNode(n *tnode) (any, error) {
	switch {
	case n.isStatic:
		return n.static, nil
	case n.str != nil:
		v, err := s.substitute(n.str.raw, n.path, n.str)
		if err != nil {
			return nil, err
		}
		return s.walkValue(v, n.path, 0)
	case n.base != nil:
		out := make(map[string]any, len(n.base))
		for k, v := range n.base {
			out[k] = v
		}
		for _, e := range n.entries {
			key := e.key
			if e.keyT != nil {
				nk, err := s.substituteKey(e.orig, n.path, e.keyT)
				if err != nil {
					return nil, err
				}
				key = nk
			}
			val, err := s.evalNode(e.val)
			if err != nil {
				return nil, err
			}
			if key != e.orig {
				delete(out, e.orig)
			}
			out[key] = val
		}
		return out, nil
	default:
		out := make([]any, len(n.items))
		for i, item := range n.items {
			v, err := s.evalNode(item)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
}

func (s *state) substituteKey(key, p string, st *strTemplate) (string, error) {
	v, err := s.substitute(key, p, st)
	if err != nil {
		return "", err
	}
	if v == nil {
		return key, nil
	}
	nk, ok := v.(string)
	if !ok {
		return "", &KeyError{Key: key}
	}
	return nk, nil
}

// walkValue continues Kyverno's traversal into an object or array that a
// variable produced: its keys and strings are substituted too.
func (s *state) walkValue(v any, p string, depth int) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		if !needsWalk(t) {
			return v, nil
		}
		if depth >= MaxDepth {
			return nil, &LimitError{What: "values nested more than " + itoa(MaxDepth) + " levels"}
		}
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = e
		}
		for _, k := range slices.Sorted(maps.Keys(t)) {
			key := k
			if strings.Contains(k, "{{") {
				nk, err := s.substituteKey(k, p, nil)
				if err != nil {
					return nil, err
				}
				key = nk
			}
			val, err := s.walkLeaf(t[k], childPath(p, k), depth+1)
			if err != nil {
				return nil, err
			}
			if key != k {
				delete(out, k)
			}
			out[key] = val
		}
		return out, nil
	case []any:
		if !needsWalk(t) {
			return v, nil
		}
		if depth >= MaxDepth {
			return nil, &LimitError{What: "values nested more than " + itoa(MaxDepth) + " levels"}
		}
		out := make([]any, len(t))
		for i, e := range t {
			val, err := s.walkLeaf(e, indexPath(p, i), depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = val
		}
		return out, nil
	}
	return v, nil
}

func (s *state) walkLeaf(v any, p string, depth int) (any, error) {
	if str, ok := v.(string); ok {
		if !strings.Contains(str, "{{") {
			return str, nil
		}
		r, err := s.substitute(str, p, nil)
		if err != nil {
			return nil, err
		}
		v = r
	}
	return s.walkValue(v, p, depth)
}

// needsWalk reports whether any key or string in v contains "{{".
func needsWalk(v any) bool {
	switch t := v.(type) {
	case string:
		return strings.Contains(t, "{{")
	case map[string]any:
		for k, e := range t {
			if strings.Contains(k, "{{") || needsWalk(e) {
				return true
			}
		}
	case []any:
		for _, e := range t {
			if needsWalk(e) {
				return true
			}
		}
	}
	return false
}

// substitute is Kyverno's substituteVariablesIfAny for one string. st, when
// not nil, holds the parsed first pass of value.
func (s *state) substitute(value, p string, st *strTemplate) (any, error) {
	var vars []string
	if st != nil {
		vars = st.matches
	} else {
		vars = regexVariables.FindAllString(value, -1)
	}
	first := true
	for passes := 0; len(vars) > 0; passes++ {
		if passes >= MaxPasses {
			return nil, &LimitError{What: "more than " + itoa(MaxPasses) + " substitution passes over a string"}
		}
		original := value
		shallow := false
		for i, v := range vars {
			var variable, prefix string
			var pre *firstVar
			if first && st != nil {
				pre = &st.vars[i]
				v, prefix, variable, shallow = pre.v, pre.prefix, pre.variable, pre.shallow
			} else {
				if !regexVariableInit.MatchString(v) {
					var size int
					prefix, size = firstRune(v)
					v = v[size:]
				}
				variable, shallow = replaceBracesAndTrimSpaces(v)
			}
			if variable == "@" {
				variable = atExpression(p, s.prefix)
				pre = nil
			}
			if s.isDelete && strings.Contains(variable, "request.object") {
				variable = strings.ReplaceAll(variable, "request.object", "request.oldObject")
				pre = nil
			}
			val, err := s.lookup(variable, pre)
			if err != nil {
				return nil, &ResolveError{Variable: variable, Path: p, Err: err}
			}
			if original == v {
				return val, nil
			}
			if shallow && val != nil {
				str, ok := val.(string)
				if !ok {
					return nil, &ResolveError{Variable: variable, Path: p, Err: fmt.Errorf("shallow substitution of a %T value", val)}
				}
				val = strings.ReplaceAll(str, "{{", `\{{`)
			}
			if value, err = replaceVariable(prefix, value, v, val); err != nil {
				return nil, &ResolveError{Variable: variable, Path: p, Err: err}
			}
			if len(value) > MaxStringLength {
				return nil, &LimitError{What: "substituted string longer than " + itoa(MaxStringLength) + " bytes"}
			}
		}
		first = false
		if shallow || !strings.Contains(value, "{{") {
			vars = nil
		} else {
			vars = regexVariables.FindAllString(value, -1)
		}
	}
	return strings.ReplaceAll(value, `\{{`, "{{"), nil
}

// replaceVariable is Kyverno's substituteVarInPattern: it replaces the first
// occurrence of the variable (with its leading character) by the value,
// rendered as JSON unless it is a string.
func replaceVariable(prefix, pattern, variable string, value any) (string, error) {
	str, err := render(value)
	if err != nil {
		return "", err
	}
	return strings.Replace(pattern, prefix+variable, prefix+str, 1), nil
}

// render renders a substituted value into a string: strings as they are,
// everything else as encoding/json does.
func render(value any) (string, error) {
	switch v := value.(type) {
	case string:
		return v, nil
	case nil:
		return "null", nil
	case bool:
		return strconv.FormatBool(v), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case int:
		return strconv.Itoa(v), nil
	case float64:
		if abs := math.Abs(v); abs == 0 || (abs >= 1e-6 && abs < 1e21) {
			return strconv.FormatFloat(v, 'f', -1, 64), nil
		}
	}
	b, err := json.Marshal(value)
	if err != nil {
		return "", fmt.Errorf("failed to marshal %T: %v", value, value)
	}
	return string(b), nil
}

// lookup is Kyverno's context Query.
func (s *state) lookup(variable string, pre *firstVar) (any, error) {
	s.lookups++
	if s.lookups > MaxLookups {
		return nil, &LimitError{What: "more than " + itoa(MaxLookups) + " variable lookups"}
	}
	query := strings.TrimSpace(variable)
	if query == "" {
		return nil, errors.New("invalid query (nil)")
	}
	var q *jmespath.Query
	var err error
	if pre != nil && (pre.query != nil || pre.queryErr != nil) {
		q, err = pre.query, pre.queryErr
	} else {
		q, err = s.jp.Query(query)
	}
	if err != nil {
		return nil, fmt.Errorf("incorrect query %s: %v", query, err)
	}
	result, err := q.Search(s.data)
	if err != nil {
		return nil, fmt.Errorf("JMESPath query failed: %w", err)
	}
	return result, nil
}
