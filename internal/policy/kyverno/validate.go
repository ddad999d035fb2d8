package kyverno

import (
	"fmt"
	"strings"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/variables"
)

// validate runs the validate rules (and reports the rule kinds this build
// cannot run yet) of the policy.
func (ec *evalContext) validate(out *engine.Outcome) {
	applied := 0
	for _, r := range ec.p.rules {
		if r.typ == ruleMutate || r.typ == ruleNone {
			continue
		}
		if err := ec.ctx.Err(); err != nil {
			out.Rules = append(out.Rules, ec.result(r, engine.Validation, engine.Error, "evaluation stopped: "+err.Error()))
			return
		}
		if !ec.matches(r) {
			continue
		}
		rr, ok := ec.validateRule(r)
		if !ok {
			continue
		}
		out.Rules = append(out.Rules, rr)
		if rr.Verdict == engine.Pass || rr.Verdict == engine.Fail {
			applied++
			if ec.p.applyOne {
				return
			}
		}
	}
}

// ruleOutcome is what a validation step decided.
type ruleOutcome struct {
	verdict engine.Verdict
	message string
}

func (ec *evalContext) validateRule(r *compiledRule) (engine.RuleResult, bool) {
	typ := engine.Validation
	if r.typ == ruleGenerate {
		typ = engine.Generation
	} else if r.typ == ruleVerifyImages {
		typ = engine.ImageVerify
	}
	if ec.p.broken != "" {
		return ec.result(r, typ, engine.Error, "policy is invalid: "+ec.p.broken), true
	}
	if r.unsupported != "" {
		return ec.result(r, typ, engine.Error, r.unsupported), true
	}
	if r.typ == ruleVerifyImages {
		return ec.validateImageRule(r)
	}
	data, err := ec.ruleData(r, ec.baseData(), r.context)
	if err != nil {
		return ec.result(r, typ, engine.Error, "failed to load context: "+err.Error()), true
	}
	if r.preconditions != nil {
		ok, msg, err := ec.checkConditions(r.preconditions, data)
		if err != nil {
			return ec.result(r, typ, engine.Error, "failed to evaluate preconditions: "+err.Error()), true
		}
		if !ok {
			return ec.result(r, typ, engine.Skip, joinNonEmpty("preconditions not met", msg)), true
		}
	}
	var o *ruleOutcome
	switch {
	case r.deny != nil:
		o = ec.validateDeny(r, r.deny, data)
	case r.pattern != nil || r.anyPattern != nil:
		if ec.req.Operation == engine.Delete && ec.req.Object == nil {
			return engine.RuleResult{}, false
		}
		o = ec.validatePatterns(r, r.pattern, r.anyPattern, ec.object, data)
	case len(r.foreachV) > 0:
		o = ec.validateForeach(r, r.foreachV, data, 0)
	case r.podSecurity != nil:
		o = ec.validatePodSecurity(r)
	}
	if o == nil {
		return engine.RuleResult{}, false
	}
	if o.verdict == engine.Fail && ec.existingViolation(r) {
		return ec.result(r, typ, engine.Skip, "skipping the rule evaluation as pre-existing violations are allowed"), true
	}
	return ec.result(r, typ, o.verdict, o.message), true
}

// existingViolation reports whether an UPDATE that fails the rule only
// keeps a violation the old object already had. Kyverno allows such an
// update for rules that enforce (by their own failure action or the
// policy's, before namespace overrides) unless the rule sets
// allowExistingViolations to false. The old object is judged as if it
// were being created, and only when the rule matches it so.
func (ec *evalContext) existingViolation(r *compiledRule) bool {
	if !r.allowExisting || r.action != engine.ActionDeny || r.typ != ruleValidate {
		return false
	}
	req := ec.req
	if req.Operation != engine.Update || req.Object == nil || req.OldObject == nil {
		return false
	}
	prior := ec.priorContext()
	if !prior.matches(r) {
		return false
	}
	rr, ok := prior.validateRule(r)
	return ok && rr.Verdict == engine.Fail
}

// priorContext is the evaluation context of the request's old object as a
// CREATE of it, shared by the policy's rules.
func (ec *evalContext) priorContext() *evalContext {
	if ec.prior != nil {
		return ec.prior
	}
	old := *ec.req
	old.Operation = engine.Create
	old.Object = ec.req.OldObject
	old.OldObject = nil
	old.Memo = engine.Memo{}
	if old.Preset != nil {
		old.Preset = priorPreset{old.Preset}
	}
	prior := &evalContext{ctx: ec.ctx, req: &old, cluster: ec.cluster, p: ec.p, jp: ec.jp, object: old.Object, subject: ec.subject, ivm: ec.ivm}
	prior.subject.object = old.Object
	prior.subject.operation = engine.Create
	prior.subject.req = &old
	ec.prior = prior
	return prior
}

func joinNonEmpty(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "; ")
}

