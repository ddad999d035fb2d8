package k8scel

import (
	"fmt"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"

	celconfig "k8s.io/apiserver/pkg/apis/cel"
	apiservercel "k8s.io/apiserver/pkg/cel"
	"k8s.io/apiserver/pkg/cel/library"
)

// The CEL variables of a ValidatingAdmissionPolicy, as the API server names
// them.
const (
	objectVar    = "object"
	oldObjectVar = "oldObject"
	paramsVar    = "params"
	requestVar   = "request"
	namespaceVar = "namespaceObject"
	variablesVar = "variables"
)

// The variables Gatekeeper binds before the template's own.
const (
	// ParamsVariable is variables.params: the constraint's spec.parameters,
	// or null when the constraint has none.
	ParamsVariable = "params"
	// AnyObjectVariable is variables.anyObject: the object, or the old object
	// on DELETE requests, whose object is null.
	AnyObjectVariable = "anyObject"
	// ReservedPrefix starts names that Gatekeeper keeps for itself; no
	// variable or match condition of a template may use it.
	ReservedPrefix = "gatekeeper_internal_"
)

// Gatekeeper's definitions of its variables (frameworks, k8scel transform).
const (
	anyObjectExpr = `has(request.operation) && request.operation == "DELETE" && object == null ? oldObject : object`
	paramsExpr    = `!has(params.spec) ? null : !has(params.spec.parameters) ? null: params.spec.parameters`
)

// Cost limits. Gatekeeper gives one evaluation of a template the budget the
// API server gives one expression (celconfig.PerCallLimit) rather than a whole
// binding (celconfig.RuntimeCELCostBudget), and match conditions their own.
const (
	// ValidationCostBudget bounds the total cost of the validations,
	// variables and message expressions of one evaluation.
	ValidationCostBudget = celconfig.PerCallLimit
	// MatchConditionCostBudget bounds the total cost of the match conditions
	// of one evaluation.
	MatchConditionCostBudget = celconfig.RuntimeCELCostBudgetMatchConditions
	// ExpressionCostLimit bounds the cost of a single expression.
	ExpressionCostLimit = celconfig.PerCallLimit
	// MaxMessageSize is the longest message a messageExpression may produce;
	// a longer one falls back to the static message.
	MaxMessageSize = celconfig.MaxEvaluatedMessageExpressionSizeBytes
)

// environment is what every template's compilation starts from: the CEL
// base environment of the API server for stored expressions (every library,
// whatever version introduced it) and the declared types of request and
// namespaceObject. It is immutable and safe for concurrent use.
type environment struct {
	base          *cel.Env
	requestType   *apiservercel.DeclType
	namespaceType *apiservercel.DeclType
}

// sharedEnvironment builds the environment once: it takes milliseconds and
// never changes. (k8s.io/apiserver/pkg/cel/environment caches its base
// environments the same way; that package is not used here because it pulls
// in the component-base metrics registry, which the engine must not depend
// on.)
var sharedEnvironment = sync.OnceValues(newEnvironment)

// envLib carries program options into an environment.
type envLib struct {
	envOpts  []cel.EnvOption
	progOpts []cel.ProgramOption
}

func (l *envLib) CompileOptions() []cel.EnvOption     { return l.envOpts }
func (l *envLib) ProgramOptions() []cel.ProgramOption { return l.progOpts }

