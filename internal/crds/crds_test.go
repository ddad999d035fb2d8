package crds_test

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset/fake"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/util/jsonpath"

	"github.com/portcullis-dev/portcullis/internal/crds"
)

// TestDefinitionsAreValid checks what the API server checks and a typo
// would break: structural schemas (with the API server's own code), the
// name, one storage version, and printer columns that parse.
func TestDefinitionsAreValid(t *testing.T) {
	all, err := crds.All()
	if err != nil {
		t.Fatal(err)
	}
	for _, crd := range all {
		t.Run(crd.Name, func(t *testing.T) {
			if want := crd.Spec.Names.Plural + "." + crd.Spec.Group; crd.Name != want {
				t.Errorf("name %q; want %q", crd.Name, want)
			}
			if !crds.Managed(crd) {
				t.Errorf("it lacks the %s=%s label", crds.ManagedByLabel, crds.ManagedBy)
			}
			storage := 0
			for _, v := range crd.Spec.Versions {
				if v.Storage {
					storage++
				}
				var internal apiextensions.JSONSchemaProps
				if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, &internal, nil); err != nil {
					t.Fatal(err)
				}
				s, err := structuralschema.NewStructural(&internal)
				if err != nil {
					t.Fatalf("%s: %v", v.Name, err)
				}
				if errs := structuralschema.ValidateStructural(field.NewPath("openAPIV3Schema"), s); len(errs) > 0 {
					t.Errorf("%s: not structural: %v", v.Name, errs.ToAggregate())
				}
				for _, c := range v.AdditionalPrinterColumns {
					if err := jsonpath.New(c.Name).Parse("{" + c.JSONPath + "}"); err != nil {
						t.Errorf("%s: column %s: %v", v.Name, c.Name, err)
					}
				}
			}
			if storage != 1 {
				t.Errorf("%d storage versions; want 1", storage)
			}
		})
	}
}

