package suite

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	sigsjson "sigs.k8s.io/json"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/manifest"
	"github.com/portcullis-dev/portcullis/internal/match"
)

// PropertyScored is the rule property the Kyverno dialect sets to "false"
// for policies annotated policies.kyverno.io/scored: "false", whose failures
// reports show as warnings.
const PropertyScored = "scored"

// loadStrict reads a YAML file into out, rejecting unknown fields.
func loadStrict(path string, out any) error {
	objs, err := manifest.ReadAll([]string{path}, nil)
	if err != nil {
		return err
	}
	if len(objs) == 0 {
		return fmt.Errorf("%s: no document found", path)
	}
	raw, err := json.Marshal(objs[0].Object)
	if err != nil {
		return err
	}
	strict, err := sigsjson.UnmarshalStrict(raw, out, sigsjson.DisallowUnknownFields)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(strict) > 0 {
		var msgs []string
		for _, e := range strict {
			msgs = append(msgs, e.Error())
		}
		return fmt.Errorf("%s: %s", path, strings.Join(msgs, "; "))
	}
	return nil
}

// resolve turns a path of a test file into a path relative to the working
// directory. Remote paths are not supported offline.
func resolve(dir, p string) (string, error) {
	if strings.HasPrefix(p, "http://") || strings.HasPrefix(p, "https://") {
		return "", fmt.Errorf("remote path %q: portcullis test runs offline; vendor the file next to the test", p)
	}
	if filepath.IsAbs(p) {
		return p, nil
	}
	return filepath.Join(dir, p), nil
}

func (r *Runner) runKyvernoTest(ctx context.Context, file string) ([]Result, error) {
	var t kyvernoTest
	if err := loadStrict(file, &t); err != nil {
		return nil, err
	}
	dir := filepath.Dir(file)
	failAll := func(reason string) []Result {
		var out []Result
		for _, exp := range t.Results {
			for _, res := range expectedResources(exp) {
				out = append(out, Result{File: file, Policy: exp.Policy, Rule: exp.Rule, Kind: exp.Kind, Resource: res,
					Expected: expectedResult(exp), Actual: "error", Message: reason})
			}
		}
		return out
	}

	// Policies.
	var docs []engine.Document
	for _, p := range t.Policies {
		path, err := resolve(dir, p)
		if err != nil {
			return failAll(err.Error()), nil
		}
		objs, err := manifest.ReadAll([]string{path}, nil)
		if err != nil {
			return nil, fmt.Errorf("policies: %w", err)
		}
		for _, o := range objs {
			docs = append(docs, engine.Document{Source: o.Source, Object: o.Object})
		}
	}
	set, compileErrs := r.Engine.Compile(docs)
	unsupported := map[string]string{} // policy name -> reason it has no dialect
	for _, e := range compileErrs {
		if e.Type == "FieldValueNotSupported" && strings.HasSuffix(e.Field, ".kind") {
			for _, d := range docs {
				if strings.HasPrefix(e.Field, d.Root().String()) {
					_, name := d.Name()
					unsupported[name] = fmt.Sprintf("%s %s is not supported yet", d.GVK().GroupVersion(), d.GVK().Kind)
				}
			}
		}
	}

	// Resources.
	var resources []manifest.Object
	for _, p := range t.Resources {
		path, err := resolve(dir, p)
		if err != nil {
			return failAll(err.Error()), nil
		}
		objs, err := manifest.ReadAll([]string{path}, nil)
		if err != nil {
			return nil, fmt.Errorf("resources: %w", err)
		}
		for _, o := range objs {
			manifest.DefaultNamespace(o.Object)
		}
		resources = append(resources, objs...)
	}

	// Values and user info.
	values := t.Values
	if t.Variables != "" {
		path, err := resolve(dir, t.Variables)
		if err != nil {
			return nil, err
		}
		var v valuesFile
		if err := loadStrict(path, &v); err != nil {
			return nil, fmt.Errorf("variables: %w", err)
		}
		values = &v
	}
	var user *userInfoFile
	if t.UserInfo != "" {
		path, err := resolve(dir, t.UserInfo)
		if err != nil {
			return nil, err
		}
		user = &userInfoFile{}
		if err := loadStrict(path, user); err != nil {
			return nil, fmt.Errorf("userinfo: %w", err)
		}
	}

	cluster, err := r.testCluster(dir, &t, values)
	if err != nil {
		return nil, err
	}

	// Evaluate every resource once per operation the results ask for.
	type outcome struct {
		obj    manifest.Object
		result engine.Result
		final  map[string]any
	}
	byOperation := map[string][]outcome{}
	evaluate := func(op string) []outcome {
		if out, ok := byOperation[op]; ok {
			return out
		}
		out := make([]outcome, 0, len(resources))
		for _, obj := range resources {
			req := buildRequest(obj.Object, values, user, op)
			req.Background = r.Registry == nil
			res := set.Evaluate(ctx, req, cluster)
			final := obj.Object
			if res.Object != nil {
				final = res.Object
			}
			out = append(out, outcome{obj: obj, result: res, final: final})
		}
		byOperation[op] = out
		return out
	}

	var out []Result
	for _, exp := range t.Results {
		expected := expectedResult(exp)
		for _, resName := range expectedResources(exp) {
			res := Result{File: file, Policy: exp.Policy, Rule: exp.Rule, Kind: exp.Kind, Resource: resName, Expected: expected}
			if reason, ok := unsupported[policyName(exp.Policy)]; ok {
				res.Actual, res.Message = "error", reason
				out = append(out, res)
				continue
			}
			ns, name := splitResource(resName, exp.Namespace)
			found := false
			var actuals []engine.RuleResult
			var finals []map[string]any
			for _, oc := range evaluate(strings.ToUpper(exp.Operation)) {
				if !resourceMatches(oc.obj, exp.Kind, ns, name) {
					continue
				}
				found = true
				finals = append(finals, oc.final)
				for _, rr := range oc.result.Rules {
					if rr.Policy.Name != policyName(exp.Policy) {
						continue
					}
					if rr.Rule != exp.Rule && rr.Rule != "autogen-"+exp.Rule && rr.Rule != "autogen-cronjob-"+exp.Rule {
						continue
					}
					actuals = append(actuals, rr)
				}
			}
			switch {
			case !found:
				res.Actual, res.Message = "not found", "no resource "+resName+" of kind "+exp.Kind+" in the test's resources"
			case len(actuals) == 0:
				res.Actual, res.Message = string(engine.Skip), "the rule did not apply to the resource"
			default:
				res.Actual, res.Message = reportVerdict(actuals[0]), actuals[0].Message
				for _, a := range actuals {
					if v := reportVerdict(a); v != expected {
						res.Actual, res.Message = v, a.Message
						break
					}
				}
			}
			res.OK = res.Actual == expected
			if res.OK && (exp.PatchedResources != "" || exp.PatchedResource != "") {
				pf := exp.PatchedResources
				if pf == "" {
					pf = exp.PatchedResource
				}
				ok, msg := comparePatched(dir, pf, finals)
				if !ok {
					res.OK, res.Message = false, msg
				}
			}
			if res.OK && exp.GeneratedResource != "" {
				res.OK, res.Message = false, "generate rules are not supported yet"
			}
			out = append(out, res)
		}
	}
	return out, nil
}