func (ec *evalContext) validateDeny(r *compiledRule, c *condition, data map[string]any) *ruleOutcome {
	deny, _, err := ec.checkConditions(c, data)
	if err != nil {
		return &ruleOutcome{engine.Error, "failed to check deny conditions: " + err.Error()}
	}
	if !deny {
		return &ruleOutcome{engine.Pass, fmt.Sprintf("validation rule '%s' passed.", r.name)}
	}
	if r.messageRaw == "" {
		return &ruleOutcome{engine.Fail, fmt.Sprintf("validation error: rule %s failed", r.name)}
	}
	v, err := r.message.Evaluate(data)
	if err != nil {
		return &ruleOutcome{engine.Fail, r.messageRaw}
	}
	s, ok := v.(string)
	if !ok {
		return &ruleOutcome{engine.Fail, "the produced message didn't resolve to a string, check your policy definition."}
	}
	return &ruleOutcome{engine.Fail, s}
}

// validatePatterns checks pattern or anyPattern against resource.
func (ec *evalContext) validatePatterns(r *compiledRule, pat *variables.Template, anyPat []*variables.Template, resource map[string]any, data map[string]any) *ruleOutcome {
	if pat != nil {
		p, err := pat.Evaluate(data)
		if err != nil {
			return &ruleOutcome{engine.Error, "variable substitution failed: " + err.Error()}
		}
		res := matchPattern(resource, p)
		switch {
		case res.ok:
			return &ruleOutcome{engine.Pass, fmt.Sprintf("validation rule '%s' passed.", r.name)}
		case res.skip:
			return &ruleOutcome{engine.Skip, res.err.Error()}
		case res.path == "":
			return &ruleOutcome{engine.Error, ec.patternMessage(r, data, res.err, "")}
		default:
			return &ruleOutcome{engine.Fail, ec.patternMessage(r, data, res.err, res.path)}
		}
	}
	var failed, skipped []string
	for i, t := range anyPat {
		p, err := t.Evaluate(data)
		if err != nil {
			return &ruleOutcome{engine.Error, "variable substitution failed: " + err.Error()}
		}
		res := matchPattern(resource, p)
		switch {
		case res.ok:
			return &ruleOutcome{engine.Pass, fmt.Sprintf("validation rule '%s' anyPattern[%d] passed.", r.name, i)}
		case res.skip:
			skipped = append(skipped, fmt.Sprintf("rule %s[%d] skipped: %s", r.name, i, res.err.Error()))
		case res.path == "":
			failed = append(failed, fmt.Sprintf("rule %s[%d] failed: %s", r.name, i, res.err.Error()))
		default:
			failed = append(failed, fmt.Sprintf("rule %s[%d] failed at path %s", r.name, i, res.path))
		}
	}
	if len(failed) == 0 && len(skipped) > 0 {
		return &ruleOutcome{engine.Skip, strings.Join(skipped, " ")}
	}
	if len(failed) > 0 {
		errs := strings.Join(failed, " ")
		msg := ec.messageText(r, data)
		switch {
		case r.messageRaw == "":
			return &ruleOutcome{engine.Fail, "validation error: " + errs}
		case strings.HasSuffix(msg, "."):
			return &ruleOutcome{engine.Fail, fmt.Sprintf("validation error: %s %s", msg, errs)}
		default:
			return &ruleOutcome{engine.Fail, fmt.Sprintf("validation error: %s. %s", msg, errs)}
		}
	}
	return &ruleOutcome{engine.Pass, r.messageRaw}
}

// messageText substitutes the rule's message; on failure it is the raw text.
func (ec *evalContext) messageText(r *compiledRule, data map[string]any) string {
	if r.message == nil {
		return r.messageRaw
	}
	v, err := r.message.Evaluate(data)
	if err != nil {
		return r.messageRaw
	}
	if s, ok := v.(string); ok {
		return s
	}
	return jsonString(v)
}

// patternMessage renders Kyverno's message for a failed pattern.
func (ec *evalContext) patternMessage(r *compiledRule, data map[string]any, err error, path string) string {
	if r.messageRaw == "" {
		if path != "" {
			return fmt.Sprintf("validation error: rule %s failed at path %s", r.name, path)
		}
		return fmt.Sprintf("validation error: rule %s execution error: %s", r.name, err)
	}
	v, serr := r.message.Evaluate(data)
	msg, ok := v.(string)
	if serr != nil || !ok {
		return fmt.Sprintf("validation error: variables substitution error in rule %s execution error: %s", r.name, err)
	}
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	if path != "" {
		return fmt.Sprintf("validation error: %s rule %s failed at path %s", msg, r.name, path)
	}
	return fmt.Sprintf("validation error: %s rule %s execution error: %s", msg, r.name, err)
}

