package podsecurity

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

// benchPods loads the first n Pods of the shared benchmark file.
func benchPods(b *testing.B, n int) []map[string]any {
	b.Helper()
	data, err := os.ReadFile("/work/shared/bench/pods-1000.yaml")
	if err != nil {
		b.Skip("benchmark pods not available")
	}
	var pods []map[string]any
	for _, doc := range strings.Split(string(data), "\n---") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			b.Fatal(err)
		}
		if m == nil {
			continue
		}
		// Re-encode as util/json values (int64 numbers), as admission sees them.
		pods = append(pods, toUnstructured(b, m))
		if len(pods) == n {
			break
		}
	}
	return pods
}

// BenchmarkEvaluate measures one rule on the first 100 Pods of
// pods-1000.yaml, per Pod: decoding, evaluation and, for failures, the
// message. The restricted case is the seed policy, with its exclusion.
func BenchmarkEvaluate(b *testing.B) {
	pods := benchPods(b, 100)
	rules := []struct{ name, raw string }{
		{"restricted-seed", seedRule},
		{"baseline", `{level: baseline, version: latest}`},
		{"restricted-pinned", `{level: restricted, version: v1.29}`},
	}
	for _, rc := range rules {
		var raw map[string]any
		if err := yaml.Unmarshal([]byte(rc.raw), &raw); err != nil {
			b.Fatal(err)
		}
		r, errs := Compile(raw, field.NewPath("podSecurity"))
		if len(errs) > 0 {
			b.Fatal(errs.ToAggregate())
		}
		b.Run(rc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				p := pods[i%len(pods)]
				meta, spec := podParts(p)
				res, err := r.Evaluate(meta, spec)
				if err != nil {
					b.Fatal(err)
				}
				if !res.Allowed {
					_ = res.Message("rule", "Pod")
				}
			}
		})
	}
}

// BenchmarkDecode compares ways to turn an unstructured Pod into the typed
// values that pod-security-admission reads.
func BenchmarkDecode(b *testing.B) {
	pods := benchPods(b, 100)
	b.Run("DecodePod", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			meta, spec := podParts(pods[i%len(pods)])
			if _, err := DecodePod(meta, spec); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json-roundtrip", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			data, err := json.Marshal(pods[i%len(pods)])
			if err != nil {
				b.Fatal(err)
			}
			var pod corev1.Pod
			if err := json.Unmarshal(data, &pod); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("unstructured-converter", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			var pod corev1.Pod
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(pods[i%len(pods)], &pod); err != nil {
				b.Fatal(err)
			}
		}
	})
}