// testCluster builds the cluster the test file describes.
func (r *Runner) testCluster(dir string, t *kyvernoTest, values *valuesFile) (engine.Cluster, error) {
	c := &fakeCluster{api: t.APICallResponses, jp: r.jmespath()}
	haveResources := false
	for _, p := range t.ClusterResources {
		path, err := resolve(dir, p)
		if err != nil {
			return engine.Cluster{}, err
		}
		objs, err := manifest.ReadAll([]string{path}, nil)
		if err != nil {
			return engine.Cluster{}, fmt.Errorf("clusterResources: %w", err)
		}
		for _, o := range objs {
			if o.Kind() == "ClusterResource" {
				var cr clusterResourceFile
				if err := remarshalStrict(o.Object, &cr); err != nil {
					return engine.Cluster{}, fmt.Errorf("clusterResources: %s: %w", path, err)
				}
				for _, res := range cr.Spec.Resources {
					manifest.DefaultNamespace(res)
					c.objects = append(c.objects, res)
				}
				continue
			}
			manifest.DefaultNamespace(o.Object)
			c.objects = append(c.objects, o.Object)
		}
		haveResources = true
	}
	if t.Context != "" {
		path, err := resolve(dir, t.Context)
		if err != nil {
			return engine.Cluster{}, err
		}
		var cf contextFile
		if err := loadStrict(path, &cf); err != nil {
			return engine.Cluster{}, fmt.Errorf("context: %w", err)
		}
		for _, res := range cf.Spec.Resources {
			manifest.DefaultNamespace(res)
			c.objects = append(c.objects, res)
		}
		haveResources = true
	}
	if values != nil {
		for _, ns := range values.Namespaces {
			if _, ok := ns["kind"]; !ok {
				ns["kind"] = "Namespace"
				ns["apiVersion"] = "v1"
			}
			c.objects = append(c.objects, ns)
			haveResources = true
		}
	}
	if len(t.GlobalContext) > 0 {
		c.global = map[string]globalContextEntry{}
		for _, g := range t.GlobalContext {
			for _, f := range g.ResourceFiles {
				path, err := resolve(dir, f)
				if err != nil {
					return engine.Cluster{}, err
				}
				objs, err := manifest.ReadAll([]string{path}, nil)
				if err != nil {
					return engine.Cluster{}, fmt.Errorf("globalContextEntries %s: %w", g.Name, err)
				}
				for _, o := range objs {
					g.Resources = append(g.Resources, o.Object)
				}
			}
			c.global[g.Name] = g
		}
	}
	cluster := c.engineCluster(haveResources)
	cluster.Registry = r.Registry
	return cluster, nil
}

