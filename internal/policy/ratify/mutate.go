package ratify

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/image"
	"github.com/portcullis-dev/portcullis/internal/workload"
)

// MutationRule is the rule name of mutation results.
const MutationRule = "mutate-image"

// mutationTargets are the kinds the mutation applies to.
var mutationTargets = func() []engine.Target {
	ops := []engine.Operation{engine.Create, engine.Update}
	return []engine.Target{
		{Group: "", Version: "v1", Kind: "Pod", Operations: ops},
		{Group: "", Version: "v1", Kind: "ReplicationController", Operations: ops},
		{Group: "apps", Version: "*", Kind: "Deployment", Operations: ops},
		{Group: "apps", Version: "*", Kind: "StatefulSet", Operations: ops},
		{Group: "apps", Version: "*", Kind: "DaemonSet", Operations: ops},
		{Group: "apps", Version: "*", Kind: "ReplicaSet", Operations: ops},
		{Group: "batch", Version: "*", Kind: "Job", Operations: ops},
		{Group: "batch", Version: "*", Kind: "CronJob", Operations: ops},
	}
}()

// mutation stands for "ratify-mutation-provider" and the Assign that calls
// it: at the mutating phase it rewrites every container image of a Pod or
// pod controller that names a tag to path@digest, the digest the tag
// resolves to, with Docker's normalization (nginx:1.27 becomes
// docker.io/library/nginx@sha256:...). Images with a digest are left
// alone, so the mutation is idempotent. A tag that cannot be resolved is an
// error result that denies the request, as the Assign's default failure
// policy (Fail) does.
type mutation struct {
	timeout time.Duration
}

var (
	_ engine.Policy   = (*mutation)(nil)
	_ engine.Targeter = (*mutation)(nil)
)

func (m *mutation) Ref() engine.PolicyRef {
	return engine.PolicyRef{Dialect: DialectName, Kind: "MutationProvider", Name: MutationProviderName}
}

func (m *mutation) FailureAction() engine.Action { return engine.ActionDeny }

func (m *mutation) Targets() []engine.Target { return mutationTargets }

// imageAt locates one container image in the pod spec.
type imageAt struct {
	field string
	index int
	image string
}

// Evaluate implements engine.Policy.
func (m *mutation) Evaluate(ctx context.Context, req *engine.Request, cluster engine.Cluster) engine.Outcome {
	if req.Phase != engine.PhaseMutate || req.Object == nil {
		return engine.Outcome{}
	}
	kind, _ := req.Object["kind"].(string)
	if req.Kind.Kind != "" {
		kind = req.Kind.Kind
	}
	path, ok := workload.SpecPath(kind)
	if !ok {
		return engine.Outcome{}
	}
	spec := workload.PodSpecOfKind(req.Object, kind)
	if spec == nil {
		return engine.Outcome{}
	}
	var found []imageAt
	var problems []string
	pending := map[string]subject{}
	for _, f := range workload.ContainerFields() {
		list, _ := spec[f].([]any)
		for i, c := range list {
			cm, _ := c.(map[string]any)
			img, _ := cm["image"].(string)
			if img == "" {
				continue
			}
			s, err := parseSubject(img)
			if err != nil {
				problems = append(problems, fmt.Sprintf("failed to mutate image reference %s: %v", img, err))
				continue
			}
			if s.ref.Digest != "" {
				continue
			}
			found = append(found, imageAt{field: f, index: i, image: img})
			pending[img] = s
		}
	}
	if len(problems) == 0 && len(pending) == 0 {
		return engine.Outcome{}
	}
	resolved := map[string]string{}
	if len(pending) > 0 {
		if cluster.Registry == nil {
			for img := range pending {
				problems = append(problems, fmt.Sprintf("failed to mutate image reference %s: %v", img, errNoRegistry))
			}
		} else {
			var errs []string
			resolved, errs = m.resolve(ctx, cluster.Registry, pending, pullOf(req, spec))
			problems = append(problems, errs...)
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		out := engine.Outcome{}
		for _, p := range problems {
			out.Rules = append(out.Rules, engine.RuleResult{
				Policy: m.Ref(), Rule: MutationRule, Type: engine.Mutation,
				Verdict: engine.Error, Message: p, Action: engine.ActionDeny,
			})
		}
		return out
	}
	return engine.Outcome{Object: rewrite(req.Object, path, found, resolved)}
}

// resolve resolves every tag, in parallel, within the mutation timeout.
func (m *mutation) resolve(ctx context.Context, reg image.Registry, pending map[string]subject, pull image.Pull) (map[string]string, []string) {
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallelKeys)
	resolved := map[string]string{}
	var problems []string
	for img, s := range pending {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			desc, err := reg.Resolve(ctx, s.ref, pull)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if ctx.Err() != nil {
					err = fmt.Errorf("operation timed out after duration %v: %w", m.timeout, err)
				}
				problems = append(problems, fmt.Sprintf("failed to mutate image reference %s: %v", img, err))
				return
			}
			resolved[img] = s.path + "@" + desc.Digest.String()
		}()
	}
	wg.Wait()
	return resolved, problems
}

// pullOf is how the Pod pulls its images: its namespace, service account
// and image pull secrets.
func pullOf(req *engine.Request, spec map[string]any) image.Pull {
	p := image.Pull{Namespace: req.Namespace}
	if md, ok := req.Object["metadata"].(map[string]any); ok && p.Namespace == "" {
		p.Namespace, _ = md["namespace"].(string)
	}
	p.ServiceAccount, _ = spec["serviceAccountName"].(string)
	if p.ServiceAccount == "" {
		p.ServiceAccount = "default"
	}
	secrets, _ := spec["imagePullSecrets"].([]any)
	for _, s := range secrets {
		if sm, ok := s.(map[string]any); ok {
			if name, _ := sm["name"].(string); name != "" {
				p.Secrets = append(p.Secrets, name)
			}
		}
	}
	return p
}

// rewrite returns a copy of obj with the images at path replaced. Only the
// maps and slices on the way to a changed image are copied; obj is not
// modified.
func rewrite(obj map[string]any, path []string, found []imageAt, resolved map[string]string) map[string]any {
	out := maps.Clone(obj)
	cur := out
	for _, k := range path {
		next := maps.Clone(cur[k].(map[string]any))
		cur[k] = next
		cur = next
	}
	lists := map[string][]any{}
	for _, at := range found {
		list, ok := lists[at.field]
		if !ok {
			list = slices.Clone(cur[at.field].([]any))
			lists[at.field] = list
			cur[at.field] = list
		}
		c := maps.Clone(list[at.index].(map[string]any))
		c["image"] = resolved[at.image]
		list[at.index] = c
	}
	return out
}

// docPolicy stands for one Ratify object: it has no rules and matches no
// request, but it exists, so the object gets a Ready condition (False with
// its compile errors) like every policy document.
type docPolicy struct {
	ref engine.PolicyRef
}

var (
	_ engine.Policy   = (*docPolicy)(nil)
	_ engine.Targeter = (*docPolicy)(nil)
)

func (p *docPolicy) Ref() engine.PolicyRef        { return p.ref }
func (p *docPolicy) FailureAction() engine.Action { return engine.ActionAudit }
func (p *docPolicy) Targets() []engine.Target     { return []engine.Target{} }
func (p *docPolicy) Evaluate(context.Context, *engine.Request, engine.Cluster) engine.Outcome {
	return engine.Outcome{}
}
