package signaturetest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"time"

	ct "github.com/google/certificate-transparency-go"
	cttls "github.com/google/certificate-transparency-go/tls"
	ctx509 "github.com/google/certificate-transparency-go/x509"
	"github.com/google/certificate-transparency-go/x509util"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
)

// Fulcio's certificate extension for the OIDC issuer (the original,
// unencoded form, 1.3.6.1.4.1.57264.1.1).
var oidIssuerV1 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}

// authority is a Fulcio-like certificate authority (an ECDSA P-256 root
// and intermediate) with its own CT log. It issues every certificate as
// Fulcio does: a precertificate carrying the CT poison extension, an SCT
// for it from the CT log, then the final certificate with the SCT
// embedded.
type authority struct {
	fulcio *root.FulcioCertificateAuthority
	key    *ecdsa.PrivateKey // the intermediate's key
	ctKey  *ecdsa.PrivateKey
	ctLog  *root.TransparencyLog
}

// newAuthority makes the CA (root valid ±5 hours, intermediate two hours)
// and the CT log (valid from an hour ago for three hours).
func newAuthority(now time.Time) (*authority, error) {
	rootCert, rootKey, err := ca.GenerateRootCa()
	if err != nil {
		return nil, fmt.Errorf("root CA: %w", err)
	}
	inter, interKey, err := ca.GenerateFulcioIntermediate(rootCert, rootKey)
	if err != nil {
		return nil, fmt.Errorf("intermediate CA: %w", err)
	}
	ctKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("CT log key: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(ctKey.Public())
	if err != nil {
		return nil, fmt.Errorf("CT log key: %w", err)
	}
	id := sha256.Sum256(der)
	return &authority{
		fulcio: &root.FulcioCertificateAuthority{
			Root:                rootCert,
			Intermediates:       []*x509.Certificate{inter},
			ValidityPeriodStart: now.Add(-5 * time.Hour),
			ValidityPeriodEnd:   now.Add(time.Hour),
			URI:                 "https://fulcio.localhost",
		},
		key:   interKey,
		ctKey: ctKey,
		ctLog: &root.TransparencyLog{
			BaseURL:             "https://ctfe.localhost",
			ID:                  id[:],
			ValidityPeriodStart: now.Add(-time.Hour),
			ValidityPeriodEnd:   now.Add(2 * time.Hour),
			HashFunc:            crypto.SHA256,
			PublicKey:           ctKey.Public(),
			SignatureHashFunc:   crypto.SHA256,
		},
	}, nil
}

// issue makes a ten-minute code-signing certificate for pub with subject
// as its e-mail SAN and issuer as its OIDC issuer; with withSCT, the
// certificate embeds an SCT from the CT log.
func (a *authority) issue(subject, issuer string, pub crypto.PublicKey, withSCT bool) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 159))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:    serial,
		EmailAddresses:  []string{subject},
		NotBefore:       now,
		NotAfter:        now.Add(10 * time.Minute),
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		ExtraExtensions: []pkix.Extension{{Id: oidIssuerV1, Value: []byte(issuer)}},
	}
	inter := a.fulcio.Intermediates[0]
	if !withSCT {
		return a.create(tmpl, pub)
	}
	// RFC 6962 section 3.1: the precertificate carries a critical poison
	// extension whose value is an ASN.1 NULL.
	base := tmpl.ExtraExtensions
	tmpl.ExtraExtensions = append(append([]pkix.Extension(nil), base...),
		pkix.Extension{Id: asn1.ObjectIdentifier(ctx509.OIDExtensionCTPoison), Critical: true, Value: asn1.NullBytes})
	precert, err := a.create(tmpl, pub)
	if err != nil {
		return nil, fmt.Errorf("precertificate: %w", err)
	}
	sct, err := a.logPrecertificate(precert, inter, now)
	if err != nil {
		return nil, err
	}
	// RFC 6962 section 3.3: the final certificate carries the SCT list, a
	// TLS-encoded SignedCertificateTimestampList in an OCTET STRING, in the
	// place of the poison.
	list, err := x509util.MarshalSCTsIntoSCTList([]*ct.SignedCertificateTimestamp{sct})
	if err != nil {
		return nil, fmt.Errorf("SCT list: %w", err)
	}
	tlsList, err := cttls.Marshal(*list)
	if err != nil {
		return nil, fmt.Errorf("SCT list: %w", err)
	}
	value, err := asn1.Marshal(tlsList)
	if err != nil {
		return nil, fmt.Errorf("SCT list extension: %w", err)
	}
	tmpl.ExtraExtensions = append(append([]pkix.Extension(nil), base...),
		pkix.Extension{Id: asn1.ObjectIdentifier(ctx509.OIDExtensionCTSCT), Value: value})
	return a.create(tmpl, pub)
}

// logPrecertificate returns the CT log's v1 SCT for a precertificate
// entry (the issuer's key hash and the TBSCertificate without the poison)
// at time at.
func (a *authority) logPrecertificate(precert, issuer *x509.Certificate, at time.Time) (*ct.SignedCertificateTimestamp, error) {
	pre, err := ctx509.ParseCertificate(precert.Raw)
	if ctx509.IsFatal(err) {
		return nil, fmt.Errorf("precertificate: %w", err)
	}
	iss, err := ctx509.ParseCertificate(issuer.Raw)
	if ctx509.IsFatal(err) {
		return nil, fmt.Errorf("issuer: %w", err)
	}
	ts := uint64(at.UnixMilli())
	leaf, err := ct.MerkleTreeLeafFromChain([]*ctx509.Certificate{pre, iss}, ct.PrecertLogEntryType, ts)
	if err != nil {
		return nil, fmt.Errorf("precertificate log entry: %w", err)
	}
	sct := &ct.SignedCertificateTimestamp{
		SCTVersion: ct.V1,
		LogID:      ct.LogID{KeyID: [sha256.Size]byte(a.ctLog.ID)},
		Timestamp:  ts,
	}
	input, err := ct.SerializeSCTSignatureInput(*sct, ct.LogEntry{Leaf: *leaf})
	if err != nil {
		return nil, fmt.Errorf("SCT signature input: %w", err)
	}
	sig, err := cttls.CreateSignature(*a.ctKey, cttls.SHA256, input)
	if err != nil {
		return nil, fmt.Errorf("SCT signature: %w", err)
	}
	sct.Signature = ct.DigitallySigned(sig)
	return sct, nil
}

func (a *authority) create(tmpl *x509.Certificate, pub crypto.PublicKey) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.fulcio.Intermediates[0], pub, a.key)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}
