package sigstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/image"
	"github.com/portcullis-dev/portcullis/internal/image/signature"
)

var (
	_ engine.Policy   = (*imagePolicy)(nil)
	_ engine.Targeter = (*imagePolicy)(nil)
)

// Ref implements engine.Policy.
func (p *imagePolicy) Ref() engine.PolicyRef { return p.ref }

// FailureAction implements engine.Policy: policy-controller's webhooks
// fail closed.
func (p *imagePolicy) FailureAction() engine.Action { return engine.ActionDeny }

// Targets implements engine.Targeter: Pods and the pod controllers
// policy-controller validates, on CREATE and UPDATE.
func (p *imagePolicy) Targets() []engine.Target { return append([]engine.Target(nil), targets...) }

// Evaluate implements engine.Policy. In the validating phase it checks
// every image the policy matches and returns one result per image (paths
// of containers with the same image merged, as policy-controller's errors
// are); the mutating phase is the controller policy's.
func (p *imagePolicy) Evaluate(ctx context.Context, req *engine.Request, cluster engine.Cluster) engine.Outcome {
	if req.Phase != engine.PhaseValidate {
		return engine.Outcome{}
	}
	w := p.d.loadWorkload(ctx, req, cluster)
	if w == nil || w.skip || !w.included || w.nsErr != nil {
		return engine.Outcome{}
	}
	p.d.resolveTags(ctx, cluster, w)
	// Each distinct image the policy matches is checked once, several at
	// a time.
	index := map[string]int{}
	var distinct []*container
	for _, c := range w.containers {
		if c.name == "" || !p.matches(c.name, w) {
			continue
		}
		if _, ok := index[c.name]; !ok {
			index[c.name] = len(distinct)
			distinct = append(distinct, c)
		}
	}
	outcomes := make([]imageOutcome, len(distinct))
	if len(distinct) == 1 {
		outcomes[0] = p.check(ctx, cluster, w, distinct[0])
	} else {
		var g errgroup.Group
		g.SetLimit(maxParallelImages)
		for i, c := range distinct {
			g.Go(func() error {
				outcomes[i] = p.check(ctx, cluster, w, c)
				return nil
			})
		}
		_ = g.Wait()
	}
	g := newGrouper(p.ref)
	g.detailsOnly = true
	g.warn = p.warn
	for _, c := range w.containers {
		if i, ok := index[c.name]; ok && c.name != "" {
			g.add(c, outcomes[i])
		}
	}
	return engine.Outcome{Rules: g.results()}
}

// maxParallelImages bounds the images of one request a policy checks at
// the same time.
const maxParallelImages = 8

// matches reports whether an image name matches one of the policy's globs
// and the workload matches its spec.match.
func (p *imagePolicy) matches(imageName string, w *workload) bool {
	if len(p.match) > 0 {
		found := false
		for _, m := range p.match {
			r := w.kind.resource
			if m.resource != r.Resource || m.group != r.Group || (m.version != r.Version && m.version != "*") {
				continue
			}
			if m.selector != nil && !m.selector.Matches(labels.Set(w.labels)) {
				continue
			}
			found = true
			break
		}
		if !found {
			return false
		}
	}
	usable := false
	for _, g := range p.globs {
		if g == nil {
			continue
		}
		usable = true
		if g.MatchString(imageName) {
			return true
		}
	}
	// A policy that failed to compile without a usable glob for every
	// image it lists is in error for every image, rather than silently
	// matching none.
	return p.compileErr != "" && (!usable || hasNil(p.globs))
}

func hasNil(globs []*regexp.Regexp) bool {
	for _, g := range globs {
		if g == nil {
			return true
		}
	}
	return false
}

// imageOutcome is what one policy says about one image.
type imageOutcome struct {
	verdict engine.Verdict
	// reasons are policy-controller's error messages, in authority order
	// then the policy's, for a failure.
	reasons []string
	// passedBy names the authorities that passed.
	passedBy []string
}

