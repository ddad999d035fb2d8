package sigstore_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/portcullis-dev/portcullis/internal/image/signature/signaturetest"
)

// trustRootDoc is a policy.sigstore.dev/v1alpha1 TrustRoot with the
// in-process Sigstore's CA and transparency log as sigstoreKeys, the byte
// fields base64-encoded as the CRD stores them.
func trustRootDoc(t *testing.T, name string, ss *signaturetest.Sigstore) string {
	t.Helper()
	cas := ss.TrustedRoot().FulcioCertificateAuthorities()
	if len(cas) != 1 {
		t.Fatalf("%d certificate authorities", len(cas))
	}
	ca, ok := cas[0].(*root.FulcioCertificateAuthority)
	if !ok {
		t.Fatalf("certificate authority of type %T", cas[0])
	}
	chain, err := cryptoutils.MarshalCertificatesToPEM(append(ca.Intermediates, ca.Root))
	if err != nil {
		t.Fatal(err)
	}
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	return fmt.Sprintf(`apiVersion: policy.sigstore.dev/v1alpha1
kind: TrustRoot
metadata:
  name: %s
spec:
  sigstoreKeys:
    certificateAuthorities:
    - subject: {organization: example, commonName: example}
      uri: https://fulcio.example.com
      certChain: %s
    tLogs:
    - baseURL: https://rekor.example.com
      hashAlgorithm: sha-256
      publicKey: %s
`, name, b64(chain), b64([]byte(ss.RekorPublicKeyPEM(t))))
}

const trustRootPolicy = `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: private-sigstore
spec:
  images: [{glob: "ghcr.io/team/**"}]
  authorities:
  - keyless:
      url: https://fulcio.example.com
      trustRootRef: private
      insecureIgnoreSCT: true
      identities:
      - issuer: https://issuer.example.com
        subjectRegExp: '^.*@example\.com$'
    ctlog:
      url: https://rekor.example.com
      trustRootRef: private
`

// TestTrustRoot checks that authorities verify with the TrustRoot their
// trustRootRef names, resolved within the same Compile call.
func TestTrustRoot(t *testing.T) {
	e := newEnv(t)
	ss := signaturetest.NewSigstore(t)
	signed := e.reg.PushRandom(t, "team/signed", "v1")
	ss.SignLegacy(t, e.reg, signed, "dev@example.com", "https://issuer.example.com")
	unsigned := e.reg.PushRandom(t, "team/unsigned", "v1")
	stranger := e.reg.PushRandom(t, "team/stranger", "v1")
	other := signaturetest.NewSigstore(t)
	other.SignLegacy(t, e.reg, stranger, "dev@example.com", "https://issuer.example.com")

	set := compile(t, trustRootDoc(t, "private", ss)+"---\n"+trustRootPolicy)
	name := func(repo, digest string) string { return "ghcr.io/" + repo + "@" + digest }
	tests := []struct {
		name, image, want string
	}{
		{name: "signed", image: name(signed.Repository, signed.Digest)},
		{name: "unsigned", image: name(unsigned.Repository, unsigned.Digest),
			want: "validation failed: " + name(unsigned.Repository, unsigned.Digest) +
				" signature keyless validation failed for authority authority-0 for " + name(unsigned.Repository, unsigned.Digest) + ": no signatures found"},
		{name: "signed by another Sigstore", image: name(stranger.Repository, stranger.Digest),
			want: "validation failed: " + name(stranger.Repository, stranger.Digest) +
				" signature keyless validation failed for authority authority-0 for " + name(stranger.Repository, stranger.Digest) + ": no matching signatures"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, res := evaluate(t, set, request(pod(tc.image)), e.cluster())
			assertFailures(t, res)
			var wantWhere []string
			if tc.want != "" {
				wantWhere = []string{"private-sigstore spec.containers[0].image"}
			}
			if diff := cmp.Diff(wantWhere, where(res)); diff != "" {
				t.Errorf("failing policies and paths (-want +got):\n%s", diff)
			}
			if tc.want == "" || !strings.HasSuffix(tc.want, "no matching signatures") {
				if diff := cmp.Diff(tc.want, got.Denial); diff != "" {
					t.Errorf("denial (-want +got):\n%s", diff)
				}
				return
			}
			if !strings.HasPrefix(got.Denial, tc.want) {
				t.Errorf("denial = %q, want prefix %q", got.Denial, tc.want)
			}
		})
	}
}

