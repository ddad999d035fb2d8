package kyverno

import (
	"context"
	"errors"
	"fmt"

	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/image/signature"
)

// secretKeyEntry is the data key of the public key in a keys.secret
// Secret, as cosign's k8s:// key references read it.
const secretKeyEntry = "cosign.pub"

// secretKey is an attestor's keys.secret. Kyverno hands cosign the key
// reference k8s://<namespace>/<name>, which reads the Secret's cosign.pub
// entry; portcullis reads it when images are verified (at most every
// signature.KeyRefreshInterval).
type secretKey struct {
	namespace, name string
	// bundle is set for SigstoreBundle attestors, whose messages differ.
	bundle bool
}

// ref is the Secret as a cosign key reference.
func (sk *secretKey) ref() string { return "k8s://" + sk.namespace + "/" + sk.name }

// failed is Kyverno's message for a key that could not be loaded.
func (sk *secretKey) failed(err error) error {
	if sk.bundle {
		return &registryError{err: fmt.Errorf("failed to load public key: %w", err)}
	}
	return &registryError{err: fmt.Errorf("failed to load public key from %s: %w", sk.ref(), err)}
}

// verifierFor returns the attestor's verifier: its own, or the one of the
// key its Secret holds now. Failing to get the key is an error (the
// failure policy decides) naming the Secret.
func (e *attestorCheck) verifierFor(ctx context.Context, cluster engine.Cluster) (*signature.Verifier, error) {
	if e.keys == nil {
		if e.verifier == nil {
			return nil, errors.New("invalid attestor")
		}
		return e.verifier, nil
	}
	sk := e.secret
	if cluster.Secrets == nil {
		return nil, sk.failed(errors.New("keys in Secrets are only read in a cluster (portcullis serve)"))
	}
	v, err := e.keys.Verifier(ctx, func(ctx context.Context) (string, error) {
		return sk.read(ctx, cluster.Secrets)
	})
	if err != nil {
		return nil, sk.failed(err)
	}
	return v, nil
}

// read returns the public key of the Secret's cosign.pub entry, in the
// words of cosign's k8s:// key references: only the first PEM block
// counts.
func (sk *secretKey) read(ctx context.Context, secrets engine.SecretGetter) (string, error) {
	data, err := secrets.Secret(ctx, sk.namespace, sk.name)
	switch {
	case errors.Is(err, engine.ErrNotFound):
		return "", fmt.Errorf("checking if secret exists: secrets %q not found", sk.name)
	case err != nil:
		return "", fmt.Errorf("checking if secret exists: %w", err)
	}
	raw, ok := data[secretKeyEntry]
	if !ok {
		return "", fmt.Errorf("secret %s/%s has no %s entry", sk.namespace, sk.name, secretKeyEntry)
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(raw)
	if err != nil {
		return "", err
	}
	pem, err := cryptoutils.MarshalPublicKeyToPEM(pub)
	if err != nil {
		return "", err
	}
	return string(pem), nil
}