// validateForeach runs a list of foreach validations.
func (ec *evalContext) validateForeach(r *compiledRule, fes []*foreachValidate, data map[string]any, nesting int) *ruleOutcome {
	applied := 0
	for _, fe := range fes {
		elements, err := evaluateList(fe.listQuery, data)
		if err != nil {
			continue
		}
		o, n := ec.validateElements(r, fe, elements, data, nesting)
		if o.verdict != engine.Pass {
			return o
		}
		applied += n
	}
	if applied == 0 {
		return &ruleOutcome{engine.Skip, "rule skipped"}
	}
	return &ruleOutcome{engine.Pass, "rule passed"}
}

func (ec *evalContext) validateElements(r *compiledRule, fe *foreachValidate, elements []any, data map[string]any, nesting int) (*ruleOutcome, int) {
	applied := 0
	for index, element := range elements {
		if element == nil {
			continue
		}
		if err := ec.ctx.Err(); err != nil {
			return &ruleOutcome{engine.Error, "evaluation stopped: " + err.Error()}, applied
		}
		elemData := ec.withElement(r, data, element, index, nesting)
		resource := ec.object
		em, isMap := element.(map[string]any)
		scoped := isMap
		if fe.elementScope != nil {
			if *fe.elementScope && !isMap {
				return &ruleOutcome{engine.Error, fmt.Sprintf("validation failure: failed to process foreach: cannot use elementScope=true foreach rules for elements that are not maps, expected type=map got type=%T", element)}, applied
			}
			scoped = *fe.elementScope
		}
		if scoped {
			resource = em
		}
		o := ec.validateElement(r, fe, elemData, resource, nesting)
		switch {
		case o == nil, o.verdict == engine.Skip:
			continue
		case o.verdict != engine.Pass:
			if o.verdict == engine.Error && index < len(elements)-1 {
				continue
			}
			return &ruleOutcome{o.verdict, "validation failure: " + o.message}, applied
		}
		applied++
	}
	return &ruleOutcome{engine.Pass, ""}, applied
}

// validateElement validates one element: its context, preconditions and
// check.
func (ec *evalContext) validateElement(r *compiledRule, fe *foreachValidate, data map[string]any, resource map[string]any, nesting int) *ruleOutcome {
	data, err := ec.ruleData(&compiledRule{name: r.name}, data, fe.context)
	if err != nil {
		return &ruleOutcome{engine.Error, "failed to load context: " + err.Error()}
	}
	if fe.preconditions != nil {
		ok, msg, err := ec.checkConditions(fe.preconditions, data)
		if err != nil {
			return &ruleOutcome{engine.Error, "failed to evaluate preconditions: " + err.Error()}
		}
		if !ok {
			return &ruleOutcome{engine.Skip, joinNonEmpty("preconditions not met", msg)}
		}
	}
	switch {
	case fe.deny != nil:
		return ec.validateDeny(r, fe.deny, data)
	case fe.pattern != nil || fe.anyPattern != nil:
		return ec.validatePatterns(r, fe.pattern, fe.anyPattern, resource, data)
	case len(fe.nested) > 0:
		return ec.validateForeach(r, fe.nested, data, nesting+1)
	}
	return nil
}

// validatePodSecurity checks the Pod, or the pod template of a controller,
// against the rule's Pod Security level.
func (ec *evalContext) validatePodSecurity(r *compiledRule) *ruleOutcome {
	res, err := r.podSecurity.EvaluateResource(ec.object)
	if err != nil {
		return &ruleOutcome{engine.Error, "Error while getting new resource: " + err.Error()}
	}
	kind, _ := ec.object["kind"].(string)
	if res.Allowed {
		return &ruleOutcome{engine.Pass, res.Message(r.name, kind)}
	}
	return &ruleOutcome{engine.Fail, res.Message(r.name, kind)}
}

// priorPreset hides the preset values that name the request's operation
// and objects from the judgement of the old object, which is a CREATE of
// it whatever a values file says the request is (Kyverno sets the
// operation and the objects after it loads the values).
type priorPreset struct{ engine.Preset }

func (p priorPreset) PolicyValues(policy string) map[string]any {
	return withoutRequestValues(p.Preset.PolicyValues(policy))
}

func (p priorPreset) RuleValues(policy, rule string) map[string]any {
	return withoutRequestValues(p.Preset.RuleValues(policy, rule))
}

func withoutRequestValues(values map[string]any) map[string]any {
	var out map[string]any
	for k, v := range values {
		if k == "request.operation" || k == "request.object" || k == "request.oldObject" ||
			strings.HasPrefix(k, "request.object.") || strings.HasPrefix(k, "request.oldObject.") {
			continue
		}
		switch k {
		case "request":
			if m, ok := v.(map[string]any); ok {
				rest := make(map[string]any, len(m))
				for mk, mv := range m {
					if mk != "operation" && mk != "object" && mk != "oldObject" {
						rest[mk] = mv
					}
				}
				v = rest
			}
		}
		if out == nil {
			out = make(map[string]any, len(values))
		}
		out[k] = v
	}
	return out
}
