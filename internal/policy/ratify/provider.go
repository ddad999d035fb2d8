package ratify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/image"
	"github.com/portcullis-dev/portcullis/internal/image/signature"
)

// Bounds of one provider call.
const (
	// maxKeys is the most keys one external data call may send.
	maxKeys = 1024
	// parallelKeys is how many keys are verified at once.
	parallelKeys = 8
)

// errNoRegistry is returned when the evaluation has no registry client.
var errNoRegistry = errors.New("no image registry client is configured")

// Report is one verifier report, in the shape of Ratify's VerifierResult:
// what one verifier concluded about one kind of signature artifact of a
// subject, or, with no verifier name, why the subject could not be
// verified at all.
type Report struct {
	// Subject is the normalized reference verified, e.g.
	// docker.io/library/nginx@sha256:... (a tag key keeps its tag).
	Subject   string
	IsSuccess bool
	// Name and Type are the verifier's name (the Verifier object's name)
	// and type ("cosign"); Ratify sends each twice, as name and
	// verifierName, type and verifierType.
	Name, Type string
	// ArtifactType is the type of the signature artifact verified.
	ArtifactType string
	Message      string
	// ErrorReason is the root cause of a failure that is not the verdict
	// of a verifier.
	ErrorReason string
	// Extensions are the verifier's details: the trust policy used and one
	// entry per signature.
	Extensions map[string]any
}

// Value renders the report as the JSON object Ratify sends. Empty fields
// are left out, as Ratify's omitempty tags do.
func (r Report) Value() map[string]any {
	m := map[string]any{"isSuccess": r.IsSuccess}
	put := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	put("subject", r.Subject)
	put("name", r.Name)
	put("verifierName", r.Name)
	put("type", r.Type)
	put("verifierType", r.Type)
	put("artifactType", r.ArtifactType)
	put("message", r.Message)
	put("errorReason", r.ErrorReason)
	if len(r.Extensions) > 0 {
		m["extensions"] = r.Extensions
	}
	return m
}

// Result is Ratify's verification result for one subject (a provider
// response item's value): the overall decision of the Policy and the
// reports it was made from.
type Result struct {
	IsSuccess bool
	Reports   []Report
}

// Value renders the result as Ratify sends it for config-policy:
// {"version": "0.1.0", "isSuccess": bool, "verifierReports": [...]}.
func (r Result) Value() map[string]any {
	m := map[string]any{"version": VerificationResultVersion, "isSuccess": r.IsSuccess}
	if len(r.Reports) > 0 {
		reports := make([]any, len(r.Reports))
		for i, rep := range r.Reports {
			reports[i] = rep.Value()
		}
		m["verifierReports"] = reports
	}
	return m
}

// errorResult is the result of a subject that could not be verified, as
// config-policy turns an error into a result: not a success, with one
// report saying why.
func errorResult(s subject, reason string) Result {
	return Result{Reports: []Report{{
		Subject:     s.original,
		Message:     "failed to verify artifact: " + s.original,
		ErrorReason: reason,
	}}}
}

// provider serves "ratify-provider". It is a policy without rules: the
// engine routes external data calls for its name to it.
type provider struct {
	// verifiers are sorted by name; for each artifact type the first that
	// accepts it verifies it, as Ratify's executor does.
	verifiers []*verifier
	// policy is the active Policy; nil when there is none.
	policy  *configPolicy
	timeout time.Duration
}

var (
	_ engine.Policy   = (*provider)(nil)
	_ engine.Provider = (*provider)(nil)
	_ engine.Targeter = (*provider)(nil)
)

func (p *provider) Ref() engine.PolicyRef {
	return engine.PolicyRef{Dialect: DialectName, Kind: "Provider", Name: ProviderName}
}

func (p *provider) FailureAction() engine.Action { return engine.ActionDeny }

// Evaluate has nothing to do: the provider only answers external data.
func (p *provider) Evaluate(context.Context, *engine.Request, engine.Cluster) engine.Outcome {
	return engine.Outcome{}
}

