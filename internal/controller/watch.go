package controller

import (
	"sort"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"

	"github.com/portcullis-dev/portcullis/internal/crds"
)

// The kinds the controller watches besides policies.
var (
	templateGK = schema.GroupKind{Group: "templates.gatekeeper.sh", Kind: "ConstraintTemplate"}
	configGK   = schema.GroupKind{Group: "config.gatekeeper.sh", Kind: "Config"}
	providerGK = schema.GroupKind{Group: "externaldata.gatekeeper.sh", Kind: "Provider"}
)

// ConstraintsGroup is the group of the constraint kinds that
// ConstraintTemplates define.
const ConstraintsGroup = "constraints.gatekeeper.sh"

// ConfigName is the name of the Gatekeeper Config the controller reads in
// its namespace, as Gatekeeper reads the one named config in its own.
const ConfigName = "config"

// watch is an informer over one resource whose CRD is established.
type watch struct {
	crd string
	gvr schema.GroupVersionResource
	gvk schema.GroupVersionKind
	// policy: its objects are compiled; template: its objects define
	// constraint kinds; config: it holds the Gatekeeper Config; provider:
	// its objects configure Options.ExternalData.
	policy, template, config, provider bool
	// status: the resource has a status subresource.
	status     bool
	namespaced bool
	informer   cache.SharedIndexInformer
	stop       chan struct{}
}

func (w *watch) same(o *watch) bool {
	return w.crd == o.crd && w.gvr == o.gvr && w.gvk == o.gvk && w.policy == o.policy && w.template == o.template &&
		w.config == o.config && w.provider == o.provider && w.status == o.status && w.namespaced == o.namespaced
}

// plan starts an informer for every established CRD whose kind is a policy
// kind, the ConstraintTemplate kind or the Gatekeeper Config kind, at its
// storage version, and stops the ones whose CRD went away.
func (c *Controller) plan() {
	want := map[schema.GroupVersionResource]*watch{}
	for _, o := range c.crdInformer.GetStore().List() {
		crd, ok := o.(*apiextensionsv1.CustomResourceDefinition)
		if !ok || crd.DeletionTimestamp != nil {
			continue
		}
		if established, _ := crds.Established(crd); !established {
			continue
		}
		w := c.watchFor(crd)
		if w != nil {
			want[w.gvr] = w
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	changed := false
	for gvr, w := range c.watches {
		if n, ok := want[gvr]; !ok || !n.same(w) {
			close(w.stop)
			if w.provider {
				c.opts.ExternalData.SetProviders(nil)
			}
			delete(c.watches, gvr)
			changed = true
			c.log.Info("stopped watching", "resource", gvr.String())
		}
	}
	for gvr, w := range want {
		if _, ok := c.watches[gvr]; ok {
			continue
		}
		c.start(w)
		c.watches[gvr] = w
		changed = true
		c.log.Info("watching", "resource", gvr.String(), "policy", w.policy, "template", w.template)
	}
	if changed {
		kick(c.changed)
	}
}

// watchFor returns the watch a CRD needs, or nil.
func (c *Controller) watchFor(crd *apiextensionsv1.CustomResourceDefinition) *watch {
	var version *apiextensionsv1.CustomResourceDefinitionVersion
	for i := range crd.Spec.Versions {
		v := &crd.Spec.Versions[i]
		if v.Storage && v.Served {
			version = v
		}
	}
	if version == nil {
		for i := range crd.Spec.Versions {
			if crd.Spec.Versions[i].Served {
				version = &crd.Spec.Versions[i]
				break
			}
		}
	}
	if version == nil {
		return nil
	}
	gvk := schema.GroupVersionKind{Group: crd.Spec.Group, Version: version.Name, Kind: crd.Spec.Names.Kind}
	w := &watch{
		crd:        crd.Name,
		gvr:        schema.GroupVersionResource{Group: crd.Spec.Group, Version: version.Name, Resource: crd.Spec.Names.Plural},
		gvk:        gvk,
		policy:     c.opts.Engine.Dialect(gvk) != nil,
		template:   gvk.GroupKind() == templateGK,
		config:     gvk.GroupKind() == configGK,
		provider:   gvk.GroupKind() == providerGK && c.opts.ExternalData != nil,
		status:     version.Subresources != nil && version.Subresources.Status != nil,
		namespaced: crd.Spec.Scope == apiextensionsv1.NamespaceScoped,
	}
	if !w.policy && !w.template && !w.config && !w.provider {
		return nil
	}
	return w
}

// start creates and runs the informer of a watch.
func (c *Controller) start(w *watch) {
	namespace := metav1.NamespaceAll
	var tweak dynamicinformer.TweakListOptionsFunc
	if w.config {
		namespace = c.opts.Namespace
		tweak = func(o *metav1.ListOptions) { o.FieldSelector = "metadata.name=" + ConfigName }
	}
	w.informer = dynamicinformer.NewFilteredDynamicInformer(c.opts.Dynamic, w.gvr, namespace, 0, cache.Indexers{}, tweak).Informer()
	w.informer.SetTransform(stripManagedFields)
	onChange := func() { kick(c.changed) }
	switch {
	case w.config:
		onChange = func() { kick(c.replan) }
	case w.provider:
		onChange = func() { c.syncProviders(w) }
	}
	w.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { onChange() },
		UpdateFunc: func(o, n any) {
			if relevant(o, n) {
				onChange()
			}
		},
		DeleteFunc: func(any) { onChange() },
	})
	w.informer.SetWatchErrorHandler(func(_ *cache.Reflector, err error) {
		c.log.V(1).Info("watch failed; retrying", "resource", w.gvr.String(), "error", err.Error())
	})
	w.stop = make(chan struct{})
	go w.informer.Run(w.stop)
}