// newEnvironment mirrors the base environment of k8s.io/apiserver v0.37
// (pkg/cel/environment/base.go) as the StoredExpressions environment sees it:
// every option without a removed version, in the same order.
func newEnvironment() (*environment, error) {
	lib := &envLib{
		envOpts: []cel.EnvOption{
			cel.HomogeneousAggregateLiterals(),
			cel.EagerlyValidateDeclarations(true),
			cel.DefaultUTCTimeZone(true),
			library.URLs(),
			library.Regex(),
			cel.CostEstimatorOptions(checker.PresenceTestHasCost(false)),
			library.Authz(),
			cel.CrossTypeNumericComparisons(true),
			cel.OptionalTypes(),
			library.Quantity(),
			cel.ASTValidators(
				cel.ValidateDurationLiterals(),
				cel.ValidateTimestampLiterals(),
				cel.ValidateRegexLiterals(),
				cel.ValidateHomogeneousAggregateLiterals(),
			),
			ext.Strings(ext.StringsVersion(2)),
			ext.Sets(),
			library.IP(),
			library.CIDR(),
			library.Format(),
			library.AuthzSelectors(),
			ext.TwoVarComprehensions(),
			library.SemverLib(library.SemverVersion(1)),
			ext.Lists(ext.ListsVersion(3)),
			library.Lists(library.ListsVersion(1)),
		},
		progOpts: []cel.ProgramOption{
			cel.EvalOptions(cel.OptOptimize, cel.OptTrackCost),
			cel.CostLimit(ExpressionCostLimit),
			cel.CostTrackerOptions(interpreter.PresenceTestHasCost(false)),
			cel.CostTracking(&library.CostEstimator{}),
		},
	}
	base, err := cel.NewEnv(cel.Lib(lib))
	if err != nil {
		return nil, fmt.Errorf("failed to build the CEL base environment: %w", err)
	}
	return &environment{
		base:          base,
		requestType:   requestDeclType(),
		namespaceType: namespaceDeclType(),
	}, nil
}

// withTypes extends env with variables and the declared types they use.
func withTypes(env *cel.Env, vars []cel.EnvOption, declTypes ...*apiservercel.DeclType) (*cel.Env, error) {
	provider := apiservercel.NewDeclTypeProvider(declTypes...)
	// Kubernetes 1.31 and later let CEL keywords be used as field names.
	provider.SetRecognizeKeywordAsFieldName(true)
	opts, err := provider.EnvOptions(env.CELTypeProvider())
	if err != nil {
		return nil, err
	}
	return env.Extend(append(vars, opts...)...)
}

// templateEnvs are the two environments of one template: variables see
// params (the constraint), everything else sees only variables.params.
type templateEnvs struct {
	withParams    *cel.Env
	withoutParams *cel.Env
	// variables is the declared type of the variables object. Compiling a
	// variable adds its field, so later expressions see it with its type.
	variables *apiservercel.DeclType
}

func (e *environment) forTemplate() (*templateEnvs, error) {
	vars := apiservercel.NewObjectType("kubernetes.variables", map[string]*apiservercel.DeclField{})
	withVars, err := withTypes(e.base, []cel.EnvOption{cel.Variable(variablesVar, vars.CelType())}, vars)
	if err != nil {
		return nil, err
	}
	build := func(params bool) (*cel.Env, error) {
		opts := []cel.EnvOption{
			cel.Variable(objectVar, cel.DynType),
			cel.Variable(oldObjectVar, cel.DynType),
			cel.Variable(namespaceVar, e.namespaceType.CelType()),
			cel.Variable(requestVar, e.requestType.CelType()),
		}
		if params {
			opts = append(opts, cel.Variable(paramsVar, cel.DynType))
		}
		return withTypes(withVars, opts, e.namespaceType, e.requestType)
	}
	with, err := build(true)
	if err != nil {
		return nil, err
	}
	without, err := build(false)
	if err != nil {
		return nil, err
	}
	return &templateEnvs{withParams: with, withoutParams: without, variables: vars}, nil
}

// addVariable declares a compiled variable's field with its output type.
func (t *templateEnvs) addVariable(name string, out *cel.Type) {
	t.variables.Fields[name] = apiservercel.NewDeclField(name, declTypeOf(out), true, nil, nil)
}

// declTypeOf converts the output type of an expression to a declared type,
// keeping the element types of lists and maps.
func declTypeOf(t *cel.Type) *apiservercel.DeclType {
	if t == nil {
		return apiservercel.DynType
	}
	switch t {
	case cel.AnyType:
		return apiservercel.AnyType
	case cel.BoolType:
		return apiservercel.BoolType
	case cel.BytesType:
		return apiservercel.BytesType
	case cel.DoubleType:
		return apiservercel.DoubleType
	case cel.DurationType:
		return apiservercel.DurationType
	case cel.IntType:
		return apiservercel.IntType
	case cel.NullType:
		return apiservercel.NullType
	case cel.StringType:
		return apiservercel.StringType
	case cel.TimestampType:
		return apiservercel.TimestampType
	case cel.UintType:
		return apiservercel.UintType
	}
	if t.HasTrait(traits.ContainerType) && t.HasTrait(traits.IndexerType) {
		switch params := t.Parameters(); len(params) {
		case 1:
			return apiservercel.NewListType(declTypeOf(params[0]), -1)
		case 2:
			return apiservercel.NewMapType(declTypeOf(params[0]), declTypeOf(params[1]), -1)
		}
	}
	return apiservercel.DynType
}

