package mutate

import (
	"slices"
	"strings"
)

// The overlay is preprocessed as a tree of omap values, lists ([]any) and
// scalars rather than as Go maps. Preprocessing visits each map of the
// overlay many times, always in the order of its keys, and changes it as it
// goes; an omap keeps its entries sorted, so that these visits are loops
// over a short slice instead of map iterations and sorts. The merge then
// reads the preprocessed overlay where it is (see mergeOverlay), and builds
// Go maps only for what goes into the result.
//
// Every overlay value is owned by the StrategicMerge call that built it:
// nothing in it is shared with the caller's overlay or resource. Within it,
// the copies that appendNamed makes of one element share the maps below
// their top level, which nothing changes any more.

// omap is a map of the overlay: its entries sorted by key, each key once.
type omap struct {
	entries []oentry
	// inline holds the entries of a small map, so that most maps take
	// no allocation of their own.
	inline [2]oentry
}

type oentry struct {
	key string
	val any
	// kind is the anchor of the key, which the walks ask for often.
	kind akind
}

// akind is the type of an anchor, as far as preprocessing tells them apart.
type akind uint8

const (
	akNone akind = iota
	akCondition
	akGlobal
	akAdd
	// akOther is an anchor that means nothing in a mutation.
	akOther
)

// anchorKind is anchor.Parse(key).Type, reduced to what preprocessing
// tells apart.
func anchorKind(key string) akind {
	n := len(key)
	if n < 3 || key[n-1] != ')' {
		return akNone
	}
	if key[0] == '(' {
		return akCondition
	}
	if n < 4 || key[1] != '(' {
		// no anchor, or one around an empty key
		return akNone
	}
	switch key[0] {
	case '+':
		return akAdd
	case '<':
		return akGlobal
	case '=', '^', 'X':
		return akOther
	}
	return akNone
}

// anchorKey is anchor.Parse(key).Key for a key with an anchor of the given
// kind.
func anchorKey(key string, kind akind) string {
	if kind == akCondition {
		return key[1 : len(key)-1]
	}
	return key[2 : len(key)-1]
}

// conditional reports whether the anchor is "(key)" or "<(key)".
func (k akind) conditional() bool { return k == akCondition || k == akGlobal }

// handled reports whether preprocessing handles the anchor.
func (k akind) handled() bool { return k.conditional() || k == akAdd }

func newEntry(key string, v any) oentry {
	return oentry{key: key, val: v, kind: anchorKind(key)}
}

