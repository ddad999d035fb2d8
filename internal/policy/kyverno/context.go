package kyverno

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portcullis-dev/portcullis/internal/image"
	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/jmespath"
	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/variables"
)

type contextKind int

const (
	ctxVariable contextKind = iota
	ctxConfigMap
	ctxAPICall
	ctxGlobal
	ctxImageRegistry
)

// contextLoader is a compiled context entry.
type contextLoader struct {
	name string
	kind contextKind

	// variable
	value    *variables.Template
	hasValue bool
	jmesPath *variables.Template
	def      *variables.Template

	// configMap
	cmName, cmNamespace *variables.Template

	// apiCall
	urlPath *variables.Template
	method  string
	data    []apiData
	service *serviceCall
	svcURL  *variables.Template

	// globalReference
	globalName  string
	globalNameT *variables.Template

	// imageRegistry
	imageRef         *variables.Template
	imageRefRaw      string
	imageJMESPathRaw string
	secrets          []string
}

type apiData struct {
	key   string
	value *variables.Template
}

func (d *Dialect) compileContext(entries []contextEntry, path *field.Path) ([]*contextLoader, field.ErrorList) {
	var errs field.ErrorList
	var out []*contextLoader
	seen := map[string]bool{}
	for i, e := range entries {
		ep := path.Index(i)
		if e.Name == "" {
			errs = append(errs, field.Required(ep.Child("name"), "context entries need a name"))
		}
		seen[e.Name] = true
		cl := &contextLoader{name: e.Name}
		compile := func(v any, p *field.Path) *variables.Template {
			t, err := variables.Compile(v, d.jp)
			if err != nil {
				errs = append(errs, field.Invalid(p, v, err.Error()))
			}
			return t
		}
		sources := 0
		if e.Variable != nil {
			sources++
			cl.kind = ctxVariable
			if e.Variable.Value != nil {
				cl.hasValue = true
				cl.value = compile(e.Variable.Value, ep.Child("variable", "value"))
			}
			if e.Variable.JMESPath != "" {
				cl.jmesPath = compile(e.Variable.JMESPath, ep.Child("variable", "jmesPath"))
			}
			if e.Variable.Default != nil {
				cl.def = compile(e.Variable.Default, ep.Child("variable", "default"))
			}
			if e.Variable.Value == nil && e.Variable.JMESPath == "" {
				errs = append(errs, field.Required(ep.Child("variable"), "a variable needs a value or a jmesPath"))
			}
		}
		if e.ConfigMap != nil {
			sources++
			cl.kind = ctxConfigMap
			cl.cmName = compile(e.ConfigMap.Name, ep.Child("configMap", "name"))
			cl.cmNamespace = compile(e.ConfigMap.Namespace, ep.Child("configMap", "namespace"))
		}
		if e.APICall != nil {
			sources++
			cl.kind = ctxAPICall
			a := e.APICall
			cl.method = a.Method
			if cl.method == "" {
				cl.method = "GET"
			}
			if cl.method != "GET" && cl.method != "POST" {
				errs = append(errs, field.NotSupported(ep.Child("apiCall", "method"), a.Method, []string{"GET", "POST"}))
			}
			if a.URLPath == "" && a.Service == nil {
				errs = append(errs, field.Required(ep.Child("apiCall", "urlPath"), "an apiCall needs a urlPath or a service"))
			}
			cl.urlPath = compile(a.URLPath, ep.Child("apiCall", "urlPath"))
			for j, dd := range a.Data {
				cl.data = append(cl.data, apiData{key: dd.Key, value: compile(dd.Value, ep.Child("apiCall", "data").Index(j).Child("value"))})
			}
			if a.Service != nil {
				cl.service = a.Service
				cl.svcURL = compile(a.Service.URL, ep.Child("apiCall", "service", "url"))
			}
			if a.JMESPath != "" {
				cl.jmesPath = compile(a.JMESPath, ep.Child("apiCall", "jmesPath"))
			}
			if a.Default != nil {
				cl.def = compile(a.Default, ep.Child("apiCall", "default"))
			}
		}
		if e.GlobalReference != nil {
			sources++
			cl.kind = ctxGlobal
			cl.globalName = e.GlobalReference.Name
			cl.globalNameT = compile(e.GlobalReference.Name, ep.Child("globalReference", "name"))
			if e.GlobalReference.JMESPath != "" {
				cl.jmesPath = compile(e.GlobalReference.JMESPath, ep.Child("globalReference", "jmesPath"))
			}
		}
		if e.ImageRegistry != nil {
			sources++
			cl.kind = ctxImageRegistry
			ir := e.ImageRegistry
			ip := ep.Child("imageRegistry")
			if ir.Reference == "" {
				errs = append(errs, field.Required(ip.Child("reference"), "a ref is required for imageRegistry context entry"))
			} else if !strings.Contains(ir.Reference, "{{") {
				if _, err := image.Parse(ir.Reference); err != nil {
					errs = append(errs, field.Invalid(ip.Child("reference"), ir.Reference, fmt.Sprintf("bad image: %s: %v", ir.Reference, err)))
				}
			}
			cl.imageRef = compile(ir.Reference, ip.Child("reference"))
			cl.imageRefRaw, cl.imageJMESPathRaw = ir.Reference, ir.JMESPath
			if ir.JMESPath != "" {
				cl.jmesPath = compile(ir.JMESPath, ip.Child("jmesPath"))
				if !strings.Contains(ir.JMESPath, "{{") {
					if _, err := d.jp.Compile(ir.JMESPath); err != nil {
						errs = append(errs, field.Invalid(ip.Child("jmesPath"), ir.JMESPath, fmt.Sprintf("failed to parse JMESPath %s: %v", ir.JMESPath, err)))
					}
				}
			}
			if c := ir.ImageRegistryCredentials; c != nil {
				cl.secrets = c.Secrets
			}
		}
		if sources != 1 {
			errs = append(errs, field.Invalid(ep, e.Name, "a context entry needs exactly one of variable, configMap, apiCall, globalReference or imageRegistry"))
		}
		out = append(out, cl)
	}
	return out, errs
}

