package mutate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"
)

// Bounds on a JSON patch. Kyverno has none; these only stop pathological
// patches (a chain of copies doubles the document each time).
const (
	maxPatchOps    = 10000
	maxCopiedNodes = 1 << 20
)

// JSON6902 applies a patch document (YAML or JSON list of operations,
// already substituted) to resource and returns the new resource.
//
// It behaves as Kyverno's patchesJson6902, which runs evanphx/json-patch
// with negative indices allowed ("-1" is the last element), "remove" of a
// missing path doing nothing, and "add" creating the missing parents of its
// path (objects, or arrays when the next path segment is a number or "-").
// A patch that does not start with "[" is read as YAML.
//
// It returns a *SkipError and a nil map when the result equals resource, and
// ErrEmptyRule for an empty patch. Other errors carry evanphx/json-patch's
// text.
//
// resource is never modified. As with StrategicMerge, the result may share
// the top-level fields of resource that no operation names (and that need
// no normalisation) instead of copying them: callers must treat it as
// immutable.
func JSON6902(resource map[string]any, patch string) (map[string]any, error) {
	if patch == "" {
		return nil, ErrEmptyRule
	}
	if resource == nil {
		return nil, errors.New("the resource to patch must be an object")
	}
	raw := []byte(patch)
	if patch[0] != '[' {
		var err error
		if raw, err = yaml.YAMLToJSON(raw); err != nil {
			return nil, fmt.Errorf("failed to convert patchesJSON6902 to JSON: %w", err)
		}
	}
	ops, err := jsonpatch.DecodePatch(raw)
	if err != nil {
		return nil, fmt.Errorf("failed to decode patches: %w", err)
	}
	if len(ops) > maxPatchOps {
		return nil, fmt.Errorf("failed to decode patches: more than %d operations", maxPatchOps)
	}
	doc, err := patchCopy(resource, ops)
	if err != nil {
		return nil, fmt.Errorf("invalid resource: %w", err)
	}
	p := &patcher{root: doc, selfSrc: resource, hasSelf: true}
	for _, op := range ops {
		if err := p.apply(op); err != nil {
			return nil, err
		}
	}
	if p.nulls {
		p.root = dropNullNodes(p.root)
	}
	out, ok := p.root.(map[string]any)
	if ok && out == nil {
		return nil, errors.New("json: error calling MarshalJSON for type *jsonpatch.partialDoc: invalid value, expected object")
	}
	if !ok {
		return nil, fmt.Errorf("failed to unmarshal patched resource: the patched document is %s, not an object", kindOf(p.root))
	}
	if jsonEqual(out, resource) {
		return nil, &SkipError{Message: NoPatchesApplied}
	}
	return out, nil
}

// nullNode is a null that an operation put in the document: evanphx/json-patch
// keeps it as a value, where a null of the original document reads as
// missing.
type nullNode struct{}

// dropNullNodes turns the nulls that operations added into plain nulls. It
// writes only where it finds one, so that it never writes to what the
// document shares with the resource (which holds none).
func dropNullNodes(v any) any {
	switch t := v.(type) {
	case nullNode:
		return nil
	case map[string]any:
		for k, e := range t {
			if _, ok := e.(nullNode); ok {
				t[k] = nil
			} else {
				dropNullNodes(e)
			}
		}
	case []any:
		for i, e := range t {
			if _, ok := e.(nullNode); ok {
				t[i] = nil
			} else {
				dropNullNodes(e)
			}
		}
	}
	return v
}

