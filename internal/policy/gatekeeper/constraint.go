package gatekeeper

import (
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/open-policy-agent/opa/v1/ast"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portcullis-dev/portcullis/internal/engine"
)

// The enforcement actions a constraint may name.
const (
	actionDeny   = "deny"
	actionWarn   = "warn"
	actionDryrun = "dryrun"
	actionScoped = "scoped"
)

// wildcardPattern is what namespaces, excludedNamespaces and name accept:
// a name with an optional leading or trailing glob.
var wildcardPattern = regexp.MustCompile(`^(\*|\*-)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\*|-\*)?$`)

// constraint is a compiled constraint: one policy.
type constraint struct {
	ref     engine.PolicyRef
	dialect *Dialect
	tmpl    *template
	// match is nil when spec.match did not compile; the constraint then
	// errors for every request.
	match   *matcher
	enforce enforcement
	params  *constraintParams
	// broken is set when the constraint or its template did not compile:
	// matching requests get an error result with this message.
	broken  string
	failure engine.Action
}

var _ engine.Policy = (*constraint)(nil)

// constraintParams are spec.parameters, with their Rego value computed once.
type constraintParams struct {
	// raw is spec.parameters, an empty object when unset, as Rego sees it.
	raw any
	// cel is spec.parameters as CEL sees it: nil when unset.
	cel   any
	value ast.Value
}

// enforcement is a constraint's enforcementAction with its scoped actions.
type enforcement struct {
	action string
	scoped []scopedAction
}

// scopedAction is one entry of spec.scopedEnforcementActions.
type scopedAction struct {
	action engine.Action
	// points are the enforcement points it applies to; "*" is every point.
	points []string
}

func engineAction(s string) (engine.Action, bool) {
	switch s {
	case actionDeny:
		return engine.ActionDeny, true
	case actionWarn:
		return engine.ActionWarn, true
	case actionDryrun:
		return engine.ActionAudit, true
	}
	return "", false
}

// actionFor returns what the constraint does at an enforcement point, and
// false when it is not enforced there. Of several scoped actions for one
// point the strictest wins.
func (e enforcement) actionFor(point string) (engine.Action, bool) {
	if e.action != actionScoped {
		a, ok := engineAction(e.action)
		return a, ok
	}
	var best engine.Action
	for _, s := range e.scoped {
		applies := false
		for _, p := range s.points {
			if p == "*" || p == point {
				applies = true
				break
			}
		}
		if applies && strictness(s.action) > strictness(best) {
			best = s.action
		}
	}
	return best, best != ""
}

func strictness(a engine.Action) int {
	switch a {
	case engine.ActionDeny:
		return 3
	case engine.ActionWarn:
		return 2
	case engine.ActionAudit:
		return 1
	}
	return 0
}

