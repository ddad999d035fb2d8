// Package webhookconfig builds and keeps up to date the
// ValidatingWebhookConfiguration and MutatingWebhookConfiguration that send
// admission requests to portcullis: one webhook per served endpoint that has
// policies (webhook.Endpoints), with rules derived from the kinds the
// policies may match, the failure policy of the endpoint, the CA bundle and
// a namespace selector that keeps portcullis's own namespace and
// kube-system out.
package webhookconfig

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/match"
	"github.com/portcullis-dev/portcullis/internal/webhook"
)

// Names of the configurations portcullis manages.
const (
	ValidatingName = "portcullis-validating"
	MutatingName   = "portcullis-mutating"
)

// Labels on everything this package creates.
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedBy      = "portcullis"
)

// Timeouts of a webhook, in seconds.
const (
	// DefaultTimeoutSeconds applies when no policy of an endpoint sets one.
	DefaultTimeoutSeconds = 10
	// MaxTimeoutSeconds is the most the API server accepts.
	MaxTimeoutSeconds = 30
)

// NamespaceNameLabel is the label every namespace carries with its own
// name; the namespace selector excludes namespaces by it.
const NamespaceNameLabel = "kubernetes.io/metadata.name"

// Service names the Service in front of portcullis.
type Service struct {
	Namespace, Name string
	// Port is the Service port; 0 means 443.
	Port int32
}

// Config is what the webhook configurations do not learn from policies.
type Config struct {
	// Service is how the API server reaches portcullis inside the cluster.
	// Exactly one of Service and URL must be set.
	Service *Service
	// URL is the base URL of portcullis when it runs outside the cluster,
	// e.g. https://127.0.0.1:9443; each webhook appends its path.
	URL string
	// ExcludeNamespaces are never sent to portcullis, e.g. kube-system and
	// portcullis's own namespace, so that a broken webhook cannot lock the
	// cluster or portcullis itself out.
	ExcludeNamespaces []string
	// FailurePolicy chooses the failure policy of an endpoint's webhook;
	// nil means DefaultFailurePolicy.
	FailurePolicy func(webhook.Endpoint) admissionregistrationv1.FailurePolicyType
}

// Validate reports every problem of the configuration.
func (c Config) Validate() error {
	var errs []error
	switch {
	case c.Service == nil && c.URL == "":
		errs = append(errs, errors.New("either a service or a URL is required"))
	case c.Service != nil && c.URL != "":
		errs = append(errs, errors.New("a service and a URL are mutually exclusive"))
	case c.Service != nil && (c.Service.Name == "" || c.Service.Namespace == ""):
		errs = append(errs, errors.New("the service needs a name and a namespace"))
	case c.URL != "":
		u, err := url.Parse(c.URL)
		if err != nil {
			errs = append(errs, fmt.Errorf("invalid URL %q: %w", c.URL, err))
		} else if u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			errs = append(errs, fmt.Errorf("invalid URL %q: the API server needs https://host[:port][/path] without user, query or fragment", c.URL))
		}
	}
	return errors.Join(errs...)
}

// DefaultFailurePolicy is Ignore for the endpoints of failurePolicy Ignore
// policies and for Gatekeeper's webhooks (which it installs with Ignore; the
// Ratify mutation runs in Gatekeeper's mutating webhook), and
// Fail for the others. The failure policy only applies when portcullis
// cannot answer; policy denials deny either way.
func DefaultFailurePolicy(e webhook.Endpoint) admissionregistrationv1.FailurePolicyType {
	if e.Ignore || e.Dialect == "gatekeeper" || e.Dialect == "ratify" {
		return admissionregistrationv1.Ignore
	}
	return admissionregistrationv1.Fail
}

