package kyverno

import (
	"encoding/json"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/match"
	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/conditions"
	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/jmespath"
	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/podsecurity"
	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/variables"
)

// Policy annotations that change results.
const (
	annotationScored   = "policies.kyverno.io/scored"
	annotationSeverity = "policies.kyverno.io/severity"
	annotationCategory = "policies.kyverno.io/category"
)

// policy is a compiled ClusterPolicy or Policy.
type policy struct {
	ref           engine.PolicyRef
	namespace     string // for a namespaced Policy: the only namespace it applies to
	rules         []*compiledRule
	failureAction engine.Action
	emitWarning   bool
	applyOne      bool
	admission     bool
	background    bool
	properties    map[string]string
	// broken is set when the policy did not compile: every evaluation
	// returns an error with this message.
	broken string
	// usesImages is set when a rule may read the images variable, which is
	// then computed for each request.
	usesImages bool
	// hasMutate and hasValidate tell which phases have rules to run;
	// hasVerify is set when verifyImages rules run in the mutate phase.
	hasMutate, hasValidate, hasVerify bool
	jp                                *jmespath.Interpreter
	templates                         *templateCache
	// dialect compiles the verifyImages authorities that hold variables,
	// per request.
	dialect *Dialect
	// imageInfos caches the image references verifyImages rules parse.
	imageInfos *imageInfoCache
}

var _ engine.Policy = (*policy)(nil)

func (p *policy) Ref() engine.PolicyRef        { return p.ref }
func (p *policy) FailureAction() engine.Action { return p.failureAction }

type ruleType int

const (
	ruleNone ruleType = iota
	ruleValidate
	ruleMutate
	ruleGenerate
	ruleVerifyImages
)

// compiledRule is one rule, with everything it evaluates compiled.
type compiledRule struct {
	name          string
	typ           ruleType
	match         *matcher
	exclude       *matcher
	context       []*contextLoader
	preconditions *condition
	// unsupported is set for rule kinds later work brings (generate,
	// verifyImages, CEL): they evaluate to an error with this reason.
	unsupported string

	// validate
	action    engine.Action
	overrides []override
	// allowExisting is validate.allowExistingViolations (true unless set
	// false): an enforcing rule does not deny an UPDATE whose old object
	// already violated it.
	allowExisting bool
	message       *variables.Template
	messageRaw    string
	pattern       *variables.Template
	anyPattern    []*variables.Template
	deny          *condition
	foreachV      []*foreachValidate
	podSecurity   *podsecurity.Rule

	// mutate
	overlay  *variables.Template
	json6902 *variables.Template
	foreachM []*foreachMutate

	// verifyImages
	images *imageRule
}

// override is a compiled failure-action override.
type override struct {
	action     engine.Action
	namespaces []string
	selector   *match.Selector
}

type foreachValidate struct {
	list          string
	listQuery     *jmespath.Query
	context       []*contextLoader
	elementScope  *bool
	preconditions *condition
	pattern       *variables.Template
	anyPattern    []*variables.Template
	deny          *condition
	nested        []*foreachValidate
}

type foreachMutate struct {
	list          string
	listQuery     *jmespath.Query
	order         string
	context       []*contextLoader
	preconditions *condition
	overlay       *variables.Template
	json6902      *variables.Template
	nested        []*foreachMutate
}

// condition is a compiled conditions block: preconditions or deny.
type condition struct {
	block *conditions.Block
}

