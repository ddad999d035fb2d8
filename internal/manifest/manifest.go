// Package manifest reads Kubernetes objects from YAML and JSON files,
// folders and streams: multi-document YAML, `kind: List` (and any *List with
// items) expanded into their items, every object tagged with where it came
// from. It streams, so memory does not grow with the number of documents.
package manifest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v2"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// maxDepth bounds the nesting of decoded documents.
const maxDepth = 256

// jsonValue converts a value decoded by go.yaml.in/yaml/v2 into the JSON
// value sigs.k8s.io/yaml would produce: string map keys, int64 integers,
// float64 other numbers.
func jsonValue(v any, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("document nests deeper than %d levels", maxDepth)
	}
	switch t := v.(type) {
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			var key string
			switch kt := k.(type) {
			case string:
				key = kt
			case nil:
				key = "null"
			case float64:
				key = strconv.FormatFloat(kt, 'g', -1, 64)
			default:
				key = fmt.Sprint(kt)
			}
			c, err := jsonValue(e, depth+1)
			if err != nil {
				return nil, err
			}
			m[key] = c
		}
		return m, nil
	case []any:
		for i, e := range t {
			c, err := jsonValue(e, depth+1)
			if err != nil {
				return nil, err
			}
			t[i] = c
		}
		return t, nil
	case int:
		return int64(t), nil
	case int64:
		return t, nil
	case uint64:
		if t <= math.MaxInt64 {
			return int64(t), nil
		}
		return float64(t), nil
	case float64:
		if math.IsInf(t, 0) || math.IsNaN(t) {
			return nil, fmt.Errorf("the number %v cannot be represented in JSON", t)
		}
		if t == math.Trunc(t) && math.Abs(t) < 1<<53 && !isNegZero(t) {
			// JSON has one number type: 1.0 decodes as the integer 1.
			return int64(t), nil
		}
		return t, nil
	default:
		return v, nil
	}
}

func isNegZero(f float64) bool { return f == 0 && math.Signbit(f) }

// MaxDocumentBytes bounds one YAML document; larger documents are an error.
const MaxDocumentBytes = 8 << 20

// Stdin is the path that names standard input.
const Stdin = "-"

// Object is one decoded object.
type Object struct {
	// Source is the file the object came from ("-" for standard input).
	Source string
	// Index is the position of the document in its file, from 0.
	Index int
	// Object is the decoded object, with numbers as int64 or float64.
	Object map[string]any
}

// Kind returns the object's kind.
func (o Object) Kind() string { s, _ := o.Object["kind"].(string); return s }

// APIVersion returns the object's apiVersion.
func (o Object) APIVersion() string { s, _ := o.Object["apiVersion"].(string); return s }

// Name returns metadata.name.
func (o Object) Name() string {
	md, _ := o.Object["metadata"].(map[string]any)
	s, _ := md["name"].(string)
	return s
}

// Namespace returns metadata.namespace.
func (o Object) Namespace() string {
	md, _ := o.Object["metadata"].(map[string]any)
	s, _ := md["namespace"].(string)
	return s
}

// Describe names the object for error messages: `file#index Kind/name`.
func (o Object) Describe() string {
	return fmt.Sprintf("%s#%d %s/%s", o.Source, o.Index, o.Kind(), o.Name())
}

