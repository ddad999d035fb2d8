package mutate

import (
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"
)

// This file merges a preprocessed overlay into a resource the way kyaml's
// merge2 walker does with the options Kyverno passes (kustomize's
// patchstrategicmerge filter: new list elements are prepended). The walk
// visits every field of both documents, so it also normalises the parts of
// the resource that the overlay does not touch: null fields disappear,
// merge-keyed lists lose entries whose keys repeat, and numbers become int64
// where they can.
//
// The destination is only read. The result is built copy-on-write: a map or
// list of the destination that the patch does not touch and that the
// normalisation leaves as it is goes into the result as it is, shared (see
// mergeAlone); everything else is built from copies of the destination and
// from the patch, which the merge owns and changes in place. Nothing that
// changes in place is ever shared with the destination: the general merge of
// associative lists works on a deep copy.

// node is a value in the walk. A node that is not ok is missing (kyaml's nil
// RNode); an ok node holding nil is a JSON null.
type node struct {
	v  any
	ok bool
	// replaced is set on the merge of two maps that a "$patch: replace"
	// directive resolved to the patch.
	replaced bool
}

var missing = node{}

func present(v any) node { return node{v: v, ok: true} }

func (n node) missingOrNull() bool { return !n.ok || n.v == nil }

func (n node) isNull() bool { return n.ok && n.v == nil }

// kind is the YAML node kind of a value.
type kind int

const (
	kindNone kind = iota
	kindMap
	kindList
	kindScalar
)

func kindOf(v any) kind {
	switch v.(type) {
	case map[string]any:
		return kindMap
	case []any:
		return kindList
	}
	return kindScalar
}

func (k kind) String() string {
	switch k {
	case kindMap:
		return "MappingNode"
	case kindList:
		return "SequenceNode"
	case kindScalar:
		return "ScalarNode"
	}
	return "0"
}

// wrongKind is kyaml's error for a destination and a patch of different
// kinds, e.g. a map merged into a string.
func wrongKind(want kind, v any) error {
	text, err := yaml.Marshal(v)
	if err != nil {
		text = []byte(fmt.Sprint(v))
	}
	return fmt.Errorf("wrong node kind: expected %s but got %s: node contents:\n%s", want, kindOf(v), text)
}

// directive is a strategic merge patch directive, "$patch".
type directive int

const (
	patchUnknown directive = iota
	patchReplace
	patchDelete
	patchMerge
)

const directiveKey = "$patch"

// readDirective returns the directive of a patch map and removes it from the
// map; an unknown directive is an error and stays in the map.
func readDirective(patch map[string]any) (directive, error) {
	v, ok := patch[directiveKey]
	if !ok {
		return patchMerge, nil
	}
	text := ""
	if isScalar(v) {
		text = scalarText(v)
	}
	switch text {
	case "delete":
		delete(patch, directiveKey)
		return patchDelete, nil
	case "replace":
		delete(patch, directiveKey)
		return patchReplace, nil
	case "merge":
		delete(patch, directiveKey)
		return patchMerge, nil
	}
	return patchUnknown, fmt.Errorf("unknown patch strategy '%s'", text)
}

// merge merges origin into dest and returns the result; ok is false when the
// merge deletes the whole value. The result may share subtrees with dest.
func merge(dest, origin node, s *schema, depth int) (node, error) {
	if dest.ok && !origin.ok {
		r, _, err := mergeAlone(dest.v, s, depth)
		return r, err
	}
	if depth > maxDepth {
		return missing, errTooDeep
	}
	s = resolveSchema(s, dest, origin)
	k := kindNone
	for _, n := range [2]node{dest, origin} {
		if !n.missingOrNull() {
			k = kindOf(n.v)
			break
		}
	}
	if k != kindNone {
		for _, n := range [2]node{dest, origin} {
			if !n.missingOrNull() && kindOf(n.v) != k {
				return missing, wrongKind(k, n.v)
			}
		}
	}
	switch k {
	case kindList:
		if s.associative() {
			return mergeAssociative(dest, origin, s, depth)
		}
		return replaceValue(dest, origin, depth)
	case kindScalar:
		return replaceValue(dest, origin, depth)
	default:
		return mergeMap(dest, origin, s, depth)
	}
}

