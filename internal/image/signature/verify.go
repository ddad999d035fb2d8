package signature

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/portcullis-dev/portcullis/internal/image"
)

// findings collects what was found and why candidates failed.
type findings struct {
	found   int
	reasons []string
	seen    map[string]bool
}

// reason renders a candidate's rejection. It drops the "%!w(<nil>)" that
// sigstore-go leaves in some threshold messages.
func reason(err error) string {
	return strings.ReplaceAll(err.Error(), "; error: %!w(<nil>)", "")
}

func (f *findings) reject(reason string) {
	if f.seen == nil {
		f.seen = map[string]bool{}
	}
	if f.seen[reason] {
		return
	}
	f.seen[reason] = true
	f.reasons = append(f.reasons, reason)
}

// signatures finds and verifies the signatures of ref.
func (v *Verifier) signatures(ctx context.Context, reg image.Registry, ref image.Ref, pull image.Pull) ([]Signature, error) {
	var f findings
	var out []Signature
	if v.spec.Format != FormatBundle {
		layers, err := v.legacyLayers(ctx, reg, ref, "sig", pull, &f)
		if err != nil {
			return nil, err
		}
		if out, err = verifyEach(ctx, layers, &f, func(l legacyLayer) (Signature, error) {
			return v.verifyLegacySignature(l, ref.Digest)
		}); err != nil || len(out) > 0 {
			return out, err
		}
	}
	if v.spec.Format != FormatLegacy {
		bundles, err := v.bundles(ctx, reg, ref, pull, &f)
		if err != nil {
			return nil, err
		}
		if out, err = verifyEach(ctx, bundles, &f, func(b *bundle.Bundle) (Signature, error) {
			return v.verifyBundleSignature(b, ref.Digest)
		}); err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, &VerificationError{Found: f.found, Reasons: f.reasons}
	}
	return out, nil
}

