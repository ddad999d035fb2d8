package kyverno

import (
	"crypto"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/util/validation/field"
	sigsjson "sigs.k8s.io/json"

	"github.com/portcullis-dev/portcullis/internal/image/signature"
	"github.com/portcullis-dev/portcullis/internal/match"
	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/conditions"
	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/variables"
)

// This file compiles verifyImages rules. Kyverno runs them in its mutating
// webhook, where it verifies the images that match, rewrites their tags to
// the verified digests and records the outcome in the annotations
// kyverno.io/verify-images and kyverno.io/verify-images-scoped; its
// validating webhook then checks verifyDigest and required against those
// annotations. verifyimages_eval.go maps this onto PhaseMutate and
// PhaseValidate. The semantics, defaults and messages follow Kyverno 1.19
// (pkg/engine/internal/imageverifier.go, the cosign verifier of
// pkg/image/verifiers/cpol/cosign and the policy validation of
// api/kyverno/v1/image_verification_types.go); the verification itself is
// the image layer's (internal/image/signature, on sigstore-go).

// Image verification types.
const (
	typeCosign         = "Cosign"
	typeSigstoreBundle = "SigstoreBundle"
	typeNotary         = "Notary"
)

// Kyverno's annotations recording image verification results.
const (
	annotationVerifyImages       = "kyverno.io/verify-images"
	annotationVerifyImagesScoped = "kyverno.io/verify-images-scoped"
)

// Bounds on untrusted policies.
const (
	maxAttestorNesting  = 8
	maxAttestorEntries  = 64
	maxDynamicVerifiers = 64
)

// imageRule is the compiled verifyImages part of a rule.
type imageRule struct {
	checks []*imageCheck
	// extractors are the rule's own image extractors by kind (its
	// imageExtractors); nil when it has none.
	extractors map[string][]extractor
	// hasChecks is set when an entry has verifyDigest or required: only
	// then does the rule run in the validate phase.
	hasChecks bool
	// hasValidation is set when an entry has a validate block, which
	// Kyverno checks, for every entry, after each entry's attestations.
	hasValidation bool
}

// imageCheck is one compiled verifyImages entry.
type imageCheck struct {
	index        int
	bundle       bool
	references   []string
	skip         []string
	mutateDigest bool
	verifyDigest bool
	required     bool
	// hasAuthorities is set when the entry has attestors or attestations;
	// without them Kyverno only resolves digests.
	hasAuthorities bool
	// static holds the authorities when the entry has no variables.
	static *authorities
	// dynamic is the entry with variables, substituted for each request
	// (Kyverno substitutes the whole rule but attestation conditions and
	// validate.deny); its compiled authorities are cached in dynCache.
	dynamic  *variables.Template
	dynCache *authorityCache
	// conditions are the compiled attestation conditions, by attestation,
	// which are never substituted up front.
	conditions [][]*conditions.Block
	// validateDeny and validateMessage are the entry's validate block.
	validateDeny    *condition
	validateMessage *variables.Template
	validateRaw     string
	hasValidation   bool
}

// authorities are the parts of an entry that verify images: the verifiers
// of its attestors and attestations, where to find signatures, and which
// pull secrets to use.
type authorities struct {
	attestors    []*attestorSetCheck
	attestations []*attestationCheck
	secrets      []string
}

// attestorSetCheck is a compiled attestor set: required of its entries must
// verify.
type attestorSetCheck struct {
	required int
	entries  []*attestorCheck
}

// attestorCheck is one compiled attestor.
type attestorCheck struct {
	// subPath is ".keys", ".certificates" or ".keyless", as Kyverno appends
	// to the entry's path in messages; "" for an empty attestor.
	subPath string
	// bundle is set for SigstoreBundle entries.
	bundle bool
	// nested is set for a nested attestor set.
	nested   *attestorSetCheck
	verifier *signature.Verifier
	// keys and secret are set instead of verifier for keys.secret: the
	// key is read from the Secret when images are verified.
	keys   *signature.KeyRef
	secret *secretKey
	// identity is Kyverno's keyless subject and issuer check, applied to
	// the signatures the verifier trusts (Cosign type only: for
	// SigstoreBundle the verifier checks the identity itself).
	identity    *identityMatch
	annotations map[string]string
}

