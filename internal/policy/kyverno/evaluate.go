package kyverno

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/match"
	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/jmespath"
	"github.com/portcullis-dev/portcullis/internal/workload"
)

// evalContext is the state of one policy evaluation.
type evalContext struct {
	ctx     context.Context
	req     *engine.Request
	cluster engine.Cluster
	p       *policy
	jp      *jmespath.Interpreter
	// object is the resource the rules see: the new object, or the old one
	// on DELETE. Mutations update it.
	object  map[string]any
	subject subject
	// base is the JSON context shared by every rule of the policy.
	base map[string]any
	// ivm holds the image verification results when the request has no
	// Memo to share them in.
	ivm *verificationMetadata
	// prior judges the old object of an UPDATE, for allowExistingViolations.
	prior *evalContext
}

// Evaluate implements engine.Policy.
func (p *policy) Evaluate(ctx context.Context, req *engine.Request, cluster engine.Cluster) engine.Outcome {
	obj := req.Object
	if obj == nil {
		obj = req.OldObject
	}
	if obj == nil {
		return engine.Outcome{}
	}
	if p.broken == "" && ((req.Phase == engine.PhaseMutate && !p.hasMutate && !p.hasVerify) || (req.Phase != engine.PhaseMutate && !p.hasValidate)) {
		return engine.Outcome{}
	}
	// A namespaced Policy applies only to resources in its namespace.
	if p.namespace != "" && metaString(obj, "namespace") != p.namespace {
		return engine.Outcome{}
	}
	ec := &evalContext{ctx: ctx, req: req, cluster: cluster, p: p, jp: p.jp, object: obj}
	ec.subject = subject{
		object:      obj,
		gvk:         req.Kind,
		subresource: req.SubResource,
		operation:   req.Operation,
		req:         req,
		hasUserInfo: req.UserInfo.Username != "" || len(req.UserInfo.Groups) > 0 || len(req.Roles) > 0 || len(req.ClusterRoles) > 0,
	}
	if ec.subject.gvk.Kind == "" {
		apiVersion, _ := obj["apiVersion"].(string)
		kind, _ := obj["kind"].(string)
		ec.subject.gvk = schema.FromAPIVersionAndKind(apiVersion, kind)
	}
	ec.subject.namespaceLabels = namespaceLabels(ctx, req, cluster, obj)
	if req.Operation == "" {
		ec.subject.operation = engine.Create
	}

	var out engine.Outcome
	switch req.Phase {
	case engine.PhaseMutate:
		// Kyverno's mutating webhook runs the mutate rules, then verifies
		// images on the mutated object.
		ec.mutate(&out)
		if p.hasVerify {
			ec.verifyImages(&out)
		}
	default:
		ec.validate(&out)
	}
	return out
}

// namespaceLabels returns the labels of the request's namespace: from the
// cluster when it knows the namespace, else from the request's namespace
// object.
func namespaceLabels(ctx context.Context, req *engine.Request, cluster engine.Cluster, obj map[string]any) map[string]string {
	ns := metaString(obj, "namespace")
	if ns == "" {
		ns = req.Namespace
	}
	if cluster.Namespaces != nil && ns != "" {
		if nsObj, err := cluster.Namespaces.Namespace(ctx, ns); err == nil && nsObj != nil {
			return stringMap(metaField(nsObj, "labels"))
		}
	}
	if req.NamespaceObject != nil {
		return stringMap(metaField(req.NamespaceObject, "labels"))
	}
	return nil
}

// matches applies the rule's match and exclude blocks. On DELETE the old
// object is what matches.
func (ec *evalContext) matches(r *compiledRule) bool {
	if r.match == nil {
		return false
	}
	s := ec.subject
	s.object = ec.object
	if !r.match.selects(&s) {
		return false
	}
	return !r.exclude.rejects(&s)
}

// result builds a rule result with the policy's properties.
func (ec *evalContext) result(r *compiledRule, typ engine.RuleType, v engine.Verdict, msg string) engine.RuleResult {
	rr := engine.RuleResult{Policy: ec.p.ref, Rule: r.name, Type: typ, Verdict: v, Message: msg, Properties: ec.p.properties}
	switch v {
	case engine.Fail:
		rr.Action = ec.action(r)
	case engine.Error:
		rr.Action = ec.p.failureAction
		if typ == engine.Validation && ec.action(r) != engine.ActionDeny {
			// An Audit rule never blocks, not even on errors.
			rr.Action = engine.ActionAudit
		}
	}
	if (v == engine.Fail || v == engine.Error) && rr.Action == engine.ActionAudit && ec.p.emitWarning {
		rr.Action = engine.ActionWarn
	}
	return rr
}

