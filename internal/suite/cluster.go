package suite

import (
	"context"
	"fmt"
	"strings"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/manifest"
	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/jmespath"
)

// fakeCluster answers the cluster reads of policies from what a test file
// provides: cluster resources, a context file, namespaces, mocked API call
// responses and global context entries. It is read-only after construction.
type fakeCluster struct {
	objects []map[string]any
	api     []apiCallResponse
	global  map[string]globalContextEntry
	jp      *jmespath.Interpreter
}

var (
	_ engine.ConfigMapGetter     = (*fakeCluster)(nil)
	_ engine.NamespaceGetter     = (*fakeCluster)(nil)
	_ engine.APICaller           = (*fakeCluster)(nil)
	_ engine.ServiceCaller       = (*fakeCluster)(nil)
	_ engine.GlobalContextGetter = (*fakeCluster)(nil)
)

// engineCluster exposes the sources the test file actually provides; the
// others stay nil, so that policies reading them behave as in Kyverno's CLI.
func (c *fakeCluster) engineCluster(haveResources bool) engine.Cluster {
	var out engine.Cluster
	if haveResources {
		out.ConfigMaps = c
		out.Namespaces = c
	}
	if haveResources || len(c.api) > 0 {
		out.API = c
	}
	if len(c.api) > 0 {
		out.Services = c
	}
	if len(c.global) > 0 {
		out.GlobalContext = c
	}
	return out
}

func (c *fakeCluster) find(kind, namespace, name string) map[string]any {
	for _, o := range c.objects {
		obj := manifest.Object{Object: o}
		if obj.Kind() == kind && obj.Name() == name && (namespace == "" || obj.Namespace() == namespace) {
			return o
		}
	}
	return nil
}

// ConfigMap implements engine.ConfigMapGetter.
func (c *fakeCluster) ConfigMap(_ context.Context, namespace, name string) (map[string]any, error) {
	if o := c.find("ConfigMap", namespace, name); o != nil {
		return o, nil
	}
	return nil, fmt.Errorf("configmaps %q %w", name, engine.ErrNotFound)
}

// Namespace implements engine.NamespaceGetter.
func (c *fakeCluster) Namespace(_ context.Context, name string) (map[string]any, error) {
	if o := c.find("Namespace", "", name); o != nil {
		return o, nil
	}
	return nil, fmt.Errorf("namespaces %q %w", name, engine.ErrNotFound)
}

// Call implements engine.APICaller: a mocked response for the path, or a
// GET of the provided resources.
func (c *fakeCluster) Call(_ context.Context, method, urlPath string, _ any) (any, error) {
	for _, m := range c.api {
		if m.URLPath != "" && m.URLPath == urlPath && (m.Method == "" || strings.EqualFold(m.Method, method)) {
			return mockBody(m)
		}
	}
	if method != "GET" {
		return nil, fmt.Errorf("no mocked response for %s %s", method, urlPath)
	}
	return c.get(urlPath)
}

// CallService implements engine.ServiceCaller with the mocked responses.
func (c *fakeCluster) CallService(_ context.Context, method, url string, _ map[string]string, _ any) (any, error) {
	for _, m := range c.api {
		if m.URL != "" && m.URL == url && (m.Method == "" || strings.EqualFold(m.Method, method)) {
			return mockBody(m)
		}
	}
	return nil, fmt.Errorf("no mocked response for %s %s", method, url)
}

func mockBody(m apiCallResponse) (any, error) {
	if m.Response.StatusCode >= 400 {
		return nil, fmt.Errorf("HTTP %d", m.Response.StatusCode)
	}
	return m.Response.Body, nil
}

// get resolves a Kubernetes API path against the provided resources:
// /api/v1/[namespaces/NS/]RESOURCE[/NAME] and
// /apis/GROUP/VERSION/[namespaces/NS/]RESOURCE[/NAME].
func (c *fakeCluster) get(urlPath string) (any, error) {
	path := strings.Trim(strings.SplitN(urlPath, "?", 2)[0], "/")
	parts := strings.Split(path, "/")
	var group, version string
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		version, parts = parts[1], parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		group, version, parts = parts[1], parts[2], parts[3:]
	default:
		return nil, fmt.Errorf("cannot resolve API path %s", urlPath)
	}
	namespace := ""
	if len(parts) >= 3 && parts[0] == "namespaces" {
		namespace, parts = parts[1], parts[2:]
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("cannot resolve API path %s", urlPath)
	}
	resource := parts[0]
	if resource == "namespaces" && len(parts) == 1 && namespace != "" {
		// /api/v1/namespaces/NAME
		resource, parts = "namespaces", []string{"namespaces", namespace}
		namespace = ""
	}
	apiVersion := version
	if group != "" {
		apiVersion = group + "/" + version
	}
	var items []any
	kindName := ""
	for _, o := range c.objects {
		obj := manifest.Object{Object: o}
		if obj.APIVersion() != apiVersion || plural(obj.Kind()) != resource {
			continue
		}
		if namespace != "" && obj.Namespace() != namespace {
			continue
		}
		kindName = obj.Kind()
		if len(parts) > 1 {
			if obj.Name() == parts[1] {
				return o, nil
			}
			continue
		}
		items = append(items, o)
	}
	if len(parts) > 1 {
		return nil, fmt.Errorf("%s %q %w", resource, parts[1], engine.ErrNotFound)
	}
	if items == nil {
		items = []any{}
	}
	return map[string]any{
		"apiVersion": apiVersion,
		"kind":       kindName + "List",
		"metadata":   map[string]any{},
		"items":      items,
	}, nil
}

// plural is the resource name of a kind, as the API server spells it for
// regular English plurals.
func plural(kind string) string {
	k := strings.ToLower(kind)
	switch {
	case strings.HasSuffix(k, "s"), strings.HasSuffix(k, "x"), strings.HasSuffix(k, "ch"), strings.HasSuffix(k, "sh"):
		return k + "es"
	case strings.HasSuffix(k, "y") && len(k) > 1 && !strings.ContainsRune("aeiou", rune(k[len(k)-2])):
		return k[:len(k)-1] + "ies"
	}
	return k + "s"
}

// GlobalContext implements engine.GlobalContextGetter.
func (c *fakeCluster) GlobalContext(_ context.Context, name, projection string) (any, error) {
	e, ok := c.global[name]
	if !ok {
		return nil, fmt.Errorf("failed to fetch entry key=%s", name)
	}
	var data any
	switch {
	case e.Data != nil:
		data = e.Data
	default:
		data = e.Resources
	}
	if e.FieldPath != "" && c.jp != nil {
		v, err := c.jp.Search(e.FieldPath, data)
		if err != nil {
			return nil, err
		}
		data = v
	}
	if projection == "" {
		return data, nil
	}
	for _, p := range e.Projections {
		if p.Name == projection {
			return c.jp.Search(p.Path, data)
		}
	}
	return nil, fmt.Errorf("projection %s not found in global context entry %s", projection, name)
}
