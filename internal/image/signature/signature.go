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
package signature

import (
	"context"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/portcullis-dev/portcullis/internal/image"
)

// Format is where signatures are looked for.
type Format string

const (
	// FormatAny finds and verifies both legacy signatures and bundles.
	FormatAny Format = ""
	// FormatLegacy is cosign's sha256-<hex>.sig (and .att) tags.
	FormatLegacy Format = "legacy"
	// FormatBundle is Sigstore bundles (v0.3) stored as OCI referrers, with
	// the sha256-<hex> tag fallback for registries without referrers.
	FormatBundle Format = "bundle"
)

// Identity is a keyless signer identity. Issuer and Subject match exactly;
// the RegExp forms are Go regular expressions matched against the whole
// value. Empty fields match anything, but a Spec needs at least one field
// set per identity.
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
	// made by any of them passes. Several keys may be concatenated.
	PublicKeys string
	// Identities are the keyless identities; a certificate that matches any
	// of them passes. The certificate must chain to a CA of TrustedRoot (or
	// of Roots when set).
	Identities []Identity
	// Roots replaces the trusted root's certificate authorities with these
	// PEM certificates (Kyverno's keyless.roots).
	Roots string
	// Certificate is a PEM signing certificate and CertificateChain its
	// chain: signatures made with the certificate's key pass.
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
	// promise or proof). When false, entries present are still verified.
	RequireTLog bool
	// RequireSCT requires a verified certificate-transparency SCT in keyless
	// certificates.
	RequireSCT bool
	// RequireTimestamp requires an RFC 3161 signed timestamp.
	RequireTimestamp bool

	// Format is where to look for signatures.
	Format Format
}

// Options are the verifier-wide settings.
type Options struct {
	// DefaultRoot is the trust material used by Specs without a
	// TrustedRoot; nil means keyless specs without one fail to compile.
	DefaultRoot root.TrustedMaterial
	// CacheTTL is how long a verification result is reused (default 5
	// minutes); failures are reused for at most ErrorTTL (default 10 s).
	CacheTTL, ErrorTTL time.Duration
	// Now is the clock (tests).
	Now func() time.Time
}

// Signature is one verified signature.
type Signature struct {
	// Format is FormatLegacy or FormatBundle.
	Format Format
	// Issuer and Subject identify a keyless signer; empty for keys.
	Issuer, Subject string
	// Payload is the signed payload: the simplesigning JSON for a signature.
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
}

// New compiles spec. Every problem is returned at once.
func New(spec Spec, opts Options) (*Verifier, error) {
	return &Verifier{spec: spec, opts: opts}, nil
}

// Signatures returns the signatures of the image ref (which must carry a
// digest) that this authority trusts. It returns a *VerificationError when
// none verifies, and other errors when the registry could not be read.
func (v *Verifier) Signatures(ctx context.Context, reg image.Registry, ref image.Ref, pull image.Pull) ([]Signature, error) {
	panic("not implemented")
}

// Attestations returns the attestations of ref with the given predicate type
// (all types when empty) that this authority trusts and whose subject
// includes ref's digest.
func (v *Verifier) Attestations(ctx context.Context, reg image.Registry, ref image.Ref, predicateType string, pull image.Pull) ([]Attestation, error) {
	panic("not implemented")
}

// VerificationError says that no signature or attestation verified, and why
// each candidate was rejected.
type VerificationError struct {
	// Found is how many candidates were found; 0 means none at all.
	Found   int
	Reasons []string
}

func (e *VerificationError) Error() string {
	panic("not implemented")
}