// errContextUnavailable is returned when an entry needs cluster data that
// this evaluation has no source for.
var errContextUnavailable = errors.New("no source for this context entry")

// load evaluates the entry against data and returns data with the entry
// added. With a preset (the CLI's values), entries that reach the cluster
// are skipped when the values already provide them or no source exists.
func (cl *contextLoader) load(ctx context.Context, jp *jmespath.Interpreter, data map[string]any, ec *evalContext) (map[string]any, error) {
	switch cl.kind {
	case ctxVariable:
		return cl.loadVariable(jp, data)
	case ctxConfigMap:
		if ec.req.Preset != nil && (hasKey(data, cl.name) || ec.cluster.ConfigMaps == nil) {
			return data, nil
		}
		if ec.cluster.ConfigMaps == nil {
			return nil, fmt.Errorf("failed to retrieve config map for context entry %s: %w", cl.name, errContextUnavailable)
		}
		name, err := evalString(cl.cmName, data)
		if err != nil {
			return nil, fmt.Errorf("failed to substitute variables in context %s configMap.name: %w", cl.name, err)
		}
		ns, err := evalString(cl.cmNamespace, data)
		if err != nil {
			return nil, fmt.Errorf("failed to substitute variables in context %s configMap.namespace: %w", cl.name, err)
		}
		if ns == "" {
			ns = "default"
		}
		cm, err := ec.cluster.ConfigMaps.ConfigMap(ctx, ns, name)
		if err != nil {
			return nil, fmt.Errorf("failed to retrieve config map for context entry %s: failed to get configmap %s/%s : %w", cl.name, ns, name, err)
		}
		return withValue(data, []string{cl.name}, map[string]any{"data": cm["data"], "metadata": cm["metadata"]}), nil
	case ctxAPICall:
		if ec.req.Preset != nil && (hasKey(data, cl.name) || (ec.cluster.API == nil && cl.service == nil) || (cl.service != nil && ec.cluster.Services == nil)) {
			return data, nil
		}
		return cl.loadAPICall(ctx, jp, data, ec)
	case ctxGlobal:
		if ec.req.Preset != nil && (hasKey(data, cl.name) || ec.cluster.GlobalContext == nil) {
			return data, nil
		}
		if ec.p.namespace != "" {
			return nil, fmt.Errorf("context entry %s: globalReference is not allowed in namespaced policies", cl.name)
		}
		if ec.cluster.GlobalContext == nil {
			return nil, fmt.Errorf("global context entry %s: %w", cl.globalName, errContextUnavailable)
		}
		name, err := evalString(cl.globalNameT, data)
		if err != nil {
			return nil, err
		}
		entry, projection, _ := strings.Cut(name, ".")
		v, err := ec.cluster.GlobalContext.GlobalContext(ctx, entry, projection)
		if err != nil {
			return nil, fmt.Errorf("failed to marshal APICall data for context entry %s: %w", cl.name, err)
		}
		if cl.jmesPath != nil {
			path, err := evalString(cl.jmesPath, data)
			if err != nil {
				return nil, err
			}
			if path != "" {
				if v, err = jp.Search(path, v); err != nil {
					return nil, fmt.Errorf("failed to apply jmespath %s to global context entry %s: %w", path, cl.name, err)
				}
			}
		}
		return withValue(data, []string{cl.name}, v), nil
	case ctxImageRegistry:
		if ec.req.Preset != nil && (hasKey(data, cl.name) || ec.cluster.Registry == nil) {
			return data, nil
		}
		return cl.loadImageRegistry(ctx, jp, data, ec)
	}
	return data, nil
}

