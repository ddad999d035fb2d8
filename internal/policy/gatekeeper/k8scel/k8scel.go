// Package k8scel compiles and evaluates the K8sNativeValidation code of
// Gatekeeper ConstraintTemplates: ValidatingAdmissionPolicy-style CEL
// (validations, variables, match conditions, a failure policy) run with the
// semantics of Gatekeeper's K8sNativeValidation driver
// (open-policy-agent/frameworks, constraint/pkg/client/drivers/k8scel).
//
// Expressions are compiled in the CEL environment the API server gives stored
// ValidatingAdmissionPolicy expressions, with the same libraries, variable
// declarations and cost limits, and evaluated with the same rules for
// variables, messages and errors.
//
// Expressions see these variables:
//
//   - object and oldObject: the object under review and its previous version.
//     Like Gatekeeper, object is null on DELETE requests.
//   - request: the admission request (kind, resource, subResource,
//     requestKind, requestResource, requestSubResource, name, namespace,
//     operation, userInfo, dryRun, options).
//   - namespaceObject: the request's namespace, or null when it is unknown
//     (Gatekeeper's driver passes none, so it is null there).
//   - variables.<name>: the template's variables, evaluated lazily and at
//     most once per evaluation.
//   - variables.params: the constraint's spec.parameters, or null.
//   - variables.anyObject: object, or oldObject when object is null on
//     DELETE.
//   - params: the constraint, whose spec.parameters holds the parameters.
//     Only variables see it, as in Gatekeeper; validations, messages and
//     match conditions use variables.params.
//
// authorizer is not available: Gatekeeper declares no authorizer, so an
// expression that uses it fails to compile ("undeclared reference").
package k8scel

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
)

// FailurePolicy says what Gatekeeper does when an expression cannot be
// evaluated.
type FailurePolicy string

const (
	// FailurePolicyFail reports each error as a violation whose message is
	// the error. It is the default.
	FailurePolicyFail FailurePolicy = "Fail"
	// FailurePolicyIgnore drops errors: the validations that evaluated still
	// report their violations.
	FailurePolicyIgnore FailurePolicy = "Ignore"
)

// Input is one review, as Gatekeeper passes it to the driver.
//
// Values must be unstructured JSON: maps, slices, strings, bool, int64,
// float64 and nil, as k8s.io/apimachinery/pkg/util/json decodes them.
// Evaluate reads them and never modifies them.
type Input struct {
	// Object is the object under review; nil when there is none. It is
	// ignored on DELETE, where Gatekeeper's driver unsets it.
	Object map[string]any
	// OldObject is the previous version of the object on UPDATE and DELETE.
	OldObject map[string]any
	// Params is the constraint's spec.parameters; nil when it sets none.
	Params any
	// Request is the admission request as Gatekeeper's input.review holds
	// it: kind {group, version, kind}, resource, subResource, name,
	// namespace, operation, userInfo, dryRun, options. Other fields are
	// ignored.
	Request map[string]any
	// Namespace is the request's Namespace object; nil when unknown.
	Namespace map[string]any
}

// Violation is one validation that failed.
type Violation struct {
	// Message is what Gatekeeper reports: the result of messageExpression,
	// else message, else "failed expression: <expression>".
	Message string
}

// Program is a compiled K8sNativeValidation source. It is immutable and safe
// for concurrent use.
type Program struct {
	failurePolicy   FailurePolicy
	variables       []compiled
	validations     []compiledValidation
	matchConditions []compiled
	// varIndex maps a variable's name to its index in variables.
	varIndex map[string]int
	// varValueType is the runtime type of the variables object.
	varValueType *types.Type
}

// compiled is one compiled expression. When err is set the expression did
// not compile and prog is nil; evaluating it reports err, as the API server
// does.
type compiled struct {
	name       string
	expression string
	prog       cel.Program
	err        error
	// native, when set, computes the value and cost the program would: it
	// stands in for Gatekeeper's own variables, which every template reads.
	native func(*evaluation) (ref.Val, int64)
}

type compiledValidation struct {
	compiled
	message           string
	messageExpression *compiled
}

