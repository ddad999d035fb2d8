package signature

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// Media types and annotations of cosign's OCI layout.
const (
	// SimpleSigningMediaType is the media type of a legacy signature layer.
	SimpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	// DSSEMediaType is the media type of a legacy attestation layer.
	DSSEMediaType = "application/vnd.dsse.envelope.v1+json"
	// InTotoPayloadType is the DSSE payload type of in-toto statements.
	InTotoPayloadType = "application/vnd.in-toto+json"
	// BundleMediaType is the media type (and artifact type) of a Sigstore
	// bundle v0.3 stored as a referrer.
	BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"

	// AnnotationSignature holds a legacy signature (base64).
	AnnotationSignature = "dev.cosignproject.cosign/signature"
	// AnnotationCertificate holds the PEM signing certificate.
	AnnotationCertificate = "dev.sigstore.cosign/certificate"
	// AnnotationChain holds the PEM chain of the signing certificate.
	AnnotationChain = "dev.sigstore.cosign/chain"
	// AnnotationBundle holds the Rekor bundle (SET and entry).
	AnnotationBundle = "dev.sigstore.cosign/bundle"
	// AnnotationRFC3161Timestamp holds an RFC 3161 timestamp response.
	AnnotationRFC3161Timestamp = "dev.sigstore.cosign/rfc3161timestamp"

	bundleMediaTypePrefix = "application/vnd.dev.sigstore.bundle"
	emptyConfigMediaType  = "application/vnd.oci.empty.v1+json"
	legacyBundleVersion   = "application/vnd.dev.sigstore.bundle+json;version=0.1"
	maxEnvelopeSignatures = 16
)

// RekorBundle is the dev.sigstore.cosign/bundle annotation: a Rekor entry
// and its signed entry timestamp (inclusion promise).
type RekorBundle struct {
	SignedEntryTimestamp []byte
	Payload              RekorPayload
}

// RekorPayload is the signed part of a RekorBundle: the entry body (base64
// canonical JSON), its integrated time, log index and log ID (hex).
type RekorPayload struct {
	Body           string `json:"body"`
	IntegratedTime int64  `json:"integratedTime"`
	LogIndex       int64  `json:"logIndex"`
	LogID          string `json:"logID"`
}

// RFC3161Timestamp is the dev.sigstore.cosign/rfc3161timestamp annotation.
type RFC3161Timestamp struct {
	SignedRFC3161Timestamp []byte
}

// SimpleSigning is cosign's simplesigning payload.
type SimpleSigning struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
	Optional map[string]any `json:"optional"`
}

// envelope is a DSSE envelope in its JSON form.
type envelope struct {
	PayloadType string `json:"payloadType"`
	Payload     string `json:"payload"`
	Signatures  []struct {
		KeyID string `json:"keyid"`
		Sig   string `json:"sig"`
	} `json:"signatures"`
}

// legacyLayer is one layer of a .sig or .att manifest.
type legacyLayer struct {
	payload     []byte
	mediaType   string
	annotations map[string]string
}

// legacyEntity is a legacy cosign signature as a sigstore-go SignedEntity:
// a v0.1 bundle built from the layer, whose verification content also
// carries the intermediates of the dev.sigstore.cosign/chain annotation.
type legacyEntity struct {
	*bundle.Bundle
	content verify.VerificationContent
}

func (e *legacyEntity) VerificationContent() (verify.VerificationContent, error) {
	if e.content != nil {
		return e.content, nil
	}
	return e.Bundle.VerificationContent()
}

// certContent is a certificate with intermediates.
type certContent struct {
	leaf          *x509.Certificate
	intermediates []*x509.Certificate
}

var _ verify.VerificationContent = (*certContent)(nil)

func (c *certContent) CompareKey(key any, _ root.TrustedMaterial) bool {
	k, ok := key.(*x509.Certificate)
	return ok && c.leaf.Equal(k)
}

func (c *certContent) ValidAtTime(t time.Time, _ root.TrustedMaterial) bool {
	return !c.leaf.NotAfter.Before(t) && !c.leaf.NotBefore.After(t)
}