// check evaluates the policy for one image (with a known digest).
func (p *imagePolicy) check(ctx context.Context, cluster engine.Cluster, w *workload, c *container) imageOutcome {
	if p.compileErr != "" {
		return imageOutcome{verdict: engine.Error, reasons: []string{"the policy failed to compile: " + p.compileErr}}
	}
	var reasons []string
	systemErr := false
	matches := map[string]any{}
	var passed []string
	for _, a := range p.authorities {
		m, err := a.check(ctx, cluster, w, c, p.d.now)
		if err != nil {
			reasons = append(reasons, err.Error())
			systemErr = systemErr || isSystemError(err)
			continue
		}
		matches[a.name] = m
		passed = append(passed, a.name)
	}
	fail := func() imageOutcome {
		v := engine.Fail
		if systemErr {
			v = engine.Error
		}
		return imageOutcome{verdict: v, reasons: reasons}
	}
	if len(matches) == 0 {
		return fail()
	}
	if p.policy == nil {
		return imageOutcome{verdict: engine.Pass, passedBy: passed}
	}
	input := map[string]any{"authorityMatches": matches}
	if p.fetchConfig {
		configs, err := p.d.configs(ctx, cluster.Registry, c, w.pull)
		if err != nil {
			reasons = append(reasons, err.Error())
			systemErr = systemErr || isSystemError(err)
			return fail()
		}
		input["config"] = configs
	}
	if p.includeSpec || p.includeObjectMeta || p.includeTypeMeta {
		spec, metadata, typeMeta, err := w.policyInput()
		if err != nil {
			reasons = append(reasons, err.Error())
			return fail()
		}
		if p.includeSpec && spec != nil {
			input["spec"] = spec
		}
		if p.includeObjectMeta && metadata != nil {
			input["metadata"] = metadata
		}
		if p.includeTypeMeta && typeMeta != nil {
			input["typemeta"] = typeMeta
		}
	}
	raw, err := json.Marshal(input)
	if err != nil {
		reasons = append(reasons, err.Error())
		return fail()
	}
	warn, err := p.policy.eval(ctx, ClusterImagePolicyKind, raw, p.d.now())
	switch {
	case err != nil:
		// A policy that says no is a failure; one that could not run
		// (deadline) is an error.
		reasons = append(reasons, err.Error())
		var ee *evalError
		systemErr = systemErr || errors.As(err, &ee)
		return fail()
	case warn != nil:
		// policy-controller fails a compliant policy that returns a
		// warning, with the warning as the reason (in warn mode, a
		// warning).
		reasons = append(reasons, warn.Error())
		return fail()
	}
	return imageOutcome{verdict: engine.Pass, passedBy: passed}
}

// isSystemError reports whether an error is a failure to check rather than
// a verdict: registry errors, deadlines, a missing registry.
func isSystemError(err error) bool {
	var ve *signature.VerificationError
	var ee *evalError
	switch {
	case errors.As(err, &ve):
		return false
	case errors.As(err, &ee):
		return true
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return true
	case errors.Is(err, image.ErrNotFound):
		return false
	case errors.Is(err, errPolicy):
		return false
	}
	return true
}

// errPolicy marks errors that are verdicts of a policy.
var errPolicy = errors.New("policy failure")

// policyError is a verdict that is neither a registry error nor a
// signature verification failure.
type policyError struct{ msg string }

func (e *policyError) Error() string        { return e.msg }
func (e *policyError) Is(target error) bool { return target == errPolicy }

// check runs one authority for one image. It returns the authority's entry
// in the policy input's authorityMatches, or why it failed.
func (a *authority) check(ctx context.Context, cluster engine.Cluster, w *workload, c *container, now func() time.Time) (map[string]any, error) {
	if a.typ == authorityStatic {
		if a.staticFail {
			msg := "disallowed by static policy"
			if a.staticMessage != "" {
				msg += ": " + a.staticMessage
			}
			return nil, &policyError{msg}
		}
		return map[string]any{"static": true}, nil
	}
	if cluster.Registry == nil {
		return nil, fmt.Errorf("%s for authority %s for %s: no image registry is configured", a.failure(len(a.attestations) > 0), a.name, c.name)
	}
	if len(a.attestations) > 0 {
		atts, err := a.checkAttestations(ctx, cluster, w, c, now)
		if err != nil {
			return nil, err
		}
		return map[string]any{"attestations": atts}, nil
	}
	var sigs []signature.Signature
	var err error
	for _, src := range a.sources {
		var v *signature.Verifier
		if v, err = src.verifierFor(ctx, cluster); err != nil {
			continue
		}
		sigs, err = v.Signatures(ctx, cluster.Registry, c.ref, src.pull(w))
		if err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s for authority %s for %s: %w", a.failure(false), a.name, c.name, err)
	}
	out := make([]any, 0, len(sigs))
	for _, s := range sigs {
		out = append(out, policySignature(s))
	}
	return map[string]any{"signatures": out}, nil
}

