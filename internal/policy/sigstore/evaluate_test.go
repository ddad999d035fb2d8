package sigstore_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/image/imagetest"
	"github.com/portcullis-dev/portcullis/internal/policy/sigstore"
)

// staticPolicies denies ghcr.io/blocked/** (one in enforce mode, one in
// warn mode for ghcr.io/noisy/**) and passes everything else.
const staticPolicies = `
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: block
spec:
  images: [{glob: "ghcr.io/blocked/**"}]
  authorities: [{static: {action: fail}}]
---
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: retire-apps
spec:
  images: [{glob: "ghcr.io/blocked/app*"}]
  authorities: [{name: retired, static: {action: fail, message: "app images are retired"}}]
---
apiVersion: policy.sigstore.dev/v1alpha1
kind: ClusterImagePolicy
metadata:
  name: noisy
spec:
  mode: warn
  images: [{glob: "ghcr.io/noisy/*"}]
  authorities: [{static: {action: fail}}]
---
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: allow-ghcr
spec:
  images: [{glob: "ghcr.io/**"}]
  authorities: [{static: {action: pass}}]
`

func digestOf(c byte) string { return "sha256:" + strings.Repeat(string(c), 64) }

// TestStatic covers static authorities, warn mode, several failing
// policies and several containers: the denial lists one entry per policy
// and image, containers with the same image merged, sorted as
// policy-controller sorts its errors.
func TestStatic(t *testing.T) {
	e := newEnv(t)
	set := compile(t, staticPolicies)
	blocked := "ghcr.io/blocked/app@" + digestOf('a')
	blockedLib := "ghcr.io/blocked/lib@" + digestOf('b')
	noisy := "ghcr.io/noisy/tool@" + digestOf('c')
	fine := "ghcr.io/fine/app@" + digestOf('d')
	tests := []struct {
		name   string
		object map[string]any
		want   verdict
		// failures are the results behind the verdict: which policy
		// failed, at which container paths, with which message.
		failures []failure
	}{
		{
			name:   "passes",
			object: pod(fine),
		},
		{
			name:     "one failing policy",
			object:   pod(blockedLib),
			want:     verdict{Denial: "validation failed: " + blockedLib + " disallowed by static policy"},
			failures: []failure{{"block", "spec.containers[0].image", blockedLib + " disallowed by static policy"}},
		},
		{
			name:   "two failing policies, custom message",
			object: pod(blocked),
			want: verdict{Denial: "validation failed: " + blocked + " disallowed by static policy\n" +
				blocked + " disallowed by static policy: app images are retired"},
			failures: []failure{
				{"block", "spec.containers[0].image", blocked + " disallowed by static policy"},
				{"retire-apps", "spec.containers[0].image", blocked + " disallowed by static policy: app images are retired"},
			},
		},
		{
			name:     "warn mode",
			object:   pod(noisy, fine),
			want:     verdict{Warnings: []string{noisy + " disallowed by static policy"}},
			failures: []failure{{"noisy", "spec.containers[0].image", noisy + " disallowed by static policy"}},
		},
		{
			name:   "several containers, same image merged",
			object: withInit(pod(fine, blockedLib, noisy, blockedLib), blockedLib),
			want: verdict{
				Denial:   "validation failed: " + blockedLib + " disallowed by static policy",
				Warnings: []string{noisy + " disallowed by static policy"},
			},
			failures: []failure{
				{"block", "spec.containers[1].image, spec.containers[3].image, spec.initContainers[0].image", blockedLib + " disallowed by static policy"},
				{"noisy", "spec.containers[2].image", noisy + " disallowed by static policy"},
			},
		},
		{
			name:     "deployment",
			object:   deployment(blockedLib),
			want:     verdict{Denial: "validation failed: " + blockedLib + " disallowed by static policy"},
			failures: []failure{{"block", "spec.template.spec.containers[0].image", blockedLib + " disallowed by static policy"}},
		},
		{
			name:     "cronjob",
			object:   cronJob(blockedLib),
			want:     verdict{Denial: "validation failed: " + blockedLib + " disallowed by static policy"},
			failures: []failure{{"block", "spec.jobTemplate.spec.template.spec.containers[0].image", blockedLib + " disallowed by static policy"}},
		},
		{
			name:   "unparsable image",
			object: pod("ghcr.io/Bad Name"),
			want:   verdict{Denial: "validation failed: could not parse reference: ghcr.io/Bad Name: spec.containers[0].image"},
			failures: []failure{{sigstore.ControllerPolicyName, "image-reference",
				"could not parse reference: ghcr.io/Bad Name: spec.containers[0].image"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, res := evaluate(t, set, request(tc.object), e.cluster())
			assertFailures(t, res)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("verdict (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.failures, failures(res)); diff != "" {
				t.Errorf("failures (-want +got):\n%s", diff)
			}
		})
	}
}

// TestIdenticalMessages documents where the seeds' message shape (a
// failing policy's message is only "IMAGE@DIGEST REASONS") loses what told
// entries apart: the policy's name and the container paths are left to the
// results' Policy and Rule, so kubectl prints the same line once per
// entry. The controller's own errors (unresolved tags) keep their paths.
func TestIdenticalMessages(t *testing.T) {
	e := newEnv(t)
	blocked := "ghcr.io/blocked/lib@" + digestOf('b')
	line := blocked + " disallowed by static policy"

	t.Run("two policies, same reasons", func(t *testing.T) {
		// policy-controller prints "failed policy: block: ..." and
		// "failed policy: block-too: ..." headers; the denial here repeats
		// the line without saying which policy each is.
		set := compile(t, staticPolicies+`---
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: block-too
spec:
  images: [{glob: "ghcr.io/blocked/**"}]
  authorities: [{static: {action: fail}}]
`)
		got, res := evaluate(t, set, request(pod(blocked)), e.cluster())
		assertFailures(t, res)
		if diff := cmp.Diff(verdict{Denial: "validation failed: " + line + "\n" + line}, got); diff != "" {
			t.Errorf("verdict (-want +got):\n%s", diff)
		}
		want := []failure{
			{"block", "spec.containers[0].image", line},
			{"block-too", "spec.containers[0].image", line},
		}
		if diff := cmp.Diff(want, failures(res)); diff != "" {
			t.Errorf("failures (-want +got):\n%s", diff)
		}
	})

	t.Run("unresolved tags, no registry", func(t *testing.T) {
		// policy-controller says "invalid value: IMAGE must be an image
		// digest: PATH"; the controller's own errors keep that line and add
		// why the tag did not resolve.
		set := compile(t, staticPolicies)
		req := request(pod("ghcr.io/team/app:v1", "ghcr.io/team/lib:v2"))
		req.Phase = engine.PhaseValidate
		got, res := evaluate(t, set, req, engine.Cluster{})
		const msg = "failed to resolve the tag to a digest: no image registry is configured"
		want0 := "validation failed: invalid value: ghcr.io/team/app:v1 must be an image digest: spec.containers[0].image\n" + msg +
			"\ninvalid value: ghcr.io/team/lib:v2 must be an image digest: spec.containers[1].image\n" + msg
		if diff := cmp.Diff(verdict{Denial: want0}, got); diff != "" {
			t.Errorf("verdict (-want +got):\n%s", diff)
		}
		want := []string{
			sigstore.ControllerPolicyName + " image-reference ghcr.io/team/app:v1",
			sigstore.ControllerPolicyName + " image-reference ghcr.io/team/lib:v2",
		}
		if diff := cmp.Diff(want, failedImages(res)); diff != "" {
			t.Errorf("failing results (-want +got):\n%s", diff)
		}
	})
}

func withInit(p map[string]any, images ...string) map[string]any {
	spec := p["spec"].(map[string]any)
	var inits []any
	for _, img := range images {
		inits = append(inits, map[string]any{"name": "init", "image": img})
	}
	spec["initContainers"] = inits
	return p
}

func deployment(images ...string) map[string]any {
	p := pod(images...)
	return map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "d", "namespace": "default"},
		"spec": map[string]any{
			"replicas": int64(3),
			"selector": map[string]any{"matchLabels": map[string]any{"app": "a"}},
			"template": map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": "a"}}, "spec": p["spec"]},
		},
	}
}

