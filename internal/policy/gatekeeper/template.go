package gatekeeper

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portcullis-dev/portcullis/internal/engine"
)

// template is a compiled ConstraintTemplate. It is immutable and shared by
// the constraints of its kind.
type template struct {
	name string
	// kind is spec.crd.spec.names.kind, the kind of its constraints. It is
	// set even when the template is broken, so that its constraints report
	// the template's problem rather than a missing template.
	kind string
	root *field.Path
	// broken is set when the template did not compile: every constraint of
	// its kind evaluates to an error with this message.
	broken string
	// schema validates constraint parameters; nil when the template
	// declares none.
	schema *paramsSchema
	rego   *regoProgram
	cel    celProgram
	// warnings are problems reported with the template that do not stop
	// it from evaluating: CEL expressions that did not compile.
	warnings field.ErrorList
}

// regoSource is the Rego code of a template, with the paths its parts are
// reported under.
type regoSource struct {
	rego        string
	version     string
	libs        []string
	regoPath    *field.Path
	versionPath *field.Path
	libsPath    *field.Path
}

// compileTemplate decodes, validates and compiles one ConstraintTemplate.
// It always returns a template; one with errors is broken.
func (d *Dialect) compileTemplate(doc engine.Document) (*template, field.ErrorList) {
	root := doc.Root()
	gvk := doc.GVK()
	t := &template{root: root}
	var f fields
	switch gvk.Version {
	case "v1", "v1beta1", "v1alpha1":
	default:
		f.errs = append(f.errs, field.NotSupported(root.Child("apiVersion"), doc.Object["apiVersion"],
			[]string{TemplateGroup + "/v1", TemplateGroup + "/v1beta1", TemplateGroup + "/v1alpha1"}))
	}
	mdPath := root.Child("metadata")
	md := f.object(doc.Object, "metadata", root)
	t.name = f.str(md, "name", mdPath)

	specPath := root.Child("spec")
	spec := f.object(doc.Object, "spec", root)
	crdPath := specPath.Child("crd")
	crdSpecPath := crdPath.Child("spec")
	crdSpec := f.object(f.object(spec, "crd", specPath), "spec", crdPath)
	namesPath := crdSpecPath.Child("names")
	t.kind = f.str(f.object(crdSpec, "names", crdSpecPath), "kind", namesPath)
	switch {
	case t.kind == "":
		f.errs = append(f.errs, field.Required(namesPath.Child("kind"), "the kind of the template's constraints"))
	case !strings.EqualFold(t.name, t.kind):
		f.errs = append(f.errs, field.Invalid(mdPath.Child("name"), t.name,
			fmt.Sprintf("the ConstraintTemplate's name must be the lowercase of its kind %q", strings.ToLower(t.kind))))
	}

	// The parameters schema. Templates before v1 default to a legacy
	// schema, which lets constraints carry parameters it does not describe.
	validationPath := crdSpecPath.Child("validation")
	validation := f.object(crdSpec, "validation", crdSpecPath)
	schemaPath := validationPath.Child("openAPIV3Schema")
	rawSchema := f.object(validation, "openAPIV3Schema", validationPath)
	legacy, set := f.boolean(validation, "legacySchema", validationPath)
	if !set {
		legacy = gvk.Version != "v1"
	}
	schema, serrs := compileParamsSchema(rawSchema, legacy, schemaPath)
	f.errs = append(f.errs, serrs...)
	t.schema = schema

	// The code: exactly one target, with Rego and/or CEL.
	targetsPath := specPath.Child("targets")
	targets := f.list(spec, "targets", specPath)
	var target map[string]any
	switch {
	case len(targets) == 0:
		f.errs = append(f.errs, field.Required(targetsPath, "a template must declare exactly one target"))
	case len(targets) > 1:
		f.errs = append(f.errs, field.TooMany(targetsPath, len(targets), 1))
	default:
		var ok bool
		if target, ok = targets[0].(map[string]any); !ok {
			f.typeError(targetsPath.Index(0), targets[0], "an object")
		}
	}
	targetPath := targetsPath.Index(0)
	if target != nil {
		if name := f.str(target, "target", targetPath); name != AdmissionTarget {
			if name == "" {
				f.errs = append(f.errs, field.Required(targetPath.Child("target"), "must be "+AdmissionTarget))
			} else {
				f.errs = append(f.errs, field.NotSupported(targetPath.Child("target"), name, []string{AdmissionTarget}))
			}
		}
		d.compileCode(t, target, targetPath, schemaPath, rawSchema, &f)
	}
	if len(f.errs) > 0 {
		t.broken = fmt.Sprintf("ConstraintTemplate %s is invalid: %v", t.name, f.errs.ToAggregate())
		t.rego, t.cel = nil, nil
	}
	return t, append(f.errs, t.warnings...)
}