// action is the failure action of a validate rule for this request, after
// the namespace overrides.
func (ec *evalContext) action(r *compiledRule) engine.Action {
	ns := metaString(ec.object, "namespace")
	for _, o := range r.overrides {
		if len(o.namespaces) > 0 && !match.AnyWildcard(o.namespaces, ns) {
			continue
		}
		if o.selector != nil && !o.selector.Matches(ec.subject.namespaceLabels) {
			continue
		}
		if len(o.namespaces) == 0 && o.selector == nil {
			continue
		}
		return o.action
	}
	if r.typ != ruleValidate && r.action == "" {
		return engine.ActionDeny
	}
	return r.action
}

// baseData builds the JSON context every rule starts from: the request,
// the service account, the images and the preset values.
func (ec *evalContext) baseData() map[string]any {
	if ec.base != nil {
		return ec.base
	}
	req := ec.req
	const memoKey = "kyverno.request"
	request, cached := req.Memo[memoKey].(map[string]any)
	if !cached {
		request = requestDocument(req, ec.object)
		if req.Memo != nil {
			req.Memo[memoKey] = request
		}
	}
	data := map[string]any{"request": request}
	saName, saNamespace := "", ""
	if rest, ok := strings.CutPrefix(req.UserInfo.Username, "system:serviceaccount:"); ok {
		if parts := strings.Split(rest, ":"); len(parts) >= 2 {
			saNamespace, saName = parts[0], parts[1]
		}
	}
	data["serviceAccountName"] = saName
	data["serviceAccountNamespace"] = saNamespace
	if ec.p.usesImages {
		if images := imagesOf(ec.object); images != nil {
			data["images"] = images
		}
	}
	if req.Preset != nil {
		for k, v := range req.Preset.PolicyValues(ec.p.ref.Name) {
			data = withDotted(data, k, v)
		}
	}
	ec.base = data
	return data
}

// requestDocument is the request document of the variables: request.object,
// request.operation, request.userInfo, ...
func requestDocument(req *engine.Request, object map[string]any) map[string]any {
	op := req.Operation
	if op == "" {
		op = engine.Create
	}
	request := map[string]any{
		"operation": string(op),
		"namespace": req.Namespace,
		"name":      req.Name,
		"uid":       req.UID,
		"dryRun":    req.DryRun,
		"kind": map[string]any{
			"group": req.Kind.Group, "version": req.Kind.Version, "kind": req.Kind.Kind,
		},
		"resource": map[string]any{
			"group": req.Resource.Group, "version": req.Resource.Version, "resource": req.Resource.Resource,
		},
		"userInfo":     userInfoMap(req),
		"roles":        toAnySlice(req.Roles),
		"clusterRoles": toAnySlice(req.ClusterRoles),
	}
	if req.Namespace == "" {
		request["namespace"] = metaString(object, "namespace")
	}
	if req.Name == "" {
		request["name"] = metaString(object, "name")
	}
	if req.SubResource != "" {
		request["subResource"] = req.SubResource
	}
	if req.Object != nil {
		request["object"] = req.Object
	}
	if req.OldObject != nil {
		request["oldObject"] = req.OldObject
	}
	if req.Options != nil {
		request["options"] = req.Options
	}
	return request
}

// setObject replaces request.object in the base context after a mutation.
func (ec *evalContext) setObject(obj map[string]any) {
	ec.object = obj
	ec.subject.object = obj
	base := ec.baseData()
	req, _ := base["request"].(map[string]any)
	nreq := make(map[string]any, len(req))
	for k, v := range req {
		nreq[k] = v
	}
	nreq["object"] = obj
	nbase := make(map[string]any, len(base))
	for k, v := range base {
		nbase[k] = v
	}
	nbase["request"] = nreq
	if ec.p.usesImages {
		if images := imagesOf(obj); images != nil {
			nbase["images"] = images
		}
	}
	ec.base = nbase
}

func userInfoMap(req *engine.Request) map[string]any {
	u := map[string]any{}
	if req.UserInfo.Username != "" {
		u["username"] = req.UserInfo.Username
	}
	if req.UserInfo.UID != "" {
		u["uid"] = req.UserInfo.UID
	}
	if len(req.UserInfo.Groups) > 0 {
		u["groups"] = toAnySlice(req.UserInfo.Groups)
	}
	if len(req.UserInfo.Extra) > 0 {
		extra := map[string]any{}
		for k, v := range req.UserInfo.Extra {
			extra[k] = toAnySlice(v)
		}
		u["extra"] = extra
	}
	return u
}

