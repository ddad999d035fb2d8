package ratify

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/image/signature"
)

// Verifier types.
const verifierTypeCosign = "cosign"

// Config-policy decisions per artifact type.
const (
	policyAny     = "any"
	policyAll     = "all"
	defaultPolicy = "default"
)

// Policy types, as spec.type (v1beta1) or metadata.name (v1alpha1) name
// them.
var configPolicyTypes = []string{"config-policy", "configpolicy"}

// validScope is Ratify's syntax of a trust policy scope: a lower-case
// reference prefix, optionally ending with one "*".
var validScope = regexp.MustCompile(`^[a-z0-9.\-:@/]*\*?$`)

// supportedArtifactTypes are the signature artifacts the cosign verifier
// can check, in the order reports list them.
var supportedArtifactTypes = []string{ArtifactTypeCosignSignature, ArtifactTypeSigstoreBundle}

// keyManagementProvider is a compiled inline KeyManagementProvider: its
// public keys (PEM).
type keyManagementProvider struct {
	keys   []string
	broken bool
}

// verifier is a compiled cosign Verifier.
type verifier struct {
	// name is metadata.name, the name reports carry.
	name string
	// typ is the verifier type, "cosign".
	typ string
	// artifactTypes are the artifact types the verifier accepts; "*" is
	// every type.
	artifactTypes []string
	// legacy is set for the legacy configuration (key, rekorURL): one
	// trust policy for every reference, and legacy report extensions.
	legacy   bool
	policies []*trustPolicy
}

// canVerify reports whether the verifier accepts artifacts of type at.
func (v *verifier) canVerify(at string) bool {
	for _, t := range v.artifactTypes {
		if t == "*" || t == at {
			return true
		}
	}
	return false
}

// scoped returns the trust policy for the normalized reference ref, as
// Ratify selects it: the first policy with a scope equal to ref or a
// wildcard scope that prefixes it, else the policy with the global "*"
// scope, else nil.
func (v *verifier) scoped(ref string) *trustPolicy {
	var global *trustPolicy
	for _, tp := range v.policies {
		for _, s := range tp.scopes {
			switch {
			case s == "*":
				global = tp
			case strings.HasSuffix(s, "*"):
				if strings.HasPrefix(ref, strings.TrimSuffix(s, "*")) {
					return tp
				}
			case s == ref:
				return tp
			}
		}
	}
	return global
}

// trustPolicy is one compiled trust policy: a signature verifier per
// artifact type its verifier accepts.
type trustPolicy struct {
	name      string
	scopes    []string
	verifiers map[string]*signature.Verifier
}

