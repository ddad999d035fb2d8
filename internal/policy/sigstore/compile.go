package sigstore

import (
	"crypto"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/sigstore-go/pkg/root"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/image/signature"
)

// Policy-controller's vocabularies.
var (
	validModes             = []string{"enforce", "warn"}
	validStaticActions     = []string{"fail", "pass"}
	validSignatureFormats  = []string{"legacy", "bundle"}
	validPolicyTypes       = []string{"cue", "rego"}
	validHashAlgorithms    = []string{"sha224", "sha256", "sha384", "sha512"}
	validShortPredicates   = []string{"custom", "slsaprovenance", "spdx", "spdxjson", "cyclonedx", "link", "vuln"}
	validMatchResources    = []string{"replicasets", "deployments", "pods", "cronjobs", "jobs", "statefulsets", "daemonsets"}
	supportedCIPVersions   = []string{Group + "/v1alpha1", Group + "/v1beta1"}
	maxAuthoritiesPerCIP   = 64
	maxAttestationsPerAuth = 64
)

// imagePolicy is a compiled ClusterImagePolicy.
type imagePolicy struct {
	d   *Dialect
	ref engine.PolicyRef
	// globs are the compiled image globs; a nil entry is a glob that
	// failed to compile.
	globs       []*regexp.Regexp
	match       []resourceMatch
	authorities []*authority
	// policy is the ClusterImagePolicy-level policy, if any.
	policy            evaluator
	fetchConfig       bool
	includeSpec       bool
	includeObjectMeta bool
	includeTypeMeta   bool
	warn              bool
	// compileErr is set when the policy failed to compile: it then
	// evaluates to an error for every image it may match.
	compileErr string
}

// resourceMatch is one entry of spec.match.
type resourceMatch struct {
	group, version, resource string
	selector                 labels.Selector
}

// authorityType selects the wording of an authority's failures.
type authorityType int

const (
	authorityStatic authorityType = iota
	authorityKey
	authorityKeyless
	authorityTSA
)

// authority is a compiled authority.
type authority struct {
	name string
	typ  authorityType
	// staticFail and staticMessage are a static authority's action.
	staticFail    bool
	staticMessage string
	// sources are where signatures are read: the image's own repository,
	// or each of the authority's sources, first that verifies wins.
	sources      []signatureSource
	attestations []attestationCheck
}

// signatureSource is a verifier for one place signatures are read from:
// the image's repository or a source repository, with the pull secrets (in
// the workload's namespace) of a source.
type signatureSource struct {
	repository string
	secrets    []string
	// verifier verifies with the authority's inline key or identities;
	// keys is set instead for a key in a Secret.
	verifier *signature.Verifier
	keys     *signature.KeyRef
	secret   *secretKey
}

// attestationCheck is one of an authority's attestations.
type attestationCheck struct {
	name, predicateType string
	policy              evaluator
}

// compilePolicy compiles one ClusterImagePolicy. It always returns a
// policy; when the document has problems, the policy evaluates to errors
// and the problems are returned.
func (d *Dialect) compilePolicy(doc engine.Document, roots map[string]trustRoot) (*imagePolicy, field.ErrorList) {
	_, docName := doc.Name()
	p := &imagePolicy{d: d, ref: engine.PolicyRef{Dialect: DialectName, Kind: ClusterImagePolicyKind, Name: docName}}
	errs := d.compileInto(p, doc, roots)
	if len(errs) > 0 {
		p.compileErr = errs[0].Error()
		if len(errs) > 1 {
			p.compileErr += fmt.Sprintf(" (and %d more problems)", len(errs)-1)
		}
	}
	return p, errs
}

