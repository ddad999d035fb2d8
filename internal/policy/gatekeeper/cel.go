package gatekeeper

import (
	"context"
	"errors"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portcullis-dev/portcullis/internal/policy/gatekeeper/k8scel"
)

// celCompiler compiles the source of K8sNativeValidation code. Besides
// errors, it may return a program: a template whose expressions do not all
// compile still evaluates, reporting those expressions as errors, as in
// Gatekeeper.
type celCompiler interface {
	compile(source, paramsSchema map[string]any, fldPath *field.Path) (celProgram, field.ErrorList)
}

// celProgram is compiled K8sNativeValidation code.
type celProgram interface {
	// evaluate returns the messages of failed validations and of
	// expressions that could not be evaluated.
	evaluate(ctx context.Context, in celInput) (violations, failures []string, err error)
}

// celInput is what K8sNativeValidation code reads, as Gatekeeper passes it.
type celInput struct {
	object, oldObject map[string]any
	params            any
	request           map[string]any
	namespace         map[string]any
}

// k8sCEL is the k8scel package as the dialect's CEL engine.
type k8sCEL struct{}

func defaultCEL() celCompiler { return k8sCEL{} }

func (k8sCEL) compile(source, paramsSchema map[string]any, fldPath *field.Path) (celProgram, field.ErrorList) {
	prog, errs := k8scel.Compile(source, paramsSchema, fldPath)
	if prog == nil {
		return nil, errs
	}
	return celProg{prog}, errs
}

type celProg struct{ p *k8scel.Program }

func (c celProg) evaluate(ctx context.Context, in celInput) ([]string, []string, error) {
	vs, err := c.p.Evaluate(ctx, k8scel.Input{
		Object:    in.object,
		OldObject: in.oldObject,
		Params:    in.params,
		Request:   in.request,
		Namespace: in.namespace,
	})
	msgs := make([]string, len(vs))
	for i, v := range vs {
		msgs[i] = v.Message
	}
	if err != nil {
		var evalErr *k8scel.EvalError
		if !errors.As(err, &evalErr) {
			return nil, nil, err
		}
		if c.p.FailurePolicy() == k8scel.FailurePolicyFail {
			return msgs, evalErr.Messages, nil
		}
	}
	return msgs, nil, nil
}