// DialectNamespaceRequirements are the namespace requirements each dialect's
// own webhook has, besides the excluded namespaces: Gatekeeper skips
// namespaces labelled admission.gatekeeper.sh/ignore, and the Sigstore
// policy-controller only enforces namespaces labelled
// policy.sigstore.dev/include=true.
func DialectNamespaceRequirements(dialect string) []metav1.LabelSelectorRequirement {
	switch dialect {
	case "gatekeeper", "ratify":
		return []metav1.LabelSelectorRequirement{{Key: "admission.gatekeeper.sh/ignore", Operator: metav1.LabelSelectorOpDoesNotExist}}
	case "sigstore":
		return []metav1.LabelSelectorRequirement{{Key: "policy.sigstore.dev/include", Operator: metav1.LabelSelectorOpIn, Values: []string{"true"}}}
	}
	return nil
}

// Hints are what a policy document says about its webhook that compiled
// policies do not expose.
type Hints struct {
	// TimeoutSeconds is the policy's webhook timeout; 0 when it sets none.
	TimeoutSeconds int32
	// MatchConditions are CEL conditions a request must meet to be sent to
	// the policy's webhook; nil when it sets none.
	MatchConditions []admissionregistrationv1.MatchCondition
	// Phases are the phases the policy has rules for (PhaseMutate,
	// PhaseValidate); nil when unknown, which means both.
	Phases []engine.Phase
}

// has reports whether the hints allow rules of phase p.
func (h Hints) has(p engine.Phase) bool {
	if h.Phases == nil {
		return true
	}
	for _, q := range h.Phases {
		if q == p {
			return true
		}
	}
	return false
}

// HintsFor reads the hints of a policy document: Kyverno's
// spec.webhookTimeoutSeconds and spec.webhookConfiguration (timeoutSeconds,
// matchConditions), and the phases of its rules (mutate: mutate and
// verifyImages rules; validate: validate and verifyImages rules). Fields of
// the wrong type are ignored: compiling the policy reports them.
func HintsFor(doc engine.Document) Hints {
	var h Hints
	spec, _ := doc.Object["spec"].(map[string]any)
	if spec == nil || doc.GVK().Group != "kyverno.io" {
		return h
	}
	mutates, validates := false, false
	rules, _ := spec["rules"].([]any)
	for _, r := range rules {
		rule, _ := r.(map[string]any)
		_, m := rule["mutate"]
		_, v := rule["validate"]
		_, iv := rule["verifyImages"]
		mutates = mutates || m || iv
		validates = validates || v || iv
	}
	h.Phases = []engine.Phase{}
	if mutates {
		h.Phases = append(h.Phases, engine.PhaseMutate)
	}
	if validates {
		h.Phases = append(h.Phases, engine.PhaseValidate)
	}
	h.TimeoutSeconds = int32(number(spec["webhookTimeoutSeconds"]))
	wc, _ := spec["webhookConfiguration"].(map[string]any)
	if t := int32(number(wc["timeoutSeconds"])); t > 0 {
		h.TimeoutSeconds = t
	}
	conds, _ := wc["matchConditions"].([]any)
	for _, c := range conds {
		m, _ := c.(map[string]any)
		name, _ := m["name"].(string)
		expr, _ := m["expression"].(string)
		if name != "" && expr != "" {
			h.MatchConditions = append(h.MatchConditions, admissionregistrationv1.MatchCondition{Name: name, Expression: expr})
		}
	}
	return h
}

// HintsByPolicy reads the hints of every document, keyed by the reference
// of the policy the engine compiles it into (its dialect, kind, namespace
// and name). Documents no dialect handles are left out.
func HintsByPolicy(eng *engine.Engine, docs []engine.Document) map[engine.PolicyRef]Hints {
	out := make(map[engine.PolicyRef]Hints, len(docs))
	for _, doc := range docs {
		gvk := doc.GVK()
		d := eng.Dialect(gvk)
		if d == nil {
			continue
		}
		ns, name := doc.Name()
		out[engine.PolicyRef{Dialect: d.Name(), Kind: gvk.Kind, Namespace: ns, Name: name}] = HintsFor(doc)
	}
	return out
}

