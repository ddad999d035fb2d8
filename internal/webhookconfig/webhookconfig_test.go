package webhookconfig_test

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/webhook"
	"github.com/portcullis-dev/portcullis/internal/webhookconfig"
)

// testDialect compiles documents of any kind into policies whose failure
// action, targets and dialect name come from the document:
// spec.failurePolicy, spec.targets ([{group, version, kind, subresource,
// operations}]; absent means the policy may match anything).
type testDialect struct{ name, group string }

func (d testDialect) Name() string                             { return d.name }
func (d testDialect) Handles(gvk schema.GroupVersionKind) bool { return gvk.Group == d.group }
func (d testDialect) Compile(docs []engine.Document) ([]engine.Policy, field.ErrorList) {
	var out []engine.Policy
	for _, doc := range docs {
		ns, name := doc.Name()
		spec, _ := doc.Object["spec"].(map[string]any)
		p := &testPolicy{ref: engine.PolicyRef{Dialect: d.name, Kind: doc.GVK().Kind, Namespace: ns, Name: name}, action: engine.ActionDeny}
		if spec["failurePolicy"] == "Ignore" {
			p.action = engine.ActionAudit
		}
		if ts, ok := spec["targets"].([]any); ok {
			p.targets = []engine.Target{}
			for _, t := range ts {
				m := t.(map[string]any)
				s := func(k string) string { v, _ := m[k].(string); return v }
				target := engine.Target{Group: s("group"), Version: s("version"), Kind: s("kind"), Subresource: s("subresource")}
				ops, _ := m["operations"].([]any)
				for _, op := range ops {
					target.Operations = append(target.Operations, engine.Operation(op.(string)))
				}
				p.targets = append(p.targets, target)
			}
		}
		if p.targets == nil {
			out = append(out, &anyPolicy{p})
		} else {
			out = append(out, p)
		}
	}
	return out, nil
}

type testPolicy struct {
	ref     engine.PolicyRef
	action  engine.Action
	targets []engine.Target
}

func (p *testPolicy) Ref() engine.PolicyRef        { return p.ref }
func (p *testPolicy) FailureAction() engine.Action { return p.action }
func (p *testPolicy) Evaluate(context.Context, *engine.Request, engine.Cluster) engine.Outcome {
	return engine.Outcome{}
}
func (p *testPolicy) Targets() []engine.Target { return p.targets }

// anyPolicy hides Targets: it may match anything.
type anyPolicy struct{ p *testPolicy }

func (a *anyPolicy) Ref() engine.PolicyRef        { return a.p.Ref() }
func (a *anyPolicy) FailureAction() engine.Action { return a.p.FailureAction() }
func (a *anyPolicy) Evaluate(ctx context.Context, r *engine.Request, c engine.Cluster) engine.Outcome {
	return a.p.Evaluate(ctx, r, c)
}

func doc(apiVersion, kind, name string, spec map[string]any) engine.Document {
	return engine.Document{Source: "test", Object: map[string]any{
		"apiVersion": apiVersion, "kind": kind, "metadata": map[string]any{"name": name}, "spec": spec,
	}}
}

func target(group, version, kind, sub string, ops ...any) map[string]any {
	return map[string]any{"group": group, "version": version, "kind": kind, "subresource": sub, "operations": ops}
}

// input compiles docs and splits them by endpoint as the server does.
func input(t *testing.T, docs ...engine.Document) webhookconfig.Input {
	t.Helper()
	eng := engine.New(testDialect{"kyverno", "kyverno.io"}, testDialect{"gatekeeper", "constraints.gatekeeper.sh"}, testDialect{"sigstore", "policy.sigstore.dev"})
	set, errs := eng.Compile(docs)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	hints := map[engine.PolicyRef]webhookconfig.Hints{}
	for i, p := range set.Policies() {
		hints[p.Ref()] = webhookconfig.HintsFor(docs[i])
	}
	return webhookconfig.Input{
		Sets:      webhook.NewSnapshot(set, engine.Cluster{}).Sets,
		Hints:     hints,
		CABundle:  []byte("CA"),
		Resources: discovery(),
	}
}