func cronJob(images ...string) map[string]any {
	p := pod(images...)
	return map[string]any{
		"apiVersion": "batch/v1", "kind": "CronJob",
		"metadata": map[string]any{"name": "c", "namespace": "default"},
		"spec": map[string]any{
			"schedule":    "* * * * *",
			"jobTemplate": map[string]any{"spec": map[string]any{"template": map[string]any{"spec": p["spec"]}}},
		},
	}
}

// TestScope covers what is not enforced: namespaces without the include
// label (unless WithIncludeAll), kinds policy-controller does not
// validate, deletions and scale-downs.
func TestScope(t *testing.T) {
	e := newEnv(t)
	blocked := "ghcr.io/blocked/lib@" + digestOf('b')
	deny := verdict{Denial: "validation failed: " + blocked + " disallowed by static policy"}
	unlabelled := map[string]any{"metadata": map[string]any{"name": "default"}}
	tests := []struct {
		name       string
		opts       []sigstore.Option
		namespaces engine.NamespaceGetter
		req        func() engine.Request
		want       verdict
		// where is the failing policy and its rule (the container path)
		// when denied; "block spec.containers[0].image" unless set.
		where string
	}{
		{name: "labelled namespace", req: func() engine.Request { return request(pod(blocked)) }, want: deny},
		{name: "unlabelled namespace", req: func() engine.Request {
			r := request(pod(blocked))
			r.NamespaceObject = unlabelled
			return r
		}},
		{name: "unlabelled namespace, include all", opts: []sigstore.Option{sigstore.WithIncludeAll()}, req: func() engine.Request {
			r := request(pod(blocked))
			r.NamespaceObject = unlabelled
			return r
		}, want: deny},
		{name: "labelled namespace from the cluster", namespaces: namespaces{"default": labelled}, req: func() engine.Request {
			r := request(pod(blocked))
			r.NamespaceObject = unlabelled
			return r
		}, want: deny},
		{name: "unlabelled namespace from the cluster", namespaces: namespaces{"default": unlabelled}, req: func() engine.Request {
			return request(pod(blocked))
		}},
		{name: "other kind", req: func() engine.Request {
			r := request(pod(blocked))
			r.Object["kind"] = "ConfigMap"
			r.Kind.Kind = "ConfigMap"
			return r
		}},
		{name: "deleting", req: func() engine.Request {
			r := request(pod(blocked))
			r.Object["metadata"].(map[string]any)["deletionTimestamp"] = "2026-01-01T00:00:00Z"
			return r
		}},
		{name: "scale down", req: func() engine.Request {
			r := request(deployment(blocked))
			r.Operation = engine.Update
			r.OldObject = deployment(blocked)
			r.Object["spec"].(map[string]any)["replicas"] = int64(1)
			return r
		}},
		{name: "scale up", req: func() engine.Request {
			r := request(deployment(blocked))
			r.Operation = engine.Update
			r.OldObject = deployment(blocked)
			r.Object["spec"].(map[string]any)["replicas"] = int64(5)
			return r
		}, want: verdict{Denial: "validation failed: " + blocked + " disallowed by static policy"}, where: "block spec.template.spec.containers[0].image"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := compile(t, staticPolicies, tc.opts...)
			cluster := e.cluster()
			cluster.Namespaces = tc.namespaces
			got, res := evaluate(t, set, tc.req(), cluster)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("verdict (-want +got):\n%s", diff)
			}
			var wantWhere []string
			if tc.want.Denial != "" {
				w := tc.where
				if w == "" {
					w = "block spec.containers[0].image"
				}
				wantWhere = []string{w}
			}
			if diff := cmp.Diff(wantWhere, where(res)); diff != "" {
				t.Errorf("failing policies and paths (-want +got):\n%s", diff)
			}
		})
	}
}