// attestationCheck is a compiled attestation.
type attestationCheck struct {
	name      string
	typ       string
	attestors []*attestorSetCheck
}

// identityMatch is Kyverno's keyless identity check of cosign signatures:
// subject and issuer are wildcards, the regular expressions are searched
// anywhere in the value.
type identityMatch struct {
	subject, issuer     string
	subjectRE, issuerRE *regexp.Regexp
	subjectRaw          string
	issuerRaw           string
}

// authorityCache holds the compiled authorities of entries with variables,
// by their substituted JSON. It is bounded: when full it is emptied.
type authorityCache struct {
	mu sync.Mutex
	m  map[string]*authorities
}

func (c *authorityCache) get(key string) (*authorities, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.m[key]
	return a, ok
}

func (c *authorityCache) put(key string, a *authorities) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxDynamicVerifiers {
		c.m = map[string]*authorities{}
	}
	c.m[key] = a
}

// compileVerifyImages compiles the verifyImages entries of rule r into cr,
// with Kyverno's policy validation of them.
func (d *Dialect) compileVerifyImages(pd *policyDoc, r rule, cr *compiledRule, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	ir := &imageRule{}
	cr.images = ir

	// The rule's failure action, as Kyverno resolves it for verifyImages
	// rules: an entry that enforces, else the first entry that sets one,
	// else the policy's overrides and action.
	var explicit *string
	for i := range r.VerifyImages {
		if a := r.VerifyImages[i].FailureAction; a != nil {
			if strings.EqualFold(*a, "Enforce") {
				explicit = a
				break
			}
			if explicit == nil {
				explicit = a
			}
		}
	}
	if explicit != nil {
		cr.action = actionOf(*explicit)
	} else {
		cr.action = actionOf(pd.Spec.ValidationFailureAction)
		for i, o := range pd.Spec.ValidationFailureActionOverrides {
			sel, err := match.CompileSelector(o.NamespaceSelector)
			if err != nil {
				errs = append(errs, field.Invalid(path.Root().Child("spec", "validationFailureActionOverrides").Index(i).Child("namespaceSelector"), nil, err.Error()))
			}
			cr.overrides = append(cr.overrides, override{action: actionOf(o.Action), namespaces: o.Namespaces, selector: sel})
		}
	}

	anyMutateDigest := false
	for i := range r.VerifyImages {
		ivPath := path.Child("verifyImages").Index(i)
		iv := convertImageVerification(r.VerifyImages[i])
		// Kyverno checks mutateDigest against the policy's action, unless
		// the entry sets its own.
		audit := !strings.EqualFold(pd.Spec.ValidationFailureAction, "Enforce")
		if a := iv.FailureAction; a != nil {
			if !validAction(*a) {
				errs = append(errs, field.NotSupported(ivPath.Child("failureAction"), *a, []string{"Audit", "Enforce"}))
			}
			audit = !strings.EqualFold(*a, "Enforce")
		}
		ic, cerrs := d.compileImageCheck(iv, i, ivPath, audit)
		errs = append(errs, cerrs...)
		ir.checks = append(ir.checks, ic)
		if ic.verifyDigest || ic.required {
			ir.hasChecks = true
		}
		if ic.hasValidation {
			ir.hasValidation = true
		}
		if ic.mutateDigest {
			anyMutateDigest = true
		}
	}

	if len(r.ImageExtractors) > 0 {
		var eerrs field.ErrorList
		ir.extractors, eerrs = compileExtractors(r.ImageExtractors, path.Child("imageExtractors"))
		errs = append(errs, eerrs...)
		if anyMutateDigest {
			for _, list := range ir.extractors {
				for _, e := range list {
					if e.jmesPath != "" {
						errs = append(errs, field.Invalid(path.Child("imageExtractors"), nil, "jmespath may not be used in an image extractor when mutating digests with verify images"))
						return errs
					}
				}
			}
		}
	}
	return errs
}

