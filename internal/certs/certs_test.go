package certs

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestIssueAndServe(t *testing.T) {
	now := time.Now()
	ca, err := NewCA("test-ca", now)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue([]string{"127.0.0.1", "localhost"}, now)
	if err != nil {
		t.Fatal(err)
	}
	store := &Store{}
	if err := store.Replace(certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) }), TLSConfig: store.TLSConfig()}
	go hs.ServeTLS(ln, "", "")
	defer hs.Close()
	srv := struct{ URL string }{"https://" + ln.Addr().String()}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatalf("the issued certificate does not verify against the CA: %v", err)
	}
	resp.Body.Close()

	// A new certificate from a new CA is served without a restart.
	ca2, _ := NewCA("test-ca-2", now)
	c2, k2, _ := ca2.Issue([]string{"127.0.0.1"}, now)
	if err := store.Replace(c2, k2); err != nil {
		t.Fatal(err)
	}
	client.CloseIdleConnections()
	if _, err := client.Get(srv.URL); err == nil {
		t.Error("the old CA still verifies after the certificate was replaced")
	}
	pool.AppendCertsFromPEM(ca2.CertPEM)
	if _, err := client.Get(srv.URL); err != nil {
		t.Errorf("the new certificate is not served: %v", err)
	}
}

func TestRenewalAndFiles(t *testing.T) {
	now := time.Now()
	ca, _ := NewCA("ca", now)
	certPEM, keyPEM, _ := ca.Issue([]string{"svc"}, now)
	if NeedsRenewal(certPEM, now) {
		t.Error("a fresh certificate needs renewal")
	}
	if !NeedsRenewal(certPEM, now.Add(ServingValidity-RenewBefore/2)) {
		t.Error("a certificate close to expiry does not need renewal")
	}
	if !NeedsRenewal([]byte("garbage"), now) {
		t.Error("an unreadable certificate does not need renewal")
	}
	if _, err := ParseCA(ca.CertPEM, ca.KeyPEM); err != nil {
		t.Errorf("ParseCA: %v", err)
	}
	if _, err := ParseCA(certPEM, keyPEM); err == nil {
		t.Error("a serving certificate parsed as a CA")
	}

	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	os.WriteFile(cf, certPEM, 0o600)
	os.WriteFile(kf, keyPEM, 0o600)
	store := &Store{}
	src, err := NewFileSource(store, cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	if changed, _ := src.Reload(); changed {
		t.Error("unchanged files reloaded")
	}
	c2, k2, _ := ca.Issue([]string{"svc2"}, now)
	os.WriteFile(cf, c2, 0o600)
	os.WriteFile(kf, k2, 0o600)
	if changed, err := src.Reload(); !changed || err != nil {
		t.Errorf("changed files not reloaded: %v", err)
	}
}
