// Package signaturetest signs images in in-process registries for tests:
// keyless signatures and attestations from an in-process Sigstore, in
// cosign's legacy layout (.sig and .att tags with the Rekor bundle
// annotation) and as Sigstore bundles stored as referrers, the way cosign
// stores them; and key-based signatures made by the real cosign CLI. It is
// imported only by tests and never reaches the network.
//
// The Sigstore's certificate authority issues certificates as Fulcio does,
// with an embedded SCT from its own CT log (WithoutSCT leaves it out); its
// Rekor log and timestamp authority are sigstore-go's VirtualSigstore.
//
// A typical test:
//
//	reg := imagetest.NewRegistry(t)
//	ref := reg.PushRandom(t, "team/app", "v1")
//	ss := signaturetest.NewSigstore(t)
//	ss.SignBundle(t, reg, ref, "dev@example.com", "https://issuer.example.com")
//	v, _ := signature.New(signature.Spec{
//		Identities:  []signature.Identity{{Subject: "dev@example.com", Issuer: "https://issuer.example.com"}},
//		TrustedRoot: ss.TrustedRoot(),
//		RequireTLog: true,
//	}, signature.Options{})
//
// The certificates of a Sigstore are short-lived (ten minutes from signing,
// the CA two hours, the timestamp authority five minutes from NewSigstore),
// so make one per test.
package signaturetest

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/portcullis-dev/portcullis/internal/image"
	"github.com/portcullis-dev/portcullis/internal/image/imagetest"
	"github.com/portcullis-dev/portcullis/internal/image/signature"
)

// Sigstore is an in-process Sigstore: a Fulcio-like CA, a Rekor-like log,
// a CT log and a timestamp authority.
type Sigstore struct {
	vs       *ca.VirtualSigstore // the Rekor log and the timestamp authority
	ca       *authority          // the CA and the CT log
	fulcio   *root.FulcioCertificateAuthority
	rekorID  []byte // the Rekor log's ID (SHA-256 of its DER public key)
	root     *root.TrustedRoot
	rootJSON []byte
}

// NewSigstore starts an in-process Sigstore and builds its trusted root.
// The trusted root has been through JSON (trusted_root.json) and back, as
// a real one would.
func NewSigstore(t testing.TB) *Sigstore {
	t.Helper()
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatalf("signaturetest: virtual sigstore: %v", err)
	}
	// VirtualSigstore's log IDs are hex strings; a trusted root stores the
	// raw key IDs, so decode them before the JSON round trip.
	fixIDs := func(logs map[string]*root.TransparencyLog) map[string]*root.TransparencyLog {
		for k, l := range logs {
			id, err := hex.DecodeString(k)
			if err != nil {
				t.Fatalf("signaturetest: log ID %q: %v", k, err)
			}
			l.ID = id
		}
		return logs
	}
	rekor := fixIDs(vs.RekorLogs())
	if len(rekor) != 1 {
		t.Fatalf("signaturetest: %d rekor logs, want 1", len(rekor))
	}
	var rekorID []byte
	for _, l := range rekor {
		rekorID = l.ID
	}
	fca, err := newAuthority(time.Now())
	if err != nil {
		t.Fatalf("signaturetest: certificate authority: %v", err)
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01,
		[]root.CertificateAuthority{fca.fulcio},
		map[string]*root.TransparencyLog{hex.EncodeToString(fca.ctLog.ID): fca.ctLog},
		vs.TimestampingAuthorities(), rekor)
	if err != nil {
		t.Fatalf("signaturetest: trusted root: %v", err)
	}
	js, err := tr.MarshalJSON()
	if err != nil {
		t.Fatalf("signaturetest: trusted root JSON: %v", err)
	}
	loaded, err := root.NewTrustedRootFromJSON(js)
	if err != nil {
		t.Fatalf("signaturetest: trusted root from JSON: %v", err)
	}
	return &Sigstore{vs: vs, ca: fca, fulcio: fca.fulcio, rekorID: rekorID, root: loaded, rootJSON: js}
}