// Compile implements engine.Dialect. It compiles every Ratify object of the
// set together: KeyManagementProviders first, then Verifiers (whose trust
// policies name them), then the Policy. It returns one rule-less policy per
// document, then the verification provider and the mutation. A Verifier or
// KeyManagementProvider that fails to compile is left out of verification,
// as Ratify leaves out objects it could not load: images its artifacts
// would have verified then fail with "no verifier report".
func (d *Dialect) Compile(docs []engine.Document) ([]engine.Policy, field.ErrorList) {
	var errs field.ErrorList
	policies := make([]engine.Policy, 0, len(docs)+2)
	seen := map[string]string{}
	kmps := map[string]*keyManagementProvider{}
	type pending struct {
		doc  engine.Document
		meta objectMeta
		spec []byte
	}
	var verifierDocs, policyDocs []pending
	for _, doc := range docs {
		gvk := doc.GVK()
		meta, spec, derrs := decodeEnvelope(doc)
		errs = append(errs, derrs...)
		if meta.Name != "" {
			key := gvk.Kind + "/" + meta.Namespace + "/" + meta.Name
			if prev, ok := seen[key]; ok {
				errs = append(errs, field.Duplicate(doc.Root().Child("metadata", "name"), fmt.Sprintf("%s (also defined by %s)", meta.Name, prev)))
				continue
			}
			seen[key] = doc.String()
		}
		policies = append(policies, &docPolicy{ref: engine.PolicyRef{Dialect: DialectName, Kind: gvk.Kind, Namespace: meta.Namespace, Name: meta.Name}})
		if len(derrs) > 0 {
			if gvk.Kind == KindKeyManagementProvider && meta.Name != "" {
				kmps[meta.Name] = &keyManagementProvider{broken: true}
			}
			continue
		}
		switch gvk.Kind {
		case KindKeyManagementProvider:
			k, kerrs := compileKMP(doc, spec)
			errs = append(errs, kerrs...)
			kmps[meta.Name] = k
		case KindStore:
			errs = append(errs, compileStore(doc, spec)...)
		case KindVerifier:
			verifierDocs = append(verifierDocs, pending{doc, meta, spec})
		case KindPolicy:
			policyDocs = append(policyDocs, pending{doc, meta, spec})
		}
	}

	var verifiers []*verifier
	for _, p := range verifierDocs {
		v, verrs := d.compileVerifier(p.doc, p.meta, p.spec, kmps)
		errs = append(errs, verrs...)
		if len(verrs) == 0 && v != nil {
			verifiers = append(verifiers, v)
		}
	}
	// Ratify keeps its verifiers in a map; a fixed order keeps the answers
	// deterministic when two verifiers accept the same artifact type.
	sort.Slice(verifiers, func(i, j int) bool { return verifiers[i].name < verifiers[j].name })

	var active *configPolicy
	for _, p := range policyDocs {
		cp, perrs := compilePolicy(p.doc, p.meta, p.spec)
		errs = append(errs, perrs...)
		if len(perrs) == 0 && cp != nil {
			if active != nil {
				errs = append(errs, field.Duplicate(p.doc.Root().Child("metadata", "name"),
					fmt.Sprintf("only one Policy may be active (%s already is)", active.source)))
				continue
			}
			active = cp
		}
	}

	if len(docs) > 0 {
		policies = append(policies,
			&provider{verifiers: verifiers, policy: active, timeout: d.verifyTimeout},
			&mutation{timeout: d.mutateTimeout})
	}
	return policies, errs
}

// compileStore accepts a Store: portcullis reads registries through its own
// client, so only the store type is checked.
func compileStore(doc engine.Document, spec []byte) field.ErrorList {
	var s struct {
		Name       string `json:"name"`
		Type       string `json:"type,omitempty"`
		Version    string `json:"version,omitempty"`
		Address    string `json:"address,omitempty"`
		Source     any    `json:"source,omitempty"`
		Parameters any    `json:"parameters,omitempty"`
	}
	path := doc.Root().Child("spec")
	errs := decodeStrict(spec, path, &s)
	if len(errs) > 0 {
		return errs
	}
	typ := s.Type
	if typ == "" {
		typ = s.Name
	}
	if typ != "oras" {
		errs = append(errs, field.NotSupported(path.Child("name"), typ, []string{"oras"}))
	}
	return errs
}

// compileKMP compiles an inline KeyManagementProvider.
func compileKMP(doc engine.Document, spec []byte) (*keyManagementProvider, field.ErrorList) {
	path := doc.Root().Child("spec")
	var s kmpSpec
	errs := decodeStrict(spec, path, &s)
	if len(errs) > 0 {
		return &keyManagementProvider{broken: true}, errs
	}
	if s.Type != "inline" {
		return &keyManagementProvider{broken: true}, field.ErrorList{field.NotSupported(path.Child("type"), s.Type, []string{"inline"})}
	}
	var p inlineKMPParameters
	ppath := path.Child("parameters")
	if errs := decodeParameters(s.Parameters, ppath, &p); len(errs) > 0 {
		return &keyManagementProvider{broken: true}, errs
	}
	k := &keyManagementProvider{}
	switch p.ContentType {
	case "key":
		keys, err := parsePublicKeys([]byte(p.Value))
		if err != nil {
			return &keyManagementProvider{broken: true}, field.ErrorList{field.Invalid(ppath.Child("value"), "<PEM>", err.Error())}
		}
		k.keys = keys
	case "certificate":
		// Certificates serve notation verifiers, which portcullis does
		// not run; the provider holds no keys for cosign.
	default:
		errs = append(errs, field.NotSupported(ppath.Child("contentType"), p.ContentType, []string{"key", "certificate"}))
		k.broken = true
	}
	return k, errs
}

