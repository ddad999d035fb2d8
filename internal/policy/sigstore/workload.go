package sigstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/image"
)

// maxContainers bounds the images read from one object.
const maxContainers = 256

// workloadKind describes a kind policy-controller validates: where its pod
// spec is, and which of policy-controller's shapes its spec takes in the
// policy input (includeSpec).
type workloadKind struct {
	// podSpec is the path of the pod spec in the object.
	podSpec []string
	// shape is "pod", "scalable" (Deployment, ReplicaSet, StatefulSet),
	// "withpod" (DaemonSet, Job) or "cronjob".
	shape string
	// resource is the resource a policy's spec.match names the kind by,
	// with policy-controller's version.
	resource schema.GroupVersionResource
}

var (
	podPath     = []string{"spec"}
	templPath   = []string{"spec", "template", "spec"}
	cronJobPath = []string{"spec", "jobTemplate", "spec", "template", "spec"}
)

// workloadKinds are the kinds policy-controller's webhooks handle, by
// group and kind (CronJob in batch/v1 and v1beta1).
var workloadKinds = map[schema.GroupKind]workloadKind{
	{Group: "", Kind: "Pod"}:             {podPath, "pod", schema.GroupVersionResource{Version: "v1", Resource: "pods"}},
	{Group: "apps", Kind: "Deployment"}:  {templPath, "scalable", schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}},
	{Group: "apps", Kind: "ReplicaSet"}:  {templPath, "scalable", schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}},
	{Group: "apps", Kind: "StatefulSet"}: {templPath, "scalable", schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"}},
	{Group: "apps", Kind: "DaemonSet"}:   {templPath, "withpod", schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "daemonsets"}},
	{Group: "batch", Kind: "Job"}:        {templPath, "withpod", schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}},
	{Group: "batch", Kind: "CronJob"}:    {cronJobPath, "cronjob", schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "cronjobs"}},
}

// targets are the kinds, operations and subresources the dialect's
// policies may match.
var targets = []engine.Target{
	{Group: "", Version: "v1", Kind: "Pod", Operations: []engine.Operation{engine.Create, engine.Update}},
	{Group: "", Version: "v1", Kind: "Pod", Subresource: "ephemeralcontainers", Operations: []engine.Operation{engine.Create, engine.Update}},
	{Group: "apps", Version: "v1", Kind: "Deployment", Operations: []engine.Operation{engine.Create, engine.Update}},
	{Group: "apps", Version: "v1", Kind: "ReplicaSet", Operations: []engine.Operation{engine.Create, engine.Update}},
	{Group: "apps", Version: "v1", Kind: "StatefulSet", Operations: []engine.Operation{engine.Create, engine.Update}},
	{Group: "apps", Version: "v1", Kind: "DaemonSet", Operations: []engine.Operation{engine.Create, engine.Update}},
	{Group: "batch", Version: "v1", Kind: "Job", Operations: []engine.Operation{engine.Create, engine.Update}},
	{Group: "batch", Version: "v1", Kind: "CronJob", Operations: []engine.Operation{engine.Create, engine.Update}},
	{Group: "batch", Version: "v1beta1", Kind: "CronJob", Operations: []engine.Operation{engine.Create, engine.Update}},
}

// container is one image of a workload.
type container struct {
	// list is "initContainers", "containers" or "ephemeralContainers" and
	// index the position in it.
	list  string
	index int
	// path is the image's field path, e.g. "spec.containers[0].image".
	path string
	// image is the image as the object spells it.
	image string
	// parseErr is set when the image does not parse; the other fields
	// below are then empty.
	parseErr error
	// ref is the parsed image.
	ref image.Ref
	// digest is set when the image is a digest reference, or once its tag
	// has been resolved; resolveErr when resolving it failed.
	digest     string
	resolveErr error
	// name is the name policies match: the fully qualified digest
	// reference once the digest is known.
	name string
	// display is how messages name the image: as the object spells it when
	// it has a digest, else the fully qualified digest reference it
	// resolved to.
	display string
}

