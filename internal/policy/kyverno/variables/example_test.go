package variables_test

import (
	"errors"
	"fmt"

	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/jmespath"
	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/variables"
)

func ExampleCompile() {
	jp := jmespath.New()
	doc := map[string]any{
		"metadata": map[string]any{"labels": map[string]any{
			"ns":       "{{ request.namespace }}",
			"replicas": "{{ request.object.spec.replicas }}",
			"summary":  "{{ request.object.metadata.name }} has {{ request.object.spec.replicas }} replicas",
		}},
	}
	tpl, err := variables.Compile(doc, jp, variables.WithPath("/mutate/patchStrategicMerge"))
	if err != nil {
		panic(err)
	}
	data := map[string]any{"request": map[string]any{
		"namespace": "prod",
		"object": map[string]any{
			"metadata": map[string]any{"name": "web"},
			"spec":     map[string]any{"replicas": int64(3)},
		},
	}}
	out, err := tpl.Evaluate(data)
	labels := out.(map[string]any)["metadata"].(map[string]any)["labels"].(map[string]any)
	fmt.Printf("%q %v %q %v\n", labels["ns"], labels["replicas"], labels["summary"], err)

	_, err = variables.Substitute("{{ request.object.metadata.labels.app }}", jp, data)
	var re *variables.ResolveError
	fmt.Println(errors.As(err, &re), re.NotFound())
	fmt.Println(err)
	// Output:
	// "prod" 3 "web has 3 replicas" <nil>
	// true true
	// failed to resolve request.object.metadata.labels.app at path : JMESPath query failed: Unknown key "labels" in path
}