func remarshalStrict(in any, out any) error {
	raw, err := json.Marshal(in)
	if err != nil {
		return err
	}
	strict, err := sigsjson.UnmarshalStrict(raw, out, sigsjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	if len(strict) > 0 {
		return strict[0]
	}
	return nil
}

// reportVerdict is the verdict a policy report shows: failures of policies
// that are not scored show as warnings.
func reportVerdict(rr engine.RuleResult) string {
	if rr.Verdict == engine.Fail && rr.Properties[PropertyScored] == "false" {
		return string(engine.Warn)
	}
	return string(rr.Verdict)
}

func expectedResult(exp testResult) string {
	if exp.Result != "" {
		return exp.Result
	}
	return exp.Status
}

func expectedResources(exp testResult) []string {
	if len(exp.Resources) > 0 {
		return exp.Resources
	}
	if exp.Resource != "" {
		return []string{exp.Resource}
	}
	return nil
}

func policyName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

func splitResource(s, namespace string) (string, string) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return namespace, s
}

func resourceMatches(obj manifest.Object, kind, ns, name string) bool {
	if obj.Name() != name {
		return false
	}
	if ns != "" && obj.Namespace() != ns {
		return false
	}
	if kind == "" {
		return true
	}
	gvk := schema.FromAPIVersionAndKind(obj.APIVersion(), obj.Kind())
	return match.ParseKind(kind).Matches(gvk, "")
}

// buildRequest turns a test resource into an admission request, with the
// operation, namespace labels and user info the test's files give.
func buildRequest(obj map[string]any, values *valuesFile, user *userInfoFile, operation string) engine.Request {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	md, _ := obj["metadata"].(map[string]any)
	name, _ := md["name"].(string)
	namespace, _ := md["namespace"].(string)
	req := engine.Request{
		Kind:       schema.FromAPIVersionAndKind(apiVersion, kind),
		Name:       name,
		Namespace:  namespace,
		Operation:  engine.Create,
		Object:     obj,
		Background: true,
	}
	if user != nil {
		req.Roles = user.Roles
		req.ClusterRoles = user.ClusterRoles
		req.UserInfo = authenticationv1.UserInfo{Username: user.UserInfo.Username, UID: user.UserInfo.UID, Groups: user.UserInfo.Groups}
		for k, v := range user.UserInfo.Extra {
			if req.UserInfo.Extra == nil {
				req.UserInfo.Extra = map[string]authenticationv1.ExtraValue{}
			}
			req.UserInfo.Extra[k] = v
		}
	}
	if values != nil {
		p := &preset{values: values, resource: name}
		req.Preset = p
		if op, ok := p.lookup("request.operation"); ok {
			if s, ok := op.(string); ok && s != "" {
				req.Operation = engine.Operation(strings.ToUpper(s))
			}
		}
	}
	// An operation given by the test result takes precedence.
	switch operation {
	case "CREATE", "UPDATE", "DELETE", "CONNECT":
		req.Operation = engine.Operation(operation)
	}
	// As Kyverno's CLI does: an UPDATE compares the resource with a copy
	// of itself, a DELETE has only the old object.
	switch req.Operation {
	case engine.Update:
		req.OldObject = deepCopyMap(obj)
	case engine.Delete:
		req.OldObject, req.Object = obj, nil
	}
	if values == nil {
		return req
	}
	nsName := namespace
	if kind == "Namespace" {
		nsName = name
	}
	for _, ns := range values.NamespaceSelectors {
		if ns.Name == nsName {
			labels := map[string]any{}
			for k, v := range ns.Labels {
				labels[k] = v
			}
			req.NamespaceObject = map[string]any{
				"apiVersion": "v1", "kind": "Namespace",
				"metadata": map[string]any{"name": ns.Name, "labels": labels},
			}
		}
	}
	return req
}