func (d *Dialect) compileInto(p *imagePolicy, doc engine.Document, roots map[string]trustRoot) field.ErrorList {
	root := doc.Root()
	var errs field.ErrorList
	if v := doc.GVK().Version; v != "v1alpha1" && v != "v1beta1" {
		return append(errs, field.NotSupported(root.Child("apiVersion"), Group+"/"+v, supportedCIPVersions))
	}
	if p.ref.Name == "" {
		errs = append(errs, field.Required(root.Child("metadata", "name"), ""))
	}
	c, derrs := decode(doc)
	errs = append(errs, derrs...)
	if c == nil {
		return errs
	}
	alpha := doc.GVK().Version == "v1alpha1"
	spec := root.Child("spec")

	// Images.
	if len(c.Spec.Images) == 0 {
		errs = append(errs, field.Required(spec.Child("images"), ""))
	}
	for i, img := range c.Spec.Images {
		gp := spec.Child("images").Index(i).Child("glob")
		if img.Glob == "" {
			errs = append(errs, field.Required(gp, ""))
			p.globs = append(p.globs, nil)
			continue
		}
		re, err := compileGlob(img.Glob)
		if err != nil {
			errs = append(errs, field.Invalid(gp, img.Glob, "glob is invalid: "+err.Error()))
		}
		p.globs = append(p.globs, re)
	}

	// Authorities.
	ap := spec.Child("authorities")
	if len(c.Spec.Authorities) == 0 {
		errs = append(errs, field.Required(ap, "a policy needs at least one authority"))
	}
	if len(c.Spec.Authorities) > maxAuthoritiesPerCIP {
		errs = append(errs, field.TooMany(ap, len(c.Spec.Authorities), maxAuthoritiesPerCIP))
	}
	names := map[string]bool{}
	for i, a := range c.Spec.Authorities {
		if i >= maxAuthoritiesPerCIP {
			break
		}
		if a.Name == "" {
			a.Name = fmt.Sprintf("authority-%d", i)
		}
		if names[a.Name] {
			errs = append(errs, field.Duplicate(ap.Index(i).Child("name"), a.Name))
		}
		names[a.Name] = true
		auth, aerrs := d.compileAuthority(a, ap.Index(i), roots, alpha)
		errs = append(errs, aerrs...)
		if auth != nil {
			p.authorities = append(p.authorities, auth)
		}
	}

	// Mode.
	switch c.Spec.Mode {
	case "", "enforce":
	case "warn":
		p.warn = true
	default:
		errs = append(errs, field.NotSupported(spec.Child("mode"), c.Spec.Mode, validModes))
	}

	// Match.
	for i, m := range c.Spec.Match {
		mp := spec.Child("match").Index(i)
		if m.Resource != "" && !slices.Contains(validMatchResources, m.Resource) {
			errs = append(errs, field.NotSupported(mp.Child("resource"), m.Resource, validMatchResources))
		}
		rm := resourceMatch{group: m.Group, version: m.Version, resource: m.Resource}
		if m.Selector != nil {
			if m.Resource == "" && m.Version == "" && m.Group == "" {
				errs = append(errs, field.Invalid(mp.Child("selector"), field.OmitValueType{}, "selector requires a resource type to match the labels"))
			}
			sel, err := metav1.LabelSelectorAsSelector(m.Selector)
			if err != nil {
				errs = append(errs, field.Invalid(mp.Child("selector"), field.OmitValueType{}, err.Error()))
			}
			rm.selector = sel
		}
		p.match = append(p.match, rm)
	}

	// Policy.
	if c.Spec.Policy != nil {
		pp := spec.Child("policy")
		ev, perrs := d.compileEvaluator(c.Spec.Policy, pp, true)
		errs = append(errs, perrs...)
		p.policy = ev
		pol := c.Spec.Policy
		p.fetchConfig = pol.FetchConfigFile != nil && *pol.FetchConfigFile
		p.includeSpec = pol.IncludeSpec != nil && *pol.IncludeSpec
		p.includeObjectMeta = pol.IncludeObjectMeta != nil && *pol.IncludeObjectMeta
		p.includeTypeMeta = pol.IncludeTypeMeta != nil && *pol.IncludeTypeMeta
	}
	return errs
}