// convertImageVerification moves the deprecated top-level image, key,
// issuer, subject, roots and annotations into imageReferences and an
// attestor, as Kyverno's ImageVerification.Convert does.
func convertImageVerification(iv imageVerification) imageVerification {
	if iv.Image == "" && iv.Key == "" && iv.Issuer == "" {
		return iv
	}
	out := iv
	out.ImageReferences = append([]string(nil), iv.ImageReferences...)
	if iv.Image != "" {
		out.ImageReferences = append(out.ImageReferences, iv.Image)
	}
	out.Image, out.Issuer, out.Subject, out.Roots = "", "", "", ""
	if len(iv.Annotations) > 0 || iv.Key != "" || iv.Issuer != "" {
		a := attestor{Annotations: iv.Annotations}
		if iv.Key != "" {
			a.Keys = &staticKeyAttestor{PublicKeys: iv.Key}
		} else if iv.Issuer != "" {
			a.Keyless = &keylessAttestor{Issuer: iv.Issuer, Subject: iv.Subject, Roots: iv.Roots}
		}
		set := attestorSet{Entries: []attestor{a}}
		if len(iv.Attestations) > 0 {
			out.Attestations = make([]attestation, len(iv.Attestations))
			for i, at := range iv.Attestations {
				at.Attestors = append(append([]attestorSet(nil), at.Attestors...), set)
				out.Attestations[i] = at
			}
		} else {
			out.Attestors = append(append([]attestorSet(nil), iv.Attestors...), set)
		}
	}
	out.Key = ""
	return out
}

func (d *Dialect) compileImageCheck(iv imageVerification, index int, path *field.Path, audit bool) (*imageCheck, field.ErrorList) {
	var errs field.ErrorList
	ic := &imageCheck{
		index:        index,
		references:   iv.ImageReferences,
		skip:         iv.SkipImageReferences,
		mutateDigest: boolOr(iv.MutateDigest, true),
		verifyDigest: boolOr(iv.VerifyDigest, true),
		required:     boolOr(iv.Required, true),
	}
	switch iv.Type {
	case "", typeCosign:
	case typeSigstoreBundle:
		ic.bundle = true
	case typeNotary:
		errs = append(errs, field.Invalid(path.Child("type"), iv.Type, "Notary signatures are not supported: use Cosign or SigstoreBundle"))
	default:
		errs = append(errs, field.NotSupported(path.Child("type"), iv.Type, []string{typeCosign, typeSigstoreBundle, typeNotary}))
	}
	if audit && ic.mutateDigest {
		errs = append(errs, field.Invalid(path.Child("mutateDigest"), true, "mutateDigest must be set to false for ‘Audit’ failure action"))
	}
	if len(iv.ImageReferences) == 0 {
		errs = append(errs, field.Invalid(path, nil, "An image reference is required"))
	}
	for i, ref := range iv.ImageReferences {
		if strings.Contains(ref, "{{") {
			errs = append(errs, field.Invalid(path.Child("imageReferences").Index(i), ref, "variables are not allowed in image reference"))
		}
	}
	ic.hasAuthorities = len(iv.Attestors) > 0 || len(iv.Attestations) > 0

	// Attestation conditions are compiled once and never substituted with
	// the rest of the entry.
	for i, at := range iv.Attestations {
		var blocks []*conditions.Block
		for j, c := range at.Conditions {
			b, cerrs := conditions.Compile(c, path.Child("attestations").Index(i).Child("conditions").Index(j))
			errs = append(errs, cerrs...)
			blocks = append(blocks, b)
		}
		ic.conditions = append(ic.conditions, blocks)
	}
	if v := iv.Validation; v != nil && (v.Message != "" || v.Deny != nil) {
		ic.hasValidation = true
		ic.validateRaw = v.Message
		if v.Message != "" {
			t, err := variables.Compile(v.Message, d.jp)
			if err != nil {
				errs = append(errs, field.Invalid(path.Child("validate", "message"), v.Message, err.Error()))
			}
			ic.validateMessage = t
		}
		if v.Deny != nil {
			var cerrs field.ErrorList
			ic.validateDeny, cerrs = d.compileCondition(v.Deny.Conditions, path.Child("validate", "deny", "conditions"))
			errs = append(errs, cerrs...)
		}
	}

	// The authorities: compiled now unless they hold variables.
	verrs := validateAuthorities(iv, path)
	errs = append(errs, verrs...)
	dyn, err := authoritiesTemplate(iv, d)
	if err != nil {
		errs = append(errs, field.Invalid(path, nil, err.Error()))
	}
	if dyn != nil {
		ic.dynamic = dyn
		ic.dynCache = &authorityCache{}
		return ic, errs
	}
	if len(verrs) == 0 {
		a, aerrs := d.compileAuthorities(iv, ic.bundle, path)
		errs = append(errs, aerrs...)
		ic.static = a
	}
	return ic, errs
}