// patchCopy returns what copyValue(resource, true, 0) returns, the document
// that the operations then change in place, but shares the top-level fields
// that no operation reaches: operations only descend from the root through
// the first segment of their "path" and "from", and what they add is new or
// comes from the fields they reach. When an operation works on the root
// itself, it copies everything.
func patchCopy(resource map[string]any, ops jsonpatch.Patch) (any, error) {
	var buf [8]string
	touched := buf[:0]
	for _, op := range ops {
		for _, field := range [2]string{"path", "from"} {
			if _, ok := op[field]; !ok && field == "from" {
				continue
			}
			split := strings.SplitN(opString(op, field), "/", 3)
			if len(split) < 2 || split[1] == "" {
				// the root, or its self-reference ""
				return copyValue(resource, true, 0)
			}
			touched = append(touched, decodeKey(split[1]))
		}
	}
	doc := make(map[string]any, len(resource))
	for k, v := range resource {
		if !slices.Contains(touched, k) && normalized(v, 1) {
			doc[k] = v
			continue
		}
		c, err := copyValue(v, true, 1)
		if err != nil {
			return nil, err
		}
		doc[k] = c
	}
	return doc, nil
}

// patcher applies operations to a document.
type patcher struct {
	root   any
	copied int
	// nulls is set once a nullNode is in the document.
	nulls bool

	// evanphx/json-patch resolves the empty key at the root ("//a") to a
	// copy of the document as it was parsed, detached from the document
	// being patched: changes made through it are lost. selfSrc is that
	// document, and self the copy, made on first use.
	selfSrc  any
	hasSelf  bool
	self     any
	selfMade bool
}

// selfValue returns the detached copy of the root.
func (p *patcher) selfValue() any {
	if !p.selfMade {
		c, err := copyValue(p.selfSrc, true, 0)
		if err != nil {
			// a nullNode, which copyValue does not know
			c = clone(p.selfSrc)
		}
		p.self, p.selfMade = c, true
	}
	return p.self
}

// setRoot replaces the whole document; self becomes a copy of src, or
// nothing.
func (p *patcher) setRoot(v, src any, hasSelf bool) {
	p.root = v
	p.selfSrc, p.hasSelf, p.self, p.selfMade = src, hasSelf, nil, false
}

// container is an object or an array of the document that an operation
// works on. An array container writes its new slice back to where the array
// lives with store.
type container struct {
	obj   map[string]any
	arr   []any
	isArr bool
	store func([]any)
	// self resolves the empty key; only the root has it.
	self func() (any, func([]any))
}

func (c *container) setArr(a []any) {
	c.arr = a
	c.store(a)
}

// containerOf returns the container for a map or list value; store writes a
// list back to its slot.
func containerOf(v any, store func([]any)) (*container, bool) {
	switch t := v.(type) {
	case map[string]any:
		return &container{obj: t}, true
	case []any:
		return &container{arr: t, isArr: true, store: store}, true
	}
	return nil, false
}

func (p *patcher) rootContainer() (*container, bool) {
	c, ok := containerOf(p.root, func(a []any) { p.root = a })
	if ok && p.hasSelf {
		c.self = func() (any, func([]any)) {
			return p.selfValue(), func(a []any) { p.self = a }
		}
	}
	return c, ok
}

var pointerDecoder = strings.NewReplacer("~1", "/", "~0", "~")

func decodeKey(k string) string { return pointerDecoder.Replace(k) }

// get returns the value at key; a JSON null reads as nil with no error. The
// empty key reads the detached copy of the root at the root, and nothing
// elsewhere.
func (c *container) get(key string) (any, error) {
	if key == "" {
		if c.self == nil {
			return nil, nil
		}
		v, _ := c.self()
		return v, nil
	}
	if !c.isArr {
		if c.obj == nil {
			return nil, jsonpatch.ErrExpectedObject
		}
		v, ok := c.obj[key]
		if !ok {
			return nil, fmt.Errorf("unable to get nonexistent key: %s: %w", key, jsonpatch.ErrMissing)
		}
		return v, nil
	}
	idx, err := strconv.Atoi(key)
	if err != nil {
		return nil, err
	}
	if idx < 0 {
		if idx < -len(c.arr) {
			return nil, fmt.Errorf("Unable to access invalid index: %d: %w", idx, jsonpatch.ErrInvalidIndex)
		}
		idx += len(c.arr)
	}
	if idx >= len(c.arr) {
		return nil, fmt.Errorf("Unable to access invalid index: %d: %w", idx, jsonpatch.ErrInvalidIndex)
	}
	return c.arr[idx], nil
}