// compileAuthority validates an authority as policy-controller does and
// compiles its verifier.
func (d *Dialect) compileAuthority(a authoritySpec, p *field.Path, roots map[string]trustRoot, alpha bool) (*authority, field.ErrorList) {
	var errs field.ErrorList
	out := &authority{name: a.Name}
	set := 0
	for _, b := range []bool{a.Key != nil, a.Keyless != nil, a.Static != nil, a.RFC3161Timestamp != nil} {
		if b {
			set++
		}
	}
	switch {
	case set == 0:
		return nil, field.ErrorList{field.Required(p, "expected exactly one, got neither: key, keyless, rfc3161timestamp, static")}
	case a.Static != nil && set > 1, a.Key != nil && a.Keyless != nil:
		return nil, field.ErrorList{field.Invalid(p, field.OmitValueType{}, "expected exactly one, got both: key, keyless, rfc3161timestamp, static")}
	}

	if a.Static != nil {
		sp := p.Child("static")
		switch a.Static.Action {
		case "":
			errs = append(errs, field.Required(sp.Child("action"), ""))
		case "pass", "fail":
		default:
			errs = append(errs, field.NotSupported(sp.Child("action"), a.Static.Action, validStaticActions))
		}
		if len(a.Attestations) > 0 {
			errs = append(errs, field.Forbidden(p.Child("attestations"), "not allowed with static"))
		}
		if len(a.Sources) > 0 {
			errs = append(errs, field.Forbidden(p.Child("source"), "not allowed with static"))
		}
		if a.CTLog != nil {
			errs = append(errs, field.Forbidden(p.Child("ctlog"), "not allowed with static"))
		}
		out.typ = authorityStatic
		out.staticFail = a.Static.Action == "fail"
		out.staticMessage = a.Static.Message
		return out, errs
	}

	spec := signature.Spec{}
	var secret *secretKey
	switch a.SignatureFormat {
	case "":
		spec.Format = signature.FormatAny
	case "legacy":
		spec.Format = signature.FormatLegacy
	case "bundle":
		spec.Format = signature.FormatBundle
	default:
		errs = append(errs, field.NotSupported(p.Child("signatureFormat"), a.SignatureFormat, validSignatureFormats))
	}

	switch {
	case a.Key != nil:
		out.typ = authorityKey
		kp := p.Child("key")
		errs = append(errs, keyErrors(a.Key, kp, true)...)
		spec.PublicKeys = a.Key.Data
		spec.HashAlgorithm = hashAlgorithms[a.Key.HashAlgorithm]
		if a.Key.SecretRef != nil {
			// The path in messages is the document's own, as the
			// result names the policy.
			path := kp.Child("secretRef").String()
			path = path[max(strings.LastIndex(path, "spec.authorities["), 0):]
			secret = &secretKey{name: a.Key.SecretRef.Name, namespace: d.secretNamespace, path: path}
		}
	case a.Keyless != nil:
		out.typ = authorityKeyless
		kp := p.Child("keyless")
		k := a.Keyless
		if k.URL != "" {
			if _, err := url.ParseRequestURI(k.URL); err != nil {
				errs = append(errs, field.Invalid(kp.Child("url"), k.URL, err.Error()))
			}
		}
		if k.URL != "" && k.CACert != nil {
			errs = append(errs, field.Invalid(kp, field.OmitValueType{}, "expected exactly one, got both: url, ca-cert"))
		}
		if k.CACert != nil {
			errs = append(errs, keyErrors(k.CACert, kp.Child("ca-cert"), false)...)
			spec.Roots = k.CACert.Data
		}
		if len(k.Identities) == 0 && !alpha {
			errs = append(errs, field.Required(kp.Child("identities"), ""))
		}
		for i, id := range k.Identities {
			ip := kp.Child("identities").Index(i)
			errs = append(errs, identityErrors(id, ip)...)
			spec.Identities = append(spec.Identities, signature.Identity{
				Issuer: id.Issuer, IssuerRegExp: id.IssuerRegExp,
				Subject: id.Subject, SubjectRegExp: id.SubjectRegExp,
			})
		}
		if len(k.Identities) == 0 {
			// v1alpha1 allowed keyless authorities without identities: any
			// certificate from the trusted CAs passes.
			spec.Identities = []signature.Identity{{IssuerRegExp: ".*", SubjectRegExp: ".*"}}
		}
		spec.RequireSCT = k.InsecureIgnoreSCT == nil || !*k.InsecureIgnoreSCT
	default:
		out.typ = authorityTSA
		errs = append(errs, field.Invalid(p.Child("rfc3161timestamp"), field.OmitValueType{},
			"an authority with only rfc3161timestamp is not supported: add a key or keyless"))
	}

	// Sources.
	for i, s := range a.Sources {
		sp := p.Child("source").Index(i)
		src := signatureSource{}
		if s.OCI != "" {
			repo, err := name.NewRepository(s.OCI)
			if err != nil {
				errs = append(errs, field.Invalid(sp.Child("oci"), s.OCI, err.Error()))
			} else {
				src.repository = strings.ToLower(repo.RegistryStr()) + "/" + repo.RepositoryStr()
			}
		}
		if s.TagPrefix != nil {
			errs = append(errs, field.Invalid(sp.Child("tagPrefix"), *s.TagPrefix, "not supported"))
		}
		for j, secret := range s.SignaturePullSecrets {
			if secret.Name == "" {
				errs = append(errs, field.Required(sp.Child("signaturePullSecrets").Index(j).Child("name"), ""))
				continue
			}
			src.secrets = append(src.secrets, secret.Name)
		}
		out.sources = append(out.sources, src)
	}

	// Trust material and transparency requirements.
	lookup := func(fp *field.Path, ref string) root.TrustedMaterial {
		tr, ok := roots[ref]
		if !ok {
			errs = append(errs, field.NotFound(fp, ref))
			return nil
		}
		if tr.material == nil {
			errs = append(errs, field.Invalid(fp, ref, "the TrustRoot failed to compile"))
		}
		return tr.material
	}
	var caRef, tlogRef, tsaRef string
	if a.Keyless != nil && a.Keyless.TrustRootRef != "" {
		caRef = a.Keyless.TrustRootRef
		lookup(p.Child("keyless", "trustRootRef"), caRef)
	}
	if a.CTLog != nil {
		if a.CTLog.URL != "" {
			if _, err := url.ParseRequestURI(a.CTLog.URL); err != nil {
				errs = append(errs, field.Invalid(p.Child("ctlog", "url"), a.CTLog.URL, err.Error()))
			}
		}
		if a.CTLog.TrustRootRef != "" {
			tlogRef = a.CTLog.TrustRootRef
			lookup(p.Child("ctlog", "trustRootRef"), tlogRef)
		}
	}
	if a.RFC3161Timestamp != nil && a.RFC3161Timestamp.TrustRootRef != "" {
		tsaRef = a.RFC3161Timestamp.TrustRootRef
		lookup(p.Child("rfc3161timestamp", "trustRootRef"), tsaRef)
	}
	spec.TrustedRoot = d.trustedMaterial(roots, caRef, tlogRef, tsaRef)
	switch {
	case tsaRef != "":
		// A timestamp authority replaces the transparency log, as in
		// policy-controller.
		spec.RequireTimestamp = true
	case a.Keyless != nil && a.Keyless.TrustRootRef == "" && a.CTLog == nil:
		spec.RequireTLog = true
	case a.CTLog != nil && (a.CTLog.URL != "" || a.CTLog.TrustRootRef != ""):
		spec.RequireTLog = true
	}

	// Attestations.
	ap := p.Child("attestations")
	if len(a.Attestations) > maxAttestationsPerAuth {
		errs = append(errs, field.TooMany(ap, len(a.Attestations), maxAttestationsPerAuth))
	}
	attNames := map[string]bool{}
	for i, att := range a.Attestations {
		if i >= maxAttestationsPerAuth {
			break
		}
		atp := ap.Index(i)
		if att.Name == "" {
			errs = append(errs, field.Required(atp.Child("name"), ""))
		} else if attNames[att.Name] {
			errs = append(errs, field.Duplicate(atp.Child("name"), att.Name))
		}
		attNames[att.Name] = true
		switch {
		case att.PredicateType == "":
			errs = append(errs, field.Required(atp.Child("predicateType"), ""))
		case slices.Contains(validShortPredicates, att.PredicateType):
		default:
			if _, err := url.ParseRequestURI(att.PredicateType); err != nil {
				errs = append(errs, field.Invalid(atp.Child("predicateType"), att.PredicateType, "unsupported predicate type"))
			}
		}
		check := attestationCheck{name: att.Name, predicateType: att.PredicateType}
		if att.Policy != nil {
			ev, perrs := d.compileEvaluator(att.Policy, atp.Child("policy"), false)
			errs = append(errs, perrs...)
			check.policy = ev
		}
		out.attestations = append(out.attestations, check)
	}

	if len(errs) > 0 {
		return out, errs
	}
	if len(out.sources) == 0 {
		out.sources = []signatureSource{{}}
	}
	for i := range out.sources {
		spec.Repository = out.sources[i].repository
		if secret != nil {
			kr, err := signature.NewKeyRef(spec, d.sigOpts)
			if err != nil {
				return out, field.ErrorList{field.Invalid(p, field.OmitValueType{}, err.Error())}
			}
			out.sources[i].keys, out.sources[i].secret = kr, secret
			continue
		}
		v, err := signature.New(spec, d.sigOpts)
		if err != nil {
			return out, field.ErrorList{field.Invalid(p, field.OmitValueType{}, err.Error())}
		}
		out.sources[i].verifier = v
	}
	return out, nil
}

