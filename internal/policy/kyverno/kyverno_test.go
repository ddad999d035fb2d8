package kyverno_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/manifest"
	"github.com/portcullis-dev/portcullis/internal/policy/kyverno"
)

func compile(t *testing.T, policies string) *engine.Set {
	t.Helper()
	var docs []engine.Document
	err := manifest.Decode(strings.NewReader(policies), "policy.yaml", func(o manifest.Object) error {
		docs = append(docs, engine.Document{Source: o.Source, Object: o.Object})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	set, errs := engine.New(kyverno.New(kyverno.WithClock(func() time.Time {
		return time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	}))).Compile(docs)
	if len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	return set
}

func object(t *testing.T, doc string) map[string]any {
	t.Helper()
	obj, err := manifest.DecodeDocument([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	manifest.DefaultNamespace(obj)
	return obj
}

func admission(obj map[string]any, op engine.Operation) engine.Request {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	md, _ := obj["metadata"].(map[string]any)
	name, _ := md["name"].(string)
	ns, _ := md["namespace"].(string)
	return engine.Request{Kind: schema.FromAPIVersionAndKind(apiVersion, kind), Name: name, Namespace: ns, Operation: op, Object: obj}
}

type verdict struct {
	Rule    string
	Verdict engine.Verdict
	Action  engine.Action
	Message string
}

func verdicts(res engine.Result) []verdict {
	var out []verdict
	for _, r := range res.Rules {
		out = append(out, verdict{r.Rule, r.Verdict, r.Action, r.Message})
	}
	return out
}

const requireLabels = `
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: require-labels
spec:
  validationFailureAction: Enforce
  rules:
  - name: check-team
    match:
      any:
      - resources:
          kinds: [Pod]
    validate:
      message: "label 'team' is required on {{ request.object.metadata.name }}"
      pattern:
        metadata:
          labels:
            team: "?*"
`

func TestValidatePattern(t *testing.T) {
	set := compile(t, requireLabels)
	tests := []struct {
		name string
		obj  string
		want []verdict
	}{
		{
			name: "pod with label passes",
			obj:  "apiVersion: v1\nkind: Pod\nmetadata: {name: a, labels: {team: x}}\nspec: {containers: [{name: c, image: nginx}]}",
			want: []verdict{{"check-team", engine.Pass, "", "validation rule 'check-team' passed."}},
		},
		{
			name: "pod without label fails with Kyverno's message",
			obj:  "apiVersion: v1\nkind: Pod\nmetadata: {name: b}\nspec: {containers: [{name: c, image: nginx}]}",
			want: []verdict{{"check-team", engine.Fail, engine.ActionDeny, "validation error: label 'team' is required on b. rule check-team failed at path /metadata/labels/"}},
		},
		{
			// Autogen moves request.object.metadata to the pod template's,
			// which has no name here: Kyverno reports the failed
			// substitution in the message, and so do we.
			name: "deployment gets the autogen rule",
			obj:  "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    metadata: {labels: {app: x}}\n    spec: {containers: [{name: c, image: nginx}]}",
			want: []verdict{{"autogen-check-team", engine.Fail, engine.ActionDeny, "validation error: variables substitution error in rule autogen-check-team execution error: resource value '<nil>' does not match '?*' at path /spec/template/metadata/labels/team/"}},
		},
		{
			name: "cronjob gets the autogen-cronjob rule",
			obj:  "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: cj}\nspec:\n  jobTemplate:\n    spec:\n      template:\n        metadata: {labels: {team: x}}\n        spec: {containers: [{name: c, image: nginx}]}",
			want: []verdict{{"autogen-cronjob-check-team", engine.Pass, "", "validation rule 'autogen-cronjob-check-team' passed."}},
		},
		{
			name: "other kinds are not matched",
			obj:  "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}",
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := set.Evaluate(context.Background(), admission(object(t, tt.obj), engine.Create), engine.Cluster{})
			if diff := cmp.Diff(tt.want, verdicts(res)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestSeedPolicies(t *testing.T) {
	set := loadSet(t,
		seedPolicy("kyverno-add-default-resources.yaml"),
		seedPolicy("kyverno-require-limits.yaml"),
		seedPolicy("kyverno-pod-security-restricted.yaml"),
	)
	bare := object(t, `
apiVersion: v1
kind: Pod
metadata: {name: noreq}
spec:
  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: api
    image: ghcr.io/kloudvin/api:1.0
    securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
`)
	res := set.Evaluate(context.Background(), admission(bare, engine.Create), engine.Cluster{})
	if len(res.Denied()) != 0 {
		t.Errorf("a defaulted compliant pod was denied: %+v", res.Denied())
	}
	if res.Object == nil {
		t.Fatal("the mutate policy did not default the resources")
	}
	c := res.Object["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
	want := map[string]any{
		"requests": map[string]any{"memory": "128Mi", "cpu": "100m"},
		"limits":   map[string]any{"memory": "512Mi", "cpu": "500m"},
	}
	if diff := cmp.Diff(want, c["resources"]); diff != "" {
		t.Errorf("defaulted resources (-want +got):\n%s", diff)
	}
	patch, err := res.Patch()
	if err != nil || len(patch) == 0 {
		t.Fatalf("no JSON patch: %v", err)
	}

	// Mutating the already mutated object changes nothing: reinvocation is safe.
	again := set.Evaluate(context.Background(), engine.Request{Operation: engine.Create, Object: res.Object, Phase: engine.PhaseMutate}, engine.Cluster{})
	if again.Object != nil {
		p, _ := again.Patch()
		t.Errorf("second mutation changed the object: %v", p)
	}

	privileged := object(t, `
apiVersion: v1
kind: Pod
metadata: {name: rooty}
spec:
  containers:
  - name: api
    image: ghcr.io/kloudvin/api:1.0
    securityContext: {privileged: true}
    resources: {limits: {cpu: 1, memory: 1Gi}}
`)
	res = set.Evaluate(context.Background(), admission(privileged, engine.Create), engine.Cluster{})
	denied := res.Denied()
	if len(denied) != 1 || denied[0].Policy.Name != "pod-security-restricted" {
		t.Fatalf("denied = %+v, want only pod-security-restricted", denied)
	}
	if !strings.Contains(denied[0].Message, `It violates PodSecurity "restricted:latest"`) ||
		!strings.Contains(denied[0].Message, "spec.containers[0].securityContext.privileged is forbidden, forbidden values found: true") {
		t.Errorf("message %q", denied[0].Message)
	}
}

func TestRequireLimitsForeachDeny(t *testing.T) {
	set := loadSet(t, seedPolicy("kyverno-require-limits.yaml"))
	pod := object(t, `
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - {name: ok, image: x, resources: {limits: {cpu: 1, memory: 1Gi}}}
  - {name: nolimits, image: x}
`)
	res := set.Evaluate(context.Background(), admission(pod, engine.Create), engine.Cluster{})
	want := []verdict{{"require-cpu-mem-limits", engine.Fail, engine.ActionDeny, "validation failure: CPU and memory limits are required on every container."}}
	if diff := cmp.Diff(want, verdicts(res)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestPreconditionsAndOperations(t *testing.T) {
	set := compile(t, `
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: no-latest
  annotations:
    policies.kyverno.io/scored: "false"
spec:
  validationFailureAction: Audit
  rules:
  - name: no-latest-on-update
    match:
      any:
      - resources:
          kinds: [Pod]
          operations: [UPDATE]
    preconditions:
      all:
      - key: "{{ request.object.metadata.labels.env || '' }}"
        operator: AnyIn
        value: [prod, staging]
    validate:
      deny:
        conditions:
          any:
          - key: "{{ images.containers.*.tag }}"
            operator: AnyIn
            value: [latest]
`)
	pod := func(env, image string) map[string]any {
		return object(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {env: "+env+"}}\nspec: {containers: [{name: c, image: "+image+"}]}")
	}
	tests := []struct {
		name string
		req  engine.Request
		want []verdict
	}{
		{"create is not matched", admission(pod("prod", "nginx:latest"), engine.Create), nil},
		{"update in prod with latest fails, audit only", admission(pod("prod", "nginx:latest"), engine.Update),
			[]verdict{{"no-latest-on-update", engine.Fail, engine.ActionAudit, "validation error: rule no-latest-on-update failed"}}},
		{"update in prod with a pinned tag passes", admission(pod("prod", "nginx:1.25"), engine.Update),
			[]verdict{{"no-latest-on-update", engine.Pass, "", "validation rule 'no-latest-on-update' passed."}}},
		{"update in dev is skipped by preconditions", admission(pod("dev", "nginx:latest"), engine.Update),
			[]verdict{{"no-latest-on-update", engine.Skip, "", "preconditions not met"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := set.Evaluate(context.Background(), tt.req, engine.Cluster{})
			if diff := cmp.Diff(tt.want, verdicts(res)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			for _, r := range res.Rules {
				if r.Properties["scored"] != "false" {
					t.Errorf("scored annotation not carried: %v", r.Properties)
				}
			}
		})
	}
}

func TestCompileErrorsNameFileObjectAndField(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		want   []string
	}{
		{
			name: "unknown field",
			policy: `apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: p}
spec:
  rules:
  - name: r
    match: {any: [{resources: {kinds: [Pod]}}]}
    validate: {pattern: {metadata: {name: "?*"}}, mesage: typo}`,
			want: []string{`policy.yaml[ClusterPolicy/p].spec.rules[0].validate.mesage: Forbidden: unknown field`},
		},
		{
			name: "bad operator and missing kinds",
			policy: `apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: p}
spec:
  rules:
  - name: r
    match: {any: [{resources: {names: [x]}}]}
    validate:
      deny:
        conditions:
          any: [{key: a, operator: Equalz, value: b}]`,
			want: []string{
				`policy.yaml[ClusterPolicy/p].spec.rules[0].match.any[0].resources.kinds: Required value`,
				`policy.yaml[ClusterPolicy/p].spec.rules[0].validate.deny.conditions.any[0].operator: Unsupported value: "Equalz"`,
			},
		},
		{
			name: "two rule types",
			policy: `apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: p}
spec:
  rules:
  - name: r
    match: {any: [{resources: {kinds: [Pod]}}]}
    validate: {pattern: {metadata: {name: "?*"}}}
    mutate: {patchStrategicMerge: {metadata: {labels: {a: b}}}}`,
			want: []string{`policy.yaml[ClusterPolicy/p].spec.rules[0]: Invalid value: "r": multiple operations`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj, err := manifest.DecodeDocument([]byte(tt.policy))
			if err != nil {
				t.Fatal(err)
			}
			_, errs := engine.New(kyverno.New()).Compile([]engine.Document{{Source: "policy.yaml", Object: obj}})
			got := errs.ToAggregate()
			if got == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(got.Error(), w) {
					t.Errorf("error %q does not contain %q", got, w)
				}
			}
		})
	}
}

func TestBrokenPolicyStillEvaluatesToError(t *testing.T) {
	obj, _ := manifest.DecodeDocument([]byte(`apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: p}
spec:
  failurePolicy: Fail
  validationFailureAction: Enforce
  rules:
  - name: r
    match: {any: [{resources: {kinds: [Pod]}}]}
    validate:
      deny:
        conditions: {any: [{key: a, operator: Bogus, value: b}]}`))
	set, errs := engine.New(kyverno.New()).Compile([]engine.Document{{Source: "p.yaml", Object: obj}})
	if len(errs) == 0 {
		t.Fatal("expected compile errors")
	}
	pod := object(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: x}]}")
	res := set.Evaluate(context.Background(), admission(pod, engine.Create), engine.Cluster{})
	if len(res.Rules) != 1 || res.Rules[0].Verdict != engine.Error || !res.Rules[0].Blocks() {
		t.Errorf("broken enforcing policy did not fail closed: %+v", res.Rules)
	}
}

func TestDeadline(t *testing.T) {
	set := compile(t, requireLabels)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	pod := object(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: x}]}")
	res := set.Evaluate(ctx, admission(pod, engine.Create), engine.Cluster{})
	if res.Incomplete == "" {
		t.Error("evaluation with an expired context is not marked incomplete")
	}
	if len(res.Denied()) == 0 {
		t.Error("an enforcing policy that was not evaluated must fail closed")
	}
}

// TestImagesVariable: the images variable carries, as Kyverno's does, each
// image's JSON pointer in the resource and the pod's imagePullSecrets.
func TestImagesVariable(t *testing.T) {
	set := compile(t, `apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: images}
spec:
  validationFailureAction: Enforce
  rules:
  - name: pointers
    match: {any: [{resources: {kinds: [Deployment]}}]}
    validate:
      message: "{{ images.containers.app.jsonPointer }} {{ images.initContainers.init.jsonPointer }} {{ images.containers.app.imagePullSecrets | join(',', @) }} {{ images.containers.app.reference }}"
      deny: {}`)
	deploy := object(t, `apiVersion: apps/v1
kind: Deployment
metadata: {name: d, namespace: default}
spec:
  template:
    spec:
      imagePullSecrets: [{name: hub}, {name: ghcr}]
      initContainers: [{name: init, image: busybox}]
      containers: [{name: side, image: envoy}, {name: app, image: ghcr.io/team/app:v1}]`)
	res := set.Evaluate(context.Background(), admission(deploy, engine.Create), engine.Cluster{})
	want := "/spec/template/spec/containers/1/image /spec/template/spec/initContainers/0/image hub,ghcr ghcr.io/team/app:v1"
	if len(res.Rules) != 1 || res.Rules[0].Message != want {
		t.Errorf("results %+v, want one with message %q", res.Rules, want)
	}
}