func (d *Dialect) compile(doc engine.Document) (engine.Policy, field.ErrorList) {
	ns, name := doc.Name()
	p := &policy{
		ref:           engine.PolicyRef{Dialect: DialectName, Kind: doc.GVK().Kind, Namespace: ns, Name: name},
		failureAction: engine.ActionDeny,
		admission:     true,
		background:    true,
		jp:            d.jp,
		templates:     &templateCache{},
		dialect:       d,
		imageInfos:    &imageInfoCache{},
	}
	if doc.GVK().Kind == "Policy" {
		p.namespace = ns
		if p.namespace == "" {
			p.namespace = "default"
			p.ref.Namespace = "default"
		}
	}
	root := doc.Root()
	pd, errs := decode(doc)
	if pd == nil || len(errs) > 0 {
		p.broken = errs.ToAggregate().Error()
		return p, errs
	}
	if pd.Spec.FailurePolicy != nil && *pd.Spec.FailurePolicy == "Ignore" {
		p.failureAction = engine.ActionAudit
	}
	if wc := pd.Spec.WebhookConfiguration; wc != nil && wc.FailurePolicy != nil {
		p.failureAction = engine.ActionDeny
		if *wc.FailurePolicy == "Ignore" {
			p.failureAction = engine.ActionAudit
		}
	}
	if pd.Spec.EmitWarning != nil {
		p.emitWarning = *pd.Spec.EmitWarning
	} else if pd.Spec.AuditWarning != nil {
		p.emitWarning = *pd.Spec.AuditWarning
	}
	if pd.Spec.ApplyRules != nil && *pd.Spec.ApplyRules == "One" {
		p.applyOne = true
	}
	if pd.Spec.Admission != nil {
		p.admission = *pd.Spec.Admission
	}
	if pd.Spec.Background != nil {
		p.background = *pd.Spec.Background
	}
	ann := pd.Metadata.Annotations
	if v, ok := ann[annotationScored]; ok && v == "false" {
		p.addProperty("scored", "false")
	}
	if v := ann[annotationSeverity]; v != "" {
		p.addProperty("severity", v)
	}
	if v := ann[annotationCategory]; v != "" {
		p.addProperty("category", v)
	}

	specPath := root.Child("spec")
	if len(pd.Spec.Rules) == 0 {
		errs = append(errs, field.Required(specPath.Child("rules"), "a policy needs at least one rule"))
	}
	rawRules, err := rawRuleMaps(doc.Object)
	if err != nil {
		errs = append(errs, field.Invalid(specPath.Child("rules"), nil, err.Error()))
	}
	p.usesImages = readsImages(rawRules, "")
	errs = append(errs, validateSpec(pd, specPath)...)

	// The policy's own rules, then the generated ones.
	rules := pd.Spec.Rules
	paths := make([]*field.Path, len(rules))
	for i := range rules {
		paths[i] = specPath.Child("rules").Index(i)
	}
	if len(errs) == 0 {
		gen, err := autogen(ann, rules, rawRules)
		if err != nil {
			errs = append(errs, field.InternalError(specPath.Child("rules"), fmt.Errorf("autogen: %w", err)))
		}
		for _, g := range gen {
			var r rule
			if err := remarshal(g, &r); err != nil {
				errs = append(errs, field.InternalError(specPath.Child("rules"), fmt.Errorf("autogen: %w", err)))
				continue
			}
			rules = append(rules, r)
			paths = append(paths, specPath.Child("rules").Key(r.Name))
		}
	}
	for i, r := range rules {
		cr, rerrs := d.compileRule(pd, r, paths[i])
		if i >= len(pd.Spec.Rules) {
			// A generated rule repeats the problems of its rule.
			rerrs = newErrors(errs, rerrs)
		}
		errs = append(errs, rerrs...)
		p.rules = append(p.rules, cr)
		if cr.typ == ruleMutate {
			p.hasMutate = true
		} else if cr.typ != ruleNone {
			p.hasValidate = true
		}
		if cr.typ == ruleVerifyImages {
			p.hasVerify = true
		}
	}
	if len(errs) > 0 {
		p.broken = errs.ToAggregate().Error()
	}
	return p, errs
}

// newErrors returns the errors of add whose type and detail are not in
// have.
func newErrors(have, add field.ErrorList) field.ErrorList {
	seen := map[string]bool{}
	for _, e := range have {
		seen[string(e.Type)+"\x00"+e.Detail] = true
	}
	var out field.ErrorList
	for _, e := range add {
		if !seen[string(e.Type)+"\x00"+e.Detail] {
			out = append(out, e)
		}
	}
	return out
}