// trustedMaterial is the trust material of an authority: each kind from
// the TrustRoot its reference names, or from the default root. It is nil
// when everything comes from the default root (the verifier's own).
func (d *Dialect) trustedMaterial(roots map[string]trustRoot, caRef, tlogRef, tsaRef string) root.TrustedMaterial {
	if tsaRef == "" {
		tsaRef = caRef
	}
	if caRef == "" && tlogRef == "" && tsaRef == "" {
		return nil
	}
	get := func(ref string) root.TrustedMaterial {
		if ref != "" {
			if m := roots[ref].material; m != nil {
				return m
			}
		}
		if d.sigOpts.DefaultRoot != nil {
			return d.sigOpts.DefaultRoot
		}
		return &root.BaseTrustedMaterial{}
	}
	if caRef != "" && caRef == tlogRef && caRef == tsaRef {
		return get(caRef)
	}
	return mixedRoot{ca: get(caRef), tlog: get(tlogRef), tsa: get(tsaRef)}
}

// keyErrors validates a key reference: inline PEM data, or (when
// secretOK) a Secret.
func keyErrors(k *keyRef, p *field.Path, secretOK bool) field.ErrorList {
	var errs field.ErrorList
	n := 0
	for _, b := range []bool{k.Data != "", k.KMS != "", k.SecretRef != nil} {
		if b {
			n++
		}
	}
	switch {
	case n == 0:
		errs = append(errs, field.Required(p, "expected exactly one, got neither: data, kms, secretref"))
	case n > 1:
		errs = append(errs, field.Invalid(p, field.OmitValueType{}, "expected exactly one, got both: data, kms, secretref"))
	}
	if k.KMS != "" {
		errs = append(errs, field.Invalid(p.Child("kms"), k.KMS, "KMS keys are not supported: put the public key in data"))
	}
	switch {
	case k.SecretRef != nil && !secretOK:
		errs = append(errs, field.Invalid(p.Child("secretRef"), k.SecretRef.Name, "certificates in Secrets are not supported: put the certificate in data"))
	case k.SecretRef != nil && k.SecretRef.Name == "":
		errs = append(errs, field.Required(p.Child("secretRef", "name"), ""))
	}
	if _, ok := hashAlgorithms[k.HashAlgorithm]; !ok {
		if slices.Contains(validHashAlgorithms, k.HashAlgorithm) {
			errs = append(errs, field.Invalid(p.Child("hashAlgorithm"), k.HashAlgorithm, "not supported: use sha256, sha384 or sha512"))
		} else {
			errs = append(errs, field.NotSupported(p.Child("hashAlgorithm"), k.HashAlgorithm, validHashAlgorithms))
		}
	}
	return errs
}

