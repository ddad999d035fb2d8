package k8scel_test

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portcullis-dev/portcullis/internal/policy/gatekeeper/k8scel"
)

func Example() {
	// The source of a K8sNativeValidation code entry, as a template holds it.
	source := map[string]any{
		"variables": []any{
			map[string]any{"name": "missing", "expression": `variables.params.labels.filter(l, !has(variables.anyObject.metadata.labels) || !(l in variables.anyObject.metadata.labels))`},
		},
		"validations": []any{
			map[string]any{
				"expression":        `size(variables.missing) == 0`,
				"messageExpression": `"missing required labels: " + variables.missing.join(", ")`,
			},
		},
	}
	prog, errs := k8scel.Compile(source, nil, field.NewPath("spec", "targets").Index(0).Child("code").Index(0).Child("source"))
	if len(errs) > 0 {
		fmt.Println(errs.ToAggregate())
		return
	}

	// Compiled once, the program evaluates many reviews.
	pod := map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "web", "labels": map[string]any{"app": "web"}},
	}
	violations, err := prog.Evaluate(context.Background(), k8scel.Input{
		Object:  pod,
		Params:  map[string]any{"labels": []any{"app", "owner", "team"}},
		Request: map[string]any{"operation": "CREATE", "kind": map[string]any{"group": "", "version": "v1", "kind": "Pod"}},
	})
	var evalErr *k8scel.EvalError
	if errors.As(err, &evalErr) && prog.FailurePolicy() == k8scel.FailurePolicyFail {
		fmt.Println("errors:", evalErr.Messages)
	}
	for _, v := range violations {
		fmt.Println(v.Message)
	}
	// Output:
	// missing required labels: owner, team
}

func ExampleCompile_errors() {
	source := map[string]any{
		"variables": []any{map[string]any{"name": "params", "expression": "1"}},
		"validations": []any{
			map[string]any{"expression": `object.metadata.name`},
		},
		"failurePolicy": "Sometimes",
	}
	_, errs := k8scel.Compile(source, nil, field.NewPath("source"))
	for _, e := range errs {
		fmt.Println(e)
	}
	source = map[string]any{"validations": []any{map[string]any{"expression": `object.metadata.name`}}}
	_, errs = k8scel.Compile(source, nil, field.NewPath("source"))
	for _, e := range errs {
		fmt.Println(e)
	}
	// Output:
	// source.variables[0].name: Invalid value: "params": "params" is a reserved variable name
	// source.failurePolicy: Unsupported value: "Sometimes": supported values: "Fail", "Ignore"
	// source.validations[0].expression: Invalid value: "object.metadata.name": must evaluate to bool but got dyn
}