// Targets is empty: the provider matches no request.
func (p *provider) Targets() []engine.Target { return []engine.Target{} }

// ProviderName implements engine.Provider.
func (p *provider) ProviderName() string { return ProviderName }

// ExternalData implements engine.Provider. It verifies every key (an image
// reference, optionally prefixed with "[namespace]") and answers one item
// per distinct key, in the order of the keys: Ratify's result as the value,
// or an error for a key that is not a reference or when no Policy is
// active. A tag is resolved to its digest first; the item keeps the key as
// given. Registry failures make a subject's result a failure, as
// config-policy does. When the call takes longer than the verification
// timeout, the answer is a system error with HTTP status 500, as Ratify's;
// when the caller's context ends first, the error is returned.
func (p *provider) ExternalData(ctx context.Context, keys []string, cluster engine.Cluster) (engine.ExternalDataResponse, error) {
	if cluster.Registry == nil {
		return engine.ExternalDataResponse{}, fmt.Errorf("%s: %w", ProviderName, errNoRegistry)
	}
	if len(keys) > maxKeys {
		return engine.ExternalDataResponse{StatusCode: statusInternalServerError,
			SystemError: fmt.Sprintf("operation failed with error %d keys are more than the %d one request may send", len(keys), maxKeys)}, nil
	}
	var uniq []string
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			uniq = append(uniq, k)
		}
	}
	vctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	items := make([]engine.ExternalDataItem, len(uniq))
	sem := make(chan struct{}, parallelKeys)
	var wg sync.WaitGroup
	for i, k := range uniq {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			items[i] = p.verifyKey(vctx, k, cluster.Registry)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return engine.ExternalDataResponse{}, fmt.Errorf("%s: %w", ProviderName, err)
	}
	if vctx.Err() != nil {
		return engine.ExternalDataResponse{StatusCode: statusInternalServerError,
			SystemError: fmt.Sprintf("operation failed with error operation timed out after duration %v", p.timeout)}, nil
	}
	return engine.ExternalDataResponse{Items: items, StatusCode: statusOK}, nil
}

// verifyKey answers one key.
func (p *provider) verifyKey(ctx context.Context, key string, reg image.Registry) engine.ExternalDataItem {
	s, err := parseKey(key)
	if err != nil {
		return engine.ExternalDataItem{Key: key, Error: err.Error()}
	}
	if p.policy == nil {
		return engine.ExternalDataItem{Key: key,
			Error: "EXECUTOR_FAILURE: POLICY_PROVIDER_NOT_FOUND: no Policy named " + PolicyName + " is loaded"}
	}
	return engine.ExternalDataItem{Key: key, Value: p.verifySubject(ctx, s, reg).Value()}
}

// verifySubject verifies one subject: it resolves the reference, lets the first
// verifier that accepts each signature artifact type verify the
// signatures of that type, and decides with the Policy.
func (p *provider) verifySubject(ctx context.Context, s subject, reg image.Registry) Result {
	pull := image.Pull{Namespace: s.namespace}
	desc, err := reg.Resolve(ctx, s.ref, pull)
	if err != nil {
		return errorResult(s, "GET_SUBJECT_DESCRIPTOR_FAILURE: failed to resolve the subject descriptor: "+err.Error())
	}
	digest := desc.Digest.String()
	if s.ref.Digest != "" && digest != s.ref.Digest {
		return errorResult(s, fmt.Sprintf("GET_SUBJECT_DESCRIPTOR_FAILURE: the registry answered with digest %s for %s", digest, s.original))
	}
	target := s.ref.ByDigest(digest)
	var reports []Report
	for _, at := range supportedArtifactTypes {
		v := p.verifierFor(at)
		if v == nil {
			continue
		}
		r, found, err := v.verify(ctx, reg, s, target, at, pull)
		if err != nil {
			return errorResult(s, "LIST_REFERRERS_FAILURE: "+err.Error())
		}
		if found {
			reports = append(reports, r)
		}
	}
	if len(reports) == 0 {
		return errorResult(s, "NO_VERIFIER_REPORT: no verifier report was generated: the image has no signature a configured verifier accepts")
	}
	return Result{IsSuccess: p.policy.overall(reports), Reports: reports}
}