// resolveSchema returns s, or when s is nil the schema of the kind named by
// the apiVersion and kind fields of either node.
func resolveSchema(s *schema, dest, origin node) *schema {
	if s != nil {
		return s
	}
	for _, n := range [2]node{dest, origin} {
		m, ok := n.v.(map[string]any)
		if !ok {
			continue
		}
		apiVersion, _ := m["apiVersion"].(string)
		k, _ := m["kind"].(string)
		if apiVersion == "" || k == "" {
			continue
		}
		if found := schemaFor(apiVersion, k); found != nil {
			return found
		}
	}
	return nil
}

// replaceValue merges scalars and lists without merge keys: a present patch
// value wins, null deletes.
func replaceValue(dest, origin node, depth int) (node, error) {
	if origin.ok {
		if origin.v == nil {
			return missing, nil
		}
		return origin, nil
	}
	if dest.v == nil {
		return missing, nil
	}
	c, err := copyNormalized(dest.v, depth)
	if err != nil {
		return missing, err
	}
	return present(c), nil
}

// mergeAlone is merge(present(v), missing, s, depth): the merge of a value
// of the destination that the patch does not touch, which only normalises
// it. It returns v itself, with same set, when the normalisation changes
// nothing in it, and otherwise shares the subtrees of v that it leaves
// alone. It never changes v.
func mergeAlone(v any, s *schema, depth int) (r node, same bool, err error) {
	if depth > maxDepth {
		return missing, false, errTooDeep
	}
	if v == nil {
		// kyaml clears a null field
		return missing, false, nil
	}
	s = resolveSchema(s, present(v), missing)
	switch t := v.(type) {
	case map[string]any:
		return mergeAloneMap(t, s, depth)
	case []any:
		if s.associative() {
			return mergeAloneList(v, t, s, depth)
		}
	}
	// replaceValue: a scalar or a list that does not merge is copied.
	if normalized(v, depth) {
		return present(v), true, nil
	}
	c, err := copyValue(v, true, depth)
	if err != nil {
		return missing, false, err
	}
	return present(c), false, nil
}

// settledScalar reports, for the common scalars, what mergeAlone reports
// in same without the call: whether the scalar merges alone to itself.
func settledScalar(v any) bool {
	switch t := v.(type) {
	case string, bool, int64:
		return true
	case float64:
		_, isInt := integral(t)
		return !isInt && t == t
	}
	return false
}

// mergeAloneMap is mergeMap of a destination map with a missing patch: each
// field merges alone, and the fields that come out missing go.
func mergeAloneMap(m map[string]any, s *schema, depth int) (node, bool, error) {
	if m == nil {
		return present(map[string]any{}), false, nil
	}
	// out stays nil as long as every field merges to itself.
	var out map[string]any
	fast := depth+1 <= maxDepth
	for k, e := range m {
		if fast && settledScalar(e) {
			continue
		}
		r, same, err := mergeAlone(e, s.field(k), depth+1)
		if err != nil {
			return missing, false, err
		}
		if same {
			continue
		}
		if out == nil {
			out = copyMap(m, 0)
		}
		if r.missingOrNull() {
			delete(out, k)
		} else {
			out[k] = r.v
		}
	}
	if out == nil {
		return present(m), true, nil
	}
	return present(out), false, nil
}

// mergeAloneList is mergeAssociative of a destination list with a missing
// patch. A clean list (see cleanKeys) goes the way mergeClean takes it:
// each element merges alone, and the elements that come out missing or
// empty go. Any other list takes the general algorithm, which works on a
// copy. v holds l, so that returning it unchanged does not box l again.
func mergeAloneList(v any, l []any, s *schema, depth int) (node, bool, error) {
	if l == nil || len(s.keys) == 0 || !cleanKeys(l, s.keys) {
		r, err := mergeAssociative(present(v), missing, s, depth)
		return r, false, err
	}
	elem := s.elements()
	// out stays nil as long as every element merges to itself.
	var out []any
	for i, e := range l {
		r, same, err := mergeAlone(e, elem, depth+1)
		if err != nil {
			return missing, false, err
		}
		keep := !r.missingOrNull() && !isEmptyMap(r.v)
		if out == nil {
			if same && keep {
				continue
			}
			out = make([]any, i, len(l))
			copy(out, l[:i])
		}
		if keep {
			out = append(out, r.v)
		}
	}
	if out == nil {
		return present(v), true, nil
	}
	return present(out), false, nil
}

