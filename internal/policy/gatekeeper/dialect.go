// Package gatekeeper is the Gatekeeper dialect: templates.gatekeeper.sh
// ConstraintTemplates (v1, v1beta1, v1alpha1) with Rego or
// K8sNativeValidation (CEL) code, and the constraints of group
// constraints.gatekeeper.sh that instantiate them. Every template compiles
// once, into a prepared OPA query or a CEL program (package k8scel); every
// constraint compiles its match criteria, enforcement action and parameters
// once. Evaluation builds Gatekeeper's input (input.review, input.parameters,
// data.inventory) and reports one result per violation, with Gatekeeper's
// messages. Rego runs on OPA's evaluator (the v1 Go SDK).
package gatekeeper

import (
	"fmt"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portcullis-dev/portcullis/internal/engine"
)

// DialectName is the dialect's identifier in results and metrics.
const DialectName = "gatekeeper"

// The API groups of the documents the dialect handles.
const (
	// TemplateGroup is the group of ConstraintTemplates.
	TemplateGroup = "templates.gatekeeper.sh"
	// ConstraintGroup is the group of every constraint kind.
	ConstraintGroup = "constraints.gatekeeper.sh"
	// TemplateKind is the kind of ConstraintTemplates.
	TemplateKind = "ConstraintTemplate"
	// AdmissionTarget is the only target Gatekeeper templates may declare.
	AdmissionTarget = "admission.k8s.gatekeeper.sh"
)

// Engine names a code engine of a template, as templates spell it in
// spec.targets[].code[].engine.
type Engine string

// The engines a template may carry.
const (
	// EngineRego is OPA's Rego.
	EngineRego Engine = "Rego"
	// EngineCEL is Kubernetes' ValidatingAdmissionPolicy-style CEL.
	EngineCEL Engine = "K8sNativeValidation"
)

// Enforcement points, as scopedEnforcementActions name them.
const (
	// EnforcementPointValidation is Gatekeeper's validating webhook.
	EnforcementPointValidation = "validation.gatekeeper.sh"
	// EnforcementPointAudit is Gatekeeper's audit of existing objects.
	EnforcementPointAudit = "audit.gatekeeper.sh"
	// EnforcementPointGator is the gator CLI.
	EnforcementPointGator = "gator.gatekeeper.sh"
	// EnforcementPointVAP is the API server's ValidatingAdmissionPolicy.
	EnforcementPointVAP = "vap.k8s.io"
)

// DefaultEvalTimeout bounds one evaluation of one constraint on OPA's
// evaluator when the caller's context has no deadline of its own. CEL
// bounds its cost.
const DefaultEvalTimeout = 5 * time.Second

// Dialect compiles Gatekeeper templates and constraints. It holds no
// mutable state; one Dialect may compile many sets concurrently.
type Dialect struct {
	prefer Engine
	// point is the enforcement point evaluations stand for; empty means the
	// validating webhook for admission requests and audit for background
	// ones.
	point       string
	evalTimeout time.Duration
	// capabilities are the Rego builtins templates may call: OPA's, without
	// the network ones, with external_data.
	capabilities *ast.Capabilities
	// cel compiles K8sNativeValidation code; nil when no CEL engine is
	// available.
	cel celCompiler
}

var _ engine.Dialect = (*Dialect)(nil)

// Option configures a Dialect. An invalid option makes New fail.
type Option func(*Dialect) error

// WithEngine selects the engine used for templates that carry code for both
// engines. The default, as in Gatekeeper, is EngineCEL; EngineRego runs the
// Rego instead. Templates with code for one engine only always use it.
func WithEngine(e Engine) Option {
	return func(d *Dialect) error {
		switch e {
		case EngineRego, EngineCEL:
			d.prefer = e
			return nil
		}
		return fmt.Errorf("unknown engine %q: want %q or %q", e, EngineRego, EngineCEL)
	}
}

// WithEnforcementPoint fixes the enforcement point every evaluation stands
// for, which selects the actions of constraints with enforcementAction
// "scoped". By default admission requests are evaluated for
// EnforcementPointValidation and background requests (Request.Background)
// for EnforcementPointAudit; the gator suite runner uses
// EnforcementPointGator.
func WithEnforcementPoint(point string) Option {
	return func(d *Dialect) error {
		switch point {
		case EnforcementPointValidation, EnforcementPointAudit, EnforcementPointGator:
			d.point = point
			return nil
		}
		return fmt.Errorf("unknown enforcement point %q", point)
	}
}

// WithEvalTimeout bounds one evaluation of one constraint when the caller's
// context has no earlier deadline. Zero disables the bound; the default is
// DefaultEvalTimeout.
func WithEvalTimeout(d time.Duration) Option {
	return func(dl *Dialect) error {
		if d < 0 {
			return fmt.Errorf("negative evaluation timeout %v", d)
		}
		dl.evalTimeout = d
		return nil
	}
}

// New returns the Gatekeeper dialect.
func New(opts ...Option) (*Dialect, error) {
	d := &Dialect{prefer: EngineCEL, evalTimeout: DefaultEvalTimeout, cel: defaultCEL()}
	for _, o := range opts {
		if err := o(d); err != nil {
			return nil, fmt.Errorf("failed to configure the Gatekeeper dialect: %w", err)
		}
	}
	d.capabilities = regoCapabilities()
	return d, nil
}

// Name implements engine.Dialect.
func (d *Dialect) Name() string { return DialectName }

// Handles implements engine.Dialect: ConstraintTemplates and every kind of
// the constraints group. Unsupported versions are reported by Compile.
func (d *Dialect) Handles(gvk schema.GroupVersionKind) bool {
	return (gvk.Group == TemplateGroup && gvk.Kind == TemplateKind) || gvk.Group == ConstraintGroup
}

// Compile implements engine.Dialect. It receives every template and
// constraint at once and binds constraints to templates by kind. It returns
// one policy per constraint, in the order of the documents; templates
// without constraints yield no policy, but their problems are reported.
// Every constraint yields a policy, even when it or its template failed to
// compile: such a policy evaluates to an error.
func (d *Dialect) Compile(docs []engine.Document) ([]engine.Policy, field.ErrorList) {
	var errs field.ErrorList
	templates := map[string]*template{}
	var constraintDocs []engine.Document
	for _, doc := range docs {
		gvk := doc.GVK()
		if gvk.Group != TemplateGroup {
			constraintDocs = append(constraintDocs, doc)
			continue
		}
		t, terrs := d.compileTemplate(doc)
		errs = append(errs, terrs...)
		if t.kind == "" {
			continue
		}
		if prev, ok := templates[t.kind]; ok {
			errs = append(errs, field.Duplicate(doc.Root().Child("spec", "crd", "spec", "names", "kind"),
				fmt.Sprintf("%s (also defined by %s)", t.kind, prev.root)))
			continue
		}
		templates[t.kind] = t
	}
	policies := make([]engine.Policy, 0, len(constraintDocs))
	seen := map[string]string{}
	for _, doc := range constraintDocs {
		c, cerrs := d.compileConstraint(doc, templates)
		errs = append(errs, cerrs...)
		key := c.ref.Kind + "/" + c.ref.Name
		if prev, ok := seen[key]; ok {
			errs = append(errs, field.Duplicate(doc.Root().Child("metadata", "name"),
				fmt.Sprintf("%s (also defined by %s)", c.ref.Name, prev)))
			continue
		}
		seen[key] = doc.String()
		policies = append(policies, c)
	}
	return policies, errs
}