// FailurePolicy returns the source's failure policy: FailurePolicyFail
// unless it says Ignore.
func (p *Program) FailurePolicy() FailurePolicy { return p.failurePolicy }

// Compile compiles the source of a K8sNativeValidation code entry (the raw
// `source` map) for a template whose parameters follow paramsSchema (the raw
// openAPIV3Schema, may be nil). Errors name fields under fldPath (e.g.
// fldPath.Child("validations").Index(2).Child("expression")).
//
// When the source is malformed (wrong types, reserved or duplicate names, an
// unknown failure policy) Compile returns a nil Program. When only
// expressions fail to compile it returns the errors and a Program that
// evaluates like Gatekeeper's driver evaluates such a template: each
// expression that did not compile reports an evaluation error, and the others
// work.
//
// paramsSchema does not change compilation: Gatekeeper declares the
// constraint, and so its parameters, as dynamically typed, and type-checking
// against the schema would reject templates Gatekeeper accepts. (The API
// server only warns about such type errors, in the status of a generated
// ValidatingAdmissionPolicy.)
func Compile(source map[string]any, paramsSchema map[string]any, fldPath *field.Path) (*Program, field.ErrorList) {
	src, errs := decodeSource(source, fldPath)
	if len(errs) > 0 {
		return nil, errs
	}
	_ = paramsSchema

	env, err := sharedEnvironment()
	if err != nil {
		return nil, field.ErrorList{field.InternalError(fldPath, err)}
	}
	envs, err := env.forTemplate()
	if err != nil {
		return nil, field.ErrorList{field.InternalError(fldPath, fmt.Errorf("failed to build the CEL environment: %w", err))}
	}

	p := &Program{
		failurePolicy: src.failurePolicy,
		varIndex:      map[string]int{},
		varValueType: types.NewTypeValue(envs.variables.CelType().TypeName(),
			traits.IndexerType|traits.FieldTesterType|traits.IterableType),
	}

	// Gatekeeper's variables come first, so the template's can use them.
	for _, v := range []struct {
		variable
		native func(*evaluation) (ref.Val, int64)
	}{
		{variable{name: AnyObjectVariable, expression: anyObjectExpr}, nativeAnyObject},
		{variable{name: ParamsVariable, expression: paramsExpr}, nativeParams},
	} {
		c, out := compileExpression(envs.withParams, v.name, v.expression, nil)
		if c.err != nil {
			return nil, field.ErrorList{field.InternalError(fldPath, fmt.Errorf("variables.%s: %w", v.name, c.err))}
		}
		c.native = v.native
		envs.addVariable(v.name, out)
		p.varIndex[v.name] = len(p.variables)
		p.variables = append(p.variables, c)
	}
	for i, v := range src.variables {
		c, out := compileExpression(envs.withParams, v.name, v.expression, nil)
		if c.err != nil {
			errs = append(errs, field.Invalid(fldPath.Child(keyVariables).Index(i).Child("expression"), v.expression, c.err.Error()))
		}
		envs.addVariable(v.name, out)
		p.varIndex[v.name] = len(p.variables)
		p.variables = append(p.variables, c)
	}
	for i, v := range src.matchConditions {
		c, _ := compileExpression(envs.withoutParams, v.name, v.expression, cel.BoolType)
		if c.err != nil {
			errs = append(errs, field.Invalid(fldPath.Child(keyMatchConditions).Index(i).Child("expression"), v.expression, c.err.Error()))
		}
		p.matchConditions = append(p.matchConditions, c)
	}
	for i, v := range src.validations {
		vp := fldPath.Child(keyValidations).Index(i)
		c, _ := compileExpression(envs.withoutParams, "", v.expression, cel.BoolType)
		if c.err != nil {
			errs = append(errs, field.Invalid(vp.Child("expression"), v.expression, c.err.Error()))
		}
		cv := compiledValidation{compiled: c, message: v.message}
		if v.messageExpression != "" {
			m, _ := compileExpression(envs.withoutParams, "", v.messageExpression, cel.StringType)
			if m.err != nil {
				errs = append(errs, field.Invalid(vp.Child("messageExpression"), v.messageExpression, m.err.Error()))
			}
			cv.messageExpression = &m
		}
		p.validations = append(p.validations, cv)
	}
	return p, errs
}