// TrustedRoot returns the trust material (CA, log, CT log, TSA).
func (s *Sigstore) TrustedRoot() root.TrustedMaterial { return s.root }

// TrustedRootJSON returns the trusted root as trusted_root.json.
func (s *Sigstore) TrustedRootJSON() []byte { return append([]byte(nil), s.rootJSON...) }

// CAPEM returns the CA's root and intermediate certificates (PEM), for
// Spec.Roots (Kyverno's keyless.roots).
func (s *Sigstore) CAPEM(t testing.TB) string {
	t.Helper()
	b, err := cryptoutils.MarshalCertificatesToPEM(append([]*x509.Certificate{s.fulcio.Root}, s.fulcio.Intermediates...))
	if err != nil {
		t.Fatalf("signaturetest: CA PEM: %v", err)
	}
	return string(b)
}

// RekorPublicKeyPEM returns the log's public key (PEM), for
// Spec.RekorPublicKey.
func (s *Sigstore) RekorPublicKeyPEM(t testing.TB) string {
	t.Helper()
	for _, l := range s.root.RekorLogs() {
		b, err := cryptoutils.MarshalPublicKeyToPEM(l.PublicKey)
		if err != nil {
			t.Fatalf("signaturetest: rekor key PEM: %v", err)
		}
		return string(b)
	}
	t.Fatalf("signaturetest: no rekor log")
	return ""
}

// CTLogPublicKeyPEM returns the CT log's public key (PEM), for
// Spec.CTLogPublicKey (Kyverno's ctlog.pubkey).
func (s *Sigstore) CTLogPublicKeyPEM(t testing.TB) string {
	t.Helper()
	b, err := cryptoutils.MarshalPublicKeyToPEM(s.ca.ctLog.PublicKey)
	if err != nil {
		t.Fatalf("signaturetest: CT log key PEM: %v", err)
	}
	return string(b)
}

// Option changes how a signature or attestation is made.
type Option func(*config)

type config struct {
	noTlog     bool
	noSCT      bool
	timestamp  bool
	at         time.Time
	claim      string
	tamper     bool
	message    bool
	optional   map[string]any
	predicated bool
}

// WithoutTlog leaves the transparency-log entry out.
func WithoutTlog() Option { return func(c *config) { c.noTlog = true } }

// WithoutSCT issues the signing certificate without an embedded SCT, as a
// private CA without certificate transparency would.
func WithoutSCT() Option { return func(c *config) { c.noSCT = true } }

// WithTimestamp adds an RFC 3161 timestamp from the Sigstore's TSA.
func WithTimestamp() Option { return func(c *config) { c.timestamp = true } }

// AtTime sets the log entry's integrated time (default: one minute from
// now, inside the certificate's ten minutes). A time after the certificate
// expired makes an "expired certificate" signature.
func AtTime(at time.Time) Option { return func(c *config) { c.at = at } }

// ClaimDigest signs a payload (or statement subject) naming digest instead
// of the image's: a signature over another digest.
func ClaimDigest(digest string) Option { return func(c *config) { c.claim = digest } }

// TamperPayload changes the payload after signing.
func TamperPayload() Option { return func(c *config) { c.tamper = true } }

// MessageSignature makes SignBundle sign the image manifest itself (a
// message signature over the digest) instead of a DSSE statement.
func MessageSignature() Option { return func(c *config) { c.message = true } }

// Annotations sets the optional annotations of a legacy simplesigning
// payload.
func Annotations(a map[string]any) Option { return func(c *config) { c.optional = a } }

