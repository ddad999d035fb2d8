package sigstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/image/signature"
)

// secretKey is an authority's key.secretRef. policy-controller reads the
// Secret from its own namespace whatever the reference's namespace says,
// and inlines its single data entry as the key's data; portcullis reads it
// when images are verified (at most every signature.KeyRefreshInterval).
type secretKey struct {
	name, namespace string
	// path is the field path of the reference, for messages.
	path string
}

// verifierFor returns the verifier of a source: its own, or the one of the
// key its Secret holds now. Failing to get the key is an error naming the
// Secret and the field.
func (s *signatureSource) verifierFor(ctx context.Context, cluster engine.Cluster) (*signature.Verifier, error) {
	if s.keys == nil {
		return s.verifier, nil
	}
	sk := s.secret
	switch {
	case cluster.Secrets == nil:
		return nil, fmt.Errorf("%s: cannot read secret %q: keys in Secrets are only read in a cluster (portcullis serve)", sk.path, sk.name)
	case sk.namespace == "":
		return nil, fmt.Errorf("%s: cannot read secret %q: the namespace of policy-controller's Secrets is not configured", sk.path, sk.name)
	}
	v, err := s.keys.Verifier(ctx, func(ctx context.Context) (string, error) {
		return sk.read(ctx, cluster.Secrets)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sk.path, err)
	}
	return v, nil
}

// read returns the PEM key of the Secret, checked as policy-controller's
// reconciler checks it, with its messages.
func (sk *secretKey) read(ctx context.Context, secrets engine.SecretGetter) (string, error) {
	data, err := secrets.Secret(ctx, sk.namespace, sk.name)
	switch {
	case errors.Is(err, engine.ErrNotFound):
		return "", fmt.Errorf("secret %q not found in namespace %s", sk.name, sk.namespace)
	case err != nil:
		return "", fmt.Errorf("failed to read secret %q in namespace %s: %w", sk.name, sk.namespace, err)
	case len(data) == 0:
		return "", fmt.Errorf("secret %q contains no data", sk.name)
	case len(data) > 1:
		return "", fmt.Errorf("secret %q contains multiple data entries, only one is supported", sk.name)
	}
	for _, v := range data {
		if _, err := cryptoutils.UnmarshalPEMToPublicKey(v); err != nil {
			return "", fmt.Errorf("secret %q contains an invalid public key: %w", sk.name, err)
		}
		return string(v), nil
	}
	return "", nil
}
