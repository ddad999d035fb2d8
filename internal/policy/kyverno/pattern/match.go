package pattern

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/anchor"
)

// errKind classifies a matching error the way Kyverno's MatchPattern does.
type errKind uint8

const (
	errFail        errKind = iota // a plain mismatch
	errNegation                   // a negation anchor found its key
	errConditional                // a condition anchor did not match: skip
	errGlobal                     // a global anchor did not match: skip
)

// mErr is an internal matching error. Its message is only rendered when a
// caller asks for it, since most errors inside lists are discarded.
type mErr struct {
	kind errKind
	// path is where matching failed, in Kyverno's format
	// ("/spec/containers/0/image/"); "" makes the rule an error, not a fail.
	path string
	// render builds Kyverno's message for the error.
	render func() string
	// skips holds the errors of list elements that were all skipped.
	skips []*mErr
}

func (e *mErr) skip() bool { return e.kind == errConditional || e.kind == errGlobal }

func (e *mErr) message() string {
	if e.skips != nil {
		msgs := make([]string, len(e.skips))
		for i, s := range e.skips {
			msgs[i] = s.message()
		}
		return strings.Join(msgs, "; ")
	}
	return e.render()
}

func failf(path, format string, args ...any) *mErr {
	return &mErr{kind: errFail, path: path, render: func() string { return fmt.Sprintf(format, args...) }}
}

// wrap turns an error under a condition or global anchor into that anchor's
// error, keeping the inner path.
func wrap(kind errKind, inner *mErr) *mErr {
	prefix := "conditional anchor mismatch: "
	if kind == errGlobal {
		prefix = "global anchor mismatch: "
	}
	return &mErr{kind: kind, path: inner.path, render: func() string { return prefix + inner.message() }}
}

// seg is one step of the current path: a map key or a list index.
type seg struct {
	key   string
	index int
}

// trackedAnchor records whether the key of a condition or existence anchor
// was ever found in the resource.
type trackedAnchor struct {
	raw   string
	found bool
}

// matcher walks a resource and a compiled pattern together. It is used for a
// single validation.
type matcher struct {
	segs    []seg
	tracked []trackedAnchor
}

func (m *matcher) push(key string) { m.segs = append(m.segs, seg{key: key, index: -1}) }
func (m *matcher) pushIndex(i int) { m.segs = append(m.segs, seg{index: i}) }
func (m *matcher) pop()            { m.segs = m.segs[:len(m.segs)-1] }

// path renders the current path: "/" at the root, then each step followed
// by "/".
func (m *matcher) path() string {
	var b strings.Builder
	b.WriteByte('/')
	for _, s := range m.segs {
		if s.index >= 0 {
			b.WriteString(strconv.Itoa(s.index))
		} else {
			b.WriteString(s.key)
		}
		b.WriteByte('/')
	}
	return b.String()
}

// track records the condition and existence anchors of a map pattern and
// whether the resource map has their keys (Kyverno's CheckAnchorInResource).
func (m *matcher) track(n *node, res map[string]any) {
	for _, a := range n.tracked {
		raw := a.String()
		i := -1
		for j := range m.tracked {
			if m.tracked[j].raw == raw {
				i = j
				break
			}
		}
		if i < 0 {
			m.tracked = append(m.tracked, trackedAnchor{raw: raw})
			i = len(m.tracked) - 1
		} else if m.tracked[i].found {
			continue
		}
		if _, ok := res[a.Key]; ok {
			m.tracked[i].found = true
		}
	}
}

// keysMissing reports whether the key of some condition or existence
// anchor was never found in the resource (Kyverno's KeysAreMissing).
func (m *matcher) keysMissing() bool {
	for _, t := range m.tracked {
		if !t.found {
			return true
		}
	}
	return false
}

// element matches a resource element against a pattern node at the current
// path (Kyverno's validateResourceElement).
func (m *matcher) element(res any, n *node) *mErr {
	switch n.kind {
	case kindMap:
		rm, ok := res.(map[string]any)
		if !ok {
			return failf(m.path(), "pattern and resource have different structures. Path: %s. Expected %T, found %T", m.path(), n.raw, res)
		}
		m.track(n, rm)
		return m.mapNode(rm, n, true)
	case kindArray:
		ra, ok := res.([]any)
		if !ok {
			p := m.path()
			return failf(p, "validation rule failed at path %s, resource does not satisfy the expected overlay pattern", p)
		}
		return m.array(ra, n)
	case kindScalar:
		if ra, ok := res.([]any); ok {
			for _, r := range ra {
				if !n.val.match(r) {
					p := m.path()
					return failf(p, "resource value '%v' does not match '%v' at path %s", res, n.raw, p)
				}
			}
			return nil
		}
		if !n.val.match(res) {
			p := m.path()
			return failf(p, "resource value '%v' does not match '%v' at path %s", res, n.raw, p)
		}
		return nil
	}
	p := m.path()
	return failf(p, "failed at '%s', pattern contains unknown type", p)
}