// loadImageRegistry reads the entry's image from its registry and adds
// Kyverno's image document (or the entry's JMESPath of it).
func (cl *contextLoader) loadImageRegistry(ctx context.Context, jp *jmespath.Interpreter, data map[string]any, ec *evalContext) (map[string]any, error) {
	ref, err := cl.imageRef.Evaluate(data)
	if err != nil {
		// Kyverno's spelling.
		return nil, fmt.Errorf("ailed to substitute variables in context entry %s %s: %v", cl.name, cl.imageRefRaw, err)
	}
	refString, ok := ref.(string)
	if !ok {
		return nil, fmt.Errorf("invalid image reference %s, image reference must be a string", jsonString(ref))
	}
	path, err := evalString(cl.jmesPath, data)
	if err != nil {
		return nil, fmt.Errorf("failed to substitute variables in context entry %s %s: %v", cl.name, cl.imageJMESPathRaw, err)
	}
	ns, _ := hasValue(data, "request", "namespace").(string)
	pull := image.Pull{Namespace: ns, Secrets: cl.secrets}
	doc, err := imageDocument(ctx, ec.cluster.Registry, refString, pull)
	if err != nil {
		return nil, err
	}
	var v any = doc
	if path != "" {
		if v, err = jp.Search(path, v); err != nil {
			return nil, fmt.Errorf("failed to apply JMESPath (%s) results to context entry %s, error: %v", path, cl.name, err)
		}
	}
	return withValue(data, []string{cl.name}, v), nil
}

