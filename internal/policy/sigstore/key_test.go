package sigstore_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-dev/portcullis/internal/image"
	"github.com/portcullis-dev/portcullis/internal/image/signature/signaturetest"
)

// keyPolicy trusts signatures made with the PEM public key, read from the
// image's repository or, with source, from another one.
func keyPolicy(pem, source string) string {
	var b strings.Builder
	b.WriteString("apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata:\n  name: signed-by-key\nspec:\n")
	b.WriteString("  images: [{glob: \"ghcr.io/team/**\"}]\n  authorities:\n  - key:\n      data: |\n")
	for _, line := range strings.Split(strings.TrimSpace(pem), "\n") {
		b.WriteString("        " + line + "\n")
	}
	if source != "" {
		b.WriteString("    source: [{oci: " + source + "}]\n")
	}
	return b.String()
}

// TestKeySignatures checks key authorities against signatures made by the
// real cosign CLI, in the image's repository and in a source repository.
func TestKeySignatures(t *testing.T) {
	e := newEnv(t)
	key := signaturetest.GenerateKeyPair(t)
	otherKey := signaturetest.GenerateKeyPair(t)
	push := func(repo string) image.Ref { return e.reg.PushRandom(t, repo, "v1") }

	signed := push("team/signed")
	signaturetest.CosignSign(t, signed, key)
	unsigned := push("team/unsigned")
	wrongKey := push("team/wrongkey")
	signaturetest.CosignSign(t, wrongKey, otherKey)
	elsewhere := push("team/elsewhere")
	t.Setenv("COSIGN_REPOSITORY", e.reg.Host()+"/signatures/store")
	signaturetest.CosignSign(t, elsewhere, key)

	local := compile(t, keyPolicy(key.PublicKeyPEM, ""))
	sourced := compile(t, keyPolicy(key.PublicKeyPEM, "ghcr.io/signatures/store"))
	name := func(r image.Ref) string { return "ghcr.io/" + r.Repository + "@" + r.Digest }
	failed := func(r image.Ref, reason string) string {
		return "validation failed: " + name(r) +
			" signature key validation failed for authority authority-0 for " + name(r) + ": " + reason
	}
	tests := []struct {
		name   string
		source bool
		ref    image.Ref
		want   string
		prefix bool
	}{
		{name: "signed", ref: signed},
		{name: "unsigned", ref: unsigned, want: failed(unsigned, "no signatures found")},
		{name: "another key", ref: wrongKey, want: failed(wrongKey, "no matching signatures"), prefix: true},
		{name: "signatures elsewhere, no source", ref: elsewhere, want: failed(elsewhere, "no signatures found")},
		{name: "signatures elsewhere, source", source: true, ref: elsewhere},
		{name: "source without the signature", source: true, ref: signed, want: failed(signed, "no signatures found")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := local
			if tc.source {
				set = sourced
			}
			got, res := evaluate(t, set, request(pod(name(tc.ref))), e.cluster())
			assertFailures(t, res)
			var wantWhere []string
			if tc.want != "" {
				wantWhere = []string{"signed-by-key spec.containers[0].image"}
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