// slot returns the function that stores a list at key of c.
func (c *container) slot(key string) func([]any) {
	if key == "" {
		if c.self == nil {
			return func([]any) {}
		}
		_, store := c.self()
		return store
	}
	if !c.isArr {
		return func(a []any) {
			if c.obj != nil {
				c.obj[key] = a
			}
		}
	}
	idx, err := strconv.Atoi(key)
	if err != nil {
		return func([]any) {}
	}
	if idx < 0 {
		idx += len(c.arr)
	}
	return func(a []any) {
		if idx >= 0 && idx < len(c.arr) {
			c.arr[idx] = a
		}
	}
}

// child descends into the value at key; ok is false when there is no map or
// list there.
func (c *container) child(key string) (*container, bool) {
	v, err := c.get(key)
	if err != nil || v == nil {
		return nil, false
	}
	return containerOf(v, c.slot(key))
}

func (c *container) add(key string, val any) error {
	if !c.isArr {
		if c.obj == nil {
			return jsonpatch.ErrExpectedObject
		}
		c.obj[key] = val
		return nil
	}
	if key == "-" {
		c.setArr(append(c.arr, val))
		return nil
	}
	idx, err := strconv.Atoi(key)
	if err != nil {
		return fmt.Errorf("value was not a proper array index: '%s': %w", key, err)
	}
	size := len(c.arr) + 1
	if idx >= size {
		return fmt.Errorf("Unable to access invalid index: %d: %w", idx, jsonpatch.ErrInvalidIndex)
	}
	if idx < 0 {
		if idx < -size {
			return fmt.Errorf("Unable to access invalid index: %d: %w", idx, jsonpatch.ErrInvalidIndex)
		}
		idx += size
	}
	a := make([]any, size)
	copy(a, c.arr[:idx])
	a[idx] = val
	copy(a[idx+1:], c.arr[idx:])
	c.setArr(a)
	return nil
}

// set replaces the value at an existing key.
func (c *container) set(key string, val any) error {
	if !c.isArr {
		if c.obj == nil {
			return jsonpatch.ErrExpectedObject
		}
		c.obj[key] = val
		return nil
	}
	idx, err := strconv.Atoi(key)
	if err != nil {
		return err
	}
	if idx < 0 {
		if idx < -len(c.arr) {
			return fmt.Errorf("Unable to access invalid index: %d: %w", idx, jsonpatch.ErrInvalidIndex)
		}
		idx += len(c.arr)
	}
	c.arr[idx] = val
	return nil
}

// remove deletes the value at key; a missing key or index is not an error.
func (c *container) remove(key string) error {
	if !c.isArr {
		if c.obj == nil {
			return jsonpatch.ErrExpectedObject
		}
		delete(c.obj, key)
		return nil
	}
	idx, err := strconv.Atoi(key)
	if err != nil {
		return err
	}
	if idx >= len(c.arr) {
		return nil
	}
	if idx < 0 {
		if idx < -len(c.arr) {
			return nil
		}
		idx += len(c.arr)
	}
	a := make([]any, 0, len(c.arr)-1)
	a = append(a, c.arr[:idx]...)
	a = append(a, c.arr[idx+1:]...)
	c.setArr(a)
	return nil
}

// find returns the container holding the last segment of path, and that
// segment decoded. Like evanphx/json-patch it ignores what precedes the
// first "/".
func (p *patcher) find(path string) (*container, string, bool) {
	split := strings.Split(path, "/")
	if len(split) < 2 {
		if path != "" {
			return nil, "", false
		}
		c, ok := p.rootContainer()
		return c, "", ok
	}
	c, ok := p.rootContainer()
	if !ok {
		return nil, "", false
	}
	for _, part := range split[1 : len(split)-1] {
		if c, ok = c.child(decodeKey(part)); !ok {
			return nil, "", false
		}
	}
	return c, decodeKey(split[len(split)-1]), true
}