func discovery() []*metav1.APIResourceList {
	return []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "pods", Kind: "Pod", Namespaced: true},
			{Name: "pods/status", Kind: "Pod", Namespaced: true},
			{Name: "pods/ephemeralcontainers", Kind: "Pod", Namespaced: true},
			{Name: "pods/exec", Kind: "PodExecOptions", Namespaced: true},
			{Name: "configmaps", Kind: "ConfigMap", Namespaced: true},
			{Name: "namespaces", Kind: "Namespace"},
		}},
		{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{
			{Name: "deployments", Kind: "Deployment", Namespaced: true},
			{Name: "deployments/status", Kind: "Deployment", Namespaced: true},
			{Name: "deployments/scale", Kind: "Scale", Group: "autoscaling", Version: "v1", Namespaced: true},
		}},
	}
}

func rule(groups, versions, resources []string, ops ...admissionregistrationv1.OperationType) admissionregistrationv1.RuleWithOperations {
	return admissionregistrationv1.RuleWithOperations{Operations: ops, Rule: admissionregistrationv1.Rule{
		APIGroups: groups, APIVersions: versions, Resources: resources, Scope: ptr.To(admissionregistrationv1.AllScopes)}}
}

func s(v ...string) []string { return v }

var service = &webhookconfig.Service{Namespace: "portcullis", Name: "portcullis"}

