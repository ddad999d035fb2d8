package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	apiextensionsinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portcullis-dev/portcullis/internal/crds"
)

// Labels and annotations of constraint CRDs.
const (
	// ConstraintLabel marks constraint CRDs, as Gatekeeper does.
	ConstraintLabel = "gatekeeper.sh/constraint"
	// templateAnnotation records the template UID and generation a
	// constraint CRD was made from, so that it is rebuilt only on change.
	templateAnnotation = "portcullis.dev/constraint-template"
)

// applyTimeout bounds the creation of one constraint CRD, established.
const applyTimeout = 30 * time.Second

// templateState is what the leader knows of a template's constraint CRD.
type templateState struct {
	generation int64
	created    bool
	err        string
}

// ConstraintCRD returns the CustomResourceDefinition of the constraint kind
// a ConstraintTemplate defines: group constraints.gatekeeper.sh, versions
// v1beta1 (stored), v1alpha1 and v1 served, kind
// spec.crd.spec.names.kind, plural the kind in lower case, scope Cluster,
// a spec with match, enforcementAction and parameters (the template's
// openAPIV3Schema when it is structural, any object otherwise) and a
// status of any shape. The template's name must be its kind in lower case,
// as Gatekeeper requires.
func ConstraintCRD(template *unstructured.Unstructured) (*apiextensionsv1.CustomResourceDefinition, error) {
	kind, _, _ := unstructured.NestedString(template.Object, "spec", "crd", "spec", "names", "kind")
	path := field.NewPath("spec", "crd", "spec", "names", "kind")
	if kind == "" {
		return nil, field.Required(path, "the constraint kind is required")
	}
	plural := strings.ToLower(kind)
	if template.GetName() != plural {
		return nil, field.Invalid(field.NewPath("metadata", "name"), template.GetName(),
			fmt.Sprintf("must be %q, the constraint kind in lower case", plural))
	}
	shortNames, _, _ := unstructured.NestedStringSlice(template.Object, "spec", "crd", "spec", "names", "shortNames")
	params := parametersSchema(template)

	t := true
	props := func(desc string) apiextensionsv1.JSONSchemaProps {
		return apiextensionsv1.JSONSchemaProps{Type: "object", Description: desc, XPreserveUnknownFields: &t}
	}
	schema := &apiextensionsv1.JSONSchemaProps{
		Type: "object",
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"apiVersion": {Type: "string"},
			"kind":       {Type: "string"},
			"metadata":   {Type: "object"},
			"spec": {Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
				"match":             props("Match selects the objects the constraint applies to."),
				"enforcementAction": {Type: "string", Description: "EnforcementAction is deny (the default), dryrun, warn or scoped."},
				"scopedEnforcementActions": {Type: "array", Items: &apiextensionsv1.JSONSchemaPropsOrArray{
					Schema: &apiextensionsv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: &t}}},
				"parameters": params,
			}},
			"status": props("Status is written by the policy controller."),
		},
	}
	columns := []apiextensionsv1.CustomResourceColumnDefinition{
		{Name: "enforcement-action", Type: "string", JSONPath: ".spec.enforcementAction"},
		{Name: "total-violations", Type: "integer", JSONPath: ".status.totalViolations"},
	}
	version := func(name string, storage bool) apiextensionsv1.CustomResourceDefinitionVersion {
		return apiextensionsv1.CustomResourceDefinitionVersion{
			Name: name, Served: true, Storage: storage,
			Schema:                   &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: schema.DeepCopy()},
			Subresources:             &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}},
			AdditionalPrinterColumns: columns,
		}
	}
	return &apiextensionsv1.CustomResourceDefinition{
		TypeMeta: metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        plural + "." + ConstraintsGroup,
			Labels:      map[string]string{crds.ManagedByLabel: crds.ManagedBy, ConstraintLabel: "yes"},
			Annotations: map[string]string{templateAnnotation: fmt.Sprintf("%s/%d", template.GetUID(), template.GetGeneration())},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: template.GetAPIVersion(), Kind: template.GetKind(), Name: template.GetName(), UID: template.GetUID(),
			}},
		},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: ConstraintsGroup,
			Scope: apiextensionsv1.ClusterScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{
				Kind: kind, ListKind: kind + "List", Plural: plural, Singular: plural,
				ShortNames: shortNames, Categories: []string{"constraint", "constraints"},
			},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{
				version("v1beta1", true), version("v1alpha1", false), version("v1", false),
			},
		},
	}, nil
}