// preset serves a values file for one resource.
type preset struct {
	values   *valuesFile
	resource string
}

var _ engine.Preset = (*preset)(nil)

func (p *preset) PolicyValues(policy string) map[string]any {
	out := map[string]any{}
	for k, v := range p.values.GlobalValues {
		out[k] = v
	}
	for _, pol := range p.values.Policies {
		if pol.Name != policy {
			continue
		}
		for _, r := range pol.Resources {
			if r.Name == p.resource {
				for k, v := range r.Values {
					out[k] = v
				}
			}
		}
	}
	return out
}

func (p *preset) RuleValues(policy, rule string) map[string]any {
	for _, pol := range p.values.Policies {
		if pol.Name != policy {
			continue
		}
		for _, r := range pol.Rules {
			if r.Name == rule || "autogen-"+r.Name == rule || "autogen-cronjob-"+r.Name == rule {
				return r.Values
			}
		}
	}
	return nil
}

func (p *preset) ForEachValues(policy, rule string) map[string][]any {
	for _, pol := range p.values.Policies {
		if pol.Name != policy {
			continue
		}
		for _, r := range pol.Rules {
			if r.Name == rule || "autogen-"+r.Name == rule || "autogen-cronjob-"+r.Name == rule {
				return r.ForeachValues
			}
		}
	}
	return nil
}

// lookup finds a value given to every policy for this resource.
func (p *preset) lookup(key string) (any, bool) {
	if v, ok := p.values.GlobalValues[key]; ok {
		return v, true
	}
	for _, pol := range p.values.Policies {
		for _, r := range pol.Resources {
			if r.Name == p.resource {
				if v, ok := r.Values[key]; ok {
					return v, true
				}
			}
		}
	}
	return nil, false
}

// comparePatched compares the mutated resources with the expected ones in
// file, semantically: after dropping empty maps, lists and nulls, and with
// numbers compared by value.
func comparePatched(dir, file string, finals []map[string]any) (bool, string) {
	path, err := resolve(dir, file)
	if err != nil {
		return false, err.Error()
	}
	expected, err := manifest.ReadAll([]string{path}, nil)
	if err != nil {
		return false, "cannot read patched resource: " + err.Error()
	}
	for _, e := range expected {
		manifest.DefaultNamespace(e.Object)
	}
	for _, got := range finals {
		g := manifest.Object{Object: got}
		var want map[string]any
		for _, e := range expected {
			if e.APIVersion() == g.APIVersion() && e.Kind() == g.Kind() && e.Name() == g.Name() && e.Namespace() == g.Namespace() {
				want = e.Object
				break
			}
		}
		if want == nil {
			return false, fmt.Sprintf("no patched resource %s/%s in %s", g.Kind(), g.Name(), file)
		}
		if !reflect.DeepEqual(tidy(normalize(want)), tidy(normalize(got))) {
			wb, _ := json.Marshal(tidy(normalize(want)))
			gb, _ := json.Marshal(tidy(normalize(got)))
			return false, fmt.Sprintf("patched resource differs from %s:\nwant %s\ngot  %s", file, wb, gb)
		}
	}
	return true, ""
}

// normalize turns every number into float64 so that 1 and 1.0 compare equal.
func normalize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[k] = normalize(e)
		}
		return m
	case []any:
		s := make([]any, len(t))
		for i, e := range t {
			s[i] = normalize(e)
		}
		return s
	case int64:
		return float64(t)
	case int:
		return float64(t)
	default:
		return v
	}
}

// tidy drops nulls, empty maps and empty lists.
func tidy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := map[string]any{}
		for k, e := range t {
			te := tidy(e)
			if te != nil {
				m[k] = te
			}
		}
		if len(m) == 0 {
			return nil
		}
		return m
	case []any:
		var s []any
		for _, e := range t {
			if te := tidy(e); te != nil {
				s = append(s, te)
			}
		}
		if len(s) == 0 {
			return nil
		}
		return s
	default:
		return v
	}
}

func deepCopyMap(m map[string]any) map[string]any {
	b, err := json.Marshal(m)
	if err != nil {
		return m
	}
	out, err := manifest.DecodeDocument(b)
	if err != nil || out == nil {
		return m
	}
	return out
}