// hashAlgorithms are the supported values of key.hashAlgorithm (the
// default, "", is sha256).
var hashAlgorithms = map[string]crypto.Hash{
	"":       crypto.SHA256,
	"sha256": crypto.SHA256,
	"sha384": crypto.SHA384,
	"sha512": crypto.SHA512,
}

// identityErrors validates a keyless identity.
func identityErrors(id identitySpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if id.Issuer != "" && id.IssuerRegExp != "" {
		errs = append(errs, field.Invalid(p, field.OmitValueType{}, "expected exactly one, got both: issuer, issuerRegExp"))
	}
	if id.Subject != "" && id.SubjectRegExp != "" {
		errs = append(errs, field.Invalid(p, field.OmitValueType{}, "expected exactly one, got both: subject, subjectRegExp"))
	}
	if id.IssuerRegExp != "" {
		if _, err := regexp.Compile(id.IssuerRegExp); err != nil {
			errs = append(errs, field.Invalid(p.Child("issuerRegExp"), id.IssuerRegExp, "regex is invalid: "+err.Error()))
		}
	}
	if id.SubjectRegExp != "" {
		if _, err := regexp.Compile(id.SubjectRegExp); err != nil {
			errs = append(errs, field.Invalid(p.Child("subjectRegExp"), id.SubjectRegExp, "regex is invalid: "+err.Error()))
		}
	}
	if id.Subject == "" && id.SubjectRegExp == "" {
		errs = append(errs, field.Required(p.Child("subject"), "subject or subjectRegExp"))
	}
	if id.Issuer == "" && id.IssuerRegExp == "" {
		errs = append(errs, field.Required(p.Child("issuer"), "issuer or issuerRegExp"))
	}
	return errs
}

