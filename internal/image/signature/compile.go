package signature

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	sigsig "github.com/sigstore/sigstore/pkg/signature"
	sigopts "github.com/sigstore/sigstore/pkg/signature/options"

	"github.com/portcullis-dev/portcullis/internal/image"
)

// Limits. They bound what one verification reads and verifies.
const (
	// maxCandidates caps the signatures (or attestations) examined per
	// image and format.
	maxCandidates = 100
	// maxPayloadBytes caps one signature layer, envelope or bundle.
	maxPayloadBytes = 8 << 20
	// maxPEMBytes caps the keys and certificates of a Spec.
	maxPEMBytes = 1 << 20
)

// authorityKind is how a Spec trusts signers.
type authorityKind int

const (
	kindKeys authorityKind = iota
	kindKeyless
	kindCertificate
)

// identityMatcher is one compiled Identity.
type identityMatcher struct {
	issuer, subject     string
	issuerRE, subjectRE *regexp.Regexp
}

// matches applies cosign's CheckCertificatePolicy rules: a regular
// expression takes precedence over the exact value, expressions are not
// anchored, and the subject may be any of the certificate's SANs.
func (m identityMatcher) matches(issuer string, sans []string) bool {
	switch {
	case m.issuerRE != nil:
		if !m.issuerRE.MatchString(issuer) {
			return false
		}
	case m.issuer != "":
		if m.issuer != issuer {
			return false
		}
	}
	switch {
	case m.subjectRE != nil:
		for _, s := range sans {
			if m.subjectRE.MatchString(s) {
				return true
			}
		}
		return false
	case m.subject != "":
		for _, s := range sans {
			if s == m.subject {
				return true
			}
		}
		return false
	}
	return true
}

func (v *Verifier) compile() error {
	s := v.spec
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}

	set := 0
	if strings.TrimSpace(s.PublicKeys) != "" {
		set++
		v.kind = kindKeys
	}
	if len(s.Identities) > 0 {
		set++
		v.kind = kindKeyless
	}
	if strings.TrimSpace(s.Certificate) != "" {
		set++
		v.kind = kindCertificate
	}
	if set != 1 {
		errs = append(errs, errors.New("exactly one of publicKeys, identities or certificate must be set"))
	}
	if s.Roots != "" && len(s.Identities) == 0 {
		bad("roots", "only allowed with identities")
	}
	if s.CertificateChain != "" && strings.TrimSpace(s.Certificate) == "" {
		bad("certificateChain", "only allowed with certificate")
	}
	switch s.Format {
	case FormatAny, FormatLegacy, FormatBundle:
	default:
		bad("format", "unsupported value %q: must be %q, %q or empty", s.Format, FormatLegacy, FormatBundle)
	}
	switch s.HashAlgorithm {
	case 0:
		v.hash = crypto.SHA256
	case crypto.SHA256, crypto.SHA384, crypto.SHA512:
		v.hash = s.HashAlgorithm
	default:
		bad("hashAlgorithm", "unsupported hash %v: must be SHA256, SHA384 or SHA512", s.HashAlgorithm)
	}
	if s.Repository != "" {
		r, err := image.Parse(s.Repository)
		if err != nil || r.Digest != "" || strings.ContainsAny(s.Repository, "@") {
			bad("repository", "invalid repository %q", s.Repository)
		} else {
			v.repo = &image.Ref{Registry: r.Registry, Repository: r.Repository}
		}
	}

	base := s.TrustedRoot
	if base == nil {
		base = v.opts.DefaultRoot
	}
	m := &material{base: base}

	if s.RekorPublicKey != "" {
		tl, err := transparencyLogFromPEM(s.RekorPublicKey)
		if err != nil {
			bad("rekorPublicKey", "%v", err)
		} else {
			m.rekor = map[string]*root.TransparencyLog{hex.EncodeToString(tl.ID): tl}
		}
	}
	if s.CTLogPublicKey != "" {
		tl, err := transparencyLogFromPEM(s.CTLogPublicKey)
		if err != nil {
			bad("ctLogPublicKey", "%v", err)
		} else {
			m.ct = map[string]*root.TransparencyLog{hex.EncodeToString(tl.ID): tl}
		}
	}

	for i, id := range s.Identities {
		f := fmt.Sprintf("identities[%d]", i)
		if id == (Identity{}) {
			bad(f, "one of issuer, issuerRegExp, subject or subjectRegExp must be set")
			continue
		}
		im := identityMatcher{issuer: id.Issuer, subject: id.Subject}
		var err error
		if id.IssuerRegExp != "" {
			if im.issuerRE, err = regexp.Compile(id.IssuerRegExp); err != nil {
				bad(f+".issuerRegExp", "%v", err)
			}
		}
		if id.SubjectRegExp != "" {
			if im.subjectRE, err = regexp.Compile(id.SubjectRegExp); err != nil {
				bad(f+".subjectRegExp", "%v", err)
			}
		}
		v.identities = append(v.identities, im)
	}

	switch {
	case set != 1:
	case v.kind == kindKeys:
		keys, err := parsePublicKeys(s.PublicKeys)
		if err != nil {
			bad("publicKeys", "%v", err)
			break
		}
		for i, k := range keys {
			// cosign signs with Ed25519ph by default (older releases
			// used pure Ed25519): an Ed25519 key verifies either.
			loads := [][]sigsig.LoadOption{{sigopts.WithHash(v.hash)}}
			if _, ok := k.(ed25519.PublicKey); ok {
				loads = [][]sigsig.LoadOption{{sigopts.WithED25519ph()}, {}}
			}
			for _, lo := range loads {
				sv, err := sigsig.LoadVerifierWithOpts(k, lo...)
				if err != nil {
					bad(fmt.Sprintf("publicKeys[%d]", i), "%v", err)
					break
				}
				km := *m
				km.key = root.NewExpiringKey(sv, time.Time{}, time.Time{})
				v.materials = append(v.materials, &km)
			}
		}
	case v.kind == kindKeyless:
		if s.Roots != "" {
			cas, err := certificateAuthoritiesFromPEM(s.Roots)
			if err != nil {
				bad("roots", "%v", err)
			}
			m.cas, m.overrideCAs = cas, true
		} else if base == nil || len(base.FulcioCertificateAuthorities()) == 0 {
			errs = append(errs, errors.New("identities: keyless verification needs a trusted root with certificate authorities (trustedRoot, the default root or roots)"))
		}
		v.materials = []root.TrustedMaterial{m}
	case v.kind == kindCertificate:
		ca, err := newPinnedCA(s.Certificate, s.CertificateChain)
		if err != nil {
			bad("certificate", "%v", err)
		}
		m.cas, m.overrideCAs = []root.CertificateAuthority{ca}, true
		v.materials = []root.TrustedMaterial{m}
	}
	return errors.Join(errs...)
}