func newConfig(opts []Option) config {
	c := config{at: time.Now().Add(time.Minute)}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// SignLegacy signs ref (which must have a digest) keylessly as subject
// (an e-mail SAN) with issuer, and appends the signature to ref's
// sha256-<hex>.sig manifest in cosign's layout.
func (s *Sigstore) SignLegacy(t testing.TB, reg *imagetest.Registry, ref image.Ref, subject, issuer string, opts ...Option) {
	t.Helper()
	c := newConfig(opts)
	digest := ref.Digest
	if c.claim != "" {
		digest = c.claim
	}
	var ss signature.SimpleSigning
	ss.Critical.Identity.DockerReference = ref.Context()
	ss.Critical.Image.DockerManifestDigest = digest
	ss.Critical.Type = "cosign container image signature"
	ss.Optional = c.optional
	payload := mustJSON(t, ss)
	e := s.signMessage(t, subject, issuer, payload, c)
	ann := s.certAnnotations(t, e)
	ann[signature.AnnotationSignature] = base64.StdEncoding.EncodeToString(e.sig)
	s.tlogAnnotations(t, e, c, ann)
	if c.tamper {
		ss.Optional = map[string]any{"tampered": "yes"}
		payload = mustJSON(t, ss)
	}
	appendLayer(t, reg, ref, "sig", payload, signature.SimpleSigningMediaType, ann)
}

// AttestLegacy attests ref keylessly with an in-toto statement of the
// given predicate type and predicate, and appends the DSSE envelope to
// ref's sha256-<hex>.att manifest in cosign's layout.
func (s *Sigstore) AttestLegacy(t testing.TB, reg *imagetest.Registry, ref image.Ref, subject, issuer, predicateType string, predicate any, opts ...Option) {
	t.Helper()
	c := newConfig(opts)
	e := s.attest(t, ref, subject, issuer, predicateType, predicate, c)
	env := envelopeOf(t, e, c)
	ann := s.certAnnotations(t, e)
	ann[signature.AnnotationSignature] = ""
	ann["predicateType"] = predicateType
	s.tlogAnnotations(t, e, c, ann)
	appendLayer(t, reg, ref, "att", mustJSON(t, env), signature.DSSEMediaType, ann)
}

// SignBundle signs ref keylessly as cosign v3 does: a Sigstore bundle v0.3
// with a DSSE in-toto statement of predicate type
// https://sigstore.dev/cosign/sign/v1 (or, with MessageSignature, a
// message signature over the manifest), stored as a referrer of ref.
func (s *Sigstore) SignBundle(t testing.TB, reg *imagetest.Registry, ref image.Ref, subject, issuer string, opts ...Option) {
	t.Helper()
	c := newConfig(opts)
	if !c.message {
		s.AttestBundle(t, reg, ref, subject, issuer, signature.SignPredicateType, nil, opts...)
		return
	}
	d := digestName(t, ref)
	desc, err := remote.Get(d, reg.RemoteOptions()...)
	if err != nil {
		t.Fatalf("signaturetest: manifest of %s: %v", ref, err)
	}
	e := s.signMessage(t, subject, issuer, desc.Manifest, c)
	pushBundle(t, reg, ref, s.messageBundle(t, e, c), "message-signature", "")
}

// AttestBundle attests ref keylessly with an in-toto statement in a
// Sigstore bundle v0.3 stored as a referrer of ref, as cosign v3 does.
func (s *Sigstore) AttestBundle(t testing.TB, reg *imagetest.Registry, ref image.Ref, subject, issuer, predicateType string, predicate any, opts ...Option) {
	t.Helper()
	c := newConfig(opts)
	e := s.attest(t, ref, subject, issuer, predicateType, predicate, c)
	pushBundle(t, reg, ref, s.dsseBundle(t, e, c), "dsse-envelope", predicateType)
}

// messageBundle makes a v0.3 bundle with e's message signature.
func (s *Sigstore) messageBundle(t testing.TB, e *entity, c config) *protobundle.Bundle {
	t.Helper()
	pb := s.bundleOf(t, e, c)
	pb.Content = &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
		MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: e.digest},
		Signature:     e.sig,
	}}
	return pb
}