// namespaces is a NamespaceGetter over fixed objects.
type namespaces map[string]map[string]any

func (n namespaces) Namespace(_ context.Context, name string) (map[string]any, error) {
	if ns, ok := n[name]; ok {
		return ns, nil
	}
	return nil, engine.ErrNotFound
}

// TestMutate checks the defaulting phase: tags become digests in a copy of
// the object, digests are left alone, and a second pass changes nothing.
func TestMutate(t *testing.T) {
	e := newEnv(t)
	d := e.push(t, "team/app", "v1", now)
	set := compile(t, staticPass)
	obj := pod("ghcr.io/team/app:v1", "ghcr.io/team/app@"+d)
	req := request(obj)
	req.Phase = engine.PhaseMutate
	res := set.Evaluate(context.Background(), req, e.cluster())
	if res.Object == nil {
		t.Fatal("no mutation")
	}
	images := func(o map[string]any) []string {
		var out []string
		for _, c := range o["spec"].(map[string]any)["containers"].([]any) {
			out = append(out, c.(map[string]any)["image"].(string))
		}
		return out
	}
	want := []string{"ghcr.io/team/app@" + d, "ghcr.io/team/app@" + d}
	if diff := cmp.Diff(want, images(res.Object)); diff != "" {
		t.Errorf("mutated images (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"ghcr.io/team/app:v1", "ghcr.io/team/app@" + d}, images(obj)); diff != "" {
		t.Errorf("the request's object was modified (-want +got):\n%s", diff)
	}
	patch, err := res.Patch()
	if err != nil {
		t.Fatal(err)
	}
	wantPatch := []engine.PatchOperation{{Op: "replace", Path: "/spec/containers/0/image", Value: "ghcr.io/team/app@" + d}}
	if diff := cmp.Diff(wantPatch, patch); diff != "" {
		t.Errorf("patch (-want +got):\n%s", diff)
	}
	again := request(res.Object)
	again.Phase = engine.PhaseMutate
	if res2 := set.Evaluate(context.Background(), again, e.cluster()); res2.Object != nil {
		t.Errorf("a second pass changed the object again")
	}

	// Docker Hub names are written out in full, as policy-controller does.
	e.push(t, "library/busybox", "latest", now)
	req = request(pod("busybox"))
	req.Phase = engine.PhaseMutate
	res = set.Evaluate(context.Background(), req, e.cluster())
	if got := images(res.Object); len(got) != 1 || !strings.HasPrefix(got[0], "index.docker.io/library/busybox@sha256:") {
		t.Errorf("busybox resolved to %v", got)
	}
}

// TestRegistryErrors checks that a registry that fails makes an error
// verdict that says so (the webhook's failure policy decides), not a
// policy failure.
func TestRegistryErrors(t *testing.T) {
	failing := newEnv(t, imagetest.WithHandler(func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		})
	}))
	set := compile(t, seed(t, "sigstore-maximum-image-age-rego.yaml"), sigstore.WithClock(func() time.Time { return now }))
	tests := []struct {
		name  string
		image string
		// start is the start of the message of the single error result.
		start string
		// where is its policy, rule and "image" property.
		where string
	}{
		{
			name:  "tag",
			image: "ghcr.io/team/app:v1",
			start: "invalid value: ghcr.io/team/app:v1 must be an image digest: spec.containers[0].image\nfailed to resolve the tag to a digest: ",
			where: sigstore.ControllerPolicyName + " image-reference ghcr.io/team/app:v1",
		},
		{
			name:  "config file",
			image: "ghcr.io/team/app@" + digestOf('e'),
			start: "ghcr.io/team/app@" + digestOf('e') + " failed to get ref ghcr.io/team/app@" + digestOf('e') + " : ",
			where: "maximum-image-age-rego spec.containers[0].image ghcr.io/team/app@" + digestOf('e'),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := request(pod(tc.image))
			req.Phase = engine.PhaseValidate
			_, res := evaluate(t, set, req, failing.cluster())
			var errs []engine.RuleResult
			for _, r := range res.Rules {
				if r.Verdict != engine.Pass {
					errs = append(errs, r)
				}
			}
			if len(errs) != 1 {
				t.Fatalf("results = %+v, want one error", res.Rules)
			}
			r := errs[0]
			if diff := cmp.Diff([]string{tc.where}, failedImages(res)); diff != "" {
				t.Errorf("failing results (-want +got):\n%s", diff)
			}
			if r.Verdict != engine.Error || r.Action != engine.ActionDeny {
				t.Errorf("verdict %s, action %s: want error, deny", r.Verdict, r.Action)
			}
			if !strings.HasPrefix(r.Message, tc.start) || !strings.Contains(r.Message, "503") && !strings.Contains(r.Message, "Service Unavailable") && !strings.Contains(r.Message, "unavailable") {
				t.Errorf("message = %q, want it to start with %q and name the registry's answer", r.Message, tc.start)
			}
		})
	}
}

