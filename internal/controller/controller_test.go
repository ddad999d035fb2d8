package controller_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsfake "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset/fake"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/portcullis-dev/portcullis/internal/controller"
	"github.com/portcullis-dev/portcullis/internal/crds"
	"github.com/portcullis-dev/portcullis/internal/engine"
)

// testDialect compiles ClusterPolicies and Gatekeeper constraints. A
// document with spec.broken gets a compile error at spec.rules[0].name.
type testDialect struct{ compiles *atomic.Int32 }

func (testDialect) Name() string { return "test" }
func (testDialect) Handles(gvk schema.GroupVersionKind) bool {
	return (gvk.Group == "kyverno.io" && gvk.Kind == "ClusterPolicy") || gvk.Group == controller.ConstraintsGroup
}
func (d testDialect) Compile(docs []engine.Document) ([]engine.Policy, field.ErrorList) {
	d.compiles.Add(1)
	var out []engine.Policy
	var errs field.ErrorList
	for _, doc := range docs {
		ns, name := doc.Name()
		out = append(out, policy{engine.PolicyRef{Dialect: "test", Kind: doc.GVK().Kind, Namespace: ns, Name: name}})
		spec, _ := doc.Object["spec"].(map[string]any)
		if spec["broken"] == true {
			errs = append(errs, field.Required(doc.Root().Child("spec", "rules").Index(0).Child("name"), "rules need a name"))
		}
	}
	return out, errs
}

type policy struct{ ref engine.PolicyRef }

func (p policy) Ref() engine.PolicyRef        { return p.ref }
func (p policy) FailureAction() engine.Action { return engine.ActionDeny }
func (p policy) Evaluate(context.Context, *engine.Request, engine.Cluster) engine.Outcome {
	return engine.Outcome{}
}

var (
	policyGVR     = schema.GroupVersionResource{Group: "kyverno.io", Version: "v1", Resource: "clusterpolicies"}
	templateGVR   = schema.GroupVersionResource{Group: "templates.gatekeeper.sh", Version: "v1", Resource: "constrainttemplates"}
	constraintGVR = schema.GroupVersionResource{Group: controller.ConstraintsGroup, Version: "v1beta1", Resource: "k8srequiredlabels"}
	podGVR        = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
)

// env is a controller over fake clients.
type env struct {
	t         *testing.T
	ctx       context.Context
	dynamic   *dynamicfake.FakeDynamicClient
	kube      *kubefake.Clientset
	crds      *apiextensionsfake.Clientset
	ctrl      *controller.Controller
	compiles  atomic.Int32
	mu        sync.Mutex
	snapshots []controller.Snapshot
}

// established marks a CRD as the API server would once it serves it.
func established(crd *apiextensionsv1.CustomResourceDefinition) *apiextensionsv1.CustomResourceDefinition {
	crd.Status.Conditions = []apiextensionsv1.CustomResourceDefinitionCondition{
		{Type: apiextensionsv1.NamesAccepted, Status: apiextensionsv1.ConditionTrue},
		{Type: apiextensionsv1.Established, Status: apiextensionsv1.ConditionTrue},
	}
	return crd
}