// verifyEach verifies every candidate, counting them in f with the reason
// each one failed, and returns those that verified.
func verifyEach[T any](ctx context.Context, candidates []T, f *findings, verify func(T) (Signature, error)) ([]Signature, error) {
	var out []Signature
	for _, c := range candidates {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f.found++
		s, err := verify(c)
		if err != nil {
			f.reject(reason(err))
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

// attestations finds and verifies the attestations of ref of the given
// predicate type (any when empty).
func (v *Verifier) attestations(ctx context.Context, reg image.Registry, ref image.Ref, predicateType string, pull image.Pull) ([]Attestation, error) {
	var f findings
	var out []Attestation
	otherTypes := map[string]bool{}
	try := func(ent verify.SignedEntity, format Format, envErr error, env *envelopeStatement) {
		if envErr != nil {
			f.found++
			f.reject(reason(envErr))
			return
		}
		if predicateType != "" && env.head.PredicateType != predicateType {
			otherTypes[env.head.PredicateType] = true
			return
		}
		f.found++
		a, err := v.verifyAttestation(ent, format, env, ref.Digest)
		if err != nil {
			f.reject(reason(err))
			return
		}
		out = append(out, a)
	}
	if v.spec.Format != FormatBundle {
		layers, err := v.legacyLayers(ctx, reg, ref, "att", pull, &f)
		if err != nil {
			return nil, err
		}
		for _, l := range layers {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			ent, err := v.legacyEntity(l, true)
			if err != nil {
				try(nil, FormatLegacy, err, nil)
				continue
			}
			env, err := entityStatement(ent)
			try(ent, FormatLegacy, err, env)
		}
	}
	if v.spec.Format != FormatLegacy {
		bundles, err := v.bundles(ctx, reg, ref, pull, &f)
		if err != nil {
			return nil, err
		}
		for _, b := range bundles {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if b.GetDsseEnvelope() == nil {
				continue // a message signature is not an attestation
			}
			env, err := entityStatement(b)
			try(b, FormatBundle, err, env)
		}
	}
	if len(out) == 0 {
		if len(otherTypes) > 0 {
			f.reject(fmt.Sprintf("none of predicate type %s (found %s)", predicateType, strings.Join(slices.Sorted(maps.Keys(otherTypes)), ", ")))
		}
		return nil, &VerificationError{Found: f.found, Reasons: f.reasons, Attestation: true, PredicateType: predicateType}
	}
	return out, nil
}

// sigRepo is where the signatures of ref are stored.
func (v *Verifier) sigRepo(ref image.Ref) image.Ref {
	if v.repo != nil {
		return *v.repo
	}
	return image.Ref{Registry: ref.Registry, Repository: ref.Repository}
}

// legacyLayers reads the layers of cosign's sha256-<hex>.<suffix> manifest.
// A missing tag is no layers; layers that cannot be read are rejected
// candidates; other registry errors are returned.
func (v *Verifier) legacyLayers(ctx context.Context, reg image.Registry, ref image.Ref, suffix string, pull image.Pull, f *findings) ([]legacyLayer, error) {
	repo := v.sigRepo(ref)
	tag := repo
	tag.Tag = strings.Replace(ref.Digest, ":", "-", 1) + "." + suffix
	raw, _, err := reg.Manifest(ctx, tag, pull)
	if errors.Is(err, image.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", tag, err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		f.found++
		f.reject(fmt.Sprintf("invalid manifest %s: %v", tag, err))
		return nil, nil
	}
	layers := m.Layers
	if len(layers) > maxCandidates {
		f.reject(fmt.Sprintf("only the first %d of %d layers of %s were checked", maxCandidates, len(layers), tag))
		layers = layers[:maxCandidates]
	}
	out := make([]legacyLayer, 0, len(layers))
	for _, l := range layers {
		if l.Size > maxPayloadBytes {
			f.found++
			f.reject(fmt.Sprintf("layer %s of %d bytes is larger than %d bytes", l.Digest, l.Size, maxPayloadBytes))
			continue
		}
		blob, err := reg.Blob(ctx, repo, l.Digest, pull)
		if errors.Is(err, image.ErrNotFound) {
			f.found++
			f.reject(fmt.Sprintf("layer %s is missing", l.Digest))
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading layer %s of %s: %w", l.Digest, tag, err)
		}
		if len(blob) > maxPayloadBytes {
			f.found++
			f.reject(fmt.Sprintf("layer %s of %d bytes is larger than %d bytes", l.Digest, len(blob), maxPayloadBytes))
			continue
		}
		out = append(out, legacyLayer{payload: blob, mediaType: string(l.MediaType), annotations: l.Annotations})
	}
	return out, nil
}

// bundles reads the Sigstore bundles among the referrers of ref. Referrers
// that are not bundles are skipped, as cosign skips them; the in-process
// and some real registries report a referrer's config media type as its
// artifact type, so referrers with an empty config are read to find out.
func (v *Verifier) bundles(ctx context.Context, reg image.Registry, ref image.Ref, pull image.Pull, f *findings) ([]*bundle.Bundle, error) {
	repo := v.sigRepo(ref)
	descs, err := reg.Referrers(ctx, repo.ByDigest(ref.Digest), "", pull)
	if errors.Is(err, image.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading referrers of %s: %w", repo.ByDigest(ref.Digest), err)
	}
	var cands []v1.Descriptor
	for _, d := range descs {
		if d.MediaType.IsIndex() {
			continue
		}
		if isBundleType(d.ArtifactType) || d.ArtifactType == "" || d.ArtifactType == emptyConfigMediaType {
			cands = append(cands, d)
		}
	}
	slices.SortFunc(cands, func(a, b v1.Descriptor) int { return strings.Compare(a.Digest.String(), b.Digest.String()) })
	if len(cands) > maxCandidates {
		f.reject(fmt.Sprintf("only the first %d of %d referrers were checked", maxCandidates, len(cands)))
		cands = cands[:maxCandidates]
	}
	var out []*bundle.Bundle
	for _, d := range cands {
		mref := repo.ByDigest(d.Digest.String())
		raw, _, err := reg.Manifest(ctx, mref, pull)
		if errors.Is(err, image.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading referrer %s: %w", mref, err)
		}
		m, err := v1.ParseManifest(bytes.NewReader(raw))
		if err != nil || len(m.Layers) == 0 {
			continue
		}
		layer := m.Layers[0]
		if !isBundleType(string(layer.MediaType)) {
			continue
		}
		if layer.Size > maxPayloadBytes {
			f.found++
			f.reject(fmt.Sprintf("bundle %s of %d bytes is larger than %d bytes", layer.Digest, layer.Size, maxPayloadBytes))
			continue
		}
		blob, err := reg.Blob(ctx, repo, layer.Digest, pull)
		if errors.Is(err, image.ErrNotFound) {
			f.found++
			f.reject(fmt.Sprintf("bundle %s is missing", layer.Digest))
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading bundle %s of %s: %w", layer.Digest, mref, err)
		}
		b, err := parseBundle(blob)
		if err != nil {
			f.found++
			f.reject(reason(err))
			continue
		}
		out = append(out, b)
	}
	return out, nil
}

// verifyLegacySignature verifies one .sig layer against digest.
func (v *Verifier) verifyLegacySignature(l legacyLayer, digest string) (Signature, error) {
	var ss SimpleSigning
	if err := json.Unmarshal(l.payload, &ss); err != nil {
		return Signature{}, fmt.Errorf("invalid simplesigning payload: %w", err)
	}
	if ss.Critical.Image.DockerManifestDigest != digest {
		return Signature{}, fmt.Errorf("invalid or missing digest in claim: %s", ss.Critical.Image.DockerManifestDigest)
	}
	ent, err := v.legacyEntity(l, false)
	if err != nil {
		return Signature{}, err
	}
	payload := l.payload
	res, cert, err := v.verifyEntity(ent, func() verify.ArtifactPolicyOption {
		return verify.WithArtifact(bytes.NewReader(payload))
	})
	if err != nil {
		return Signature{}, err
	}
	s := signatureOf(FormatLegacy, res, cert)
	s.Payload = l.payload
	s.Annotations = ss.Optional
	return s, nil
}

// verifyBundleSignature verifies one bundle against digest: a message
// signature over the digest, or a DSSE statement whose subject is it.
func (v *Verifier) verifyBundleSignature(b *bundle.Bundle, digest string) (Signature, error) {
	var payload []byte
	if b.GetDsseEnvelope() != nil {
		env, err := entityStatement(b)
		if err != nil {
			return Signature{}, err
		}
		if err := env.checkSubject(digest); err != nil {
			return Signature{}, err
		}
		payload = env.raw
	}
	res, cert, err := v.verifyEntity(b, artifactDigest(digest))
	if err != nil {
		return Signature{}, err
	}
	s := signatureOf(FormatBundle, res, cert)
	s.Payload = payload
	return s, nil
}

// verifyAttestation verifies a DSSE attestation whose statement is env.
func (v *Verifier) verifyAttestation(ent verify.SignedEntity, format Format, env *envelopeStatement, digest string) (Attestation, error) {
	if env.payloadType != InTotoPayloadType {
		return Attestation{}, fmt.Errorf("unsupported DSSE payload type %q", env.payloadType)
	}
	if err := env.checkSubject(digest); err != nil {
		return Attestation{}, err
	}
	res, cert, err := v.verifyEntity(ent, artifactDigest(digest))
	if err != nil {
		return Attestation{}, err
	}
	var st map[string]any
	if err := json.Unmarshal(env.raw, &st); err != nil {
		return Attestation{}, fmt.Errorf("invalid in-toto statement: %w", err)
	}
	a := Attestation{Signature: signatureOf(format, res, cert), PredicateType: env.head.PredicateType, Statement: st}
	a.Payload = env.raw
	return a, nil
}

func artifactDigest(digest string) func() verify.ArtifactPolicyOption {
	raw, _ := hex.DecodeString(strings.TrimPrefix(digest, "sha256:"))
	return func() verify.ArtifactPolicyOption { return verify.WithArtifactDigest("sha256", raw) }
}

func signatureOf(format Format, res *verify.VerificationResult, cert *x509.Certificate) Signature {
	s := Signature{Format: format, Certificate: cert}
	if res.Signature != nil && res.Signature.Certificate != nil {
		s.Issuer = res.Signature.Certificate.Issuer
		s.Subject = res.Signature.Certificate.SubjectAlternativeName
	}
	return s
}

// envelopeStatement is the in-toto statement of a DSSE envelope.
type envelopeStatement struct {
	payloadType string
	raw         []byte
	head        struct {
		Type          string `json:"_type"`
		PredicateType string `json:"predicateType"`
		Subject       []struct {
			Name   string            `json:"name"`
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
	}
}

func entityStatement(ent verify.SignedEntity) (*envelopeStatement, error) {
	sc, err := ent.SignatureContent()
	if err != nil {
		return nil, fmt.Errorf("invalid signature content: %w", err)
	}
	ec := sc.EnvelopeContent()
	if ec == nil || ec.RawEnvelope() == nil {
		return nil, errors.New("not a DSSE envelope")
	}
	raw, err := base64.StdEncoding.DecodeString(ec.RawEnvelope().Payload)
	if err != nil {
		return nil, fmt.Errorf("invalid DSSE payload: %w", err)
	}
	e := &envelopeStatement{payloadType: ec.RawEnvelope().PayloadType, raw: raw}
	if err := json.Unmarshal(raw, &e.head); err != nil {
		return nil, fmt.Errorf("invalid in-toto statement: %w", err)
	}
	return e, nil
}

// checkSubject is cosign's IntotoSubjectClaimVerifier.
func (e *envelopeStatement) checkSubject(digest string) error {
	want := strings.TrimPrefix(digest, "sha256:")
	for _, s := range e.head.Subject {
		if s.Digest["sha256"] == want {
			return nil
		}
	}
	return errors.New("no matching subject digest found")
}

// verifyEntity runs sigstore-go over ent with each trust material of the
// authority (one per public key) and returns the first success, then
// checks keyless identities. artifact makes a fresh artifact option per
// attempt (readers are consumed).
func (v *Verifier) verifyEntity(ent verify.SignedEntity, artifact func() verify.ArtifactPolicyOption) (*verify.VerificationResult, *x509.Certificate, error) {
	vc, err := ent.VerificationContent()
	if err != nil {
		return nil, nil, fmt.Errorf("invalid verification material: %w", err)
	}
	cert := vc.Certificate()
	isCert := cert != nil
	if v.kind == kindKeys && isCert {
		return nil, nil, errors.New("signed with a certificate, not with one of the keys")
	}
	if v.kind != kindKeys && !isCert {
		return nil, nil, errors.New("signed with a key, not with a certificate")
	}
	timestamps, _ := ent.Timestamps()
	var lastErr error
	for _, m := range v.materials {
		opts := v.verifierOptions(m, ent, isCert, len(timestamps) > 0 && len(m.TimestampingAuthorities()) > 0)
		sv, err := verify.NewVerifier(m, opts...)
		if err != nil {
			return nil, nil, fmt.Errorf("configuring verifier: %w", err)
		}
		policy := []verify.PolicyOption{verify.WithoutIdentitiesUnsafe()}
		if v.kind == kindKeys {
			policy = []verify.PolicyOption{verify.WithKey()}
		}
		res, err := sv.Verify(ent, verify.NewPolicy(artifact(), policy...))
		if err != nil {
			lastErr = err
			continue
		}
		if v.kind == kindKeyless {
			if err := v.checkIdentity(res, cert); err != nil {
				return nil, nil, err
			}
		}
		return res, cert, nil
	}
	return nil, nil, lastErr
}

// verifierOptions chooses sigstore-go's checks for one entity, as cosign
// does: transparency-log entries when required or present (and from a
// trusted log), RFC 3161 timestamps when required, the log's integrated
// time or a timestamp as the signature's time for certificates (else the
// current time), SCTs when required.
func (v *Verifier) verifierOptions(m root.TrustedMaterial, ent verify.SignedEntity, isCert, hasTSA bool) []verify.VerifierOption {
	useTlog := v.spec.RequireTLog || hasTrustedTlogEntry(m, ent)
	var o []verify.VerifierOption
	if useTlog {
		o = append(o, verify.WithTransparencyLog(1))
	}
	if v.spec.RequireTimestamp {
		o = append(o, verify.WithSignedTimestamps(1))
	}
	if isCert {
		switch {
		case useTlog || hasTSA:
			o = append(o, verify.WithObserverTimestamps(1))
		case !v.spec.RequireTimestamp:
			o = append(o, verify.WithCurrentTime())
		}
		if v.spec.RequireSCT {
			o = append(o, verify.WithSignedCertificateTimestamps(1))
		}
	} else if !v.spec.RequireTimestamp {
		o = append(o, verify.WithNoObserverTimestamps())
	}
	return o
}

func hasTrustedTlogEntry(m root.TrustedMaterial, ent verify.SignedEntity) bool {
	entries, err := ent.TlogEntries()
	if err != nil || len(entries) == 0 {
		return false
	}
	logs := m.RekorLogs()
	for _, e := range entries {
		if _, ok := logs[hex.EncodeToString([]byte(e.LogKeyID()))]; ok {
			return true
		}
	}
	return false
}

// checkIdentity matches the verified certificate against the identities,
// with cosign's message when none matches.
func (v *Verifier) checkIdentity(res *verify.VerificationResult, cert *x509.Certificate) error {
	if res.Signature == nil || res.Signature.Certificate == nil {
		return errors.New("no certificate to check identities against")
	}
	issuer := res.Signature.Certificate.Issuer
	sans := cryptoutils.GetSubjectAlternateNames(cert)
	for _, id := range v.identities {
		if id.matches(issuer, sans) {
			return nil
		}
	}
	return fmt.Errorf("none of the expected identities matched what was in the certificate, got subjects [%s] with issuer %s", strings.Join(sans, ", "), issuer)
}