// compileConstraint compiles one constraint and binds it to its template.
// It always returns a policy; one that did not compile evaluates to errors.
func (d *Dialect) compileConstraint(doc engine.Document, templates map[string]*template) (*constraint, field.ErrorList) {
	root := doc.Root()
	gvk := doc.GVK()
	_, name := doc.Name()
	c := &constraint{
		ref:     engine.PolicyRef{Dialect: DialectName, Kind: gvk.Kind, Name: name},
		dialect: d,
		enforce: enforcement{action: actionDeny},
		failure: engine.ActionDeny,
	}
	var f fields
	switch gvk.Version {
	case "v1beta1", "v1alpha1", "v1":
	default:
		f.errs = append(f.errs, field.NotSupported(root.Child("apiVersion"), doc.Object["apiVersion"],
			[]string{ConstraintGroup + "/v1beta1", ConstraintGroup + "/v1alpha1", ConstraintGroup + "/v1"}))
	}
	if name == "" {
		f.errs = append(f.errs, field.Required(root.Child("metadata", "name"), ""))
	} else {
		for _, msg := range validation.IsDNS1123Subdomain(name) {
			f.errs = append(f.errs, field.Invalid(root.Child("metadata", "name"), name, msg))
		}
		if len(name) > 63 {
			f.errs = append(f.errs, field.TooLong(root.Child("metadata", "name"), name, 63))
		}
	}

	specPath := root.Child("spec")
	spec := f.object(doc.Object, "spec", root)
	f.only(spec, specPath, "match", "parameters", "enforcementAction", "scopedEnforcementActions")
	c.enforce = compileEnforcement(spec, specPath, &f)
	if a, ok := c.enforce.actionFor(EnforcementPointValidation); ok && a != engine.ActionDeny {
		c.failure = a
	}
	matchErrs := len(f.errs)
	c.match = compileMatch(f.object(spec, "match", specPath), specPath.Child("match"), &f)
	if len(f.errs) > matchErrs {
		c.match = nil
	}

	paramsPath := specPath.Child("parameters")
	raw := spec["parameters"]
	t := templates[gvk.Kind]
	switch {
	case t == nil:
		f.errs = append(f.errs, field.Invalid(root.Child("kind"), gvk.Kind, "no ConstraintTemplate defines this kind"))
	case t.schema != nil && raw != nil:
		f.errs = append(f.errs, t.schema.validate(raw, paramsPath)...)
	case t.schema == nil && raw != nil:
		f.errs = append(f.errs, field.Forbidden(paramsPath, "unknown field: the template declares no parameters schema"))
	}
	c.tmpl = t
	celParams := raw
	if raw == nil {
		// Gatekeeper defaults the parameters to an empty object.
		raw = map[string]any{}
	}
	value, err := ast.InterfaceToValue(raw)
	if err != nil {
		f.errs = append(f.errs, invalid(paramsPath, err.Error()))
		value = ast.NewObject()
	}
	c.params = &constraintParams{raw: raw, cel: celParams, value: value}

	switch {
	case len(f.errs) > 0:
		c.broken = fmt.Sprintf("constraint %s/%s is invalid: %v", gvk.Kind, name, f.errs.ToAggregate())
	case t.broken != "":
		c.broken = t.broken
	}
	return c, f.errs
}

func compileEnforcement(spec map[string]any, specPath *field.Path, f *fields) enforcement {
	e := enforcement{action: actionDeny}
	if a := f.str(spec, "enforcementAction", specPath); a != "" {
		e.action = a
	}
	switch e.action {
	case actionDeny, actionWarn, actionDryrun:
	case actionScoped:
		p := specPath.Child("scopedEnforcementActions")
		list := f.list(spec, "scopedEnforcementActions", specPath)
		if len(list) == 0 {
			f.errs = append(f.errs, field.Required(p, "enforcementAction scoped needs scopedEnforcementActions"))
			// A broken constraint fails closed.
			e.action = actionDeny
		}
		for i, item := range list {
			ip := p.Index(i)
			m, ok := item.(map[string]any)
			if !ok {
				f.typeError(ip, item, "an object")
				continue
			}
			f.only(m, ip, "action", "enforcementPoints")
			name := f.str(m, "action", ip)
			action, ok := engineAction(name)
			if !ok {
				f.errs = append(f.errs, field.NotSupported(ip.Child("action"), name, []string{actionDeny, actionWarn, actionDryrun}))
			}
			s := scopedAction{action: action}
			for j, pt := range f.list(m, "enforcementPoints", ip) {
				pp := ip.Child("enforcementPoints").Index(j)
				pm, ok := pt.(map[string]any)
				if !ok {
					f.typeError(pp, pt, "an object")
					continue
				}
				f.only(pm, pp, "name")
				if n := f.str(pm, "name", pp); n != "" {
					s.points = append(s.points, n)
				}
			}
			e.scoped = append(e.scoped, s)
		}
	default:
		f.errs = append(f.errs, field.NotSupported(specPath.Child("enforcementAction"), e.action,
			[]string{actionDeny, actionDryrun, actionWarn, actionScoped}))
		e.action = actionDeny
	}
	return e
}