func newEnv(t *testing.T, opts controller.Options, objects ...runtime.Object) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx}

	all, err := crds.All()
	if err != nil {
		t.Fatal(err)
	}
	var crdObjects []runtime.Object
	for _, crd := range all {
		if crd.Name == "clusterpolicies.kyverno.io" || crd.Name == "constrainttemplates.templates.gatekeeper.sh" {
			crdObjects = append(crdObjects, established(crd))
		}
	}
	e.crds = apiextensionsfake.NewClientset(crdObjects...)
	// The fake API server establishes what is created, as the real one does.
	e.crds.PrependReactor("create", "customresourcedefinitions", func(a clienttesting.Action) (bool, runtime.Object, error) {
		established(a.(clienttesting.CreateAction).GetObject().(*apiextensionsv1.CustomResourceDefinition))
		return false, nil, nil
	})
	e.kube = kubefake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"team": "a"}}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: "team-a"}, Data: map[string]string{"registry": "cgr.dev"}},
	)
	e.dynamic = dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		policyGVR:     "ClusterPolicyList",
		templateGVR:   "ConstraintTemplateList",
		constraintGVR: "K8sRequiredLabelsList",
		podGVR:        "PodList",
		{Group: "externaldata.gatekeeper.sh", Version: "v1beta1", Resource: "providers"}: "ProviderList",
	}, objects...)

	opts.Engine = engine.New(testDialect{&e.compiles})
	opts.Dynamic, opts.Kube, opts.CRDs = e.dynamic, e.kube, e.crds
	opts.Namespace, opts.Identity, opts.Log = "portcullis", "portcullis-0", logr.Discard()
	opts.Debounce = 50 * time.Millisecond
	opts.Publish = func(s controller.Snapshot) {
		e.mu.Lock()
		e.snapshots = append(e.snapshots, s)
		e.mu.Unlock()
	}
	e.ctrl, err = controller.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); e.ctrl.Run(ctx) }()
	go func() { defer wg.Done(); e.ctrl.RunLeader(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	e.eventually("synced", func() bool { return e.ctrl.Synced() == nil })
	return e
}

func (e *env) eventually(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: not in 10s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) last() controller.Snapshot {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.snapshots[len(e.snapshots)-1]
}

func (e *env) get(gvr schema.GroupVersionResource, namespace, name string) *unstructured.Unstructured {
	e.t.Helper()
	u, err := e.dynamic.Resource(gvr).Namespace(namespace).Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

func (e *env) ready(gvr schema.GroupVersionResource, name string) map[string]any {
	u := e.get(gvr, "", name)
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m := c.(map[string]any); m["type"] == "Ready" {
			return m
		}
	}
	return nil
}

func clusterPolicy(name string, generation int64, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy",
		"metadata": map[string]any{"name": name, "uid": "uid-" + name, "generation": generation},
		"spec":     spec,
	}}
	return u
}

func TestSyncedWaitsForPolicies(t *testing.T) {
	e := newEnv(t, controller.Options{}, clusterPolicy("a", 1, map[string]any{}), clusterPolicy("b", 1, map[string]any{}))
	if got := e.last().Set.Len(); got != 2 {
		t.Errorf("the first snapshot has %d policies; want 2", got)
	}
	if e.last().Cluster.Namespaces == nil || e.last().Cluster.Inventory == nil {
		t.Errorf("the snapshot lacks cluster data")
	}
}

