package signaturetest

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/certificate-transparency-go/ctutil"
	ctx509 "github.com/google/certificate-transparency-go/x509"
	"github.com/google/certificate-transparency-go/x509util"
	"github.com/google/go-cmp/cmp"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/portcullis-dev/portcullis/internal/image"
	"github.com/portcullis-dev/portcullis/internal/image/imagetest"
)

const (
	testSubject = "dev@example.com"
	testIssuer  = "https://issuer.example.com"
)

// TestCertificateSCT checks the certificates against RFC 6962 with
// certificate-transparency-go and against sigstore-go's SCT check, using
// only the trusted root's CT log.
func TestCertificateSCT(t *testing.T) {
	tests := []struct {
		name    string
		opts    []Option
		wantSCT bool
		wantErr string // from verify.VerifySignedCertificateTimestamp
	}{
		{name: "embedded SCT", wantSCT: true},
		{name: "WithoutSCT", opts: []Option{WithoutSCT()}, wantErr: "only able to verify 0 SCT entries; unable to meet threshold of 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ss := NewSigstore(t)
			_, cert := ss.keyAndCertificate(t, testSubject, testIssuer, newConfig(tc.opts))
			inter, rootCert := ss.fulcio.Intermediates[0], ss.fulcio.Root

			pool := x509.NewCertPool()
			pool.AddCert(rootCert)
			inters := x509.NewCertPool()
			inters.AddCert(inter)
			if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inters, CurrentTime: cert.NotBefore,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}); err != nil {
				t.Errorf("certificate chain: %v", err)
			}
			for _, ext := range cert.Extensions {
				if ext.Id.Equal(asn1.ObjectIdentifier(ctx509.OIDExtensionCTPoison)) {
					t.Errorf("the certificate carries the CT poison extension")
				}
			}

			scts, err := x509util.ParseSCTsFromCertificate(cert.Raw)
			if err != nil {
				t.Fatalf("ParseSCTsFromCertificate: %v", err)
			}
			if got, want := len(scts), map[bool]int{true: 1, false: 0}[tc.wantSCT]; got != want {
				t.Fatalf("%d SCTs, want %d", got, want)
			}
			logs := ss.TrustedRoot().CTLogs()
			if len(logs) != 1 {
				t.Fatalf("%d CT logs in the trusted root, want 1", len(logs))
			}
			for id, l := range logs {
				der, err := x509.MarshalPKIXPublicKey(l.PublicKey)
				if err != nil {
					t.Fatal(err)
				}
				sum := sha256.Sum256(der)
				if id != hex.EncodeToString(sum[:]) {
					t.Errorf("CT log ID %s, want SHA-256 of its key %x", id, sum)
				}
				for _, sct := range scts {
					if diff := cmp.Diff(hex.EncodeToString(sum[:]), hex.EncodeToString(sct.LogID.KeyID[:])); diff != "" {
						t.Errorf("SCT log ID (-want +got):\n%s", diff)
					}
					chain, err := ctx509.ParseCertificates(append(append([]byte(nil), cert.Raw...), inter.Raw...))
					if err != nil {
						t.Fatal(err)
					}
					if err := ctutil.VerifySCT(l.PublicKey, chain, sct, true); err != nil {
						t.Errorf("VerifySCT: %v", err)
					}
					if at := time.UnixMilli(int64(sct.Timestamp)); at.Before(l.ValidityPeriodStart) || at.After(l.ValidityPeriodEnd) {
						t.Errorf("SCT time %v outside the CT log's validity [%v, %v]", at, l.ValidityPeriodStart, l.ValidityPeriodEnd)
					}
				}
			}

			err = verify.VerifySignedCertificateTimestamp([][]*x509.Certificate{{cert, inter, rootCert}}, 1, ss.TrustedRoot())
			checkErr(t, err, tc.wantErr)
		})
	}
}