func number(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int:
		return int64(n)
	case int32:
		return int64(n)
	case float64:
		return int64(n)
	}
	return 0
}

// Input is what the configurations are built from.
type Input struct {
	// Sets are the policies of each endpoint, by path (webhook.Snapshot.Sets).
	Sets map[string]*engine.Set
	// Hints are the policies' hints, by policy.
	Hints map[engine.PolicyRef]Hints
	// CABundle is the PEM of the CAs the API server must trust.
	CABundle []byte
	// Resources are the API server's resources (discovery), used to turn
	// kinds into resources. Kinds it does not list get a guessed plural.
	Resources []*metav1.APIResourceList
}

// Build returns the two configurations for the input, with every field
// the API server would default set, so that what Build returns compares
// equal to what the API server stores.
func Build(cfg Config, in Input) (*admissionregistrationv1.ValidatingWebhookConfiguration, *admissionregistrationv1.MutatingWebhookConfiguration, error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	failurePolicy := cfg.FailurePolicy
	if failurePolicy == nil {
		failurePolicy = DefaultFailurePolicy
	}
	validating := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: objectMeta(ValidatingName)}
	mutating := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: objectMeta(MutatingName)}
	index := indexResources(in.Resources)
	for _, e := range webhook.Endpoints {
		set := in.Sets[e.Path]
		if set == nil || set.Len() == 0 || !anyPhase(set, e.Phase, in.Hints) {
			continue
		}
		fp := failurePolicy(e)
		sideEffects := admissionregistrationv1.SideEffectClassNone
		timeout := timeoutSeconds(set, in.Hints)
		matchPolicy := admissionregistrationv1.Equivalent
		client := clientConfig(cfg, e.Path, in.CABundle)
		selector := namespaceSelector(e.Dialect, cfg.ExcludeNamespaces)
		rs := rules(set, index)
		conds := matchConditions(set, in.Hints)
		versions := []string{"v1", "v1beta1"}
		switch e.Phase {
		case engine.PhaseMutate:
			reinvocation := admissionregistrationv1.NeverReinvocationPolicy
			mutating.Webhooks = append(mutating.Webhooks, admissionregistrationv1.MutatingWebhook{
				Name: e.Name, ClientConfig: client, Rules: rs, FailurePolicy: &fp, MatchPolicy: &matchPolicy,
				NamespaceSelector: selector, ObjectSelector: &metav1.LabelSelector{}, SideEffects: &sideEffects,
				TimeoutSeconds: &timeout, AdmissionReviewVersions: versions, ReinvocationPolicy: &reinvocation,
				MatchConditions: conds,
			})
		default:
			validating.Webhooks = append(validating.Webhooks, admissionregistrationv1.ValidatingWebhook{
				Name: e.Name, ClientConfig: client, Rules: rs, FailurePolicy: &fp, MatchPolicy: &matchPolicy,
				NamespaceSelector: selector, ObjectSelector: &metav1.LabelSelector{}, SideEffects: &sideEffects,
				TimeoutSeconds: &timeout, AdmissionReviewVersions: versions, MatchConditions: conds,
			})
		}
	}
	return validating, mutating, nil
}

func objectMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Labels: map[string]string{ManagedByLabel: ManagedBy}}
}

func clientConfig(cfg Config, path string, caBundle []byte) admissionregistrationv1.WebhookClientConfig {
	cc := admissionregistrationv1.WebhookClientConfig{CABundle: append([]byte(nil), caBundle...)}
	if cfg.Service != nil {
		port := cfg.Service.Port
		if port == 0 {
			port = 443
		}
		p := path
		cc.Service = &admissionregistrationv1.ServiceReference{Namespace: cfg.Service.Namespace, Name: cfg.Service.Name, Path: &p, Port: &port}
		return cc
	}
	u := strings.TrimSuffix(cfg.URL, "/") + path
	cc.URL = &u
	return cc
}

