package k8scel

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/interpreter"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	apiservercel "k8s.io/apiserver/pkg/cel"
)

// The messages of evaluation errors, as the API server words them.
const (
	outOfBudgetMessage = "validation failed due to running out of cost budget, no further validation rules will be run"
)

// evaluation is the state of one Evaluate call.
type evaluation struct {
	ctx context.Context
	in  *Input
	// object is the object variable: in.Object, or nil on DELETE.
	object map[string]any
	// request, params and namespace are built when an expression first
	// reads them.
	request, params, namespace map[string]any
	vars                       variablesValue
	// varCost is the cost of the variables evaluated since the last
	// expression was charged; variables are charged to the expression that
	// first reads them.
	varCost int64
}

var _ interpreter.Activation = (*evaluation)(nil)

// ResolveName implements interpreter.Activation: it resolves the top-level
// CEL variables. Values are returned unconverted; the interpreter adapts
// them as the API server's types.DefaultTypeAdapter would.
func (ev *evaluation) ResolveName(name string) (any, bool) {
	switch name {
	case objectVar:
		return orNull(ev.object), true
	case oldObjectVar:
		return orNull(ev.in.OldObject), true
	case paramsVar:
		if ev.params == nil {
			spec := map[string]any{}
			if ev.in.Params != nil {
				spec["parameters"] = ev.in.Params
			}
			ev.params = map[string]any{"spec": spec}
		}
		return ev.params, true
	case requestVar:
		if ev.request == nil {
			ev.request = requestValue(ev.in.Request)
		}
		return ev.request, true
	case namespaceVar:
		if ev.namespace == nil && ev.in.Namespace != nil {
			ev.namespace = namespaceValue(ev.in.Namespace)
		}
		return orNull(ev.namespace), true
	case variablesVar:
		return &ev.vars, true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (ev *evaluation) Parent() interpreter.Activation { return nil }

func orNull(m map[string]any) any {
	if m == nil {
		return types.NullValue
	}
	return m
}

func (p *Program) newEvaluation(ctx context.Context, in *Input) *evaluation {
	ev := &evaluation{ctx: ctx, in: in, object: in.Object}
	// Gatekeeper sets object to oldObject on DELETE for Rego; its CEL driver
	// unsets it, as the API server does. variables.anyObject has oldObject.
	if stringAt(in.Request, "operation") == "DELETE" {
		ev.object = nil
	}
	ev.vars = variablesValue{p: p, ev: ev, values: make([]ref.Val, len(p.variables))}
	return ev
}

// evalVariable evaluates a variable the first time an expression reads it,
// and records its cost.
func (ev *evaluation) evalVariable(c *compiled) ref.Val {
	if c.native != nil {
		v, cost := c.native(ev)
		ev.varCost = addCost(ev.varCost, uint64(cost))
		return v
	}
	if c.err != nil {
		return types.NewErr("composited variable %q fails to compile: %v", c.name, c.err)
	}
	v, details, err := c.prog.ContextEval(ev.ctx, ev)
	if details == nil {
		return types.NewErr("unable to get evaluation details of variable %q", c.name)
	}
	cost := details.ActualCost()
	if cost == nil {
		return types.NewErr("unable to calculate cost of variable %q", c.name)
	}
	ev.varCost = addCost(ev.varCost, *cost)
	if err != nil {
		return types.NewErr("composited variable %q fails to evaluate: %v", c.name, err)
	}
	return v
}

// variablesValue is the variables object of one evaluation. It behaves as
// the API server's lazy map (k8s.io/apiserver/pkg/cel/lazy): a variable is
// evaluated when first read and its value, or error, is kept.
type variablesValue struct {
	p      *Program
	ev     *evaluation
	values []ref.Val
}

var (
	_ ref.Val       = (*variablesValue)(nil)
	_ traits.Mapper = (*variablesValue)(nil)
)

func (v *variablesValue) get(i int) ref.Val {
	if v.values[i] == nil {
		v.values[i] = v.ev.evalVariable(&v.p.variables[i])
	}
	return v.values[i]
}

// Find implements traits.Mapper.
func (v *variablesValue) Find(key ref.Val) (ref.Val, bool) {
	s, ok := key.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(key), true
	}
	name := string(s)
	// Only names with "__" can be escaped; Unescape is a regular
	// expression replacement, too slow to run on every read.
	if strings.Contains(name, "__") {
		if name, ok = apiservercel.Unescape(name); !ok {
			return nil, false
		}
	}
	i, ok := v.p.varIndex[name]
	if !ok {
		return nil, false
	}
	return v.get(i), true
}

// Get implements traits.Mapper.
func (v *variablesValue) Get(key ref.Val) ref.Val {
	if val, found := v.Find(key); found {
		return val
	}
	return types.ValOrErr(key, "no such key: %v", key)
}

// Contains implements traits.Mapper.
func (v *variablesValue) Contains(key ref.Val) ref.Val {
	val, found := v.Find(key)
	if val != nil && types.IsUnknownOrError(val) {
		return val
	}
	return types.Bool(found)
}

// Iterator implements traits.Mapper. Like the API server's lazy map, it
// yields the values of the variables.
func (v *variablesValue) Iterator() traits.Iterator { return &variablesIterator{v: v} }

// Size implements traits.Mapper.
func (v *variablesValue) Size() ref.Val { return types.Int(len(v.values)) }

// ConvertToNative implements ref.Val.
func (v *variablesValue) ConvertToNative(typeDesc reflect.Type) (any, error) {
	return nil, fmt.Errorf("disallowed conversion from %q to %q", v.p.varValueType.TypeName(), typeDesc.Name())
}

// ConvertToType implements ref.Val.
func (v *variablesValue) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case v.p.varValueType:
		return v
	case types.TypeType:
		return v.p.varValueType
	}
	return types.NewErr("disallowed conversion from %q to %q", v.p.varValueType.TypeName(), t.TypeName())
}