// ensurePath creates the missing parents of path, as evanphx/json-patch's
// EnsurePathExistsOnAdd does: a missing segment becomes an array when the
// next segment is a number or "-", an object otherwise.
func (p *patcher) ensurePath(path string) error {
	split := strings.Split(path, "/")
	if len(split) < 2 {
		return nil
	}
	parts := split[1:]
	c, ok := p.rootContainer()
	if !ok {
		return jsonpatch.ErrInvalid
	}
	for pi, part := range parts[:len(parts)-1] {
		target, err := c.get(decodeKey(part))
		if err == nil && target != nil {
			next, ok := containerOf(target, c.slot(decodeKey(part)))
			if !ok {
				return jsonpatch.ErrInvalid
			}
			c = next
			continue
		}
		if idx, err := strconv.Atoi(part); err == nil && c.isArr && idx >= len(c.arr)+1 {
			for i := len(c.arr); i <= idx-1; i++ {
				_ = c.add(strconv.Itoa(i), nullNode{})
				p.nulls = true
			}
		}
		nextPart := parts[pi+1]
		if idx, err := strconv.Atoi(nextPart); err == nil || nextPart == "-" {
			if idx < 0 {
				if idx < -1 {
					return fmt.Errorf("Unable to ensure path for negative index other than -1: %d: %w", idx, jsonpatch.ErrInvalidIndex)
				}
				idx = 0
			}
			at, inserted := c.insertionSlot(part)
			arr := make([]any, idx)
			for i := range arr {
				arr[i] = nullNode{}
				p.nulls = true
			}
			_ = c.add(part, arr)
			child := &container{arr: arr, isArr: true, store: func([]any) {}}
			if inserted {
				child.store = at
			}
			c = child
		} else {
			obj := map[string]any{}
			_ = c.add(part, obj)
			c = &container{obj: obj}
		}
	}
	return nil
}

// insertionSlot returns where add(key, v) puts v, and whether it puts it
// anywhere, so that a new array can be written back after it grows.
func (c *container) insertionSlot(key string) (func([]any), bool) {
	if !c.isArr {
		if c.obj == nil {
			return nil, false
		}
		return func(a []any) { c.obj[key] = a }, true
	}
	var idx int
	if key == "-" {
		idx = len(c.arr)
	} else {
		i, err := strconv.Atoi(key)
		if err != nil {
			return nil, false
		}
		size := len(c.arr) + 1
		if i >= size || i < -size {
			return nil, false
		}
		if i < 0 {
			i += size
		}
		idx = i
	}
	return func(a []any) {
		if idx < len(c.arr) {
			c.arr[idx] = a
		}
	}, true
}

func opString(op jsonpatch.Operation, field string) string {
	raw, ok := op[field]
	if !ok || raw == nil {
		return ""
	}
	var s string
	_ = json.Unmarshal([]byte(*raw), &s)
	return s
}

// opValue decodes the "value" of an operation as the unstructured decoder
// would read it in the patched document; a null is a nullNode.
func (p *patcher) opValue(op jsonpatch.Operation) (any, error) {
	raw, ok := op["value"]
	if !ok || raw == nil {
		p.nulls = true
		return nullNode{}, nil
	}
	var v any
	if err := utiljson.Unmarshal([]byte(*raw), &v); err != nil {
		return nil, err
	}
	if err := checkDepth(v, 0); err != nil {
		return nil, err
	}
	return v, nil
}

