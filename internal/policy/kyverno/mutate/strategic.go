package mutate

import (
	"errors"
	"fmt"

	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/anchor"
)

// ErrEmptyRule is returned for a missing patch: a nil overlay or an empty
// JSON patch. Kyverno reports the rule as an error with exactly this
// message, without the "failed to patch resource" prefix.
var ErrEmptyRule = errors.New("empty mutate rule")

// StrategicMerge applies overlay (already variable-substituted) to resource
// and returns the new resource.
//
// The overlay is a patchStrategicMerge value: a map whose keys may carry the
// anchors "(key)" (the enclosing map, or list element, applies only where the
// resource's value matches the anchor's value, a Kyverno validate pattern),
// "<(key)" (the whole rule applies only where it matches), and "+(key)" (set
// key only where the resource lacks it). Other anchors ("=()", "X()", "^()")
// mean nothing in a mutation: Kyverno treats them as plain keys.
//
// It returns a *SkipError and a nil map when the result equals resource;
// when an anchor condition fails Kyverno merges an empty overlay instead,
// which skips too unless the merge drops null fields of the resource. Any
// other error is a rule error.
//
// Neither resource nor overlay is ever modified. The result is built
// copy-on-write: the maps and lists of resource that the overlay does not
// touch, and that the merge's normalisation leaves as they are, are shared
// with the result rather than copied. Nothing in the result is shared with
// overlay. Callers must treat the result, like resource, as immutable: a
// change made to it in place may show through resource, and through the
// results of earlier calls that it was built from. To change it in place,
// deep-copy it first.
//
// A foreach applies one overlay per element, each to the result of the
// previous one; Kyverno's default order for patchStrategicMerge is the last
// element first (and the first element first for patchesJson6902), so that
// the elements the overlays name keep their order.
func StrategicMerge(resource map[string]any, overlay any) (map[string]any, error) {
	if overlay == nil {
		return nil, ErrEmptyRule
	}
	if resource == nil {
		return nil, errors.New("the resource to patch must be an object")
	}
	om, ok := overlay.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("failed to preProcess rule: %w", wrongKind(kindMap, overlay))
	}
	var a arena
	p, err := toOverlay(&a, om, 0)
	if err != nil {
		return nil, fmt.Errorf("invalid patchStrategicMerge: %w", err)
	}

	pattern := p.(*omap)
	var cause error
	if err := preprocessOverlay(&a, pattern, resource); err != nil {
		ce, ok := err.(*ConditionError)
		if !ok {
			return nil, fmt.Errorf("failed to preProcess rule: %w", err)
		}
		// Kyverno replaces the overlay by an empty one; the merge still
		// normalises the resource.
		cause = ce
		pattern = &omap{}
	}

	var merged node
	same := false
	if len(pattern.entries) == 0 {
		// The merge of an empty overlay, which only normalises.
		merged, same, err = mergeAlone(resource, nil, 0)
	} else {
		merged, err = mergeOverlay(present(resource), pattern, nil, 0)
	}
	if err != nil {
		return nil, err
	}
	out, ok := merged.v.(map[string]any)
	if !ok {
		return nil, errors.New("filter cannot create or remove objects")
	}
	if same || jsonEqual(out, resource) {
		return nil, &SkipError{Message: NoPatchesApplied, Cause: cause}
	}
	return out, nil
}

// This file ports Kyverno's strategic merge preprocessing
// (pkg/engine/mutate/patch/strategicPreprocessing.go) from YAML nodes to
// overlay values (see omap), which it modifies in place. Like Kyverno, a
// list element with anchors is matched against every element of the
// resource's list through one shared copy, which the anchors of the earlier
// elements have already rewritten; that is deliberate.

// preprocess rewrites pattern for res, in place: it resolves "+()" anchors,
// checks the conditions and strips them. A failed condition of the
// top-level map is a *ConditionError.
func preprocess(pattern, res map[string]any) error {
	var a arena
	p := fromValue(&a, pattern).(*omap)
	err := preprocessOverlay(&a, p, res)
	clear(pattern)
	for _, e := range p.entries {
		pattern[e.key] = toValue(e.val)
	}
	return err
}

// preprocessOverlay is preprocess on an overlay value.
func preprocessOverlay(a *arena, pattern *omap, res map[string]any) error {
	if _, err := preprocessValue(a, pattern, present(res)); err != nil {
		return err
	}
	return deleteConditionElements(pattern)
}

// keyBuf is the size of the key snapshots that the walks below keep on
// their stack: overlay maps rarely have more keys.
const keyBuf = 8

