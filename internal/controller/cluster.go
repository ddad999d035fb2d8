package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/cache"

	"github.com/portcullis-dev/portcullis/internal/engine"
)

// Bounds of the API calls policies make.
const (
	// MaxAPIResponseBytes bounds the body of an API call's response.
	MaxAPIResponseBytes = 10 << 20
	// APICallTimeout bounds one API call when the request's deadline is
	// later or absent.
	APICallTimeout = 10 * time.Second
)

// namespaceGetter implements engine.NamespaceGetter from the namespace
// informer.
type namespaceGetter struct{ lister corelisters.NamespaceLister }

var _ engine.NamespaceGetter = namespaceGetter{}

func (g namespaceGetter) Namespace(_ context.Context, name string) (map[string]any, error) {
	ns, err := g.lister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("namespace %q: %w", name, engine.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return toUnstructured(ns, "v1", "Namespace")
}

// configMapGetter implements engine.ConfigMapGetter from the ConfigMap
// informer.
type configMapGetter struct{ lister corelisters.ConfigMapLister }

var _ engine.ConfigMapGetter = configMapGetter{}

func (g configMapGetter) ConfigMap(_ context.Context, namespace, name string) (map[string]any, error) {
	cm, err := g.lister.ConfigMaps(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("configmap %s/%s: %w", namespace, name, engine.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return toUnstructured(cm, "v1", "ConfigMap")
}

func toUnstructured(obj runtime.Object, apiVersion, kind string) (map[string]any, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	m["apiVersion"], m["kind"] = apiVersion, kind
	return m, nil
}

// apiCaller implements engine.APICaller with the client's credentials: GET
// and POST of API paths on the API server the client talks to, bounded in
// time and size.
type apiCaller struct {
	client *http.Client
	base   *url.URL
}

var _ engine.APICaller = (*apiCaller)(nil)

func newAPICaller(cfg *rest.Config) (*apiCaller, error) {
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("failed to build the API call client: %w", err)
	}
	base, _, err := rest.DefaultServerUrlFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("failed to build the API call client: %w", err)
	}
	return &apiCaller{client: client, base: base}, nil
}

// Call GETs or POSTs urlPath (a path with an optional query, such as
// /api/v1/namespaces?labelSelector=a%3Db) and returns the decoded JSON.
// Integers decode as int64. A 404 wraps engine.ErrNotFound.
func (a *apiCaller) Call(ctx context.Context, method, urlPath string, body any) (any, error) {
	method = strings.ToUpper(method)
	if method == "" {
		method = http.MethodGet
	}
	if method != http.MethodGet && method != http.MethodPost {
		return nil, fmt.Errorf("API calls are GET or POST, not %s", method)
	}
	ref, err := url.Parse(urlPath)
	if err != nil || ref.Scheme != "" || ref.Host != "" || ref.User != nil || !strings.HasPrefix(ref.Path, "/") {
		return nil, fmt.Errorf("invalid API path %q: want an absolute path such as /api/v1/namespaces", urlPath)
	}
	u := *a.base
	u.Path = strings.TrimSuffix(u.Path, "/") + ref.Path
	u.RawPath = ""
	u.RawQuery = ref.RawQuery
	var reader io.Reader
	if method == http.MethodPost && body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("failed to encode the body of POST %s: %w", urlPath, err)
		}
		reader = bytes.NewReader(data)
	}
	if d, ok := ctx.Deadline(); !ok || time.Until(d) > APICallTimeout {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, APICallTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), reader)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if reader != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, urlPath, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxAPIResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: failed to read the response: %w", method, urlPath, err)
	}
	if len(data) > MaxAPIResponseBytes {
		return nil, fmt.Errorf("%s %s: the response is larger than %d bytes", method, urlPath, MaxAPIResponseBytes)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := http.StatusText(resp.StatusCode)
		var status metav1.Status
		if json.Unmarshal(data, &status) == nil && status.Message != "" {
			msg = status.Message
		}
		err := fmt.Errorf("%s %s: %d %s", method, urlPath, resp.StatusCode, msg)
		if resp.StatusCode == http.StatusNotFound {
			err = fmt.Errorf("%w: %w", err, engine.ErrNotFound)
		}
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("%s %s: the response is not JSON: %w", method, urlPath, err)
	}
	return normalizeNumbers(out), nil
}

