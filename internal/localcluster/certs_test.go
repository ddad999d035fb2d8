package localcluster

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"
)

func decodePEM(t *testing.T, data []byte, wantType string) []byte {
	t.Helper()
	block, rest := pem.Decode(data)
	if block == nil || block.Type != wantType || len(rest) != 0 {
		t.Fatalf("want exactly one %s PEM block, got %q", wantType, data)
	}
	return block.Bytes
}

func TestNewCredentials(t *testing.T) {
	now := time.Now()
	creds, err := newCredentials(now)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(decodePEM(t, creds.caCert, "CERTIFICATE"))
	if err != nil {
		t.Fatal(err)
	}
	serving, err := x509.ParseCertificate(decodePEM(t, creds.servingCert, "CERTIFICATE"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, name := range []string{"127.0.0.1", "::1", "localhost", "kubernetes.default.svc", "10.0.0.1"} {
		if _, err := serving.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, CurrentTime: now}); err != nil {
			t.Errorf("serving certificate does not verify for %s: %v", name, err)
		}
	}
	if _, err := serving.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: roots, CurrentTime: now}); err == nil {
		t.Error("serving certificate verifies for example.com")
	}

	key, err := x509.ParsePKCS8PrivateKey(decodePEM(t, creds.servingKey, "PRIVATE KEY"))
	if err != nil {
		t.Fatal(err)
	}
	if !key.(*ecdsa.PrivateKey).PublicKey.Equal(serving.PublicKey) {
		t.Error("serving key does not match the serving certificate")
	}
	saKey, err := x509.ParsePKCS8PrivateKey(decodePEM(t, creds.saKey, "PRIVATE KEY"))
	if err != nil {
		t.Fatal(err)
	}
	saPub, err := x509.ParsePKIXPublicKey(decodePEM(t, creds.saPublicKey, "PUBLIC KEY"))
	if err != nil {
		t.Fatal(err)
	}
	if !saKey.(*ecdsa.PrivateKey).PublicKey.Equal(saPub) {
		t.Error("service account public key does not match its private key")
	}
	if len(creds.token) != 64 {
		t.Errorf("token %q: want 64 hex digits", creds.token)
	}
	other, err := newCredentials(now)
	if err != nil {
		t.Fatal(err)
	}
	if other.token == creds.token {
		t.Error("two calls generated the same token")
	}
}