func (p *patcher) apply(op jsonpatch.Operation) error {
	switch op.Kind() {
	case "add":
		return p.add(op)
	case "remove":
		return p.remove(op)
	case "replace":
		return p.replace(op)
	case "move":
		return p.move(op)
	case "test":
		return p.test(op)
	case "copy":
		return p.copy(op)
	}
	return fmt.Errorf("Unexpected kind: %s", op.Kind())
}

func (p *patcher) add(op jsonpatch.Operation) error {
	path := opString(op, "path")
	val, err := p.opValue(op)
	if err != nil {
		return err
	}
	if path == "" {
		switch val.(type) {
		case map[string]any, []any:
			p.setRoot(val, clone(val), true)
			return nil
		case nullNode:
			// an object that is not there
			p.setRoot(map[string]any(nil), nullNode{}, true)
			return nil
		}
		return fmt.Errorf("json: cannot unmarshal %s into Go value of type map[string]*jsonpatch.lazyNode", jsonTypeName(val))
	}
	if err := p.ensurePath(path); err != nil {
		return err
	}
	c, key, ok := p.find(path)
	if !ok {
		return fmt.Errorf("add operation does not apply: doc is missing path: \"%s\": %w", path, jsonpatch.ErrMissing)
	}
	if err := c.add(key, val); err != nil {
		return fmt.Errorf("error in add for path: '%s': %w", path, err)
	}
	return nil
}

func (p *patcher) remove(op jsonpatch.Operation) error {
	path := opString(op, "path")
	c, key, ok := p.find(path)
	if !ok {
		return nil
	}
	if err := c.remove(key); err != nil {
		return fmt.Errorf("error in remove for path: '%s': %w", path, err)
	}
	return nil
}

func (p *patcher) replace(op jsonpatch.Operation) error {
	path := opString(op, "path")
	val, err := p.opValue(op)
	if err != nil {
		return err
	}
	if path == "" {
		switch val.(type) {
		case map[string]any, []any:
			p.setRoot(val, nil, false)
			return nil
		case nullNode:
			// evanphx/json-patch reads null as an array that is not there
			// (and fails, or panics, later).
			p.setRoot([]any(nil), nil, false)
			return nil
		}
		return fmt.Errorf("replace operation value must be object or array: %w", err)
	}
	c, key, ok := p.find(path)
	if !ok {
		return fmt.Errorf("replace operation does not apply: doc is missing path: %s: %w", path, jsonpatch.ErrMissing)
	}
	if _, err := c.get(key); err != nil {
		return fmt.Errorf("replace operation does not apply: doc is missing key: %s: %w", path, jsonpatch.ErrMissing)
	}
	if err := c.set(key, val); err != nil {
		return fmt.Errorf("error in remove for path: '%s': %w", path, err)
	}
	return nil
}

func (p *patcher) move(op jsonpatch.Operation) error {
	from := opString(op, "from")
	if from == "" {
		return fmt.Errorf("unable to move entire document to another path: %w", jsonpatch.ErrInvalid)
	}
	c, key, ok := p.find(from)
	if !ok {
		return fmt.Errorf("move operation does not apply: doc is missing from path: %s: %w", from, jsonpatch.ErrMissing)
	}
	val, err := c.get(key)
	if err != nil {
		return fmt.Errorf("error in move for path: '%s': %w", key, err)
	}
	if err := c.remove(key); err != nil {
		return fmt.Errorf("error in move for path: '%s': %w", key, err)
	}
	if key == "" && c.self != nil {
		// The detached copy of the root may be moved into the document
		// and then into itself; evanphx/json-patch then builds a cycle.
		val = clone(val)
	}
	path := opString(op, "path")
	c, key, ok = p.find(path)
	if !ok {
		return fmt.Errorf("move operation does not apply: doc is missing destination path: %s: %w", path, jsonpatch.ErrMissing)
	}
	if err := c.add(key, val); err != nil {
		return fmt.Errorf("error in move for path: '%s': %w", path, err)
	}
	return nil
}

