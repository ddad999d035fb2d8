// Package variables implements Kyverno's variable substitution: the
// {{ expression }} variables and $(path) references that may appear in any
// string, and any map key, of a policy document (Kyverno's
// pkg/engine/variables, v1.19).
//
// # Variables
//
// A variable is the JMESPath expression between "{{" and "}}", evaluated
// against the data document (the JSON context: request, element,
// elementIndex, images, context entries, ...; they are all keys of the data
// map). A string that is exactly one variable ("{{ request.object.spec }}")
// is replaced by the value with its JSON type (object, array, number, bool,
// null). A variable with text around it is rendered into the string: strings
// as they are, everything else as JSON (numbers without a trailing ".0",
// objects with sorted keys, null as "null").
//
// Substitution repeats until no variable is left, which makes nested
// variables work: in "{{ data.\"{{ request.namespace }}\" }}" the inner
// variable is substituted first. Text substituted into a string is scanned
// again, so a value that contains "{{ x }}" is itself substituted, unless the
// variable is written "{{- expression }}" (a shallow substitution: its value
// is inserted literally). A value substituted for a whole string is an
// object or array whose strings are substituted in turn.
//
// "\{{" escapes a variable: the text is kept, without the backslash. Keys are
// substituted like values and must produce strings (a key that resolves to
// null is kept unchanged).
//
// {{@}} is the value at the string's own location in the resource: the
// location is taken from the document path (see WithPath), after a
// "foreach" component and minus its first two components (for example
// "mutate", "patchStrategicMerge"), under "target" when the data has a
// "target" key and under "request.object" otherwise. For a DELETE request
// (request.operation is "DELETE"), every "request.object" in a variable is
// read as "request.oldObject".
//
// A variable that cannot be resolved, including one that names a missing key,
// is an error (ResolveError) wherever it appears; Kyverno's preconditions and
// deny conditions resolve variables the same way. Kyverno's other special
// variables (request.operation, serviceAccountName,
// serviceAccountNamespace, images, element, elementIndex, @ in foreach) are
// ordinary keys of the data the caller builds.
//
// # References
//
// $(path) is replaced by the string at path in the same document: a path
// relative to the string's location ("./../name") or absolute, with anchors
// ignored ("(name)" matches "name"). A leading operator (">=", "<=", ">",
// "<", "!") is kept in front of the value. "\$(" escapes a reference.
// References only depend on the document and are resolved by Compile.
package variables

import (
	"strings"

	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/jmespath"
)

// Bounds on untrusted policies.
const (
	// MaxVariables bounds the number of variables in one document.
	MaxVariables = 4096
	// MaxLookups bounds the number of variables one Evaluate resolves,
	// counting nested and repeated substitutions.
	MaxLookups = 10000
	// MaxPasses bounds the substitution passes over one string.
	MaxPasses = 64
	// MaxStringLength bounds the length of a substituted string.
	MaxStringLength = 1 << 20
	// MaxDepth bounds the nesting of substituted values.
	MaxDepth = 64
)

// Option configures Compile.
type Option func(*compileConfig)

type compileConfig struct {
	path string
}

// WithPath sets the path of the document in Kyverno's format, for example
// "/validate/pattern" or "/mutate/foreach/0/patchStrategicMerge". It prefixes
// the paths in error messages and the locations of $(...) references and of
// {{@}} (which Kyverno computes from the path of the string in the document
// it substitutes). The default is "", the root.
func WithPath(path string) Option {
	return func(c *compileConfig) { c.path = path }
}

// EvalOption configures Evaluate.
type EvalOption func(*evalConfig)

type evalConfig struct {
	operation    string
	hasOperation bool
}

// WithOperation sets the admission operation, overriding the
// request.operation field of the data. With "DELETE", variables read
// request.oldObject where they name request.object.
func WithOperation(op string) EvalOption {
	return func(c *evalConfig) {
		c.operation = op
		c.hasOperation = true
	}
}

// Template is a document (any JSON value) with its variables parsed and their
// JMESPath compiled. It is safe for concurrent use.
type Template struct {
	jp      *jmespath.Interpreter
	doc     any // the document as given
	root    *tnode
	refErr  error // error resolving $(...) references, reported by Evaluate
	hasVars bool
}

// Compile parses the variables of doc, which must be unstructured JSON, and
// resolves its $(...) references. A syntax error in a variable is not a
// compile error: Kyverno reports it when it substitutes the variable, so
// Evaluate does. Compile fails only when the document exceeds MaxVariables.
// Compile does not modify doc; the Template keeps a reference to it.
func Compile(doc any, jp *jmespath.Interpreter, opts ...Option) (*Template, error) {
	var cfg compileConfig
	for _, opt := range opts {
		if opt != nil {
			opt(&cfg)
		}
	}
	t := &Template{jp: jp, doc: doc}
	if !hasMarkers(doc) {
		return t, nil
	}
	t.hasVars = true
	resolved := doc
	if hasReferences(doc) {
		var err error
		if resolved, err = substituteReferences(doc, cfg.path); err != nil {
			t.refErr = err
			return t, nil
		}
	}
	c := compiler{jp: jp}
	t.root, _ = c.compile(resolved, cfg.path)
	if c.vars > MaxVariables {
		return nil, &LimitError{What: "more than " + itoa(MaxVariables) + " variables in a document"}
	}
	return t, nil
}

// HasVariables reports whether the document has any {{ }} variable or $()
// reference. When it has none, Evaluate returns the document itself.
func (t *Template) HasVariables() bool { return t.hasVars }

// Evaluate substitutes the variables against data (the JSON context) and
// returns the new document. It never modifies the template, the document or
// data; the result may share unmodified parts with the document and with
// data, so callers must not modify it in place.
func (t *Template) Evaluate(data any, opts ...EvalOption) (any, error) {
	if !t.hasVars {
		return t.doc, nil
	}
	if t.refErr != nil {
		return nil, t.refErr
	}
	var cfg evalConfig
	for _, opt := range opts {
		if opt != nil {
			opt(&cfg)
		}
	}
	s := newState(t.jp, data, cfg)
	return s.evalNode(t.root)
}

// Substitute substitutes the variables of one string against data; it is
// Compile and Evaluate for one-off use.
func Substitute(s string, jp *jmespath.Interpreter, data any) (any, error) {
	t, err := Compile(s, jp)
	if err != nil {
		return nil, err
	}
	return t.Evaluate(data)
}

// hasMarkers reports whether any string or key of doc contains "{{" or "$(".
func hasMarkers(doc any) bool {
	switch v := doc.(type) {
	case string:
		return hasMarker(v)
	case map[string]any:
		for k, e := range v {
			if hasMarker(k) || hasMarkers(e) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if hasMarkers(e) {
				return true
			}
		}
	}
	return false
}

func hasMarker(s string) bool {
	return strings.Contains(s, "{{") || strings.Contains(s, "$(")
}
