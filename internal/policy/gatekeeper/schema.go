package gatekeeper

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	"k8s.io/apimachinery/pkg/util/validation/field"
	openapierrors "k8s.io/kube-openapi/pkg/validation/errors"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
)

// paramsSchema is a template's openAPIV3Schema, compiled once: the
// structural schema that finds unknown fields and the validator that checks
// values, as the API server checks a constraint against its CRD.
type paramsSchema struct {
	structural *structuralschema.Structural
	validator  *validate.SchemaValidator
}

// compileParamsSchema compiles the schema of a template's parameters. With
// legacy (the default before templates.gatekeeper.sh/v1), every object and
// untyped level preserves unknown fields, as Gatekeeper's conversion does,
// and a missing schema accepts any parameters. Without legacy, the schema
// must be structural, and a missing schema means no parameters.
func compileParamsSchema(raw map[string]any, legacy bool, p *field.Path) (*paramsSchema, field.ErrorList) {
	if raw == nil && !legacy {
		return nil, nil
	}
	v1 := &apiextensionsv1.JSONSchemaProps{}
	if raw != nil {
		b, err := json.Marshal(raw)
		if err != nil {
			return nil, field.ErrorList{invalid(p, err.Error())}
		}
		if err := json.Unmarshal(b, v1); err != nil {
			return nil, field.ErrorList{invalid(p, fmt.Sprintf("not an OpenAPI v3 schema: %v", err))}
		}
	}
	if legacy {
		preserveUnknownFields(v1)
	}
	internal := &apiextensions.JSONSchemaProps{}
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v1, internal, nil); err != nil {
		return nil, field.ErrorList{invalid(p, err.Error())}
	}
	s, err := structuralschema.NewStructural(internal)
	if err != nil {
		return nil, field.ErrorList{invalid(p, err.Error())}
	}
	if !legacy {
		if errs := validateStructural(s, p); len(errs) > 0 {
			return nil, errs
		}
	}
	return &paramsSchema{
		structural: s,
		validator:  validate.NewSchemaValidator(s.ToKubeOpenAPI(), nil, "", strfmt.Default),
	}, nil
}

// validateStructural checks the schema as the API server checks the schema
// of the constraint CRD, where the parameters are a field of spec; errors
// are reported under p.
func validateStructural(s *structuralschema.Structural, p *field.Path) field.ErrorList {
	wrapper := &structuralschema.Structural{
		Generic:    structuralschema.Generic{Type: "object"},
		Properties: map[string]structuralschema.Structural{"parameters": *s},
	}
	const base = "parameters"
	prefix := field.NewPath(base).Child("properties").Key("parameters").String()
	var out field.ErrorList
	for _, e := range structuralschema.ValidateStructural(field.NewPath(base), wrapper) {
		rest := strings.TrimPrefix(e.Field, prefix)
		e2 := *e
		e2.Field = p.String() + rest
		out = append(out, &e2)
	}
	return out
}

// preserveUnknownFields marks every object and untyped level of s with
// x-kubernetes-preserve-unknown-fields, and gives arrays without items an
// item schema that preserves anything.
func preserveUnknownFields(s *apiextensionsv1.JSONSchemaProps) {
	yes := true
	if (s.Type == "" || s.Type == "object") && s.XPreserveUnknownFields == nil {
		s.XPreserveUnknownFields = &yes
	}
	for k, v := range s.Properties {
		preserveUnknownFields(&v)
		s.Properties[k] = v
	}
	if s.Type == "array" && (s.Items == nil || (s.Items.Schema == nil && len(s.Items.JSONSchemas) == 0)) {
		s.Items = &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &apiextensionsv1.JSONSchemaProps{XPreserveUnknownFields: &yes}}
	}
	if s.Items != nil {
		if s.Items.Schema != nil {
			preserveUnknownFields(s.Items.Schema)
		}
		for i := range s.Items.JSONSchemas {
			preserveUnknownFields(&s.Items.JSONSchemas[i])
		}
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		preserveUnknownFields(s.AdditionalProperties.Schema)
	}
}

// validate checks parameters against the schema: values first, then fields
// the schema does not know. Errors are reported under p.
func (s *paramsSchema) validate(params any, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	res := s.validator.Validate(params)
	for _, e := range res.Errors {
		errs = append(errs, openAPIError(e, p))
	}
	if len(errs) > 0 {
		// The validator walks maps: sort for a stable order.
		sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
		return errs
	}
	unknown := pruning.PruneWithOptions(deepCopy(params), s.structural, false,
		structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	sort.Strings(unknown)
	for _, u := range unknown {
		errs = append(errs, field.Forbidden(childPath(p, u), "unknown field"))
	}
	return errs
}

// openAPIError turns a kube-openapi validation error into a field error at
// its path below p.
func openAPIError(err error, p *field.Path) *field.Error {
	ve, ok := err.(*openapierrors.Validation)
	if !ok {
		return invalid(p, err.Error())
	}
	path := p
	if name := strings.TrimPrefix(ve.Name, "."); name != "" {
		path = childPath(p, name)
	}
	switch ve.Code() {
	case openapierrors.RequiredFailCode:
		return field.Required(path, "")
	case openapierrors.EnumFailCode:
		var values []string
		for _, v := range ve.Values {
			if s, ok := v.(string); ok {
				values = append(values, s)
				continue
			}
			b, _ := json.Marshal(v)
			values = append(values, string(b))
		}
		return field.NotSupported(path, ve.Value, values)
	case openapierrors.InvalidTypeCode:
		return field.TypeInvalid(path, ve.Value, ve.Error())
	}
	return field.Invalid(path, ve.Value, ve.Error())
}

// childPath appends a dotted path with [i] indexes, as the validators write
// them, to p.
func childPath(p *field.Path, dotted string) *field.Path {
	for _, part := range strings.Split(dotted, ".") {
		name, rest, _ := strings.Cut(part, "[")
		if name != "" {
			p = p.Child(name)
		}
		for rest != "" {
			idx, after, _ := strings.Cut(rest, "]")
			var i int
			if _, err := fmt.Sscanf(idx, "%d", &i); err == nil {
				p = p.Index(i)
			} else {
				p = p.Key(idx)
			}
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return p
}

// deepCopy copies a JSON value, so that pruning does not change the
// constraint.
func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(t))
		for i, e := range t {
			l[i] = deepCopy(e)
		}
		return l
	default:
		return v
	}
}
