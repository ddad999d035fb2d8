// Package ratify is the Ratify dialect: config.ratify.deislabs.io Verifier
// (cosign), Policy (config-policy), KeyManagementProvider (inline keys) and
// Store objects, v1beta1 and v1alpha1. Together they compile into the two
// external data providers Ratify's Helm chart installs for Gatekeeper:
//
//   - "ratify-provider", served in-process (engine.Provider): Gatekeeper
//     templates call it with external_data and get, per image, Ratify's
//     verification result ({"version", "isSuccess", "verifierReports"});
//   - "ratify-mutation-provider", run as a mutating policy: it rewrites the
//     images of Pods and pod controllers that name a tag to the digest the
//     tag resolves to, as the Gatekeeper Assign of Ratify's chart does, so
//     that what is verified is what runs.
//
// Signatures are verified by internal/image/signature (sigstore-go), with
// every trust policy compiled once into a signature.Verifier. Each Ratify
// object also yields a policy of its own, without rules, so that it gets a
// Ready condition like every other policy document.
package ratify

import (
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/image/signature"
)

// DialectName is the dialect's identifier in results and metrics.
const DialectName = "ratify"

// Group is the API group of Ratify's configuration objects.
const Group = "config.ratify.deislabs.io"

// The kinds the dialect handles.
const (
	KindVerifier              = "Verifier"
	KindPolicy                = "Policy"
	KindKeyManagementProvider = "KeyManagementProvider"
	KindStore                 = "Store"
)

// The provider names, as Ratify's Helm chart registers them with Gatekeeper.
const (
	// ProviderName is the verification provider templates call.
	ProviderName = "ratify-provider"
	// MutationProviderName is the provider the chart's Assign mutation
	// calls to pin image tags to digests.
	MutationProviderName = "ratify-mutation-provider"
)

// PolicyName is the only name a v1beta1 Policy may have; Ratify ignores
// (and marks failed) Policies with other names.
const PolicyName = "ratify-policy"

// Artifact types of the signatures the cosign verifier handles.
const (
	// ArtifactTypeCosignSignature is cosign's classic signature, stored at
	// the sha256-<hex>.sig tag; Ratify's ORAS store lists it as a referrer
	// of this type.
	ArtifactTypeCosignSignature = "application/vnd.dev.cosign.artifact.sig.v1+json"
	// ArtifactTypeSigstoreBundle is a Sigstore bundle stored as an OCI 1.1
	// referrer, as cosign v3 signs by default.
	ArtifactTypeSigstoreBundle = "application/vnd.dev.sigstore.bundle.v0.3+json"
)

// VerificationResultVersion is the version field of Ratify's verification
// result for config-policy.
const VerificationResultVersion = "0.1.0"

// Ratify's default request timeouts (executor verificationRequestTimeout and
// mutationRequestTimeout).
const (
	DefaultVerifyTimeout = 2900 * time.Millisecond
	DefaultMutateTimeout = 950 * time.Millisecond
)

// maxKeyFileBytes bounds a public key file.
const maxKeyFileBytes = 64 << 10

// Dialect compiles Ratify objects. It holds no mutable state; one Dialect
// may compile many sets concurrently.
type Dialect struct {
	sigOpts       signature.Options
	readFile      func(path string) ([]byte, error)
	verifyTimeout time.Duration
	mutateTimeout time.Duration
}

var _ engine.Dialect = (*Dialect)(nil)

// Option configures a Dialect.
type Option func(*Dialect)

// WithSignatureOptions sets the verifier-wide signature options: the
// default trust root (needed by keyless trust policies) and cache TTLs.
func WithSignatureOptions(o signature.Options) Option {
	return func(d *Dialect) { d.sigOpts = o }
}

// WithKeyFiles lets trust policies (keys[].file) and legacy verifiers (key)
// name public key files, read with read at compile time (at most 64 KiB
// each). Without it such keys are compile errors: a server should not read
// files that policy authors name. The CLI passes os.ReadFile.
func WithKeyFiles(read func(path string) ([]byte, error)) Option {
	return func(d *Dialect) { d.readFile = read }
}

// WithOSKeyFiles is WithKeyFiles(os.ReadFile).
func WithOSKeyFiles() Option { return WithKeyFiles(os.ReadFile) }

// WithTimeouts bounds one call of the verification provider and one
// mutation, as Ratify's verificationRequestTimeout and
// mutationRequestTimeout do. A verification call that runs out of time
// answers with a system error, as Ratify does; a mutation that runs out of
// time is an error result. Values <= 0 keep the defaults
// (DefaultVerifyTimeout, DefaultMutateTimeout).
func WithTimeouts(verify, mutate time.Duration) Option {
	return func(d *Dialect) {
		if verify > 0 {
			d.verifyTimeout = verify
		}
		if mutate > 0 {
			d.mutateTimeout = mutate
		}
	}
}

// New returns the Ratify dialect.
func New(opts ...Option) *Dialect {
	d := &Dialect{verifyTimeout: DefaultVerifyTimeout, mutateTimeout: DefaultMutateTimeout}
	for _, o := range opts {
		o(d)
	}
	return d
}

// Name implements engine.Dialect.
func (d *Dialect) Name() string { return DialectName }

// Handles implements engine.Dialect: Verifier, Policy and Store in v1beta1
// and v1alpha1, KeyManagementProvider in v1beta1.
func (d *Dialect) Handles(gvk schema.GroupVersionKind) bool {
	if gvk.Group != Group {
		return false
	}
	switch gvk.Kind {
	case KindVerifier, KindPolicy, KindStore:
		return gvk.Version == "v1beta1" || gvk.Version == "v1alpha1"
	case KindKeyManagementProvider:
		return gvk.Version == "v1beta1"
	}
	return false
}
