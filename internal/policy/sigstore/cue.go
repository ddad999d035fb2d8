package sigstore

import (
	"context"
	"errors"
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

// cueCompileTimeout bounds the compilation of a CUE policy.
var cueCompileTimeout = DefaultEvalTimeout

// compileCue checks that a CUE policy compiles; problems are reported at p.
// CUE evaluates as it compiles, so compiling is bounded as evaluating is.
func compileCue(src string, p *field.Path) (evaluator, field.ErrorList) {
	ctx, cancel := context.WithTimeout(context.Background(), cueCompileTimeout)
	defer cancel()
	err := runCue(ctx, func() error {
		if err := cuecontext.New().CompileString(src).Err(); err != nil {
			return fmt.Errorf("failed to compile the cue policy with error: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, field.ErrorList{field.Invalid(p, field.OmitValueType{}, err.Error())}
	}
	return &cueEvaluator{src: src}, nil
}

// eval checks the input against the policy within the caller's deadline,
// else DefaultEvalTimeout, as Rego policies are bounded. A policy that
// could not run to its end is an evalError, not a verdict.
func (c *cueEvaluator) eval(ctx context.Context, name string, input []byte, _ time.Time) (warn, err error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultEvalTimeout)
		defer cancel()
	}
	err = runCue(ctx, func() error { return c.evalRaw(input) })
	if err == nil {
		return nil, nil
	}
	err = fmt.Errorf("failed evaluating cue policy for %s: %w", name, err)
	var ee *evalError
	if errors.As(err, &ee) {
		return nil, &evalError{err}
	}
	return nil, err
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

// cueSlots bounds the CUE computations that run at once. CUE cannot be
// interrupted: a computation that outlives its deadline is abandoned but
// keeps its slot until it ends, so policies that never finish hold at most
// this many goroutines' worth of work.
var cueSlots = make(chan struct{}, 8)

// runCue runs a CUE computation in a slot of its own and waits for it
// until ctx is done. A deadline, a full set of slots or a panic inside CUE
// is an evalError.
func runCue(ctx context.Context, f func() error) error {
	select {
	case cueSlots <- struct{}{}:
	case <-ctx.Done():
		return &evalError{fmt.Errorf("too many cue evaluations still running: %w", ctx.Err())}
	}
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- &evalError{fmt.Errorf("the cue evaluation failed: %v", p)}
			}
			<-cueSlots
		}()
		done <- f()
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return &evalError{fmt.Errorf("the cue policy did not finish: %w", ctx.Err())}
	}
}