// workload is what the dialect reads from one request: computed once and
// shared between the dialect's policies through the request's Memo.
type workload struct {
	kind      workloadKind
	gvk       schema.GroupVersionKind
	namespace string
	labels    map[string]string
	// prefix is the field path of the pod spec, e.g. "spec.template.spec".
	prefix string
	pull   image.Pull
	// skip is set for requests policy-controller does not validate:
	// deletions in progress and scale-downs.
	skip bool
	// included reports whether the namespace is enforced; nsErr is set
	// when reading the namespace failed.
	included bool
	nsErr    error
	// containers are the images, init containers first, then containers,
	// then ephemeral containers, as policy-controller checks them.
	containers []*container
	// overflow is set when the object has more than maxContainers images.
	overflow int
	// object is the request's object.
	object map[string]any
	// input holds the policy input fields, computed on first use (policies
	// check images concurrently).
	inputOnce sync.Once
	spec      any
	metadata  any
	typeMeta  any
	inputErr  error
	// resolved is set once tags have been resolved (validating phase).
	resolved bool
}

const memoKey = "sigstore/workload"

// loadWorkload returns the request's workload, from the memo when another
// policy of the dialect computed it. It returns nil for requests of kinds
// the dialect does not handle.
func (d *Dialect) loadWorkload(ctx context.Context, req *engine.Request, cluster engine.Cluster) *workload {
	if w, ok := req.Memo[memoKey].(*workload); ok {
		return w
	}
	w := d.newWorkload(ctx, req, cluster)
	if req.Memo != nil {
		req.Memo[memoKey] = w
	}
	return w
}

func (d *Dialect) newWorkload(ctx context.Context, req *engine.Request, cluster engine.Cluster) *workload {
	obj := req.Object
	if obj == nil {
		return nil
	}
	gvk := req.Kind
	if gvk.Kind == "" {
		apiVersion, _ := obj["apiVersion"].(string)
		kind, _ := obj["kind"].(string)
		gvk = schema.FromAPIVersionAndKind(apiVersion, kind)
	}
	kind, ok := workloadKinds[gvk.GroupKind()]
	if !ok {
		return nil
	}
	md, _ := obj["metadata"].(map[string]any)
	w := &workload{kind: kind, gvk: gvk, object: obj, labels: stringMap(md["labels"])}
	w.namespace = req.Namespace
	if w.namespace == "" {
		w.namespace, _ = md["namespace"].(string)
	}
	if _, deleting := md["deletionTimestamp"]; deleting && md["deletionTimestamp"] != nil {
		w.skip = true
	}
	if req.Operation == engine.Update && kind.shape == "scalable" && scalingDown(req.OldObject, obj) {
		w.skip = true
	}
	if req.Operation == engine.Delete || req.SubResource == "status" {
		w.skip = true
	}
	w.included, w.nsErr = d.included(ctx, req, cluster, w.namespace)

	for i, p := range kind.podSpec {
		if i > 0 {
			w.prefix += "."
		}
		w.prefix += p
	}
	podSpec := nested(obj, kind.podSpec)
	w.pull = image.Pull{Namespace: w.namespace}
	w.pull.ServiceAccount, _ = podSpec["serviceAccountName"].(string)
	if secrets, ok := podSpec["imagePullSecrets"].([]any); ok {
		for _, s := range secrets {
			if m, ok := s.(map[string]any); ok {
				if n, _ := m["name"].(string); n != "" {
					w.pull.Secrets = append(w.pull.Secrets, n)
				}
			}
		}
	}
	for _, list := range []string{"initContainers", "containers", "ephemeralContainers"} {
		items, _ := podSpec[list].([]any)
		for i, item := range items {
			c, _ := item.(map[string]any)
			img, _ := c["image"].(string)
			if len(w.containers) >= maxContainers {
				w.overflow++
				continue
			}
			w.containers = append(w.containers, newContainer(w.prefix, list, i, img))
		}
	}
	return w
}

// newContainer parses one image.
func newContainer(prefix, list string, index int, img string) *container {
	c := &container{list: list, index: index, image: img,
		path: prefix + "." + list + "[" + strconv.Itoa(index) + "].image"}
	nref, err := name.ParseReference(img)
	if err != nil {
		c.parseErr = err
		return c
	}
	ref, err := image.Parse(img)
	if err != nil {
		c.parseErr = err
		return c
	}
	c.ref = ref
	if d, ok := nref.(name.Digest); ok {
		c.digest = d.DigestStr()
		c.name = d.Name()
		c.display = img
	}
	return c
}

// setDigest records the digest a tag resolved to.
func (c *container) setDigest(digest string) {
	c.digest = digest
	c.ref = c.ref.ByDigest(digest)
	c.name = c.ref.String()
	c.display = c.name
}