// TestTrustRootErrors checks that a broken TrustRoot is reported at its
// path, and the authorities that reference it with theirs.
func TestTrustRootErrors(t *testing.T) {
	broken := `apiVersion: policy.sigstore.dev/v1alpha1
kind: TrustRoot
metadata:
  name: private
spec:
  sigstoreKeys:
    certificateAuthorities:
    - subject: {organization: example, commonName: example}
      uri: https://fulcio.example.com
      certChain: "!!"
`
	_, got := compileErrs(t, broken+"---\n"+trustRootPolicy)
	want := []string{
		`test.yaml[TrustRoot/private].spec.sigstoreKeys.certificateAuthorities[0].certChain: Invalid value: "": must be base64: illegal base64 data at input byte 0`,
		`test.yaml[ClusterImagePolicy/private-sigstore].spec.authorities[0].keyless.trustRootRef: Invalid value: "private": the TrustRoot failed to compile`,
		`test.yaml[ClusterImagePolicy/private-sigstore].spec.authorities[0].ctlog.trustRootRef: Invalid value: "private": the TrustRoot failed to compile`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

// TestTimestampAuthority checks rfc3161timestamp: with a trustRootRef the
// signature needs an RFC 3161 timestamp from that root's TSA, and the
// transparency log is no longer required, as in policy-controller.
func TestTimestampAuthority(t *testing.T) {
	e := newEnv(t)
	ss := signaturetest.NewSigstore(t)
	stamped := e.reg.PushRandom(t, "team/stamped", "v1")
	ss.SignLegacy(t, e.reg, stamped, "dev@example.com", "https://issuer.example.com", signaturetest.WithTimestamp(), signaturetest.WithoutTlog())
	logged := e.reg.PushRandom(t, "team/logged", "v1")
	ss.SignLegacy(t, e.reg, logged, "dev@example.com", "https://issuer.example.com")

	trustRoot := fmt.Sprintf(`apiVersion: policy.sigstore.dev/v1alpha1
kind: TrustRoot
metadata:
  name: private
spec:
  trustedRootJSON: %s
`, base64.StdEncoding.EncodeToString(ss.TrustedRootJSON()))
	policy := `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: stamped
spec:
  images: [{glob: "ghcr.io/team/**"}]
  authorities:
  - keyless:
      url: https://fulcio.example.com
      trustRootRef: private
      identities: [{issuer: "https://issuer.example.com", subject: "dev@example.com"}]
    rfc3161timestamp:
      trustRootRef: private
`
	set := compile(t, trustRoot+"---\n"+policy)
	name := func(repo, digest string) string { return "ghcr.io/" + repo + "@" + digest }
	got, res := evaluate(t, set, request(pod(name(stamped.Repository, stamped.Digest))), e.cluster())
	assertFailures(t, res)
	if got.Denial != "" {
		t.Errorf("timestamped signature denied: %q", got.Denial)
	}
	got, res = evaluate(t, set, request(pod(name(logged.Repository, logged.Digest))), e.cluster())
	assertFailures(t, res)
	want := "validation failed: " + name(logged.Repository, logged.Digest) +
		" signature keyless validation failed for authority authority-0 for " + name(logged.Repository, logged.Digest) + ": no matching signatures"
	if !strings.HasPrefix(got.Denial, want) {
		t.Errorf("denial = %q, want prefix %q", got.Denial, want)
	}
	if diff := cmp.Diff([]string{"stamped spec.containers[0].image"}, where(res)); diff != "" {
		t.Errorf("failing policies and paths (-want +got):\n%s", diff)
	}
}
