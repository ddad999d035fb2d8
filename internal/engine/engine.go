// Package engine compiles policy documents of every dialect into an immutable
// Set and evaluates admission requests against it. It is pure: it reads
// cluster data only through the small interfaces in Cluster, and it never
// logs, serves HTTP or talks to the API server. The webhook, the audit
// scanner and the CLI all call it.
package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Dialect compiles the documents of one policy language.
type Dialect interface {
	// Name is the dialect's stable identifier, e.g. "kyverno".
	Name() string
	// Handles reports whether documents of this kind belong to the dialect.
	Handles(gvk schema.GroupVersionKind) bool
	// Compile turns the dialect's documents into policies. A document that
	// fails to compile still yields a Policy whose evaluation returns an
	// error verdict, so the failure policy decides; its problems are also
	// returned in the error list.
	Compile(docs []Document) ([]Policy, field.ErrorList)
}

// Policy is one compiled policy. Evaluate must be safe for concurrent use.
type Policy interface {
	Ref() PolicyRef
	// FailureAction is what admission does when the policy errors: ActionDeny
	// for a policy whose failure policy is Fail, ActionAudit for Ignore.
	FailureAction() Action
	// Evaluate runs the rules of req.Phase (never PhaseAll: the Set splits it).
	Evaluate(ctx context.Context, req *Request, cluster Cluster) Outcome
}

// Target is a kind (and operations) a policy may match. Empty fields and
// "*" match anything; a policy's targets let the server register webhook
// rules for just those kinds and skip the policy for other requests.
type Target struct {
	Group, Version, Kind, Subresource string
	// Operations the policy may match; nil means every operation.
	Operations []Operation
}

// Matches reports whether the target covers a request.
func (t Target) Matches(gvk schema.GroupVersionKind, subresource string, op Operation) bool {
	if !wild(t.Group, gvk.Group) || !wild(t.Version, gvk.Version) || !wild(t.Kind, gvk.Kind) {
		return false
	}
	if t.Subresource != "*" && t.Subresource != subresource {
		return false
	}
	if len(t.Operations) == 0 || op == "" {
		return true
	}
	for _, o := range t.Operations {
		if o == op {
			return true
		}
	}
	return false
}

func wild(pattern, s string) bool {
	if pattern == "" || pattern == "*" || pattern == s {
		return true
	}
	if strings.ContainsAny(pattern, "*?") {
		// Patterns other than "*" are rare in targets: match them exactly
		// by prefix/suffix as the dialect's own matching will.
		if strings.HasSuffix(pattern, "*") && strings.HasPrefix(s, strings.TrimSuffix(pattern, "*")) {
			return true
		}
		return strings.HasPrefix(pattern, "*") && strings.HasSuffix(s, strings.TrimPrefix(pattern, "*")) || strings.Contains(pattern, "?")
	}
	return false
}

// Standing is implemented by dialects that may have policies without
// documents: the Sigstore policy-controller denies every image of an
// enforced namespace that no ClusterImagePolicy matches, even when there is
// none. Compile runs for such a dialect even with no documents.
type Standing interface {
	CompilesWithoutDocuments() bool
}

func compilesEmpty(d Dialect) bool {
	s, ok := d.(Standing)
	return ok && s.CompilesWithoutDocuments()
}

// Targeter is implemented by policies that know which kinds they may match.
// Policies that do not implement it are evaluated for every request.
type Targeter interface {
	Targets() []Target
}

// Outcome is what one policy returns for one request.
type Outcome struct {
	Rules []RuleResult
	// Object is the mutated object, or nil when the policy changed nothing.
	Object   map[string]any
	Warnings []string
}

// Engine compiles documents with a fixed list of dialects.
type Engine struct {
	dialects []Dialect
}

// New returns an engine that knows the given dialects.
func New(dialects ...Dialect) *Engine {
	return &Engine{dialects: dialects}
}

// Dialects returns the engine's dialects.
func (e *Engine) Dialects() []Dialect { return append([]Dialect(nil), e.dialects...) }

// Dialect returns the dialect that handles gvk, or nil.
func (e *Engine) Dialect(gvk schema.GroupVersionKind) Dialect {
	for _, d := range e.dialects {
		if d.Handles(gvk) {
			return d
		}
	}
	return nil
}