// scalingDown reports whether an update lowers spec.replicas, which
// policy-controller lets through whatever the images.
func scalingDown(oldObj, obj map[string]any) bool {
	o, ok1 := number(nested(oldObj, []string{"spec"})["replicas"])
	n, ok2 := number(nested(obj, []string{"spec"})["replicas"])
	return ok1 && ok2 && n < o
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case float64:
		return n, true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// included reports whether policies are enforced in the namespace: with
// WithIncludeAll always, else when the namespace carries
// policy.sigstore.dev/include=true. The namespace is read from the
// cluster, falling back to the request's namespace object.
func (d *Dialect) included(ctx context.Context, req *engine.Request, cluster engine.Cluster, namespace string) (bool, error) {
	if d.includeAll {
		return true, nil
	}
	if namespace == "" {
		return false, nil
	}
	var ns map[string]any
	if cluster.Namespaces != nil {
		obj, err := cluster.Namespaces.Namespace(ctx, namespace)
		switch {
		case err == nil:
			ns = obj
		case errors.Is(err, engine.ErrNotFound):
		default:
			return false, fmt.Errorf("failed to read namespace %s: %w", namespace, err)
		}
	}
	if ns == nil {
		ns = req.NamespaceObject
	}
	md, _ := ns["metadata"].(map[string]any)
	labels, _ := md["labels"].(map[string]any)
	v, _ := labels[IncludeLabel].(string)
	return v == "true", nil
}

// nested returns the object at path, or nil.
func nested(obj map[string]any, path []string) map[string]any {
	cur := obj
	for _, p := range path {
		next, ok := cur[p].(map[string]any)
		if !ok {
			return nil
		}
		cur = next
	}
	return cur
}

func stringMap(v any) map[string]string {
	m, _ := v.(map[string]any)
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, e := range m {
		if s, ok := e.(string); ok {
			out[k] = s
		}
	}
	return out
}

// policyInput computes the parts of the policy input that describe the
// resource, in the shapes policy-controller's duck types give them: spec
// (the pod spec for Pods, {replicas, selector, template} for Deployments,
// ReplicaSets and StatefulSets, {template} for DaemonSets and Jobs, the
// whole spec for CronJobs), metadata (the object's metadata) and typemeta
// (apiVersion and kind; none for Pods, as policy-controller sets none).
func (w *workload) policyInput() (spec, metadata, typeMeta any, err error) {
	w.inputOnce.Do(func() {
		w.spec, w.metadata, w.typeMeta, w.inputErr = w.computeInput()
	})
	return w.spec, w.metadata, w.typeMeta, w.inputErr
}

func (w *workload) computeInput() (spec, metadata, typeMeta any, err error) {
	var typed struct {
		metav1.TypeMeta   `json:",inline"`
		metav1.ObjectMeta `json:"metadata"`
		Spec              json.RawMessage `json:"spec"`
	}
	raw, err := json.Marshal(w.object)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := json.Unmarshal(raw, &typed); err != nil {
		return nil, nil, nil, fmt.Errorf("failed to decode the %s: %w", w.gvk.Kind, err)
	}
	var specValue any
	switch w.kind.shape {
	case "pod":
		specValue = &corev1.PodSpec{}
	case "scalable":
		specValue = &struct {
			Replicas *int32                 `json:"replicas,omitempty"`
			Selector *metav1.LabelSelector  `json:"selector"`
			Template corev1.PodTemplateSpec `json:"template"`
		}{}
	case "withpod":
		specValue = &struct {
			Template corev1.PodTemplateSpec `json:"template,omitempty"`
		}{}
	case "cronjob":
		specValue = &batchv1.CronJobSpec{}
	}
	if len(typed.Spec) > 0 {
		if err := json.Unmarshal(typed.Spec, specValue); err != nil {
			return nil, nil, nil, fmt.Errorf("failed to decode the %s's spec: %w", w.gvk.Kind, err)
		}
	}
	spec, err = roundTrip(specValue)
	if err != nil {
		return nil, nil, nil, err
	}
	metadata, err = roundTrip(typed.ObjectMeta)
	if err != nil {
		return nil, nil, nil, err
	}
	if w.kind.shape != "pod" {
		typeMeta, err = roundTrip(typed.TypeMeta)
		if err != nil {
			return nil, nil, nil, err
		}
	}
	return spec, metadata, typeMeta, nil
}

// roundTrip returns the JSON value of v.
func roundTrip(v any) (any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	return out, nil
}