// TestMatchResources checks spec.match: a policy applies only to the
// resources (and labels) it names.
func TestMatchResources(t *testing.T) {
	e := newEnv(t)
	set := compile(t, staticPass+`---
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: prod-deployments
spec:
  images: [{glob: "**"}]
  authorities: [{static: {action: fail}}]
  match:
  - {group: apps, version: v1, resource: deployments, selector: {matchLabels: {tier: prod}}}
  - {version: "*", resource: pods, selector: {matchExpressions: [{key: tier, operator: In, values: [prod]}]}}
`)
	img := "ghcr.io/team/app@" + digestOf('a')
	labelled := func(obj map[string]any) map[string]any {
		obj["metadata"].(map[string]any)["labels"] = map[string]any{"tier": "prod"}
		return obj
	}
	tests := []struct {
		name   string
		object map[string]any
		want   string
		// where is the failing policy and its rule (the container path).
		where []string
	}{
		{name: "prod deployment", object: labelled(deployment(img)),
			want:  "validation failed: " + img + " disallowed by static policy",
			where: []string{"prod-deployments spec.template.spec.containers[0].image"}},
		{name: "other deployment", object: deployment(img)},
		{name: "prod pod", object: labelled(pod(img)),
			want:  "validation failed: " + img + " disallowed by static policy",
			where: []string{"prod-deployments spec.containers[0].image"}},
		{name: "other pod", object: pod(img)},
		{name: "prod cronjob", object: labelled(cronJob(img))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, res := evaluate(t, set, request(tc.object), e.cluster())
			if diff := cmp.Diff(verdict{Denial: tc.want}, got); diff != "" {
				t.Errorf("verdict (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.where, where(res)); diff != "" {
				t.Errorf("failing policies and paths (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSlowRegistry checks that a registry slower than the request's
// deadline makes an error verdict that says the deadline passed.
func TestSlowRegistry(t *testing.T) {
	slow := newEnv(t, imagetest.WithHandler(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(time.Second):
			case <-r.Context().Done():
				return
			}
			next.ServeHTTP(w, r)
		})
	}))
	set := compile(t, staticPass)
	req := request(pod("ghcr.io/team/app:v1"))
	req.Phase = engine.PhaseValidate
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	res := set.Evaluate(ctx, req, slow.cluster())
	denied := res.Denied()
	if len(denied) != 1 || denied[0].Verdict != engine.Error || !strings.Contains(denied[0].Message, "deadline exceeded") {
		t.Fatalf("denied = %+v, want one error saying the deadline passed", denied)
	}
}