// TestDefinitions checks the kinds, versions, short names and status
// subresources that users and tools (kubectl get cpol, Argo CD) rely on.
func TestDefinitions(t *testing.T) {
	all, err := crds.All()
	if err != nil {
		t.Fatal(err)
	}
	type summary struct {
		Kind       string
		Scope      string
		Versions   []string
		Storage    string
		ShortNames []string
		Status     bool
		Ready      bool
	}
	got := map[string]summary{}
	for _, crd := range all {
		s := summary{Kind: crd.Spec.Names.Kind, Scope: string(crd.Spec.Scope), ShortNames: crd.Spec.Names.ShortNames, Status: true}
		for _, v := range crd.Spec.Versions {
			s.Versions = append(s.Versions, v.Name)
			if v.Storage {
				s.Storage = v.Name
			}
			if v.Subresources == nil || v.Subresources.Status == nil {
				s.Status = false
			}
			for _, c := range v.AdditionalPrinterColumns {
				if c.Name == "READY" && c.JSONPath == `.status.conditions[?(@.type == "Ready")].status` {
					s.Ready = true
				}
			}
		}
		got[crd.Name] = s
	}
	want := map[string]summary{
		"clusterpolicies.kyverno.io":                  {Kind: "ClusterPolicy", Scope: "Cluster", Versions: []string{"v1", "v2beta1"}, Storage: "v1", ShortNames: []string{"cpol"}, Status: true, Ready: true},
		"policies.kyverno.io":                         {Kind: "Policy", Scope: "Namespaced", Versions: []string{"v1", "v2beta1"}, Storage: "v1", ShortNames: []string{"pol"}, Status: true, Ready: true},
		"policyexceptions.kyverno.io":                 {Kind: "PolicyException", Scope: "Namespaced", Versions: []string{"v2", "v2beta1"}, Storage: "v2", ShortNames: []string{"polex"}, Status: true},
		"constrainttemplates.templates.gatekeeper.sh": {Kind: "ConstraintTemplate", Scope: "Cluster", Versions: []string{"v1", "v1beta1", "v1alpha1"}, Storage: "v1", Status: true, Ready: true},
		"configs.config.gatekeeper.sh":                {Kind: "Config", Scope: "Namespaced", Versions: []string{"v1alpha1"}, Storage: "v1alpha1", Status: true},
		"providers.externaldata.gatekeeper.sh":        {Kind: "Provider", Scope: "Cluster", Versions: []string{"v1beta1"}, Storage: "v1beta1", Status: true},
		"clusterimagepolicies.policy.sigstore.dev":    {Kind: "ClusterImagePolicy", Scope: "Cluster", Versions: []string{"v1beta1", "v1alpha1"}, Storage: "v1beta1", ShortNames: []string{"cip"}, Status: true, Ready: true},
		"trustroots.policy.sigstore.dev":              {Kind: "TrustRoot", Scope: "Cluster", Versions: []string{"v1alpha1"}, Storage: "v1alpha1", Status: true},
		"verifiers.config.ratify.deislabs.io":         {Kind: "Verifier", Scope: "Cluster", Versions: []string{"v1beta1"}, Storage: "v1beta1", Status: true},
		"policies.config.ratify.deislabs.io":          {Kind: "Policy", Scope: "Cluster", Versions: []string{"v1beta1"}, Storage: "v1beta1", Status: true},
		"policyreports.wgpolicyk8s.io":                {Kind: "PolicyReport", Scope: "Namespaced", Versions: []string{"v1alpha2"}, Storage: "v1alpha2", ShortNames: []string{"polr"}},
		"clusterpolicyreports.wgpolicyk8s.io":         {Kind: "ClusterPolicyReport", Scope: "Cluster", Versions: []string{"v1alpha2"}, Storage: "v1alpha2", ShortNames: []string{"cpolr"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("definitions (-want +got):\n%s", diff)
	}
}

// establish makes the fake API server mark every created or updated
// definition Established, as the real one does.
func establish(client *fake.Clientset) {
	react := func(action clienttesting.Action) (bool, runtime.Object, error) {
		var crd *apiextensionsv1.CustomResourceDefinition
		switch a := action.(type) {
		case clienttesting.CreateAction:
			crd = a.GetObject().(*apiextensionsv1.CustomResourceDefinition)
		case clienttesting.UpdateAction:
			crd = a.GetObject().(*apiextensionsv1.CustomResourceDefinition)
		}
		crd.Status.Conditions = []apiextensionsv1.CustomResourceDefinitionCondition{
			{Type: apiextensionsv1.NamesAccepted, Status: apiextensionsv1.ConditionTrue},
			{Type: apiextensionsv1.Established, Status: apiextensionsv1.ConditionTrue},
		}
		return false, nil, nil
	}
	client.PrependReactor("create", "customresourcedefinitions", react)
	client.PrependReactor("update", "customresourcedefinitions", react)
}

func TestApply(t *testing.T) {
	all, err := crds.All()
	if err != nil {
		t.Fatal(err)
	}
	foreign := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "clusterpolicies.kyverno.io", Labels: map[string]string{"app.kubernetes.io/managed-by": "Helm"}},
		Spec:       apiextensionsv1.CustomResourceDefinitionSpec{Group: "kyverno.io", Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "clusterpolicies", Kind: "ClusterPolicy"}},
		Status: apiextensionsv1.CustomResourceDefinitionStatus{Conditions: []apiextensionsv1.CustomResourceDefinitionCondition{
			{Type: apiextensionsv1.Established, Status: apiextensionsv1.ConditionTrue}}},
	}
	stale := all[len(all)-1].DeepCopy()
	stale.Spec.Names.ShortNames = []string{"stale"}
	client := fake.NewClientset(foreign, stale)
	establish(client)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := crds.Apply(ctx, client, logr.Discard(), all...); err != nil {
		t.Fatal(err)
	}
	for _, want := range all {
		got, err := client.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, want.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if want.Name == foreign.Name {
			if crds.Managed(got) || len(got.Spec.Versions) != 0 {
				t.Errorf("%s: a definition portcullis does not manage was changed", want.Name)
			}
			continue
		}
		if diff := cmp.Diff(want.Spec, got.Spec); diff != "" {
			t.Errorf("%s (-want +got):\n%s", want.Name, diff)
		}
	}

	deleted, err := crds.Delete(ctx, client, foreign.Name, stale.Name, "missing.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{stale.Name}, deleted); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
}

func TestWaitEstablishedTimesOut(t *testing.T) {
	crd := &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: "things.example.com"}}
	client := fake.NewClientset(crd)
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	if err := crds.WaitEstablished(ctx, client, crd.Name); err == nil {
		t.Fatal("WaitEstablished returned nil for a definition that never became established")
	}
}

func TestWaitEstablishedNamesRefused(t *testing.T) {
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "things.example.com"},
		Status: apiextensionsv1.CustomResourceDefinitionStatus{Conditions: []apiextensionsv1.CustomResourceDefinitionCondition{
			{Type: apiextensionsv1.NamesAccepted, Status: apiextensionsv1.ConditionFalse, Message: "thing is already in use"}}},
	}
	client := fake.NewClientset(crd)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := crds.WaitEstablished(ctx, client, crd.Name)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("WaitEstablished = %v; want the refused names at once", err)
	}
}