// parsePublicKeys splits PEM data into its public keys, checking each.
func parsePublicKeys(data []byte) ([]string, error) {
	var keys []string
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("PEM block %d is a %q, not a PUBLIC KEY", len(keys)+1, block.Type)
		}
		if _, err := x509.ParsePKIXPublicKey(block.Bytes); err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", len(keys)+1, err)
		}
		keys = append(keys, string(pem.EncodeToMemory(block)))
	}
	if len(keys) == 0 {
		return nil, errors.New("no PEM-encoded public key found")
	}
	return keys, nil
}

// compileVerifier compiles a Verifier. Only cosign verifiers are supported.
func (d *Dialect) compileVerifier(doc engine.Document, meta objectMeta, raw []byte, kmps map[string]*keyManagementProvider) (*verifier, field.ErrorList) {
	path := doc.Root().Child("spec")
	var s verifierSpec
	if errs := decodeStrict(raw, path, &s); len(errs) > 0 {
		return nil, errs
	}
	var errs field.ErrorList
	if doc.GVK().Version == "v1alpha1" && s.Type != "" {
		errs = append(errs, field.Forbidden(path.Child("type"), "v1alpha1 Verifiers have no type: use spec.name"))
	}
	typ, typPath := s.Type, path.Child("type")
	if typ == "" {
		typ, typPath = s.Name, path.Child("name")
	}
	if typ != verifierTypeCosign {
		errs = append(errs, field.NotSupported(typPath, typ, []string{verifierTypeCosign}))
		return nil, errs
	}
	if strings.TrimSpace(s.ArtifactTypes) == "" {
		errs = append(errs, field.Required(path.Child("artifactTypes"), "missing artifactTypes in verifier config"))
	}
	v := &verifier{name: meta.Name, typ: typ}
	for _, at := range strings.Split(s.ArtifactTypes, ",") {
		if at = strings.TrimSpace(at); at != "" {
			v.artifactTypes = append(v.artifactTypes, at)
		}
	}
	var params cosignParameters
	ppath := path.Child("parameters")
	if perrs := decodeParameters(s.Parameters, ppath, &params); len(perrs) > 0 {
		return nil, append(errs, perrs...)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	formats := map[string]signature.Format{}
	for _, at := range supportedArtifactTypes {
		if v.canVerify(at) {
			formats[at] = formatOf(at)
		}
	}

	if params.Key != "" || params.RekorURL != "" || len(params.TrustPolicies) == 0 {
		if len(params.TrustPolicies) > 0 {
			return nil, field.ErrorList{field.Forbidden(ppath.Child("trustPolicies"),
				"'key' and 'rekorURL' are part of cosign legacy configuration and cannot be used with `trustPolicies`")}
		}
		v.legacy = true
		tp, lerrs := d.compileLegacy(ppath, params, formats)
		if len(lerrs) > 0 {
			return nil, lerrs
		}
		v.policies = []*trustPolicy{tp}
		return v, nil
	}

	tpath := ppath.Child("trustPolicies")
	names := map[string]bool{}
	for i, c := range params.TrustPolicies {
		p := tpath.Index(i)
		if names[c.Name] && c.Name != "" {
			errs = append(errs, field.Duplicate(p.Child("name"), c.Name))
			continue
		}
		names[c.Name] = true
		tp, terrs := d.compileTrustPolicy(p, c, kmps, formats)
		errs = append(errs, terrs...)
		if tp != nil {
			v.policies = append(v.policies, tp)
		}
	}
	errs = append(errs, validateScopes(tpath, params.TrustPolicies)...)
	if len(errs) > 0 {
		return nil, errs
	}
	return v, nil
}

// formatOf is where signatures of an artifact type are stored.
func formatOf(artifactType string) signature.Format {
	if artifactType == ArtifactTypeSigstoreBundle {
		return signature.FormatBundle
	}
	return signature.FormatLegacy
}

// compileLegacy compiles the legacy cosign configuration: a key file, or
// keyless with any Fulcio identity; transparency-log and SCT checks only
// with a rekorURL.
func (d *Dialect) compileLegacy(path *field.Path, params cosignParameters, formats map[string]signature.Format) (*trustPolicy, field.ErrorList) {
	spec := signature.Spec{RequireTLog: params.RekorURL != ""}
	if params.Key != "" {
		keys, err := d.readKeys(params.Key)
		if err != nil {
			return nil, field.ErrorList{field.Invalid(path.Child("key"), params.Key, err.Error())}
		}
		spec.PublicKeys = strings.Join(keys, "")
	} else {
		spec.Identities = []signature.Identity{{IssuerRegExp: ".*", SubjectRegExp: ".*"}}
		spec.RequireSCT = params.RekorURL != ""
	}
	tp := &trustPolicy{name: "", scopes: []string{"*"}, verifiers: map[string]*signature.Verifier{}}
	if err := d.compileSpecs(tp, spec, formats); err != nil {
		return nil, field.ErrorList{field.Invalid(path, nil, err.Error())}
	}
	return tp, nil
}

// compileTrustPolicy validates a trust policy as Ratify does and compiles
// its signature verifiers.
func (d *Dialect) compileTrustPolicy(path *field.Path, c trustPolicyConfig, kmps map[string]*keyManagementProvider, formats map[string]signature.Format) (*trustPolicy, field.ErrorList) {
	var errs field.ErrorList
	if c.Version != "" && c.Version != "1.0.0" {
		errs = append(errs, field.NotSupported(path.Child("version"), c.Version, []string{"1.0.0"}))
	}
	if c.Name == "" {
		errs = append(errs, field.Required(path.Child("name"), "missing trust policy name"))
	}
	if len(c.Scopes) == 0 {
		errs = append(errs, field.Required(path.Child("scopes"), "no scopes defined"))
	}
	keyless := c.Keyless.isSet()
	switch {
	case len(c.Keys) == 0 && !keyless:
		errs = append(errs, field.Required(path, "no keys defined and keyless section not configured"))
	case len(c.Keys) > 0 && keyless:
		errs = append(errs, field.Forbidden(path, "both keys and keyless sections are defined"))
	}
	spec := signature.Spec{RequireTLog: c.TLogVerify == nil || *c.TLogVerify}
	var keys []string
	for i, k := range c.Keys {
		kp := path.Child("keys").Index(i)
		switch {
		case k.File == "" && k.Provider == "":
			errs = append(errs, field.Required(kp.Child("provider"), "key management provider name is required when not using file path"))
			continue
		case k.File != "" && k.Provider != "":
			errs = append(errs, field.Forbidden(kp, "'name' and 'file' cannot be configured together"))
			continue
		case k.Version != "" && k.Name == "":
			errs = append(errs, field.Required(kp.Child("name"), "key name is required when key version is defined"))
			continue
		}
		if k.File != "" {
			fk, err := d.readKeys(k.File)
			if err != nil {
				errs = append(errs, field.Invalid(kp.Child("file"), k.File, err.Error()))
				continue
			}
			keys = append(keys, fk...)
			continue
		}
		kmp, ok := kmps[k.Provider]
		switch {
		case !ok:
			errs = append(errs, field.NotFound(kp.Child("provider"), k.Provider))
		case kmp.broken:
			errs = append(errs, field.Invalid(kp.Child("provider"), k.Provider, "the key management provider failed to load"))
		case k.Name != "":
			errs = append(errs, field.Invalid(kp.Child("name"), k.Name,
				fmt.Sprintf("key %s with version %s not found in key management provider %s: inline providers have no named keys", k.Name, k.Version, k.Provider)))
		case len(kmp.keys) == 0:
			errs = append(errs, field.Invalid(kp.Child("provider"), k.Provider, "the key management provider holds no public keys"))
		default:
			keys = append(keys, kmp.keys...)
		}
	}
	if keyless {
		kl := path.Child("keyless")
		c := c.Keyless
		if c.CertificateIdentity == "" && c.CertificateIdentityRegExp == "" {
			errs = append(errs, field.Required(kl.Child("certificateIdentity"), "certificate identity or identity regex pattern is required"))
		}
		if c.CertificateOIDCIssuer == "" && c.CertificateOIDCIssuerRegExp == "" {
			errs = append(errs, field.Required(kl.Child("certificateOIDCIssuer"), "certificate OIDC issuer or issuer regex pattern is required"))
		}
		if c.CertificateIdentity != "" && c.CertificateIdentityRegExp != "" {
			errs = append(errs, field.Forbidden(kl.Child("certificateIdentityRegExp"), "only one of certificate identity or identity regex pattern should be specified"))
		}
		if c.CertificateOIDCIssuer != "" && c.CertificateOIDCIssuerRegExp != "" {
			errs = append(errs, field.Forbidden(kl.Child("certificateOIDCIssuerRegExp"), "only one of certificate OIDC issuer or issuer regex pattern should be specified"))
		}
		spec.Identities = []signature.Identity{{
			Issuer:        c.CertificateOIDCIssuer,
			IssuerRegExp:  c.CertificateOIDCIssuerRegExp,
			Subject:       c.CertificateIdentity,
			SubjectRegExp: c.CertificateIdentityRegExp,
		}}
		spec.RequireSCT = c.CTLogVerify == nil || *c.CTLogVerify
	}
	if len(errs) > 0 {
		return nil, errs
	}
	spec.PublicKeys = strings.Join(keys, "")
	tp := &trustPolicy{name: c.Name, scopes: c.Scopes, verifiers: map[string]*signature.Verifier{}}
	if err := d.compileSpecs(tp, spec, formats); err != nil {
		return nil, field.ErrorList{field.Invalid(path, nil, fmt.Sprintf("trust policy %s failed: %v", c.Name, err))}
	}
	return tp, nil
}

// compileSpecs compiles spec once per artifact type the verifier accepts.
func (d *Dialect) compileSpecs(tp *trustPolicy, spec signature.Spec, formats map[string]signature.Format) error {
	ats := make([]string, 0, len(formats))
	for at := range formats {
		ats = append(ats, at)
	}
	sort.Strings(ats)
	for _, at := range ats {
		s := spec
		s.Format = formats[at]
		v, err := signature.New(s, d.sigOpts)
		if err != nil {
			return err
		}
		tp.verifiers[at] = v
	}
	return nil
}

// readKeys reads a public key file when the dialect may read files.
func (d *Dialect) readKeys(path string) ([]string, error) {
	if d.readFile == nil {
		return nil, errors.New("key files are not read here: put the key in an inline KeyManagementProvider")
	}
	data, err := d.readFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed to load key from file %s: %w", path, err)
	}
	if len(data) > maxKeyFileBytes {
		return nil, fmt.Errorf("key file %s is larger than %d bytes", path, maxKeyFileBytes)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("key file %s is empty", path)
	}
	return parsePublicKeys(data)
}