func anyKey(*oentry) bool { return true }

func isAddKey(e *oentry) bool { return e.kind == akAdd }

func isGlobalKey(e *oentry) bool { return e.kind == akGlobal }

func isConditionKey(e *oentry) bool { return e.kind == akCondition }

func isConditionalKey(e *oentry) bool { return e.kind.conditional() }

// isPlainKey selects the keys that walkPatternMap descends into.
func isPlainKey(e *oentry) bool { return !e.kind.handled() }

// hasAnchor reports whether a key is an anchor that preprocessing handles.
func hasAnchor(k akind) bool { return k.handled() }

func isGlobal(k akind) bool { return k == akGlobal }

// preprocessValue preprocesses a map or a list of the overlay against the
// matching value of the resource, and returns the rewritten value.
func preprocessValue(a *arena, pattern any, res node) (any, error) {
	switch p := pattern.(type) {
	case *omap:
		return p, walkPatternMap(a, p, res)
	case []any:
		return walkPatternList(a, p, res)
	}
	return pattern, nil
}

func walkPatternMap(a *arena, p *omap, res node) error {
	rm, _ := res.v.(map[string]any)
	addIfNotPresent(p, rm)
	if err := validateConditions(p, rm); err != nil {
		return err
	}
	var buf [keyBuf]string
	for _, k := range p.keysWhere(buf[:0], isPlainKey) {
		rv := missing
		if v, ok := rm[k]; ok {
			rv = present(v)
		}
		pv, _ := p.get(k)
		nv, err := preprocessValue(a, pv, rv)
		if err != nil {
			return err
		}
		if _, isList := nv.([]any); isList {
			// maps are rewritten in place, and scalars kept
			p.set(k, nv)
		}
	}
	return nil
}

// addIfNotPresent drops the "+(key)" entries of p whose key the resource map
// has and strips the anchor from the others. It returns how many there were.
func addIfNotPresent(p *omap, rm map[string]any) int {
	n := 0
	var buf [keyBuf]string
	for _, k := range p.keysWhere(buf[:0], isAddKey) {
		key := anchorKey(k, akAdd)
		n++
		v, _ := p.get(k)
		p.del(k)
		if _, exists := rm[key]; exists {
			continue
		}
		p.set(key, v)
	}
	return n
}

// validateConditions checks the global anchors of p, then its conditional
// anchors, against the resource map.
func validateConditions(p *omap, rm map[string]any) error {
	if err := checkConditions(p, rm, isGlobalKey); err != nil {
		return &ConditionError{Global: true, Err: err}
	}
	if err := checkConditions(p, rm, isConditionKey); err != nil {
		return &ConditionError{Err: err}
	}
	return nil
}

// checkConditions checks the anchors of p that isType selects.
func checkConditions(p *omap, rm map[string]any, isType func(*oentry) bool) error {
	var buf [keyBuf]string
	for _, k := range p.keysWhere(buf[:0], isType) {
		key := anchorKey(k, anchorKind(k))
		rv, ok := rm[key]
		if !ok {
			return fmt.Errorf("could not found \"%s\" key in the resource", key)
		}
		pv, _ := p.get(k)
		if pm, ok := pv.(*omap); ok {
			rvm, _ := rv.(map[string]any)
			if addIfNotPresent(pm, rvm) > 0 {
				// Kyverno does not check a condition whose value holds
				// "+()" anchors.
				continue
			}
		}
		if !matchPattern(conditionValue(rv), conditionValue(toValue(pv))) {
			return fmt.Errorf("resource value does not match %s", k)
		}
	}
	return nil
}

// conditionValue is the value Kyverno checks a condition with: a scalar
// becomes its YAML text, and maps and lists go through JSON, so that their
// numbers are float64.
func conditionValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[k] = jsonValue(e)
		}
		return m
	case []any:
		return jsonValue(t)
	}
	return scalarText(v)
}

func jsonValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[k] = jsonValue(e)
		}
		return m
	case []any:
		l := make([]any, len(t))
		for i, e := range t {
			l[i] = jsonValue(e)
		}
		return l
	}
	if f, ok := toFloat(v); ok {
		return f
	}
	return v
}

func walkPatternList(a *arena, l []any, res node) ([]any, error) {
	if len(l) == 0 {
		return l, nil
	}
	if _, ok := l[0].(*omap); !ok {
		return l, nil
	}
	return patternListOfMaps(a, l, res)
}

