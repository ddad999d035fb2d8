// Package signature verifies the signatures and attestations of container
// images with sigstore-go: classic cosign signatures (sha256-<hex>.sig tags
// with simplesigning payloads), Sigstore bundles stored as OCI referrers
// (with the tag fallback), and DSSE in-toto attestations in both forms. A
// Verifier is compiled once from a Spec (a policy's authority) and then
// verifies many images; its results are cached by digest for a short time,
// and concurrent verifications of the same digest run once.
//
// The package reads registries only through image.Registry and never
// reaches the network itself: trust material comes from trusted_root.json
// files, TrustRoot objects or the caller.
//
// The cryptography (signatures, certificate chains, transparency-log
// inclusion promises and proofs, RFC 3161 timestamps, SCTs) is sigstore-go's
// verify.Verifier; this package finds the candidates in the registry, turns
// legacy cosign layers into sigstore-go signed entities, and applies the
// policy checks cosign applies on top: the signed digest claim, the in-toto
// subject, the predicate type and the keyless identities.
package signature

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"golang.org/x/sync/singleflight"

	"github.com/portcullis-dev/portcullis/internal/image"
)

// Format is where signatures are looked for.
type Format string

const (
	// FormatAny finds and verifies both legacy signatures and bundles.
	// Signatures stops after the legacy signatures when one of them
	// verifies (one fewer registry round trip); Attestations always
	// returns the attestations of both formats.
	FormatAny Format = ""
	// FormatLegacy is cosign's sha256-<hex>.sig (and .att) tags.
	FormatLegacy Format = "legacy"
	// FormatBundle is Sigstore bundles (v0.3) stored as OCI referrers, with
	// the sha256-<hex> tag fallback for registries without referrers.
	FormatBundle Format = "bundle"
)

// Identity is a keyless signer identity. Issuer and Subject match exactly;
// the RegExp forms are Go regular expressions and, as in cosign, policy
// controller and Kyverno, they are not anchored: "^...$" matches a whole
// value. When both the exact and the RegExp form of a field are set, the
// RegExp wins (cosign's precedence). Subject is matched against every
// subject alternative name of the certificate (e-mail, URI, DNS, IP,
// otherName). Empty fields match anything, but a Spec needs at least one
// field set per identity.
type Identity struct {
	Issuer        string
	IssuerRegExp  string
	Subject       string
	SubjectRegExp string
}

// Spec is one authority: how a signature must be made to be trusted. Exactly
// one of PublicKeys, Identities (keyless) or Certificate is set.
type Spec struct {
	// PublicKeys are PEM public keys (ECDSA, RSA or Ed25519); a signature
	// made by any of them passes. Several keys may be concatenated. An
	// Ed25519 key verifies Ed25519ph signatures (cosign's default) and pure
	// Ed25519 ones (older cosign releases). A certificate attached to a
	// signature is ignored, as cosign ignores it when given a key.
	PublicKeys string
	// HashAlgorithm is the hash the signatures of PublicKeys were made with
	// (Kyverno's signatureAlgorithm): crypto.SHA256 (the default when
	// zero), crypto.SHA384 or crypto.SHA512. Ed25519 keys ignore it.
	HashAlgorithm crypto.Hash
	// Identities are the keyless identities; a certificate that matches any
	// of them passes. The certificate must chain to a CA of TrustedRoot (or
	// of Roots when set).
	Identities []Identity
	// Roots replaces the trusted root's certificate authorities with these
	// PEM certificates (Kyverno's keyless.roots): every self-signed
	// certificate is a root, the other CA certificates are intermediates.
	Roots string
	// Certificate is a PEM signing certificate and CertificateChain its
	// chain (intermediates and root, optional): signatures made with the
	// certificate's key pass. The certificate must be valid at the
	// signature's time (its transparency-log or RFC 3161 time, else now).
	Certificate      string
	CertificateChain string

	// TrustedRoot holds the CAs, transparency logs, CT logs and timestamp
	// authorities; nil uses the Verifier default given to New.
	TrustedRoot root.TrustedMaterial
	// RekorPublicKey and CTLogPublicKey (PEM) add a transparency log or a CT
	// log key to the trust material (Kyverno's rekor.pubkey and
	// ctlog.pubkey).
	RekorPublicKey string
	CTLogPublicKey string

	// RequireTLog requires a verified transparency-log entry (inclusion
	// promise or proof). When false, entries present whose log is trusted
	// are still verified; entries of unknown logs are ignored.
	RequireTLog bool
	// RequireSCT requires a verified certificate-transparency SCT in keyless
	// certificates.
	RequireSCT bool
	// RequireTimestamp requires an RFC 3161 signed timestamp.
	RequireTimestamp bool

	// Format is where to look for signatures.
	Format Format

	// Repository, when set, is the registry/repository that holds the
	// signatures and attestations instead of the image's own repository
	// (cosign's COSIGN_REPOSITORY, Kyverno's repository, policy
	// controller's source.oci), e.g. "registry.example.com/team/signatures".
	Repository string
}

// Options are the verifier-wide settings.
type Options struct {
	// DefaultRoot is the trust material used by Specs without a
	// TrustedRoot; nil means keyless specs without one fail to compile.
	DefaultRoot root.TrustedMaterial
	// CacheTTL is how long a verification result is reused (default 5
	// minutes); failures are reused for at most ErrorTTL (default 10 s).
	// A negative value disables that cache.
	CacheTTL, ErrorTTL time.Duration
	// CacheSize bounds the number of cached results (default 4096).
	CacheSize int
	// Now is the clock (tests).
	Now func() time.Time
}