// verifierFor returns the verifier of the artifact type, or nil.
func (p *provider) verifierFor(at string) *verifier {
	for _, v := range p.verifiers {
		if v.canVerify(at) {
			return v
		}
	}
	return nil
}

// Messages of the cosign verifier.
const (
	msgSuccess       = "cosign verification success. valid signatures found. please refer to extensions field for verifications performed."
	msgLegacySuccess = "cosign verification success. valid signatures found"
	msgNoValid       = "cosign verification failed: no valid signatures found"
)

// verify verifies the signatures of artifact type at of target. found is
// false when the image has no such artifact (no report, as in Ratify,
// where the verifier only runs for referrers that exist); err is a
// registry failure.
func (v *verifier) verify(ctx context.Context, reg image.Registry, s subject, target image.Ref, at string, pull image.Pull) (r Report, found bool, err error) {
	r = Report{Subject: s.original, Name: v.name, Type: v.typ, ArtifactType: at}
	tp := v.scoped(s.original)
	if tp == nil {
		found, err := discover(ctx, reg, target, at, pull)
		if err != nil || !found {
			return Report{}, false, err
		}
		r.Message = "cosign verification failed: CONFIG_INVALID: failed to get trust policy: no policy found for reference " + s.original
		return r, true, nil
	}
	sigs, err := tp.verifiers[at].Signatures(ctx, reg, target, pull)
	var verr *signature.VerificationError
	switch {
	case err == nil:
		r.IsSuccess = true
		r.Message = msgSuccess
		entries := make([]any, 0, len(sigs))
		for _, sig := range sigs {
			check := map[string]any{"isSuccess": true}
			if sig.Issuer != "" {
				check["issuer"] = sig.Issuer
			}
			if sig.Subject != "" {
				check["subject"] = sig.Subject
			}
			entries = append(entries, check)
		}
		r.Extensions = v.extensions(tp, entries)
		if v.legacy {
			r.Message = msgLegacySuccess
		}
		return r, true, nil
	case errors.As(err, &verr) && verr.Found == 0:
		return Report{}, false, nil
	case errors.As(err, &verr):
		r.Message = msgNoValid
		entries := make([]any, 0, len(verr.Reasons))
		for _, reason := range verr.Reasons {
			entries = append(entries, map[string]any{"isSuccess": false, "error": reason})
		}
		r.Extensions = v.extensions(tp, entries)
		return r, true, nil
	default:
		return Report{}, false, err
	}
}

// extensions renders the per-signature checks: for trust policies
// {"signatures": [{"verifications": [check]}...], "trustPolicy": name},
// for the legacy configuration {"signatures": [check...]}.
func (v *verifier) extensions(tp *trustPolicy, checks []any) map[string]any {
	if v.legacy {
		return map[string]any{"signatures": checks}
	}
	sigs := make([]any, len(checks))
	for i, c := range checks {
		sigs[i] = map[string]any{"verifications": []any{c}}
	}
	return map[string]any{"signatures": sigs, "trustPolicy": tp.name}
}

// discover reports whether target has a signature artifact of type at: the
// sha256-<hex>.sig tag for cosign signatures, referrers of the bundle type
// for Sigstore bundles.
func discover(ctx context.Context, reg image.Registry, target image.Ref, at string, pull image.Pull) (bool, error) {
	if at == ArtifactTypeSigstoreBundle {
		descs, err := reg.Referrers(ctx, target, at, pull)
		if errors.Is(err, image.ErrNotFound) {
			return false, nil
		}
		return len(descs) > 0, err
	}
	tag := strings.Replace(target.Digest, ":", "-", 1) + ".sig"
	_, err := reg.Resolve(ctx, image.Ref{Registry: target.Registry, Repository: target.Repository, Tag: tag}, pull)
	if errors.Is(err, image.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// The HTTP statuses a provider's answer reports, as Gatekeeper reads them.
const (
	statusOK                  = 200
	statusInternalServerError = 500
)
