package signature_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/portcullis-dev/portcullis/internal/image"
	"github.com/portcullis-dev/portcullis/internal/image/imagetest"
	"github.com/portcullis-dev/portcullis/internal/image/signature"
	"github.com/portcullis-dev/portcullis/internal/image/signature/signaturetest"
)

// TestKeySignatures verifies signatures made by the real cosign CLI with a
// key pair, in both formats.
func TestKeySignatures(t *testing.T) {
	key := signaturetest.GenerateKeyPair(t)
	wrong := signaturetest.GenerateKeyPair(t)
	rsaPriv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey := signaturetest.ImportKeyPair(t, rsaPriv)
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edKey := signaturetest.ImportKeyPair(t, edPriv)
	legacy := sigSummary{Format: signature.FormatLegacy}
	bundled := sigSummary{Format: signature.FormatBundle}

	tests := []struct {
		name    string
		sign    func(t *testing.T, reg *imagetest.Registry, ref image.Ref)
		spec    signature.Spec
		want    []sigSummary
		wantErr string
	}{{
		name: "legacy signature",
		sign: func(t *testing.T, reg *imagetest.Registry, ref image.Ref) { signaturetest.CosignSign(t, ref, key) },
		spec: signature.Spec{PublicKeys: key.PublicKeyPEM},
		want: []sigSummary{legacy},
	}, {
		name: "bundle signature (--new-bundle-format)",
		sign: func(t *testing.T, reg *imagetest.Registry, ref image.Ref) {
			signaturetest.CosignSign(t, ref, key, "--new-bundle-format")
		},
		spec: signature.Spec{PublicKeys: key.PublicKeyPEM},
		want: []sigSummary{bundled},
	}, {
		name: "RSA key, legacy",
		sign: func(t *testing.T, reg *imagetest.Registry, ref image.Ref) { signaturetest.CosignSign(t, ref, rsaKey) },
		spec: signature.Spec{PublicKeys: rsaKey.PublicKeyPEM},
		want: []sigSummary{legacy},
	}, {
		name: "RSA key, bundle",
		sign: func(t *testing.T, reg *imagetest.Registry, ref image.Ref) {
			signaturetest.CosignSign(t, ref, rsaKey, "--new-bundle-format")
		},
		spec: signature.Spec{PublicKeys: rsaKey.PublicKeyPEM},
		want: []sigSummary{bundled},
	}, {
		name: "Ed25519 key, legacy",
		sign: func(t *testing.T, reg *imagetest.Registry, ref image.Ref) { signaturetest.CosignSign(t, ref, edKey) },
		spec: signature.Spec{PublicKeys: edKey.PublicKeyPEM},
		want: []sigSummary{legacy},
	}, {
		name: "Ed25519 key, bundle",
		sign: func(t *testing.T, reg *imagetest.Registry, ref image.Ref) {
			signaturetest.CosignSign(t, ref, edKey, "--new-bundle-format")
		},
		spec: signature.Spec{PublicKeys: edKey.PublicKeyPEM},
		want: []sigSummary{bundled},
	}, {
		name: "any of several keys",
		sign: func(t *testing.T, reg *imagetest.Registry, ref image.Ref) { signaturetest.CosignSign(t, ref, key) },
		spec: signature.Spec{PublicKeys: wrong.PublicKeyPEM + key.PublicKeyPEM},
		want: []sigSummary{legacy},
	}, {
		name:    "wrong key, legacy",
		sign:    func(t *testing.T, reg *imagetest.Registry, ref image.Ref) { signaturetest.CosignSign(t, ref, key) },
		spec:    signature.Spec{PublicKeys: wrong.PublicKeyPEM},
		wantErr: "no matching signatures: failed to verify signature: could not verify message: invalid signature when validating ASN.1 encoded signature",
	}, {
		name: "wrong key, bundle",
		sign: func(t *testing.T, reg *imagetest.Registry, ref image.Ref) {
			signaturetest.CosignSign(t, ref, key, "--new-bundle-format")
		},
		spec:    signature.Spec{PublicKeys: wrong.PublicKeyPEM},
		wantErr: "no matching signatures: failed to verify signature",
	}, {
		name:    "tlog required but missing",
		sign:    func(t *testing.T, reg *imagetest.Registry, ref image.Ref) { signaturetest.CosignSign(t, ref, key) },
		spec:    signature.Spec{PublicKeys: key.PublicKeyPEM, RequireTLog: true},
		wantErr: "no matching signatures: failed to verify log inclusion: not enough verified log entries from transparency log: 0 < 1",
	}, {
		name:    "keyless authority does not trust a key signature",
		sign:    func(t *testing.T, reg *imagetest.Registry, ref image.Ref) { signaturetest.CosignSign(t, ref, key) },
		spec:    signature.Spec{Identities: []signature.Identity{{Issuer: testIssuer}}, TrustedRoot: signaturetest.NewSigstore(t).TrustedRoot()},
		wantErr: "no matching signatures: signature has no certificate",
	}, {
		name: "signature of another image copied to this one",
		sign: func(t *testing.T, reg *imagetest.Registry, ref image.Ref) {
			other := reg.PushRandom(t, "team/app", "other")
			signaturetest.CosignSign(t, other, key)
			copySignatures(t, reg, other, ref, nil)
		},
		spec:    signature.Spec{PublicKeys: key.PublicKeyPEM},
		wantErr: "no matching signatures: invalid or missing digest in claim: sha256:",
	}, {
		name: "tampered payload",
		sign: func(t *testing.T, reg *imagetest.Registry, ref image.Ref) {
			signaturetest.CosignSign(t, ref, key)
			copySignatures(t, reg, ref, ref, func(p []byte) []byte {
				return bytes.Replace(p, []byte(`"optional":null`), []byte(`"optional":{"tampered":"yes"}`), 1)
			})
		},
		spec:    signature.Spec{PublicKeys: key.PublicKeyPEM},
		wantErr: "no matching signatures: failed to verify signature: could not verify message: invalid signature when validating ASN.1 encoded signature",
	}, {
		name:    "no signatures",
		spec:    signature.Spec{PublicKeys: key.PublicKeyPEM},
		wantErr: "no signatures found",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := imagetest.NewRegistry(t)
			ref := reg.PushRandom(t, "team/app", "v1")
			if tc.sign != nil {
				tc.sign(t, reg, ref)
			}
			v := newVerifier(t, tc.spec)
			sigs, err := v.Signatures(ctx(t), newClient(t, reg), ref, image.Pull{})
			checkErr(t, err, tc.wantErr)
			if diff := cmp.Diff(tc.want, summarize(sigs)); diff != "" {
				t.Errorf("signatures (-want +got):\n%s", diff)
			}
			for _, s := range sigs {
				if s.Format == signature.FormatLegacy && !strings.Contains(string(s.Payload), ref.Digest) {
					t.Errorf("payload %s does not name %s", s.Payload, ref.Digest)
				}
			}
		})
	}
}