// syncProviders configures Options.ExternalData with every Provider.
func (c *Controller) syncProviders(w *watch) {
	objs := w.informer.GetStore().List()
	sort.Slice(objs, func(i, j int) bool { return key(objs[i]) < key(objs[j]) })
	providers := make([]map[string]any, 0, len(objs))
	for _, o := range objs {
		if u, ok := o.(*unstructured.Unstructured); ok {
			providers = append(providers, u.Object)
		}
	}
	for _, err := range c.opts.ExternalData.SetProviders(providers) {
		c.log.Info("invalid external data provider", "error", err.Error())
	}
}

func (c *Controller) stopWatches() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for gvr, w := range c.watches {
		close(w.stop)
		delete(c.watches, gvr)
	}
}

// watchOf returns the watch of a group and kind, or nil.
func (c *Controller) watchOf(gk schema.GroupKind) *watch {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range c.watches {
		if w.gvk.GroupKind() == gk {
			return w
		}
	}
	return nil
}

// inventoryKinds returns the kinds to sync for data.inventory: the
// options' and those the Config in the controller's namespace lists under
// spec.sync.syncOnly.
func (c *Controller) inventoryKinds() []schema.GroupVersionKind {
	kinds := append([]schema.GroupVersionKind(nil), c.opts.SyncKinds...)
	if w := c.watchOf(configGK); w != nil {
		if o, ok, _ := w.informer.GetStore().GetByKey(c.opts.Namespace + "/" + ConfigName); ok {
			if u, ok := o.(*unstructured.Unstructured); ok {
				kinds = append(kinds, syncOnly(u)...)
			}
		}
	}
	seen := map[schema.GroupVersionKind]bool{}
	out := kinds[:0]
	for _, k := range kinds {
		if !seen[k] && k.Kind != "" && k.Version != "" {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// syncOnly reads a Gatekeeper Config's spec.sync.syncOnly.
func syncOnly(config *unstructured.Unstructured) []schema.GroupVersionKind {
	entries, _, _ := unstructured.NestedSlice(config.Object, "spec", "sync", "syncOnly")
	var out []schema.GroupVersionKind
	for _, e := range entries {
		m, _ := e.(map[string]any)
		g, _ := m["group"].(string)
		v, _ := m["version"].(string)
		k, _ := m["kind"].(string)
		out = append(out, schema.GroupVersionKind{Group: g, Version: v, Kind: k})
	}
	return out
}
