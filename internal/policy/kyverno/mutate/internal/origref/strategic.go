package origref

import (
	"errors"
	"fmt"
	"sort"

	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/anchor"
)

// ErrEmptyRule is returned for a missing patch: a nil overlay or an empty
// JSON patch. Kyverno reports the rule as an error with exactly this
// message, without the "failed to patch resource" prefix.
var ErrEmptyRule = errors.New("empty mutate rule")

// StrategicMerge applies overlay (already variable-substituted) to resource
// and returns the new resource; resource is never modified in place.
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
// other error is a rule error. The returned map shares nothing with resource
// or overlay.
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
	p, err := copyValue(om, true, 0)
	if err != nil {
		return nil, fmt.Errorf("invalid patchStrategicMerge: %w", err)
	}
	// Preprocessing and the merge only read the resource.
	pattern, res := p.(map[string]any), resource

	var cause error
	if err := preprocess(pattern, res); err != nil {
		ce, ok := err.(*ConditionError)
		if !ok {
			return nil, fmt.Errorf("failed to preProcess rule: %w", err)
		}
		// Kyverno replaces the overlay by an empty one; the merge still
		// normalises the resource.
		cause = ce
		pattern = map[string]any{}
	}

	merged, err := merge(present(res), present(pattern), nil, 0)
	if err != nil {
		return nil, err
	}
	out, ok := merged.v.(map[string]any)
	if !ok {
		return nil, errors.New("filter cannot create or remove objects")
	}
	if jsonEqual(out, resource) {
		return nil, &SkipError{Message: NoPatchesApplied, Cause: cause}
	}
	return out, nil
}

// This file ports Kyverno's strategic merge preprocessing
// (pkg/engine/mutate/patch/strategicPreprocessing.go) from YAML nodes to
// unstructured values. The overlay is modified in place: callers pass a copy.
// Like Kyverno, a list element with anchors is matched against every element
// of the resource's list through one shared copy, which the anchors of the
// earlier elements have already rewritten; that is deliberate.

