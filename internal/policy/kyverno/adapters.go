package kyverno

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/mutate"
	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/pattern"
	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/variables"
)

// patternResult is what matching a pattern decided.
type patternResult struct {
	ok   bool
	skip bool
	path string
	err  error
}

func matchPattern(resource map[string]any, p any) patternResult {
	err := pattern.Validate(resource, p)
	if err == nil {
		return patternResult{ok: true}
	}
	var fe *pattern.FailError
	var se *pattern.SkipError
	switch {
	case errors.As(err, &se):
		return patternResult{skip: true, err: err}
	case errors.As(err, &fe):
		return patternResult{path: fe.Path, err: err}
	}
	return patternResult{err: err}
}

// applyOverlay applies a substituted strategic merge overlay. A patch that
// changes nothing is reported as a skip reason.
func applyOverlay(resource map[string]any, overlay any) (map[string]any, string, error) {
	out, err := mutate.StrategicMerge(resource, overlay)
	return patchOutcome(out, err)
}

// applyJSONPatch applies a substituted JSON patch document.
func applyJSONPatch(resource map[string]any, patch string) (map[string]any, string, error) {
	out, err := mutate.JSON6902(resource, patch)
	return patchOutcome(out, err)
}

func patchOutcome(out map[string]any, err error) (map[string]any, string, error) {
	if err == nil {
		return out, "", nil
	}
	var se *mutate.SkipError
	if errors.As(err, &se) {
		return nil, se.Message, nil
	}
	if errors.Is(err, mutate.ErrEmptyRule) {
		return nil, "", err
	}
	return nil, "", fmt.Errorf("failed to patch resource: %w", err)
}

// checkConditions evaluates a conditions block, substituting the variables
// of each key and value as it is reached.
func (ec *evalContext) checkConditions(c *condition, data map[string]any) (bool, string, error) {
	if c == nil || c.block == nil {
		return true, "", nil
	}
	return c.block.Evaluate(func(v any) (any, error) {
		t, err := ec.p.templates.get(v, ec)
		if err != nil {
			return nil, err
		}
		if t == nil {
			return v, nil
		}
		return t.Evaluate(data, variables.WithOperation(string(ec.subject.operation)))
	})
}

// templateCache holds the compiled templates of condition keys and values,
// so each is parsed once per policy rather than per request.
type templateCache struct {
	mu sync.RWMutex
	m  map[string]*variables.Template
}

const maxCachedTemplates = 4096

func (c *templateCache) get(v any, ec *evalContext) (*variables.Template, error) {
	var key string
	switch t := v.(type) {
	case string:
		key = "s" + t
	case nil, bool, int64, float64, int:
		return nil, nil
	default:
		b, err := json.Marshal(t)
		if err != nil {
			return nil, err
		}
		key = "j" + string(b)
	}
	c.mu.RLock()
	t, ok := c.m[key]
	c.mu.RUnlock()
	if ok {
		return t, nil
	}
	t, err := variables.Compile(v, ec.jp)
	if err != nil {
		return nil, err
	}
	if !t.HasVariables() {
		t = nil
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]*variables.Template{}
	}
	if len(c.m) < maxCachedTemplates {
		c.m[key] = t
	}
	c.mu.Unlock()
	return t, nil
}