func boolOr(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

// authoritiesTemplate returns the template of the entry's authorities when
// they hold variables, and nil when they do not.
func authoritiesTemplate(iv imageVerification, d *Dialect) (*variables.Template, error) {
	doc, err := authoritiesDoc(iv)
	if err != nil {
		return nil, err
	}
	t, err := variables.Compile(doc, d.jp)
	if err != nil {
		return nil, err
	}
	if !t.HasVariables() {
		return nil, nil
	}
	return t, nil
}

// authoritiesDoc renders the parts of an entry that variables may change as
// unstructured JSON, without the attestation conditions and the validate
// block, which Kyverno does not substitute up front.
func authoritiesDoc(iv imageVerification) (map[string]any, error) {
	iv.Validation = nil
	iv.Attestations = append([]attestation(nil), iv.Attestations...)
	for i := range iv.Attestations {
		iv.Attestations[i].Conditions = nil
	}
	b, err := json.Marshal(iv)
	if err != nil {
		return nil, err
	}
	v, err := fromJSON(b)
	if err != nil {
		return nil, err
	}
	m, _ := v.(map[string]any)
	return m, nil
}

// validateAuthorities checks the attestors and attestations as Kyverno's
// policy validation does, with its messages.
func validateAuthorities(iv imageVerification, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, at := range iv.Attestations {
		ap := path.Child("attestations").Index(i)
		for j := range at.Attestors {
			errs = append(errs, validateAttestorSet(&at.Attestors[j], ap.Child("attestors").Index(j), 0)...)
			for k, e := range at.Attestors[j].Entries {
				if e.Attestor != nil {
					errs = append(errs, field.Invalid(ap.Child("attestors").Index(j).Child("entries").Index(k).Child("attestor"), nil, "nested attestors are not supported in attestations"))
				}
			}
		}
	}
	for i := range iv.Attestors {
		errs = append(errs, validateAttestorSet(&iv.Attestors[i], path.Child("attestors").Index(i), 0)...)
	}
	return errs
}

func validateAttestorSet(as *attestorSet, path *field.Path, depth int) field.ErrorList {
	var errs field.ErrorList
	if depth >= maxAttestorNesting {
		return field.ErrorList{field.TooMany(path, depth+1, maxAttestorNesting)}
	}
	if as.Count != nil {
		if *as.Count < 1 {
			errs = append(errs, field.Invalid(path.Child("count"), *as.Count, "should be greater than or equal to 1"))
		}
		if *as.Count > len(as.Entries) {
			errs = append(errs, field.Invalid(path, nil, "Count cannot exceed length of entries"))
		}
	}
	if len(as.Entries) == 0 {
		errs = append(errs, field.Invalid(path, nil, "An entry is required"))
	}
	if len(as.Entries) > maxAttestorEntries {
		errs = append(errs, field.TooMany(path.Child("entries"), len(as.Entries), maxAttestorEntries))
		return errs
	}
	for i := range as.Entries {
		errs = append(errs, validateAttestor(&as.Entries[i], path.Child("entries").Index(i), depth)...)
	}
	return errs
}

func validateAttestor(a *attestor, path *field.Path, depth int) field.ErrorList {
	var errs field.ErrorList
	kinds := 0
	for _, set := range []bool{a.Keys != nil, a.Certificates != nil, a.Keyless != nil, a.Attestor != nil} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		errs = append(errs, field.Invalid(path, nil, "keys, certificates, keyless, or a nested attestor is required"))
	}
	if k := a.Keys; k != nil {
		kp := path.Child("keys")
		if k.PublicKeys == "" && k.KMS == "" && k.Secret == nil {
			errs = append(errs, field.Invalid(kp, nil, "A public key, kms key or secret is required"))
		}
		if k.PublicKeys != "" || k.Secret != nil {
			switch k.SignatureAlgorithm {
			case "", "sha256", "sha384", "sha512":
			case "sha224":
				errs = append(errs, field.NotSupported(kp.Child("signatureAlgorithm"), k.SignatureAlgorithm, []string{"sha256", "sha384", "sha512"}))
			default:
				errs = append(errs, field.Invalid(kp, nil, "Invalid signature algorithm provided"))
			}
		}
		if k.KMS != "" {
			errs = append(errs, field.Invalid(kp.Child("kms"), k.KMS, "KMS keys are not supported: give the public key in publicKeys"))
		}
		if k.Secret != nil && k.PublicKeys == "" {
			if k.Secret.Name == "" {
				errs = append(errs, field.Required(kp.Child("secret", "name"), ""))
			}
			if k.Secret.Namespace == "" {
				errs = append(errs, field.Required(kp.Child("secret", "namespace"), ""))
			}
		}
		errs = append(errs, validateCTLog(k.CTLog, kp.Child("ctlog"))...)
	}
	if c := a.Certificates; c != nil {
		cp := path.Child("certificates")
		if c.Certificate == "" && c.CertificateChain == "" {
			errs = append(errs, field.Invalid(cp, nil, "cert or certChain required"))
		}
		errs = append(errs, validateCTLog(c.CTLog, cp.Child("ctlog"))...)
	}
	if k := a.Keyless; k != nil {
		kp := path.Child("keyless")
		if k.Rekor == nil && k.Roots == "" {
			errs = append(errs, field.Invalid(kp, nil, "Either Rekor URL or roots are required"))
		}
		if k.Rekor != nil && k.Rekor.URL == "" {
			errs = append(errs, field.Invalid(kp, nil, "An URL is required"))
		}
		if len(k.AdditionalExtensions) > 0 {
			errs = append(errs, field.Invalid(kp.Child("additionalExtensions"), nil, "certificate extensions other than the issuer are not supported"))
		}
		for _, re := range []struct{ name, expr string }{{"subjectRegExp", k.SubjectRegExp}, {"issuerRegExp", k.IssuerRegExp}} {
			if re.expr == "" || strings.Contains(re.expr, "{{") {
				continue
			}
			if _, err := regexp.Compile(re.expr); err != nil {
				errs = append(errs, field.Invalid(kp.Child(re.name), re.expr, err.Error()))
			}
		}
		errs = append(errs, validateCTLog(k.CTLog, kp.Child("ctlog"))...)
	}
	if a.Attestor != nil {
		ap := path.Child("attestor")
		nested, err := nestedAttestorSet(a.Attestor)
		if err != nil {
			errs = append(errs, field.Invalid(ap, nil, err.Error()))
		} else {
			errs = append(errs, validateAttestorSet(nested, ap, depth+1)...)
		}
	}
	return errs
}