// readsImages reports whether a rule may read the images variable: a
// variable, foreach list or JMESPath expression that mentions it.
func readsImages(v any, key string) bool {
	switch t := v.(type) {
	case string:
		if !strings.Contains(t, "images") {
			return false
		}
		return strings.Contains(t, "{{") || key == "list" || key == "jmesPath"
	case map[string]any:
		for k, e := range t {
			if readsImages(e, k) {
				return true
			}
		}
	case []any:
		for _, e := range t {
			if readsImages(e, key) {
				return true
			}
		}
	case []map[string]any:
		for _, e := range t {
			if readsImages(e, key) {
				return true
			}
		}
	}
	return false
}

func (p *policy) addProperty(k, v string) {
	if p.properties == nil {
		p.properties = map[string]string{}
	}
	p.properties[k] = v
}

func rawRuleMaps(obj map[string]any) ([]map[string]any, error) {
	spec, _ := obj["spec"].(map[string]any)
	var out []map[string]any
	for i, r := range asSlice(spec["rules"]) {
		m, ok := r.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("rule %d is not an object", i)
		}
		out = append(out, m)
	}
	return out, nil
}

// validateSpec checks the policy-wide fields.
func validateSpec(pd *policyDoc, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if a := pd.Spec.ValidationFailureAction; a != "" && !validAction(a) {
		errs = append(errs, field.NotSupported(path.Child("validationFailureAction"), a, []string{"Audit", "Enforce"}))
	}
	if fp := pd.Spec.FailurePolicy; fp != nil && *fp != "Fail" && *fp != "Ignore" {
		errs = append(errs, field.NotSupported(path.Child("failurePolicy"), *fp, []string{"Fail", "Ignore"}))
	}
	if ar := pd.Spec.ApplyRules; ar != nil && *ar != "One" && *ar != "All" {
		errs = append(errs, field.NotSupported(path.Child("applyRules"), *ar, []string{"All", "One"}))
	}
	if t := pd.Spec.WebhookTimeoutSeconds; t != nil && (*t < 1 || *t > 30) {
		errs = append(errs, field.Invalid(path.Child("webhookTimeoutSeconds"), *t, "the timeout value must be between 1 and 30 seconds"))
	}
	seen := map[string]bool{}
	for i, r := range pd.Spec.Rules {
		rp := path.Child("rules").Index(i)
		if r.Name == "" {
			errs = append(errs, field.Required(rp.Child("name"), "rules need a name"))
		} else if len(r.Name) > 63 {
			errs = append(errs, field.TooLong(rp.Child("name"), r.Name, 63))
		}
		if seen[r.Name] {
			errs = append(errs, field.Duplicate(rp.Child("name"), r.Name))
		}
		seen[r.Name] = true
	}
	return errs
}

func validAction(a string) bool {
	switch a {
	case "Audit", "Enforce", "audit", "enforce":
		return true
	}
	return false
}

func actionOf(a string) engine.Action {
	if strings.EqualFold(a, "Enforce") {
		return engine.ActionDeny
	}
	return engine.ActionAudit
}

func (d *Dialect) compileRule(pd *policyDoc, r rule, path *field.Path) (*compiledRule, field.ErrorList) {
	var errs field.ErrorList
	cr := &compiledRule{name: r.Name}
	var merrs field.ErrorList
	cr.match, merrs = compileMatcher(r.Match, path.Child("match"), true)
	errs = append(errs, merrs...)
	if r.Exclude != nil {
		cr.exclude, merrs = compileMatcher(*r.Exclude, path.Child("exclude"), false)
		errs = append(errs, merrs...)
	}
	var cerrs field.ErrorList
	cr.context, cerrs = d.compileContext(r.Context, path.Child("context"))
	errs = append(errs, cerrs...)
	if r.Preconditions != nil {
		cr.preconditions, cerrs = d.compileCondition(r.Preconditions, path.Child("preconditions"))
		errs = append(errs, cerrs...)
	}
	if len(r.CELPreconditions) > 0 {
		cr.unsupported = "celPreconditions need the CEL support of a later issue"
	}

	count := 0
	if r.Validate != nil {
		count++
		cr.typ = ruleValidate
	}
	if r.Mutate != nil {
		count++
		cr.typ = ruleMutate
	}
	if r.Generate != nil {
		count++
		cr.typ = ruleGenerate
		cr.unsupported = "generate rules are not supported yet"
	}
	if len(r.VerifyImages) > 0 {
		count++
		cr.typ = ruleVerifyImages
	}
	switch {
	case count == 0:
		errs = append(errs, field.Required(path, fmt.Sprintf("no operation defined in the rule '%s' (supported operations: mutate, validate, generate, verifyImages)", r.Name)))
	case count > 1:
		errs = append(errs, field.Invalid(path, r.Name, fmt.Sprintf("multiple operations defined in the rule '%s', only one operation (mutate, validate, generate, verifyImages) is allowed per rule", r.Name)))
	}
	if r.Validate != nil {
		errs = append(errs, d.compileValidate(pd, r, cr, path.Child("validate"))...)
	}
	if r.Mutate != nil {
		errs = append(errs, d.compileMutate(r.Mutate, cr, path.Child("mutate"))...)
	}
	if len(r.VerifyImages) > 0 {
		errs = append(errs, d.compileVerifyImages(pd, r, cr, path)...)
	}
	return cr, errs
}

