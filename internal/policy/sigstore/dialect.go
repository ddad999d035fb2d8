// Package sigstore is the Sigstore policy-controller dialect:
// policy.sigstore.dev ClusterImagePolicy (v1alpha1 and v1beta1) and
// TrustRoot (v1alpha1). Each ClusterImagePolicy compiles once: its image
// globs into regular expressions with policy-controller's normalization,
// each authority into a *signature.Verifier, and its Rego policies into
// prepared OPA queries. Evaluation follows policy-controller's webhook:
// every image of a Pod or pod controller must satisfy every policy whose
// globs match it, one authority of a policy suffices, images that match no
// policy fall under the no-match policy, and denials read as the seed
// walkthroughs print them: a failing policy's message is the image and the
// reasons ("IMAGE@DIGEST REASONS"), an image no policy matches gives
// "no matching policies: spec.containers[0].image"; the policy's name and
// the container paths are in each result's Policy and Rule. Only
// namespaces labelled policy.sigstore.dev/include=true are enforced unless
// WithIncludeAll is given. Keys in Secrets (key.secretRef) are read from
// the namespace WithSecretNamespace names when images are verified. The
// mutating phase resolves image tags to digests.
package sigstore

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/image/signature"
)

// DialectName is the dialect's identifier in results and metrics.
const DialectName = "sigstore"

// The group and kinds of the documents the dialect handles.
const (
	// Group is policy-controller's API group.
	Group = "policy.sigstore.dev"
	// ClusterImagePolicyKind is the kind of image policies.
	ClusterImagePolicyKind = "ClusterImagePolicy"
	// TrustRootKind is the kind of trust roots that authorities reference
	// by trustRootRef.
	TrustRootKind = "TrustRoot"
)

// IncludeLabel is the namespace label that opts a namespace into
// enforcement; its value must be "true".
const IncludeLabel = "policy.sigstore.dev/include"

// ControllerPolicyName names the policy that stands for policy-controller
// itself rather than for one ClusterImagePolicy: it resolves tags to
// digests in the mutating phase, and in the validating phase it reports
// unparsable images, tags that cannot be resolved and images that match no
// policy (the no-match policy).
const ControllerPolicyName = "policy-controller"

// ControllerPolicyKind is the kind in the reference of the controller
// policy.
const ControllerPolicyKind = "PolicyController"

// NoMatchPolicy says what happens to an image that no ClusterImagePolicy
// matches, as policy-controller's no-match-policy setting does.
type NoMatchPolicy string

// The no-match policies.
const (
	// NoMatchDeny denies the request (policy-controller's default).
	NoMatchDeny NoMatchPolicy = "deny"
	// NoMatchWarn admits the request with a warning.
	NoMatchWarn NoMatchPolicy = "warn"
	// NoMatchAllow admits the request silently.
	NoMatchAllow NoMatchPolicy = "allow"
)

// ParseNoMatchPolicy parses a no-match-policy setting: "deny", "warn" or
// "allow".
func ParseNoMatchPolicy(s string) (NoMatchPolicy, error) {
	switch p := NoMatchPolicy(s); p {
	case NoMatchDeny, NoMatchWarn, NoMatchAllow:
		return p, nil
	}
	return "", fmt.Errorf("unknown no-match policy %q: want %q, %q or %q", s, NoMatchDeny, NoMatchWarn, NoMatchAllow)
}

// DefaultEvalTimeout bounds one evaluation of one Rego policy when the
// caller's context has no earlier deadline.
const DefaultEvalTimeout = 5 * time.Second

// Dialect compiles ClusterImagePolicies and TrustRoots. It holds no mutable
// state; one Dialect may compile many sets concurrently.
type Dialect struct {
	sigOpts    signature.Options
	trOpts     []signature.TrustRootOption
	noMatch    NoMatchPolicy
	now        func() time.Time
	includeAll bool
	// secretNamespace is where key.secretRef Secrets are read.
	secretNamespace string
	// standing is WithoutPoliciesEnforced.
	standing bool
	// optErr is an invalid option, reported by every Compile; the dialect
	// then fails closed.
	optErr error
}

var _ engine.Dialect = (*Dialect)(nil)

// Option configures a Dialect.
type Option func(*Dialect)

// WithSignatureOptions sets the options of every authority's verifier: the
// default trust root (used by authorities without a trustRootRef) and the
// cache lifetimes. Its clock defaults to the dialect's.
func WithSignatureOptions(o signature.Options) Option {
	return func(d *Dialect) { d.sigOpts = o }
}

// WithTrustRootOptions sets how TrustRoot objects are read, e.g.
// signature.WithNetworkUnsafe to let spec.remote TrustRoots fetch their TUF
// repository. By default nothing is fetched.
func WithTrustRootOptions(opts ...signature.TrustRootOption) Option {
	return func(d *Dialect) { d.trOpts = append(d.trOpts, opts...) }
}