func validateCTLog(c *ctlog, path *field.Path) field.ErrorList {
	if c != nil && c.TSACertChain != "" {
		return field.ErrorList{field.Invalid(path.Child("tsaCertChain"), nil, "RFC 3161 timestamp authorities must come from the trust root, not the policy")}
	}
	return nil
}

// nestedAttestorSet strictly decodes a nested attestor set.
func nestedAttestorSet(raw any) (*attestorSet, error) {
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, fmt.Errorf("failed to unmarshal attestor set %s: %w", b, err)
	}
	var as attestorSet
	strict, err := sigsjson.UnmarshalStrict(b, &as, sigsjson.DisallowUnknownFields)
	if err != nil {
		return nil, fmt.Errorf("failed to unmarshal attestor set %s: %w", b, err)
	}
	if len(strict) > 0 {
		return nil, fmt.Errorf("failed to unmarshal attestor set %s: %w", b, strict[0])
	}
	return &as, nil
}

// compileAuthorities builds the verifiers of an entry's attestors and
// attestations, once per policy (or once per substituted entry).
func (d *Dialect) compileAuthorities(iv imageVerification, bundle bool, path *field.Path) (*authorities, field.ErrorList) {
	var errs field.ErrorList
	a := &authorities{}
	if c := iv.ImageRegistryCredentials; c != nil {
		a.secrets = c.Secrets
	}
	for i := range iv.Attestors {
		set, serrs := d.compileAttestorSet(iv.Attestors[i], iv, bundle, path.Child("attestors").Index(i), 0, true)
		errs = append(errs, serrs...)
		a.attestors = append(a.attestors, set)
	}
	for i, at := range iv.Attestations {
		ap := path.Child("attestations").Index(i)
		typ := at.Type
		if typ == "" {
			typ = at.PredicateType
		}
		ac := &attestationCheck{name: at.Name, typ: typ}
		sets := at.Attestors
		if len(sets) == 0 {
			// Kyverno checks an attestation without attestors with one
			// empty attestor: any keyless signer the trust root accepts.
			sets = []attestorSet{{Entries: []attestor{{}}}}
		}
		for j := range sets {
			set, serrs := d.compileAttestorSet(sets[j], iv, bundle, ap.Child("attestors").Index(j), 0, false)
			errs = append(errs, serrs...)
			ac.attestors = append(ac.attestors, set)
		}
		a.attestations = append(a.attestations, ac)
	}
	return a, errs
}

