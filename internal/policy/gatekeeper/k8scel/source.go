package k8scel

import (
	"fmt"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// source is the decoded `source` of a K8sNativeValidation code entry.
type source struct {
	validations     []validation
	variables       []variable
	matchConditions []variable
	failurePolicy   FailurePolicy
}

type validation struct {
	expression        string
	message           string
	messageExpression string
	reason            string
}

// variable is a named expression: a variable or a match condition.
type variable struct {
	name       string
	expression string
}

// The keys of a source. Gatekeeper spells the match conditions
// `matchCondition` (singular); it ignores every other key, including
// `matchConditions` and `generateVAP`, and so does this package.
const (
	keyValidations     = "validations"
	keyVariables       = "variables"
	keyMatchConditions = "matchCondition"
	keyFailurePolicy   = "failurePolicy"
)

// Limits on the size of a source, so a hostile template cannot make
// compilation unbounded. They are far above what real templates use.
const (
	maxExpressions      = 256
	maxExpressionLength = 64 << 10
)

// identifier is what a variable name must be to be usable as
// variables.<name>: a CEL identifier.
var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// decodeSource reads the raw source, reporting every problem under fldPath.
// Like Gatekeeper, it rejects the reserved variable names and prefix and an
// unknown failure policy; it also rejects what would make an expression
// unusable (a missing expression, a variable name that is not an identifier
// or is used twice).
func decodeSource(raw map[string]any, fldPath *field.Path) (*source, field.ErrorList) {
	var errs field.ErrorList
	src := &source{failurePolicy: FailurePolicyFail}

	for i, item := range list(raw, keyValidations, fldPath, &errs) {
		p := fldPath.Child(keyValidations).Index(i)
		m, ok := item.(map[string]any)
		if !ok {
			errs = append(errs, field.TypeInvalid(p, item, "must be an object"))
			continue
		}
		v := validation{
			expression:        str(m, "expression", p, &errs),
			message:           str(m, "message", p, &errs),
			messageExpression: str(m, "messageExpression", p, &errs),
			reason:            str(m, "reason", p, &errs),
		}
		errs = append(errs, checkExpression(v.expression, p.Child("expression"), true)...)
		errs = append(errs, checkExpression(v.messageExpression, p.Child("messageExpression"), false)...)
		src.validations = append(src.validations, v)
	}

	seen := map[string]bool{}
	for i, item := range list(raw, keyVariables, fldPath, &errs) {
		p := fldPath.Child(keyVariables).Index(i)
		v, ok := namedExpression(item, p, &errs)
		if !ok {
			continue
		}
		switch {
		case v.name == "":
			errs = append(errs, field.Required(p.Child("name"), ""))
		case v.name == ParamsVariable || v.name == AnyObjectVariable:
			errs = append(errs, field.Invalid(p.Child("name"), v.name, fmt.Sprintf("%q is a reserved variable name", v.name)))
		case strings.HasPrefix(v.name, ReservedPrefix):
			errs = append(errs, field.Invalid(p.Child("name"), v.name, fmt.Sprintf("must not start with %q", ReservedPrefix)))
		case !identifier.MatchString(v.name):
			errs = append(errs, field.Invalid(p.Child("name"), v.name, "must be a CEL identifier: a letter or underscore followed by letters, digits and underscores"))
		case seen[v.name]:
			errs = append(errs, field.Duplicate(p.Child("name"), v.name))
		}
		seen[v.name] = true
		errs = append(errs, checkExpression(v.expression, p.Child("expression"), true)...)
		src.variables = append(src.variables, v)
	}

	for i, item := range list(raw, keyMatchConditions, fldPath, &errs) {
		p := fldPath.Child(keyMatchConditions).Index(i)
		v, ok := namedExpression(item, p, &errs)
		if !ok {
			continue
		}
		if strings.HasPrefix(v.name, ReservedPrefix) {
			errs = append(errs, field.Invalid(p.Child("name"), v.name, fmt.Sprintf("must not start with %q", ReservedPrefix)))
		}
		errs = append(errs, checkExpression(v.expression, p.Child("expression"), true)...)
		src.matchConditions = append(src.matchConditions, v)
	}

	if fp, ok := raw[keyFailurePolicy]; ok && fp != nil {
		p := fldPath.Child(keyFailurePolicy)
		switch s, _ := fp.(string); FailurePolicy(s) {
		case FailurePolicyFail, FailurePolicyIgnore:
			src.failurePolicy = FailurePolicy(s)
		default:
			errs = append(errs, field.NotSupported(p, fp, []string{string(FailurePolicyFail), string(FailurePolicyIgnore)}))
		}
	}
	return src, errs
}

// list returns raw[key] as a list; absent and null are empty.
func list(raw map[string]any, key string, fldPath *field.Path, errs *field.ErrorList) []any {
	v, ok := raw[key]
	if !ok || v == nil {
		return nil
	}
	l, ok := v.([]any)
	if !ok {
		*errs = append(*errs, field.TypeInvalid(fldPath.Child(key), v, "must be a list"))
		return nil
	}
	if len(l) > maxExpressions {
		*errs = append(*errs, field.TooMany(fldPath.Child(key), len(l), maxExpressions))
		return nil
	}
	return l
}

// str returns m[key] as a string; absent and null are empty.
func str(m map[string]any, key string, fldPath *field.Path, errs *field.ErrorList) string {
	v, ok := m[key]
	if !ok || v == nil {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		*errs = append(*errs, field.TypeInvalid(fldPath.Child(key), v, "must be a string"))
	}
	return s
}

func namedExpression(item any, p *field.Path, errs *field.ErrorList) (variable, bool) {
	m, ok := item.(map[string]any)
	if !ok {
		*errs = append(*errs, field.TypeInvalid(p, item, "must be an object"))
		return variable{}, false
	}
	return variable{name: str(m, "name", p, errs), expression: str(m, "expression", p, errs)}, true
}

func checkExpression(expr string, p *field.Path, required bool) field.ErrorList {
	switch {
	case required && strings.TrimSpace(expr) == "":
		return field.ErrorList{field.Required(p, "")}
	case len(expr) > maxExpressionLength:
		return field.ErrorList{field.TooLong(p, "", maxExpressionLength)}
	}
	return nil
}