func namespaceSelector(dialect string, exclude []string) *metav1.LabelSelector {
	sel := &metav1.LabelSelector{}
	if names := sortedUnique(exclude); len(names) > 0 {
		sel.MatchExpressions = append(sel.MatchExpressions, metav1.LabelSelectorRequirement{
			Key: NamespaceNameLabel, Operator: metav1.LabelSelectorOpNotIn, Values: names,
		})
	}
	sel.MatchExpressions = append(sel.MatchExpressions, DialectNamespaceRequirements(dialect)...)
	return sel
}

// anyPhase reports whether some policy of the set may have rules of the
// phase.
func anyPhase(set *engine.Set, phase engine.Phase, hints map[engine.PolicyRef]Hints) bool {
	for _, p := range set.Policies() {
		if h, ok := hints[p.Ref()]; !ok || h.has(phase) {
			return true
		}
	}
	return false
}

// timeoutSeconds is the largest timeout the set's policies ask for, or
// DefaultTimeoutSeconds.
func timeoutSeconds(set *engine.Set, hints map[engine.PolicyRef]Hints) int32 {
	var t int32
	for _, p := range set.Policies() {
		if h := hints[p.Ref()].TimeoutSeconds; h > t {
			t = h
		}
	}
	switch {
	case t == 0:
		return DefaultTimeoutSeconds
	case t > MaxTimeoutSeconds:
		return MaxTimeoutSeconds
	}
	return t
}

// matchConditions returns conditions that hold when some policy's own
// conditions hold, or nil when a policy has none (it must see every
// request). One policy's conditions are used as they are; several
// policies' are combined into one expression, ORed.
func matchConditions(set *engine.Set, hints map[engine.PolicyRef]Hints) []admissionregistrationv1.MatchCondition {
	policies := set.Policies()
	var each [][]admissionregistrationv1.MatchCondition
	for _, p := range policies {
		conds := hints[p.Ref()].MatchConditions
		if len(conds) == 0 {
			return nil
		}
		each = append(each, conds)
	}
	if len(each) == 1 {
		return append([]admissionregistrationv1.MatchCondition(nil), each[0]...)
	}
	var ors []string
	for _, conds := range each {
		var ands []string
		for _, c := range conds {
			ands = append(ands, "("+c.Expression+")")
		}
		ors = append(ors, "("+strings.Join(ands, " && ")+")")
	}
	return []admissionregistrationv1.MatchCondition{{Name: "portcullis-policies", Expression: strings.Join(ors, " || ")}}
}

// resourceIndex lists, for each group version the API server serves, its
// resources with their kinds.
type resourceIndex []groupVersionResources

type groupVersionResources struct {
	gv        schema.GroupVersion
	resources []metav1.APIResource
}

func indexResources(lists []*metav1.APIResourceList) resourceIndex {
	var out resourceIndex
	for _, l := range lists {
		if l == nil {
			continue
		}
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		out = append(out, groupVersionResources{gv: gv, resources: l.APIResources})
	}
	return out
}