// TestBundleWithSCT verifies bundles with sigstore-go, requiring an SCT,
// a log entry and an observer timestamp.
func TestBundleWithSCT(t *testing.T) {
	ref := image.Ref{Registry: "registry.example.com", Repository: "team/app", Digest: "sha256:" + strings.Repeat("ab", 32)}
	tests := []struct {
		name    string
		message bool
		opts    []Option
		wantErr string
	}{
		{name: "DSSE"},
		{name: "message signature", message: true},
		{name: "DSSE with a timestamp", opts: []Option{WithTimestamp()}},
		{name: "DSSE without SCT", opts: []Option{WithoutSCT()}, wantErr: "only able to verify 0 SCT entries"},
		{name: "message signature without SCT", message: true, opts: []Option{WithoutSCT()}, wantErr: "only able to verify 0 SCT entries"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ss := NewSigstore(t)
			c := newConfig(tc.opts)
			message := []byte(`{"manifest":"x"}`)
			var b *bundle.Bundle
			var err error
			artifact := verify.WithoutArtifactUnsafe()
			if tc.message {
				b, err = bundle.NewBundle(ss.messageBundle(t, ss.signMessage(t, testSubject, testIssuer, message, c), c))
				artifact = verify.WithArtifact(bytes.NewReader(message))
			} else {
				b, err = bundle.NewBundle(ss.dsseBundle(t, ss.attest(t, ref, testSubject, testIssuer, "https://example.com/p", nil, c), c))
			}
			if err != nil {
				t.Fatalf("NewBundle: %v", err)
			}
			v, err := verify.NewVerifier(ss.TrustedRoot(), verify.WithSignedCertificateTimestamps(1),
				verify.WithTransparencyLog(1), verify.WithObserverTimestamps(1))
			if err != nil {
				t.Fatal(err)
			}
			id, err := verify.NewShortCertificateIdentity(testIssuer, "", testSubject, "")
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Verify(b, verify.NewPolicy(artifact, verify.WithCertificateIdentity(id)))
			checkErr(t, err, tc.wantErr)
		})
	}
}

// TestCosignVerifiesSCT has the real cosign CLI verify keyless signatures
// against the trusted root: it requires an embedded SCT unless told
// --insecure-ignore-sct.
func TestCosignVerifiesSCT(t *testing.T) {
	tests := []struct {
		name    string
		bundle  bool
		opts    []Option
		extra   []string
		wantErr string
	}{
		{name: "legacy signature"},
		{name: "bundle", bundle: true},
		{name: "legacy signature without SCT", opts: []Option{WithoutSCT()},
			wantErr: "certificate does not include required embedded SCT"},
		{name: "bundle without SCT", bundle: true, opts: []Option{WithoutSCT()},
			wantErr: "only able to verify 0 SCT entries; unable to meet threshold of 1"},
		{name: "legacy signature without SCT, SCT ignored", opts: []Option{WithoutSCT()}, extra: []string{"--insecure-ignore-sct"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ss := NewSigstore(t)
			reg := imagetest.NewRegistry(t)
			ref := reg.PushRandom(t, "team/app", "v1")
			dir := t.TempDir()
			trustedRoot := filepath.Join(dir, "trusted_root.json")
			if err := os.WriteFile(trustedRoot, ss.TrustedRootJSON(), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"verify", "--trusted-root", trustedRoot, "--certificate-identity", testSubject,
				"--certificate-oidc-issuer", testIssuer, "--allow-http-registry", "--allow-insecure-registry"}
			if tc.bundle {
				ss.SignBundle(t, reg, ref, testSubject, testIssuer, tc.opts...)
				args = append(args, "--new-bundle-format")
			} else {
				ss.SignLegacy(t, reg, ref, testSubject, testIssuer, tc.opts...)
			}
			args = append(append(args, tc.extra...), digestName(t, ref).String())
			_, err := runCosign(t, dir, args...)
			checkErr(t, err, tc.wantErr)
		})
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Errorf("no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("error %q does not contain %q", err, want)
	}
}