// Equal implements ref.Val: the variables object equals only itself.
func (v *variablesValue) Equal(other ref.Val) ref.Val {
	o, ok := other.(*variablesValue)
	if !ok {
		return types.MaybeNoSuchOverloadErr(other)
	}
	return types.Bool(o == v)
}

// Type implements ref.Val.
func (v *variablesValue) Type() ref.Type { return v.p.varValueType }

// Value implements ref.Val.
func (v *variablesValue) Value() any { return types.NoSuchOverloadErr() }

type variablesIterator struct {
	baseIterator
	v *variablesValue
	i int
}

func (it *variablesIterator) HasNext() ref.Val { return types.Bool(it.i < len(it.v.values)) }

func (it *variablesIterator) Next() ref.Val {
	if it.i >= len(it.v.values) {
		return types.NewErr("no more elements")
	}
	it.i++
	return it.v.get(it.i - 1)
}

// baseIterator supplies the ref.Val methods of an iterator.
type baseIterator struct{}

func (baseIterator) ConvertToNative(typeDesc reflect.Type) (any, error) {
	return nil, fmt.Errorf("disallowed conversion to %q", typeDesc.Name())
}
func (baseIterator) ConvertToType(t ref.Type) ref.Val {
	return types.NewErr("disallowed conversion to %q", t.TypeName())
}
func (baseIterator) Equal(other ref.Val) ref.Val { return types.MaybeNoSuchOverloadErr(other) }
func (baseIterator) Type() ref.Type              { return types.IteratorType }
func (baseIterator) Value() any                  { return nil }

// nativeAnyObject computes variables.anyObject (anyObjectExpr) and the cost
// its evaluation has: 2 for selecting request.operation and the result, the
// string comparison with "DELETE" (1, plus 1 unless the operation is empty),
// and 2 more for comparing object with null on DELETE.
// TestNativeVariables checks both against the CEL program.
func nativeAnyObject(ev *evaluation) (ref.Val, int64) {
	op := stringAt(ev.in.Request, "operation")
	cost := int64(3)
	if op != "" {
		cost++
	}
	obj := ev.object
	if op == "DELETE" {
		cost += 2
		if obj == nil {
			obj = ev.in.OldObject
		}
	}
	if obj == nil {
		return types.NullValue, cost
	}
	return types.DefaultTypeAdapter.NativeToValue(obj), cost
}

// nativeParams computes variables.params (paramsExpr) and its cost: 5 to
// find no parameters, 7 to return them.
func nativeParams(ev *evaluation) (ref.Val, int64) {
	if ev.in.Params == nil {
		return types.NullValue, 5
	}
	return types.DefaultTypeAdapter.NativeToValue(ev.in.Params), 7
}

