package sigstore_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-dev/portcullis/internal/image"
	"github.com/portcullis-dev/portcullis/internal/image/signature"
	"github.com/portcullis-dev/portcullis/internal/image/signature/signaturetest"
	"github.com/portcullis-dev/portcullis/internal/policy/sigstore"
)

const attestationPolicy = `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: provenance
spec:
  images: [{glob: "ghcr.io/team/**"}]
  authorities:
  - name: builder
    keyless:
      url: https://fulcio.example.com
      insecureIgnoreSCT: true
      identities: [{issuer: "https://issuer.example.com", subject: "ci@example.com"}]
    attestations:
    - name: slsa
      predicateType: https://slsa.dev/provenance/v1
      policy:
        type: rego
        data: |
          package sigstore
          isCompliant[r] {
            r := {"result": input.predicate.builder.id == "https://builder.example.com", "error": "untrusted builder"}
          }
  policy:
    type: rego
    data: |
      package sigstore
      isCompliant {
        att := input.authorityMatches.builder.attestations.slsa[_]
        att.predicateType == "https://slsa.dev/provenance/v1"
        att.subject == "ci@example.com"
        att.issuer == "https://issuer.example.com"
      }
`

// TestAttestations checks attestation authorities: the attestations of the
// listed predicate type are verified (legacy .att and bundle referrers),
// each attestation's policy judges its statement, and the policy-level
// Rego sees the verified attestations.
func TestAttestations(t *testing.T) {
	e := newEnv(t)
	ss := signaturetest.NewSigstore(t)
	set := compile(t, attestationPolicy, sigstore.WithSignatureOptions(signature.Options{DefaultRoot: ss.TrustedRoot()}))
	const slsa = "https://slsa.dev/provenance/v1"
	good := map[string]any{"builder": map[string]any{"id": "https://builder.example.com"}}
	bad := map[string]any{"builder": map[string]any{"id": "https://laptop.example.com"}}
	push := func(repo string) image.Ref { return e.reg.PushRandom(t, repo, "v1") }

	legacy := push("team/legacy")
	ss.AttestLegacy(t, e.reg, legacy, "ci@example.com", "https://issuer.example.com", slsa, good)
	bundle := push("team/bundle")
	ss.AttestBundle(t, e.reg, bundle, "ci@example.com", "https://issuer.example.com", slsa, good)
	untrusted := push("team/untrusted")
	ss.AttestLegacy(t, e.reg, untrusted, "ci@example.com", "https://issuer.example.com", slsa, bad)
	otherType := push("team/sbom")
	ss.AttestLegacy(t, e.reg, otherType, "ci@example.com", "https://issuer.example.com", "https://spdx.dev/Document", map[string]any{})
	none := push("team/none")

	name := func(r image.Ref) string { return "ghcr.io/" + r.Repository + "@" + r.Digest }
	head := func(r image.Ref) string {
		return "validation failed: " + name(r) + " "
	}
	tests := []struct {
		name   string
		ref    image.Ref
		want   string
		prefix bool
	}{
		{name: "legacy attestation", ref: legacy},
		{name: "bundle attestation", ref: bundle},
		{name: "attestation policy fails", ref: untrusted,
			want: head(untrusted) + "failed evaluating rego policy for type slsa: policy is not compliant for query 'isCompliant = data.sigstore.isCompliant' with errors: untrusted builder"},
		{name: "other predicate type", ref: otherType,
			want: head(otherType) + `no matching attestations with type https://slsa.dev/provenance/v1, checked the following predicateTypes: "https://spdx.dev/Document"`},
		{name: "no attestations", ref: none,
			want: head(none) + "attestation keyless validation failed for authority builder for " + name(none) + ": no matching attestations", prefix: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, res := evaluate(t, set, request(pod(name(tc.ref))), e.cluster())
			assertFailures(t, res)
			var wantWhere []string
			if tc.want != "" {
				wantWhere = []string{"provenance spec.containers[0].image"}
			}
			if diff := cmp.Diff(wantWhere, where(res)); diff != "" {
				t.Errorf("failing policies and paths (-want +got):\n%s", diff)
			}
			if tc.prefix {
				if !strings.HasPrefix(got.Denial, tc.want) {
					t.Errorf("denial = %q, want prefix %q", got.Denial, tc.want)
				}
				return
			}
			if diff := cmp.Diff(tc.want, got.Denial); diff != "" {
				t.Errorf("denial (-want +got):\n%s", diff)
			}
		})
	}
}
