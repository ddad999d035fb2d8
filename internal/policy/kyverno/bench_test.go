package kyverno_test

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/manifest"
	"github.com/portcullis-dev/portcullis/internal/policy/kyverno"
)

// shared is the corpus directory beside the repository.
var shared = filepath.Join("..", "..", "..", "..", "shared")

func loadSet(tb testing.TB, files ...string) *engine.Set {
	tb.Helper()
	objs, err := manifest.ReadAll(files, nil)
	if err != nil {
		tb.Fatal(err)
	}
	var docs []engine.Document
	for _, o := range objs {
		docs = append(docs, engine.Document{Source: o.Source, Object: o.Object})
	}
	set, errs := engine.New(kyverno.New()).Compile(docs)
	if len(errs) > 0 {
		tb.Fatal(errs.ToAggregate())
	}
	return set
}

func loadPods(tb testing.TB) []map[string]any {
	tb.Helper()
	objs, err := manifest.ReadAll([]string{filepath.Join(shared, "bench", "pods-1000.yaml")}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	pods := make([]map[string]any, 0, len(objs))
	for _, o := range objs {
		manifest.DefaultNamespace(o.Object)
		pods = append(pods, o.Object)
	}
	return pods
}

func seedPolicy(name string) string {
	return filepath.Join(shared, "seeds", "policies", name)
}

func request(pod map[string]any) engine.Request {
	md := pod["metadata"].(map[string]any)
	ns, _ := md["namespace"].(string)
	name, _ := md["name"].(string)
	return engine.Request{
		Operation: engine.Create,
		Namespace: ns,
		Name:      name,
		Object:    pod,
	}
}

// BenchmarkSeedPolicies evaluates the three Kyverno seed policies (add
// default resources, require limits, restricted Pod Security) on the Pods
// of bench/pods-1000.yaml, mutating then validating as admission does. One
// op is one Pod.
func BenchmarkSeedPolicies(b *testing.B) {
	cases := []struct {
		name     string
		policies []string
	}{
		{"require-limits", []string{seedPolicy("kyverno-require-limits.yaml")}},
		{"pod-security-restricted", []string{seedPolicy("kyverno-pod-security-restricted.yaml")}},
		{"add-default-resources", []string{seedPolicy("kyverno-add-default-resources.yaml")}},
		{"all-three", []string{
			seedPolicy("kyverno-add-default-resources.yaml"),
			seedPolicy("kyverno-require-limits.yaml"),
			seedPolicy("kyverno-pod-security-restricted.yaml"),
		}},
	}
	pods := loadPods(b)
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			set := loadSet(b, c.policies...)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				res := set.Evaluate(ctx, request(pods[i%len(pods)]), engine.Cluster{})
				runtime.KeepAlive(res)
			}
		})
	}
}
