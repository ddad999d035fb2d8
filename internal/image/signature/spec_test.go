package signature_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/portcullis-dev/portcullis/internal/image"
	"github.com/portcullis-dev/portcullis/internal/image/imagetest"
	"github.com/portcullis-dev/portcullis/internal/image/signature"
	"github.com/portcullis-dev/portcullis/internal/image/signature/signaturetest"
)

func TestNewErrors(t *testing.T) {
	ss := signaturetest.NewSigstore(t)
	id := []signature.Identity{{Subject: testSubject}}
	tests := []struct {
		name string
		spec signature.Spec
		opts signature.Options
		want []string
	}{{
		name: "nothing set",
		want: []string{"exactly one of publicKeys, identities or certificate must be set"},
	}, {
		name: "keys and identities",
		spec: signature.Spec{PublicKeys: ss.RekorPublicKeyPEM(t), Identities: id, TrustedRoot: ss.TrustedRoot()},
		want: []string{"exactly one of publicKeys, identities or certificate must be set"},
	}, {
		name: "not a key",
		spec: signature.Spec{PublicKeys: "ssh-ed25519 AAAA"},
		want: []string{"publicKeys: not a PEM public key"},
	}, {
		name: "keyless without a trusted root",
		spec: signature.Spec{Identities: id},
		want: []string{"identities: keyless verification needs a trusted root with certificate authorities (trustedRoot, the default root or roots)"},
	}, {
		name: "keyless with the default root",
		spec: signature.Spec{Identities: id},
		opts: signature.Options{DefaultRoot: ss.TrustedRoot()},
	}, {
		name: "every problem at once",
		spec: signature.Spec{
			Identities:     []signature.Identity{{}, {SubjectRegExp: "(", IssuerRegExp: "["}},
			TrustedRoot:    ss.TrustedRoot(),
			Format:         "oci",
			HashAlgorithm:  crypto.MD5,
			RekorPublicKey: "nope",
			Repository:     "UPPER/Case",
		},
		want: []string{
			`format: unsupported value "oci": must be "legacy", "bundle" or empty`,
			"hashAlgorithm: unsupported hash MD5: must be SHA256, SHA384 or SHA512",
			`repository: invalid repository "UPPER/Case"`,
			"rekorPublicKey: not a PEM public key",
			"identities[0]: one of issuer, issuerRegExp, subject or subjectRegExp must be set",
			"identities[1].issuerRegExp: error parsing regexp: missing closing ]: `[`",
			"identities[1].subjectRegExp: error parsing regexp: missing closing ): `(`",
		},
	}, {
		name: "roots without identities",
		spec: signature.Spec{PublicKeys: ss.RekorPublicKeyPEM(t), Roots: ss.CAPEM(t)},
		want: []string{"roots: only allowed with identities"},
	}, {
		name: "certificate that is not one",
		spec: signature.Spec{Certificate: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"},
		want: []string{"certificate: "},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := signature.New(tc.spec, tc.opts)
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			for i := range got {
				if i < len(tc.want) && tc.want[i] != "" && strings.HasPrefix(got[i], tc.want[i]) && strings.HasSuffix(tc.want[i], ": ") {
					got[i] = tc.want[i]
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTrustMaterialOptions covers Roots, RekorPublicKey, CTLogPublicKey,
// RequireSCT (the Sigstore's certificates embed an SCT, as Fulcio's do) and
// Repository with keyless signatures.
func TestTrustMaterialOptions(t *testing.T) {
	exact := []signature.Identity{{Subject: testSubject, Issuer: testIssuer}}
	tests := []struct {
		name    string
		sigRepo string // where the signature is pushed (default: the image's repository)
		bundle  bool   // sign with SignBundle instead of SignLegacy
		opts    []signaturetest.Option
		spec    func(ss *signaturetest.Sigstore, reg *imagetest.Registry) signature.Spec
		wantErr string
	}{{
		name: "roots and the Rekor key instead of a trusted root",
		spec: func(ss *signaturetest.Sigstore, _ *imagetest.Registry) signature.Spec {
			return signature.Spec{Identities: exact, Roots: ss.CAPEM(t), RekorPublicKey: ss.RekorPublicKeyPEM(t), RequireTLog: true}
		},
	}, {
		name: "roots without the Rekor key, tlog required",
		spec: func(ss *signaturetest.Sigstore, _ *imagetest.Registry) signature.Spec {
			return signature.Spec{Identities: exact, Roots: ss.CAPEM(t), RequireTLog: true}
		},
		wantErr: "not enough verified log entries from transparency log: 0 < 1",
	}, {
		name: "SCT required, legacy signature with one",
		spec: func(ss *signaturetest.Sigstore, _ *imagetest.Registry) signature.Spec {
			return signature.Spec{Identities: exact, TrustedRoot: ss.TrustedRoot(), RequireTLog: true, RequireSCT: true}
		},
	}, {
		name:   "SCT required, bundle with one",
		bundle: true,
		spec: func(ss *signaturetest.Sigstore, _ *imagetest.Registry) signature.Spec {
			return signature.Spec{Identities: exact, TrustedRoot: ss.TrustedRoot(), RequireTLog: true, RequireSCT: true}
		},
	}, {
		name: "SCT required, certificate without one",
		opts: []signaturetest.Option{signaturetest.WithoutSCT()},
		spec: func(ss *signaturetest.Sigstore, _ *imagetest.Registry) signature.Spec {
			return signature.Spec{Identities: exact, TrustedRoot: ss.TrustedRoot(), RequireTLog: true, RequireSCT: true}
		},
		wantErr: "no matching signatures: failed to verify signed certificate timestamp: only able to verify 0 SCT entries; unable to meet threshold of 1",
	}, {
		name:   "SCT required, bundle certificate without one",
		bundle: true,
		opts:   []signaturetest.Option{signaturetest.WithoutSCT()},
		spec: func(ss *signaturetest.Sigstore, _ *imagetest.Registry) signature.Spec {
			return signature.Spec{Identities: exact, TrustedRoot: ss.TrustedRoot(), RequireTLog: true, RequireSCT: true}
		},
		wantErr: "no matching signatures: failed to verify signed certificate timestamp: only able to verify 0 SCT entries; unable to meet threshold of 1",
	}, {
		name: "SCT not required, certificate without one",
		opts: []signaturetest.Option{signaturetest.WithoutSCT()},
		spec: func(ss *signaturetest.Sigstore, _ *imagetest.Registry) signature.Spec {
			return signature.Spec{Identities: exact, TrustedRoot: ss.TrustedRoot(), RequireTLog: true}
		},
	}, {
		name: "roots, Rekor key and CT log key, SCT required",
		spec: func(ss *signaturetest.Sigstore, _ *imagetest.Registry) signature.Spec {
			return signature.Spec{Identities: exact, Roots: ss.CAPEM(t), RekorPublicKey: ss.RekorPublicKeyPEM(t),
				CTLogPublicKey: ss.CTLogPublicKeyPEM(t), RequireTLog: true, RequireSCT: true}
		},
	}, {
		name: "roots and Rekor key without the CT log key, SCT required",
		spec: func(ss *signaturetest.Sigstore, _ *imagetest.Registry) signature.Spec {
			return signature.Spec{Identities: exact, Roots: ss.CAPEM(t), RekorPublicKey: ss.RekorPublicKeyPEM(t), RequireTLog: true, RequireSCT: true}
		},
		wantErr: "no matching signatures: failed to verify signed certificate timestamp: only able to verify 0 SCT entries; unable to meet threshold of 1",
	}, {
		name:    "signatures in another repository",
		sigRepo: "team/signatures",
		spec: func(ss *signaturetest.Sigstore, reg *imagetest.Registry) signature.Spec {
			return signature.Spec{Identities: exact, TrustedRoot: ss.TrustedRoot(), RequireTLog: true, Repository: reg.Host() + "/team/signatures"}
		},
	}, {
		name:    "signatures in another repository, not configured",
		sigRepo: "team/signatures",
		spec: func(ss *signaturetest.Sigstore, reg *imagetest.Registry) signature.Spec {
			return signature.Spec{Identities: exact, TrustedRoot: ss.TrustedRoot(), RequireTLog: true}
		},
		wantErr: "no signatures found",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ss := signaturetest.NewSigstore(t)
			reg := imagetest.NewRegistry(t)
			ref := reg.PushRandom(t, "team/app", "v1")
			at := ref
			if tc.sigRepo != "" {
				at = image.Ref{Registry: ref.Registry, Repository: tc.sigRepo, Digest: ref.Digest}
			}
			if tc.bundle {
				ss.SignBundle(t, reg, at, testSubject, testIssuer, tc.opts...)
			} else {
				ss.SignLegacy(t, reg, at, testSubject, testIssuer, tc.opts...)
			}
			v := newVerifier(t, tc.spec(ss, reg))
			_, err := v.Signatures(ctx(t), newClient(t, reg), ref, image.Pull{})
			checkErr(t, err, tc.wantErr)
		})
	}
}

// TestCertificateAuthority signs with cosign and a certificate for the
// key, and verifies with the certificate (and its chain).
func TestCertificateAuthority(t *testing.T) {
	key := signaturetest.GenerateKeyPair(t)
	pub, err := cryptoutils.UnmarshalPEMToPublicKey([]byte(key.PublicKeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	certPEM, chainPEM := issueCertificate(t, pub)
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherPEM, otherChainPEM := issueCertificate(t, otherKey.Public())

	dir := t.TempDir()
	certFile, chainFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "chain.pem")
	if err := os.WriteFile(certFile, []byte(certPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(chainFile, []byte(chainPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	reg := imagetest.NewRegistry(t)
	ref := reg.PushRandom(t, "team/app", "v1")
	signaturetest.CosignSign(t, ref, key, "--certificate", certFile, "--certificate-chain", chainFile)

	tests := []struct {
		name    string
		spec    signature.Spec
		wantErr string
	}{
		{name: "certificate and chain", spec: signature.Spec{Certificate: certPEM, CertificateChain: chainPEM}},
		{name: "certificate alone", spec: signature.Spec{Certificate: certPEM}},
		{name: "another certificate", spec: signature.Spec{Certificate: otherPEM, CertificateChain: otherChainPEM}, wantErr: "no matching signatures: failed to verify signature"},
		{name: "the key of the certificate", spec: signature.Spec{PublicKeys: key.PublicKeyPEM}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier(t, tc.spec)
			sigs, err := v.Signatures(ctx(t), newClient(t, reg), ref, image.Pull{})
			checkErr(t, err, tc.wantErr)
			if tc.wantErr == "" && tc.spec.Certificate != "" && (len(sigs) != 1 || sigs[0].Certificate == nil || sigs[0].Subject != "signer@example.com") {
				t.Errorf("signatures %+v, want one by signer@example.com", sigs)
			}
		})
	}

	if _, err := signature.New(signature.Spec{Certificate: certPEM, CertificateChain: otherChainPEM}, signature.Options{}); err == nil ||
		!strings.Contains(err.Error(), "certificate: certificate does not chain to certificateChain") {
		t.Errorf("certificate with another chain: error %v", err)
	}
}

// issueCertificate issues a code-signing certificate for pub from a new
// CA, and returns it and the CA (PEM).
func issueCertificate(t *testing.T, pub crypto.PublicKey) (certPEM, chainPEM string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "signer"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(12 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		EmailAddresses: []string{"signer@example.com"},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, pub, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(leafDER)
	if err != nil {
		t.Fatal(err)
	}
	l, err := cryptoutils.MarshalCertificateToPEM(leaf)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cryptoutils.MarshalCertificateToPEM(ca)
	if err != nil {
		t.Fatal(err)
	}
	return string(l), string(c)
}
