package sigstore_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/image"
	"github.com/portcullis-dev/portcullis/internal/image/signature"
	"github.com/portcullis-dev/portcullis/internal/image/signature/signaturetest"
	"github.com/portcullis-dev/portcullis/internal/policy/sigstore"
)

// The identity the seed's chainguard-images-are-signed policy trusts.
const (
	chainguardSubject = "https://github.com/chainguard-images/images/.github/workflows/release.yaml@refs/heads/main"
	githubIssuer      = "https://token.actions.githubusercontent.com"
)

// TestSeedChainguardImagesAreSigned runs the seed's keyless policy
// unchanged against images signed by an in-process Sigstore (its trusted
// root is the default root, standing in for the public-good one): the
// certificate must chain to the CA, carry an SCT from the CT log, name the
// seed's identity, and the signature must be in the transparency log.
func TestSeedChainguardImagesAreSigned(t *testing.T) {
	e := newEnv(t)
	ss := signaturetest.NewSigstore(t)
	opt := sigstore.WithSignatureOptions(signature.Options{DefaultRoot: ss.TrustedRoot()})
	src := seed(t, "sigstore-chainguard-images-are-signed.yaml")
	set := compile(t, src, opt)
	// The same policy with insecureIgnoreSCT, as policy-controller allows.
	ignoreSCT := strings.Replace(src, "      url: https://fulcio.sigstore.dev\n", "      url: https://fulcio.sigstore.dev\n      insecureIgnoreSCT: true\n", 1)
	if ignoreSCT == src {
		t.Fatal("could not add insecureIgnoreSCT to the seed policy")
	}
	noSCTSet := compile(t, ignoreSCT, opt)

	push := func(repo string) image.Ref {
		t.Helper()
		return e.reg.PushRandom(t, repo, "latest")
	}
	legacy := push("chainguard/legacy")
	ss.SignLegacy(t, e.reg, legacy, chainguardSubject, githubIssuer)
	bundle := push("chainguard/bundle")
	ss.SignBundle(t, e.reg, bundle, chainguardSubject, githubIssuer)
	unsigned := push("chainguard/unsigned")
	stranger := push("chainguard/stranger")
	ss.SignLegacy(t, e.reg, stranger, "https://github.com/someone/else/.github/workflows/release.yaml@refs/heads/main", githubIssuer)
	noTlog := push("chainguard/notlog")
	ss.SignLegacy(t, e.reg, noTlog, chainguardSubject, githubIssuer, signaturetest.WithoutTlog())
	noSCT := push("chainguard/nosct")
	ss.SignLegacy(t, e.reg, noSCT, chainguardSubject, githubIssuer, signaturetest.WithoutSCT())
	otherDigest := push("chainguard/otherdigest")
	ss.SignLegacy(t, e.reg, otherDigest, chainguardSubject, githubIssuer, signaturetest.ClaimDigest(legacy.Digest))
	tampered := push("chainguard/tampered")
	ss.SignLegacy(t, e.reg, tampered, chainguardSubject, githubIssuer, signaturetest.TamperPayload())

	name := func(r image.Ref) string { return "cgr.dev/" + r.Repository + "@" + r.Digest }
	failed := func(r image.Ref, reason string) string {
		return "validation failed: " + name(r) + " signature keyless validation failed for authority authority-0 for " + name(r) + ": " + reason
	}
	tests := []struct {
		name   string
		set    *engine.Set
		image  string
		denied bool
		// want is the whole denial, or its start when prefix is set.
		want   string
		prefix bool
	}{
		{name: "legacy signature", image: name(legacy)},
		{name: "bundle signature", image: name(bundle)},
		{name: "by tag", image: "cgr.dev/chainguard/legacy:latest"},
		{name: "unsigned", image: name(unsigned), denied: true, want: failed(unsigned, "no signatures found")},
		{name: "wrong subject", image: name(stranger), denied: true, want: failed(stranger, "no matching signatures"), prefix: true},
		{name: "no transparency log entry", image: name(noTlog), denied: true, want: failed(noTlog, "no matching signatures"), prefix: true},
		{name: "certificate without SCT", image: name(noSCT), denied: true,
			want: failed(noSCT, "no matching signatures: failed to verify signed certificate timestamp"), prefix: true},
		{name: "certificate without SCT, insecureIgnoreSCT", set: noSCTSet, image: name(noSCT)},
		{name: "signature over another digest", image: name(otherDigest), denied: true, want: failed(otherDigest, "no matching signatures"), prefix: true},
		{name: "tampered payload", image: name(tampered), denied: true, want: failed(tampered, "no matching signatures"), prefix: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := set
			if tc.set != nil {
				s = tc.set
			}
			got, res := evaluate(t, s, request(pod(tc.image)), e.cluster())
			assertFailures(t, res)
			var wantWhere []string
			if tc.denied {
				wantWhere = []string{"chainguard-images-are-signed spec.containers[0].image"}
			}
			if diff := cmp.Diff(wantWhere, where(res)); diff != "" {
				t.Errorf("failing policies and paths (-want +got):\n%s", diff)
			}
			if !tc.denied {
				if got.Denial != "" || len(got.Warnings) > 0 {
					t.Fatalf("not admitted: %+v", got)
				}
				if n := len(res.Rules); n == 0 {
					t.Fatalf("no results")
				}
				return
			}
			if tc.prefix {
				if !strings.HasPrefix(got.Denial, tc.want) {
					t.Fatalf("denial = %q, want it to start with %q", got.Denial, tc.want)
				}
				return
			}
			if diff := cmp.Diff(tc.want, got.Denial); diff != "" {
				t.Errorf("denial (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSignatureFormat checks signatureFormat: legacy finds only .sig
// signatures, bundle only Sigstore bundles, and unset finds both.
func TestSignatureFormat(t *testing.T) {
	e := newEnv(t)
	ss := signaturetest.NewSigstore(t)
	legacy := e.reg.PushRandom(t, "team/legacy", "v1")
	ss.SignLegacy(t, e.reg, legacy, "dev@example.com", "https://issuer.example.com")
	bundle := e.reg.PushRandom(t, "team/bundle", "v1")
	ss.SignBundle(t, e.reg, bundle, "dev@example.com", "https://issuer.example.com")
	policy := func(format string) string {
		s := `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: formats
spec:
  images: [{glob: "ghcr.io/team/**"}]
  authorities:
  - keyless:
      url: https://fulcio.example.com
      insecureIgnoreSCT: true
      identities: [{issuer: "https://issuer.example.com", subject: "dev@example.com"}]
`
		if format != "" {
			s += "    signatureFormat: " + format + "\n"
		}
		return s
	}
	opt := sigstore.WithSignatureOptions(signature.Options{DefaultRoot: ss.TrustedRoot()})
	name := func(r image.Ref) string { return "ghcr.io/" + r.Repository + "@" + r.Digest }
	tests := []struct {
		format string
		ref    image.Ref
		admit  bool
	}{
		{"", legacy, true}, {"", bundle, true},
		{"legacy", legacy, true}, {"legacy", bundle, false},
		{"bundle", legacy, false}, {"bundle", bundle, true},
	}
	for _, tc := range tests {
		t.Run(tc.format+" "+tc.ref.Repository, func(t *testing.T) {
			got, res := evaluate(t, compile(t, policy(tc.format), opt), request(pod(name(tc.ref))), e.cluster())
			assertFailures(t, res)
			if admitted := got.Denial == ""; admitted != tc.admit {
				t.Errorf("admitted = %v, want %v: %q", admitted, tc.admit, got.Denial)
			}
		})
	}
}

// TestKeylessPolicyInput checks what the policy-level Rego sees of verified
// keyless signatures: an id, the certificate's subject and issuer.
func TestKeylessPolicyInput(t *testing.T) {
	e := newEnv(t)
	ss := signaturetest.NewSigstore(t)
	signed := e.reg.PushRandom(t, "team/app", "v1")
	ss.SignLegacy(t, e.reg, signed, "dev@example.com", "https://issuer.example.com")
	set := compile(t, `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: keyless-input
spec:
  images: [{glob: "ghcr.io/team/**"}]
  authorities:
  - name: ci
    keyless:
      url: https://fulcio.example.com
      identities: [{issuer: "https://issuer.example.com", subjectRegExp: ".*@example[.]com"}]
  policy:
    type: rego
    data: |
      package sigstore
      isCompliant[r] {
        sigs := input.authorityMatches.ci.signatures
        shown := [{"subject": s.subject, "issuer": s.issuer, "id": count(s.id)} | s := sigs[_]]
        r := {"result": false, "error": json.marshal(shown)}
      }
`, sigstore.WithSignatureOptions(signature.Options{DefaultRoot: ss.TrustedRoot()}))
	img := "ghcr.io/team/app@" + signed.Digest
	got, res := evaluate(t, set, request(pod(img)), e.cluster())
	assertFailures(t, res)
	want := "validation failed: " + img +
		" failed evaluating rego policy for type ClusterImagePolicy: policy is not compliant for query 'isCompliant = data.sigstore.isCompliant' with errors: " +
		`[{"id":64,"issuer":"https://issuer.example.com","subject":"dev@example.com"}]`
	if diff := cmp.Diff(want, got.Denial); diff != "" {
		t.Errorf("denial (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"keyless-input spec.containers[0].image"}, where(res)); diff != "" {
		t.Errorf("failing policies and paths (-want +got):\n%s", diff)
	}
}
