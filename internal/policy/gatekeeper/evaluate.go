package gatekeeper

import (
	"context"
	"errors"
	"fmt"
	"github.com/open-policy-agent/opa/v1/ast"
	"sort"

	"github.com/portcullis-dev/portcullis/internal/engine"
)

// review is one request in Gatekeeper's shape, built once per evaluation.
type review struct {
	req *engine.Request
	// request is input.review: the AdmissionRequest as Gatekeeper passes it.
	request map[string]any
	// object is the object under review: the old object on DELETE, as
	// Gatekeeper sets it.
	object, oldObject map[string]any

	nsDone bool
	ns     map[string]any
	nsErr  error

	// lazy is input.review as a Rego value, converted as the templates read
	// it and shared by every constraint that evaluates the request.
	lazy ast.Object
}

// regoReview returns input.review as a Rego value.
func (r *review) regoReview() ast.Object {
	if r.lazy == nil {
		r.lazy = ast.LazyObject(r.request)
	}
	return r.lazy
}

// memoKey is the key of the request's review in engine.Request.Memo.
const memoKey = "gatekeeper.review"

// reviewFor returns the review of a request, built once per evaluation and
// shared by every constraint.
func reviewFor(req *engine.Request) *review {
	if rv, ok := req.Memo[memoKey].(*review); ok && rv.req == req {
		return rv
	}
	rv := newReview(req)
	if req.Memo != nil {
		req.Memo[memoKey] = rv
	}
	return rv
}

// newReview builds the AdmissionRequest Gatekeeper gives templates. Its
// fields are those of admission/v1 AdmissionRequest as JSON: object,
// oldObject and options are null when absent; dryRun is only set for
// admission requests (those with an operation).
func newReview(req *engine.Request) *review {
	obj, old := req.Object, req.OldObject
	if req.Operation == engine.Delete && obj == nil {
		obj = old
	}
	r := make(map[string]any, 14)
	r["uid"] = req.UID
	r["kind"] = map[string]any{
		"group":   req.Kind.Group,
		"version": req.Kind.Version,
		"kind":    req.Kind.Kind,
	}
	r["resource"] = map[string]any{
		"group":    req.Resource.Group,
		"version":  req.Resource.Version,
		"resource": req.Resource.Resource,
	}
	r["operation"] = string(req.Operation)
	r["userInfo"] = userInfo(req)
	r["object"] = nullable(obj)
	r["oldObject"] = nullable(old)
	r["options"] = nullable(req.Options)
	if req.SubResource != "" {
		r["subResource"] = req.SubResource
	}
	if req.Name != "" {
		r["name"] = req.Name
	}
	if req.Namespace != "" {
		r["namespace"] = req.Namespace
	}
	if req.DryRun || req.Operation != "" {
		r["dryRun"] = req.DryRun
	}
	return &review{req: req, request: r, object: obj, oldObject: old}
}

// nullable keeps a nil map a JSON null rather than an empty object.
func nullable(m map[string]any) any {
	if m == nil {
		return nil
	}
	return m
}

func userInfo(req *engine.Request) map[string]any {
	u := req.UserInfo
	out := make(map[string]any, 4)
	if u.Username != "" {
		out["username"] = u.Username
	}
	if u.UID != "" {
		out["uid"] = u.UID
	}
	if len(u.Groups) > 0 {
		groups := make([]any, len(u.Groups))
		for i, g := range u.Groups {
			groups[i] = g
		}
		out["groups"] = groups
	}
	if len(u.Extra) > 0 {
		extra := make(map[string]any, len(u.Extra))
		for k, vs := range u.Extra {
			l := make([]any, len(vs))
			for i, v := range vs {
				l[i] = v
			}
			extra[k] = l
		}
		out["extra"] = extra
	}
	return out
}

// namespace returns the request's namespace object: from the cluster, or
// else the one the request carries; nil when neither knows it.
func (r *review) namespace(ctx context.Context, cluster engine.Cluster) (map[string]any, error) {
	if r.nsDone {
		return r.ns, r.nsErr
	}
	r.nsDone = true
	name := r.req.Namespace
	if name == "" {
		name, _ = metadata(r.object)["namespace"].(string)
	}
	if name == "" {
		return nil, nil
	}
	if cluster.Namespaces != nil {
		ns, err := cluster.Namespaces.Namespace(ctx, name)
		switch {
		case err == nil:
			r.ns = ns
			return ns, nil
		case !errors.Is(err, engine.ErrNotFound):
			r.nsErr = fmt.Errorf("failed to get namespace %s: %w", name, err)
			return nil, r.nsErr
		}
	}
	if ns := r.req.NamespaceObject; ns != nil {
		if n, _ := metadata(ns)["name"].(string); n == "" || n == name {
			r.ns = ns
		}
	}
	return r.ns, nil
}

// namespaceObject is namespace without the error, for CEL's
// namespaceObject variable.
func (r *review) namespaceObject(ctx context.Context, cluster engine.Cluster) map[string]any {
	ns, _ := r.namespace(ctx, cluster)
	return ns
}

// Evaluate implements engine.Policy. Only the validate phase produces
// results: one Fail result per violation, sorted by message; one Pass
// result when the constraint matched and found nothing; Error results when
// matching or evaluation failed (Gatekeeper reports these as violations
// with the error as message), or the constraint or its template did not
// compile. Fail and Error results carry the constraint's action at
// the enforcement point; Rule is empty, as constraints have no rules.
func (c *constraint) Evaluate(ctx context.Context, req *engine.Request, cluster engine.Cluster) engine.Outcome {
	if req.Phase != engine.PhaseValidate {
		return engine.Outcome{}
	}
	point := c.dialect.point
	if point == "" {
		point = EnforcementPointValidation
		if req.Background {
			point = EnforcementPointAudit
		}
	}
	action, ok := c.enforce.actionFor(point)
	if !ok {
		return engine.Outcome{}
	}
	if c.match == nil {
		return c.outcome(engine.Error, action, c.broken)
	}
	rv := reviewFor(req)
	matched, err := c.match.matches(ctx, rv, cluster)
	if err != nil {
		return c.outcome(engine.Error, action, "unable to match constraints: "+err.Error())
	}
	if !matched {
		return engine.Outcome{}
	}
	if c.broken != "" {
		return c.outcome(engine.Error, action, c.broken)
	}
	msgs, failures, err := c.tmpl.violations(ctx, rv, c.params, cluster, c.dialect.evalTimeout)
	if err != nil {
		// Gatekeeper reports an evaluation error as a violation whose
		// message is the error.
		failures = append(failures, err.Error())
	}
	if len(msgs) == 0 && len(failures) == 0 {
		return c.outcome(engine.Pass, "", "")
	}
	sort.Strings(msgs)
	sort.Strings(failures)
	out := engine.Outcome{Rules: make([]engine.RuleResult, 0, len(msgs)+len(failures))}
	for _, m := range msgs {
		out.Rules = append(out.Rules, c.result(engine.Fail, action, m))
	}
	for _, m := range failures {
		out.Rules = append(out.Rules, c.result(engine.Error, action, m))
	}
	return out
}

func (c *constraint) result(v engine.Verdict, action engine.Action, msg string) engine.RuleResult {
	return engine.RuleResult{
		Policy:  c.ref,
		Type:    engine.Validation,
		Verdict: v,
		Message: msg,
		Action:  action,
	}
}

func (c *constraint) outcome(v engine.Verdict, action engine.Action, msg string) engine.Outcome {
	return engine.Outcome{Rules: []engine.RuleResult{c.result(v, action, msg)}}
}
