package k8scel_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	celtypes "github.com/google/cel-go/common/types"
	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/matchconditions"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/authentication/user"
	apiservercel "k8s.io/apiserver/pkg/cel"
	"k8s.io/apiserver/pkg/cel/environment"

	"github.com/portcullis-dev/portcullis/internal/policy/gatekeeper/k8scel"
)

// reference evaluates a K8sNativeValidation source the way Gatekeeper's
// driver does, with the API server's own CEL admission code: its
// environment, variable composition, activation, cost accounting, matcher
// and error messages. Only the validator's choice of messages is restated
// here (k8s.io/apiserver's validating package cannot be built in this
// module), so the differential tests check everything else against the API
// server. It is test-only: the engine must not depend on these packages.
type reference struct {
	matcher     matchconditions.Matcher
	validations plugincel.ConditionEvaluator
	messages    plugincel.ConditionEvaluator
	exprs       []refValidation
}

type refValidation struct{ expression, message string }

// refExpr is an expression accessor.
type refExpr struct {
	name, expr string
	ret        *celtypes.Type
}

func (e *refExpr) GetExpression() string         { return e.expr }
func (e *refExpr) ReturnTypes() []*celtypes.Type { return []*celtypes.Type{e.ret} }
func (e *refExpr) GetName() string               { return e.name }

func newReference(t testing.TB, src map[string]any) *reference {
	t.Helper()
	compiler, err := plugincel.NewCompositedCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
	if err != nil {
		t.Fatal(err)
	}
	vars := []plugincel.NamedExpressionAccessor{
		&refExpr{name: "anyObject", expr: `has(request.operation) && request.operation == "DELETE" && object == null ? oldObject : object`, ret: celtypes.AnyType},
		&refExpr{name: "params", expr: "!has(params.spec) ? null : !has(params.spec.parameters) ? null: params.spec.parameters", ret: celtypes.AnyType},
	}
	list := func(key string) []map[string]any {
		l, _ := src[key].([]any)
		var out []map[string]any
		for _, v := range l {
			out = append(out, v.(map[string]any))
		}
		return out
	}
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	for _, v := range list("variables") {
		vars = append(vars, &refExpr{name: str(v, "name"), expr: str(v, "expression"), ret: celtypes.AnyType})
	}
	compiler.CompileAndStoreVariables(vars, plugincel.OptionalVariableDeclarations{HasParams: true}, environment.StoredExpressions)

	var fp *admissionregistrationv1.FailurePolicyType
	if s, ok := src["failurePolicy"].(string); ok {
		f := admissionregistrationv1.FailurePolicyType(s)
		fp = &f
	}
	r := &reference{}
	var conds []plugincel.ExpressionAccessor
	for _, mc := range list("matchCondition") {
		conds = append(conds, &matchconditions.MatchCondition{Name: str(mc, "name"), Expression: str(mc, "expression")})
	}
	r.matcher = matchconditions.NewMatcher(compiler.CompileCondition(conds, plugincel.OptionalVariableDeclarations{}, environment.StoredExpressions), fp, "validatingadmissionpolicy", "vap-matcher", "test")

	var validations, messages []plugincel.ExpressionAccessor
	for _, v := range list("validations") {
		validations = append(validations, &refExpr{expr: str(v, "expression"), ret: celtypes.BoolType})
		if me := str(v, "messageExpression"); me != "" {
			messages = append(messages, &refExpr{expr: me, ret: celtypes.StringType})
		} else {
			messages = append(messages, nil)
		}
		r.exprs = append(r.exprs, refValidation{expression: str(v, "expression"), message: str(v, "message")})
	}
	r.validations = compiler.CompileCondition(validations, plugincel.OptionalVariableDeclarations{}, environment.StoredExpressions)
	r.messages = compiler.CompileCondition(messages, plugincel.OptionalVariableDeclarations{}, environment.StoredExpressions)
	return r
}

func stringIn(m map[string]any, path ...string) string {
	for i, k := range path {
		if i == len(path)-1 {
			s, _ := m[k].(string)
			return s
		}
		m, _ = m[k].(map[string]any)
	}
	return ""
}