// failure is the start of an authority's failure message, as
// policy-controller words it.
func (a *authority) failure(attestations bool) string {
	switch {
	case attestations && a.typ == authorityKey:
		return "attestation key validation failed"
	case attestations && a.typ == authorityKeyless:
		return "attestation keyless validation failed"
	case attestations:
		return "signature TSA validAttestations failed"
	case a.typ == authorityKey:
		return "signature key validation failed"
	case a.typ == authorityKeyless:
		return "signature keyless validation failed"
	}
	return "signature TSA validation failed"
}

// pull is how a source's signatures are read: with the source's
// signaturePullSecrets (and no service account) when it names some, else
// as the image is pulled.
func (s signatureSource) pull(w *workload) image.Pull {
	if len(s.secrets) == 0 {
		return w.pull
	}
	return image.Pull{Namespace: w.namespace, Secrets: s.secrets}
}

// checkAttestations verifies an authority's attestations for one image and
// applies each attestation's policy, as policy-controller does: every
// listed attestation needs at least one verified statement of its
// predicate type that its policy accepts.
func (a *authority) checkAttestations(ctx context.Context, cluster engine.Cluster, w *workload, c *container, now func() time.Time) (map[string]any, error) {
	reg := cluster.Registry
	var all []signature.Attestation
	var src signatureSource
	var v *signature.Verifier
	var err error
	for _, src = range a.sources {
		if v, err = src.verifierFor(ctx, cluster); err != nil {
			continue
		}
		all, err = v.Attestations(ctx, reg, c.ref, "", src.pull(w))
		if err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s for authority %s for %s: %w", a.failure(true), a.name, c.name, err)
	}
	if len(all) == 0 {
		return nil, &policyError{fmt.Sprintf("no matching attestations for authority %s for %s", a.name, c.name)}
	}
	checkedTypes := map[string]bool{}
	for _, att := range all {
		checkedTypes[att.PredicateType] = true
	}
	out := map[string]any{}
	for _, want := range a.attestations {
		matching, err := v.Attestations(ctx, reg, c.ref, want.predicateType, src.pull(w))
		var ve *signature.VerificationError
		if err != nil && !errors.As(err, &ve) {
			return nil, fmt.Errorf("%s for authority %s for %s: %w", a.failure(true), a.name, c.name, err)
		}
		var firstErr error
		var passed []any
		for _, att := range matching {
			if want.policy != nil {
				raw, merr := json.Marshal(att.Statement)
				if merr != nil {
					if firstErr == nil {
						firstErr = &policyError{merr.Error()}
					}
					continue
				}
				warn, perr := want.policy.eval(ctx, want.name, raw, now())
				if perr != nil || warn != nil {
					if firstErr == nil {
						var ee *evalError
						switch {
						case errors.As(perr, &ee):
							firstErr = perr
						case perr != nil:
							firstErr = &policyError{perr.Error()}
						default:
							firstErr = &policyError{warn.Error()}
						}
					}
					continue
				}
			}
			entry := policySignature(att.Signature)
			entry["predicateType"] = want.predicateType
			passed = append(passed, entry)
		}
		if len(passed) == 0 {
			if firstErr != nil {
				return nil, firstErr
			}
			types := make([]string, 0, len(checkedTypes))
			for t := range checkedTypes {
				types = append(types, t)
			}
			sort.Strings(types)
			return nil, &policyError{fmt.Sprintf("no matching attestations with type %s, checked the following predicateTypes: %q",
				want.predicateType, strings.Join(types, ","))}
		}
		out[want.name] = passed
	}
	return out, nil
}

// policySignature is a verified signature in the policy input, in
// policy-controller's shape: an identifier (a digest of the payload and
// certificate), and for keyless signatures the certificate's subject,
// issuer and GitHub workflow extensions.
func policySignature(s signature.Signature) map[string]any {
	h := sha256.New()
	h.Write(s.Payload)
	if s.Certificate != nil {
		h.Write(s.Certificate.Raw)
	}
	m := map[string]any{"id": hex.EncodeToString(h.Sum(nil))}
	if s.Subject != "" {
		m["subject"] = s.Subject
	}
	if s.Issuer != "" {
		m["issuer"] = s.Issuer
	}
	if s.Certificate != nil {
		if ext, err := certificate.ParseExtensions(s.Certificate.Extensions); err == nil {
			for k, v := range map[string]string{
				"githubWorkflowTrigger": ext.GithubWorkflowTrigger,
				"githubWorkflowSha":     ext.GithubWorkflowSHA,
				"githubWorkflowName":    ext.GithubWorkflowName,
				"githubWorkflowRepo":    ext.GithubWorkflowRepository,
				"githubWorkflowRef":     ext.GithubWorkflowRef,
			} {
				if v != "" {
					m[k] = v
				}
			}
		}
	}
	return m
}