// patternListOfMaps expands the anchored elements of a list of maps: each
// resource element that satisfies an element's conditions gets a copy of the
// element, without its anchors and named after the resource element. The
// anchored elements themselves are removed later by deleteConditionElements.
func patternListOfMaps(a *arena, l []any, res node) ([]any, error) {
	var resElems []any
	if !res.missingOrNull() {
		rl, ok := res.v.([]any)
		if !ok {
			return nil, wrongKind(kindList, res.v)
		}
		resElems = rl
	}
	// Typically one element has anchors, and gets a copy per resource
	// element.
	out := make([]any, len(l), len(l)+max(len(l), len(resElems)))
	copy(out, l)
	for _, pe := range l {
		if !hasAnchors(pe, hasAnchor) {
			continue
		}
		hasGlobal := hasAnchors(pe, isGlobal)
		globalPassed := false
		var lastGlobal error
		cp := cloneOverlay(a, pe)
		// Once cp is inert (see isInert), preprocessing it again changes
		// nothing, and its copies without anchors are all copies of tmpl.
		inert := false
		var tmpl *omap
		tmplEmpty := false
		for _, re := range resElems {
			var err error
			if !inert {
				cp, err = preprocessValue(a, cp, present(re))
			}
			if err != nil {
				ce, ok := err.(*ConditionError)
				if !ok {
					return nil, err
				}
				if ce.Global {
					lastGlobal = err
				}
				continue
			}
			inert = inert || isInert(cp)
			if hasGlobal {
				globalPassed = true
				continue
			}
			if !inert {
				if out, err = namedCopy(a, out, cp, re); err != nil {
					return nil, fmt.Errorf("failed to update name in pattern: %w", err)
				}
				continue
			}
			if tmpl == nil {
				// cp is not preprocessed again, so that it can lose
				// its anchors in place. deleteAnchors cannot fail on a
				// map without lists.
				c, empty, _ := deleteAnchors(cp, true)
				tmpl, tmplEmpty = c.(*omap), empty
			}
			out = appendNamed(a, out, tmpl, tmplEmpty, re)
		}
		if !res.ok {
			var err error
			cp, err = preprocessValue(a, cp, missing)
			if err != nil {
				if ce, ok := err.(*ConditionError); ok && !ce.Global {
					continue
				}
				return nil, err
			}
			if hasGlobal {
				globalPassed = true
			}
		}
		if !globalPassed && lastGlobal != nil {
			return nil, lastGlobal
		}
	}
	return out, nil
}

// namedCopy appends to list a copy of the preprocessed element without its
// anchors, named after the resource element; nothing when the resource
// element has no name or the copy holds nothing but anchors.
func namedCopy(a *arena, list []any, element, resElem any) ([]any, error) {
	rm, ok := resElem.(map[string]any)
	if !ok {
		return list, nil
	}
	name, ok := rm["name"]
	if !ok || isNilOrEmpty(name) {
		return list, nil
	}
	c, empty, err := deleteAnchors(cloneOverlay(a, element), true)
	if err != nil {
		return nil, err
	}
	if empty {
		return list, nil
	}
	cm, ok := c.(*omap)
	if !ok {
		return nil, wrongKind(kindMap, toValue(c))
	}
	cm.set("name", fromValue(a, name))
	return append(list, cm), nil
}

// appendNamed is namedCopy for an element whose copy without anchors is
// tmpl (and is empty when empty is set).
func appendNamed(a *arena, list []any, tmpl *omap, empty bool, resElem any) []any {
	rm, ok := resElem.(map[string]any)
	if !ok {
		return list
	}
	name, ok := rm["name"]
	if !ok || isNilOrEmpty(name) || empty {
		return list
	}
	// Nothing changes the maps below tmpl any more (deleteAnchors finds
	// nothing left to do in them, and the merge only reads the overlay),
	// so that the copies can share them.
	cm := a.newMap(len(tmpl.entries) + 1)
	cm.entries = append(cm.entries, tmpl.entries...)
	cm.set("name", fromValue(a, name))
	return append(list, cm)
}

// isInert reports whether preprocessing leaves an overlay value alone
// whatever the resource: a map without lists and without the anchors that
// preprocessing handles, at any depth.
func isInert(v any) bool {
	m, ok := v.(*omap)
	if !ok {
		return false
	}
	for i := range m.entries {
		e := &m.entries[i]
		if e.kind.handled() {
			return false
		}
		switch e.val.(type) {
		case *omap:
			if !isInert(e.val) {
				return false
			}
		case []any:
			return false
		}
	}
	return true
}

// isNilOrEmpty reports whether a value of the resource or of the overlay is
// null, an empty map or an empty list.
func isNilOrEmpty(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case *omap:
		return len(t.entries) == 0
	case map[string]any:
		return len(t) == 0
	case []any:
		return len(t) == 0
	}
	return false
}