func (c *certContent) Certificate() *x509.Certificate      { return c.leaf }
func (c *certContent) Intermediates() []*x509.Certificate  { return c.intermediates }
func (c *certContent) PublicKey() verify.PublicKeyProvider { return nil }

// hashAlgorithm is the protobuf name of a hash.
func hashAlgorithm(h crypto.Hash) protocommon.HashAlgorithm {
	switch h {
	case crypto.SHA384:
		return protocommon.HashAlgorithm_SHA2_384
	case crypto.SHA512:
		return protocommon.HashAlgorithm_SHA2_512
	}
	return protocommon.HashAlgorithm_SHA2_256
}

// legacyEntity turns a legacy layer into a SignedEntity. attestation says
// whether the layer is a DSSE envelope (an .att layer) or a simplesigning
// payload (a .sig layer).
func (v *Verifier) legacyEntity(l legacyLayer, attestation bool) (*legacyEntity, error) {
	pb := &protobundle.Bundle{
		MediaType:            legacyBundleVersion,
		VerificationMaterial: &protobundle.VerificationMaterial{},
	}
	var content verify.VerificationContent

	// Verification material: who signed.
	switch {
	case v.kind == kindKeys:
		// cosign verifies with the key and ignores an attached certificate.
		pb.VerificationMaterial.Content = &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{}}
	case v.kind == kindCertificate:
		pinned := v.pinnedCertificate()
		pb.VerificationMaterial.Content = &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: pinned.Raw}}
	case l.annotations[AnnotationCertificate] == "":
		return nil, errors.New("signature has no certificate")
	default:
		certs, err := cryptoutils.UnmarshalCertificatesFromPEM([]byte(l.annotations[AnnotationCertificate]))
		if err != nil || len(certs) == 0 {
			return nil, fmt.Errorf("invalid certificate annotation: %v", err)
		}
		cc := &certContent{leaf: certs[0]}
		if chain := l.annotations[AnnotationChain]; chain != "" {
			cs, err := cryptoutils.UnmarshalCertificatesFromPEM([]byte(chain))
			if err != nil {
				return nil, fmt.Errorf("invalid chain annotation: %w", err)
			}
			for _, c := range cs {
				if c.IsCA && !bytes.Equal(c.RawSubject, c.RawIssuer) {
					cc.intermediates = append(cc.intermediates, c)
				}
			}
		}
		pb.VerificationMaterial.Content = &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: cc.leaf.Raw}}
		content = cc
	}

	// Content: what was signed.
	if attestation {
		var env envelope
		if err := json.Unmarshal(l.payload, &env); err != nil {
			return nil, fmt.Errorf("invalid DSSE envelope: %w", err)
		}
		e, err := env.proto()
		if err != nil {
			return nil, err
		}
		pb.Content = &protobundle.Bundle_DsseEnvelope{DsseEnvelope: e}
	} else {
		b64 := l.annotations[AnnotationSignature]
		if b64 == "" {
			return nil, errors.New("signature layer has no signature annotation")
		}
		sig, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("invalid signature annotation: %w", err)
		}
		h := v.hash.New()
		h.Write(l.payload)
		pb.Content = &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: hashAlgorithm(v.hash), Digest: h.Sum(nil)},
			Signature:     sig,
		}}
	}

	// Transparency log entry (Rekor bundle) and RFC 3161 timestamp.
	if s := l.annotations[AnnotationBundle]; s != "" {
		tle, err := rekorBundleEntry(s)
		if err != nil {
			return nil, err
		}
		pb.VerificationMaterial.TlogEntries = []*protorekor.TransparencyLogEntry{tle}
	}
	if s := l.annotations[AnnotationRFC3161Timestamp]; s != "" {
		var ts RFC3161Timestamp
		if err := json.Unmarshal([]byte(s), &ts); err != nil || len(ts.SignedRFC3161Timestamp) == 0 {
			return nil, fmt.Errorf("invalid RFC 3161 timestamp annotation: %v", err)
		}
		pb.VerificationMaterial.TimestampVerificationData = &protobundle.TimestampVerificationData{
			Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: ts.SignedRFC3161Timestamp}},
		}
	}

	b, err := bundle.NewBundle(pb)
	if err != nil {
		return nil, fmt.Errorf("invalid signature: %w", err)
	}
	return &legacyEntity{Bundle: b, content: content}, nil
}

