package pattern

import (
	"sort"

	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/anchor"
)

// nodeKind is the JSON type of a pattern node.
type nodeKind uint8

const (
	kindMap nodeKind = iota
	kindArray
	kindScalar
	kindUnknown
)

// node is a compiled pattern element.
type node struct {
	kind nodeKind
	// raw is the pattern element, with numbers as float64; messages print it.
	raw any
	// nested reports whether the element has an anchor at any depth; Kyverno
	// checks such keys before the others of a map.
	nested bool

	// Maps. anchored holds the condition, existence, equality and negation
	// anchors in key order; others holds the rest: global anchors first, then
	// keys whose value has anchors, then plain keys.
	anchored []entry
	others   []entry
	// tracked lists the condition and existence anchors of the map, whose
	// absence from the resource Kyverno records (see matcher.keysMissing).
	tracked []anchor.Anchor
	// meta is set when the map has metadata labels or annotations with
	// wildcards in their keys, which Kyverno expands against the resource.
	meta *metaWildcards

	// Arrays.
	elems []*node

	// Scalars.
	val *valuePattern
}

// entry is one key of a map pattern.
type entry struct {
	// raw is the key as written, with its anchor.
	raw   string
	anc   anchor.Anchor
	child *node
	// star is set when the value is the string "*", which requires the key to
	// be present and not null.
	star bool
}

// metaWildcards locates the metadata of a map pattern.
type metaWildcards struct {
	key  string         // "metadata" or an anchored form of it
	meta map[string]any // its value
}

// compile turns a pattern element into a node. It never fails: types
// Kyverno cannot match fail at validation, at their path.
func compile(p any) *node {
	if f, ok := normalizeNumber(p); ok {
		return &node{kind: kindScalar, raw: f, val: &valuePattern{kind: valueNumber, f: f}}
	}
	switch t := p.(type) {
	case map[string]any:
		return compileMap(t)
	case []any:
		n := &node{kind: kindArray, raw: t, elems: make([]*node, len(t))}
		for i, e := range t {
			n.elems[i] = compile(e)
			n.nested = n.nested || n.elems[i].nested
		}
		return n
	case nil, bool, string:
		return &node{kind: kindScalar, raw: p, val: compileValue(p)}
	}
	return &node{kind: kindUnknown, raw: p}
}

func compileMap(m map[string]any) *node {
	n := &node{kind: kindMap, raw: m}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var globals, nestedKeys, plain []entry
	metaKey := ""
	for _, k := range keys {
		v := m[k]
		e := entry{raw: k, anc: anchor.Parse(k), child: compile(v)}
		if e.anc.Key == "metadata" && (metaKey == "" || e.anc.Type == anchor.None) {
			metaKey = k
		}
		if s, ok := v.(string); ok && s == "*" {
			e.star = true
		}
		switch e.anc.Type {
		case anchor.Condition, anchor.Existence, anchor.Equality, anchor.Negation:
			n.anchored = append(n.anchored, e)
			n.nested = true
			if e.anc.Type == anchor.Condition || e.anc.Type == anchor.Existence {
				n.tracked = append(n.tracked, e.anc)
			}
		case anchor.Global:
			globals = append(globals, e)
			n.nested = true
		default:
			if e.child.nested {
				nestedKeys = append(nestedKeys, e)
			} else {
				plain = append(plain, e)
			}
		}
		n.nested = n.nested || e.child.nested
	}
	n.others = append(append(globals, nestedKeys...), plain...)
	if metaKey != "" {
		n.meta = findMetaWildcards(metaKey, m[metaKey])
	}
	return n
}

// findMetaWildcards reports where the metadata of a map pattern is when its
// labels or annotations have keys with wildcards. key is the (possibly
// anchored) metadata key of the pattern, with the plain key preferred, and
// v its value.
func findMetaWildcards(key string, v any) *metaWildcards {
	meta, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	for _, tag := range []string{"labels", "annotations"} {
		_, tv := lookupTag(tag, meta)
		tm, ok := tv.(map[string]any)
		if !ok {
			continue
		}
		for k := range tm {
			if containsWildcard(k) {
				return &metaWildcards{key: key, meta: meta}
			}
		}
	}
	return nil
}

// lookupTag finds tag in m, as a plain key or inside any anchor. A plain key
// wins; among anchored forms the first in key order does.
func lookupTag(tag string, m map[string]any) (string, any) {
	if v, ok := m[tag]; ok {
		return tag, v
	}
	found := ""
	for k := range m {
		if a := anchor.Parse(k); a.Type != anchor.None && a.Key == tag {
			if found == "" || k < found {
				found = k
			}
		}
	}
	if found == "" {
		return "", nil
	}
	return found, m[found]
}

// stringMap returns v as a map of strings, or nil when it is not one.
func stringMap(v any) map[string]string {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, e := range m {
		s, ok := e.(string)
		if !ok {
			return nil
		}
		out[k] = s
	}
	return out
}

// expandMetadata replaces the wildcard keys of the labels and annotations
// of a map pattern with the first matching key of the resource's (in key
// order), as Kyverno's wildcards.ExpandInMetadata does; keys keep their
// anchors. It returns nil when there is nothing to expand.
func (mw *metaWildcards) expand(pattern, res map[string]any) map[string]any {
	resMeta, ok := res["metadata"].(map[string]any)
	if !ok {
		return nil
	}
	var newMeta map[string]any
	for _, tag := range []string{"labels", "annotations"} {
		patKey, pv := lookupTag(tag, mw.meta)
		patData := stringMap(pv)
		if patData == nil {
			continue
		}
		_, rv := lookupTag(tag, resMeta)
		resData := stringMap(rv)
		if resData == nil {
			continue
		}
		resKeys := make([]string, 0, len(resData))
		for k := range resData {
			resKeys = append(resKeys, k)
		}
		sort.Strings(resKeys)
		expanded := make(map[string]any, len(patData))
		for k, v := range patData {
			if !containsWildcard(k) {
				expanded[k] = v
				continue
			}
			a := anchor.Parse(k)
			if a.Type == anchor.None {
				expanded[firstMatch(k, resKeys)] = v
				continue
			}
			a.Key = firstMatch(a.Key, resKeys)
			expanded[a.String()] = v
		}
		if newMeta == nil {
			newMeta = make(map[string]any, len(mw.meta))
			for k, v := range mw.meta {
				newMeta[k] = v
			}
		}
		newMeta[patKey] = expanded
	}
	if newMeta == nil {
		return nil
	}
	out := make(map[string]any, len(pattern))
	for k, v := range pattern {
		out[k] = v
	}
	out[mw.key] = newMeta
	return out
}

func firstMatch(pattern string, keys []string) string {
	for _, k := range keys {
		if Wildcard(pattern, k) {
			return k
		}
	}
	return pattern
}
