package signaturetest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/rekor/pkg/generated/models"
	hashedrekord "github.com/sigstore/rekor/pkg/types/hashedrekord/v0.0.1"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	sigsig "github.com/sigstore/sigstore/pkg/signature"
	sigdsse "github.com/sigstore/sigstore/pkg/signature/dsse"
)

// entity is one keyless signature: the certificate, the signed content,
// and the Rekor entry (without its inclusion promise or proof, which
// entry adds).
type entity struct {
	cert     *x509.Certificate
	envelope *dsse.Envelope // a DSSE signature
	digest   []byte         // a message signature: SHA-256 of the message
	sig      []byte         // the raw signature (the envelope's one signature)
	tle      *protorekor.TransparencyLogEntry
}

// Rekor's log index for hashedrekord entries, as VirtualSigstore's.
const messageLogIndex = 1000

// keyAndCertificate makes an ECDSA P-256 key and a certificate for it
// from the Sigstore's CA.
func (s *Sigstore) keyAndCertificate(t testing.TB, subject, issuer string, c config) (*ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("signaturetest: signing key: %v", err)
	}
	cert, err := s.ca.issue(subject, issuer, key.Public(), !c.noSCT)
	if err != nil {
		t.Fatalf("signaturetest: issue certificate: %v", err)
	}
	return key, cert
}

// signMessage signs message (a message signature over its SHA-256) with a
// hashedrekord v0.0.1 Rekor entry, as cosign's legacy signatures are.
func (s *Sigstore) signMessage(t testing.TB, subject, issuer string, message []byte, c config) *entity {
	t.Helper()
	key, cert := s.keyAndCertificate(t, subject, issuer, c)
	digest := sha256.Sum256(message)
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatalf("signaturetest: sign: %v", err)
	}
	certPEM, err := cryptoutils.MarshalCertificateToPEM(cert)
	if err != nil {
		t.Fatalf("signaturetest: certificate: %v", err)
	}
	rekord := &hashedrekord.V001Entry{HashedRekordObj: models.HashedrekordV001Schema{
		Data: &models.HashedrekordV001SchemaData{Hash: &models.HashedrekordV001SchemaDataHash{
			Algorithm: new(models.HashedrekordV001SchemaDataHashAlgorithmSha256),
			Value:     new(hex.EncodeToString(digest[:])),
		}},
		Signature: &models.HashedrekordV001SchemaSignature{
			Content:   sig,
			PublicKey: &models.HashedrekordV001SchemaSignaturePublicKey{Content: certPEM},
		},
	}}
	body, err := rekord.Canonicalize(context.Background())
	if err != nil {
		t.Fatalf("signaturetest: hashedrekord entry: %v", err)
	}
	return &entity{cert: cert, digest: digest[:], sig: sig, tle: &protorekor.TransparencyLogEntry{
		LogIndex:          messageLogIndex,
		LogId:             &protocommon.LogId{KeyId: s.rekorID},
		IntegratedTime:    c.at.Unix(),
		CanonicalizedBody: body,
	}}
}

// signDSSE signs an in-toto statement in a DSSE envelope with a dsse
// Rekor entry (VirtualSigstore's), as cosign's attestations are.
func (s *Sigstore) signDSSE(t testing.TB, subject, issuer string, statement []byte, c config) *entity {
	t.Helper()
	key, cert := s.keyAndCertificate(t, subject, issuer, c)
	signer, err := sigsig.LoadECDSASigner(key, crypto.SHA256)
	if err != nil {
		t.Fatalf("signaturetest: signer: %v", err)
	}
	es, err := dsse.NewEnvelopeSigner(&sigdsse.SignerAdapter{SignatureSigner: signer, Pub: key.Public()})
	if err != nil {
		t.Fatalf("signaturetest: DSSE signer: %v", err)
	}
	env, err := es.SignPayload(context.Background(), "application/vnd.in-toto+json", statement)
	if err != nil {
		t.Fatalf("signaturetest: DSSE: %v", err)
	}
	sig, err := base64.StdEncoding.DecodeString(env.Signatures[0].Sig)
	if err != nil {
		t.Fatalf("signaturetest: DSSE signature: %v", err)
	}
	entry, err := s.vs.GenerateTlogEntry(cert, env, sig, c.at.Unix(), false)
	if err != nil {
		t.Fatalf("signaturetest: dsse entry: %v", err)
	}
	return &entity{cert: cert, envelope: env, sig: sig, tle: entry.TransparencyLogEntry()}
}

// timestamp returns an RFC 3161 timestamp of e's signature from the
// Sigstore's TSA.
func (s *Sigstore) timestamp(t testing.TB, e *entity) []byte {
	t.Helper()
	ts, err := s.vs.TimestampResponse(e.sig)
	if err != nil {
		t.Fatalf("signaturetest: timestamp: %v", err)
	}
	return ts
}
