package controller

import (
	"context"
	"fmt"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/image"
)

// SecretGetter reads image pull Secrets with a GET each: portcullis needs
// few of them, rarely (the registry client caches the credentials), so it
// neither lists nor watches Secrets cluster-wide. It implements
// registry.SecretGetter.
type SecretGetter struct {
	Kube kubernetes.Interface
}

// Secret returns the data of the Secret, or nil when it does not exist.
func (g SecretGetter) Secret(ctx context.Context, namespace, name string) (map[string][]byte, error) {
	s, err := g.Kube.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read secret %s/%s: %w", namespace, name, err)
	}
	return s.Data, nil
}

// KeySecrets reads the Secrets that hold the public keys of image policies
// with a GET each (the policies' key references re-read them at most every
// signature.KeyRefreshInterval). Unlike SecretGetter, a Secret that does
// not exist is an error wrapping engine.ErrNotFound. It implements
// engine.SecretGetter.
type KeySecrets struct {
	Kube kubernetes.Interface
}

var _ engine.SecretGetter = KeySecrets{}

// Secret returns the data of the Secret.
func (g KeySecrets) Secret(ctx context.Context, namespace, name string) (map[string][]byte, error) {
	s, err := g.Kube.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("secret %s/%s: %w", namespace, name, engine.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read secret %s/%s: %w", namespace, name, err)
	}
	return s.Data, nil
}

// ServiceAccountRegistry adds to every request the imagePullSecrets of the
// Pod's service account, as the kubelet does, before passing it on.
type ServiceAccountRegistry struct {
	image.Registry
	Kube kubernetes.Interface
}

var _ image.Registry = ServiceAccountRegistry{}

func (r ServiceAccountRegistry) pull(ctx context.Context, p image.Pull) (image.Pull, error) {
	if p.Namespace == "" {
		return p, nil
	}
	sa := p.ServiceAccount
	if sa == "" {
		sa = "default"
	}
	obj, err := r.Kube.CoreV1().ServiceAccounts(p.Namespace).Get(ctx, sa, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return p, nil
	}
	if err != nil {
		return p, fmt.Errorf("failed to read service account %s/%s: %w", p.Namespace, sa, err)
	}
	secrets := slices.Clone(p.Secrets)
	for _, s := range obj.ImagePullSecrets {
		if s.Name != "" && !slices.Contains(secrets, s.Name) {
			secrets = append(secrets, s.Name)
		}
	}
	p.Secrets = secrets
	return p, nil
}

// Resolve implements image.Registry.
func (r ServiceAccountRegistry) Resolve(ctx context.Context, ref image.Ref, p image.Pull) (v1.Descriptor, error) {
	p, err := r.pull(ctx, p)
	if err != nil {
		return v1.Descriptor{}, err
	}
	return r.Registry.Resolve(ctx, ref, p)
}

// Manifest implements image.Registry.
func (r ServiceAccountRegistry) Manifest(ctx context.Context, ref image.Ref, p image.Pull) ([]byte, v1.Descriptor, error) {
	p, err := r.pull(ctx, p)
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	return r.Registry.Manifest(ctx, ref, p)
}

// Blob implements image.Registry.
func (r ServiceAccountRegistry) Blob(ctx context.Context, ref image.Ref, digest v1.Hash, p image.Pull) ([]byte, error) {
	p, err := r.pull(ctx, p)
	if err != nil {
		return nil, err
	}
	return r.Registry.Blob(ctx, ref, digest, p)
}

// Referrers implements image.Registry.
func (r ServiceAccountRegistry) Referrers(ctx context.Context, ref image.Ref, artifactType string, p image.Pull) ([]v1.Descriptor, error) {
	p, err := r.pull(ctx, p)
	if err != nil {
		return nil, err
	}
	return r.Registry.Referrers(ctx, ref, artifactType, p)
}
