package signature

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"testing"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

const fuzzDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func fuzzVerifier(f *testing.F) *Verifier {
	f.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	pemKey, err := cryptoutils.MarshalPublicKeyToPEM(k.Public())
	if err != nil {
		f.Fatal(err)
	}
	v, err := New(Spec{PublicKeys: string(pemKey)}, Options{})
	if err != nil {
		f.Fatal(err)
	}
	return v
}

// FuzzLegacyLayer feeds arbitrary layers and annotations to the legacy
// decoders and verification: they must reject, never panic.
func FuzzLegacyLayer(f *testing.F) {
	v := fuzzVerifier(f)
	f.Add([]byte(`{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"`+fuzzDigest+`"},"type":"cosign container image signature"},"optional":null}`),
		"MEUCIQ==", `{"SignedEntryTimestamp":"MEUCIQ==","Payload":{"body":"eyJraW5kIjoiaGFzaGVkcmVrb3JkIiwiYXBpVmVyc2lvbiI6IjAuMC4xIn0=","integratedTime":1,"logIndex":1,"logID":"00"}}`, `{"SignedRFC3161Timestamp":"AA=="}`, false)
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"","sig":"AA=="}]}`), "", "", "", true)
	f.Add([]byte(`{}`), "%%%", "{", "[", true)
	f.Fuzz(func(t *testing.T, payload []byte, sig, rekorBundle, ts string, attestation bool) {
		l := legacyLayer{payload: payload, annotations: map[string]string{
			AnnotationSignature:        sig,
			AnnotationBundle:           rekorBundle,
			AnnotationRFC3161Timestamp: ts,
		}}
		if !attestation {
			_, _ = v.verifyLegacySignature(l, fuzzDigest)
			return
		}
		ent, err := v.legacyEntity(l, true)
		if err != nil {
			return
		}
		env, err := entityStatement(ent)
		if err != nil {
			return
		}
		_, _ = v.verifyAttestation(ent, FormatLegacy, env, fuzzDigest)
	})
}

// FuzzBundle feeds arbitrary bundles to the bundle decoder and verifier.
func FuzzBundle(f *testing.F) {
	v := fuzzVerifier(f)
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":"x"}},"dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AA=="}]}}`))
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{}},"messageSignature":{"messageDigest":{"algorithm":"SHA2_256","digest":"AA=="},"signature":"AA=="}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := parseBundle(data)
		if err != nil {
			return
		}
		_, _ = v.verifyBundleSignature(b, fuzzDigest)
		if env, err := entityStatement(b); err == nil {
			_, _ = v.verifyAttestation(b, FormatBundle, env, fuzzDigest)
		}
	})
}

// FuzzTrustRootFromObject feeds arbitrary TrustRoot objects to the
// decoder: errors, never panics.
func FuzzTrustRootFromObject(f *testing.F) {
	f.Add([]byte(`{"kind":"TrustRoot","spec":{"sigstoreKeys":{"certificateAuthorities":[{"subject":{"organization":"o","commonName":"c"},"uri":"https://x","certChain":"AAAA"}],"tLogs":[{"baseURL":"https://r","hashAlgorithm":"sha-256","publicKey":"AAAA"}]}}}`))
	f.Add([]byte(`{"spec":{"repository":{"root":"{}","mirrorFS":"H4sIAAAAAAAA/wMAAAAAAAAAAAA="}}}`))
	f.Add([]byte(`{"spec":{"remote":{"root":"{}","mirror":"https://example.com"}}}`))
	f.Add([]byte(`{"spec":{"trustedRootJSON":"{}"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var obj map[string]any
		if json.Unmarshal(data, &obj) != nil {
			return
		}
		tm, errs := TrustRootFromObject(obj, nil)
		if tm == nil && len(errs) == 0 {
			t.Fatalf("no trust material and no error for %s", data)
		}
	})
}