func addCost(total int64, cost uint64) int64 {
	if cost > math.MaxInt64 || total > math.MaxInt64-int64(cost) {
		return math.MaxInt64
	}
	return total + int64(cost)
}

// exprResult is the outcome of one expression: a value, or the error
// Gatekeeper reports for it.
type exprResult struct {
	val ref.Val
	err error
}

// eval evaluates one expression within budget and returns what remains. The
// error return stops the whole evaluation (cost budget, ctx); errors of the
// expression alone are in the result.
func (ev *evaluation) eval(c *compiled, budget int64) (exprResult, int64, error) {
	if err := ev.ctx.Err(); err != nil {
		return exprResult{}, budget, stopped(err)
	}
	if c.err != nil {
		return exprResult{err: fmt.Errorf("compilation error: %w", c.err)}, budget, nil
	}
	val, details, err := c.prog.ContextEval(ev.ctx, ev)
	varCost := ev.varCost
	ev.varCost = 0
	if ctxErr := ev.ctx.Err(); ctxErr != nil {
		return exprResult{}, budget, stopped(ctxErr)
	}
	if varCost > budget {
		return exprResult{}, budget, outOfBudget()
	}
	budget -= varCost
	if details == nil || details.ActualCost() == nil {
		return exprResult{}, budget, &EvalError{Messages: []string{
			fmt.Sprintf("runtime cost could not be calculated for expression: %v, no further expression will be run", c.expression),
		}, cause: ErrCostBudget}
	}
	cost := *details.ActualCost()
	if cost > math.MaxInt64 || int64(cost) > budget {
		return exprResult{}, budget, outOfBudget()
	}
	budget -= int64(cost)
	if err != nil {
		return exprResult{err: fmt.Errorf("expression '%v' resulted in error: %v", c.expression, err)}, budget, nil
	}
	return exprResult{val: val}, budget, nil
}

func outOfBudget() *EvalError {
	return &EvalError{Messages: []string{outOfBudgetMessage}, cause: ErrCostBudget}
}

func stopped(err error) *EvalError {
	return &EvalError{Messages: []string{"evaluation stopped: " + err.Error()}, cause: err}
}

// wrapMessageError words an error that stopped the evaluation of message
// expressions as Gatekeeper does.
func wrapMessageError(err error) error {
	var ee *EvalError
	if errors.As(err, &ee) && errors.Is(ee.cause, ErrCostBudget) {
		msgs := make([]string, len(ee.Messages))
		for i, m := range ee.Messages {
			msgs[i] = "failed messageExpression: " + m
		}
		return &EvalError{Messages: msgs, cause: ee.cause}
	}
	return err
}

// match evaluates the match conditions as the API server's matcher does:
// false when any condition is false, an error when none is false but some
// failed to evaluate, true otherwise.
func (ev *evaluation) match(conditions []compiled) (bool, error) {
	results := make([]exprResult, len(conditions))
	budget := int64(MatchConditionCostBudget)
	var err error
	for i := range conditions {
		if results[i], budget, err = ev.eval(&conditions[i], budget); err != nil {
			return false, err
		}
	}
	var errs []error
	for _, r := range results {
		if r.err != nil {
			errs = append(errs, r.err)
		}
		if r.val == types.False {
			return false, nil
		}
	}
	if len(errs) > 0 {
		return false, &EvalError{Messages: []string{utilerrors.NewAggregate(errs).Error()}}
	}
	return true, nil
}

// messageOf returns the message a messageExpression produced, or "" when
// the static message must be used instead: the expression failed, or its
// result is not a string, is blank, is too long or spans lines.
func messageOf(r exprResult) string {
	if r.err != nil || r.val == nil {
		return ""
	}
	s, ok := r.val.Value().(string)
	if !ok {
		return ""
	}
	s = strings.TrimSpace(s)
	if len(s) > MaxMessageSize || strings.Contains(s, "\n") {
		return ""
	}
	return s
}