// evaluate returns the messages of the deny decisions Gatekeeper would turn
// into violations with failure policy Fail.
func (r *reference) evaluate(t testing.TB, in k8scel.Input) []string {
	t.Helper()
	ctx := context.Background()
	req := in.Request
	op := admission.Operation(stringIn(req, "operation"))
	gvk := schema.GroupVersionKind{Group: stringIn(req, "kind", "group"), Version: stringIn(req, "kind", "version"), Kind: stringIn(req, "kind", "kind")}
	gvr := schema.GroupVersionResource{Group: stringIn(req, "resource", "group"), Version: stringIn(req, "resource", "version"), Resource: stringIn(req, "resource", "resource")}
	var obj, old runtime.Object
	if in.Object != nil && op != admission.Delete {
		obj = &unstructured.Unstructured{Object: in.Object}
	}
	if in.OldObject != nil {
		old = &unstructured.Unstructured{Object: in.OldObject}
	}
	var opts runtime.Object
	if m, ok := req["options"].(map[string]any); ok {
		opts = &unstructured.Unstructured{Object: m}
	}
	ui, _ := req["userInfo"].(map[string]any)
	info := &user.DefaultInfo{Name: stringIn(ui, "username"), UID: stringIn(ui, "uid")}
	if groups, ok := ui["groups"].([]any); ok {
		for _, g := range groups {
			info.Groups = append(info.Groups, g.(string))
		}
	}
	dryRun, _ := req["dryRun"].(bool)
	attr := admission.NewAttributesRecord(obj, old, gvk, stringIn(req, "namespace"), stringIn(req, "name"), gvr, stringIn(req, "subResource"), op, opts, dryRun, info)
	va := &admission.VersionedAttributes{Attributes: attr, VersionedKind: gvk}
	if obj != nil {
		va.VersionedObject = admission.NewLazyObject(obj)
	}
	if old != nil {
		va.VersionedOldObject = admission.NewLazyObject(old)
	}
	spec := map[string]any{}
	if in.Params != nil {
		spec["parameters"] = in.Params
	}
	constraint := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": "K8sTest",
		"metadata": map[string]any{"name": "test"}, "spec": spec,
	}}
	var ns *corev1.Namespace
	if in.Namespace != nil {
		ns = &corev1.Namespace{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(in.Namespace, ns); err != nil {
			t.Fatal(err)
		}
	}

	m := r.matcher.Match(ctx, va, constraint, nil)
	if m.Error != nil {
		return []string{m.Error.Error()}
	}
	if !m.Matches {
		return nil
	}
	request := plugincel.CreateAdmissionRequest(va.Attributes, metav1.GroupVersionResource(gvr), metav1.GroupVersionKind(gvk))
	bindings := plugincel.OptionalVariableBindings{VersionedParams: constraint}
	nsObj := plugincel.CreateNamespaceObject(ns)
	evals, remaining, err := r.validations.ForInput(ctx, va, request, bindings, nsObj, celconfig.PerCallLimit)
	if err != nil {
		return []string{err.Error()}
	}
	msgs, _, msgErr := r.messages.ForInput(ctx, va, request, bindings, nsObj, remaining)
	var out []string
	for i, e := range evals {
		switch {
		case e.Error != nil:
			out = append(out, e.Error.Error())
		case errors.Is(msgErr, apiservercel.ErrInternal) || errors.Is(msgErr, apiservercel.ErrOutOfBudget):
			out = append(out, fmt.Sprintf("failed messageExpression: %s", msgErr))
		case e.EvalResult != celtypes.True:
			msg := ""
			if i < len(msgs) && msgs[i].Error == nil && msgs[i].EvalResult != nil {
				if s, ok := msgs[i].EvalResult.Value().(string); ok {
					s = strings.TrimSpace(s)
					if len(s) <= celconfig.MaxEvaluatedMessageExpressionSizeBytes && !strings.Contains(s, "\n") {
						msg = s
					}
				}
			}
			if msg == "" {
				msg = strings.TrimSpace(r.exprs[i].message)
			}
			if msg == "" {
				msg = "failed expression: " + strings.TrimSpace(r.exprs[i].expression)
			}
			out = append(out, msg)
		}
	}
	return out
}

// ours returns what Gatekeeper would report from Evaluate's result with
// failure policy Fail: the violations and the errors.
func ours(t testing.TB, p *k8scel.Program, in k8scel.Input) []string {
	t.Helper()
	violations, err := p.Evaluate(context.Background(), in)
	out := messages(violations)
	if err != nil {
		var ee *k8scel.EvalError
		if !errors.As(err, &ee) {
			t.Fatalf("Evaluate: %v is not an *EvalError", err)
		}
		out = append(out, ee.Messages...)
	}
	return out
}

func sorted(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	return s
}

// compareWithReference checks that a source gives the reference's messages.
func compareWithReference(t *testing.T, src map[string]any, in k8scel.Input) {
	t.Helper()
	p, _ := k8scel.Compile(src, nil, root)
	if p == nil {
		t.Fatal("the source does not compile")
	}
	want := sorted(newReference(t, src).evaluate(t, in))
	got := sorted(ours(t, p, in))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("messages differ from the API server's (-reference +ours):\n%s", diff)
	}
}

