// Package controller serves portcullis from a cluster: it watches the
// policy kinds of every dialect the engine knows (including the constraint
// kinds that Gatekeeper templates create, as their CRDs appear), compiles
// all policies once per change (debounced) and publishes the compiled set
// as an immutable snapshot. As the leader it also writes every policy's
// status (a Ready condition, with the compile errors when there are some),
// creates the constraint CRD of every ConstraintTemplate, and marks the
// template created. It provides the cluster data policies read: namespaces,
// ConfigMaps, API calls, the Gatekeeper inventory and the Secrets that hold
// the public keys of image policies.
package controller

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apiextensionsinformers "k8s.io/apiextensions-apiserver/pkg/client/informers/externalversions"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/image"
)

// DefaultDebounce is how long the controller collects changes before it
// compiles, when Options.Debounce is zero: a burst (kubectl apply -f of a
// folder, a template with its constraints) compiles once.
const DefaultDebounce = 200 * time.Millisecond

// DefaultStatusResync is how often the leader checks every policy's status
// when nothing changed.
const DefaultStatusResync = time.Minute

// Options configure a Controller. Engine, Dynamic, Kube and CRDs are
// required.
type Options struct {
	// Engine compiles the documents; the controller watches the kinds its
	// dialects handle.
	Engine  *engine.Engine
	Dynamic dynamic.Interface
	Kube    kubernetes.Interface
	CRDs    apiextensionsclient.Interface
	// REST is the client configuration for the API calls policies make
	// (Kyverno apiCall context entries); nil leaves them unavailable.
	REST *rest.Config
	// Namespace is portcullis's own namespace, where the Gatekeeper Config
	// named "config" lists the kinds to sync for data.inventory.
	Namespace string
	// Identity names this replica in status.byPod, e.g. the pod name.
	Identity string
	// SyncKinds are kinds whose objects are synced for data.inventory, in
	// addition to the ones the Config lists.
	SyncKinds []schema.GroupVersionKind
	// Mapper maps inventory kinds to resources; nil means a mapper over the
	// discovery of Kube, refreshed when a kind is not found.
	Mapper meta.RESTMapper
	// ExternalData, when set, is kept configured with the cluster's
	// externaldata.gatekeeper.sh Providers and answers the policies'
	// external data calls.
	ExternalData ExternalData
	// Registry, when set, is how image policies read registries. Requests
	// gain the imagePullSecrets of the Pod's service account on the way.
	Registry image.Registry
	// Debounce defaults to DefaultDebounce.
	Debounce time.Duration
	// Publish receives every compiled snapshot, on one goroutine, in order.
	Publish func(Snapshot)
	Log     logr.Logger
}

// ExternalData is an external data client configured from Provider
// objects, such as externaldata.Client.
type ExternalData interface {
	engine.ExternalDataProvider
	// SetProviders replaces the providers with the valid ones among objs
	// and reports the invalid ones.
	SetProviders(objs []map[string]any) field.ErrorList
}

// Snapshot is one compilation of every policy in the cluster.
type Snapshot struct {
	// Set holds every compiled policy; it is immutable.
	Set *engine.Set
	// Cluster is the cluster data policies read.
	Cluster engine.Cluster
	// Documents are the compiled documents, in compile order.
	Documents []engine.Document
	// Errors are the compile errors of all documents.
	Errors field.ErrorList
}

// Controller loads policies from the cluster. Run runs on every replica;
// RunLeader only on the leader.
type Controller struct {
	opts    Options
	log     logr.Logger
	cluster engine.Cluster

	crdInformer cache.SharedIndexInformer
	crdFactory  apiextensionsinformers.SharedInformerFactory
	kubeFactory informers.SharedInformerFactory
	namespaces  cache.SharedIndexInformer
	configMaps  cache.SharedIndexInformer
	nsLister    corelisters.NamespaceLister
	cmLister    corelisters.ConfigMapLister
	inventory   *inventory

	changed chan struct{} // documents changed: compile
	replan  chan struct{} // CRDs or the Config changed: re-plan the watches
	// leaderWork: a snapshot was published or a CRD changed: the leader
	// writes status and reconciles constraint CRDs.
	leaderWork chan struct{}

	mu        sync.Mutex
	watches   map[schema.GroupVersionResource]*watch
	planned   bool
	published bool
	last      *result
	templates map[string]templateState // by template UID, written by the leader
}