// parsePublicKeys parses one or more concatenated PEM public keys.
func parsePublicKeys(s string) ([]crypto.PublicKey, error) {
	if len(s) > maxPEMBytes {
		return nil, fmt.Errorf("%d bytes of keys is too long", len(s))
	}
	rest := []byte(strings.TrimSpace(s))
	var keys []crypto.PublicKey
	for len(bytes.TrimSpace(rest)) > 0 {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("not a PEM public key")
		}
		k, err := cryptoutils.UnmarshalPEMToPublicKey(pem.EncodeToMemory(block))
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", len(keys), err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("no PEM public key")
	}
	return keys, nil
}

// parseCertificates parses PEM certificates.
func parseCertificates(s string) ([]*x509.Certificate, error) {
	if len(s) > maxPEMBytes {
		return nil, fmt.Errorf("%d bytes of certificates is too long", len(s))
	}
	certs, err := cryptoutils.UnmarshalCertificatesFromPEM([]byte(strings.TrimSpace(s)))
	if err != nil {
		return nil, err
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return certs, nil
}

// transparencyLogFromPEM makes a transparency (or CT) log of a PEM public
// key; its log ID is the SHA-256 of the key's DER encoding, as Rekor and CT
// logs compute it.
func transparencyLogFromPEM(s string) (*root.TransparencyLog, error) {
	keys, err := parsePublicKeys(s)
	if err != nil {
		return nil, err
	}
	if len(keys) != 1 {
		return nil, fmt.Errorf("want one public key, got %d", len(keys))
	}
	return transparencyLog("", keys[0], crypto.SHA256)
}

func transparencyLog(baseURL string, key crypto.PublicKey, hash crypto.Hash) (*root.TransparencyLog, error) {
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		return nil, err
	}
	id := sha256.Sum256(der)
	return &root.TransparencyLog{
		BaseURL: baseURL,
		ID:      id[:],
		// A log without a known start is trusted since the epoch:
		// sigstore-go refuses inclusion promises of logs without one.
		ValidityPeriodStart: time.Unix(1, 0).UTC(),
		HashFunc:            hash,
		PublicKey:           key,
		SignatureHashFunc:   crypto.SHA256,
	}, nil
}