// copySignatures writes the layers of from's .sig manifest to to's .sig
// tag, changing each payload with edit when it is not nil.
func copySignatures(t *testing.T, reg *imagetest.Registry, from, to image.Ref, edit func([]byte) []byte) {
	t.Helper()
	tag := func(r image.Ref) name.Tag {
		tg, err := name.NewTag(r.Context()+":"+strings.Replace(r.Digest, ":", "-", 1)+".sig", name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		return tg
	}
	src, err := remote.Image(tag(from), reg.RemoteOptions()...)
	if err != nil {
		t.Fatalf("read signatures of %s: %v", from, err)
	}
	m, err := src.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	layers, err := src.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var img v1.Image = mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	for i, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(rc); err != nil {
			t.Fatal(err)
		}
		rc.Close()
		p := buf.Bytes()
		if edit != nil {
			p = edit(p)
		}
		img, err = mutate.Append(img, mutate.Addendum{Layer: static.NewLayer(p, m.Layers[i].MediaType), Annotations: m.Layers[i].Annotations})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := remote.Write(tag(to), img, reg.RemoteOptions()...); err != nil {
		t.Fatalf("write signatures of %s: %v", to, err)
	}
}

// TestKeyAttestations verifies attestations made by the real cosign CLI.
func TestKeyAttestations(t *testing.T) {
	key := signaturetest.GenerateKeyPair(t)
	predicate := []byte(`{"builder":{"id":"https://example.com/builder"},"buildType":"https://example.com/build"}`)
	slsa := "https://slsa.dev/provenance/v0.2"

	tests := []struct {
		name          string
		extra         []string
		predicateType string
		format        signature.Format
		want          []sigSummary
		wantErr       string
	}{{
		name:          "legacy attestation, short predicate name",
		predicateType: "slsaprovenance",
		want:          []sigSummary{{Format: signature.FormatLegacy, PredicateType: slsa}},
	}, {
		name:          "legacy attestation, any predicate type",
		predicateType: "",
		want:          []sigSummary{{Format: signature.FormatLegacy, PredicateType: slsa}},
	}, {
		name:          "bundle attestation",
		extra:         []string{"--new-bundle-format"},
		predicateType: slsa,
		want:          []sigSummary{{Format: signature.FormatBundle, PredicateType: slsa}},
	}, {
		name:          "another predicate type",
		predicateType: "cyclonedx",
		wantErr:       "no matching attestations: none of predicate type https://cyclonedx.org/bom (found https://slsa.dev/provenance/v0.2)",
	}, {
		name:          "legacy only ignores bundle attestations",
		extra:         []string{"--new-bundle-format"},
		predicateType: slsa,
		format:        signature.FormatLegacy,
		wantErr:       "no matching attestations",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := imagetest.NewRegistry(t)
			ref := reg.PushRandom(t, "team/app", "v1")
			signaturetest.CosignAttest(t, ref, key, "slsaprovenance", predicate, tc.extra...)
			v := newVerifier(t, signature.Spec{PublicKeys: key.PublicKeyPEM, Format: tc.format})
			atts, err := v.Attestations(ctx(t), newClient(t, reg), ref, tc.predicateType, image.Pull{})
			checkErr(t, err, tc.wantErr)
			if diff := cmp.Diff(tc.want, summarizeAtts(atts)); diff != "" {
				t.Errorf("attestations (-want +got):\n%s", diff)
			}
			for _, a := range atts {
				p, _ := a.Statement["predicate"].(map[string]any)
				if b, _ := p["buildType"].(string); b != "https://example.com/build" {
					t.Errorf("statement predicate = %v, want the signed predicate", a.Statement["predicate"])
				}
			}
		})
	}
}