// preprocess rewrites pattern for res: it resolves "+()" anchors, checks the
// conditions and strips them. A failed condition of the top-level map is a
// *ConditionError.
func preprocess(pattern, res map[string]any) error {
	if _, err := preprocessValue(pattern, present(res)); err != nil {
		return err
	}
	return deleteConditionElements(pattern)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// hasAnchor reports whether a key is an anchor that preprocessing handles.
func hasAnchor(a anchor.Anchor) bool {
	return a.IsConditional() || a.Type == anchor.AddIfNotPresent
}

func isGlobal(a anchor.Anchor) bool { return a.Type == anchor.Global }

// preprocessValue preprocesses a map or a list of the overlay against the
// matching value of the resource, and returns the rewritten value.
func preprocessValue(pattern any, res node) (any, error) {
	switch p := pattern.(type) {
	case map[string]any:
		return p, walkPatternMap(p, res)
	case []any:
		return walkPatternList(p, res)
	}
	return pattern, nil
}

func walkPatternMap(p map[string]any, res node) error {
	rm, _ := res.v.(map[string]any)
	addIfNotPresent(p, rm)
	if err := validateConditions(p, rm); err != nil {
		return err
	}
	for _, k := range sortedKeys(p) {
		if hasAnchor(anchor.Parse(k)) {
			continue
		}
		rv := missing
		if v, ok := rm[k]; ok {
			rv = present(v)
		}
		nv, err := preprocessValue(p[k], rv)
		if err != nil {
			return err
		}
		p[k] = nv
	}
	return nil
}

// addIfNotPresent drops the "+(key)" entries of p whose key the resource map
// has and strips the anchor from the others. It returns how many there were.
func addIfNotPresent(p, rm map[string]any) int {
	n := 0
	for _, k := range sortedKeys(p) {
		a := anchor.Parse(k)
		if a.Type != anchor.AddIfNotPresent {
			continue
		}
		n++
		v := p[k]
		delete(p, k)
		if _, exists := rm[a.Key]; exists {
			continue
		}
		p[a.Key] = v
	}
	return n
}

// validateConditions checks the global anchors of p, then its conditional
// anchors, against the resource map.
func validateConditions(p, rm map[string]any) error {
	if err := checkConditions(p, rm, anchor.Global); err != nil {
		return &ConditionError{Global: true, Err: err}
	}
	if err := checkConditions(p, rm, anchor.Condition); err != nil {
		return &ConditionError{Err: err}
	}
	return nil
}

func checkConditions(p, rm map[string]any, typ anchor.Type) error {
	for _, k := range sortedKeys(p) {
		a := anchor.Parse(k)
		if a.Type != typ {
			continue
		}
		rv, ok := rm[a.Key]
		if !ok {
			return fmt.Errorf("could not found \"%s\" key in the resource", a.Key)
		}
		pv := p[k]
		if pm, ok := pv.(map[string]any); ok {
			rvm, _ := rv.(map[string]any)
			if addIfNotPresent(pm, rvm) > 0 {
				// Kyverno does not check a condition whose value holds
				// "+()" anchors.
				continue
			}
		}
		if !matchPattern(conditionValue(rv), conditionValue(pv)) {
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

func walkPatternList(l []any, res node) ([]any, error) {
	if len(l) == 0 {
		return l, nil
	}
	if _, ok := l[0].(map[string]any); !ok {
		return l, nil
	}
	return patternListOfMaps(l, res)
}

// patternListOfMaps expands the anchored elements of a list of maps: each
// resource element that satisfies an element's conditions gets a copy of the
// element, without its anchors and named after the resource element. The
// anchored elements themselves are removed later by deleteConditionElements.
func patternListOfMaps(l []any, res node) ([]any, error) {
	var resElems []any
	if !res.missingOrNull() {
		rl, ok := res.v.([]any)
		if !ok {
			return nil, wrongKind(kindList, res.v)
		}
		resElems = rl
	}
	out := make([]any, len(l), 2*len(l))
	copy(out, l)
	for _, pe := range l {
		if !hasAnchors(pe, hasAnchor) {
			continue
		}
		hasGlobal := hasAnchors(pe, isGlobal)
		globalPassed := false
		var lastGlobal error
		cp := clone(pe)
		for _, re := range resElems {
			var err error
			cp, err = preprocessValue(cp, present(re))
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
			if hasGlobal {
				globalPassed = true
				continue
			}
			if out, err = namedCopy(out, cp, re); err != nil {
				return nil, fmt.Errorf("failed to update name in pattern: %w", err)
			}
		}
		if !res.ok {
			var err error
			cp, err = preprocessValue(cp, missing)
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
func namedCopy(list []any, element, resElem any) ([]any, error) {
	rm, ok := resElem.(map[string]any)
	if !ok {
		return list, nil
	}
	name, ok := rm["name"]
	if !ok || isNilOrEmpty(name) {
		return list, nil
	}
	c, empty, err := deleteAnchors(clone(element), true)
	if err != nil {
		return nil, err
	}
	if empty {
		return list, nil
	}
	cm, ok := c.(map[string]any)
	if !ok {
		return nil, wrongKind(kindMap, c)
	}
	cm["name"] = clone(name)
	return append(list, cm), nil
}

func isNilOrEmpty(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(t) == 0
	case []any:
		return len(t) == 0
	}
	return false
}

// hasAnchors reports whether a value holds a key for which pred is true, or
// a scalar that reads as a conditional anchor, at any depth.
func hasAnchors(v any, pred func(anchor.Anchor) bool) bool {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if a := anchor.Parse(k); a.Type != anchor.None && pred(a) {
				return true
			}
			if !isNilOrEmpty(e) && hasAnchors(e, pred) {
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
	}
	return anchor.Parse(nodeText(v)).IsConditional()
}

// deleteConditionElements removes what is left of the anchors from the
// top-level map. The top-level keys keep their anchors.
func deleteConditionElements(p map[string]any) error {
	for _, k := range sortedKeys(p) {
		nv, del, err := deleteAnchors(p[k], anchor.Parse(k).IsConditional())
		if err != nil {
			return err
		}
		if del {
			delete(p, k)
		} else {
			p[k] = nv
		}
	}
	return nil
}

// deleteAnchors strips the conditional anchors below v and reports whether v
// itself should go: scalars go when deleteScalar is set, maps and lists when
// nothing but anchors was left in them.
func deleteAnchors(v any, deleteScalar bool) (any, bool, error) {
	switch t := v.(type) {
	case map[string]any:
		del, err := deleteAnchorsInMap(t)
		return t, del, err
	case []any:
		return deleteAnchorsInList(t)
	}
	return v, deleteScalar, nil
}

func deleteAnchorsInMap(m map[string]any) (bool, error) {
	anchorsLeft := false
	for _, k := range sortedKeys(m) {
		if !anchor.Parse(k).IsConditional() {
			continue
		}
		nv, del, err := deleteAnchors(m[k], true)
		if err != nil {
			return false, err
		}
		if del {
			delete(m, k)
		} else {
			m[k] = nv
			anchorsLeft = true
		}
	}
	if anchorsLeft {
		for _, k := range sortedKeys(m) {
			if a := anchor.Parse(k); a.IsConditional() {
				v := m[k]
				delete(m, k)
				m[a.Key] = v
			}
		}
	}
	empty := true
	for _, k := range sortedKeys(m) {
		nv, del, err := deleteAnchors(m[k], false)
		if err != nil {
			return false, err
		}
		if del {
			delete(m, k)
		} else {
			m[k] = nv
			empty = false
		}
	}
	return empty, nil
}

// box gives list elements an identity while deleteAnchorsInList works.
type box struct{ v any }

// deleteAnchorsInList removes the elements that carry anchors and the
// elements left empty. Like Kyverno it removes by the element's original
// index from the shrinking list, which removes the wrong element once an
// earlier one is gone; where Kyverno would then index past the end (and
// panic), this returns an error.
func deleteAnchorsInList(l []any) ([]any, bool, error) {
	boxes := make([]*box, len(l))
	for i, e := range l {
		boxes[i] = &box{v: e}
	}
	cur := append([]*box(nil), boxes...)
	deleteAt := func(i int) error {
		if i >= len(cur) {
			return fmt.Errorf("failed to delete anchors: list element %d is out of range", i)
		}
		cur = append(cur[:i:i], cur[i+1:]...)
		return nil
	}
	for i, b := range boxes {
		if hasAnchors(b.v, hasAnchor) {
			if err := deleteAt(i); err != nil {
				return nil, false, err
			}
			continue
		}
		nv, del, err := deleteAnchors(b.v, false)
		if err != nil {
			return nil, false, err
		}
		b.v = nv
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
	for i, b := range cur {
		out[i] = b.v
	}
	return out, false, nil
}