// normalizeNumbers turns json.Numbers into int64 when they are integers
// and float64 otherwise, as the engine expects.
func normalizeNumbers(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = normalizeNumbers(e)
		}
	case []any:
		for i, e := range t {
			t[i] = normalizeNumbers(e)
		}
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	}
	return v
}

// inventory implements engine.InventoryLister: informers over the kinds
// Gatekeeper policies may read as data.inventory.
type inventory struct {
	dynamic dynamic.Interface
	mapper  meta.RESTMapper
	log     logr.Logger

	mu       sync.Mutex
	watches  map[schema.GroupVersionResource]*inventoryWatch
	unmapped []string
}

type inventoryWatch struct {
	gvk      schema.GroupVersionKind
	informer cache.SharedIndexInformer
	stop     chan struct{}
}

var _ engine.InventoryLister = (*inventory)(nil)

func newInventory(client dynamic.Interface, mapper meta.RESTMapper, log logr.Logger) *inventory {
	return &inventory{dynamic: client, mapper: mapper, log: log, watches: map[schema.GroupVersionResource]*inventoryWatch{}}
}

// sync watches exactly the given kinds. Kinds the API server does not serve
// are retried on the next sync (the next CRD change).
func (inv *inventory) sync(kinds []schema.GroupVersionKind) {
	want := map[schema.GroupVersionResource]schema.GroupVersionKind{}
	var unmapped []string
	for _, gvk := range kinds {
		m, err := inv.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil && meta.IsNoMatchError(err) {
			if r, ok := inv.mapper.(meta.ResettableRESTMapper); ok {
				r.Reset()
				m, err = inv.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			}
		}
		if err != nil {
			unmapped = append(unmapped, gvk.String())
			inv.log.Info("cannot sync a kind for data.inventory yet", "kind", gvk.String(), "error", err.Error())
			continue
		}
		want[m.Resource] = gvk
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.unmapped = unmapped
	for gvr, w := range inv.watches {
		if _, ok := want[gvr]; !ok {
			close(w.stop)
			delete(inv.watches, gvr)
		}
	}
	for gvr, gvk := range want {
		if _, ok := inv.watches[gvr]; ok {
			continue
		}
		w := &inventoryWatch{gvk: gvk, stop: make(chan struct{})}
		w.informer = dynamicinformer.NewFilteredDynamicInformer(inv.dynamic, gvr, metav1.NamespaceAll, 0, cache.Indexers{}, nil).Informer()
		_ = w.informer.SetTransform(stripManagedFields)
		go w.informer.Run(w.stop)
		inv.watches[gvr] = w
		inv.log.Info("syncing for data.inventory", "resource", gvr.String())
	}
}

// pending lists the inventory resources that have not synced.
func (inv *inventory) pending() []string {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	var out []string
	for gvr, w := range inv.watches {
		if !w.informer.HasSynced() {
			out = append(out, gvr.String())
		}
	}
	return out
}

func (inv *inventory) stop() {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	for gvr, w := range inv.watches {
		close(w.stop)
		delete(inv.watches, gvr)
	}
}

// Inventory returns every synced object, sorted by kind, namespace and
// name. The objects are the informers' own: callers must not change them.
func (inv *inventory) Inventory(ctx context.Context) ([]map[string]any, error) {
	inv.mu.Lock()
	ws := make([]*inventoryWatch, 0, len(inv.watches))
	for _, w := range inv.watches {
		ws = append(ws, w)
	}
	inv.mu.Unlock()
	sort.Slice(ws, func(i, j int) bool { return ws[i].gvk.String() < ws[j].gvk.String() })
	var out []map[string]any
	for _, w := range ws {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		objs := w.informer.GetStore().List()
		sort.Slice(objs, func(i, j int) bool { return key(objs[i]) < key(objs[j]) })
		for _, o := range objs {
			if u, ok := o.(*unstructured.Unstructured); ok {
				out = append(out, u.Object)
			}
		}
	}
	return out, nil
}

// newDiscoveryMapper returns a RESTMapper over cached discovery that
// Reset refreshes.
func newDiscoveryMapper(d discovery.DiscoveryInterface) meta.RESTMapper {
	return restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(d))
}
