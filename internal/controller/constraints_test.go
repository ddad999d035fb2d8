package controller_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	apiextensionsinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portcullis-dev/portcullis/internal/controller"
)

func TestConstraintCRD(t *testing.T) {
	params := map[string]any{"type": "object", "properties": map[string]any{
		"labels": map[string]any{"type": "array", "items": map[string]any{"type": "string"}}}}
	crd, err := controller.ConstraintCRD(template("k8srequiredlabels", "K8sRequiredLabels", params))
	if err != nil {
		t.Fatal(err)
	}
	if crd.Name != "k8srequiredlabels.constraints.gatekeeper.sh" || crd.Spec.Group != "constraints.gatekeeper.sh" ||
		crd.Spec.Scope != apiextensionsv1.ClusterScoped || crd.Spec.Names.Kind != "K8sRequiredLabels" || crd.Spec.Names.Plural != "k8srequiredlabels" {
		t.Errorf("names %s %+v", crd.Name, crd.Spec.Names)
	}
	if crd.Labels["gatekeeper.sh/constraint"] != "yes" || crd.Labels["app.kubernetes.io/managed-by"] != "portcullis" {
		t.Errorf("labels %v", crd.Labels)
	}
	if len(crd.OwnerReferences) != 1 || crd.OwnerReferences[0].Kind != "ConstraintTemplate" || crd.OwnerReferences[0].UID != "uid-k8srequiredlabels" {
		t.Errorf("owner references %v", crd.OwnerReferences)
	}
	var versions []string
	for _, v := range crd.Spec.Versions {
		versions = append(versions, v.Name)
		if v.Storage != (v.Name == "v1beta1") || !v.Served || v.Subresources == nil || v.Subresources.Status == nil {
			t.Errorf("version %s: storage %v served %v subresources %v", v.Name, v.Storage, v.Served, v.Subresources)
		}
		spec := v.Schema.OpenAPIV3Schema.Properties["spec"]
		for _, f := range []string{"match", "enforcementAction", "parameters"} {
			if _, ok := spec.Properties[f]; !ok {
				t.Errorf("version %s: no spec.%s", v.Name, f)
			}
		}
		labels := spec.Properties["parameters"].Properties["labels"]
		if labels.Type != "array" || labels.Items.Schema.Type != "string" {
			t.Errorf("version %s: parameters are not the template's schema: %+v", v.Name, spec.Properties["parameters"])
		}
		mustBeStructural(t, v.Schema.OpenAPIV3Schema)
	}
	if diff := cmp.Diff([]string{"v1beta1", "v1alpha1", "v1"}, versions); diff != "" {
		t.Errorf("versions (-want +got):\n%s", diff)
	}
}

func TestConstraintCRDParameters(t *testing.T) {
	tests := []struct {
		name         string
		params       map[string]any
		legacy       bool
		wantPreserve bool
		wantProps    bool
	}{
		{name: "no schema: any parameters", wantPreserve: true},
		{name: "legacy schema keeps unknown fields", params: map[string]any{"properties": map[string]any{"x": map[string]any{"type": "string"}}}, legacy: true, wantPreserve: true, wantProps: true},
		{name: "not structural: any parameters", params: map[string]any{"type": "object", "properties": map[string]any{"x": map[string]any{"description": "no type"}}}, wantPreserve: true},
		{name: "structural as it is", params: map[string]any{"type": "object", "properties": map[string]any{"x": map[string]any{"type": "string"}}}, wantProps: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl := template("k8sthing", "K8sThing", tt.params)
			if tt.legacy {
				tmpl.Object["spec"].(map[string]any)["crd"].(map[string]any)["spec"].(map[string]any)["validation"].(map[string]any)["legacySchema"] = true
			}
			crd, err := controller.ConstraintCRD(tmpl)
			if err != nil {
				t.Fatal(err)
			}
			p := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["parameters"]
			preserve := p.XPreserveUnknownFields != nil && *p.XPreserveUnknownFields
			if preserve != tt.wantPreserve || (len(p.Properties) > 0) != tt.wantProps || p.Type != "object" {
				t.Errorf("parameters %+v; want preserve %v, properties %v", p, tt.wantPreserve, tt.wantProps)
			}
			mustBeStructural(t, crd.Spec.Versions[0].Schema.OpenAPIV3Schema)
		})
	}
}

func TestConstraintCRDErrors(t *testing.T) {
	if _, err := controller.ConstraintCRD(template("k8sother", "", nil)); err == nil {
		t.Error("a template without a kind gave a CRD")
	}
	_, err := controller.ConstraintCRD(template("wrong", "K8sThing", nil))
	if fe, ok := err.(*field.Error); !ok || fe.Field != "metadata.name" {
		t.Errorf("error %v; want one at metadata.name", err)
	}
}

func mustBeStructural(t *testing.T, s *apiextensionsv1.JSONSchemaProps) {
	t.Helper()
	var internal apiextensionsinternal.JSONSchemaProps
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(s, &internal, nil); err != nil {
		t.Fatal(err)
	}
	ss, err := structuralschema.NewStructural(&internal)
	if err != nil {
		t.Fatal(err)
	}
	if errs := structuralschema.ValidateStructural(nil, ss); len(errs) > 0 {
		t.Errorf("not structural: %v", errs.ToAggregate())
	}
}