// compileEvaluator compiles a policy block. Only the ClusterImagePolicy's
// own block (atSpec) may ask for the config file, spec and metadata.
func (d *Dialect) compileEvaluator(pol *policySpec, p *field.Path, atSpec bool) (evaluator, field.ErrorList) {
	var errs field.ErrorList
	if !atSpec {
		for _, f := range []struct {
			key string
			set bool
		}{
			{"fetchConfigFile", pol.FetchConfigFile != nil},
			{"includeSpec", pol.IncludeSpec != nil},
			{"includeObjectMeta", pol.IncludeObjectMeta != nil},
			{"includeTypeMeta", pol.IncludeTypeMeta != nil},
		} {
			if f.set {
				errs = append(errs, field.Forbidden(p.Child(f.key), "only allowed in spec.policy"))
			}
		}
	}
	if pol.ConfigMapRef != nil {
		errs = append(errs, field.Invalid(p.Child("configMapRef"), field.OmitValueType{}, "policies in ConfigMaps are not supported: put the policy in data"))
	}
	if pol.Remote != nil {
		errs = append(errs, field.Invalid(p.Child("remote"), field.OmitValueType{}, "remote policies are not supported: put the policy in data"))
	}
	if pol.URL != "" {
		errs = append(errs, field.Invalid(p.Child("url"), pol.URL, "remote policies are not supported: put the policy in data"))
	}
	if pol.Data == "" && pol.ConfigMapRef == nil && pol.Remote == nil && pol.URL == "" {
		errs = append(errs, field.Required(p.Child("data"), ""))
	}
	var ev evaluator
	switch pol.Type {
	case "rego":
		if pol.Data != "" {
			r, rerrs := compileRego(pol.Data, p.Child("data"))
			errs = append(errs, rerrs...)
			if r != nil {
				ev = r
			}
		}
	case "cue":
		if pol.Data != "" {
			c, cerrs := compileCue(pol.Data, p.Child("data"))
			errs = append(errs, cerrs...)
			if c != nil {
				ev = c
			}
		}
	default:
		errs = append(errs, field.NotSupported(p.Child("type"), pol.Type, validPolicyTypes))
	}
	return ev, errs
}