func mergeMap(dest, origin node, s *schema, depth int) (node, error) {
	om, _ := origin.v.(map[string]any)
	if dest.missingOrNull() {
		d := patchMerge
		if om != nil {
			d, _ = readDirective(om)
		}
		if d == patchDelete || om == nil {
			// nothing to add, or a null: kyaml clears the field
			return missing, nil
		}
		return mergeOwned(om, s, depth)
	}
	if origin.isNull() {
		return missing, nil
	}
	if om != nil {
		d, err := readDirective(om)
		if err != nil {
			return missing, err
		}
		switch d {
		case patchDelete:
			return missing, nil
		case patchReplace:
			r, err := mergeOwned(om, s, depth)
			r.replaced = true
			return r, err
		}
	}
	dm := dest.v.(map[string]any)
	// Copy-on-write: out stays nil as long as every field merges to the
	// destination's own value. A nil map becomes an empty one.
	var out map[string]any
	if dm == nil {
		out = make(map[string]any, len(om))
	}
	for k, v := range dm {
		o := missing
		if ov, ok := om[k]; ok {
			o = present(ov)
		}
		r, err := merge(present(v), o, s.field(k), depth+1)
		if err != nil {
			return missing, err
		}
		if !r.missingOrNull() && sameValue(r.v, v) {
			continue
		}
		if out == nil {
			out = copyMap(dm, len(om))
		}
		if r.missingOrNull() {
			delete(out, k)
		} else {
			out[k] = r.v
		}
	}
	for k, ov := range om {
		if _, done := dm[k]; done {
			continue
		}
		r, err := merge(missing, present(ov), s.field(k), depth+1)
		if err != nil {
			return missing, err
		}
		if r.missingOrNull() {
			continue
		}
		if out == nil {
			out = copyMap(dm, len(om))
		}
		out[k] = r.v
	}
	if out == nil {
		return node{v: dest.v, ok: true}, nil
	}
	return present(out), nil
}