// Compile compiles every document into one immutable Set. Documents of a kind
// no dialect handles are reported and left out. The Set is usable even when
// errors are returned: policies that failed to compile evaluate to errors.
func (e *Engine) Compile(docs []Document) (*Set, field.ErrorList) {
	var errs field.ErrorList
	byDialect := make([][]Document, len(e.dialects))
	for _, doc := range docs {
		gvk := doc.GVK()
		found := false
		for i, d := range e.dialects {
			if d.Handles(gvk) {
				byDialect[i] = append(byDialect[i], doc)
				found = true
				break
			}
		}
		if !found {
			errs = append(errs, field.NotSupported(doc.Root().Child("kind"), gvk.Kind, e.kinds()))
		}
	}
	set := &Set{}
	for i, d := range e.dialects {
		if len(byDialect[i]) == 0 && !compilesEmpty(d) {
			continue
		}
		policies, perrs := d.Compile(byDialect[i])
		set.policies = append(set.policies, policies...)
		errs = append(errs, perrs...)
	}
	set.errors = errs
	return set.index(), errs
}

func (e *Engine) kinds() []string {
	var names []string
	for _, d := range e.dialects {
		names = append(names, d.Name()+" policies")
	}
	return names
}

// Set is an immutable, compiled set of policies.
type Set struct {
	policies []Policy
	errors   field.ErrorList
	// targets[i] are the targets of policies[i]; nil for a policy that may
	// match anything.
	targets [][]Target
	// providers are the policies that serve external data in-process.
	providers map[string]Provider
}

// index computes the targets of every policy.
func (s *Set) index() *Set {
	s.targets = make([][]Target, len(s.policies))
	for i, p := range s.policies {
		if t, ok := p.(Targeter); ok {
			s.targets[i] = t.Targets()
		}
		if pr, ok := p.(Provider); ok {
			if s.providers == nil {
				s.providers = map[string]Provider{}
			}
			s.providers[pr.ProviderName()] = pr
		}
	}
	return s
}

// builtinProviders answers external data calls for the set's in-process
// providers and passes the others to the cluster's provider.
type builtinProviders struct {
	providers map[string]Provider
	next      ExternalDataProvider
	cluster   Cluster
}

func (b builtinProviders) ExternalData(ctx context.Context, provider string, keys []string) (ExternalDataResponse, error) {
	if p, ok := b.providers[provider]; ok {
		return p.ExternalData(ctx, keys, b.cluster)
	}
	if b.next == nil {
		return ExternalDataResponse{}, fmt.Errorf("external data provider %q is not available", provider)
	}
	return b.next.ExternalData(ctx, provider, keys)
}

// mayMatch reports whether policy i may match the request.
func (s *Set) mayMatch(i int, gvk schema.GroupVersionKind, sub string, op Operation) bool {
	ts := s.targets[i]
	if ts == nil {
		return true
	}
	for _, t := range ts {
		if t.Matches(gvk, sub, op) {
			return true
		}
	}
	return false
}

// Targets returns the union of the targets of the set's policies, and false
// when some policy may match anything.
func (s *Set) Targets() ([]Target, bool) {
	var out []Target
	for i := range s.policies {
		if s.targets[i] == nil {
			return nil, false
		}
		out = append(out, s.targets[i]...)
	}
	return out, true
}

// Policies returns the compiled policies in evaluation order.
func (s *Set) Policies() []Policy { return append([]Policy(nil), s.policies...) }

// Select returns the set of the policies that keep accepts, in the same
// order. It shares the compiled policies; both sets stay immutable.
func (s *Set) Select(keep func(Policy) bool) *Set {
	out := &Set{errors: s.errors, providers: s.providers}
	for i, p := range s.policies {
		if keep(p) {
			out.policies = append(out.policies, p)
			out.targets = append(out.targets, s.targets[i])
		}
	}
	return out
}

// Len returns the number of policies in the set.
func (s *Set) Len() int { return len(s.policies) }

// Errors returns the problems found while compiling the set.
func (s *Set) Errors() field.ErrorList { return s.errors }