// parametersSchema returns the schema of spec.parameters: the template's
// spec.crd.spec.validation.openAPIV3Schema as an object, with unknown
// fields kept when legacySchema is set, or any object when the template has
// no schema or one the API server would refuse as not structural.
func parametersSchema(template *unstructured.Unstructured) apiextensionsv1.JSONSchemaProps {
	t := true
	anyObject := apiextensionsv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: &t,
		Description: "Parameters are the template's parameters."}
	raw, found, _ := unstructured.NestedFieldNoCopy(template.Object, "spec", "crd", "spec", "validation", "openAPIV3Schema")
	if !found || raw == nil {
		return anyObject
	}
	data, err := json.Marshal(raw)
	if err != nil {
		return anyObject
	}
	var s apiextensionsv1.JSONSchemaProps
	if err := json.Unmarshal(data, &s); err != nil {
		return anyObject
	}
	if s.Type == "" {
		s.Type = "object"
	}
	if legacy, _, _ := unstructured.NestedBool(template.Object, "spec", "crd", "spec", "validation", "legacySchema"); legacy {
		s.XPreserveUnknownFields = &t
	}
	if s.Type != "object" || !structural(&s) {
		return anyObject
	}
	return s
}

// structural reports whether the API server would take s as a structural
// schema.
func structural(s *apiextensionsv1.JSONSchemaProps) bool {
	var internal apiextensionsinternal.JSONSchemaProps
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(s, &internal, nil); err != nil {
		return false
	}
	ss, err := structuralschema.NewStructural(&internal)
	if err != nil {
		return false
	}
	return len(structuralschema.ValidateStructural(nil, ss)) == 0
}

// reconcileConstraintCRDs creates or updates the constraint CRD of every
// template and deletes the constraint CRDs portcullis made whose template
// is gone. It records each template's state for its status.
func (c *Controller) reconcileConstraintCRDs(ctx context.Context) {
	w := c.watchOf(templateGK)
	if w == nil || !w.informer.HasSynced() {
		return
	}
	existing := map[string]*apiextensionsv1.CustomResourceDefinition{}
	for _, o := range c.crdInformer.GetStore().List() {
		if crd, ok := o.(*apiextensionsv1.CustomResourceDefinition); ok && crd.Spec.Group == ConstraintsGroup {
			existing[crd.Name] = crd
		}
	}
	kept := map[string]bool{}
	states := map[string]templateState{}
	for _, o := range w.informer.GetStore().List() {
		tmpl, ok := o.(*unstructured.Unstructured)
		if !ok || tmpl.GetDeletionTimestamp() != nil {
			continue
		}
		uid := string(tmpl.GetUID())
		desired, err := ConstraintCRD(tmpl)
		if err != nil {
			states[uid] = templateState{generation: tmpl.GetGeneration(), err: err.Error()}
			continue
		}
		kept[desired.Name] = true
		have := existing[desired.Name]
		upToDate := have != nil && (!crds.Managed(have) || have.Annotations[templateAnnotation] == desired.Annotations[templateAnnotation])
		if !upToDate {
			err = c.applyConstraintCRD(ctx, desired, tmpl)
		}
		state := templateState{generation: tmpl.GetGeneration()}
		if err != nil {
			state.err = err.Error()
			c.log.Error(err, "failed to create a constraint CRD", "template", tmpl.GetName())
		} else if have != nil && upToDate {
			established, eerr := crds.Established(have)
			state.created = established
			if eerr != nil {
				state.err = eerr.Error()
			}
		} else {
			state.created = true
		}
		states[uid] = state
	}
	c.mu.Lock()
	c.templates = states
	c.mu.Unlock()

	for name, crd := range existing {
		if kept[name] || !crds.Managed(crd) || crd.Labels[ConstraintLabel] != "yes" || crd.DeletionTimestamp != nil {
			continue
		}
		if _, err := crds.Delete(ctx, c.opts.CRDs, name); err != nil {
			c.log.Error(err, "failed to delete the CRD of a deleted template", "crd", name)
		} else {
			c.log.Info("deleted the CRD of a deleted template", "crd", name)
		}
	}
}

// applyConstraintCRD creates or updates a constraint CRD and waits until it
// is established. When the API server refuses the template's parameters
// schema, it tries again with parameters of any shape.
func (c *Controller) applyConstraintCRD(ctx context.Context, desired *apiextensionsv1.CustomResourceDefinition, tmpl *unstructured.Unstructured) error {
	ctx, cancel := context.WithTimeout(ctx, applyTimeout)
	defer cancel()
	err := crds.Apply(ctx, c.opts.CRDs, c.log, desired)
	if apierrors.IsInvalid(err) {
		c.log.Error(err, "the API server refused the template's parameters schema; accepting any parameters", "template", tmpl.GetName())
		t := true
		for i := range desired.Spec.Versions {
			desired.Spec.Versions[i].Schema.OpenAPIV3Schema.Properties["spec"].Properties["parameters"] = apiextensionsv1.JSONSchemaProps{
				Type: "object", XPreserveUnknownFields: &t}
		}
		err = crds.Apply(ctx, c.opts.CRDs, c.log, desired)
	}
	return err
}