// dsseBundle makes a v0.3 bundle with e's DSSE envelope.
func (s *Sigstore) dsseBundle(t testing.TB, e *entity, c config) *protobundle.Bundle {
	t.Helper()
	env := envelopeOf(t, e, c)
	pb := s.bundleOf(t, e, c)
	pe := &protodsse.Envelope{PayloadType: env.PayloadType}
	var err error
	if pe.Payload, err = base64.StdEncoding.DecodeString(env.Payload); err != nil {
		t.Fatalf("signaturetest: payload: %v", err)
	}
	for _, sig := range env.Signatures {
		raw, err := base64.StdEncoding.DecodeString(sig.Sig)
		if err != nil {
			t.Fatalf("signaturetest: signature: %v", err)
		}
		pe.Signatures = append(pe.Signatures, &protodsse.Signature{Sig: raw, Keyid: sig.KeyID})
	}
	pb.Content = &protobundle.Bundle_DsseEnvelope{DsseEnvelope: pe}
	return pb
}

// attest signs an in-toto statement about ref.
func (s *Sigstore) attest(t testing.TB, ref image.Ref, subject, issuer, predicateType string, predicate any, c config) *entity {
	t.Helper()
	digest := ref.Digest
	if c.claim != "" {
		digest = c.claim
	}
	st := map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []any{map[string]any{"name": ref.Context(), "digest": map[string]any{"sha256": strings.TrimPrefix(digest, "sha256:")}}},
		"predicateType": predicateType,
	}
	if predicate != nil {
		st["predicate"] = predicate
	}
	return s.signDSSE(t, subject, issuer, mustJSON(t, st), c)
}

type dsseEnvelope struct {
	PayloadType string `json:"payloadType"`
	Payload     string `json:"payload"`
	Signatures  []struct {
		KeyID string `json:"keyid"`
		Sig   string `json:"sig"`
	} `json:"signatures"`
}

func envelopeOf(t testing.TB, e *entity, c config) dsseEnvelope {
	t.Helper()
	raw := e.envelope
	env := dsseEnvelope{PayloadType: raw.PayloadType, Payload: raw.Payload}
	for _, s := range raw.Signatures {
		env.Signatures = append(env.Signatures, struct {
			KeyID string `json:"keyid"`
			Sig   string `json:"sig"`
		}{s.KeyID, s.Sig})
	}
	if c.tamper {
		p, err := base64.StdEncoding.DecodeString(env.Payload)
		if err != nil {
			t.Fatalf("signaturetest: payload: %v", err)
		}
		var st map[string]any
		if err := json.Unmarshal(p, &st); err != nil {
			t.Fatalf("signaturetest: statement: %v", err)
		}
		st["predicate"] = map[string]any{"tampered": "yes"}
		env.Payload = base64.StdEncoding.EncodeToString(mustJSON(t, st))
	}
	return env
}

// certAnnotations are the certificate and chain annotations.
func (s *Sigstore) certAnnotations(t testing.TB, e *entity) map[string]string {
	t.Helper()
	leaf, err := cryptoutils.MarshalCertificateToPEM(e.cert)
	if err != nil {
		t.Fatalf("signaturetest: certificate: %v", err)
	}
	chain, err := cryptoutils.MarshalCertificatesToPEM(append(append([]*x509.Certificate(nil), s.fulcio.Intermediates...), s.fulcio.Root))
	if err != nil {
		t.Fatalf("signaturetest: chain: %v", err)
	}
	return map[string]string{
		signature.AnnotationCertificate: string(leaf),
		signature.AnnotationChain:       string(chain),
	}
}

// tlogAnnotations add the Rekor bundle and the RFC 3161 timestamp.
func (s *Sigstore) tlogAnnotations(t testing.TB, e *entity, c config, ann map[string]string) {
	t.Helper()
	if !c.noTlog {
		tle := s.entry(t, e, false)
		ann[signature.AnnotationBundle] = string(mustJSON(t, signature.RekorBundle{
			SignedEntryTimestamp: tle.InclusionPromise.SignedEntryTimestamp,
			Payload: signature.RekorPayload{
				Body:           base64.StdEncoding.EncodeToString(tle.CanonicalizedBody),
				IntegratedTime: tle.IntegratedTime,
				LogIndex:       tle.LogIndex,
				LogID:          hex.EncodeToString(tle.LogId.KeyId),
			},
		}))
	}
	if c.timestamp {
		ann[signature.AnnotationRFC3161Timestamp] = string(mustJSON(t, signature.RFC3161Timestamp{SignedRFC3161Timestamp: s.timestamp(t, e)}))
	}
}

