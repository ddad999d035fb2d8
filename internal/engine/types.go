package engine

import (
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Operation is the admission operation of a request.
type Operation string

// The admission operations, as the API server names them.
const (
	Create  Operation = "CREATE"
	Update  Operation = "UPDATE"
	Delete  Operation = "DELETE"
	Connect Operation = "CONNECT"
)

// Phase selects which rules an evaluation runs.
type Phase string

const (
	// PhaseAll mutates first and then validates the mutated object, as the
	// API server's admission chain does. It is the zero value.
	PhaseAll Phase = ""
	// PhaseMutate runs mutating rules only (the mutating webhook).
	PhaseMutate Phase = "mutate"
	// PhaseValidate runs validating rules only (the validating webhook).
	PhaseValidate Phase = "validate"
)

// Request is one admission request, in the shape every dialect reads.
// Object and OldObject are unstructured JSON values: maps, slices, strings,
// bool, int64, float64 and nil, as k8s.io/apimachinery/pkg/util/json decodes.
type Request struct {
	UID string
	// Kind is the kind of the object, e.g. {"", "v1", "Pod"}.
	Kind schema.GroupVersionKind
	// Resource is the resource being requested, e.g. {"", "v1", "pods"}.
	Resource schema.GroupVersionResource
	// SubResource is the subresource, e.g. "status" or "ephemeralcontainers".
	SubResource string
	Name        string
	Namespace   string
	Operation   Operation
	UserInfo    authenticationv1.UserInfo
	// Roles and ClusterRoles are the RBAC roles bound to the user, as
	// "namespace:name" and "name". The server resolves them; the CLI reads them
	// from a user-info file.
	Roles        []string
	ClusterRoles []string
	Object       map[string]any
	OldObject    map[string]any
	// NamespaceObject is the request's namespace, when known; it is the
	// fallback for namespace selectors when no NamespaceGetter knows it.
	NamespaceObject map[string]any
	DryRun          bool
	// Options is the operation's options object (CreateOptions, ...), if any.
	Options map[string]any
	// Phase selects the rules to run.
	Phase Phase
	// Background marks an evaluation outside admission (audit scans, the CLI):
	// rules that only make sense at admission time are skipped.
	Background bool
	// Preset supplies values that stand in for cluster data; nil at admission.
	Preset Preset
	// Memo lets dialects share what they derive from the request between
	// its policies (for example the request document of their variables).
	// Set.Evaluate provides a fresh one for each evaluation.
	Memo Memo
}

// Memo holds values derived from one request, by key. It is used by one
// goroutine at a time. A stored value may only change in ways its readers
// cannot observe (filling caches of its own).
type Memo map[string]any

// Preset supplies variable values that stand in for what policies would
// load from the cluster: the CLI's values files. Keys are dotted paths such
// as "request.operation" or the name of a context entry.
type Preset interface {
	// PolicyValues are the values for every rule of the policy: the global
	// values and the policy's values for the request's resource.
	PolicyValues(policy string) map[string]any
	// RuleValues are the values for one rule, loaded before its context.
	RuleValues(policy, rule string) map[string]any
	// ForEachValues are per-element values for a rule's foreach.
	ForEachValues(policy, rule string) map[string][]any
}

// Verdict is what a rule said about a request.
type Verdict string

// The verdicts, as policy reports spell them.
const (
	Pass  Verdict = "pass"
	Fail  Verdict = "fail"
	Warn  Verdict = "warn"
	Error Verdict = "error"
	Skip  Verdict = "skip"
)

// Action is what admission does with a failing or erroring rule.
type Action string

const (
	// ActionDeny blocks the request.
	ActionDeny Action = "deny"
	// ActionWarn admits the request and returns the message as a warning.
	ActionWarn Action = "warn"
	// ActionAudit admits the request silently; the result is only recorded.
	ActionAudit Action = "audit"
)

// RuleType is the kind of work a rule does.
type RuleType string

// The rule types.
const (
	Validation   RuleType = "validate"
	Mutation     RuleType = "mutate"
	Generation   RuleType = "generate"
	ImageVerify  RuleType = "verifyImages"
	PolicyLoader RuleType = "load"
)

// PolicyRef names a policy.
type PolicyRef struct {
	Dialect   string
	Kind      string
	Namespace string
	Name      string
}

// String renders the reference as kind/namespace/name.
func (r PolicyRef) String() string {
	if r.Namespace != "" {
		return r.Kind + "/" + r.Namespace + "/" + r.Name
	}
	return r.Kind + "/" + r.Name
}

// RuleResult is the outcome of one rule of one policy for one request.
type RuleResult struct {
	Policy  PolicyRef
	Rule    string
	Type    RuleType
	Verdict Verdict
	Message string
	// Action says what admission does with a fail or error verdict. It is
	// empty for the other verdicts.
	Action Action
	// Properties carries dialect details that reports show (severity,
	// category, ...). Nil when there are none.
	Properties map[string]string
}

// Blocks reports whether the result denies the request.
func (r RuleResult) Blocks() bool {
	return (r.Verdict == Fail || r.Verdict == Error) && r.Action == ActionDeny
}

// Result is the outcome of evaluating a request against a Set.
type Result struct {
	// Rules holds one entry per rule that applied, in policy order and then
	// rule order.
	Rules []RuleResult
	// Object is the object after all mutations; nil when nothing changed.
	// Patch computes the JSON patch that turns the request's object into it.
	Object map[string]any
	// original is the request's object, for Patch.
	original map[string]any
	// Warnings are extra warnings the dialects returned. The warnings of
	// rules with ActionWarn are in Rules; the admission adapter renders them
	// in each dialect's words.
	Warnings []string
	// Incomplete is set when evaluation stopped early (deadline, cancellation);
	// it says what was not evaluated.
	Incomplete string
}

// Denied returns the results that block the request.
func (r Result) Denied() []RuleResult {
	var out []RuleResult
	for _, rr := range r.Rules {
		if rr.Blocks() {
			out = append(out, rr)
		}
	}
	return out
}

// PatchOperation is one RFC 6902 operation.
type PatchOperation struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// Document is one policy document, as read from a file or from the API.
type Document struct {
	// Source is where the document came from: a file path, or a cluster
	// object reference.
	Source string
	// Object is the decoded document.
	Object map[string]any
}

// GVK returns the document's group, version and kind.
func (d Document) GVK() schema.GroupVersionKind {
	apiVersion, _ := d.Object["apiVersion"].(string)
	kind, _ := d.Object["kind"].(string)
	return schema.FromAPIVersionAndKind(apiVersion, kind)
}

// Name returns metadata.name and metadata.namespace.
func (d Document) Name() (namespace, name string) {
	md, _ := d.Object["metadata"].(map[string]any)
	name, _ = md["name"].(string)
	namespace, _ = md["namespace"].(string)
	return namespace, name
}

// Root returns the field path that error messages about this document start
// from: the source and the object, e.g. `policies/a.yaml[ClusterPolicy/a]`.
func (d Document) Root() *field.Path {
	ns, name := d.Name()
	obj := d.GVK().Kind + "/" + name
	if ns != "" {
		obj = d.GVK().Kind + "/" + ns + "/" + name
	}
	src := d.Source
	if src == "" {
		src = "<input>"
	}
	return field.NewPath(src).Key(obj)
}

// String describes the document for messages.
func (d Document) String() string {
	return fmt.Sprint(d.Root())
}