func toAnySlice(s []string) []any {
	if len(s) == 0 {
		return nil
	}
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// ruleData loads the rule's preset values and context entries on top of
// the base context.
func (ec *evalContext) ruleData(r *compiledRule, data map[string]any, entries []*contextLoader) (map[string]any, error) {
	if ec.req.Preset != nil {
		for k, v := range ec.req.Preset.RuleValues(ec.p.ref.Name, r.name) {
			data = withDotted(data, k, v)
		}
	}
	for _, cl := range entries {
		if err := ec.ctx.Err(); err != nil {
			return nil, err
		}
		var err error
		if data, err = cl.load(ec.ctx, ec.jp, data, ec); err != nil {
			return nil, err
		}
	}
	return data, nil
}

// withElement adds a foreach element to the context, as element,
// element<N>, elementIndex and elementIndex<N>.
func (ec *evalContext) withElement(r *compiledRule, data map[string]any, element any, index, nesting int) map[string]any {
	out := make(map[string]any, len(data)+4)
	for k, v := range data {
		out[k] = v
	}
	out["element"] = element
	out[fmt.Sprintf("element%d", nesting)] = element
	out["elementIndex"] = int64(index)
	out[fmt.Sprintf("elementIndex%d", nesting)] = int64(index)
	if ec.req.Preset != nil {
		for k, vals := range ec.req.Preset.ForEachValues(ec.p.ref.Name, r.name) {
			if index < len(vals) {
				out = withDotted(out, k, vals[index])
			}
		}
	}
	return out
}

// evaluateList evaluates a foreach list: a result that is not a list is a
// list of one element.
func evaluateList(q *jmespath.Query, data map[string]any) ([]any, error) {
	if q == nil {
		return nil, fmt.Errorf("no list expression")
	}
	v, err := q.Search(data)
	if err != nil {
		return nil, err
	}
	if l, ok := v.([]any); ok {
		return l, nil
	}
	return []any{v}, nil
}

// imagesOf extracts the images variable of a pod or pod controller:
// images.containers.<name>, images.initContainers.<name> and
// images.ephemeralContainers.<name>.
func imagesOf(obj map[string]any) map[string]any {
	kind, _ := obj["kind"].(string)
	path, ok := workload.SpecPath(kind)
	if !ok {
		return nil
	}
	spec := workload.PodSpecOfKind(obj, kind)
	if spec == nil {
		return nil
	}
	// Kyverno's image infos also carry where the image is (jsonPointer)
	// and the pod's imagePullSecrets ([] when it has none).
	prefix := "/" + strings.Join(path, "/") + "/"
	secrets := []any{}
	for _, s := range asSlice(spec["imagePullSecrets"]) {
		if sm, ok := s.(map[string]any); ok {
			if name, ok := sm["name"].(string); ok {
				secrets = append(secrets, name)
			}
		}
	}
	out := map[string]any{}
	for _, key := range []string{"containers", "initContainers", "ephemeralContainers"} {
		list := asSlice(spec[key])
		if len(list) == 0 {
			continue
		}
		m := map[string]any{}
		for i, c := range list {
			cm, _ := c.(map[string]any)
			name, _ := cm["name"].(string)
			image, _ := cm["image"].(string)
			if image == "" {
				continue
			}
			info, err := jmespath.ImageInfo(image)
			if err != nil {
				continue
			}
			info["jsonPointer"] = prefix + key + "/" + strconv.Itoa(i) + "/image"
			info["imagePullSecrets"] = secrets
			m[name] = info
		}
		if len(m) > 0 {
			out[key] = m
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// podSpecOf returns the pod spec of a Pod or of a pod controller's template.
func podSpecOf(obj map[string]any) map[string]any {
	kind, _ := obj["kind"].(string)
	spec, _ := obj["spec"].(map[string]any)
	switch kind {
	case "Pod":
		return spec
	case "CronJob":
		jt, _ := spec["jobTemplate"].(map[string]any)
		js, _ := jt["spec"].(map[string]any)
		tpl, _ := js["template"].(map[string]any)
		ps, _ := tpl["spec"].(map[string]any)
		return ps
	case "Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "ReplicationController", "Job":
		tpl, _ := spec["template"].(map[string]any)
		ps, _ := tpl["spec"].(map[string]any)
		return ps
	}
	return nil
}
