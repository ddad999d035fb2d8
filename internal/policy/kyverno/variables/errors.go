package variables

import (
	"errors"
	"fmt"

	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/jmespath"
)

// ResolveError reports a {{ }} variable that could not be resolved. Its
// message is Kyverno's: "failed to resolve <variable> at path <path>: <cause>",
// where cause is "JMESPath query failed: <error>" for evaluation errors,
// "incorrect query <variable>: <error>" for syntax errors and
// "invalid query (nil)" for an empty variable.
//
// Kyverno (v1.19) reports every unresolved variable, including a missing key,
// as an error: preconditions, deny conditions, patterns and messages all fail
// the rule with it. Use NotFound to tell a missing key apart from other
// causes.
type ResolveError struct {
	// Variable is the JMESPath expression, after {{@}} and DELETE request
	// rewriting.
	Variable string
	// Path is the location of the string in the document, in Kyverno's
	// format ("/spec/containers/0/image"; "" for the root).
	Path string
	// Err is the cause.
	Err error
}

func (e *ResolveError) Error() string {
	return fmt.Sprintf("failed to resolve %v at path %s: %v", e.Variable, e.Path, e.Err)
}

// Unwrap returns the cause.
func (e *ResolveError) Unwrap() error { return e.Err }

// NotFound reports whether the variable failed because a key it names does
// not exist (a jmespath.NotFoundError, "Unknown key ... in path").
func (e *ResolveError) NotFound() bool {
	var nf jmespath.NotFoundError
	return errors.As(e.Err, &nf)
}

// ReferenceError reports a $(...) reference that could not be resolved:
// "failed to resolve <reference> at path <path>: <cause>", or, when the
// reference points at nothing, Kyverno's "got nil resolved variable
// <reference> at path <path>: <nil>".
type ReferenceError struct {
	Reference string
	Path      string
	// Err is the cause; nil when the reference resolved to nothing.
	Err error
}

func (e *ReferenceError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("got nil resolved variable %v at path %s: <nil>", e.Reference, e.Path)
	}
	return fmt.Sprintf("failed to resolve %v at path %s: %v", e.Reference, e.Path, e.Err)
}

// Unwrap returns the cause.
func (e *ReferenceError) Unwrap() error { return e.Err }

// NotResolvedReferenceError reports a $(...) reference whose value is not a
// string, with Kyverno's message.
type NotResolvedReferenceError struct {
	Reference string
	Path      string
}

func (e *NotResolvedReferenceError) Error() string {
	return fmt.Sprintf("NotResolvedReferenceErr,reference %s not resolved at path %s", e.Reference, e.Path)
}

// KeyError reports a map key whose variables did not produce a string.
type KeyError struct {
	Key string
}

func (e *KeyError) Error() string {
	return fmt.Sprintf("expected string after substituting variables in key \"%s\"", e.Key)
}

// LimitError reports that a document or an evaluation exceeded one of the
// bounds of this package (see the Max constants).
type LimitError struct {
	// What names the bound.
	What string
}

func (e *LimitError) Error() string {
	return "variable substitution limit exceeded: " + e.What
}