// find returns the index of key, or where it would be inserted.
func (m *omap) find(key string) (int, bool) {
	lo, hi := 0, len(m.entries)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if m.entries[mid].key < key {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, lo < len(m.entries) && m.entries[lo].key == key
}

// get returns the value at key; nil and false when there is none.
func (m *omap) get(key string) (any, bool) {
	if len(m.entries) <= 8 {
		// Overlay maps are small: comparing for equality is cheaper
		// than ordering.
		for i := range m.entries {
			if m.entries[i].key == key {
				return m.entries[i].val, true
			}
		}
		return nil, false
	}
	if i, ok := m.find(key); ok {
		return m.entries[i].val, true
	}
	return nil, false
}

// set stores v at key.
func (m *omap) set(key string, v any) {
	i, ok := m.find(key)
	if ok {
		m.entries[i].val = v
		return
	}
	m.entries = append(m.entries, oentry{})
	copy(m.entries[i+1:], m.entries[i:])
	m.entries[i] = newEntry(key, v)
}

// del removes key.
func (m *omap) del(key string) {
	if i, ok := m.find(key); ok {
		m.entries = append(m.entries[:i], m.entries[i+1:]...)
	}
}

// keysWhere appends to buf the keys, in order, of the entries for which keep
// is true. It is a snapshot: the walks that change the map while they go
// read the values again by key, as the Go code they port does.
func (m *omap) keysWhere(buf []string, keep func(*oentry) bool) []string {
	for i := range m.entries {
		if keep(&m.entries[i]) {
			buf = append(buf, m.entries[i].key)
		}
	}
	return buf
}

func sortEntries(entries []oentry) {
	if len(entries) > 12 {
		slices.SortFunc(entries, func(a, b oentry) int { return strings.Compare(a.key, b.key) })
		return
	}
	for i := 1; i < len(entries); i++ {
		for j := i; j > 0 && entries[j].key < entries[j-1].key; j-- {
			entries[j], entries[j-1] = entries[j-1], entries[j]
		}
	}
}

// arena allocates the maps and lists of one overlay in small blocks: an
// overlay is small and lives only as long as one StrategicMerge call, so
// that a few allocations instead of two per map (one per list) save most of
// the cost of building and copying it. A map of up to two entries keeps
// them inline.
type arena struct {
	maps    []omap
	entries []oentry
	items   []any
}

// newMap returns an empty map with room for n entries.
func (a *arena) newMap(n int) *omap {
	if len(a.maps) == cap(a.maps) {
		// Blocks stay under 512 bytes, the size above which the
		// runtime gives a block of pointers a header.
		a.maps = make([]omap, 0, 4)
	}
	a.maps = a.maps[:len(a.maps)+1]
	m := &a.maps[len(a.maps)-1]
	if n <= len(m.inline) {
		m.entries = m.inline[:0]
	} else {
		if n > 12 {
			m.entries = make([]oentry, 0, n)
			return m
		}
		if cap(a.entries)-len(a.entries) < n {
			a.entries = make([]oentry, 0, 12)
		}
		i := len(a.entries)
		a.entries = a.entries[:i+n]
		// The capacity ends at n, so that set copies the entries
		// elsewhere rather than run into the next map's.
		m.entries = a.entries[i : i : i+n]
	}
	return m
}

// newList returns a list of n elements, never nil (copyValue and clone
// make empty lists, not nil ones).
func (a *arena) newList(n int) []any {
	if n == 0 {
		return []any{}
	}
	if n > 16 {
		return make([]any, n)
	}
	if cap(a.items)-len(a.items) < n {
		a.items = make([]any, 0, 16)
	}
	i := len(a.items)
	a.items = a.items[:i+n]
	return a.items[i : i+n : i+n]
}

// toOverlay converts an overlay value as copyValue(v, true, depth) copies
// it, with the same normalisation and errors.
func toOverlay(a *arena, v any, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errTooDeep
	}
	switch t := v.(type) {
	case map[string]any:
		m := a.newMap(len(t))
		deep := depth+1 > maxDepth
		for k, e := range t {
			c := e
			if deep || !isPlainScalar(e) {
				var err error
				if c, err = toOverlay(a, e, depth+1); err != nil {
					return nil, err
				}
			}
			m.entries = append(m.entries, newEntry(k, c))
		}
		sortEntries(m.entries)
		return m, nil
	case []any:
		l := a.newList(len(t))
		for i, e := range t {
			c, err := toOverlay(a, e, depth+1)
			if err != nil {
				return nil, err
			}
			l[i] = c
		}
		return l, nil
	}
	return copyValue(v, true, depth)
}

// isPlainScalar reports whether v is a scalar that copyValue keeps as it is.
func isPlainScalar(v any) bool {
	switch v.(type) {
	case string, bool, int64, nil:
		return true
	}
	return false
}

// fromValue converts a value of the resource, or an overlay that is already
// normalised, as clone copies it: numbers keep their type.
func fromValue(a *arena, v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := a.newMap(len(t))
		for k, e := range t {
			m.entries = append(m.entries, newEntry(k, fromValue(a, e)))
		}
		sortEntries(m.entries)
		return m
	case []any:
		l := a.newList(len(t))
		for i, e := range t {
			l[i] = fromValue(a, e)
		}
		return l
	}
	return v
}

// toValue converts an overlay value back to unstructured maps and lists.
func toValue(v any) any {
	switch t := v.(type) {
	case *omap:
		m := make(map[string]any, len(t.entries))
		for _, e := range t.entries {
			m[e.key] = toValue(e.val)
		}
		return m
	case []any:
		l := make([]any, len(t))
		for i, e := range t {
			l[i] = toValue(e)
		}
		return l
	}
	return v
}

// cloneOverlay deep-copies an overlay value.
func cloneOverlay(a *arena, v any) any {
	switch t := v.(type) {
	case *omap:
		m := a.newMap(len(t.entries))
		for i := range t.entries {
			e := &t.entries[i]
			m.entries = append(m.entries, oentry{key: e.key, val: cloneOverlay(a, e.val), kind: e.kind})
		}
		return m
	case []any:
		l := a.newList(len(t))
		for i, e := range t {
			l[i] = cloneOverlay(a, e)
		}
		return l
	}
	return v
}

// isOverlayScalar reports whether an overlay value is neither a map nor a
// list.
func isOverlayScalar(v any) bool {
	switch v.(type) {
	case *omap, []any:
		return false
	}
	return true
}