func TestBuild(t *testing.T) {
	in := input(t,
		doc("kyverno.io/v1", "ClusterPolicy", "require-limits", map[string]any{
			"webhookTimeoutSeconds": int64(15),
			"rules":                 []any{map[string]any{"name": "r", "validate": map[string]any{}}},
			"targets":               []any{target("*", "*", "Pod", "*", "CREATE", "UPDATE"), target("apps", "v1", "Deployment", "")},
		}),
		doc("kyverno.io/v1", "ClusterPolicy", "add-defaults", map[string]any{
			"failurePolicy": "Ignore",
			"rules":         []any{map[string]any{"name": "r", "mutate": map[string]any{}}},
			"targets":       []any{target("*", "*", "Pod", "*")},
		}),
		doc("constraints.gatekeeper.sh/v1beta1", "K8sAllowedRepos", "repo-is-cgr-dev", map[string]any{
			"targets": []any{target("", "", "Pod", "")},
		}),
		doc("policy.sigstore.dev/v1beta1", "ClusterImagePolicy", "signed", map[string]any{}),
	)
	validating, mutating, err := webhookconfig.Build(webhookconfig.Config{Service: service, ExcludeNamespaces: s("portcullis", "kube-system", "portcullis")}, in)
	if err != nil {
		t.Fatal(err)
	}
	notIn := metav1.LabelSelectorRequirement{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: s("kube-system", "portcullis")}
	type hook struct {
		Name          string
		Path          string
		FailurePolicy admissionregistrationv1.FailurePolicyType
		Timeout       int32
		Rules         []admissionregistrationv1.RuleWithOperations
		Namespaces    []metav1.LabelSelectorRequirement
	}
	summarize := func(name string, cc admissionregistrationv1.WebhookClientConfig, fp *admissionregistrationv1.FailurePolicyType,
		timeout *int32, rules []admissionregistrationv1.RuleWithOperations, ns *metav1.LabelSelector, se *admissionregistrationv1.SideEffectClass, versions []string) hook {
		if string(cc.CABundle) != "CA" || cc.URL != nil || cc.Service == nil || *cc.Service.Port != 443 || cc.Service.Name != "portcullis" || cc.Service.Namespace != "portcullis" {
			t.Errorf("%s: client config %+v", name, cc)
		}
		if *se != admissionregistrationv1.SideEffectClassNone || !cmp.Equal(versions, s("v1", "v1beta1")) {
			t.Errorf("%s: side effects %v, review versions %v", name, *se, versions)
		}
		return hook{Name: name, Path: *cc.Service.Path, FailurePolicy: *fp, Timeout: *timeout, Rules: rules, Namespaces: ns.MatchExpressions}
	}
	var got []hook
	for _, w := range validating.Webhooks {
		got = append(got, summarize(w.Name, w.ClientConfig, w.FailurePolicy, w.TimeoutSeconds, w.Rules, w.NamespaceSelector, w.SideEffects, w.AdmissionReviewVersions))
	}
	for _, w := range mutating.Webhooks {
		got = append(got, summarize(w.Name, w.ClientConfig, w.FailurePolicy, w.TimeoutSeconds, w.Rules, w.NamespaceSelector, w.SideEffects, w.AdmissionReviewVersions))
	}
	want := []hook{
		{
			Name: "validate.kyverno.svc-fail", Path: "/validate/fail", FailurePolicy: admissionregistrationv1.Fail, Timeout: 15,
			Rules: []admissionregistrationv1.RuleWithOperations{
				rule(s(""), s("*"), s("pods", "pods/ephemeralcontainers"), "CREATE", "UPDATE"),
				rule(s("apps"), s("v1"), s("deployments"), "*"),
			},
			Namespaces: []metav1.LabelSelectorRequirement{notIn},
		},
		{
			Name: "validation.gatekeeper.sh", Path: "/v1/admit", FailurePolicy: admissionregistrationv1.Ignore, Timeout: 10,
			Rules: []admissionregistrationv1.RuleWithOperations{rule(s(""), s("*"), s("pods"), "*")},
			Namespaces: []metav1.LabelSelectorRequirement{notIn,
				{Key: "admission.gatekeeper.sh/ignore", Operator: metav1.LabelSelectorOpDoesNotExist}},
		},
		{
			Name: "policy.sigstore.dev", Path: "/validations", FailurePolicy: admissionregistrationv1.Fail, Timeout: 10,
			Rules: []admissionregistrationv1.RuleWithOperations{rule(s("*"), s("*"), s("*"), "*")},
			Namespaces: []metav1.LabelSelectorRequirement{notIn,
				{Key: "policy.sigstore.dev/include", Operator: metav1.LabelSelectorOpIn, Values: s("true")}},
		},
		{
			Name: "mutate.kyverno.svc-ignore", Path: "/mutate/ignore", FailurePolicy: admissionregistrationv1.Ignore, Timeout: 10,
			Rules:      []admissionregistrationv1.RuleWithOperations{rule(s(""), s("*"), s("pods", "pods/ephemeralcontainers"), "*")},
			Namespaces: []metav1.LabelSelectorRequirement{notIn},
		},
		{
			Name: "defaulting.policy.sigstore.dev", Path: "/mutations", FailurePolicy: admissionregistrationv1.Fail, Timeout: 10,
			Rules: []admissionregistrationv1.RuleWithOperations{rule(s("*"), s("*"), s("*"), "*")},
			Namespaces: []metav1.LabelSelectorRequirement{notIn,
				{Key: "policy.sigstore.dev/include", Operator: metav1.LabelSelectorOpIn, Values: s("true")}},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("webhooks (-want +got):\n%s", diff)
	}
	for _, c := range []metav1.Object{validating, mutating} {
		if c.GetLabels()["app.kubernetes.io/managed-by"] != "portcullis" {
			t.Errorf("%s: labels %v", c.GetName(), c.GetLabels())
		}
	}
	if validating.Name != "portcullis-validating" || mutating.Name != "portcullis-mutating" {
		t.Errorf("names %s, %s", validating.Name, mutating.Name)
	}
}

func TestBuildRules(t *testing.T) {
	tests := []struct {
		name    string
		targets []any
		want    []admissionregistrationv1.RuleWithOperations
	}{{
		name:    "a kind the API server does not serve yet gets a guessed plural",
		targets: []any{target("example.com", "v1", "Widget", "", "CREATE")},
		want:    []admissionregistrationv1.RuleWithOperations{rule(s("example.com"), s("v1"), s("widgets"), "CREATE")},
	}, {
		name:    "a named subresource",
		targets: []any{target("*", "*", "Pod", "exec", "CONNECT")},
		want:    []admissionregistrationv1.RuleWithOperations{rule(s(""), s("*"), s("pods", "pods/exec"), "CONNECT")},
	}, {
		name:    "every kind",
		targets: []any{target("*", "*", "*", "", "DELETE"), target("apps", "v1", "Deployment", "", "DELETE")},
		want: []admissionregistrationv1.RuleWithOperations{
			rule(s("*"), s("*"), s("*"), "DELETE"),
			rule(s("apps"), s("v1"), s("deployments"), "DELETE"),
		},
	}, {
		name:    "operations are merged per group, sorted and deduplicated",
		targets: []any{target("*", "v1", "ConfigMap", "", "UPDATE", "CREATE"), target("", "v1", "Namespace", "", "CREATE", "UPDATE", "CREATE")},
		want:    []admissionregistrationv1.RuleWithOperations{rule(s(""), s("v1"), s("configmaps", "namespaces"), "CREATE", "UPDATE")},
	}, {
		name:    "every subresource of every kind",
		targets: []any{target("*", "*", "*", "*"), target("", "", "Pod", "")},
		want:    []admissionregistrationv1.RuleWithOperations{rule(s(""), s("*"), s("pods"), "*"), rule(s("*"), s("*"), s("*"), "*")},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := input(t, doc("constraints.gatekeeper.sh/v1beta1", "K8sTest", "c", map[string]any{"targets": tt.targets}))
			validating, _, err := webhookconfig.Build(webhookconfig.Config{URL: "https://127.0.0.1:9443"}, in)
			if err != nil {
				t.Fatal(err)
			}
			if len(validating.Webhooks) != 1 {
				t.Fatalf("%d webhooks; want 1", len(validating.Webhooks))
			}
			w := validating.Webhooks[0]
			if diff := cmp.Diff(tt.want, w.Rules); diff != "" {
				t.Errorf("rules (-want +got):\n%s", diff)
			}
			if w.ClientConfig.URL == nil || *w.ClientConfig.URL != "https://127.0.0.1:9443/v1/admit" || w.ClientConfig.Service != nil {
				t.Errorf("client config %+v", w.ClientConfig)
			}
			if len(w.NamespaceSelector.MatchExpressions) != 1 {
				t.Errorf("namespace selector %+v; want only Gatekeeper's own requirement", w.NamespaceSelector)
			}
		})
	}
}