// entry returns e's log entry with its kind, an inclusion promise and,
// when proof is set, an inclusion proof.
func (s *Sigstore) entry(t testing.TB, e *entity, proof bool) *protorekor.TransparencyLogEntry {
	t.Helper()
	tle, ok := proto.Clone(e.tle).(*protorekor.TransparencyLogEntry)
	if !ok {
		t.Fatalf("signaturetest: log entry type")
	}
	var kv struct {
		Kind       string `json:"kind"`
		APIVersion string `json:"apiVersion"`
	}
	if err := json.Unmarshal(tle.CanonicalizedBody, &kv); err != nil {
		t.Fatalf("signaturetest: log entry body: %v", err)
	}
	tle.KindVersion = &protorekor.KindVersion{Kind: kv.Kind, Version: kv.APIVersion}
	if proof && tle.InclusionProof == nil {
		p, err := s.vs.GetInclusionProof(tle.CanonicalizedBody)
		if err != nil {
			t.Fatalf("signaturetest: inclusion proof: %v", err)
		}
		ip := &protorekor.InclusionProof{LogIndex: *p.LogIndex, TreeSize: *p.TreeSize, Checkpoint: &protorekor.Checkpoint{Envelope: *p.Checkpoint}}
		if ip.RootHash, err = hex.DecodeString(*p.RootHash); err != nil {
			t.Fatalf("signaturetest: root hash: %v", err)
		}
		for _, h := range p.Hashes {
			b, err := hex.DecodeString(h)
			if err != nil {
				t.Fatalf("signaturetest: proof hash: %v", err)
			}
			ip.Hashes = append(ip.Hashes, b)
		}
		tle.LogIndex = ip.LogIndex
		tle.InclusionProof = ip
	}
	set, err := s.vs.RekorSignPayload(tlog.RekorPayload{
		Body:           base64.StdEncoding.EncodeToString(tle.CanonicalizedBody),
		IntegratedTime: tle.IntegratedTime,
		LogIndex:       tle.LogIndex,
		LogID:          hex.EncodeToString(tle.LogId.KeyId),
	})
	if err != nil {
		t.Fatalf("signaturetest: signed entry timestamp: %v", err)
	}
	tle.InclusionPromise = &protorekor.InclusionPromise{SignedEntryTimestamp: set}
	return tle
}

// bundleOf makes a v0.3 bundle's verification material for e.
func (s *Sigstore) bundleOf(t testing.TB, e *entity, c config) *protobundle.Bundle {
	t.Helper()
	vm := &protobundle.VerificationMaterial{
		Content: &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: e.cert.Raw}},
	}
	if !c.noTlog {
		vm.TlogEntries = []*protorekor.TransparencyLogEntry{s.entry(t, e, true)}
	}
	if c.timestamp {
		vm.TimestampVerificationData = &protobundle.TimestampVerificationData{
			Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: s.timestamp(t, e)}},
		}
	}
	return &protobundle.Bundle{MediaType: signature.BundleMediaType, VerificationMaterial: vm}
}

// pushBundle stores a bundle as a referrer of ref in cosign's layout: an
// empty config, the bundle as the single layer, artifactType the bundle
// media type.
func pushBundle(t testing.TB, reg *imagetest.Registry, ref image.Ref, pb *protobundle.Bundle, content, predicateType string) {
	t.Helper()
	data, err := protojson.Marshal(pb)
	if err != nil {
		t.Fatalf("signaturetest: bundle JSON: %v", err)
	}
	annotations := map[string]string{"dev.sigstore.bundle.content": content}
	if predicateType != "" {
		annotations["dev.sigstore.bundle.predicateType"] = predicateType
	}
	PushReferrer(t, reg, ref, signature.BundleMediaType, types.MediaType(signature.BundleMediaType), data, annotations)
}