// compileCode picks the engine, as Gatekeeper does (CEL first unless the
// dialect prefers Rego), and compiles the template's code for it.
func (d *Dialect) compileCode(t *template, target map[string]any, targetPath, schemaPath *field.Path, rawSchema map[string]any, f *fields) {
	var regoSrc *regoSource
	var celSrc map[string]any
	var celPath *field.Path
	codePath := targetPath.Child("code")
	for i, e := range f.list(target, "code", targetPath) {
		p := codePath.Index(i)
		entry, ok := e.(map[string]any)
		if !ok {
			f.typeError(p, e, "an object")
			continue
		}
		engineName := f.str(entry, "engine", p)
		srcPath := p.Child("source")
		switch Engine(engineName) {
		case EngineRego:
			if regoSrc != nil {
				f.errs = append(f.errs, field.Duplicate(p.Child("engine"), engineName))
				continue
			}
			src := f.object(entry, "source", p)
			if src == nil {
				f.errs = append(f.errs, field.Required(srcPath, "the Rego source"))
				continue
			}
			code, ok := src["rego"].(string)
			if !ok {
				if _, set := src["rego"]; set {
					f.typeError(srcPath.Child("rego"), src["rego"], "a string")
				} else {
					f.errs = append(f.errs, field.Required(srcPath.Child("rego"), "the Rego module with the violation rule"))
				}
				continue
			}
			regoSrc = &regoSource{
				rego:        code,
				version:     f.str(src, "version", srcPath),
				libs:        f.strings(src, "libs", srcPath, false),
				regoPath:    srcPath.Child("rego"),
				versionPath: srcPath.Child("version"),
				libsPath:    srcPath.Child("libs"),
			}
		case EngineCEL:
			if celSrc != nil {
				f.errs = append(f.errs, field.Duplicate(p.Child("engine"), engineName))
				continue
			}
			celSrc = f.object(entry, "source", p)
			celPath = srcPath
			if celSrc == nil {
				f.errs = append(f.errs, field.Required(srcPath, "the K8sNativeValidation source"))
			}
		case "":
			f.errs = append(f.errs, field.Required(p.Child("engine"), "Rego or K8sNativeValidation"))
		default:
			// Gatekeeper ignores engines it has no driver for.
		}
	}
	// The pre-code fields: targets[].rego and targets[].libs.
	if legacy := f.str(target, "rego", targetPath); legacy != "" && regoSrc == nil {
		regoSrc = &regoSource{
			rego:     legacy,
			libs:     f.strings(target, "libs", targetPath, false),
			regoPath: targetPath.Child("rego"),
			libsPath: targetPath.Child("libs"),
		}
	}

	useCEL := celSrc != nil && d.cel != nil && (d.prefer == EngineCEL || regoSrc == nil)
	switch {
	case useCEL:
		prog, errs := d.cel.compile(celSrc, rawSchema, celPath)
		if prog != nil {
			// Expressions that did not compile are reported, and the
			// program still runs, reporting them as errors, as Gatekeeper's
			// driver does.
			t.warnings = append(t.warnings, errs...)
		} else {
			f.errs = append(f.errs, errs...)
		}
		t.cel = prog
	case regoSrc != nil:
		prog, errs := d.compileRego(regoSrc)
		f.errs = append(f.errs, errs...)
		t.rego = prog
	case celSrc != nil:
		f.errs = append(f.errs, field.Invalid(codePath, EngineCEL, "this build has no K8sNativeValidation engine and the template has no Rego"))
	default:
		f.errs = append(f.errs, field.Required(codePath, "code for the Rego or K8sNativeValidation engine"))
	}
}

// violations runs the template's code for one review. It returns the
// messages of the violations and those of evaluation failures, which
// Gatekeeper reports as violations too; err is for failures of the whole
// evaluation. timeout bounds OPA's evaluation when ctx has no earlier
// deadline; CEL has a cost budget of its own.
func (t *template) violations(ctx context.Context, in *review, params *constraintParams, cluster engine.Cluster, timeout time.Duration) (msgs, failures []string, err error) {
	switch {
	case t.rego != nil:
		msgs, err = t.rego.eval(ctx, in, params, cluster, timeout)
		return msgs, nil, err
	case t.cel != nil:
		// CEL is bounded by its cost budget, and by ctx.
		return t.cel.evaluate(ctx, celInput{
			object:    in.req.Object,
			oldObject: in.oldObject,
			params:    params.cel,
			request:   in.request,
			namespace: in.namespaceObject(ctx, cluster),
		})
	}
	return nil, nil, fmt.Errorf("ConstraintTemplate %s has no compiled code", t.name)
}
