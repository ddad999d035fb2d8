package sigstore

import (
	"context"
	"fmt"
	"time"

	"cuelang.org/go/cue/cuecontext"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// cueEvaluator is a CUE policy: the input must unify with it, as
// policy-controller checks CUE policies. The source is checked once at
// compile time; each evaluation compiles it in a fresh CUE context, since
// a context is not safe for concurrent use.
type cueEvaluator struct {
	src string
}

// compileCue checks that a CUE policy compiles; problems are reported at p.
func compileCue(src string, p *field.Path) (evaluator, field.ErrorList) {
	v := cuecontext.New().CompileString(src)
	if err := v.Err(); err != nil {
		return nil, field.ErrorList{field.Invalid(p, field.OmitValueType{}, "failed to compile the cue policy with error: "+err.Error())}
	}
	return &cueEvaluator{src: src}, nil
}

func (c *cueEvaluator) eval(_ context.Context, name string, input []byte, _ time.Time) (warn, err error) {
	if err := c.evalRaw(input); err != nil {
		return nil, fmt.Errorf("failed evaluating cue policy for %s: %w", name, err)
	}
	return nil, nil
}

func (c *cueEvaluator) evalRaw(input []byte) error {
	ctx := cuecontext.New()
	policy := ctx.CompileString(c.src)
	if err := policy.Err(); err != nil {
		return fmt.Errorf("failed to compile the cue policy with error: %w", err)
	}
	data := ctx.CompileBytes(input)
	if err := data.Err(); err != nil {
		return fmt.Errorf("failed to compile the attestation data with error: %w", err)
	}
	if err := policy.Unify(data).Validate(); err != nil {
		return fmt.Errorf("failed to evaluate the policy with error: %w", err)
	}
	return nil
}
