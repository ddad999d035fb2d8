package controller

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/image"
)

type recordingRegistry struct {
	image.Registry
	pulls []image.Pull
}

func (r *recordingRegistry) Resolve(_ context.Context, _ image.Ref, p image.Pull) (v1.Descriptor, error) {
	r.pulls = append(r.pulls, p)
	return v1.Descriptor{}, nil
}

func TestServiceAccountRegistry(t *testing.T) {
	kube := fake.NewClientset(
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "default"},
			ImagePullSecrets: []corev1.LocalObjectReference{{Name: "hub"}}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "builder"},
			ImagePullSecrets: []corev1.LocalObjectReference{{Name: "ghcr"}, {Name: "pod-secret"}}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "hub"}, Data: map[string][]byte{".dockerconfigjson": []byte("{}")}},
	)
	tests := []struct {
		name string
		in   image.Pull
		want image.Pull
	}{
		{"default service account", image.Pull{Namespace: "team"}, image.Pull{Namespace: "team", Secrets: []string{"hub"}}},
		{"named service account, pod secrets first, no duplicates",
			image.Pull{Namespace: "team", ServiceAccount: "builder", Secrets: []string{"pod-secret"}},
			image.Pull{Namespace: "team", ServiceAccount: "builder", Secrets: []string{"pod-secret", "ghcr"}}},
		{"missing service account", image.Pull{Namespace: "team", ServiceAccount: "nobody"}, image.Pull{Namespace: "team", ServiceAccount: "nobody"}},
		{"no namespace", image.Pull{}, image.Pull{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recordingRegistry{}
			reg := ServiceAccountRegistry{Registry: rec, Kube: kube}
			if _, err := reg.Resolve(context.Background(), image.Ref{}, tc.in); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]image.Pull{tc.want}, rec.pulls); diff != "" {
				t.Errorf("pull (-want +got):\n%s", diff)
			}
		})
	}
	data, err := SecretGetter{Kube: kube}.Secret(context.Background(), "team", "hub")
	if err != nil || string(data[".dockerconfigjson"]) != "{}" {
		t.Errorf("Secret = %v, %v", data, err)
	}
	if data, err := (SecretGetter{Kube: kube}).Secret(context.Background(), "team", "gone"); data != nil || err != nil {
		t.Errorf("missing Secret = %v, %v; want nil, nil", data, err)
	}
}

// TestKeySecrets checks the engine's Secret reader: the data of a Secret,
// and engine.ErrNotFound for a missing one.
func TestKeySecrets(t *testing.T) {
	kube := fake.NewClientset(
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "portcullis", Name: "cosign-key"}, Data: map[string][]byte{"cosign.pub": []byte("PEM")}},
	)
	tests := []struct {
		name, namespace, secret string
		want                    map[string][]byte
		wantErr                 string
		notFound                bool
	}{
		{name: "present", namespace: "portcullis", secret: "cosign-key", want: map[string][]byte{"cosign.pub": []byte("PEM")}},
		{name: "missing", namespace: "portcullis", secret: "gone", wantErr: "secret portcullis/gone: not found", notFound: true},
		{name: "another namespace", namespace: "team", secret: "cosign-key", wantErr: "secret team/cosign-key: not found", notFound: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := KeySecrets{Kube: kube}.Secret(context.Background(), tc.namespace, tc.secret)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if gotErr != tc.wantErr || errors.Is(err, engine.ErrNotFound) != tc.notFound {
				t.Errorf("error = %v (not found: %v), want %q (not found: %v)", err, errors.Is(err, engine.ErrNotFound), tc.wantErr, tc.notFound)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("data (-want +got):\n%s", diff)
			}
		})
	}
}