// rules returns the webhook rules that send every request the set's
// policies may match: for each target, the resources that serve its kind
// (from the index; a guessed plural for a kind the API server does not
// serve yet), with the target's operations. A target for every
// subresource ("*") adds the subresources whose objects are of the same
// kind, except status (which controllers write constantly); a named
// subresource is added as named. When some policy may match anything, one
// rule sends every resource, without subresources.
func rules(set *engine.Set, index resourceIndex) []admissionregistrationv1.RuleWithOperations {
	targets, ok := set.Targets()
	if !ok {
		return []admissionregistrationv1.RuleWithOperations{rule([]string{"*"}, []string{"*"}, []string{"*"}, nil)}
	}
	type key struct{ group, version, ops string }
	resources := map[key]map[string]bool{}
	add := func(group, version string, ops []string, names ...string) {
		k := key{group, version, strings.Join(ops, ",")}
		if resources[k] == nil {
			resources[k] = map[string]bool{}
		}
		for _, n := range names {
			resources[k][n] = true
		}
	}
	for _, t := range targets {
		ops := operations(t.Operations)
		group, version := orStar(t.Group), orStar(t.Version)
		if t.Kind == "" || t.Kind == "*" {
			switch t.Subresource {
			case "", "*":
				add(group, version, ops, "*")
			default:
				add(group, version, ops, "*/"+t.Subresource)
			}
			continue
		}
		found := false
		for _, gvr := range index {
			if !match.Wildcard(group, gvr.gv.Group) || !match.Wildcard(version, gvr.gv.Version) {
				continue
			}
			v := version
			if !strings.ContainsAny(v, "*?") {
				v = gvr.gv.Version
			} else {
				v = "*"
			}
			for _, r := range gvr.resources {
				if strings.Contains(r.Name, "/") || !match.Wildcard(t.Kind, r.Kind) {
					continue
				}
				found = true
				add(gvr.gv.Group, v, ops, r.Name)
				switch t.Subresource {
				case "":
				case "*":
					for _, sub := range gvr.resources {
						parent, name, isSub := strings.Cut(sub.Name, "/")
						if isSub && parent == r.Name && name != "status" && (sub.Kind == r.Kind || sub.Kind == "") {
							add(gvr.gv.Group, v, ops, sub.Name)
						}
					}
				default:
					add(gvr.gv.Group, v, ops, r.Name+"/"+t.Subresource)
				}
			}
		}
		if !found && !strings.ContainsAny(t.Kind, "*?") {
			plural, _ := meta.UnsafeGuessKindToResource(schema.GroupVersionKind{Kind: t.Kind})
			names := []string{plural.Resource}
			if t.Subresource != "" && t.Subresource != "*" {
				names = append(names, plural.Resource+"/"+t.Subresource)
			}
			add(group, version, ops, names...)
		}
	}
	keys := make([]key, 0, len(resources))
	for k := range resources {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.group != b.group {
			return a.group < b.group
		}
		if a.version != b.version {
			return a.version < b.version
		}
		return a.ops < b.ops
	})
	out := make([]admissionregistrationv1.RuleWithOperations, 0, len(keys))
	for _, k := range keys {
		out = append(out, rule([]string{k.group}, []string{k.version}, normalizeResources(resources[k]), strings.Split(k.ops, ",")))
	}
	return out
}

func rule(groups, versions, resources, ops []string) admissionregistrationv1.RuleWithOperations {
	scope := admissionregistrationv1.AllScopes
	r := admissionregistrationv1.RuleWithOperations{
		Rule: admissionregistrationv1.Rule{APIGroups: groups, APIVersions: versions, Resources: resources, Scope: &scope},
	}
	if ops == nil {
		ops = []string{"*"}
	}
	for _, op := range ops {
		r.Operations = append(r.Operations, admissionregistrationv1.OperationType(op))
	}
	return r
}

// operations returns the sorted operations, or "*" for all of them.
func operations(ops []engine.Operation) []string {
	if len(ops) == 0 {
		return []string{"*"}
	}
	var out []string
	for _, op := range ops {
		if op == "*" {
			return []string{"*"}
		}
		out = append(out, string(op))
	}
	return sortedUnique(out)
}

// normalizeResources sorts the resources and drops the ones that others
// already cover, as the API server requires: "*" covers every resource
// without subresources, "x/*" every subresource of x, "*/y" subresource y of
// every resource.
func normalizeResources(set map[string]bool) []string {
	if set["*/*"] {
		return []string{"*/*"}
	}
	var out []string
	for r := range set {
		parent, sub, isSub := strings.Cut(r, "/")
		switch {
		case !isSub && r != "*" && set["*"]:
			continue
		case isSub && sub != "*" && (set[parent+"/*"] || set["*/"+sub]):
			continue
		}
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

func orStar(s string) string {
	if s == "" {
		return "*"
	}
	return s
}

func sortedUnique(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