// compileExpression compiles one expression and returns its output type.
// want is the type it must evaluate to; nil accepts any type.
func compileExpression(env *cel.Env, name, expr string, want *cel.Type) (compiled, *cel.Type) {
	c := compiled{name: name, expression: expr}
	ast, issues := env.Compile(expr)
	if issues != nil && issues.Err() != nil {
		c.err = errors.New("compilation failed: " + issues.String())
		return c, nil
	}
	out := ast.OutputType()
	if want != nil && !out.IsExactType(want) {
		c.err = fmt.Errorf("must evaluate to %v but got %v", want, out)
		return c, out
	}
	prog, err := env.Program(ast, cel.InterruptCheckFrequency(celconfig.CheckFrequency))
	if err != nil {
		c.err = fmt.Errorf("program instantiation failed: %w", err)
		return c, out
	}
	c.prog = prog
	return c, out
}

// EvalError reports expressions that could not be evaluated: a runtime
// error (no such key, a bad type, a regular expression that does not
// compile), an expression that did not compile, the cost budget running out,
// or ctx ending.
//
// Gatekeeper reports each of Messages as a violation when the failure policy
// is Fail and drops them when it is Ignore.
type EvalError struct {
	// Messages are Gatekeeper's messages for the failures, in the order of
	// the expressions.
	Messages []string
	// cause is ErrCostBudget or ctx's error when evaluation stopped as a
	// whole.
	cause error
}

// Error joins the messages.
func (e *EvalError) Error() string { return strings.Join(e.Messages, "; ") }

// Unwrap returns ErrCostBudget, context.Canceled or
// context.DeadlineExceeded when evaluation stopped for that reason.
func (e *EvalError) Unwrap() error { return e.cause }

// ErrCostBudget is the cause of an EvalError when the evaluation ran out of
// its cost budget. Branch on it with errors.Is.
var ErrCostBudget = errors.New("CEL cost budget exceeded")

// Evaluate runs the program on one review. Violations: one per failed
// validation, in validation order, with the message Gatekeeper would report.
//
// An evaluation error (type error, cost exceeded, timeout) is returned as an
// *EvalError. When only some validations failed to evaluate, the violations
// of the others are returned with it; when evaluation stopped as a whole
// (cost budget, ctx, a match condition that failed to evaluate) there are
// none. The failure policy is the caller's to apply (see FailurePolicy).
//
// Match conditions run first: when one is false, there are no violations.
func (p *Program) Evaluate(ctx context.Context, in Input) ([]Violation, error) {
	if p == nil {
		return nil, errors.New("k8scel: Evaluate called on a nil Program")
	}
	ev := p.newEvaluation(ctx, &in)

	if len(p.matchConditions) > 0 {
		matched, err := ev.match(p.matchConditions)
		if err != nil || !matched {
			return nil, err
		}
	}

	results := make([]exprResult, len(p.validations))
	budget := int64(ValidationCostBudget)
	var err error
	for i := range p.validations {
		if results[i], budget, err = ev.eval(&p.validations[i].compiled, budget); err != nil {
			return nil, err
		}
	}

	var violations []Violation
	var messages []string
	for i := range p.validations {
		v, r := &p.validations[i], results[i]
		if r.err != nil {
			messages = append(messages, r.err.Error())
			continue
		}
		if r.val == types.True {
			continue
		}
		msg := ""
		if v.messageExpression != nil {
			var mr exprResult
			if mr, budget, err = ev.eval(v.messageExpression, budget); err != nil {
				return nil, wrapMessageError(err)
			}
			msg = messageOf(mr)
		}
		if msg == "" {
			msg = strings.TrimSpace(v.message)
		}
		if msg == "" {
			msg = "failed expression: " + strings.TrimSpace(v.expression)
		}
		violations = append(violations, Violation{Message: msg})
	}
	if len(messages) > 0 {
		return violations, &EvalError{Messages: messages}
	}
	return violations, nil
}