// PushReferrer pushes, as cosign does, a referrer of ref whose manifest has
// an empty config ("application/vnd.oci.empty.v1+json"), the artifactType
// field set to artifactType, and one layer with content data. Without the
// referrers API, the registry's sha256-<hex> fallback index is updated.
func PushReferrer(t testing.TB, reg *imagetest.Registry, ref image.Ref, artifactType string, layerType types.MediaType, data []byte, annotations map[string]string) image.Ref {
	t.Helper()
	opts := reg.RemoteOptions()
	d := digestName(t, ref)
	subject, err := remote.Head(d, opts...)
	if err != nil {
		t.Fatalf("signaturetest: subject %s: %v", ref, err)
	}
	config := static.NewLayer([]byte("{}"), "application/vnd.oci.empty.v1+json")
	layer := static.NewLayer(data, layerType)
	for _, l := range []v1.Layer{config, layer} {
		if err := remote.WriteLayer(d.Context(), l, opts...); err != nil {
			t.Fatalf("signaturetest: push blob: %v", err)
		}
	}
	desc := func(l v1.Layer) v1.Descriptor {
		dg, _ := l.Digest()
		sz, _ := l.Size()
		mt, _ := l.MediaType()
		return v1.Descriptor{MediaType: mt, Digest: dg, Size: sz}
	}
	m := struct {
		v1.Manifest
		ArtifactType string `json:"artifactType,omitempty"`
	}{
		Manifest: v1.Manifest{
			SchemaVersion: 2,
			MediaType:     types.OCIManifestSchema1,
			Config:        desc(config),
			Layers:        []v1.Descriptor{desc(layer)},
			Annotations:   annotations,
			Subject:       &v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
		},
		ArtifactType: artifactType,
	}
	raw := mustJSON(t, m)
	sum := sha256.Sum256(raw)
	mref := ref.ByDigest("sha256:" + hex.EncodeToString(sum[:]))
	if err := remote.Put(digestName(t, mref), rawManifest(raw), opts...); err != nil {
		t.Fatalf("signaturetest: push referrer of %s: %v", ref, err)
	}
	return mref
}

type rawManifest []byte

func (r rawManifest) RawManifest() ([]byte, error)        { return r, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

// appendLayer appends a layer to ref's sha256-<hex>.<suffix> manifest,
// creating it when missing.
func appendLayer(t testing.TB, reg *imagetest.Registry, ref image.Ref, suffix string, payload []byte, mediaType types.MediaType, ann map[string]string) {
	t.Helper()
	tag, err := name.NewTag(ref.Context()+":"+strings.Replace(ref.Digest, ":", "-", 1)+"."+suffix, name.Insecure)
	if err != nil {
		t.Fatalf("signaturetest: tag: %v", err)
	}
	base, err := remote.Image(tag, reg.RemoteOptions()...)
	var terr *transport.Error
	switch {
	case errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound:
		base = mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	case err != nil:
		t.Fatalf("signaturetest: read %s: %v", tag, err)
	}
	img, err := mutate.Append(base, mutate.Addendum{Layer: static.NewLayer(payload, mediaType), Annotations: ann})
	if err != nil {
		t.Fatalf("signaturetest: append layer: %v", err)
	}
	if err := remote.Write(tag, img, reg.RemoteOptions()...); err != nil {
		t.Fatalf("signaturetest: push %s: %v", tag, err)
	}
}

func digestName(t testing.TB, ref image.Ref) name.Digest {
	t.Helper()
	if ref.Digest == "" {
		t.Fatalf("signaturetest: %s has no digest", ref)
	}
	d, err := name.NewDigest(ref.Context()+"@"+ref.Digest, name.Insecure)
	if err != nil {
		t.Fatalf("signaturetest: reference %s: %v", ref, err)
	}
	return d
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("signaturetest: JSON: %v", err)
	}
	return b
}