func TestBuildMatchConditions(t *testing.T) {
	cond := func(name, expr string) any { return map[string]any{"name": name, "expression": expr} }
	policy := func(name string, conds ...any) engine.Document {
		spec := map[string]any{"rules": []any{map[string]any{"name": "r", "validate": map[string]any{}}}}
		if conds != nil {
			spec["webhookConfiguration"] = map[string]any{"matchConditions": conds, "timeoutSeconds": int64(40)}
		}
		return doc("kyverno.io/v1", "ClusterPolicy", name, spec)
	}
	tests := []struct {
		name        string
		docs        []engine.Document
		want        []admissionregistrationv1.MatchCondition
		wantTimeout int32
	}{{
		name:        "one policy's conditions as they are",
		docs:        []engine.Document{policy("a", cond("not-kube", "!request.userInfo.username.startsWith('system:')"), cond("create", "request.operation == 'CREATE'"))},
		want:        []admissionregistrationv1.MatchCondition{{Name: "not-kube", Expression: "!request.userInfo.username.startsWith('system:')"}, {Name: "create", Expression: "request.operation == 'CREATE'"}},
		wantTimeout: 30,
	}, {
		name:        "several policies' conditions ORed",
		docs:        []engine.Document{policy("a", cond("x", "a1"), cond("y", "a2")), policy("b", cond("z", "b1"))},
		want:        []admissionregistrationv1.MatchCondition{{Name: "portcullis-policies", Expression: "((a1) && (a2)) || ((b1))"}},
		wantTimeout: 30,
	}, {
		name:        "a policy without conditions needs every request",
		docs:        []engine.Document{policy("a", cond("x", "a1")), policy("b")},
		wantTimeout: 30,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			validating, mutating, err := webhookconfig.Build(webhookconfig.Config{Service: service}, input(t, tt.docs...))
			if err != nil {
				t.Fatal(err)
			}
			if len(validating.Webhooks) != 1 || len(mutating.Webhooks) != 0 {
				t.Fatalf("%d validating and %d mutating webhooks; want 1 and 0 (no policy mutates)", len(validating.Webhooks), len(mutating.Webhooks))
			}
			if diff := cmp.Diff(tt.want, validating.Webhooks[0].MatchConditions); diff != "" {
				t.Errorf("match conditions (-want +got):\n%s", diff)
			}
			if got := *validating.Webhooks[0].TimeoutSeconds; got != tt.wantTimeout {
				t.Errorf("timeout %d; want %d", got, tt.wantTimeout)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, cfg := range []webhookconfig.Config{
		{},
		{Service: service, URL: "https://127.0.0.1:9443"},
		{URL: "http://127.0.0.1:9443"},
		{URL: "https://127.0.0.1:9443/?x=1"},
		{Service: &webhookconfig.Service{Name: "portcullis"}},
	} {
		if err := cfg.Validate(); err == nil {
			t.Errorf("%+v: Validate() = nil; want an error", cfg)
		}
	}
}

func TestReconciler(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client := fake.NewClientset()
	client.Resources = discovery()
	r, err := webhookconfig.NewReconciler(client, client.Discovery(), webhookconfig.Config{Service: service, ExcludeNamespaces: s("kube-system")}, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	validating := client.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	mutating := client.AdmissionregistrationV1().MutatingWebhookConfigurations()

	// Nothing without a CA bundle.
	in := input(t, doc("kyverno.io/v1", "ClusterPolicy", "p", map[string]any{
		"rules":   []any{map[string]any{"name": "r", "validate": map[string]any{}}},
		"targets": []any{target("*", "*", "Pod", "", "CREATE")},
	}))
	r.Update(in.Sets, in.Hints)
	if err := r.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if list, _ := validating.List(ctx, metav1.ListOptions{}); len(list.Items) != 0 {
		t.Fatalf("created %d configurations without a CA bundle", len(list.Items))
	}

	r.SetCABundle([]byte("CA1"))
	if err := r.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := validating.Get(ctx, webhookconfig.ValidatingName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Webhooks) != 1 || string(v.Webhooks[0].ClientConfig.CABundle) != "CA1" {
		t.Fatalf("webhooks %+v", v.Webhooks)
	}
	if diff := cmp.Diff([]admissionregistrationv1.RuleWithOperations{rule(s(""), s("*"), s("pods"), "CREATE")}, v.Webhooks[0].Rules); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
	if _, err := mutating.Get(ctx, webhookconfig.MutatingName, metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}

	// Run repairs edits and deletions, and follows CA changes.
	go r.Run(ctx, time.Hour)
	v.Webhooks[0].FailurePolicy = ptr.To(admissionregistrationv1.Ignore)
	if _, err := validating.Update(ctx, v, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool {
		v, err := validating.Get(ctx, webhookconfig.ValidatingName, metav1.GetOptions{})
		return err == nil && *v.Webhooks[0].FailurePolicy == admissionregistrationv1.Fail
	})
	if err := mutating.Delete(ctx, webhookconfig.MutatingName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool {
		_, err := mutating.Get(ctx, webhookconfig.MutatingName, metav1.GetOptions{})
		return err == nil
	})
	r.SetCABundle([]byte("CA1CA2"))
	eventually(t, func() bool {
		v, err := validating.Get(ctx, webhookconfig.ValidatingName, metav1.GetOptions{})
		return err == nil && string(v.Webhooks[0].ClientConfig.CABundle) == "CA1CA2"
	})

	cancel()
	deleted, err := webhookconfig.Delete(context.Background(), client)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s("MutatingWebhookConfiguration/portcullis-mutating", "ValidatingWebhookConfiguration/portcullis-validating"), deleted); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
}

func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
