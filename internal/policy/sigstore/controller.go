package sigstore

import (
	"context"
	"fmt"
	"strconv"

	"golang.org/x/sync/errgroup"

	"github.com/portcullis-dev/portcullis/internal/engine"
)

// controllerPolicy stands for policy-controller itself: its defaulting
// webhook (tags to digests) and the parts of its validating webhook that do
// not belong to one ClusterImagePolicy (unparsable images, tags that do not
// resolve, the no-match policy).
type controllerPolicy struct {
	d   *Dialect
	set *policySet
}

var (
	_ engine.Policy   = (*controllerPolicy)(nil)
	_ engine.Targeter = (*controllerPolicy)(nil)
)

// The rules of the controller policy, as results name them.
const (
	ruleResolve = "resolve-digests"
	ruleImage   = "image-reference"
	ruleNoMatch = "no-match-policy"
)

// Ref implements engine.Policy.
func (p *controllerPolicy) Ref() engine.PolicyRef {
	return engine.PolicyRef{Dialect: DialectName, Kind: ControllerPolicyKind, Name: ControllerPolicyName}
}

// FailureAction implements engine.Policy.
func (p *controllerPolicy) FailureAction() engine.Action { return engine.ActionDeny }

// Targets implements engine.Targeter.
func (p *controllerPolicy) Targets() []engine.Target { return append([]engine.Target(nil), targets...) }

// Evaluate implements engine.Policy.
func (p *controllerPolicy) Evaluate(ctx context.Context, req *engine.Request, cluster engine.Cluster) engine.Outcome {
	switch req.Phase {
	case engine.PhaseMutate:
		return p.mutate(ctx, req, cluster)
	case engine.PhaseValidate:
		return p.validate(ctx, req, cluster)
	}
	return engine.Outcome{}
}

// mutate resolves the tags of every image to digests, as
// policy-controller's defaulting webhook does on CREATE and UPDATE; images
// whose tags do not resolve are left as they are (validation then reports
// them). The request's object is not modified: the outcome carries a copy.
func (p *controllerPolicy) mutate(ctx context.Context, req *engine.Request, cluster engine.Cluster) engine.Outcome {
	if req.Operation != engine.Create && req.Operation != engine.Update {
		return engine.Outcome{}
	}
	w := p.d.loadWorkload(ctx, req, cluster)
	if w == nil || w.skip || !w.included || w.nsErr != nil || cluster.Registry == nil {
		return engine.Outcome{}
	}
	obj := req.Object
	changed := 0
	for _, c := range w.containers {
		if c.parseErr != nil || c.digest != "" {
			continue
		}
		desc, err := cluster.Registry.Resolve(ctx, c.ref, w.pull)
		if err != nil {
			continue
		}
		obj = setImage(obj, w.kind.podSpec, c.list, c.index, c.ref.ByDigest(desc.Digest.String()).String())
		changed++
	}
	if changed == 0 {
		return engine.Outcome{}
	}
	return engine.Outcome{
		Object: obj,
		Rules: []engine.RuleResult{{
			Policy:  p.Ref(),
			Rule:    ruleResolve,
			Type:    engine.Mutation,
			Verdict: engine.Pass,
			Message: fmt.Sprintf("resolved %d image tag(s) to digests", changed),
		}},
	}
}

// setImage returns obj with the image of one container replaced, copying
// only the maps and lists on the way to it.
func setImage(obj map[string]any, podSpec []string, list string, index int, img string) map[string]any {
	out := cloneMap(obj)
	cur := out
	for _, k := range podSpec {
		next := cloneMap(asMap(cur[k]))
		cur[k] = next
		cur = next
	}
	items, _ := cur[list].([]any)
	if index >= len(items) {
		return out
	}
	items = append([]any(nil), items...)
	ctr := cloneMap(asMap(items[index]))
	ctr["image"] = img
	items[index] = ctr
	cur[list] = items
	return out
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// validate reports the images no policy can judge: those that do not
// parse, tags that do not resolve to a digest, and images that match no
// policy (as the no-match policy says).
func (p *controllerPolicy) validate(ctx context.Context, req *engine.Request, cluster engine.Cluster) engine.Outcome {
	w := p.d.loadWorkload(ctx, req, cluster)
	if w == nil || w.skip {
		return engine.Outcome{}
	}
	ref := p.Ref()
	if w.nsErr != nil {
		return engine.Outcome{Rules: []engine.RuleResult{{
			Policy: ref, Rule: ruleImage, Type: engine.ImageVerify, Verdict: engine.Error,
			Message: w.nsErr.Error(), Action: engine.ActionDeny,
		}}}
	}
	if !w.included {
		return engine.Outcome{}
	}
	p.d.resolveTags(ctx, cluster, w)
	images := newGrouper(ref)
	noMatch := newGrouper(ref)
	noMatch.warn = p.d.noMatch == NoMatchWarn
	for _, c := range w.containers {
		switch {
		case c.parseErr != nil:
			images.addEntry(engine.Fail, c.parseErr.Error(), "", c.path, c.image, nil)
		case c.resolveErr != nil:
			images.addEntry(engine.Error, "invalid value: "+c.image+" must be an image digest",
				"failed to resolve the tag to a digest: "+c.resolveErr.Error(), c.path, c.image, map[string]string{"image": c.image})
		case !p.set.anyMatches(c.name, w):
			if p.d.noMatch != NoMatchAllow {
				noMatch.addEntry(engine.Fail, "no matching policies", "", c.path, c.display, map[string]string{"image": c.display})
			}
		}
	}
	var rules []engine.RuleResult
	for _, r := range images.results() {
		r.Rule = ruleImage
		rules = append(rules, r)
	}
	for _, r := range noMatch.results() {
		r.Rule = ruleNoMatch
		rules = append(rules, r)
	}
	if w.overflow > 0 {
		rules = append(rules, engine.RuleResult{
			Policy: ref, Rule: ruleImage, Type: engine.ImageVerify, Verdict: engine.Error, Action: engine.ActionDeny,
			Message: "only the first " + strconv.Itoa(maxContainers) + " images were checked: " + strconv.Itoa(w.overflow) + " more were not",
		})
	}
	return engine.Outcome{Rules: rules}
}

// anyMatches reports whether some ClusterImagePolicy matches the image.
func (s *policySet) anyMatches(imageName string, w *workload) bool {
	for _, p := range s.policies {
		if p.matches(imageName, w) {
			return true
		}
	}
	return false
}

// resolveTags resolves, once per request, the tags of images without a
// digest (objects that did not go through the mutating phase): policies
// judge digests only. Several tags are resolved at a time.
func (d *Dialect) resolveTags(ctx context.Context, cluster engine.Cluster, w *workload) {
	if w.resolved {
		return
	}
	w.resolved = true
	var g errgroup.Group
	g.SetLimit(maxParallelImages)
	for _, c := range w.containers {
		if c.parseErr != nil || c.digest != "" {
			continue
		}
		if cluster.Registry == nil {
			c.resolveErr = errNoRegistry
			continue
		}
		g.Go(func() error {
			desc, err := cluster.Registry.Resolve(ctx, c.ref, w.pull)
			if err != nil {
				c.resolveErr = err
				return nil
			}
			c.setDigest(desc.Digest.String())
			return nil
		})
	}
	_ = g.Wait()
}

var errNoRegistry = fmt.Errorf("no image registry is configured")