// hasAnchors reports whether an overlay value holds a key for which pred is
// true, or a scalar that reads as a conditional anchor, at any depth.
func hasAnchors(v any, pred func(akind) bool) bool {
	switch t := v.(type) {
	case *omap:
		for _, e := range t.entries {
			if e.kind != akNone && pred(e.kind) {
				return true
			}
			if !isNilOrEmpty(e.val) && hasAnchors(e.val, pred) {
				return true
			}
		}
		return false
	case []any:
		for _, e := range t {
			if hasAnchors(e, pred) {
				return true
			}
		}
		return false
	case string:
		return anchor.Parse(t).IsConditional()
	case nil, bool, int64, float64:
		// their text never ends with ")"
		return false
	}
	return anchor.Parse(nodeText(v)).IsConditional()
}

// deleteConditionElements removes what is left of the anchors from the
// top-level map. The top-level keys keep their anchors.
func deleteConditionElements(p *omap) error {
	var buf [keyBuf]string
	for _, k := range p.keysWhere(buf[:0], anyKey) {
		pv, _ := p.get(k)
		nv, del, err := deleteAnchors(pv, anchorKind(k).conditional())
		if err != nil {
			return err
		}
		if del {
			p.del(k)
		} else if _, isList := nv.([]any); isList {
			p.set(k, nv)
		}
	}
	return nil
}

// deleteAnchors strips the conditional anchors below v and reports whether v
// itself should go: scalars go when deleteScalar is set, maps and lists when
// nothing but anchors was left in them.
func deleteAnchors(v any, deleteScalar bool) (any, bool, error) {
	switch t := v.(type) {
	case *omap:
		del, err := deleteAnchorsInMap(t)
		return t, del, err
	case []any:
		return deleteAnchorsInList(t)
	}
	return v, deleteScalar, nil
}

func deleteAnchorsInMap(m *omap) (bool, error) {
	anchorsLeft := false
	var buf [keyBuf]string
	for _, k := range m.keysWhere(buf[:0], isConditionalKey) {
		mv, _ := m.get(k)
		nv, del, err := deleteAnchors(mv, true)
		if err != nil {
			return false, err
		}
		if del {
			m.del(k)
		} else {
			if _, isList := nv.([]any); isList {
				m.set(k, nv)
			}
			anchorsLeft = true
		}
	}
	if anchorsLeft {
		for _, k := range m.keysWhere(buf[:0], isConditionalKey) {
			v, _ := m.get(k)
			m.del(k)
			m.set(anchorKey(k, anchorKind(k)), v)
		}
	}
	empty := true
	for _, k := range m.keysWhere(buf[:0], anyKey) {
		mv, _ := m.get(k)
		nv, del, err := deleteAnchors(mv, false)
		if err != nil {
			return false, err
		}
		if del {
			m.del(k)
		} else {
			if _, isList := nv.([]any); isList {
				m.set(k, nv)
			}
			empty = false
		}
	}
	return empty, nil
}

// deleteAnchorsInList removes the elements that carry anchors and the
// elements left empty. Like Kyverno it removes by the element's original
// index from the shrinking list, which removes the wrong element once an
// earlier one is gone; where Kyverno would then index past the end (and
// panic), this returns an error.
func deleteAnchorsInList(l []any) ([]any, bool, error) {
	// vals holds the rewritten elements by original index, and cur the
	// original indices of the elements still in the list.
	var valBuf [keyBuf]any
	var curBuf [keyBuf]int
	vals := append(valBuf[:0], l...)
	cur := curBuf[:0]
	for i := range l {
		cur = append(cur, i)
	}
	deleteAt := func(i int) error {
		if i >= len(cur) {
			return fmt.Errorf("failed to delete anchors: list element %d is out of range", i)
		}
		cur = append(cur[:i], cur[i+1:]...)
		return nil
	}
	for i, v := range l {
		if hasAnchors(v, hasAnchor) {
			if err := deleteAt(i); err != nil {
				return nil, false, err
			}
			continue
		}
		nv, del, err := deleteAnchors(v, false)
		if err != nil {
			return nil, false, err
		}
		vals[i] = nv
		if del {
			if err := deleteAt(i); err != nil {
				return nil, false, err
			}
		}
	}
	if len(cur) == 0 && len(l) != 0 {
		return []any{}, true, nil
	}
	out := make([]any, len(cur))
	for j, i := range cur {
		out[j] = vals[i]
	}
	return out, false, nil
}