// mapNode matches a map (Kyverno's validateMap): anchors first, in key
// order, then the other keys.
func (m *matcher) mapNode(res map[string]any, n *node, expand bool) *mErr {
	if expand && n.meta != nil {
		if p := n.meta.expand(n.raw.(map[string]any), res); p != nil {
			return m.mapNode(res, compile(p), false)
		}
	}
	for i := range n.anchored {
		if err := m.anchoredEntry(res, &n.anchored[i]); err != nil {
			return err
		}
	}
	for i := range n.others {
		e := &n.others[i]
		if e.anc.Type == anchor.Global {
			v, ok := res[e.anc.Key]
			if !ok {
				continue
			}
			m.push(e.anc.Key)
			err := m.element(v, e.child)
			m.pop()
			if err != nil {
				return wrap(errGlobal, err)
			}
			continue
		}
		if e.star {
			if res[e.raw] != nil {
				continue
			}
			p := m.path()
			return failf(p, "%s/%s not found", p, e.raw)
		}
		m.push(e.raw)
		err := m.element(res[e.raw], e.child)
		m.pop()
		if err != nil {
			return err
		}
	}
	return nil
}

func (m *matcher) anchoredEntry(res map[string]any, e *entry) *mErr {
	key := e.anc.Key
	v, ok := res[key]
	m.push(key)
	defer m.pop()
	switch e.anc.Type {
	case anchor.Condition:
		if !ok {
			return &mErr{kind: errConditional, path: m.path(), render: func() string {
				return "conditional anchor mismatch: conditional anchor key doesn't exist in the resource"
			}}
		}
		if err := m.element(v, e.child); err != nil {
			return wrap(errConditional, err)
		}
	case anchor.Equality:
		if ok {
			return m.element(v, e.child)
		}
	case anchor.Negation:
		if ok {
			p := m.path()
			return &mErr{kind: errNegation, path: p, render: func() string {
				return "negation anchor matched in resource: " + p + " is not allowed"
			}}
		}
	case anchor.Existence:
		if ok {
			return m.existence(v, e.child)
		}
	}
	return nil
}

// existence implements "^(key)": for each map of the pattern list, at least
// one element of the resource list must match it.
func (m *matcher) existence(res any, pat *node) *mErr {
	ra, ok := res.([]any)
	if !ok {
		return failf(m.path(), "invalid resource type %T: Existence ^ () anchor can be used only on list/array type resource", res)
	}
	if pat.kind != kindArray {
		return failf(m.path(), "invalid pattern type %T: Pattern has to be of list to compare against resource", pat.raw)
	}
	for _, pe := range pat.elems {
		if pe.kind != kindMap {
			return failf(m.path(), "invalid pattern type %T: Pattern has to be of type map to compare against items in resource", pat.raw)
		}
		found := false
		for i, r := range ra {
			m.pushIndex(i)
			err := m.element(r, pe)
			m.pop()
			if err == nil {
				found = true
				break
			}
		}
		if !found {
			p := m.path()
			return failf(p, "existence anchor validation failed at path %s", p)
		}
	}
	return nil
}

// array matches a list (Kyverno's validateArray). A list of maps matches
// every resource element against the first map; a list of scalars matches
// every element against the first scalar; other lists match index by index.
func (m *matcher) array(res []any, n *node) *mErr {
	if len(n.elems) == 0 {
		return failf(m.path(), "pattern Array empty")
	}
	switch first := n.elems[0]; first.kind {
	case kindMap:
		return m.elements(len(res), func(i int) (any, *node) { return res[i], first })
	case kindScalar:
		return m.element(res, first)
	}
	if len(res) < len(n.elems) {
		return failf("", "validate Array failed, array length mismatch, resource Array len is %d and pattern Array len is %d", len(res), len(n.elems))
	}
	return m.elements(len(n.elems), func(i int) (any, *node) { return res[i], n.elems[i] })
}

// elements matches count list elements. An element that a condition or
// global anchor skips does not count; when every element is skipped, the
// whole list is.
func (m *matcher) elements(count int, at func(int) (any, *node)) *mErr {
	applied := 0
	var skips []*mErr
	for i := 0; i < count; i++ {
		r, pe := at(i)
		m.pushIndex(i)
		err := m.element(r, pe)
		m.pop()
		if err != nil {
			if err.skip() {
				skips = append(skips, err)
				continue
			}
			return err
		}
		applied++
	}
	if applied == 0 && len(skips) > 0 {
		return &mErr{kind: skips[0].kind, path: m.path(), skips: skips}
	}
	return nil
}