// Error is a decoding problem, with the file and document it was found in.
type Error struct {
	Source string
	Index  int
	Err    error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: document %d: %v", e.Source, e.Index, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Files expands paths into the files they name: files as given, folders
// walked recursively for .yaml, .yml and .json files in lexical order, "-"
// kept for standard input.
func Files(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		if p == Stdin {
			out = append(out, p)
			continue
		}
		info, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			out = append(out, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			switch strings.ToLower(filepath.Ext(path)) {
			case ".yaml", ".yml", ".json":
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

// ReadFiles decodes every object in paths (files, folders, "-") and calls fn
// for each, in order. It stops at the first error.
func ReadFiles(paths []string, stdin io.Reader, fn func(Object) error) error {
	files, err := Files(paths)
	if err != nil {
		return err
	}
	for _, f := range files {
		if f == Stdin {
			if err := Decode(stdin, Stdin, fn); err != nil {
				return err
			}
			continue
		}
		if err := readFile(f, fn); err != nil {
			return err
		}
	}
	return nil
}

func readFile(path string, fn func(Object) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return Decode(f, path, fn)
}

// ReadAll decodes every object in paths into a slice.
func ReadAll(paths []string, stdin io.Reader) ([]Object, error) {
	var out []Object
	err := ReadFiles(paths, stdin, func(o Object) error {
		out = append(out, o)
		return nil
	})
	return out, err
}

// Decode reads a YAML or JSON stream of one or more documents and calls fn
// for every object. Empty documents are skipped; Lists are expanded.
func Decode(r io.Reader, source string, fn func(Object) error) error {
	return Split(r, source, func(index int, doc []byte) error {
		objs, err := DecodeObjects(doc)
		if err != nil {
			return &Error{Source: source, Index: index, Err: err}
		}
		for _, o := range objs {
			if err := fn(Object{Source: source, Index: index, Object: o}); err != nil {
				return err
			}
		}
		return nil
	})
}

// Split reads a YAML stream and calls fn with each raw document, without
// decoding it, so that callers can decode documents in parallel.
func Split(r io.Reader, source string, fn func(index int, doc []byte) error) error {
	reader := utilyaml.NewYAMLReader(bufio.NewReaderSize(r, 64<<10))
	for index := 0; ; index++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return &Error{Source: source, Index: index, Err: err}
		}
		if len(doc) > MaxDocumentBytes {
			return &Error{Source: source, Index: index, Err: fmt.Errorf("document is %d bytes, more than the limit of %d", len(doc), MaxDocumentBytes)}
		}
		if err := fn(index, doc); err != nil {
			return err
		}
	}
}

// SplitFiles is Split over files, folders and "-", as ReadFiles.
func SplitFiles(paths []string, stdin io.Reader, fn func(source string, index int, doc []byte) error) error {
	files, err := Files(paths)
	if err != nil {
		return err
	}
	for _, f := range files {
		split := func(r io.Reader) error {
			return Split(r, f, func(index int, doc []byte) error { return fn(f, index, doc) })
		}
		if f == Stdin {
			if err := split(stdin); err != nil {
				return err
			}
			continue
		}
		file, err := os.Open(f)
		if err != nil {
			return err
		}
		err = split(file)
		file.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// DecodeObjects decodes one document into the objects it holds: none for
// an empty document, the items of a List, or the object itself.
func DecodeObjects(doc []byte) ([]map[string]any, error) {
	obj, err := DecodeDocument(doc)
	if err != nil || obj == nil {
		return nil, err
	}
	items, ok := listItems(obj)
	if !ok {
		return []map[string]any{obj}, nil
	}
	out := make([]map[string]any, 0, len(items))
	for i, item := range items {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("items[%d] is not an object", i)
		}
		out = append(out, m)
	}
	return out, nil
}

// DecodeDocument decodes one YAML or JSON document into an object. It
// returns nil for an empty document and an error for a document that is not
// a mapping.
func DecodeDocument(doc []byte) (map[string]any, error) {
	trimmed := bytes.TrimSpace(doc)
	if len(trimmed) == 0 || isOnlyComments(trimmed) {
		return nil, nil
	}
	var v any
	if trimmed[0] == '{' {
		if err := utiljson.Unmarshal(trimmed, &v); err != nil {
			return nil, err
		}
	} else {
		// Decode YAML straight into Go values with the YAML 1.1 library
		// that sigs.k8s.io/yaml (and so kubectl) uses, without its JSON
		// round trip, then bring the values to their JSON forms.
		var y any
		if err := yaml.Unmarshal(doc, &y); err != nil {
			return nil, err
		}
		var err error
		if v, err = jsonValue(y, 0); err != nil {
			return nil, err
		}
	}
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("document is a %T, not an object", v)
	}
	return m, nil
}

func isOnlyComments(b []byte) bool {
	for _, line := range bytes.Split(b, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' && !bytes.Equal(line, []byte("---")) {
			return false
		}
	}
	return true
}

func listItems(obj map[string]any) ([]any, bool) {
	kind, _ := obj["kind"].(string)
	if !strings.HasSuffix(kind, "List") {
		return nil, false
	}
	items, ok := obj["items"].([]any)
	return items, ok
}