// compileAttestorSet compiles one attestor set. For the attestors of the
// image (expand set), an entry with several public keys becomes one entry
// per key and the count applies across them, as in Kyverno.
func (d *Dialect) compileAttestorSet(as attestorSet, iv imageVerification, bundle bool, path *field.Path, depth int, expand bool) (*attestorSetCheck, field.ErrorList) {
	var errs field.ErrorList
	entries := as.Entries
	if expand {
		entries = expandStaticKeys(entries)
	}
	out := &attestorSetCheck{required: len(entries)}
	if as.Count != nil && *as.Count > 0 {
		out.required = *as.Count
	}
	for i, e := range entries {
		ep := path.Child("entries").Index(i)
		if e.Attestor != nil {
			if depth >= maxAttestorNesting || !expand {
				// Validation rejects these; an entry without a verifier
				// never verifies.
				out.entries = append(out.entries, &attestorCheck{})
				continue
			}
			nested, err := nestedAttestorSet(e.Attestor)
			if err != nil {
				errs = append(errs, field.Invalid(ep.Child("attestor"), nil, err.Error()))
				out.entries = append(out.entries, &attestorCheck{})
				continue
			}
			set, nerrs := d.compileAttestorSet(*nested, iv, bundle, ep.Child("attestor"), depth+1, expand)
			errs = append(errs, nerrs...)
			out.entries = append(out.entries, &attestorCheck{nested: set})
			continue
		}
		ac, aerrs := d.compileAttestor(e, iv, bundle, ep)
		errs = append(errs, aerrs...)
		out.entries = append(out.entries, ac)
	}
	return out, errs
}