func TestStatus(t *testing.T) {
	e := newEnv(t, controller.Options{},
		clusterPolicy("good", 1, map[string]any{"rules": []any{map[string]any{"name": "r", "validate": map[string]any{}}}}),
		clusterPolicy("bad", 3, map[string]any{"broken": true}),
	)
	e.eventually("statuses written", func() bool { return e.ready(policyGVR, "good") != nil && e.ready(policyGVR, "bad") != nil })

	good := e.ready(policyGVR, "good")
	delete(good, "lastTransitionTime")
	if diff := cmp.Diff(map[string]any{"type": "Ready", "status": "True", "reason": "Succeeded", "message": "Ready", "observedGeneration": int64(1)}, good); diff != "" {
		t.Errorf("good (-want +got):\n%s", diff)
	}
	u := e.get(policyGVR, "", "good")
	if ready, _, _ := unstructured.NestedBool(u.Object, "status", "ready"); !ready {
		t.Errorf("status.ready = false")
	}
	if n, _, _ := unstructured.NestedInt64(u.Object, "status", "rulecount", "validate"); n != 1 {
		t.Errorf("status.rulecount.validate = %d; want 1", n)
	}

	bad := e.ready(policyGVR, "bad")
	delete(bad, "lastTransitionTime")
	want := map[string]any{"type": "Ready", "status": "False", "reason": "CompileError", "observedGeneration": int64(3),
		"message": "spec.rules[0].name: Required value: rules need a name"}
	if diff := cmp.Diff(want, bad); diff != "" {
		t.Errorf("bad (-want +got):\n%s", diff)
	}

	// Fixed: the condition turns True for the new generation.
	fixed := clusterPolicy("bad", 4, map[string]any{})
	fixed.SetResourceVersion(e.get(policyGVR, "", "bad").GetResourceVersion())
	if _, err := e.dynamic.Resource(policyGVR).Update(e.ctx, fixed, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.eventually("the fixed policy is Ready", func() bool {
		c := e.ready(policyGVR, "bad")
		return c["status"] == "True" && c["observedGeneration"] == int64(4)
	})
}

// TestCompilesOncePerBurst checks the debounce and that status writes do
// not cause compiles.
func TestCompilesOncePerBurst(t *testing.T) {
	e := newEnv(t, controller.Options{}, clusterPolicy("p0", 1, map[string]any{}))
	e.eventually("the first status", func() bool { return e.ready(policyGVR, "p0") != nil })
	before := e.compiles.Load()
	for _, name := range []string{"p1", "p2", "p3", "p4", "p5", "p6"} {
		if _, err := e.dynamic.Resource(policyGVR).Create(e.ctx, clusterPolicy(name, 1, map[string]any{}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	e.eventually("seven policies", func() bool { return e.last().Set.Len() == 7 })
	e.eventually("six statuses", func() bool { return e.ready(policyGVR, "p6") != nil && e.ready(policyGVR, "p1") != nil })
	time.Sleep(300 * time.Millisecond)
	if n := e.compiles.Load() - before; n > 2 {
		t.Errorf("%d compiles for one burst (and its status writes); want at most 2", n)
	}
}

func template(name, kind string, params map[string]any) *unstructured.Unstructured {
	crdSpec := map[string]any{"names": map[string]any{"kind": kind}}
	if params != nil {
		crdSpec["validation"] = map[string]any{"openAPIV3Schema": params}
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "templates.gatekeeper.sh/v1", "kind": "ConstraintTemplate",
		"metadata": map[string]any{"name": name, "uid": "uid-" + name, "generation": int64(1)},
		"spec":     map[string]any{"crd": map[string]any{"spec": crdSpec}, "targets": []any{}},
	}}
}

func TestConstraintTemplates(t *testing.T) {
	params := map[string]any{"type": "object", "properties": map[string]any{
		"labels": map[string]any{"type": "array", "items": map[string]any{"type": "string"}}}}
	e := newEnv(t, controller.Options{}, template("k8srequiredlabels", "K8sRequiredLabels", params), template("wrong-name", "K8sOther", nil))

	var crd *apiextensionsv1.CustomResourceDefinition
	e.eventually("the constraint CRD", func() bool {
		var err error
		crd, err = e.crds.ApiextensionsV1().CustomResourceDefinitions().Get(e.ctx, "k8srequiredlabels.constraints.gatekeeper.sh", metav1.GetOptions{})
		return err == nil
	})
	if crd.Spec.Names.Kind != "K8sRequiredLabels" || crd.Spec.Scope != apiextensionsv1.ClusterScoped || !crds.Managed(crd) {
		t.Errorf("constraint CRD %+v", crd.Spec)
	}
	e.eventually("the template is created", func() bool {
		created, _, _ := unstructured.NestedBool(e.get(templateGVR, "", "k8srequiredlabels").Object, "status", "created")
		return created
	})
	u := e.get(templateGVR, "", "k8srequiredlabels")
	byPod, _, _ := unstructured.NestedSlice(u.Object, "status", "byPod")
	if len(byPod) != 1 || byPod[0].(map[string]any)["id"] != "portcullis-0" {
		t.Errorf("status.byPod = %v", byPod)
	}
	e.eventually("the misnamed template's status", func() bool { return e.ready(templateGVR, "wrong-name") != nil })
	c := e.ready(templateGVR, "wrong-name")
	if c["status"] != "False" || !strings.Contains(c["message"].(string), `must be "k8sother"`) {
		t.Errorf("misnamed template's condition %v", c)
	}

	// Constraints of the new kind are watched and compiled.
	constraint := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": "K8sRequiredLabels",
		"metadata": map[string]any{"name": "must-have-owner", "uid": "uid-c", "generation": int64(1)},
		"spec":     map[string]any{"parameters": map[string]any{"labels": []any{"owner"}}},
	}}
	if _, err := e.dynamic.Resource(constraintGVR).Create(e.ctx, constraint, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.eventually("the constraint is compiled", func() bool {
		for _, p := range e.last().Set.Policies() {
			if p.Ref().Name == "must-have-owner" {
				return true
			}
		}
		return false
	})
	e.eventually("the constraint's status", func() bool { return e.ready(constraintGVR, "must-have-owner") != nil })

	// The template goes, and its CRD with it.
	if err := e.dynamic.Resource(templateGVR).Delete(e.ctx, "k8srequiredlabels", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.eventually("the constraint CRD is deleted", func() bool {
		_, err := e.crds.ApiextensionsV1().CustomResourceDefinitions().Get(e.ctx, "k8srequiredlabels.constraints.gatekeeper.sh", metav1.GetOptions{})
		return err != nil
	})
}

func TestClusterData(t *testing.T) {
	pod := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "web", "namespace": "team-a"},
	}}
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, meta.RESTScopeNamespace)
	e := newEnv(t, controller.Options{SyncKinds: []schema.GroupVersionKind{{Version: "v1", Kind: "Pod"}}, Mapper: mapper}, pod)
	cluster := e.ctrl.Cluster()

	ns, err := cluster.Namespaces.Namespace(e.ctx, "team-a")
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := unstructured.NestedString(ns, "metadata", "labels", "team"); got != "a" || ns["kind"] != "Namespace" {
		t.Errorf("namespace %v", ns)
	}
	if _, err := cluster.Namespaces.Namespace(e.ctx, "missing"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("missing namespace: %v; want engine.ErrNotFound", err)
	}
	cm, err := cluster.ConfigMaps.ConfigMap(e.ctx, "team-a", "settings")
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := unstructured.NestedString(cm, "data", "registry"); got != "cgr.dev" {
		t.Errorf("configmap %v", cm)
	}
	if _, err := cluster.ConfigMaps.ConfigMap(e.ctx, "team-b", "settings"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("missing configmap: %v; want engine.ErrNotFound", err)
	}
	objs, err := cluster.Inventory.Inventory(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 || objs[0]["kind"] != "Pod" {
		t.Errorf("inventory %v", objs)
	}
	if _, err := cluster.Secrets.Secret(e.ctx, "team-a", "missing"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("missing secret: %v; want engine.ErrNotFound", err)
	}
}