// copyMap returns a shallow copy of m with room for extra more keys.
func copyMap(m map[string]any, extra int) map[string]any {
	out := make(map[string]any, len(m)+extra)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// sameValue reports whether a merge result a is the destination's value b
// itself, so that the destination can be kept: the same map or list (not
// merely an equal one), or an equal scalar of the same type. It is
// conservative: false means the values may differ.
func sameValue(a, b any) bool {
	switch ta := a.(type) {
	case map[string]any:
		tb, ok := b.(map[string]any)
		return ok && sameMap(ta, tb)
	case []any:
		tb, ok := b.([]any)
		if !ok || len(ta) != len(tb) || (ta == nil) != (tb == nil) {
			return false
		}
		return len(ta) == 0 || &ta[0] == &tb[0]
	case string:
		tb, ok := b.(string)
		return ok && ta == tb
	case int64:
		tb, ok := b.(int64)
		return ok && ta == tb
	case bool:
		tb, ok := b.(bool)
		return ok && ta == tb
	case float64:
		// false for NaN
		tb, ok := b.(float64)
		return ok && ta == tb
	case nil:
		return b == nil
	}
	return false
}

// mergeOverlay is merge(dest, present(toValue(o)), s, depth) for a value o
// of a preprocessed overlay, which it never changes. Where dest and o are
// maps, and where they are lists that mergeClean takes, it merges them as
// merge would, reading o where it is; elsewhere it converts o to
// unstructured values for merge, which may change them in place. This
// saves building the parts of the overlay that merge only reads.
func mergeOverlay(dest node, o any, s *schema, depth int) (node, error) {
	if dest.ok && depth <= maxDepth {
		switch ot := o.(type) {
		case nil, string, bool, int64, float64:
			if dest.v != nil && isScalar(dest.v) {
				// replaceValue: the patch's scalar wins, null deletes.
				if o == nil {
					return missing, nil
				}
				return present(o), nil
			}
		case *omap:
			dm, ok := dest.v.(map[string]any)
			if _, directive := ot.get(directiveKey); ok && dm != nil && !directive {
				return mergeMapOverlay(dest, dm, ot, resolveOverlaySchema(s, dm, ot), depth)
			}
		case []any:
			dl, ok := dest.v.([]any)
			if ok && dl != nil && s.associative() && len(s.keys) > 0 {
				r, ok, err := mergeClean(&listRef{items: dl, boxed: dest.v}, &listRef{items: ot, overlay: true}, s.keys, s.elements(), depth, false)
				if ok || err != nil {
					return r, err
				}
			}
		}
	}
	return merge(dest, present(toValue(o)), s, depth)
}

// resolveOverlaySchema is resolveSchema for a destination map and an
// overlay map.
func resolveOverlaySchema(s *schema, dm map[string]any, om *omap) *schema {
	if s != nil {
		return s
	}
	if r := resolveSchema(nil, present(dm), missing); r != nil {
		return r
	}
	apiVersion, _ := om.get("apiVersion")
	k, _ := om.get("kind")
	av, _ := apiVersion.(string)
	ks, _ := k.(string)
	if av == "" || ks == "" {
		return nil
	}
	return schemaFor(av, ks)
}

// mergeMapOverlay is mergeMap of a destination map and an overlay map
// without a directive, copy-on-write like mergeMap.
func mergeMapOverlay(dest node, dm map[string]any, om *omap, s *schema, depth int) (node, error) {
	var out map[string]any
	fast := depth+1 <= maxDepth
	// shared counts the keys of om that dm has too.
	shared := 0
	for k, v := range dm {
		var r node
		var err error
		if ov, ok := om.get(k); ok {
			shared++
			r, err = mergeOverlay(present(v), ov, s.field(k), depth+1)
		} else {
			if fast && settledScalar(v) {
				continue
			}
			r, err = merge(present(v), missing, s.field(k), depth+1)
		}
		if err != nil {
			return missing, err
		}
		if !r.missingOrNull() && sameValue(r.v, v) {
			continue
		}
		if out == nil {
			out = copyMap(dm, len(om.entries))
		}
		if r.missingOrNull() {
			delete(out, k)
		} else {
			out[k] = r.v
		}
	}
	for i := range om.entries {
		if shared == len(om.entries) {
			break
		}
		e := &om.entries[i]
		if _, done := dm[e.key]; done {
			continue
		}
		r, err := merge(missing, present(toValue(e.val)), s.field(e.key), depth+1)
		if err != nil {
			return missing, err
		}
		if r.missingOrNull() {
			continue
		}
		if out == nil {
			out = copyMap(dm, len(om.entries))
		}
		out[e.key] = r.v
	}
	if out == nil {
		return node{v: dest.v, ok: true}, nil
	}
	return present(out), nil
}

// mergeOwned merges a map of the patch with itself, as kyaml does with a
// value it adds: directives and nulls below it take effect.
func mergeOwned(m map[string]any, s *schema, depth int) (node, error) {
	for k, v := range m {
		if err := setField(m, k, present(v), present(v), s, depth); err != nil {
			return missing, err
		}
	}
	return present(m), nil
}

// setField merges one field and stores the result in m, deleting the field
// when the result is missing or null.
func setField(m map[string]any, k string, d, o node, s *schema, depth int) error {
	r, err := merge(d, o, s.field(k), depth+1)
	if err != nil {
		return err
	}
	if r.missingOrNull() {
		delete(m, k)
	} else {
		m[k] = r.v
	}
	return nil
}

// listRef is a list source of an associative merge. The destination and the
// patch share one listRef when the destination list was missing, as they
// share one YAML node in kyaml.
type listRef struct {
	items []any
	// overlay is set when items are overlay values (see mergeOverlay);
	// only mergeClean takes such a list.
	overlay bool
	// boxed, when set, holds items as an any, so that returning the list
	// unchanged does not box it again.
	boxed any
}

// value returns the list as a node.
func (r *listRef) value() node {
	if r.boxed != nil {
		return present(r.boxed)
	}
	return present(r.items)
}

func mergeAssociative(dest, origin node, s *schema, depth int) (node, error) {
	var destRef, originRef *listRef
	aliased := false
	switch {
	case dest.missingOrNull():
		// A list the patch adds merges with itself.
		ol, ok := origin.v.([]any)
		if !ok {
			return missing, nil
		}
		destRef, aliased = &listRef{items: ol}, true
		originRef = destRef
	case origin.isNull():
		return missing, nil
	default:
		destRef = &listRef{items: dest.v.([]any), boxed: dest.v}
		if origin.ok {
			ol, _ := origin.v.([]any)
			originRef = &listRef{items: ol}
		}
	}
	keys := s.keys
	if len(keys) > 0 {
		if r, ok, err := mergeClean(destRef, originRef, keys, s.elements(), depth, aliased); ok || err != nil {
			return r, err
		}
	}
	if !aliased {
		// The general algorithm changes the destination list as it goes.
		c, err := copyValue(destRef.items, true, depth)
		if err != nil {
			return missing, err
		}
		destRef = &listRef{items: c.([]any)}
	}
	if len(keys) > 0 {
		return setAssociative(elementValues(destRef, originRef, keys), keys, destRef, originRef, s.elements(), depth)
	}
	return setAssociative(primitiveValues(destRef, originRef), []string{""}, destRef, originRef, s.elements(), depth)
}

// nodeText is the Value of the YAML node kyaml builds for v.
func nodeText(v any) string {
	if isScalar(v) {
		return scalarText(v)
	}
	return ""
}

// keyText is the text kyaml reads for a merge key of an element: "" for a
// missing, null or empty value.
func keyText(m map[string]any, key string) string {
	v, ok := m[key]
	if !ok || v == nil {
		return ""
	}
	return nodeText(v)
}

// overlayKeyText is keyText for a map of the overlay.
func overlayKeyText(m *omap, key string) string {
	v, ok := m.get(key)
	if !ok || v == nil || !isOverlayScalar(v) {
		return ""
	}
	return scalarText(v)
}

// elementValues lists the merge key values of the elements of both lists,
// each tuple once, the patch's first.
func elementValues(dest, origin *listRef, keys []string) [][]string {
	var out [][]string
	seen := map[string]bool{}
	for _, src := range [2]*listRef{origin, dest} {
		if src == nil {
			continue
		}
		for _, item := range src.items {
			vals := make([]string, len(keys))
			if m, ok := item.(map[string]any); ok {
				for i, k := range keys {
					vals[i] = keyText(m, k)
				}
			}
			id := strings.Join(vals, "\x00")
			if seen[id] {
				continue
			}
			seen[id] = true
			out = append(out, vals)
		}
	}
	return out
}

// primitiveValues lists the texts of the items of both lists, each once, the
// patch's first.
func primitiveValues(dest, origin *listRef) [][]string {
	var out [][]string
	seen := map[string]bool{}
	for _, src := range [2]*listRef{origin, dest} {
		if src == nil {
			continue
		}
		for _, item := range src.items {
			t := nodeText(item)
			if seen[t] {
				continue
			}
			seen[t] = true
			out = append(out, []string{t})
		}
	}
	return out
}

// validateKeys keeps the keys that have a value in at least one element, and
// the matching values of one element; with no such key it keeps all.
func validateKeys(valuesList [][]string, values, keys []string) ([]string, []string) {
	// valid[i] is set when keys[i] has a value somewhere; keys hold at most
	// a few names, and may repeat.
	valid := make([]bool, len(keys))
	found := false
	for _, vals := range valuesList {
		for i, v := range vals {
			if v != "" {
				for j, k := range keys {
					if k == keys[i] {
						valid[j] = true
					}
				}
				found = true
			}
		}
	}
	if !found {
		return keys, values
	}
	validKeys := make([]string, 0, len(keys))
	for i, k := range keys {
		if valid[i] {
			validKeys = append(validKeys, k)
		}
	}
	validValues := make([]string, 0, len(values))
	for i, v := range values {
		if v != "" || valid[i] {
			validValues = append(validValues, v)
		}
	}
	return validKeys, validValues
}

// mergeValues unifies key tuples that agree wherever both have a value, so
// that a port without a protocol matches the same port with one.
func mergeValues(valuesList [][]string) [][]string {
	for i := range valuesList {
		for j := range valuesList {
			if ok, merged := matchValues(valuesList[i], valuesList[j]); ok {
				valuesList[i] = merged
				valuesList[j] = merged
			}
		}
	}
	return valuesList
}

func matchValues(a, b []string) (bool, []string) {
	if len(a) != len(b) {
		return false, nil
	}
	common := false
	res := make([]string, 0, len(a))
	for i := range a {
		switch {
		case a[i] == b[i]:
			common = true
			res = append(res, a[i])
		case a[i] != "" && b[i] != "":
			return false, nil
		case a[i] != "":
			res = append(res, a[i])
		default:
			res = append(res, b[i])
		}
	}
	return common, res
}

// elementByKeys returns the first element of src whose key fields hold the
// given texts (kyaml's ElementList), and its index.
func elementByKeys(src *listRef, keys, values []string) (node, int) {
	if src == nil {
		return missing, -1
	}
	keys, values = validateKeys([][]string{values}, values, keys)
	if len(keys) == 0 || keys[0] == "" {
		for i, item := range src.items {
			if nodeText(item) == values[0] {
				return present(item), i
			}
		}
		return missing, -1
	}
	for i, item := range src.items {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		match := true
		for j, k := range keys {
			v, has := m[k]
			if !has || nodeText(v) != values[j] {
				match = false
				break
			}
		}
		if match {
			return present(m), i
		}
	}
	return missing, -1
}

func isEmptyMap(v any) bool {
	m, ok := v.(map[string]any)
	return ok && len(m) == 0
}

func setAssociative(valuesList [][]string, keys []string, dest, origin *listRef, elem *schema, depth int) (node, error) {
	var added []any
	if len(keys) > 1 {
		valuesList = mergeValues(valuesList)
	}
	var validKeys, validValues []string
	var err error
	for _, values := range valuesList {
		if len(values) == 0 {
			continue
		}
		validKeys, validValues = validateKeys(valuesList, values, keys)
		d, at := elementByKeys(dest, validKeys, validValues)
		o := missing
		if origin != nil {
			o, _ = elementByKeys(origin, validKeys, validValues)
		}
		val, err := merge(d, o, elem, depth+1)
		if err != nil {
			return missing, err
		}
		if at >= 0 && !val.replaced && kindOf(d.v) == kindMap && !val.missingOrNull() {
			// kyaml merges the destination's element in place.
			dest.items[at] = val.v
		}
		if val.missingOrNull() || isEmptyMap(val.v) {
			if dest.items, err = setElement(dest.items, missing, validKeys, validValues); err != nil {
				return missing, err
			}
			continue
		}
		for i, k := range validKeys {
			if validValues[i] == "" {
				continue
			}
			switch t := val.v.(type) {
			case map[string]any:
				if _, has := t[k]; !has {
					t[k] = resolvePlain(validValues[i])
				}
			case []any:
				return missing, wrongKind(kindMap, t)
			default:
				if k != "" {
					return missing, wrongKind(kindMap, t)
				}
				// kyaml rewrites the scalar item in place as an untagged
				// scalar with the same text, which re-reads its type.
				nv := resolvePlain(validValues[i])
				if !o.ok {
					for j, item := range dest.items {
						if nodeText(item) == validValues[i] {
							dest.items[j] = nv
							break
						}
					}
				}
				val = present(nv)
			}
		}
		if added, err = setElement(added, val, validKeys, validValues); err != nil {
			return missing, err
		}
	}
	result := added
	if len(valuesList) > 0 {
		if result, err = appendList(added, dest.items, validKeys); err != nil {
			return missing, err
		}
	} else {
		result = dest.items
	}
	if result == nil {
		result = []any{}
	}
	return present(result), nil
}

// fieldMatches is kyaml's FieldMatcher with a string value: item holds the
// field name, and when value is not empty, with that text. An empty name
// compares the item itself, which must then be a scalar.
func fieldMatches(item any, name, value string) (bool, error) {
	if item == nil {
		return false, nil
	}
	if name == "" {
		if !isScalar(item) {
			return false, wrongKind(kindScalar, item)
		}
		return nodeText(item) == value, nil
	}
	m, ok := item.(map[string]any)
	if !ok {
		return false, wrongKind(kindMap, item)
	}
	v, has := m[name]
	if !has {
		return false, nil
	}
	return value == "" || nodeText(v) == value, nil
}

// setElement is kyaml's ElementSetter: it replaces the elements of list that
// match keys and values with element, or removes them when element is
// missing, and appends element when none matched. Like kyaml it drops null
// and empty-map elements of the list on the way.
func setElement(list []any, element node, keys, values []string) ([]any, error) {
	if len(keys) == 0 {
		keys = []string{""}
	}
	out := make([]any, 0, len(list)+1)
	found := false
	for _, item := range list {
		if item == nil || isEmptyMap(item) {
			continue
		}
		if _, isMap := item.(map[string]any); !isMap && keys[0] != "" {
			out = append(out, item)
			continue
		}
		match := true
		matched := false
		for j := range keys {
			if j < len(values) {
				var err error
				if matched, err = fieldMatches(item, keys[j], values[j]); err != nil {
					return nil, err
				}
			}
			if !matched {
				match = false
				break
			}
		}
		if !match {
			if len(values) > 0 {
				out = append(out, item)
			}
			continue
		}
		found = true
		if !element.ok {
			continue
		}
		out = append(out, element.v)
	}
	if element.missingOrNull() {
		return out, nil
	}
	if !found {
		out = append(out, element.v)
	}
	return out, nil
}

// appendList adds the elements of src to dst, each replacing the element of
// dst with the same keys.
func appendList(dst, src []any, keys []string) ([]any, error) {
	var err error
	for _, elem := range src {
		if keys[0] == "" {
			if dst, err = setElement(dst, present(elem), []string{""}, []string{nodeText(elem)}); err != nil {
				return nil, err
			}
			continue
		}
		var v []string
		for _, k := range keys {
			if elem == nil {
				dst = append(dst, elem)
				continue
			}
			m, ok := elem.(map[string]any)
			if !ok {
				return nil, wrongKind(kindMap, elem)
			}
			fv, has := m[k]
			if !has {
				dst = append(dst, elem)
				continue
			}
			v = append(v, nodeText(fv))
		}
		if len(keys) > 1 {
			if dst, err = setElement(dst, missing, keys, v); err != nil {
				return nil, err
			}
		}
		if dst, err = setElement(dst, present(elem), keys, v); err != nil {
			return nil, err
		}
	}
	return dst, nil
}

// cleanKeys reports what tuples reports in ok, mostly without allocating:
// whether every element is a non-empty map with a value for every key, and
// no two elements share their keys.
func cleanKeys(items []any, keys []string) bool {
	if len(items) > 32 {
		_, ok := tuples(items, keys, nil)
		return ok
	}
	for _, item := range items {
		m, ok := item.(map[string]any)
		if !ok || len(m) == 0 {
			return false
		}
		for _, k := range keys {
			if !hasKeyText(m, k) {
				return false
			}
		}
	}
	for i := range items {
		a := items[i].(map[string]any)
	next:
		for j := i + 1; j < len(items); j++ {
			b := items[j].(map[string]any)
			for _, k := range keys {
				if !sameText(a[k], b[k]) {
					continue next
				}
			}
			return false
		}
	}
	return true
}

// hasKeyText reports whether keyText(m, key) is not empty.
func hasKeyText(m map[string]any, key string) bool {
	switch t := m[key].(type) {
	case string:
		return t != ""
	case bool, int64, float64:
		return true
	}
	return keyText(m, key) != ""
}

// sameText reports whether two scalars have the same nodeText.
func sameText(a, b any) bool {
	switch ta := a.(type) {
	case string:
		if tb, ok := b.(string); ok {
			return ta == tb
		}
	case int64:
		if tb, ok := b.(int64); ok {
			return ta == tb
		}
	}
	return nodeText(a) == nodeText(b)
}

// tuples returns the merge key texts of each element, joined, when every
// element is a non-empty map with a value for every key and no two elements
// share their keys.
//
// buf, when it is long enough, holds the result, to spare an allocation.
func tuples(items []any, keys []string, buf []string) ([]string, bool) {
	var out []string
	if len(items) <= len(buf) {
		out = buf[:len(items)]
	} else {
		out = make([]string, len(items))
	}
	for i, item := range items {
		var om *omap
		m, ok := item.(map[string]any)
		if !ok {
			// an element of an overlay list (see mergeOverlay)
			if om, ok = item.(*omap); !ok || len(om.entries) == 0 {
				return nil, false
			}
		} else if len(m) == 0 {
			return nil, false
		}
		for j, k := range keys {
			var t string
			if om != nil {
				t = overlayKeyText(om, k)
			} else {
				t = keyText(m, k)
			}
			if t == "" {
				return nil, false
			}
			if j == 0 {
				out[i] = t
			} else {
				out[i] += "\x00" + t
			}
		}
	}
	if len(out) <= 16 {
		for i := range out {
			for j := i + 1; j < len(out); j++ {
				if out[i] == out[j] {
					return nil, false
				}
			}
		}
		return out, true
	}
	seen := make(map[string]bool, len(out))
	for _, t := range out {
		if seen[t] {
			return nil, false
		}
		seen[t] = true
	}
	return out, true
}

func indexOf(list []string, t string) int {
	for i, e := range list {
		if e == t {
			return i
		}
	}
	return -1
}

// mergeClean merges two clean lists (see tuples) and gives what
// setAssociative gives for them, in linear rather than quadratic work: with
// one merge key, the elements in the order of the patch and then of the
// destination; with several, the patch's new elements and then the
// destination's. ok is false when the lists are not clean.
func mergeClean(dest, origin *listRef, keys []string, elem *schema, depth int, aliased bool) (node, bool, error) {
	var destBuf, originBuf [8]string
	destT, ok := tuples(dest.items, keys, destBuf[:])
	if !ok {
		return missing, false, nil
	}
	var originT []string
	switch {
	case origin == dest:
		originT = destT
	case origin != nil:
		if originT, ok = tuples(origin.items, keys, originBuf[:]); !ok {
			return missing, false, nil
		}
	}
	type entry struct {
		val     any
		destPos int
	}
	var entryBuf [16]entry
	entries := entryBuf[:0]
	// merged holds what ends up in place of each destination element.
	var mergedBuf [8]any
	var merged []any
	if len(destT) <= len(mergedBuf) {
		merged = mergedBuf[:len(destT)]
	} else {
		merged = make([]any, len(destT))
	}
	add := func(d, o node, destPos int) error {
		var val node
		var err error
		if o.ok && origin.overlay {
			val, err = mergeOverlay(d, o.v, elem, depth+1)
		} else {
			val, err = merge(d, o, elem, depth+1)
		}
		if err != nil {
			return err
		}
		if val.missingOrNull() || isEmptyMap(val.v) {
			return nil
		}
		if destPos >= 0 {
			merged[destPos] = val.v
			if val.replaced && !aliased {
				// kyaml puts the destination's element back, untouched.
				c, err := copyNormalized(dest.items[destPos], depth+1)
				if err != nil {
					return err
				}
				merged[destPos] = c
			}
		}
		entries = append(entries, entry{val: val.v, destPos: destPos})
		return nil
	}
	for i, t := range originT {
		d := missing
		pos := indexOf(destT, t)
		if pos >= 0 {
			d = present(dest.items[pos])
		}
		if err := add(d, present(origin.items[i]), pos); err != nil {
			return missing, true, err
		}
	}
	for i, t := range destT {
		if origin != nil && indexOf(originT, t) >= 0 {
			continue
		}
		if err := add(present(dest.items[i]), missing, i); err != nil {
			return missing, true, err
		}
	}
	var outBuf [8]any
	out := outBuf[:0]
	if len(keys) == 1 {
		for _, e := range entries {
			if e.destPos >= 0 {
				out = append(out, merged[e.destPos])
			} else {
				out = append(out, e.val)
			}
		}
	} else {
		for _, e := range entries {
			if e.destPos < 0 {
				out = append(out, e.val)
			}
		}
		for _, m := range merged {
			if m != nil {
				out = append(out, m)
			}
		}
	}
	if !aliased && dest.items != nil && sameElements(out, dest.items) {
		// Copy-on-write: the merge gives back the destination's own
		// elements, in its order. (A nil list becomes an empty one.)
		return dest.value(), true, nil
	}
	res := make([]any, len(out))
	copy(res, out)
	return present(res), true, nil
}

// sameElements reports whether two lists hold the same elements (see
// sameValue) in the same order.
func sameElements(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !sameValue(a[i], b[i]) {
			return false
		}
	}
	return true
}
