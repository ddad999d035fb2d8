// Package image is the neutral core of the image layer: parsed and
// normalized image references, the Registry port that policies read images
// through, and the pull context that says how to authenticate. It does no
// I/O itself: internal/image/registry implements Registry over the OCI
// distribution protocol, and tests pass in-process fakes.
package image

import (
	"context"
	"errors"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ErrNotFound is returned by a Registry when a manifest, blob, tag or
// referrers list does not exist. Callers branch on it with errors.Is.
var ErrNotFound = errors.New("not found in registry")

// Pull says how a registry request authenticates: the names of the Secrets
// (of type kubernetes.io/dockerconfigjson or dockercfg) in Namespace that
// the Pod and its service account list as imagePullSecrets. The zero value
// uses only the registry client's own credentials.
type Pull struct {
	Namespace      string
	ServiceAccount string
	Secrets        []string
}

// Registry reads what the image layer needs from OCI registries. Every
// method is bounded in time by ctx and in size by the implementation, and
// safe for concurrent use. Implementations cache immutable content by
// digest and mutable answers (tags, referrers) for a short time.
type Registry interface {
	// Resolve returns the descriptor of the manifest ref names. For a
	// digest reference the answer's digest must be that digest.
	Resolve(ctx context.Context, ref Ref, pull Pull) (v1.Descriptor, error)
	// Manifest returns the raw manifest ref names (tag or digest) and its
	// descriptor; the content is checked against the digest.
	Manifest(ctx context.Context, ref Ref, pull Pull) ([]byte, v1.Descriptor, error)
	// Blob returns the content of the blob with the given digest in ref's
	// repository, checked against the digest.
	Blob(ctx context.Context, ref Ref, digest v1.Hash, pull Pull) ([]byte, error)
	// Referrers returns the descriptors of the manifests that refer to the
	// digest reference ref, from the OCI 1.1 referrers API, or from the
	// sha256-<hex> tag when the registry has no referrers API. A non-empty
	// artifactType keeps only referrers of that type.
	Referrers(ctx context.Context, ref Ref, artifactType string, pull Pull) ([]v1.Descriptor, error)
}