// expandStaticKeys splits entries whose publicKeys hold several PEM keys
// into one entry per key.
func expandStaticKeys(entries []attestor) []attestor {
	out := make([]attestor, 0, len(entries))
	for _, e := range entries {
		if e.Keys != nil {
			keys := strings.SplitAfter(e.Keys.PublicKeys, "-----END PUBLIC KEY-----")
			keys = keys[:len(keys)-1]
			if len(keys) > 1 {
				for _, k := range keys {
					c := e
					kc := *e.Keys
					kc.PublicKeys = k
					c.Keys = &kc
					out = append(out, c)
				}
				continue
			}
		}
		out = append(out, e)
	}
	return out
}

// compileAttestor turns one attestor into a signature.Spec and compiles its
// verifier, with the settings Kyverno's cosign options take from it.
func (d *Dialect) compileAttestor(a attestor, iv imageVerification, bundle bool, path *field.Path) (*attestorCheck, field.ErrorList) {
	ac := &attestorCheck{annotations: iv.Annotations, bundle: bundle}
	if a.Annotations != nil {
		ac.annotations = a.Annotations
	}
	spec := signature.Spec{Format: signature.FormatLegacy, Repository: iv.Repository}
	if a.Repository != "" {
		spec.Repository = a.Repository
	}
	if bundle {
		spec.Format = signature.FormatBundle
	} else if iv.CosignOCI11 {
		spec.Format = signature.FormatAny
	}
	// Kyverno's defaults when an attestor has no rekor or ctlog block: the
	// transparency log and, for certificates, SCTs are required.
	applyRekor := func(r *rekor) {
		spec.RequireTLog = r == nil || !r.IgnoreTlog
		if r != nil {
			spec.RekorPublicKey = r.RekorPubKey
		}
	}
	applyCTLog := func(c *ctlog, sct bool) {
		spec.RequireSCT = sct && !bundle && (c == nil || !c.IgnoreSCT)
		if c != nil {
			spec.CTLogPublicKey = c.CTLogPubKey
		}
	}
	switch {
	case a.Keys != nil:
		ac.subPath = ".keys"
		spec.PublicKeys = a.Keys.PublicKeys
		// keys.signatureAlgorithm replaces the attestor's, as in Kyverno.
		switch a.Keys.SignatureAlgorithm {
		case "sha384":
			spec.HashAlgorithm = crypto.SHA384
		case "sha512":
			spec.HashAlgorithm = crypto.SHA512
		default:
			spec.HashAlgorithm = crypto.SHA256
		}
		applyRekor(a.Keys.Rekor)
		applyCTLog(a.Keys.CTLog, false)
		if a.Keys.PublicKeys == "" && a.Keys.Secret != nil {
			// Kyverno prefers publicKeys, then the Secret.
			ac.secret = &secretKey{namespace: a.Keys.Secret.Namespace, name: a.Keys.Secret.Name, bundle: bundle}
		}
	case a.Certificates != nil:
		ac.subPath = ".certificates"
		if a.Certificates.Certificate != "" {
			spec.Certificate = a.Certificates.Certificate
			spec.CertificateChain = a.Certificates.CertificateChain
		} else {
			// A chain without a certificate holds the roots of keyless
			// certificates, as in Kyverno.
			spec.Roots = a.Certificates.CertificateChain
			spec.Identities = []signature.Identity{anyIdentity()}
		}
		applyRekor(a.Certificates.Rekor)
		applyCTLog(a.Certificates.CTLog, false)
	case a.Keyless != nil:
		ac.subPath = ".keyless"
		k := a.Keyless
		spec.Roots = k.Roots
		if spec.Roots == "" {
			spec.Roots = iv.Roots
		}
		applyRekor(k.Rekor)
		applyCTLog(k.CTLog, true)
		id, match, err := keylessIdentity(k, bundle)
		if err != nil {
			return ac, field.ErrorList{field.Invalid(path.Child("keyless"), nil, err.Error())}
		}
		spec.Identities = []signature.Identity{id}
		ac.identity = match
	default:
		// The empty attestor of an attestation without attestors: any
		// keyless signer of the trust root, without SCTs.
		spec.RequireTLog = true
		spec.Identities = []signature.Identity{anyIdentity()}
	}
	if ac.secret != nil {
		kr, err := signature.NewKeyRef(spec, d.sigOpts)
		if err != nil {
			return ac, field.ErrorList{field.Invalid(path.Child("keys"), nil, err.Error())}
		}
		ac.keys = kr
		return ac, nil
	}
	v, err := signature.New(spec, d.sigOpts)
	if err != nil {
		return ac, field.ErrorList{field.Invalid(path.Child(strings.TrimPrefix(ac.subPath, ".")), nil, err.Error())}
	}
	ac.verifier = v
	return ac, nil
}

