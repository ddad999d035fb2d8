package gatekeeper_test

import (
	"context"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/policy/gatekeeper"
)

// echoTemplate reports its whole input.review (or another part of the
// input) as the message.
func echoTemplate(kind, expr string) string {
	return templateYAML(kind, `package echo
violation[{"msg": msg}] {
  msg := sprintf("%v", [`+expr+`])
}
`) + `---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: ` + kind + `
metadata: {name: echo}
`
}

// TestReview checks input.review: Gatekeeper's AdmissionRequest, with the
// old object as object on DELETE.
func TestReview(t *testing.T) {
	set := mustCompile(t, echoTemplate("K8sEcho", "input.review"))
	cm := map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "c", "namespace": "ns"}}
	for _, tc := range []struct {
		name string
		req  engine.Request
		want string
	}{{
		name: "admission create",
		req: engine.Request{
			UID:       "u-1",
			Kind:      schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"},
			Resource:  schema.GroupVersionResource{Version: "v1", Resource: "configmaps"},
			Name:      "c",
			Namespace: "ns",
			Operation: engine.Create,
			UserInfo:  authenticationv1.UserInfo{Username: "alice", Groups: []string{"dev"}},
			Object:    cm,
		},
		want: `{"dryRun": false, "kind": {"group": "", "kind": "ConfigMap", "version": "v1"}, "name": "c", "namespace": "ns", "object": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "ns"}}, "oldObject": null, "operation": "CREATE", "options": null, "resource": {"group": "", "resource": "configmaps", "version": "v1"}, "uid": "u-1", "userInfo": {"groups": ["dev"], "username": "alice"}}`,
	}, {
		name: "delete reviews the old object",
		req: engine.Request{
			Kind:      schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"},
			Name:      "c",
			Namespace: "ns",
			Operation: engine.Delete,
			OldObject: cm,
			DryRun:    true,
		},
		want: `{"dryRun": true, "kind": {"group": "", "kind": "ConfigMap", "version": "v1"}, "name": "c", "namespace": "ns", "object": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "ns"}}, "oldObject": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "ns"}}, "operation": "DELETE", "options": null, "resource": {"group": "", "resource": "", "version": ""}, "uid": "", "userInfo": {}}`,
	}, {
		name: "an object alone, as gator reviews it",
		req: engine.Request{
			Kind:   schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"},
			Name:   "c",
			Object: cm,
		},
		want: `{"kind": {"group": "", "kind": "ConfigMap", "version": "v1"}, "name": "c", "object": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "ns"}}, "oldObject": null, "operation": "", "options": null, "resource": {"group": "", "resource": "", "version": ""}, "uid": "", "userInfo": {}}`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Phase = engine.PhaseValidate
			want := []result{{"K8sEcho/echo", engine.Fail, engine.ActionDeny, tc.want}}
			if diff := cmp.Diff(want, evaluate(set, tc.req, engine.Cluster{})); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParameters checks input.parameters: the constraint's parameters, or
// an empty object.
func TestParameters(t *testing.T) {
	set := mustCompile(t, echoTemplate("K8sEcho", "input.parameters")+`---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sEcho
metadata: {name: with-params}
spec:
  parameters: {labels: [a, b], max: 3, ratio: 0.5}
`)
	pod := object(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}")
	want := []result{
		{"K8sEcho/echo", engine.Fail, engine.ActionDeny, "{}"},
		{"K8sEcho/with-params", engine.Fail, engine.ActionDeny, `{"labels": ["a", "b"], "max": 3, "ratio": 0.5}`},
	}
	if diff := cmp.Diff(want, evaluate(set, admission(pod, engine.Create), engine.Cluster{})); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}

type inventory []map[string]any

func (i inventory) Inventory(context.Context) ([]map[string]any, error) { return i, nil }

// TestInventory checks the layout of data.inventory.
func TestInventory(t *testing.T) {
	set := mustCompile(t, echoTemplate("K8sEcho", "data.inventory"))
	inv := inventory{
		{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "prod"}},
		{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": map[string]any{"name": "web", "namespace": "prod"}},
		{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": "web", "namespace": "prod"}},
	}
	pod := object(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}")
	want := []result{{"K8sEcho/echo", engine.Fail, engine.ActionDeny,
		`{"cluster": {"v1": {"Namespace": {"prod": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}}}}}, ` +
			`"namespace": {"prod": {"networking.k8s.io/v1": {"Ingress": {"web": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "web", "namespace": "prod"}}}}, ` +
			`"v1": {"Service": {"web": {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "prod"}}}}}}}`}}
	if diff := cmp.Diff(want, evaluate(set, admission(pod, engine.Create), engine.Cluster{Inventory: inv})); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	// Without an inventory, data.inventory is undefined.
	want = []result{{"K8sEcho/echo", engine.Pass, "", ""}}
	if diff := cmp.Diff(want, evaluate(set, admission(pod, engine.Create), engine.Cluster{})); diff != "" {
		t.Errorf("without inventory (-want +got):\n%s", diff)
	}
}

// TestEnforcementActions checks the mapping of enforcement actions to
// engine actions, and scoped actions per enforcement point.
func TestEnforcementActions(t *testing.T) {
	constraints := echoTemplate("K8sEcho", `"v"`) + `---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sEcho
metadata: {name: warn}
spec: {enforcementAction: warn}
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sEcho
metadata: {name: dryrun}
spec: {enforcementAction: dryrun}
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sEcho
metadata: {name: scoped}
spec:
  enforcementAction: scoped
  scopedEnforcementActions:
  - action: warn
    enforcementPoints: [{name: validation.gatekeeper.sh}]
  - action: deny
    enforcementPoints: [{name: audit.gatekeeper.sh}, {name: validation.gatekeeper.sh}]
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sEcho
metadata: {name: audit-only}
spec:
  enforcementAction: scoped
  scopedEnforcementActions:
  - action: dryrun
    enforcementPoints: [{name: audit.gatekeeper.sh}]
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sEcho
metadata: {name: everywhere}
spec:
  enforcementAction: scoped
  scopedEnforcementActions:
  - action: warn
    enforcementPoints: [{name: "*"}]
`
	pod := object(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}")
	for _, tc := range []struct {
		name       string
		opts       []gatekeeper.Option
		background bool
		want       []result
	}{{
		name: "validating webhook",
		want: []result{
			{"K8sEcho/echo", engine.Fail, engine.ActionDeny, "v"},
			{"K8sEcho/warn", engine.Fail, engine.ActionWarn, "v"},
			{"K8sEcho/dryrun", engine.Fail, engine.ActionAudit, "v"},
			{"K8sEcho/scoped", engine.Fail, engine.ActionDeny, "v"},
			{"K8sEcho/everywhere", engine.Fail, engine.ActionWarn, "v"},
		},
	}, {
		name:       "audit",
		background: true,
		want: []result{
			{"K8sEcho/echo", engine.Fail, engine.ActionDeny, "v"},
			{"K8sEcho/warn", engine.Fail, engine.ActionWarn, "v"},
			{"K8sEcho/dryrun", engine.Fail, engine.ActionAudit, "v"},
			{"K8sEcho/scoped", engine.Fail, engine.ActionDeny, "v"},
			{"K8sEcho/audit-only", engine.Fail, engine.ActionAudit, "v"},
			{"K8sEcho/everywhere", engine.Fail, engine.ActionWarn, "v"},
		},
	}, {
		name: "gator",
		opts: []gatekeeper.Option{gatekeeper.WithEnforcementPoint(gatekeeper.EnforcementPointGator)},
		want: []result{
			{"K8sEcho/echo", engine.Fail, engine.ActionDeny, "v"},
			{"K8sEcho/warn", engine.Fail, engine.ActionWarn, "v"},
			{"K8sEcho/dryrun", engine.Fail, engine.ActionAudit, "v"},
			{"K8sEcho/everywhere", engine.Fail, engine.ActionWarn, "v"},
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			set := mustCompile(t, constraints, tc.opts...)
			req := admission(pod, engine.Create)
			req.Background = tc.background
			if diff := cmp.Diff(tc.want, evaluate(set, req, engine.Cluster{})); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPhases checks that only the validate phase produces results.
func TestPhases(t *testing.T) {
	set := mustCompile(t, echoTemplate("K8sEcho", `"v"`))
	pod := object(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}")
	for _, tc := range []struct {
		phase engine.Phase
		want  int
	}{{engine.PhaseMutate, 0}, {engine.PhaseValidate, 1}, {engine.PhaseAll, 1}} {
		req := admission(pod, engine.Create)
		req.Phase = tc.phase
		if got := len(set.Evaluate(context.Background(), req, engine.Cluster{}).Rules); got != tc.want {
			t.Errorf("phase %q: %d results, want %d", tc.phase, got, tc.want)
		}
	}
}

// TestConcurrentEvaluation evaluates one set from several goroutines: the
// results must be those of a sequential evaluation (run with -race).
func TestConcurrentEvaluation(t *testing.T) {
	set := compile(t, nil, seedFiles...)
	pods := loadPods(t)[:50]
	want := make([][]result, len(pods))
	for i, p := range pods {
		want[i] = evaluate(set, podRequest(p), engine.Cluster{})
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; round < 3; round++ {
				for i, p := range pods {
					if diff := cmp.Diff(want[i], evaluate(set, podRequest(p), engine.Cluster{})); diff != "" {
						errs <- diff
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for d := range errs {
		t.Errorf("concurrent results differ:\n%s", d)
	}
}
