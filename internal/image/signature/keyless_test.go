package signature_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-dev/portcullis/internal/image"
	"github.com/portcullis-dev/portcullis/internal/image/imagetest"
	"github.com/portcullis-dev/portcullis/internal/image/signature"
	"github.com/portcullis-dev/portcullis/internal/image/signature/signaturetest"
)

func TestKeylessSignatures(t *testing.T) {
	exact := []signature.Identity{{Subject: testSubject, Issuer: testIssuer}}
	other := image.Ref{Digest: "sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
	legacy := sigSummary{Format: signature.FormatLegacy, Subject: testSubject, Issuer: testIssuer}
	bundled := sigSummary{Format: signature.FormatBundle, Subject: testSubject, Issuer: testIssuer}

	tests := []struct {
		name string
		// sign signs ref; nil leaves the image unsigned.
		sign func(t *testing.T, ss *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref)
		// spec changes the default spec (exact identity, trusted root,
		// tlog required).
		spec    func(s *signature.Spec, ss *signaturetest.Sigstore)
		want    []sigSummary
		wantErr string
	}{{
		name: "legacy signature",
		sign: func(t *testing.T, ss *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref) {
			ss.SignLegacy(t, reg, ref, testSubject, testIssuer)
		},
		want: []sigSummary{legacy},
	}, {
		name: "bundle with a DSSE statement, as cosign v3 signs",
		sign: func(t *testing.T, ss *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref) {
			ss.SignBundle(t, reg, ref, testSubject, testIssuer)
		},
		want: []sigSummary{bundled},
	}, {
		name: "bundle with a message signature over the manifest",
		sign: func(t *testing.T, ss *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref) {
			ss.SignBundle(t, reg, ref, testSubject, testIssuer, signaturetest.MessageSignature())
		},
		want: []sigSummary{bundled},
	}, {
		name: "legacy signature with an RFC 3161 timestamp and no tlog entry",
		sign: func(t *testing.T, ss *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref) {
			ss.SignLegacy(t, reg, ref, testSubject, testIssuer, signaturetest.WithoutTlog(), signaturetest.WithTimestamp())
		},
		spec: func(s *signature.Spec, _ *signaturetest.Sigstore) { s.RequireTLog, s.RequireTimestamp = false, true },
		want: []sigSummary{legacy},
	}, {
		name: "bundle with an RFC 3161 timestamp required",
		sign: func(t *testing.T, ss *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref) {
			ss.SignBundle(t, reg, ref, testSubject, testIssuer, signaturetest.WithTimestamp())
		},
		spec: func(s *signature.Spec, _ *signaturetest.Sigstore) { s.RequireTimestamp = true },
		want: []sigSummary{bundled},
	}, {
		name: "timestamp required but missing",
		sign: func(t *testing.T, ss *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref) {
			ss.SignLegacy(t, reg, ref, testSubject, testIssuer)
		},
		spec:    func(s *signature.Spec, _ *signaturetest.Sigstore) { s.RequireTimestamp = true },
		wantErr: "no matching signatures: failed to verify timestamps: threshold not met for verified signed timestamps: 0 < 1",
	}, {
		name: "both formats: legacy and bundle",
		sign: func(t *testing.T, ss *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref) {
			ss.SignBundle(t, reg, ref, "other@example.com", testIssuer)
			ss.SignLegacy(t, reg, ref, "other@example.com", testIssuer)
			ss.SignBundle(t, reg, ref, testSubject, testIssuer)
		},
		want: []sigSummary{bundled},
	}, {
		name: "legacy only ignores bundles",
		sign: func(t *testing.T, ss *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref) {
			ss.SignBundle(t, reg, ref, testSubject, testIssuer)
		},
		spec:    func(s *signature.Spec, _ *signaturetest.Sigstore) { s.Format = signature.FormatLegacy },
		wantErr: "no signatures found",
	}, {
		name: "bundle only ignores legacy signatures",
		sign: func(t *testing.T, ss *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref) {
			ss.SignLegacy(t, reg, ref, testSubject, testIssuer)
		},
		spec:    func(s *signature.Spec, _ *signaturetest.Sigstore) { s.Format = signature.FormatBundle },
		wantErr: "no signatures found",
	}, {
		name:    "no signatures",
		wantErr: "no signatures found",
	}, {
		name: "wrong subject",
		sign: func(t *testing.T, ss *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref) {
			ss.SignLegacy(t, reg, ref, "mallory@example.com", testIssuer)
		},
		wantErr: "no matching signatures: none of the expected identities matched what was in the certificate, got subjects [mallory@example.com] with issuer https://issuer.example.com",
	}, {
		name: "wrong issuer",
		sign: func(t *testing.T, ss *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref) {
			ss.SignBundle(t, reg, ref, testSubject, "https://evil.example.com")
		},
		wantErr: "no matching signatures: none of the expected identities matched what was in the certificate, got subjects [dev@example.com] with issuer https://evil.example.com",
	}, {
		name: "subject and issuer regular expressions",
		sign: func(t *testing.T, ss *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref) {
			ss.SignLegacy(t, reg, ref, testSubject, testIssuer)
		},
		spec: func(s *signature.Spec, _ *signaturetest.Sigstore) {
			s.Identities = []signature.Identity{{SubjectRegExp: `^.*@example\.com$`, IssuerRegExp: `^https://issuer\.`}}
		},
		want: []sigSummary{legacy},
	}, {
		name: "subject regular expression that does not match",
		sign: func(t *testing.T, ss *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref) {
			ss.SignLegacy(t, reg, ref, testSubject, testIssuer)
		},
		spec: func(s *signature.Spec, _ *signaturetest.Sigstore) {
			s.Identities = []signature.Identity{{SubjectRegExp: `^.*@example\.org$`, Issuer: testIssuer}}
		},
		wantErr: "none of the expected identities matched what was in the certificate, got subjects [dev@example.com]",
	}, {
		name: "any of several identities",
		sign: func(t *testing.T, ss *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref) {
			ss.SignLegacy(t, reg, ref, testSubject, testIssuer)
		},
		spec: func(s *signature.Spec, _ *signaturetest.Sigstore) {
			s.Identities = []signature.Identity{{Subject: "nobody@example.com"}, {Issuer: testIssuer}}
		},
		want: []sigSummary{legacy},
	}, {
		name: "legacy signature over another digest",
		sign: func(t *testing.T, ss *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref) {
			ss.SignLegacy(t, reg, ref, testSubject, testIssuer, signaturetest.ClaimDigest(other.Digest))
		},
		wantErr: "no matching signatures: invalid or missing digest in claim: " + other.Digest,
	}, {
		name: "bundle over another digest",
		sign: func(t *testing.T, ss *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref) {
			ss.SignBundle(t, reg, ref, testSubject, testIssuer, signaturetest.ClaimDigest(other.Digest))
		},
		wantErr: "no matching signatures: no matching subject digest found",
	}, {
		name: "tampered legacy payload",
		sign: func(t *testing.T, ss *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref) {
			ss.SignLegacy(t, reg, ref, testSubject, testIssuer, signaturetest.TamperPayload())
		},
		wantErr: "no matching signatures: failed to verify",
	}, {
		name: "tampered bundle statement",
		sign: func(t *testing.T, ss *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref) {
			ss.SignBundle(t, reg, ref, testSubject, testIssuer, signaturetest.TamperPayload())
		},
		wantErr: "no matching signatures: failed to verify",
	}, {
		name: "tampered legacy payload, timestamp only",
		sign: func(t *testing.T, ss *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref) {
			ss.SignLegacy(t, reg, ref, testSubject, testIssuer, signaturetest.TamperPayload(), signaturetest.WithoutTlog(), signaturetest.WithTimestamp())
		},
		spec:    func(s *signature.Spec, _ *signaturetest.Sigstore) { s.RequireTLog = false },
		wantErr: "no matching signatures: failed to verify signature: could not verify message",
	}, {
		name: "tampered bundle statement, timestamp only",
		sign: func(t *testing.T, ss *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref) {
			ss.SignBundle(t, reg, ref, testSubject, testIssuer, signaturetest.TamperPayload(), signaturetest.WithoutTlog(), signaturetest.WithTimestamp())
		},
		spec:    func(s *signature.Spec, _ *signaturetest.Sigstore) { s.RequireTLog = false },
		wantErr: "no matching signatures: failed to verify signature",
	}, {
		name: "certificate of another CA, tlog not required",
		sign: func(t *testing.T, _ *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref) {
			signaturetest.NewSigstore(t).SignLegacy(t, reg, ref, testSubject, testIssuer)
		},
		spec:    func(s *signature.Spec, _ *signaturetest.Sigstore) { s.RequireTLog = false },
		wantErr: "no matching signatures: failed to verify leaf certificate: leaf certificate verification failed",
	}, {
		name: "no timestamp and no tlog: the short-lived certificate is checked now",
		sign: func(t *testing.T, ss *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref) {
			ss.SignLegacy(t, reg, ref, testSubject, testIssuer, signaturetest.WithoutTlog())
		},
		spec: func(s *signature.Spec, _ *signaturetest.Sigstore) { s.RequireTLog = false },
		want: []sigSummary{legacy},
	}, {
		name: "expired certificate outside its log timestamp",
		sign: func(t *testing.T, ss *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref) {
			ss.SignLegacy(t, reg, ref, testSubject, testIssuer, signaturetest.AtTime(time.Now().Add(30*time.Minute)))
		},
		wantErr: "integrated time outside certificate validity",
	}, {
		name: "expired bundle certificate outside its log timestamp",
		sign: func(t *testing.T, ss *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref) {
			ss.SignBundle(t, reg, ref, testSubject, testIssuer, signaturetest.AtTime(time.Now().Add(30*time.Minute)))
		},
		wantErr: "integrated time outside certificate validity",
	}, {
		name: "tlog required but missing",
		sign: func(t *testing.T, ss *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref) {
			ss.SignLegacy(t, reg, ref, testSubject, testIssuer, signaturetest.WithoutTlog())
		},
		wantErr: "no matching signatures: failed to verify log inclusion: not enough verified log entries from transparency log: 0 < 1",
	}, {
		name: "certificate of another CA",
		sign: func(t *testing.T, _ *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref) {
			signaturetest.NewSigstore(t).SignLegacy(t, reg, ref, testSubject, testIssuer)
		},
		wantErr: "no matching signatures: failed to verify log inclusion: not enough verified log entries from transparency log: 0 < 1",
	}, {
		name: "roots replace the trusted root's CAs",
		sign: func(t *testing.T, ss *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref) {
			ss.SignLegacy(t, reg, ref, testSubject, testIssuer)
		},
		spec: func(s *signature.Spec, ss *signaturetest.Sigstore) { s.Roots = ss.CAPEM(t) },
		want: []sigSummary{legacy},
	}, {
		name: "roots of another CA",
		sign: func(t *testing.T, ss *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref) {
			ss.SignLegacy(t, reg, ref, testSubject, testIssuer)
		},
		spec:    func(s *signature.Spec, _ *signaturetest.Sigstore) { s.Roots = signaturetest.NewSigstore(t).CAPEM(t) },
		wantErr: "no matching signatures: failed to verify leaf certificate: leaf certificate verification failed",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ss := signaturetest.NewSigstore(t)
			reg := imagetest.NewRegistry(t)
			ref := reg.PushRandom(t, "team/app", "v1")
			if tc.sign != nil {
				tc.sign(t, ss, reg, ref)
			}
			spec := signature.Spec{Identities: exact, TrustedRoot: ss.TrustedRoot(), RequireTLog: true}
			if tc.spec != nil {
				tc.spec(&spec, ss)
			}
			v := newVerifier(t, spec)
			sigs, err := v.Signatures(ctx(t), newClient(t, reg), ref, image.Pull{})
			checkErr(t, err, tc.wantErr)
			if diff := cmp.Diff(tc.want, summarize(sigs)); diff != "" {
				t.Errorf("signatures (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKeylessAttestations(t *testing.T) {
	const slsa = "https://slsa.dev/provenance/v0.2"
	const vuln = "https://cosign.sigstore.dev/attestation/vuln/v1"
	predicate := map[string]any{"buildType": "https://example.com/build"}
	other := "sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

	tests := []struct {
		name          string
		attest        func(t *testing.T, ss *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref)
		predicateType string
		identity      signature.Identity
		want          []sigSummary
		wantErr       string
	}{{
		name: "legacy attestation",
		attest: func(t *testing.T, ss *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref) {
			ss.AttestLegacy(t, reg, ref, testSubject, testIssuer, slsa, predicate)
		},
		predicateType: "slsaprovenance",
		want:          []sigSummary{{Format: signature.FormatLegacy, Subject: testSubject, Issuer: testIssuer, PredicateType: slsa}},
	}, {
		name: "bundle attestation",
		attest: func(t *testing.T, ss *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref) {
			ss.AttestBundle(t, reg, ref, testSubject, testIssuer, slsa, predicate)
		},
		predicateType: slsa,
		want:          []sigSummary{{Format: signature.FormatBundle, Subject: testSubject, Issuer: testIssuer, PredicateType: slsa}},
	}, {
		name: "several attestations, filtered by type",
		attest: func(t *testing.T, ss *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref) {
			ss.AttestLegacy(t, reg, ref, testSubject, testIssuer, slsa, predicate)
			ss.AttestLegacy(t, reg, ref, testSubject, testIssuer, vuln, predicate)
		},
		predicateType: "vuln",
		want:          []sigSummary{{Format: signature.FormatLegacy, Subject: testSubject, Issuer: testIssuer, PredicateType: vuln}},
	}, {
		name: "all types",
		attest: func(t *testing.T, ss *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref) {
			ss.AttestLegacy(t, reg, ref, testSubject, testIssuer, slsa, predicate)
			ss.AttestLegacy(t, reg, ref, testSubject, testIssuer, vuln, predicate)
		},
		want: []sigSummary{
			{Format: signature.FormatLegacy, Subject: testSubject, Issuer: testIssuer, PredicateType: slsa},
			{Format: signature.FormatLegacy, Subject: testSubject, Issuer: testIssuer, PredicateType: vuln},
		},
	}, {
		name: "a signature is not an attestation",
		attest: func(t *testing.T, ss *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref) {
			ss.SignLegacy(t, reg, ref, testSubject, testIssuer)
			ss.SignBundle(t, reg, ref, testSubject, testIssuer, signaturetest.MessageSignature())
		},
		predicateType: slsa,
		wantErr:       "no matching attestations",
	}, {
		name: "wrong identity",
		attest: func(t *testing.T, ss *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref) {
			ss.AttestBundle(t, reg, ref, testSubject, testIssuer, slsa, predicate)
		},
		predicateType: slsa,
		identity:      signature.Identity{Subject: "ci@example.com", Issuer: testIssuer},
		wantErr:       "no matching attestations: none of the expected identities matched what was in the certificate, got subjects [dev@example.com] with issuer https://issuer.example.com",
	}, {
		name: "attestation about another digest",
		attest: func(t *testing.T, ss *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref) {
			ss.AttestLegacy(t, reg, ref, testSubject, testIssuer, slsa, predicate, signaturetest.ClaimDigest(other))
		},
		predicateType: slsa,
		wantErr:       "no matching attestations: no matching subject digest found",
	}, {
		name: "tampered statement",
		attest: func(t *testing.T, ss *signaturetest.Sigstore, reg *imagetest.Registry, ref image.Ref) {
			ss.AttestLegacy(t, reg, ref, testSubject, testIssuer, slsa, predicate, signaturetest.TamperPayload())
		},
		predicateType: slsa,
		wantErr:       "no matching attestations: failed to verify log inclusion: transparency log dsse/intoto entry payload hash",
	}, {
		name:          "no attestations",
		predicateType: slsa,
		wantErr:       "no matching attestations",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ss := signaturetest.NewSigstore(t)
			reg := imagetest.NewRegistry(t)
			ref := reg.PushRandom(t, "team/app", "v1")
			if tc.attest != nil {
				tc.attest(t, ss, reg, ref)
			}
			id := tc.identity
			if id == (signature.Identity{}) {
				id = signature.Identity{Subject: testSubject, Issuer: testIssuer}
			}
			v := newVerifier(t, signature.Spec{Identities: []signature.Identity{id}, TrustedRoot: ss.TrustedRoot(), RequireTLog: true})
			atts, err := v.Attestations(ctx(t), newClient(t, reg), ref, tc.predicateType, image.Pull{})
			checkErr(t, err, tc.wantErr)
			if diff := cmp.Diff(tc.want, summarizeAtts(atts)); diff != "" {
				t.Errorf("attestations (-want +got):\n%s", diff)
			}
			for _, a := range atts {
				if diff := cmp.Diff(predicate, a.Statement["predicate"]); diff != "" {
					t.Errorf("predicate (-want +got):\n%s", diff)
				}
			}
		})
	}
}
