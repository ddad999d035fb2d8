package ratify

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/image/imagetest"
	"github.com/portcullis-dev/portcullis/internal/image/registry"
	"github.com/portcullis-dev/portcullis/internal/workload"
)

// newClient returns a registry client that reaches reg over plain HTTP and
// reads Docker Hub from it.
func newClient(t *testing.T, reg *imagetest.Registry) *registry.Client {
	t.Helper()
	c, err := registry.New(registry.Options{
		Insecure:  []string{reg.Host()},
		Mirrors:   map[string]string{"docker.io": reg.Host()},
		Transport: reg.Transport(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func object(t *testing.T, y string) map[string]any {
	t.Helper()
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(y), &obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

func mutationOf(t *testing.T) *mutation {
	t.Helper()
	d, _ := newDialect(t)
	policies, errs := d.Compile(seedDocs(t, "ratify-policy.yaml"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return policies[len(policies)-1].(*mutation)
}

func TestMutation(t *testing.T) {
	reg := imagetest.NewRegistry(t)
	nginx := reg.PushRandom(t, "library/nginx", "latest")
	app := reg.PushRandom(t, "team/app", "v1")
	sidecar := reg.PushRandom(t, "team/sidecar", "v2")
	host := reg.Host()
	m := mutationOf(t)
	cluster := engine.Cluster{Registry: newClient(t, reg)}

	tests := []struct {
		name   string
		kind   schema.GroupVersionKind
		object string
		// want maps a path ("containers/0") to the image expected there;
		// nil means the object is left alone.
		want   map[string]string
		errors []string
	}{{
		name: "pod: tags pinned, digests left alone",
		kind: schema.GroupVersionKind{Version: "v1", Kind: "Pod"},
		object: `apiVersion: v1
kind: Pod
metadata: {name: p, namespace: default}
spec:
  initContainers: [{name: init, image: "` + host + `/team/sidecar:v2"}]
  containers:
  - {name: web, image: "nginx"}
  - {name: app, image: "` + host + `/team/app@` + app.Digest + `"}
  ephemeralContainers: [{name: debug, image: "` + host + `/team/app:v1"}]`,
		want: map[string]string{
			"initContainers/0":      host + "/team/sidecar@" + sidecar.Digest,
			"containers/0":          "docker.io/library/nginx@" + nginx.Digest,
			"containers/1":          host + "/team/app@" + app.Digest,
			"ephemeralContainers/0": host + "/team/app@" + app.Digest,
		},
	}, {
		name: "deployment (the seed's nginx:latest)",
		kind: schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"},
		object: `apiVersion: apps/v1
kind: Deployment
metadata: {name: nginx-unsigned, namespace: default}
spec:
  template:
    spec:
      containers: [{name: nginx, image: "nginx:latest"}]`,
		want: map[string]string{"containers/0": "docker.io/library/nginx@" + nginx.Digest},
	}, {
		name: "cronjob",
		kind: schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "CronJob"},
		object: `apiVersion: batch/v1
kind: CronJob
metadata: {name: c, namespace: default}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers: [{name: c, image: "docker.io/library/nginx:latest"}]`,
		want: map[string]string{"containers/0": "docker.io/library/nginx@" + nginx.Digest},
	}, {
		name: "already pinned",
		kind: schema.GroupVersionKind{Version: "v1", Kind: "Pod"},
		object: `apiVersion: v1
kind: Pod
metadata: {name: p, namespace: default}
spec:
  containers: [{name: app, image: "` + host + `/team/app:v1@` + app.Digest + `"}]`,
	}, {
		name: "unknown tag and bad reference",
		kind: schema.GroupVersionKind{Version: "v1", Kind: "Pod"},
		object: `apiVersion: v1
kind: Pod
metadata: {name: p, namespace: default}
spec:
  containers:
  - {name: a, image: "` + host + `/team/app:nope"}
  - {name: b, image: "UPPER/case"}`,
		errors: []string{
			"failed to mutate image reference " + host + "/team/app:nope: ",
			"failed to mutate image reference UPPER/case: failed to parse subject reference: ",
		},
	}, {
		name:   "other kinds are left alone",
		kind:   schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"},
		object: `{apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: {image: nginx}}`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := object(t, tt.object)
			before := object(t, tt.object)
			req := &engine.Request{Kind: tt.kind, Namespace: "default", Operation: engine.Create, Phase: engine.PhaseMutate, Object: obj}
			out := m.Evaluate(context.Background(), req, cluster)
			if diff := cmp.Diff(before, obj); diff != "" {
				t.Errorf("the request's object was modified (-before +after):\n%s", diff)
			}
			var gotErrs []string
			for _, r := range out.Rules {
				if r.Verdict != engine.Error || r.Action != engine.ActionDeny || r.Rule != MutationRule {
					t.Errorf("unexpected result %+v", r)
				}
				gotErrs = append(gotErrs, r.Message)
			}
			if len(gotErrs) != len(tt.errors) {
				t.Fatalf("errors %q, want %d", gotErrs, len(tt.errors))
			}
			for i, prefix := range tt.errors {
				if !strings.HasPrefix(gotErrs[i], prefix) {
					t.Errorf("error %q does not start with %q", gotErrs[i], prefix)
				}
			}
			if tt.want == nil {
				if out.Object != nil {
					t.Errorf("object changed: %v", out.Object)
				}
				return
			}
			if out.Object == nil {
				t.Fatal("object not mutated")
			}
			spec := podSpec(out.Object)
			got := map[string]string{}
			for path := range tt.want {
				field, idx, _ := strings.Cut(path, "/")
				i := int(idx[0] - '0')
				got[path] = spec[field].([]any)[i].(map[string]any)["image"].(string)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("images (-want +got):\n%s", diff)
			}
			// Idempotent: the mutated object is left alone.
			again := *req
			again.Object = out.Object
			if out2 := m.Evaluate(context.Background(), &again, cluster); out2.Object != nil || len(out2.Rules) != 0 {
				t.Errorf("second mutation changed %v (%v)", out2.Object, out2.Rules)
			}
		})
	}
}

func podSpec(obj map[string]any) map[string]any {
	return workload.PodSpec(obj)
}

func TestMutationPhasesAndRegistry(t *testing.T) {
	m := mutationOf(t)
	pod := map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "p"},
		"spec": map[string]any{"containers": []any{map[string]any{"name": "c", "image": "nginx"}}}}
	req := &engine.Request{Kind: schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, Phase: engine.PhaseValidate, Object: pod}
	if out := m.Evaluate(context.Background(), req, engine.Cluster{}); out.Object != nil || len(out.Rules) != 0 {
		t.Errorf("validate phase: %+v", out)
	}
	req.Phase = engine.PhaseMutate
	out := m.Evaluate(context.Background(), req, engine.Cluster{})
	if len(out.Rules) != 1 || !strings.Contains(out.Rules[0].Message, "no image registry client is configured") {
		t.Errorf("without a registry: %+v", out.Rules)
	}
	var targets []string
	for _, tg := range m.Targets() {
		targets = append(targets, tg.Kind)
	}
	want := []string{"Pod", "ReplicationController", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"}
	if diff := cmp.Diff(want, targets); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}
}