func (d *Dialect) compileValidate(pd *policyDoc, r rule, cr *compiledRule, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	v := r.Validate
	// The failure action: the rule's own, else the policy's (Audit by default).
	action := pd.Spec.ValidationFailureAction
	if v.ValidationFailureAction != nil {
		action = *v.ValidationFailureAction
	}
	if v.FailureAction != nil {
		action = *v.FailureAction
	}
	if action != "" && !validAction(action) {
		errs = append(errs, field.NotSupported(path.Child("failureAction"), action, []string{"Audit", "Enforce"}))
	}
	cr.action = actionOf(action)
	cr.allowExisting = v.AllowExistingViolations == nil || *v.AllowExistingViolations
	overrides := pd.Spec.ValidationFailureActionOverrides
	if len(v.ValidationFailureActionOverrides) > 0 {
		overrides = v.ValidationFailureActionOverrides
	}
	if len(v.FailureActionOverrides) > 0 {
		overrides = v.FailureActionOverrides
	}
	for i, o := range overrides {
		op := path.Child("failureActionOverrides").Index(i)
		if !validAction(o.Action) {
			errs = append(errs, field.NotSupported(op.Child("action"), o.Action, []string{"Audit", "Enforce"}))
		}
		sel, err := match.CompileSelector(o.NamespaceSelector)
		if err != nil {
			errs = append(errs, field.Invalid(op.Child("namespaceSelector"), o.NamespaceSelector, err.Error()))
		}
		cr.overrides = append(cr.overrides, override{action: actionOf(o.Action), namespaces: o.Namespaces, selector: sel})
	}

	var err error
	cr.messageRaw = v.Message
	if v.Message != "" {
		if cr.message, err = variables.Compile(v.Message, d.jp); err != nil {
			errs = append(errs, field.Invalid(path.Child("message"), v.Message, err.Error()))
		}
	}
	kinds := 0
	if v.Pattern != nil {
		kinds++
		if cr.pattern, err = variables.Compile(v.Pattern, d.jp); err != nil {
			errs = append(errs, field.Invalid(path.Child("pattern"), nil, err.Error()))
		}
	}
	if v.AnyPattern != nil {
		kinds++
		list, ok := v.AnyPattern.([]any)
		if !ok {
			errs = append(errs, field.Invalid(path.Child("anyPattern"), nil, "must be a list of patterns"))
		}
		for i, p := range list {
			t, err := variables.Compile(p, d.jp)
			if err != nil {
				errs = append(errs, field.Invalid(path.Child("anyPattern").Index(i), nil, err.Error()))
			}
			cr.anyPattern = append(cr.anyPattern, t)
		}
	}
	if v.Deny != nil {
		kinds++
		var cerrs field.ErrorList
		cr.deny, cerrs = d.compileCondition(v.Deny.Conditions, path.Child("deny", "conditions"))
		errs = append(errs, cerrs...)
	}
	if len(v.ForEach) > 0 {
		kinds++
		for i, fe := range v.ForEach {
			cf, ferrs := d.compileForeachValidate(fe, path.Child("foreach").Index(i), 0)
			errs = append(errs, ferrs...)
			cr.foreachV = append(cr.foreachV, cf)
		}
	}
	if v.PodSecurity != nil {
		kinds++
		var perrs field.ErrorList
		cr.podSecurity, perrs = podsecurity.Compile(v.PodSecurity, path.Child("podSecurity"))
		errs = append(errs, perrs...)
	}
	if v.CEL != nil {
		kinds++
		cr.unsupported = "validate.cel rules need the CEL support of a later issue"
	}
	if v.Manifests != nil {
		kinds++
		cr.unsupported = "validate.manifests rules need the signature support of a later issue"
	}
	if v.Assert != nil {
		kinds++
		cr.unsupported = "validate.assert rules are not supported yet"
	}
	if kinds == 0 {
		errs = append(errs, field.Required(path, "a validate rule needs one of pattern, anyPattern, deny, foreach, podSecurity, cel, manifests or assert"))
	} else if kinds > 1 {
		errs = append(errs, field.Invalid(path, nil, "only one of pattern, anyPattern, deny, foreach, podSecurity, cel, manifests or assert is allowed"))
	}
	return errs
}