// requestDeclType declares the request variable: the admission request
// without uid, object and oldObject, as the API server declares it.
func requestDeclType() *apiservercel.DeclType {
	gvk := object("kubernetes.GroupVersionKind",
		declField("group", apiservercel.StringType, true),
		declField("version", apiservercel.StringType, true),
		declField("kind", apiservercel.StringType, true),
	)
	gvr := object("kubernetes.GroupVersionResource",
		declField("group", apiservercel.StringType, true),
		declField("version", apiservercel.StringType, true),
		declField("resource", apiservercel.StringType, true),
	)
	stringList := apiservercel.NewListType(apiservercel.StringType, -1)
	userInfo := object("kubernetes.UserInfo",
		declField("username", apiservercel.StringType, false),
		declField("uid", apiservercel.StringType, false),
		declField("groups", stringList, false),
		declField("extra", apiservercel.NewMapType(apiservercel.StringType, stringList, -1), false),
	)
	return object("kubernetes.AdmissionRequest",
		declField("kind", gvk, true),
		declField("resource", gvr, true),
		declField("subResource", apiservercel.StringType, false),
		declField("requestKind", gvk, true),
		declField("requestResource", gvr, true),
		declField("requestSubResource", apiservercel.StringType, false),
		declField("name", apiservercel.StringType, true),
		declField("namespace", apiservercel.StringType, false),
		declField("operation", apiservercel.StringType, true),
		declField("userInfo", userInfo, true),
		declField("dryRun", apiservercel.BoolType, false),
		declField("options", apiservercel.DynType, false),
	)
}

// namespaceDeclType declares namespaceObject: the fields of a Namespace the
// API server exposes to policies.
func namespaceDeclType() *apiservercel.DeclType {
	stringList := apiservercel.NewListType(apiservercel.StringType, -1)
	stringMap := apiservercel.NewMapType(apiservercel.StringType, apiservercel.StringType, -1)
	condition := object("kubernetes.NamespaceCondition",
		declField("status", apiservercel.StringType, true),
		declField("type", apiservercel.StringType, true),
		declField("lastTransitionTime", apiservercel.TimestampType, true),
		declField("message", apiservercel.StringType, true),
		declField("reason", apiservercel.StringType, true),
	)
	return object("kubernetes.Namespace",
		declField("metadata", object("kubernetes.NamespaceMetadata",
			declField("name", apiservercel.StringType, true),
			declField("generateName", apiservercel.StringType, true),
			declField("namespace", apiservercel.StringType, true),
			declField("labels", stringMap, true),
			declField("annotations", stringMap, true),
			declField("UID", apiservercel.StringType, true),
			declField("creationTimestamp", apiservercel.TimestampType, true),
			declField("deletionGracePeriodSeconds", apiservercel.IntType, true),
			declField("deletionTimestamp", apiservercel.TimestampType, true),
			declField("generation", apiservercel.IntType, true),
			declField("resourceVersion", apiservercel.StringType, true),
			declField("finalizers", stringList, true),
		), true),
		declField("spec", object("kubernetes.NamespaceSpec",
			declField("finalizers", stringList, true),
		), true),
		declField("status", object("kubernetes.NamespaceStatus",
			declField("conditions", apiservercel.NewListType(condition, -1), true),
			declField("phase", apiservercel.StringType, true),
		), true),
	)
}

func declField(name string, t *apiservercel.DeclType, required bool) *apiservercel.DeclField {
	return apiservercel.NewDeclField(name, t, required, nil, nil)
}

func object(name string, fields ...*apiservercel.DeclField) *apiservercel.DeclType {
	m := make(map[string]*apiservercel.DeclField, len(fields))
	for _, f := range fields {
		m[f.Name] = f
	}
	return apiservercel.NewObjectType(name, m)
}