// requestValue shapes the review's admission request as the API server
// builds the request variable (cel.CreateAdmissionRequest, then the JSON
// field rules: empty optional fields are absent, requestKind and
// requestResource repeat kind and resource).
func requestValue(r map[string]any) map[string]any {
	kind := stringsMap(r["kind"], "group", "version", "kind")
	resource := stringsMap(r["resource"], "group", "version", "resource")
	dryRun, _ := r["dryRun"].(bool)
	out := make(map[string]any, 12)
	out["kind"] = kind
	out["resource"] = resource
	out["requestKind"] = kind
	out["requestResource"] = resource
	out["operation"] = stringAt(r, "operation")
	out["userInfo"] = userInfoValue(r["userInfo"])
	out["dryRun"] = dryRun
	out["options"] = nil
	if opts, ok := r["options"].(map[string]any); ok && opts != nil {
		out["options"] = opts
	}
	if s := stringAt(r, "subResource"); s != "" {
		out["subResource"] = s
		out["requestSubResource"] = s
	}
	if s := stringAt(r, "name"); s != "" {
		out["name"] = s
	}
	if s := stringAt(r, "namespace"); s != "" {
		out["namespace"] = s
	}
	return out
}

// stringsMap returns v as a map holding exactly the string fields keys
// (absent ones empty). It returns v itself when it is already such a map.
func stringsMap(v any, keys ...string) map[string]any {
	m, _ := v.(map[string]any)
	if len(m) == len(keys) {
		exact := true
		for _, k := range keys {
			if _, ok := m[k].(string); !ok {
				exact = false
				break
			}
		}
		if exact {
			return m
		}
	}
	out := make(map[string]any, len(keys))
	for _, k := range keys {
		s, _ := m[k].(string)
		out[k] = s
	}
	return out
}

// userInfoValue returns the userInfo fields the API server exposes, leaving
// out empty ones. It returns v itself when it has nothing else.
func userInfoValue(v any) map[string]any {
	in, _ := v.(map[string]any)
	reuse := true
	for k, val := range in {
		switch k {
		case "username", "uid":
			if s, ok := val.(string); !ok || s == "" {
				reuse = false
			}
		case "groups":
			if l, ok := val.([]any); !ok || len(l) == 0 {
				reuse = false
			}
		case "extra":
			if m, ok := val.(map[string]any); !ok || len(m) == 0 {
				reuse = false
			}
		default:
			reuse = false
		}
	}
	if reuse && in != nil {
		return in
	}
	out := map[string]any{}
	for _, k := range []string{"username", "uid"} {
		if s, _ := in[k].(string); s != "" {
			out[k] = s
		}
	}
	if groups, ok := in["groups"].([]any); ok && len(groups) > 0 {
		out["groups"] = groups
	}
	if extra, ok := in["extra"].(map[string]any); ok && len(extra) > 0 {
		out["extra"] = extra
	}
	return out
}

// namespaceMetadataFields are the metadata fields namespaceObject exposes.
var namespaceMetadataFields = [...]string{
	"name", "generateName", "namespace", "uid", "resourceVersion", "generation",
	"creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
	"labels", "annotations", "finalizers",
}

// namespaceValue keeps the fields of a Namespace the API server exposes as
// namespaceObject (cel.CreateNamespaceObject): metadata without managed
// fields and owner references, spec and status.
func namespaceValue(ns map[string]any) map[string]any {
	if ns == nil {
		return nil
	}
	md, _ := ns["metadata"].(map[string]any)
	meta := make(map[string]any, len(namespaceMetadataFields))
	for _, k := range namespaceMetadataFields {
		if v, ok := md[k]; ok && !isEmpty(v) {
			meta[k] = v
		}
	}
	out := map[string]any{"metadata": meta, "spec": map[string]any{}, "status": map[string]any{}}
	if spec, ok := ns["spec"].(map[string]any); ok && spec != nil {
		out["spec"] = spec
	}
	if status, ok := ns["status"].(map[string]any); ok && status != nil {
		out["status"] = status
	}
	return out
}

// isEmpty is the JSON omitempty test for unstructured values.
func isEmpty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == ""
	case map[string]any:
		return len(v) == 0
	case []any:
		return len(v) == 0
	case int64:
		return v == 0
	case float64:
		return v == 0
	case bool:
		return !v
	}
	return false
}

// stringAt returns the string at a path of nested maps, or "".
func stringAt(m map[string]any, path ...string) string {
	for i, k := range path {
		v, ok := m[k]
		if !ok {
			return ""
		}
		if i == len(path)-1 {
			s, _ := v.(string)
			return s
		}
		if m, ok = v.(map[string]any); !ok {
			return ""
		}
	}
	return ""
}
