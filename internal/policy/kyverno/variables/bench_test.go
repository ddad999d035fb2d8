package variables

import (
	"testing"

	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/jmespath"
)

func BenchmarkEvaluate(b *testing.B) {
	jp := jmespath.New()
	data := testData()
	for _, bc := range []struct {
		name string
		doc  any
	}{
		{"static", map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "*", "image": "!*:latest"}}}}},
		{"whole", "{{ request.object.metadata.name }}"},
		{"message", "Pod {{ request.object.metadata.name }} in {{ request.namespace }} has {{ request.object.spec.replicas }} replicas."},
		{"nested", `{{ cm.data."{{ request.namespace }}" }}`},
		{"conditions", []any{
			map[string]any{"key": "{{ request.object.spec.containers[].image }}", "operator": "AnyIn", "value": []any{"nginx:*"}},
			map[string]any{"key": "{{ length(request.object.spec.containers) }}", "operator": "GreaterThan", "value": 0.0},
		}},
	} {
		tpl, err := Compile(bc.doc, jp)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tpl.Evaluate(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