// validateScopes checks the scopes of a verifier's trust policies as
// Ratify does: well formed, not empty, "*" alone in its policy and in one
// policy only, no duplicates and no overlapping wildcards.
func validateScopes(path *field.Path, policies []trustPolicyConfig) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	var order []string
	global := false
	for i, p := range policies {
		sp := path.Index(i).Child("scopes")
		if slices.Contains(p.Scopes, "*") {
			if len(p.Scopes) > 1 {
				errs = append(errs, field.Invalid(sp, p.Scopes, "global wildcard character * cannot be used with other scopes within the same trust policy"))
				continue
			}
			if global {
				errs = append(errs, field.Duplicate(sp.Index(0), "global wildcard character * can only be used once"))
			}
			global = true
			continue
		}
		for j, s := range p.Scopes {
			switch {
			case s == "":
				errs = append(errs, field.Required(sp.Index(j), "scope defined is empty"))
				continue
			case !validScope.MatchString(s):
				errs = append(errs, field.Invalid(sp.Index(j), s, "invalid scope: lower-case reference characters with at most one trailing *"))
				continue
			case seen[s]:
				errs = append(errs, field.Duplicate(sp.Index(j), s))
				continue
			}
			for _, prev := range order {
				if overlaps(s, prev) {
					errs = append(errs, field.Invalid(sp.Index(j), s, fmt.Sprintf("overlapping scopes %s and %s", s, prev)))
				}
			}
			seen[s] = true
			order = append(order, s)
		}
	}
	return errs
}