// anyIdentity matches every keyless signer. Kyverno's cosign checks verify
// certificates without an identity and then apply its own subject and
// issuer check (identityMatch), whose messages they report.
func anyIdentity() signature.Identity {
	return signature.Identity{SubjectRegExp: ".*"}
}

// keylessIdentity returns the identity the verifier checks and Kyverno's own
// check. For SigstoreBundle, Kyverno hands issuer and subject to
// sigstore-go, which compares them exactly; for Cosign it matches them as
// wildcards after verification.
func keylessIdentity(k *keylessAttestor, bundle bool) (signature.Identity, *identityMatch, error) {
	var subjectRE, issuerRE *regexp.Regexp
	var err error
	if k.SubjectRegExp != "" {
		if subjectRE, err = regexp.Compile(k.SubjectRegExp); err != nil {
			return signature.Identity{}, nil, fmt.Errorf("invalid regexp for subject: %s : %w", k.SubjectRegExp, err)
		}
	}
	if k.IssuerRegExp != "" {
		if issuerRE, err = regexp.Compile(k.IssuerRegExp); err != nil {
			return signature.Identity{}, nil, fmt.Errorf("invalid regexp for issuer: %s : %w", k.IssuerRegExp, err)
		}
	}
	if bundle {
		hasIssuer := k.Issuer != "" || k.IssuerRegExp != ""
		hasSubject := k.Subject != "" || k.SubjectRegExp != ""
		if !hasIssuer || !hasSubject {
			return anyIdentity(), nil, nil
		}
		return signature.Identity{
			Issuer:        k.Issuer,
			IssuerRegExp:  k.IssuerRegExp,
			Subject:       k.Subject,
			SubjectRegExp: k.SubjectRegExp,
		}, nil, nil
	}
	m := &identityMatch{subject: k.Subject, issuer: k.Issuer, subjectRE: subjectRE, issuerRE: issuerRE, subjectRaw: k.SubjectRegExp, issuerRaw: k.IssuerRegExp}
	if m.subject == "" && m.issuer == "" && m.subjectRE == nil && m.issuerRE == nil {
		m = nil
	}
	return anyIdentity(), m, nil
}

// compileExtractors compiles a rule's imageExtractors: for each kind, where
// its images are (a path of fields, "*" for every element) and which field
// names them.
func compileExtractors(cfg map[string][]imageExtractor, path *field.Path) (map[string][]extractor, field.ErrorList) {
	var errs field.ErrorList
	out := map[string][]extractor{}
	for kind, list := range cfg {
		for i, c := range list {
			var fields []string
			for _, f := range strings.Split(c.Path, "/") {
				if f = strings.TrimSpace(f); f != "" {
					fields = append(fields, f)
				}
			}
			value := c.Value
			if value == "" {
				if len(fields) == 0 {
					errs = append(errs, field.Required(path.Key(kind).Index(i).Child("path"), "an image extractor needs a path"))
					continue
				}
				value = fields[len(fields)-1]
				fields = fields[:len(fields)-1]
			}
			name := c.Name
			if name == "" {
				name = "custom"
			}
			out[kind] = append(out[kind], extractor{fields: fields, key: c.Key, value: value, name: name, jmesPath: c.JMESPath})
		}
	}
	return out, errs
}