// WithNoMatchPolicy sets what happens to images that no policy matches;
// the default is NoMatchDeny. An unknown value is reported by Compile and
// denies, as policy-controller fails closed on it.
func WithNoMatchPolicy(p NoMatchPolicy) Option {
	return func(d *Dialect) {
		if _, err := ParseNoMatchPolicy(string(p)); err != nil {
			d.optErr = err
			d.noMatch = NoMatchDeny
			return
		}
		d.optErr = nil
		d.noMatch = p
	}
}

// WithClock sets the clock that Rego's time functions and the signature
// verifiers read. Tests use a fixed clock.
func WithClock(now func() time.Time) Option {
	return func(d *Dialect) {
		if now != nil {
			d.now = now
		}
	}
}

// WithSecretNamespace sets the namespace that key.secretRef Secrets are
// read from: policy-controller reads them from its own namespace, so the
// server passes portcullis's. Without it (the offline commands), an
// authority whose key is in a Secret evaluates to an error.
func WithSecretNamespace(ns string) Option {
	return func(d *Dialect) { d.secretNamespace = ns }
}

// WithIncludeAll enforces policies in every namespace. By default only
// namespaces labelled policy.sigstore.dev/include=true are, as
// policy-controller's webhook namespace selector does.
func WithIncludeAll() Option {
	return func(d *Dialect) { d.includeAll = true }
}

// WithoutPoliciesEnforced makes the dialect enforce its namespaces even
// when there is no ClusterImagePolicy at all, as an installed
// policy-controller does: every image there then meets the no-match
// policy. The server sets it; the offline commands, which enforce every
// namespace, do not, so that they judge Sigstore policies only when given
// some.
func WithoutPoliciesEnforced() Option {
	return func(d *Dialect) { d.standing = true }
}

// CompilesWithoutDocuments implements engine.Standing.
func (d *Dialect) CompilesWithoutDocuments() bool { return d.standing }

// New returns the Sigstore dialect.
func New(opts ...Option) *Dialect {
	d := &Dialect{noMatch: NoMatchDeny, now: time.Now}
	for _, o := range opts {
		o(d)
	}
	if d.sigOpts.Now == nil {
		d.sigOpts.Now = d.now
	}
	return d
}

// Name implements engine.Dialect.
func (d *Dialect) Name() string { return DialectName }

// Handles implements engine.Dialect: ClusterImagePolicy and TrustRoot of
// policy.sigstore.dev. Unsupported versions are reported by Compile.
func (d *Dialect) Handles(gvk schema.GroupVersionKind) bool {
	return gvk.Group == Group && (gvk.Kind == ClusterImagePolicyKind || gvk.Kind == TrustRootKind)
}

// Compile implements engine.Dialect. It receives every ClusterImagePolicy
// and TrustRoot at once, so that trustRootRefs resolve to the TrustRoots of
// the same set. It returns one policy per ClusterImagePolicy, in document
// order, and the controller policy (tag resolution and the no-match
// policy). A ClusterImagePolicy that fails to compile still yields a policy,
// which evaluates to an error for the images it would match.
func (d *Dialect) Compile(docs []engine.Document) ([]engine.Policy, field.ErrorList) {
	var errs field.ErrorList
	if d.optErr != nil {
		errs = append(errs, field.Invalid(field.NewPath("config-policy-controller", "no-match-policy"), string(d.noMatch), d.optErr.Error()))
	}
	roots := map[string]trustRoot{}
	var cipDocs []engine.Document
	for _, doc := range docs {
		gvk := doc.GVK()
		if gvk.Kind != TrustRootKind {
			cipDocs = append(cipDocs, doc)
			continue
		}
		tr, terrs := d.compileTrustRoot(doc)
		errs = append(errs, terrs...)
		if tr.name == "" {
			continue
		}
		if prev, ok := roots[tr.name]; ok {
			errs = append(errs, field.Duplicate(doc.Root().Child("metadata", "name"),
				fmt.Sprintf("%s (also defined by %s)", tr.name, prev.source)))
			continue
		}
		roots[tr.name] = tr
	}

	set := &policySet{}
	ctrl := &controllerPolicy{d: d, set: set}
	policies := make([]engine.Policy, 0, len(cipDocs)+1)
	seen := map[string]string{}
	for _, doc := range cipDocs {
		p, perrs := d.compilePolicy(doc, roots)
		errs = append(errs, perrs...)
		if prev, ok := seen[p.ref.Name]; ok {
			errs = append(errs, field.Duplicate(doc.Root().Child("metadata", "name"),
				fmt.Sprintf("%s (also defined by %s)", p.ref.Name, prev)))
			continue
		}
		seen[p.ref.Name] = doc.String()
		set.policies = append(set.policies, p)
		policies = append(policies, p)
	}
	policies = append(policies, ctrl)
	return policies, errs
}

// policySet is every ClusterImagePolicy of one Compile call: the controller
// policy needs them all to tell which images match none.
type policySet struct {
	policies []*imagePolicy
}
