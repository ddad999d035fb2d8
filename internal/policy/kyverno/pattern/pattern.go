// Package pattern implements Kyverno's validate.pattern and
// validate.anyPattern: matching a resource against an overlay pattern with
// anchors ("(key)", "=(key)", "^(key)", "X(key)", "<(key)") and value
// operators (wildcards, "!", ">", "<", ">=", "<=", ranges, "|", "&",
// quantities, durations, null), with Kyverno's verdicts (pass, fail, skip,
// error), failure paths and messages.
//
// Patterns must already have their "{{ }}" variables substituted. Compile a
// pattern once when it has no variables and call Validate for each
// resource; otherwise call the package-level Validate, which compiles on
// the fly.
//
// Kyverno evaluates map keys in Go map order, which is random; where the
// order can change the outcome (two independent failures, or a failure next
// to a skip), this package uses a fixed order: anchors in key order, then
// global anchors, then keys whose values hold anchors, then the other keys,
// each group in key order.
package pattern

import (
	"fmt"
	"strings"

	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/anchor"
)

// Pattern is a compiled validate pattern. It is immutable and safe for
// concurrent use.
type Pattern struct {
	root *node
}

// Compile compiles a pattern: the unstructured value of validate.pattern or
// of one element of validate.anyPattern, with variables already substituted.
// Numbers are compared as float64, as Kyverno decodes policies. Compile never
// fails: parts that Kyverno cannot match fail at validation, as in Kyverno.
func Compile(pattern any) *Pattern {
	return &Pattern{root: compile(pattern)}
}

// Validate matches resource (the object, as map[string]any) against the
// pattern. It returns nil when the resource matches, and otherwise one of
// *FailError (the rule fails at a path), *SkipError (a condition or global
// anchor did not match, so the rule does not apply) or *ExecutionError (the
// rule errors).
func (p *Pattern) Validate(resource any) error {
	var buf [16]seg
	m := matcher{segs: buf[:0]}
	err := m.element(resource, p.root)
	if err == nil {
		return nil
	}
	msg := err.message()
	switch {
	case err.skip():
		return &SkipError{Anchor: skipAnchor(err.kind), Reason: msg}
	case err.kind == errNegation:
		return &FailError{Path: err.path, Reason: msg}
	case m.keysMissing() || err.path == "":
		return &ExecutionError{Reason: msg}
	}
	return &FailError{Path: err.path, Reason: msg}
}

func skipAnchor(k errKind) anchor.Type {
	if k == errGlobal {
		return anchor.Global
	}
	return anchor.Condition
}

// Validate compiles pattern and matches resource against it; see
// (*Pattern).Validate.
func Validate(resource, pattern any) error {
	return Compile(pattern).Validate(resource)
}

// FailError reports that a resource does not match a pattern: Kyverno fails
// the rule "at path" Path.
type FailError struct {
	// Path is where matching failed, in Kyverno's format, such as
	// "/spec/containers/0/securityContext/runAsNonRoot/". It is never empty.
	Path string
	// Reason is Kyverno's internal description of the mismatch; Kyverno's
	// rule message does not show it.
	Reason string
}

// Error returns the reason.
func (e *FailError) Error() string { return e.Reason }

// SkipError reports that a condition anchor "(key)" or a global anchor
// "<(key)" did not match, so the rule does not apply to the resource:
// Kyverno reports it as skipped with Reason as the message.
type SkipError struct {
	// Anchor is anchor.Condition or anchor.Global: the kind of the (first)
	// anchor that did not match.
	Anchor anchor.Type
	// Reason is Kyverno's message, such as "conditional anchor mismatch:
	// resource value 'nginx' does not match 'busybox' at path
	// /spec/containers/0/name/".
	Reason string
}

// Error returns the reason.
func (e *SkipError) Error() string { return e.Reason }

// ExecutionError reports a mismatch that Kyverno turns into a rule error
// rather than a failure: one without a path (a list of lists shorter than
// the pattern), or one while the key of some condition or existence anchor
// of the pattern was never found in the resource.
type ExecutionError struct {
	// Reason is Kyverno's description, shown in the rule message.
	Reason string
}