func (v *Verifier) pinnedCertificate() *x509.Certificate {
	m := v.materials[0].(*material)
	return m.cas[0].(*pinnedCA).cert
}

func (e envelope) proto() (*protodsse.Envelope, error) {
	payload, err := base64.StdEncoding.DecodeString(e.Payload)
	if err != nil {
		return nil, fmt.Errorf("invalid DSSE payload: %w", err)
	}
	if len(e.Signatures) == 0 {
		return nil, errors.New("DSSE envelope has no signature")
	}
	if len(e.Signatures) > maxEnvelopeSignatures {
		return nil, fmt.Errorf("DSSE envelope has %d signatures, more than %d", len(e.Signatures), maxEnvelopeSignatures)
	}
	out := &protodsse.Envelope{Payload: payload, PayloadType: e.PayloadType}
	for _, s := range e.Signatures {
		sig, err := base64.StdEncoding.DecodeString(s.Sig)
		if err != nil {
			return nil, fmt.Errorf("invalid DSSE signature: %w", err)
		}
		out.Signatures = append(out.Signatures, &protodsse.Signature{Sig: sig, Keyid: s.KeyID})
	}
	return out, nil
}

// rekorBundleEntry turns the Rekor bundle annotation into a transparency
// log entry with an inclusion promise.
func rekorBundleEntry(s string) (*protorekor.TransparencyLogEntry, error) {
	var rb RekorBundle
	if err := json.Unmarshal([]byte(s), &rb); err != nil {
		return nil, fmt.Errorf("invalid Rekor bundle annotation: %w", err)
	}
	body, err := base64.StdEncoding.DecodeString(rb.Payload.Body)
	if err != nil || len(body) == 0 {
		return nil, fmt.Errorf("invalid Rekor bundle body: %v", err)
	}
	logID, err := hex.DecodeString(rb.Payload.LogID)
	if err != nil || len(logID) == 0 {
		return nil, fmt.Errorf("invalid Rekor bundle log ID %q", rb.Payload.LogID)
	}
	var kv struct {
		Kind       string `json:"kind"`
		APIVersion string `json:"apiVersion"`
	}
	if err := json.Unmarshal(body, &kv); err != nil || kv.Kind == "" {
		return nil, fmt.Errorf("invalid Rekor entry body: %v", err)
	}
	if len(rb.SignedEntryTimestamp) == 0 {
		return nil, errors.New("Rekor bundle has no signed entry timestamp")
	}
	return &protorekor.TransparencyLogEntry{
		LogIndex:          rb.Payload.LogIndex,
		LogId:             &protocommon.LogId{KeyId: logID},
		KindVersion:       &protorekor.KindVersion{Kind: kv.Kind, Version: kv.APIVersion},
		IntegratedTime:    rb.Payload.IntegratedTime,
		InclusionPromise:  &protorekor.InclusionPromise{SignedEntryTimestamp: rb.SignedEntryTimestamp},
		CanonicalizedBody: body,
	}, nil
}

// parseBundle decodes a Sigstore bundle (JSON).
func parseBundle(data []byte) (*bundle.Bundle, error) {
	b := &bundle.Bundle{}
	bundle.AllowCertificateChain()(b)
	if err := b.UnmarshalJSON(data); err != nil {
		return nil, fmt.Errorf("invalid bundle: %w", err)
	}
	return b, nil
}

// isBundleType reports whether a media or artifact type is a Sigstore
// bundle's.
func isBundleType(t string) bool { return strings.HasPrefix(t, bundleMediaTypePrefix) }