// New returns a controller; nothing runs until Run.
func New(opts Options) (*Controller, error) {
	var errs []error
	if opts.Engine == nil {
		errs = append(errs, errors.New("an engine is required"))
	}
	if opts.Dynamic == nil || opts.Kube == nil || opts.CRDs == nil {
		errs = append(errs, errors.New("the dynamic, Kubernetes and apiextensions clients are required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("invalid controller options: %w", err)
	}
	if opts.Debounce <= 0 {
		opts.Debounce = DefaultDebounce
	}
	if opts.Publish == nil {
		opts.Publish = func(Snapshot) {}
	}
	c := &Controller{
		opts:       opts,
		log:        opts.Log,
		changed:    make(chan struct{}, 1),
		replan:     make(chan struct{}, 1),
		leaderWork: make(chan struct{}, 1),
		watches:    map[schema.GroupVersionResource]*watch{},
		templates:  map[string]templateState{},
	}

	c.crdFactory = apiextensionsinformers.NewSharedInformerFactory(opts.CRDs, 0)
	c.crdInformer = c.crdFactory.Apiextensions().V1().CustomResourceDefinitions().Informer()
	// Keep names, versions, subresources and conditions; schemas can be
	// megabytes and nothing here reads them.
	if err := c.crdInformer.SetTransform(stripCRD); err != nil {
		return nil, err
	}
	c.crdInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { kick(c.replan); kick(c.leaderWork) },
		UpdateFunc: func(_, _ any) { kick(c.replan); kick(c.leaderWork) },
		DeleteFunc: func(any) { kick(c.replan); kick(c.leaderWork) },
	})

	c.kubeFactory = informers.NewSharedInformerFactory(opts.Kube, 0)
	c.namespaces = c.kubeFactory.Core().V1().Namespaces().Informer()
	c.configMaps = c.kubeFactory.Core().V1().ConfigMaps().Informer()
	for _, inf := range []cache.SharedIndexInformer{c.namespaces, c.configMaps} {
		if err := inf.SetTransform(stripManagedFields); err != nil {
			return nil, err
		}
	}
	c.nsLister = c.kubeFactory.Core().V1().Namespaces().Lister()
	c.cmLister = c.kubeFactory.Core().V1().ConfigMaps().Lister()

	mapper := opts.Mapper
	if mapper == nil {
		mapper = newDiscoveryMapper(opts.Kube.Discovery())
	}
	c.inventory = newInventory(opts.Dynamic, mapper, opts.Log)
	c.cluster = engine.Cluster{
		Namespaces: namespaceGetter{c.nsLister},
		ConfigMaps: configMapGetter{c.cmLister},
		Inventory:  c.inventory,
		Secrets:    KeySecrets{Kube: opts.Kube},
	}
	if opts.ExternalData != nil {
		c.cluster.ExternalData = opts.ExternalData
	}
	if opts.Registry != nil {
		c.cluster.Registry = ServiceAccountRegistry{Registry: opts.Registry, Kube: opts.Kube}
	}
	if opts.REST != nil {
		api, err := newAPICaller(opts.REST)
		if err != nil {
			return nil, err
		}
		c.cluster.API = api
	}
	return c, nil
}

// Cluster returns the cluster data policies read.
func (c *Controller) Cluster() engine.Cluster { return c.cluster }

// Run watches and compiles until ctx ends. It publishes the first snapshot
// once every informer has synced.
func (c *Controller) Run(ctx context.Context) error {
	c.crdFactory.Start(ctx.Done())
	c.kubeFactory.Start(ctx.Done())
	defer func() {
		c.crdFactory.Shutdown()
		c.kubeFactory.Shutdown()
		c.stopWatches()
		c.inventory.stop()
	}()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.planLoop(ctx)
	}()
	c.compileLoop(ctx)
	wg.Wait()
	return nil
}

// planLoop starts and stops watches as CRDs and the Config change.
func (c *Controller) planLoop(ctx context.Context) {
	if !cache.WaitForCacheSync(ctx.Done(), c.crdInformer.HasSynced) {
		return
	}
	kick(c.replan)
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.replan:
		}
		c.plan()
		c.inventory.sync(c.inventoryKinds())
		c.mu.Lock()
		c.planned = true
		c.mu.Unlock()
		kick(c.changed)
	}
}

// compileLoop compiles after each burst of changes.
func (c *Controller) compileLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.changed:
		}
		// Collect the rest of the burst.
		timer := time.NewTimer(c.opts.Debounce)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		// Wait until every informer has its list, so that the first
		// snapshot (and every later one) has all policies.
		err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(context.Context) (bool, error) {
			return c.informersSynced() == nil, nil
		})
		if err != nil {
			return
		}
		// Changes that arrived while waiting are in this compile.
		select {
		case <-c.changed:
		default:
		}
		c.compile()
	}
}