// Evaluate runs the request through the set. With PhaseAll it mutates first
// and validates the mutated object. It honours ctx: when the deadline passes
// it stops, records an error for every policy it did not evaluate (with the
// policy's failure action) and says so in Result.Incomplete.
func (s *Set) Evaluate(ctx context.Context, req Request, cluster Cluster) Result {
	var res Result
	original := req.Object
	gvk := req.Kind
	if gvk.Kind == "" {
		obj := req.Object
		if obj == nil {
			obj = req.OldObject
		}
		apiVersion, _ := obj["apiVersion"].(string)
		kind, _ := obj["kind"].(string)
		gvk = schema.FromAPIVersionAndKind(apiVersion, kind)
	}
	if req.Memo == nil {
		req.Memo = Memo{}
	}
	if len(s.providers) > 0 {
		cluster.ExternalData = builtinProviders{providers: s.providers, next: cluster.ExternalData, cluster: cluster}
	}
	phases := []Phase{req.Phase}
	if req.Phase == PhaseAll {
		phases = []Phase{PhaseMutate, PhaseValidate}
	}
	for _, phase := range phases {
		r := req
		r.Phase = phase
		for i, p := range s.policies {
			if err := ctx.Err(); err != nil {
				res.Incomplete = fmt.Sprintf("%s phase stopped after %d of %d policies: %v", phase, i, len(s.policies), err)
				for _, rest := range s.policies[i:] {
					res.Rules = append(res.Rules, RuleResult{
						Policy:  rest.Ref(),
						Type:    PolicyLoader,
						Verdict: Error,
						Message: "policy not evaluated: " + err.Error(),
						Action:  rest.FailureAction(),
					})
				}
				return s.finish(res, original, req.Object)
			}
			if !s.mayMatch(i, gvk, req.SubResource, req.Operation) {
				continue
			}
			out := p.Evaluate(ctx, &r, cluster)
			res.Rules = append(res.Rules, out.Rules...)
			res.Warnings = append(res.Warnings, out.Warnings...)
			if out.Object != nil {
				r.Object = out.Object
			}
		}
		if !sameMap(req.Object, r.Object) {
			// The mutated object invalidates what was derived from it.
			req.Memo = Memo{}
		}
		req.Object = r.Object
	}
	return s.finish(res, original, req.Object)
}

func (s *Set) finish(res Result, original, final map[string]any) Result {
	res.Warnings = dedupe(res.Warnings)
	if final != nil && !sameMap(original, final) {
		res.Object = final
		res.original = original
	}
	return res
}

// Patch returns the RFC 6902 JSON patch that turns the request's object
// into Object, in a deterministic order; nil when nothing changed. It is
// computed on demand: only the mutating webhook needs it.
func (r Result) Patch() ([]PatchOperation, error) {
	if r.Object == nil {
		return nil, nil
	}
	patch, err := diff(r.original, r.Object)
	if err != nil {
		return nil, fmt.Errorf("failed to compute the JSON patch: %w", err)
	}
	if len(patch) == 0 {
		return nil, nil
	}
	return patch, nil
}

func dedupe(in []string) []string {
	if len(in) < 2 {
		return in
	}
	seen := make(map[string]bool, len(in))
	out := in[:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// sameMap reports whether a and b are the same map (not just equal).
func sameMap(a, b map[string]any) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// diff returns the JSON patch from a to b, sorted by path for determinism.
func diff(a, b map[string]any) ([]PatchOperation, error) {
	ja, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	jb, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	ops, err := jsonpatch.CreatePatch(ja, jb)
	if err != nil {
		return nil, err
	}
	out := make([]PatchOperation, 0, len(ops))
	for _, op := range ops {
		out = append(out, PatchOperation{Op: op.Operation, Path: op.Path, Value: op.Value})
	}
	sortPatch(out)
	return out, nil
}

// sortPatch orders the operations of a diff deterministically without
// changing what the patch does. The diff emits, per array, removals from the
// end backwards, additions at the end forwards, and edits of the elements that
// both sides share; only the removals and the additions depend on their order
// among themselves, so sorting paths segment by segment (numbers as numbers),
// with removals of siblings from the highest index down, keeps it valid.
func sortPatch(ops []PatchOperation) {
	sort.SliceStable(ops, func(i, j int) bool {
		a, b := strings.Split(ops[i].Path, "/"), strings.Split(ops[j].Path, "/")
		for k := 0; k < len(a) && k < len(b); k++ {
			if a[k] == b[k] {
				continue
			}
			na, errA := strconv.Atoi(a[k])
			nb, errB := strconv.Atoi(b[k])
			if errA == nil && errB == nil {
				if ops[i].Op == "remove" && ops[j].Op == "remove" && k == len(a)-1 && k == len(b)-1 {
					return na > nb
				}
				return na < nb
			}
			return a[k] < b[k]
		}
		return len(a) < len(b)
	})
}