func (p *patcher) copy(op jsonpatch.Operation) error {
	from := opString(op, "from")
	c, key, ok := p.find(from)
	if !ok {
		return fmt.Errorf("copy operation does not apply: doc is missing from path: \"%s\": %w", from, jsonpatch.ErrMissing)
	}
	val, err := c.get(key)
	if err != nil {
		return fmt.Errorf("error in copy for from: '%s': %w", from, err)
	}
	path := opString(op, "path")
	c, key, ok = p.find(path)
	if !ok {
		return fmt.Errorf("copy operation does not apply: doc is missing destination path: %s: %w", path, jsonpatch.ErrMissing)
	}
	p.copied += countNodes(val)
	if p.copied > maxCopiedNodes {
		return fmt.Errorf("unable to complete the copy: more than %d values copied", maxCopiedNodes)
	}
	if err := c.add(key, clone(val)); err != nil {
		return fmt.Errorf("error while adding value during copy: %w", err)
	}
	return nil
}

func countNodes(v any) int {
	n := 1
	switch t := v.(type) {
	case map[string]any:
		for _, e := range t {
			n += countNodes(e)
		}
	case []any:
		for _, e := range t {
			n += countNodes(e)
		}
	}
	return n
}

func (p *patcher) test(op jsonpatch.Operation) error {
	path := opString(op, "path")
	want, err := testValue(op)
	if err != nil {
		return err
	}
	failed := fmt.Errorf("testing value %s failed: %w", path, jsonpatch.ErrTestFailed)
	if path == "" {
		if want != nil && rawEqual(p.root, want) {
			return nil
		}
		return failed
	}
	c, key, ok := p.find(path)
	if !ok {
		return fmt.Errorf("test operation does not apply: is missing path: %s: %w", path, jsonpatch.ErrMissing)
	}
	val, err := c.get(key)
	if err != nil && !errors.Is(err, jsonpatch.ErrMissing) {
		return fmt.Errorf("error in test for path: '%s': %w", path, err)
	}
	if val == nil {
		if want == nil {
			return nil
		}
		return failed
	}
	if want == nil || !rawEqual(val, want) {
		return failed
	}
	return nil
}

// isNullNode reports whether v is a null an operation added.
func isNullNode(v any) bool {
	_, ok := v.(nullNode)
	return ok
}

// testValue decodes the "value" of a test operation keeping the text of its
// numbers, which evanphx/json-patch compares as text.
func testValue(op jsonpatch.Operation) (any, error) {
	raw, ok := op["value"]
	if !ok || raw == nil {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(*raw)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if err := checkDepth(v, 0); err != nil {
		return nil, err
	}
	return v, nil
}

// rawEqual compares a document value with a decoded patch value the way
// evanphx/json-patch does: numbers by their JSON text.
func rawEqual(doc, patch any) bool {
	switch p := patch.(type) {
	case map[string]any:
		d, ok := doc.(map[string]any)
		if !ok || len(d) != len(p) {
			return false
		}
		for k, pv := range p {
			dv, ok := d[k]
			if !ok || (dv == nil) != (pv == nil) || isNullNode(dv) {
				return false
			}
			if pv != nil && !rawEqual(dv, pv) {
				return false
			}
		}
		return true
	case []any:
		d, ok := doc.([]any)
		if !ok || len(d) != len(p) {
			return false
		}
		for i := range p {
			if (d[i] == nil) != (p[i] == nil) || isNullNode(d[i]) {
				return false
			}
			if p[i] != nil && !rawEqual(d[i], p[i]) {
				return false
			}
		}
		return true
	case string:
		d, ok := doc.(string)
		return ok && d == p
	case bool:
		d, ok := doc.(bool)
		return ok && d == p
	case json.Number:
		if _, ok := toFloat(doc); !ok {
			return false
		}
		return scalarText(doc) == p.String()
	case nil:
		return doc == nil
	}
	return false
}

func jsonTypeName(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case bool:
		return "bool"
	default:
		return "number"
	}
}