func TestStatusPatchUsesSubresource(t *testing.T) {
	e := newEnv(t, controller.Options{}, clusterPolicy("a", 1, map[string]any{}))
	e.eventually("status", func() bool { return e.ready(policyGVR, "a") != nil })
	var sub []string
	for _, a := range e.dynamic.Actions() {
		if p, ok := a.(clienttesting.PatchAction); ok && p.GetResource() == policyGVR {
			sub = append(sub, p.GetSubresource())
			if p.GetPatchType() != types.MergePatchType {
				t.Errorf("patch type %s", p.GetPatchType())
			}
		}
	}
	if diff := cmp.Diff([]string{"status"}, sub); diff != "" {
		t.Errorf("status patches (-want +got):\n%s", diff)
	}
}

// fakeExternalData records the providers it is given.
type fakeExternalData struct {
	mu        sync.Mutex
	providers []string
}

func (f *fakeExternalData) SetProviders(objs []map[string]any) field.ErrorList {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.providers = nil
	for _, o := range objs {
		f.providers = append(f.providers, o["metadata"].(map[string]any)["name"].(string))
	}
	return nil
}

func (f *fakeExternalData) names() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.providers...)
}

func (f *fakeExternalData) ExternalData(context.Context, string, []string) (engine.ExternalDataResponse, error) {
	return engine.ExternalDataResponse{}, nil
}

func TestExternalDataProviders(t *testing.T) {
	providerGVR := schema.GroupVersionResource{Group: "externaldata.gatekeeper.sh", Version: "v1beta1", Resource: "providers"}
	provider := func(name string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "externaldata.gatekeeper.sh/v1beta1", "kind": "Provider",
			"metadata": map[string]any{"name": name}, "spec": map[string]any{"url": "https://ratify.example:6001/ratify"},
		}}
	}
	ed := &fakeExternalData{}
	e := newEnv(t, controller.Options{ExternalData: ed}, provider("ratify-provider"))
	all, err := crds.All()
	if err != nil {
		t.Fatal(err)
	}
	for _, crd := range all {
		if crd.Name == "providers.externaldata.gatekeeper.sh" {
			if _, err := e.crds.ApiextensionsV1().CustomResourceDefinitions().Create(e.ctx, crd, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	e.eventually("the provider is configured", func() bool { return cmp.Equal(ed.names(), []string{"ratify-provider"}) })
	if e.ctrl.Cluster().ExternalData == nil {
		t.Error("the cluster data has no external data provider")
	}
	if err := e.dynamic.Resource(providerGVR).Delete(e.ctx, "ratify-provider", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.eventually("the provider is removed", func() bool { return len(ed.names()) == 0 })
}
