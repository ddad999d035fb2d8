package certs_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/portcullis-dev/portcullis/internal/certs"
)

// serials returns the serial numbers of the certificates of a PEM bundle.
func serials(t *testing.T, bundle []byte) []string {
	t.Helper()
	var out []string
	for rest := bundle; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return out
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c.SerialNumber.String())
	}
}

func serial(ca *certs.CA) string { return ca.Cert.SerialNumber.String() }

func TestSecretCACreatesOnce(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	a := &certs.SecretCA{Client: client, Namespace: "portcullis"}
	b := &certs.SecretCA{Client: client, Namespace: "portcullis"}
	first, err := a.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	second, err := b.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if serial(first.CA) != serial(second.CA) {
		t.Errorf("two replicas got different CAs")
	}
	if diff := cmp.Diff([]string{serial(first.CA)}, serials(t, first.Bundle)); diff != "" {
		t.Errorf("bundle (-want +got):\n%s", diff)
	}
	secret, err := client.CoreV1().Secrets("portcullis").Get(ctx, certs.DefaultSecretName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if secret.Labels["app.kubernetes.io/managed-by"] != "portcullis" {
		t.Errorf("labels = %v", secret.Labels)
	}
}

// TestSecretCARotation walks a CA through its rotation: a successor is
// trusted before it signs, and the old CA stays trusted until it expires.
func TestSecretCARotation(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	now := time.Now()
	s := &certs.SecretCA{Client: client, Namespace: "portcullis", Now: func() time.Time { return now }}
	initial, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	old := serial(initial.CA)

	// Nothing to do while the CA is young.
	a, changed, err := s.Rotate(ctx)
	if err != nil || changed {
		t.Fatalf("Rotate = %v, %v; want no change", changed, err)
	}

	// Close to expiry: a successor is trusted but does not sign yet.
	now = initial.CA.Cert.NotAfter.Add(-certs.CARenewBefore / 2)
	a, changed, err = s.Rotate(ctx)
	if err != nil || !changed {
		t.Fatalf("Rotate = %v, %v; want a successor", changed, err)
	}
	if serial(a.CA) != old {
		t.Errorf("the successor signs before it is trusted everywhere")
	}
	bundle := serials(t, a.Bundle)
	if len(bundle) != 2 || bundle[0] != old {
		t.Fatalf("bundle = %v; want the old CA and its successor", bundle)
	}
	next := bundle[1]

	// Another replica sees the same state.
	other := &certs.SecretCA{Client: client, Namespace: "portcullis", Now: func() time.Time { return now }}
	if got, err := other.Load(ctx); err != nil || serial(got.CA) != old {
		t.Fatalf("Load = %v, %v", got, err)
	}

	// Not yet promoted before PromoteAfter.
	now = now.Add(certs.CAPromoteAfter / 2)
	if _, changed, err = s.Rotate(ctx); err != nil || changed {
		t.Fatalf("Rotate = %v, %v; want no change", changed, err)
	}

	// Promoted: the successor signs, the old CA is still trusted.
	now = now.Add(certs.CAPromoteAfter)
	a, changed, err = s.Rotate(ctx)
	if err != nil || !changed {
		t.Fatalf("Rotate = %v, %v; want the successor promoted", changed, err)
	}
	if serial(a.CA) != next {
		t.Errorf("signing CA %s; want the successor %s", serial(a.CA), next)
	}
	if diff := cmp.Diff([]string{next, old}, serials(t, a.Bundle)); diff != "" {
		t.Errorf("bundle (-want +got):\n%s", diff)
	}

	// Once the old CA has expired, it leaves the bundle.
	now = initial.CA.Cert.NotAfter.Add(time.Hour)
	a, changed, err = s.Rotate(ctx)
	if err != nil || !changed {
		t.Fatalf("Rotate = %v, %v; want the expired CA dropped", changed, err)
	}
	if diff := cmp.Diff([]string{next}, serials(t, a.Bundle)); diff != "" {
		t.Errorf("bundle (-want +got):\n%s", diff)
	}
}

func TestServingSync(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	s := &certs.SecretCA{Client: fake.NewClientset(), Namespace: "portcullis", Now: func() time.Time { return now }}
	a, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	store := &certs.Store{}
	serving := &certs.Serving{Store: store, Hosts: certs.ServiceHosts("portcullis", "portcullis")}
	current := func() *x509.Certificate {
		c, err := store.GetCertificate(&tls.ClientHelloInfo{})
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return leaf
	}
	verify := func(leaf *x509.Certificate, bundle []byte) error {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(bundle)
		_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "portcullis.portcullis.svc", CurrentTime: now})
		return err
	}

	if issued, err := serving.Sync(a, now); err != nil || !issued {
		t.Fatalf("Sync = %v, %v; want a certificate", issued, err)
	}
	first := current()
	if err := verify(first, a.Bundle); err != nil {
		t.Fatal(err)
	}
	if issued, err := serving.Sync(a, now.Add(time.Hour)); err != nil || issued {
		t.Fatalf("Sync = %v, %v; want the same certificate", issued, err)
	}
	// Renewed before it expires.
	now = first.NotAfter.Add(-certs.RenewBefore / 2)
	if issued, err := serving.Sync(a, now); err != nil || !issued {
		t.Fatalf("Sync = %v, %v; want a renewed certificate", issued, err)
	}
	if current().SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Errorf("the certificate was not replaced")
	}

	// A rotated CA: the new certificate verifies with the bundle, and so
	// does one that another replica still serves from the old CA.
	now = a.CA.Cert.NotAfter.Add(-certs.CARenewBefore / 2)
	if _, err := serving.Sync(a, now); err != nil {
		t.Fatal(err)
	}
	oldLeaf := current()
	if _, _, err := s.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * certs.CAPromoteAfter)
	rotated, _, err := s.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if issued, err := serving.Sync(rotated, now); err != nil || !issued {
		t.Fatalf("Sync = %v, %v; want a certificate from the new CA", issued, err)
	}
	if err := verify(current(), rotated.Bundle); err != nil {
		t.Errorf("new certificate: %v", err)
	}
	if err := verify(oldLeaf, rotated.Bundle); err != nil {
		t.Errorf("old certificate: %v", err)
	}
}
