package kyverno

import (
	"fmt"
	"reflect"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/variables"
)

// mutate runs the mutate rules of the policy in order, each on the result
// of the previous one.
func (ec *evalContext) mutate(out *engine.Outcome) {
	if ec.req.Object == nil {
		return // nothing to mutate on DELETE
	}
	changed := false
	for _, r := range ec.p.rules {
		if r.typ != ruleMutate {
			continue
		}
		if err := ec.ctx.Err(); err != nil {
			out.Rules = append(out.Rules, ec.result(r, engine.Mutation, engine.Error, "evaluation stopped: "+err.Error()))
			break
		}
		if !ec.matches(r) {
			continue
		}
		rr, patched := ec.mutateRule(r)
		out.Rules = append(out.Rules, rr)
		if patched != nil {
			ec.setObject(patched)
			changed = true
		}
		if ec.p.applyOne && (rr.Verdict == engine.Pass || rr.Verdict == engine.Fail) {
			break
		}
	}
	if changed {
		out.Object = ec.object
	}
}

func (ec *evalContext) mutateRule(r *compiledRule) (engine.RuleResult, map[string]any) {
	if ec.p.broken != "" {
		return ec.result(r, engine.Mutation, engine.Error, "policy is invalid: "+ec.p.broken), nil
	}
	if r.unsupported != "" {
		return ec.result(r, engine.Mutation, engine.Error, r.unsupported), nil
	}
	data, err := ec.ruleData(r, ec.baseData(), r.context)
	if err != nil {
		return ec.result(r, engine.Mutation, engine.Error, "failed to load context: "+err.Error()), nil
	}
	if r.preconditions != nil {
		ok, msg, err := ec.checkConditions(r.preconditions, data)
		if err != nil {
			return ec.result(r, engine.Mutation, engine.Error, "failed to evaluate preconditions: "+err.Error()), nil
		}
		if !ok {
			return ec.result(r, engine.Mutation, engine.Skip, joinNonEmpty("preconditions not met", msg)), nil
		}
	}
	if len(r.foreachM) > 0 {
		patched, applied, err := ec.mutateForeach(r, r.foreachM, ec.object, data, 0)
		if err != nil {
			return ec.result(r, engine.Mutation, engine.Error, err.Error()), nil
		}
		if !applied {
			return ec.result(r, engine.Mutation, engine.Skip, "0 elements processed"), nil
		}
		return ec.result(r, engine.Mutation, engine.Pass, successMessage(patched)), patched
	}
	patched, skip, err := ec.applyPatch(r.overlay, r.json6902, ec.object, data)
	switch {
	case err != nil:
		return ec.result(r, engine.Mutation, engine.Error, err.Error()), nil
	case skip != "":
		return ec.result(r, engine.Mutation, engine.Skip, skip), nil
	case patched == nil || reflect.DeepEqual(patched, ec.object):
		return ec.result(r, engine.Mutation, engine.Skip, "no patches applied"), nil
	}
	return ec.result(r, engine.Mutation, engine.Pass, successMessage(patched)), patched
}

// applyPatch substitutes and applies one overlay or JSON patch. It returns
// the patched resource, or a skip reason, or an error.
func (ec *evalContext) applyPatch(overlay, json6902 *variables.Template, resource map[string]any, data map[string]any) (map[string]any, string, error) {
	if overlay != nil {
		o, err := overlay.Evaluate(data)
		if err != nil {
			return nil, "", fmt.Errorf("variable substitution failed: %w", err)
		}
		return applyOverlay(resource, o)
	}
	if json6902 != nil {
		p, err := json6902.Evaluate(data)
		if err != nil {
			return nil, "", fmt.Errorf("variable substitution failed: %w", err)
		}
		s, _ := p.(string)
		return applyJSONPatch(resource, s)
	}
	return nil, "", fmt.Errorf("empty mutate rule")
}

// mutateForeach runs foreach mutations as Kyverno does: each foreach entry
// patches the result of the previous one, and the context sees the resource
// as it was when the entry started. It reports whether any entry changed
// the resource.
func (ec *evalContext) mutateForeach(r *compiledRule, fes []*foreachMutate, resource map[string]any, data map[string]any, nesting int) (map[string]any, bool, error) {
	applied := false
	for _, fe := range fes {
		elements, err := evaluateList(fe.listQuery, data)
		if err != nil {
			return nil, false, fmt.Errorf("failed to evaluate list %s: %w", fe.list, err)
		}
		patched, changed, err := ec.mutateElements(r, fe, elements, resource, data, nesting)
		if err != nil {
			return nil, false, fmt.Errorf("failed to mutate elements: %w", err)
		}
		if changed {
			applied = true
			resource = patched
			data = withObject(data, resource)
		}
	}
	return resource, applied, nil
}

// mutateElements applies one foreach entry to every element of its list.
// Strategic merge patches go from the last element to the first unless the
// entry orders them, as in Kyverno.
func (ec *evalContext) mutateElements(r *compiledRule, fe *foreachMutate, elements []any, resource map[string]any, data map[string]any, nesting int) (map[string]any, bool, error) {
	reverse := fe.overlay != nil
	if fe.order != "" {
		reverse = fe.order == "Descending"
	}
	patched := resource
	changed := false
	for i := range elements {
		index := i
		if reverse {
			index = len(elements) - 1 - i
		}
		element := elements[index]
		if element == nil {
			continue
		}
		if err := ec.ctx.Err(); err != nil {
			return nil, false, err
		}
		elemData := ec.withElement(r, data, element, index, nesting)
		elemData, err := ec.ruleData(&compiledRule{name: r.name}, elemData, fe.context)
		if err != nil {
			return nil, false, fmt.Errorf("failed to load to mutate.foreach[%d].context: %w", index, err)
		}
		if fe.preconditions != nil {
			ok, _, err := ec.checkConditions(fe.preconditions, elemData)
			if err != nil {
				return nil, false, fmt.Errorf("failed to evaluate mutate.foreach[%d].preconditions: %w", index, err)
			}
			if !ok {
				continue
			}
		}
		if len(fe.nested) > 0 {
			out, applied, err := ec.mutateForeach(r, fe.nested, patched, elemData, nesting+1)
			if err != nil {
				return nil, false, err
			}
			if applied {
				patched, changed = out, true
			}
			continue
		}
		out, _, err := ec.applyPatch(fe.overlay, fe.json6902, patched, elemData)
		if err != nil {
			return nil, false, err
		}
		if out != nil {
			patched, changed = out, true
		}
	}
	return patched, changed, nil
}

// withObject returns data with request.object replaced.
func withObject(data map[string]any, obj map[string]any) map[string]any {
	return withValue(data, []string{"request", "object"}, obj)
}

func successMessage(obj map[string]any) string {
	kind, _ := obj["kind"].(string)
	name := metaString(obj, "name")
	if ns := metaString(obj, "namespace"); ns != "" {
		return fmt.Sprintf("mutated %s/%s in namespace %s", kind, name, ns)
	}
	return fmt.Sprintf("mutated %s/%s", kind, name)
}