// Error returns the reason.
func (e *ExecutionError) Error() string { return e.Reason }

// AnyResult is the outcome of matching a resource against the patterns of
// validate.anyPattern.
type AnyResult struct {
	// Matched is the index of the first pattern the resource matches, or -1.
	Matched int
	// Errs holds the errors of the patterns tried before Matched, or of all
	// patterns when none matched, in order.
	Errs []error
}

// ValidateAny matches resource against each pattern of anyPattern in order
// and stops at the first match, as Kyverno does.
func ValidateAny(resource any, patterns []any) AnyResult {
	res := AnyResult{Matched: -1}
	for i, p := range patterns {
		err := Validate(resource, p)
		if err == nil {
			res.Matched = i
			return res
		}
		res.Errs = append(res.Errs, err)
	}
	return res
}

// Status is the result Kyverno reports for a rule.
type Status string

// The rule statuses.
const (
	StatusPass  Status = "pass"
	StatusFail  Status = "fail"
	StatusSkip  Status = "skip"
	StatusError Status = "error"
)

// Response is a rule's status with the message Kyverno reports for it.
type Response struct {
	Status  Status
	Message string
}

// Respond renders Kyverno's response for a validate.pattern rule named rule,
// given the result of Validate. message is the rule's validate.message with
// its variables substituted, or "" when it has none. Errors that are not
// from this package are rendered as execution errors.
func Respond(rule, message string, err error) Response {
	if err == nil {
		return Response{StatusPass, fmt.Sprintf("validation rule '%s' passed.", rule)}
	}
	switch e := err.(type) {
	case *SkipError:
		return Response{StatusSkip, e.Reason}
	case *FailError:
		if message == "" {
			return Response{StatusFail, fmt.Sprintf("validation error: rule %s failed at path %s", rule, e.Path)}
		}
		return Response{StatusFail, fmt.Sprintf("validation error: %s rule %s failed at path %s", withPeriod(message), rule, e.Path)}
	}
	if message == "" {
		return Response{StatusError, fmt.Sprintf("validation error: rule %s execution error: %s", rule, err.Error())}
	}
	return Response{StatusError, fmt.Sprintf("validation error: %s rule %s execution error: %s", withPeriod(message), rule, err.Error())}
}

func withPeriod(s string) string {
	if strings.HasSuffix(s, ".") {
		return s
	}
	return s + "."
}

// RespondAny renders Kyverno's response for a validate.anyPattern rule named
// rule, given the result of ValidateAny; message is as for Respond. The rule
// passes when a pattern matched; it fails when some pattern failed, with one
// "rule X[i] failed at path P" per failed pattern; it is skipped when every
// pattern was skipped.
func RespondAny(rule, message string, r AnyResult) Response {
	if r.Matched >= 0 {
		return Response{StatusPass, fmt.Sprintf("validation rule '%s' anyPattern[%d] passed.", rule, r.Matched)}
	}
	var failed, skipped []string
	for i, err := range r.Errs {
		switch e := err.(type) {
		case *SkipError:
			skipped = append(skipped, fmt.Sprintf("rule %s[%d] skipped: %s", rule, i, e.Reason))
		case *FailError:
			failed = append(failed, fmt.Sprintf("rule %s[%d] failed at path %s", rule, i, e.Path))
		default:
			failed = append(failed, fmt.Sprintf("rule %s[%d] failed: %s", rule, i, err.Error()))
		}
	}
	switch {
	case len(failed) > 0:
		errs := strings.Join(failed, " ")
		switch {
		case message == "":
			return Response{StatusFail, "validation error: " + errs}
		case strings.HasSuffix(message, "."):
			return Response{StatusFail, fmt.Sprintf("validation error: %s %s", message, errs)}
		}
		return Response{StatusFail, fmt.Sprintf("validation error: %s. %s", message, errs)}
	case len(skipped) > 0:
		return Response{StatusSkip, strings.Join(skipped, " ")}
	}
	// No patterns at all: Kyverno passes with the rule's message.
	return Response{StatusPass, message}
}