// certificateAuthoritiesFromPEM makes one CA per self-signed certificate,
// with every other CA certificate as a possible intermediate.
func certificateAuthoritiesFromPEM(s string) ([]root.CertificateAuthority, error) {
	certs, err := parseCertificates(s)
	if err != nil {
		return nil, err
	}
	var roots, intermediates []*x509.Certificate
	for _, c := range certs {
		if bytes.Equal(c.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(c) == nil {
			roots = append(roots, c)
		} else {
			intermediates = append(intermediates, c)
		}
	}
	if len(roots) == 0 {
		return nil, errors.New("no self-signed root certificate")
	}
	cas := make([]root.CertificateAuthority, len(roots))
	for i, r := range roots {
		cas[i] = &root.FulcioCertificateAuthority{Root: r, Intermediates: intermediates}
	}
	return cas, nil
}

// pinnedCA trusts exactly one certificate, optionally checked against its
// chain: it is how a Spec.Certificate authority plugs into sigstore-go.
type pinnedCA struct {
	cert  *x509.Certificate
	chain bool
	opts  x509.VerifyOptions
}

var _ root.CertificateAuthority = (*pinnedCA)(nil)

func newPinnedCA(certPEM, chainPEM string) (*pinnedCA, error) {
	certs, err := parseCertificates(certPEM)
	if err != nil {
		return nil, err
	}
	if len(certs) != 1 {
		return nil, fmt.Errorf("want one certificate, got %d", len(certs))
	}
	p := &pinnedCA{cert: certs[0]}
	if strings.TrimSpace(chainPEM) != "" {
		chain, err := parseCertificates(chainPEM)
		if err != nil {
			return nil, fmt.Errorf("certificateChain: %w", err)
		}
		p.chain = true
		p.opts.Roots = x509.NewCertPool()
		p.opts.Intermediates = x509.NewCertPool()
		for _, c := range chain {
			if bytes.Equal(c.RawSubject, c.RawIssuer) {
				p.opts.Roots.AddCert(c)
			} else {
				p.opts.Intermediates.AddCert(c)
			}
		}
		p.opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
		o := p.opts
		o.CurrentTime = p.cert.NotBefore
		if _, err := p.cert.Verify(o); err != nil {
			return nil, fmt.Errorf("certificate does not chain to certificateChain: %w", err)
		}
	}
	return p, nil
}

func (p *pinnedCA) Verify(cert *x509.Certificate, t time.Time) ([][]*x509.Certificate, error) {
	if !cert.Equal(p.cert) {
		return nil, errors.New("signing certificate is not the trusted certificate")
	}
	if t.Before(cert.NotBefore) || t.After(cert.NotAfter) {
		return nil, fmt.Errorf("certificate is not valid at %s", t.UTC().Format(time.RFC3339))
	}
	if !p.chain {
		return [][]*x509.Certificate{{cert}}, nil
	}
	o := p.opts
	o.CurrentTime = t
	return cert.Verify(o)
}

// material is the trust material of one authority: the trusted root, with
// the Spec's replacements and additions.
type material struct {
	base        root.TrustedMaterial
	cas         []root.CertificateAuthority
	overrideCAs bool
	rekor, ct   map[string]*root.TransparencyLog
	key         root.TimeConstrainedVerifier
}

var _ root.TrustedMaterial = (*material)(nil)

func (m *material) TimestampingAuthorities() []root.TimestampingAuthority {
	if m.base == nil {
		return nil
	}
	return m.base.TimestampingAuthorities()
}

func (m *material) FulcioCertificateAuthorities() []root.CertificateAuthority {
	if m.overrideCAs || m.base == nil {
		return m.cas
	}
	return m.base.FulcioCertificateAuthorities()
}

func (m *material) RekorLogs() map[string]*root.TransparencyLog {
	return mergeLogs(m.base, m.rekor, root.TrustedMaterial.RekorLogs)
}

func (m *material) CTLogs() map[string]*root.TransparencyLog {
	return mergeLogs(m.base, m.ct, root.TrustedMaterial.CTLogs)
}

func mergeLogs(base root.TrustedMaterial, extra map[string]*root.TransparencyLog, get func(root.TrustedMaterial) map[string]*root.TransparencyLog) map[string]*root.TransparencyLog {
	var b map[string]*root.TransparencyLog
	if base != nil {
		b = get(base)
	}
	if len(extra) == 0 {
		if b == nil {
			return map[string]*root.TransparencyLog{}
		}
		return b
	}
	out := make(map[string]*root.TransparencyLog, len(b)+len(extra))
	for k, l := range b {
		out[k] = l
	}
	for k, l := range extra {
		out[k] = l
	}
	return out
}

func (m *material) PublicKeyVerifier(hint string) (root.TimeConstrainedVerifier, error) {
	if m.key == nil {
		return nil, errors.New("this authority trusts no public key")
	}
	return m.key, nil
}
