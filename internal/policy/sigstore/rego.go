package sigstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portcullis-dev/portcullis/internal/policy/sandbox"
)

// The Rego contract of policy-controller (inherited from cosign): the
// module is package sigstore and defines isCompliant, either a boolean or a
// set of {"result": bool, "error": string, "warning": string} objects.
const (
	regoModuleFile = "sigstore.rego"
	regoQuery      = "isCompliant = data.sigstore.isCompliant"
	regoBinding    = "isCompliant"
)

// evaluator is a compiled policy (Rego or CUE) that judges a JSON document:
// the policy input of a ClusterImagePolicy or an attestation's statement.
type evaluator interface {
	// eval judges input. warn is a warning of a compliant policy;
	// err says why the input is not compliant, in policy-controller's
	// words, with name naming what was judged ("ClusterImagePolicy" or the
	// attestation's name).
	eval(ctx context.Context, name string, input []byte, now time.Time) (warn, err error)
}

// regoEvaluator is a Rego policy prepared once.
type regoEvaluator struct {
	query rego.PreparedEvalQuery
}

// compileRego parses (Rego v0 syntax, as policy-controller does) and
// prepares a policy; problems are reported at p.
func compileRego(src string, p *field.Path) (*regoEvaluator, field.ErrorList) {
	module, err := ast.ParseModuleWithOpts(regoModuleFile, src, ast.ParserOptions{RegoVersion: ast.RegoV0})
	if err != nil {
		return nil, regoErrors(p, err)
	}
	if module == nil {
		return nil, field.ErrorList{field.Invalid(p, field.OmitValueType{}, "the Rego module is empty")}
	}
	query, err := rego.New(
		rego.Query(regoQuery),
		rego.ParsedModule(module),
		rego.SetRegoVersion(ast.RegoV0),
		rego.Capabilities(sandbox.RegoCapabilities()),
		rego.StrictBuiltinErrors(false),
		rego.EnablePrintStatements(false),
	).PrepareForEval(context.Background())
	if err != nil {
		return nil, regoErrors(p, err)
	}
	return &regoEvaluator{query: query}, nil
}

// regoErrors reports each of OPA's errors as a field error at p.
func regoErrors(p *field.Path, err error) field.ErrorList {
	var list ast.Errors
	if !errors.As(err, &list) || len(list) == 0 {
		return field.ErrorList{field.Invalid(p, field.OmitValueType{}, err.Error())}
	}
	out := make(field.ErrorList, 0, len(list))
	for _, e := range list {
		msg := e.Code + ": " + e.Message
		if e.Location != nil {
			msg = e.Location.String() + ": " + msg
		}
		out = append(out, field.Invalid(p, field.OmitValueType{}, msg))
	}
	return out
}

// cosignRuleResult is one element of a set-valued isCompliant.
type cosignRuleResult struct {
	Warning string `json:"warning,omitempty"`
	Error   string `json:"error,omitempty"`
	Result  bool   `json:"result,omitempty"`
}

func (r *regoEvaluator) eval(ctx context.Context, name string, input []byte, now time.Time) (warn, err error) {
	warn, err = r.evalRaw(ctx, input, now)
	if err != nil {
		var ee *evalError
		if errors.As(err, &ee) {
			return warn, err
		}
		return warn, fmt.Errorf("failed evaluating rego policy for type %s: %w", name, err)
	}
	return warn, nil
}

// evalError is a failure to run a policy at all (deadline, cancellation),
// as opposed to a verdict.
type evalError struct{ err error }

func (e *evalError) Error() string { return e.err.Error() }
func (e *evalError) Unwrap() error { return e.err }

func (r *regoEvaluator) evalRaw(ctx context.Context, input []byte, now time.Time) (warn, err error) {
	value, err := ast.ValueFromReader(bytes.NewReader(input))
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultEvalTimeout)
		defer cancel()
	}
	rs, err := r.query.Eval(ctx, rego.EvalParsedInput(value), rego.EvalTime(now))
	if err != nil {
		if ctx.Err() != nil {
			return nil, &evalError{fmt.Errorf("the rego policy did not finish: %w", ctx.Err())}
		}
		return nil, err
	}
	for _, result := range rs {
		switch response := result.Bindings[regoBinding].(type) {
		case []any:
			return ruleResults(response)
		case bool:
			if response {
				return nil, nil
			}
		}
	}
	return nil, fmt.Errorf("policy is not compliant for query '%s'", regoQuery)
}

// ruleResults reads a set-valued isCompliant: the first compliant element
// wins (with its warning, if any); otherwise the last element says why.
func ruleResults(response []any) (warn, err error) {
	err = fmt.Errorf("policy is not compliant for query %q", regoQuery)
	for _, r := range response {
		m, ok := r.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("policy is not compliant for query '%s': unexpected result type %T", regoQuery, r)
		}
		raw, merr := json.Marshal(m)
		if merr != nil {
			return nil, fmt.Errorf("policy is not compliant for query '%s' due to parsing errors: %w", regoQuery, merr)
		}
		var res cosignRuleResult
		if uerr := json.Unmarshal(raw, &res); uerr != nil {
			return nil, fmt.Errorf("policy is not compliant for query '%s' due to parsing errors: %w", regoQuery, uerr)
		}
		if res.Result {
			if res.Warning == "" {
				return nil, nil
			}
			return fmt.Errorf("warning: %s", res.Warning), nil
		}
		warn = errors.New(res.Warning)
		err = fmt.Errorf("policy is not compliant for query '%s' with errors: %s", regoQuery, res.Error)
	}
	return warn, err
}