const maxForeachNesting = 8

func (d *Dialect) compileForeachValidate(fe forEachValidation, path *field.Path, depth int) (*foreachValidate, field.ErrorList) {
	var errs field.ErrorList
	out := &foreachValidate{list: fe.List, elementScope: fe.ElementScope}
	if depth >= maxForeachNesting {
		return out, field.ErrorList{field.TooMany(path, depth+1, maxForeachNesting)}
	}
	if strings.TrimSpace(fe.List) == "" {
		errs = append(errs, field.Required(path.Child("list"), "foreach needs a list expression"))
	} else {
		var err error
		if out.listQuery, err = d.jp.Compile(listExpr(fe.List)); err != nil {
			errs = append(errs, field.Invalid(path.Child("list"), fe.List, err.Error()))
		}
	}
	var cerrs field.ErrorList
	out.context, cerrs = d.compileContext(fe.Context, path.Child("context"))
	errs = append(errs, cerrs...)
	if fe.Preconditions != nil {
		out.preconditions, cerrs = d.compileCondition(fe.Preconditions, path.Child("preconditions"))
		errs = append(errs, cerrs...)
	}
	kinds := 0
	var err error
	if fe.Pattern != nil {
		kinds++
		if out.pattern, err = variables.Compile(fe.Pattern, d.jp); err != nil {
			errs = append(errs, field.Invalid(path.Child("pattern"), nil, err.Error()))
		}
	}
	if fe.AnyPattern != nil {
		kinds++
		list, _ := fe.AnyPattern.([]any)
		for i, p := range list {
			t, err := variables.Compile(p, d.jp)
			if err != nil {
				errs = append(errs, field.Invalid(path.Child("anyPattern").Index(i), nil, err.Error()))
			}
			out.anyPattern = append(out.anyPattern, t)
		}
	}
	if fe.Deny != nil {
		kinds++
		out.deny, cerrs = d.compileCondition(fe.Deny.Conditions, path.Child("deny", "conditions"))
		errs = append(errs, cerrs...)
	}
	if len(fe.ForEach) > 0 {
		kinds++
		for i, n := range fe.ForEach {
			cn, nerrs := d.compileForeachValidate(n, path.Child("foreach").Index(i), depth+1)
			errs = append(errs, nerrs...)
			out.nested = append(out.nested, cn)
		}
	}
	if kinds != 1 {
		errs = append(errs, field.Invalid(path, nil, "a foreach needs exactly one of pattern, anyPattern, deny or foreach"))
	}
	return out, errs
}