// overlaps reports whether two scopes can match the same reference.
func overlaps(a, b string) bool {
	aw, bw := strings.HasSuffix(a, "*"), strings.HasSuffix(b, "*")
	at, bt := strings.TrimSuffix(a, "*"), strings.TrimSuffix(b, "*")
	switch {
	case aw && bw:
		return strings.HasPrefix(at, bt) || strings.HasPrefix(bt, at)
	case bw:
		return strings.HasPrefix(a, bt)
	case aw:
		return strings.HasPrefix(b, at)
	}
	return false
}

// configPolicy is a compiled config-policy: the decision per artifact type.
type configPolicy struct {
	source      string
	byType      map[string]string
	passthrough bool
}

// compilePolicy compiles a Policy. Only the one named ratify-policy (or, in
// v1alpha1, named after its type) is active.
func compilePolicy(doc engine.Document, meta objectMeta, raw []byte) (*configPolicy, field.ErrorList) {
	path := doc.Root().Child("spec")
	var s policySpec
	if errs := decodeStrict(raw, path, &s); len(errs) > 0 {
		return nil, errs
	}
	typ, typPath := s.Type, path.Child("type")
	if doc.GVK().Version == "v1alpha1" {
		// In v1alpha1 the name is the type.
		if s.Type != "" {
			return nil, field.ErrorList{field.Forbidden(typPath, "v1alpha1 Policies have no type: the name is the type")}
		}
		typ, typPath = meta.Name, doc.Root().Child("metadata", "name")
	} else if meta.Name != PolicyName {
		return nil, field.ErrorList{field.Invalid(doc.Root().Child("metadata", "name"), meta.Name,
			fmt.Sprintf("metadata.name must be %s, got %s", PolicyName, meta.Name))}
	}
	if !slices.Contains(configPolicyTypes, strings.ToLower(strings.TrimSpace(typ))) {
		return nil, field.ErrorList{field.NotSupported(typPath, typ, configPolicyTypes[:1])}
	}
	var params configPolicyParameters
	ppath := path.Child("parameters")
	if errs := decodeParameters(s.Parameters, ppath, &params); len(errs) > 0 {
		return nil, errs
	}
	cp := &configPolicy{source: doc.String(), byType: map[string]string{}, passthrough: params.PassthroughEnabled}
	var errs field.ErrorList
	for at, decision := range params.ArtifactVerificationPolicies {
		if decision != policyAny && decision != policyAll {
			errs = append(errs, field.NotSupported(ppath.Child("artifactVerificationPolicies").Key(at), decision, []string{policyAny, policyAll}))
			continue
		}
		cp.byType[at] = decision
	}
	if cp.byType[defaultPolicy] == "" {
		cp.byType[defaultPolicy] = policyAll
	}
	if len(errs) > 0 {
		sort.Slice(errs, func(i, j int) bool { return errs[i].Field < errs[j].Field })
		return nil, errs
	}
	return cp, nil
}

// overall decides a subject from its verifier reports, as config-policy
// does: every artifact type the policy names must have reports, and each
// artifact type with reports must satisfy its decision ("any": one report
// succeeded; "all": every report succeeded; types the policy does not name
// take the default decision). In passthrough mode the decision is left to
// the caller: the result is never a success.
func (c *configPolicy) overall(reports []Report) bool {
	if c.passthrough || len(reports) == 0 {
		return false
	}
	satisfied := map[string]bool{}
	for at := range c.byType {
		if at != defaultPolicy {
			satisfied[at] = false
		}
	}
	for _, r := range reports {
		decision, ok := c.byType[r.ArtifactType]
		if !ok {
			decision = c.byType[defaultPolicy]
		}
		if _, ok := satisfied[r.ArtifactType]; !ok {
			satisfied[r.ArtifactType] = false
		}
		switch decision {
		case policyAny:
			if r.IsSuccess {
				satisfied[r.ArtifactType] = true
			}
		case policyAll:
			if !r.IsSuccess {
				return false
			}
			satisfied[r.ArtifactType] = true
		}
	}
	for _, ok := range satisfied {
		if !ok {
			return false
		}
	}
	return true
}