// TestReference runs the evaluation table and extra cases through both
// implementations.
func TestReference(t *testing.T) {
	objWith := func(f func(map[string]any)) map[string]any {
		p := pod(map[string]any{"app": "web"})
		f(p)
		return p
	}
	cases := []struct {
		name, source string
		in           k8scel.Input
	}{{
		name: "request fields",
		source: `
validations:
- expression: "false"
  messageExpression: >-
    request.kind.group + "/" + request.kind.version + "/" + request.kind.kind + " " +
    request.resource.resource + " " + request.requestResource.resource + " " +
    request.operation + " " + string(request.dryRun) + " " + string(has(request.subResource)) + " " +
    string(has(request.userInfo.groups)) + " " + string(has(request.userInfo.extra)) + " " +
    string(has(request.namespace)) + " " + string(has(request.name)) + " " + string(request.options == null)`,
		in: k8scel.Input{Object: pod(nil), Request: map[string]any{
			"operation": "CREATE", "name": "web",
			"kind":     map[string]any{"group": "", "version": "v1", "kind": "Pod"},
			"resource": map[string]any{"group": "", "version": "v1", "resource": "pods"},
			"userInfo": map[string]any{"username": "alice"},
		}},
	}, {
		name: "request options and subresource",
		source: `
validations:
- expression: "false"
  messageExpression: 'request.subResource + " " + request.requestSubResource + " " + string(request.options.dryRun)'`,
		in: k8scel.Input{Object: pod(nil), Request: map[string]any{
			"operation": "UPDATE", "subResource": "status", "options": map[string]any{"kind": "UpdateOptions", "apiVersion": "meta.k8s.io/v1", "dryRun": []any{"All"}},
			"kind": map[string]any{"group": "", "version": "v1", "kind": "Pod"},
		}},
	}, {
		name: "an empty request",
		source: `
validations:
- expression: "false"
  messageExpression: 'string(has(request.operation)) + " " + request.operation + string(has(request.kind.kind)) + string(request.dryRun)'`,
		in: k8scel.Input{Object: pod(nil)},
	}, {
		name: "namespace object",
		source: `
validations:
- expression: "false"
  messageExpression: >-
    namespaceObject.metadata.name + " " + string(has(namespaceObject.metadata.labels)) + " " +
    string(has(namespaceObject.metadata.annotations)) + " " + string(has(namespaceObject.spec.finalizers)) + " " +
    string(has(namespaceObject.status.phase)) + " " + namespaceObject.status.phase`,
		in: k8scel.Input{Object: pod(nil), Namespace: map[string]any{
			"apiVersion": "v1", "kind": "Namespace",
			"metadata": map[string]any{"name": "prod", "labels": map[string]any{"env": "prod"}, "uid": "1234", "resourceVersion": "7"},
			"spec":     map[string]any{"finalizers": []any{"kubernetes"}},
			"status":   map[string]any{"phase": "Active"},
		}},
	}, {
		name: "equality and types of objects",
		source: `
variables:
- name: c
  expression: variables.anyObject.spec.containers[0]
validations:
- expression: variables.c == object.spec.containers[0]
- expression: type(variables.c) == map && type(object.metadata.labels) == map
- expression: object.spec.containers[0].ports[0].hostPort == 8080.0
- expression: '[object.metadata.name, 1].size() == 2'
  message: heterogeneous
- expression: object.metadata.labels.app.startsWith("w")`,
		in: k8scel.Input{Object: objWith(func(map[string]any) {})},
	}, {
		name: "variables object",
		source: `
variables:
- name: a
  expression: "1"
- name: b
  expression: variables.a + 1
validations:
- expression: size(variables) == 4
  messageExpression: string(size(variables))
- expression: '"a" in variables && !("z" in variables)'
- expression: has(variables.b)`,
		in: k8scel.Input{Object: pod(nil)},
	}, {
		name: "deny with Ignore and a runtime error",
		source: `
failurePolicy: Ignore
validations:
- expression: object.nope == 1
- expression: "false"`,
		in: k8scel.Input{Object: pod(nil)},
	}, {
		name: "match condition with a variable",
		source: `
variables:
- name: ns
  expression: variables.anyObject.metadata.namespace
matchCondition:
- name: prod
  expression: variables.ns == "prod"
validations:
- expression: "false"
  message: matched`,
		in: k8scel.Input{Object: pod(nil)},
	}, {
		name: "UPDATE with both objects",
		source: `
validations:
- expression: object.metadata.name == oldObject.metadata.name
- expression: variables.anyObject == object`,
		in: k8scel.Input{Object: pod(nil), OldObject: objWith(func(o map[string]any) {
			o["metadata"].(map[string]any)["name"] = "old"
		}), Request: map[string]any{"operation": "UPDATE"}},
	}}
	for _, c := range evaluateCases() {
		cases = append(cases, struct {
			name, source string
			in           k8scel.Input
		}{"evaluate/" + c.name, c.source, c.in})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { compareWithReference(t, parse(t, c.source), c.in) })
	}
}

// TestReferenceLibrary runs the library suites through both implementations.
func TestReferenceLibrary(t *testing.T) {
	forEachLibraryCase(t, func(t *testing.T, c libraryCase) {
		compareWithReference(t, c.source, c.in)
	})
}