// hasValue returns the value at a path of nested maps, or nil.
func hasValue(data map[string]any, path ...string) any {
	var cur any = data
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

func (cl *contextLoader) loadVariable(jp *jmespath.Interpreter, data map[string]any) (map[string]any, error) {
	path := ""
	if cl.jmesPath != nil {
		var err error
		if path, err = evalString(cl.jmesPath, data); err != nil {
			return nil, fmt.Errorf("failed to substitute variables in context entry %s: %w", cl.name, err)
		}
	}
	var def any
	if cl.def != nil {
		var err error
		if def, err = cl.def.Evaluate(data); err != nil {
			return nil, fmt.Errorf("failed to substitute variables in context entry %s: %w", cl.name, err)
		}
	}
	output := def
	if cl.hasValue {
		v, err := cl.value.Evaluate(data)
		if err != nil {
			return nil, fmt.Errorf("failed to substitute variables in context entry %s: %w", cl.name, err)
		}
		if path != "" {
			r, err := jp.Search(path, v)
			if err == nil {
				output = r
			} else if def == nil {
				return nil, fmt.Errorf("failed to apply jmespath %s to variable %s: %w", path, jsonString(v), err)
			}
		} else {
			output = v
		}
	} else if path != "" {
		r, err := jp.Search(path, data)
		if err == nil {
			if r != nil {
				output = r
			}
		} else if def == nil {
			return nil, fmt.Errorf("failed to apply jmespath %s to variable %w", path, err)
		}
	}
	if output == nil {
		return nil, fmt.Errorf("unable to add context entry for variable %s since it evaluated to nil", cl.name)
	}
	return withValue(data, []string{cl.name}, output), nil
}

func (cl *contextLoader) loadAPICall(ctx context.Context, jp *jmespath.Interpreter, data map[string]any, ec *evalContext) (map[string]any, error) {
	var body any
	if len(cl.data) > 0 {
		m := map[string]any{}
		for _, dd := range cl.data {
			v, err := dd.value.Evaluate(data)
			if err != nil {
				return nil, fmt.Errorf("failed to substitute variables in context entry %s data %s: %w", cl.name, dd.key, err)
			}
			m[dd.key] = v
		}
		body = m
	}
	var result any
	var err error
	if cl.service != nil {
		if ec.cluster.Services == nil {
			err = errContextUnavailable
		} else {
			var url string
			if url, err = evalString(cl.svcURL, data); err == nil {
				headers := map[string]string{}
				for _, h := range cl.service.Headers {
					headers[h.Key] = h.Value
				}
				result, err = ec.cluster.Services.CallService(ctx, cl.method, url, headers, body)
			}
		}
	} else {
		var urlPath string
		if urlPath, err = evalString(cl.urlPath, data); err == nil {
			if ec.cluster.API == nil {
				err = errContextUnavailable
			} else {
				result, err = ec.cluster.API.Call(ctx, cl.method, strings.TrimSpace(urlPath), body)
			}
		}
	}
	if err == nil && cl.jmesPath != nil {
		var path string
		if path, err = evalString(cl.jmesPath, data); err == nil && path != "" {
			result, err = jp.Search(path, result)
		}
	}
	if err != nil || result == nil {
		if cl.def != nil {
			def, derr := cl.def.Evaluate(data)
			if derr != nil {
				return nil, derr
			}
			return withValue(data, []string{cl.name}, def), nil
		}
		if err == nil {
			err = errors.New("the call returned null")
		}
		return nil, fmt.Errorf("failed to load context entry %s: failed to execute APICall: %w", cl.name, err)
	}
	return withValue(data, []string{cl.name}, result), nil
}

// evalString evaluates a string template; an absent template is "".
func evalString(t *variables.Template, data map[string]any) (string, error) {
	if t == nil {
		return "", nil
	}
	v, err := t.Evaluate(data)
	if err != nil {
		return "", err
	}
	switch s := v.(type) {
	case string:
		return s, nil
	case nil:
		return "", nil
	default:
		return jsonString(s), nil
	}
}

func hasKey(data map[string]any, dotted string) bool {
	var cur any = data
	for _, part := range strings.Split(dotted, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		cur, ok = m[part]
		if !ok {
			return false
		}
	}
	return true
}

// withValue returns data with value set at path, copying the maps along the
// path and sharing everything else. Existing maps are merged as Kyverno's
// JSON merge does: setting {"a":{"b":1}} into {"a":{"c":2}} keeps c.
func withValue(data map[string]any, path []string, value any) map[string]any {
	out := make(map[string]any, len(data)+1)
	for k, v := range data {
		out[k] = v
	}
	if len(path) == 1 {
		out[path[0]] = value
		return out
	}
	child, _ := data[path[0]].(map[string]any)
	out[path[0]] = withValue(child, path[1:], value)
	return out
}

// withDotted sets a value given as a dotted path ("request.object.x").
func withDotted(data map[string]any, key string, value any) map[string]any {
	return withValue(data, strings.Split(key, "."), value)
}