// Synced returns nil once every informer has synced and the first snapshot
// is published; until then, an error that says what is missing. The
// webhook server's readiness uses it: portcullis never admits before its
// policies are loaded.
func (c *Controller) Synced() error {
	if err := c.informersSynced(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.published {
		return errors.New("policies are not compiled yet")
	}
	return nil
}

func (c *Controller) informersSynced() error {
	if !c.crdInformer.HasSynced() {
		return errors.New("waiting for CustomResourceDefinitions to sync")
	}
	if !c.namespaces.HasSynced() || !c.configMaps.HasSynced() {
		return errors.New("waiting for namespaces and ConfigMaps to sync")
	}
	c.mu.Lock()
	planned := c.planned
	var pending []string
	for gvr, w := range c.watches {
		if !w.informer.HasSynced() {
			pending = append(pending, gvr.String())
		}
	}
	c.mu.Unlock()
	if !planned {
		return errors.New("waiting for the policy kinds to be watched")
	}
	pending = append(pending, c.inventory.pending()...)
	if len(pending) > 0 {
		sort.Strings(pending)
		return fmt.Errorf("waiting for %s to sync", strings.Join(pending, ", "))
	}
	return nil
}

// result is one compilation, for the status writer.
type result struct {
	docs []docResult
}

// docResult is one compiled document and its problems.
type docResult struct {
	watch      *watch
	namespace  string
	name       string
	uid        string
	generation int64
	errs       field.ErrorList
	root       string
}

// compile compiles every policy document and publishes the snapshot.
func (c *Controller) compile() {
	c.mu.Lock()
	var ws []*watch
	for _, w := range c.watches {
		if w.policy {
			ws = append(ws, w)
		}
	}
	c.mu.Unlock()
	sort.Slice(ws, func(i, j int) bool { return ws[i].gvr.String() < ws[j].gvr.String() })

	var docs []engine.Document
	var results []docResult
	for _, w := range ws {
		objs := w.informer.GetStore().List()
		sort.Slice(objs, func(i, j int) bool { return key(objs[i]) < key(objs[j]) })
		for _, o := range objs {
			u, ok := o.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			d := document(w, u)
			docs = append(docs, d)
			results = append(results, docResult{
				watch: w, namespace: u.GetNamespace(), name: u.GetName(), uid: string(u.GetUID()),
				generation: u.GetGeneration(), root: d.Root().String(),
			})
		}
	}
	start := time.Now()
	set, errs := c.opts.Engine.Compile(docs)
	for i := range results {
		results[i].errs = errorsUnder(errs, results[i].root)
	}
	c.log.Info("compiled policies", "documents", len(docs), "policies", set.Len(), "errors", len(errs), "took", time.Since(start))
	for _, e := range errs {
		c.log.V(1).Info("policy problem", "error", e.Error())
	}
	c.opts.Publish(Snapshot{Set: set, Cluster: c.cluster, Documents: docs, Errors: errs})
	c.mu.Lock()
	c.published = true
	c.last = &result{docs: results}
	c.mu.Unlock()
	kick(c.leaderWork)
}

// document turns a watched object into a policy document: a deep copy
// without status and managed fields, whose Source names its resource.
func document(w *watch, u *unstructured.Unstructured) engine.Document {
	obj := u.DeepCopy().Object
	delete(obj, "status")
	if md, ok := obj["metadata"].(map[string]any); ok {
		delete(md, "managedFields")
	}
	return engine.Document{Source: w.gvr.Resource + "." + w.gvr.Group, Object: obj}
}

// errorsUnder returns the errors whose field path starts at root.
func errorsUnder(errs field.ErrorList, root string) field.ErrorList {
	var out field.ErrorList
	for _, e := range errs {
		if e.Field == root || strings.HasPrefix(e.Field, root+".") || strings.HasPrefix(e.Field, root+"[") {
			out = append(out, e)
		}
	}
	return out
}

func key(o any) string {
	k, _ := cache.MetaNamespaceKeyFunc(o)
	return k
}

// kick sends on a one-slot channel without blocking.
func kick(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func stripCRD(o any) (any, error) {
	crd, ok := o.(*apiextensionsv1.CustomResourceDefinition)
	if !ok {
		return o, nil
	}
	crd = crd.DeepCopy()
	crd.ManagedFields = nil
	// Keep only the annotation that says which template a constraint CRD
	// was made from; kubectl's last-applied-configuration holds a whole CRD.
	if from, ok := crd.Annotations[templateAnnotation]; ok {
		crd.Annotations = map[string]string{templateAnnotation: from}
	} else {
		crd.Annotations = nil
	}
	for i := range crd.Spec.Versions {
		crd.Spec.Versions[i].Schema = nil
	}
	crd.Spec.Conversion = nil
	return crd, nil
}

func stripManagedFields(o any) (any, error) {
	if m, err := meta.Accessor(o); err == nil {
		m.SetManagedFields(nil)
	}
	return o, nil
}

// relevant reports whether an update changed what compiles: the spec
// (generation), labels or annotations. Status writes, including ours, do
// not.
func relevant(oldObj, newObj any) bool {
	o, err1 := meta.Accessor(oldObj)
	n, err2 := meta.Accessor(newObj)
	if err1 != nil || err2 != nil {
		return true
	}
	if o.GetGeneration() == 0 && n.GetGeneration() == 0 {
		return o.GetResourceVersion() != n.GetResourceVersion()
	}
	return o.GetGeneration() != n.GetGeneration() || !equalMaps(o.GetLabels(), n.GetLabels()) ||
		!equalMaps(o.GetAnnotations(), n.GetAnnotations()) || (o.GetDeletionTimestamp() == nil) != (n.GetDeletionTimestamp() == nil)
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

var _ metav1.Object = (*unstructured.Unstructured)(nil)