func (d *Dialect) compileMutate(m *mutation, cr *compiledRule, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(m.Targets) > 0 {
		cr.unsupported = "mutate rules with targets (mutate existing) are not supported yet"
	}
	kinds := 0
	var err error
	if m.PatchStrategicMerge != nil {
		kinds++
		if cr.overlay, err = variables.Compile(m.PatchStrategicMerge, d.jp); err != nil {
			errs = append(errs, field.Invalid(path.Child("patchStrategicMerge"), nil, err.Error()))
		}
	}
	if m.PatchesJSON6902 != "" {
		kinds++
		if cr.json6902, err = variables.Compile(m.PatchesJSON6902, d.jp); err != nil {
			errs = append(errs, field.Invalid(path.Child("patchesJson6902"), nil, err.Error()))
		}
	}
	if len(m.ForEach) > 0 {
		kinds++
		for i, fe := range m.ForEach {
			cf, ferrs := d.compileForeachMutate(fe, path.Child("foreach").Index(i), 0)
			errs = append(errs, ferrs...)
			cr.foreachM = append(cr.foreachM, cf)
		}
	}
	if kinds == 0 && len(m.Targets) == 0 {
		errs = append(errs, field.Required(path, "a mutate rule needs patchStrategicMerge, patchesJson6902 or foreach"))
	} else if kinds > 1 {
		errs = append(errs, field.Invalid(path, nil, "only one of patchStrategicMerge, patchesJson6902 or foreach is allowed"))
	}
	return errs
}

func (d *Dialect) compileForeachMutate(fe forEachMutation, path *field.Path, depth int) (*foreachMutate, field.ErrorList) {
	var errs field.ErrorList
	out := &foreachMutate{list: fe.List}
	if depth >= maxForeachNesting {
		return out, field.ErrorList{field.TooMany(path, depth+1, maxForeachNesting)}
	}
	if fe.Order != nil {
		switch *fe.Order {
		case "Ascending", "Descending":
			out.order = *fe.Order
		default:
			errs = append(errs, field.NotSupported(path.Child("order"), *fe.Order, []string{"Ascending", "Descending"}))
		}
	}
	if strings.TrimSpace(fe.List) == "" {
		errs = append(errs, field.Required(path.Child("list"), "foreach needs a list expression"))
	} else {
		var err error
		if out.listQuery, err = d.jp.Compile(listExpr(fe.List)); err != nil {
			errs = append(errs, field.Invalid(path.Child("list"), fe.List, err.Error()))
		}
	}
	var cerrs field.ErrorList
	out.context, cerrs = d.compileContext(fe.Context, path.Child("context"))
	errs = append(errs, cerrs...)
	if fe.Preconditions != nil {
		out.preconditions, cerrs = d.compileCondition(fe.Preconditions, path.Child("preconditions"))
		errs = append(errs, cerrs...)
	}
	kinds := 0
	var err error
	if fe.PatchStrategicMerge != nil {
		kinds++
		if out.overlay, err = variables.Compile(fe.PatchStrategicMerge, d.jp); err != nil {
			errs = append(errs, field.Invalid(path.Child("patchStrategicMerge"), nil, err.Error()))
		}
	}
	if fe.PatchesJSON6902 != "" {
		kinds++
		if out.json6902, err = variables.Compile(fe.PatchesJSON6902, d.jp); err != nil {
			errs = append(errs, field.Invalid(path.Child("patchesJson6902"), nil, err.Error()))
		}
	}
	if len(fe.ForEach) > 0 {
		kinds++
		for i, n := range fe.ForEach {
			cn, nerrs := d.compileForeachMutate(n, path.Child("foreach").Index(i), depth+1)
			errs = append(errs, nerrs...)
			out.nested = append(out.nested, cn)
		}
	}
	if kinds != 1 {
		errs = append(errs, field.Invalid(path, nil, "a foreach needs exactly one of patchStrategicMerge, patchesJson6902 or foreach"))
	}
	return out, errs
}

// listExpr returns the JMESPath expression of a foreach list: Kyverno's
// list is a bare expression, sometimes written inside {{ }}.
func listExpr(list string) string {
	l := strings.TrimSpace(list)
	if strings.HasPrefix(l, "{{") && strings.HasSuffix(l, "}}") {
		return strings.TrimSpace(l[2 : len(l)-2])
	}
	return l
}

func (d *Dialect) compileCondition(raw any, path *field.Path) (*condition, field.ErrorList) {
	block, errs := conditions.Compile(raw, path)
	return &condition{block: block}, errs
}

// jsonString renders a value for messages.
func jsonString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