// compileMatch compiles spec.match; nil matches everything.
func compileMatch(m map[string]any, p *field.Path, f *fields) *matcher {
	mt := &matcher{}
	if m == nil {
		return mt
	}
	f.only(m, p, "kinds", "scope", "namespaces", "excludedNamespaces", "labelSelector", "namespaceSelector", "name", "source")
	for i, k := range f.list(m, "kinds", p) {
		kp := p.Child("kinds").Index(i)
		km, ok := k.(map[string]any)
		if !ok {
			f.typeError(kp, k, "an object")
			continue
		}
		f.only(km, kp, "apiGroups", "kinds")
		mt.kinds = append(mt.kinds, kindSelector{
			groups: f.strings(km, "apiGroups", kp, true),
			kinds:  f.strings(km, "kinds", kp, true),
		})
	}
	mt.scope = f.str(m, "scope", p)
	switch mt.scope {
	case "", "*", "Cluster", "Namespaced":
	default:
		f.errs = append(f.errs, field.NotSupported(p.Child("scope"), mt.scope, []string{"*", "Cluster", "Namespaced"}))
	}
	mt.namespaces = wildcards(m, "namespaces", p, f)
	mt.excluded = wildcards(m, "excludedNamespaces", p, f)
	mt.labels = selector(f.object(m, "labelSelector", p), p.Child("labelSelector"), f)
	mt.namespaceSelector = selector(f.object(m, "namespaceSelector", p), p.Child("namespaceSelector"), f)
	mt.name = f.str(m, "name", p)
	if mt.name != "" && !wildcardPattern.MatchString(mt.name) {
		f.errs = append(f.errs, field.Invalid(p.Child("name"), mt.name, "must be a name with an optional leading or trailing *"))
	}
	mt.source = f.str(m, "source", p)
	switch mt.source {
	case "", sourceAll, sourceOriginal, sourceGenerated:
	default:
		f.errs = append(f.errs, field.NotSupported(p.Child("source"), mt.source, []string{sourceAll, sourceGenerated, sourceOriginal}))
	}
	return mt
}

func wildcards(m map[string]any, key string, p *field.Path, f *fields) []string {
	list := f.strings(m, key, p, false)
	for i, s := range list {
		if !wildcardPattern.MatchString(s) {
			f.errs = append(f.errs, field.Invalid(p.Child(key).Index(i), s, "must be a namespace name with an optional leading or trailing *"))
		}
	}
	return list
}

// selector compiles a label selector; nil when there is none.
func selector(m map[string]any, p *field.Path, f *fields) labels.Selector {
	if m == nil {
		return nil
	}
	f.only(m, p, "matchLabels", "matchExpressions")
	b, err := json.Marshal(m)
	if err != nil {
		f.errs = append(f.errs, invalid(p, err.Error()))
		return nil
	}
	var ls metav1.LabelSelector
	if err := json.Unmarshal(b, &ls); err != nil {
		f.errs = append(f.errs, invalid(p, fmt.Sprintf("not a label selector: %v", err)))
		return nil
	}
	if errs := metav1validation.ValidateLabelSelector(&ls, metav1validation.LabelSelectorValidationOptions{}, p); len(errs) > 0 {
		f.errs = append(f.errs, errs...)
		return nil
	}
	sel, err := metav1.LabelSelectorAsSelector(&ls)
	if err != nil {
		f.errs = append(f.errs, invalid(p, err.Error()))
		return nil
	}
	return sel
}

// Ref implements engine.Policy.
func (c *constraint) Ref() engine.PolicyRef { return c.ref }

// FailureAction implements engine.Policy: deny for constraints that deny,
// so that they fail closed; the constraint's own action otherwise.
func (c *constraint) FailureAction() engine.Action { return c.failure }

var _ engine.Targeter = (*constraint)(nil)

// Targets implements engine.Targeter: the groups and kinds of spec.match,
// in every version, subresource and operation; nil (anything) when the
// constraint matches every kind or its match did not compile. Targets only
// narrow what the engine evaluates; matching itself stays the
// constraint's. The core group "" reads as any group, which is wider than
// Gatekeeper's match, never narrower.
func (c *constraint) Targets() []engine.Target {
	if c.match == nil || len(c.match.kinds) == 0 {
		return nil
	}
	all := func(l []string) []string {
		if len(l) == 0 || contains(l, "*") {
			return []string{"*"}
		}
		return l
	}
	var out []engine.Target
	for _, k := range c.match.kinds {
		for _, g := range all(k.groups) {
			for _, kind := range all(k.kinds) {
				out = append(out, engine.Target{Group: g, Version: "*", Kind: kind, Subresource: "*"})
			}
		}
	}
	return out
}