// Signature is one verified signature.
type Signature struct {
	// Format is FormatLegacy or FormatBundle.
	Format Format
	// Issuer and Subject identify a keyless signer; empty for keys. Subject
	// is the certificate's first subject alternative name.
	Issuer, Subject string
	// Certificate is the verified signing certificate; nil for keys.
	Certificate *x509.Certificate
	// Payload is the signed payload: the simplesigning JSON for a legacy
	// signature, the signed in-toto statement (JSON) for a DSSE bundle, nil
	// for a bundle with a message signature over the image digest.
	Payload []byte
	// Annotations are the optional annotations of the simplesigning payload.
	Annotations map[string]any
}

// Attestation is one verified in-toto attestation.
type Attestation struct {
	Signature
	// PredicateType is the statement's predicateType.
	PredicateType string
	// Statement is the decoded in-toto statement (_type, subject,
	// predicateType, predicate).
	Statement map[string]any
}

// Verifier verifies images against one Spec. It is safe for concurrent use.
type Verifier struct {
	spec Spec
	opts Options

	kind       authorityKind
	materials  []root.TrustedMaterial // one per public key (two for Ed25519), else one
	identities []identityMatcher
	hash       crypto.Hash
	repo       *image.Ref // Spec.Repository, parsed

	cache  *resultCache
	flight singleflight.Group
}

// New compiles spec. Every problem is returned at once, each naming the
// Spec field it is about.
func New(spec Spec, opts Options) (*Verifier, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CacheTTL == 0 {
		opts.CacheTTL = 5 * time.Minute
	}
	if opts.ErrorTTL == 0 {
		opts.ErrorTTL = 10 * time.Second
	}
	if opts.ErrorTTL > opts.CacheTTL {
		opts.ErrorTTL = opts.CacheTTL
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = 4096
	}
	v := &Verifier{spec: spec, opts: opts, cache: newResultCache(opts.CacheSize)}
	if err := v.compile(); err != nil {
		return nil, err
	}
	return v, nil
}

// Signatures returns the signatures of the image ref (which must carry a
// digest) that this authority trusts. It returns a *VerificationError when
// none verifies, and other errors when the registry could not be read.
//
// A legacy signature passes when sigstore-go verifies it (signature over
// the payload, certificate chain, transparency log and timestamps as the
// Spec asks), its certificate matches one of the identities, and its
// payload's critical.image.docker-manifest-digest is ref's digest. A bundle
// passes when sigstore-go verifies it against ref's digest (the message
// digest, or the in-toto statement's subject). Callers must still check
// anything else they rely on, such as the docker-reference claim or the
// annotations. The returned slice is shared with the cache: do not modify
// its elements.
func (v *Verifier) Signatures(ctx context.Context, reg image.Registry, ref image.Ref, pull image.Pull) ([]Signature, error) {
	if err := checkRef(ref); err != nil {
		return nil, err
	}
	r, err := v.cached(ctx, cacheKey('s', ref, ""), func(ctx context.Context) (result, error) {
		sigs, err := v.signatures(ctx, reg, ref, pull)
		return result{sigs: sigs}, err
	})
	if err != nil {
		return nil, err
	}
	return r.sigs, nil
}

// Attestations returns the attestations of ref with the given predicate type
// (all types when empty) that this authority trusts and whose subject
// includes ref's digest. predicateType is a URI or one of cosign's short
// names (see PredicateType). The returned slice is shared with the cache:
// do not modify its elements.
func (v *Verifier) Attestations(ctx context.Context, reg image.Registry, ref image.Ref, predicateType string, pull image.Pull) ([]Attestation, error) {
	if err := checkRef(ref); err != nil {
		return nil, err
	}
	predicateType = PredicateType(predicateType)
	r, err := v.cached(ctx, cacheKey('a', ref, predicateType), func(ctx context.Context) (result, error) {
		atts, err := v.attestations(ctx, reg, ref, predicateType, pull)
		return result{atts: atts}, err
	})
	if err != nil {
		return nil, err
	}
	return r.atts, nil
}

func checkRef(ref image.Ref) error {
	if ref.Digest == "" {
		return fmt.Errorf("image %s has no digest: signatures are verified by digest", ref)
	}
	if !strings.HasPrefix(ref.Digest, "sha256:") || len(ref.Digest) != len("sha256:")+64 {
		return fmt.Errorf("image %s: unsupported digest %q (want sha256)", ref, ref.Digest)
	}
	return nil
}

// VerificationError says that no signature or attestation verified, and why
// each candidate was rejected.
type VerificationError struct {
	// Found is how many candidates were found; 0 means none at all.
	Found   int
	Reasons []string
	// Attestation is true when attestations were looked for, and
	// PredicateType the predicate type asked for (empty for any).
	Attestation   bool
	PredicateType string
}

// Error renders the failure in cosign's words: "no signatures found",
// "no matching signatures: <reasons>", "no matching attestations: ...".
// Reasons are joined as cosign joins them, with a newline and a space.
func (e *VerificationError) Error() string {
	var b strings.Builder
	switch {
	case e.Attestation:
		b.WriteString("no matching attestations")
	case e.Found == 0 && len(e.Reasons) == 0:
		return "no signatures found"
	case e.Found == 0:
		b.WriteString("no signatures found")
	default:
		b.WriteString("no matching signatures")
	}
	if len(e.Reasons) > 0 {
		b.WriteString(": ")
		b.WriteString(strings.Join(e.Reasons, "\n "))
	}
	return b.String()
}

// IsVerificationError reports whether err is or wraps a *VerificationError.
func IsVerificationError(err error) bool {
	var ve *VerificationError
	return errors.As(err, &ve)
}
