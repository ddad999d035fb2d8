package gatekeeper_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/manifest"
	"github.com/portcullis-dev/portcullis/internal/policy/gatekeeper"
)

// shared is the corpus directory beside the repository.
var shared = filepath.Join("..", "..", "..", "..", "shared")

func library(parts ...string) string {
	return filepath.Join(append([]string{shared, "conformance", "gatekeeper", "library"}, parts...)...)
}

func seed(name string) string { return filepath.Join(shared, "seeds", "policies", name) }

// seedFiles are the two seed constraints of the benchmark with their
// templates.
var seedFiles = []string{
	library("general", "allowedreposv2", "template.yaml"),
	library("general", "imagedigests", "template.yaml"),
	seed("gatekeeper-repo-is-cgr-dev.yaml"),
	seed("gatekeeper-container-image-must-have-digest.yaml"),
}

func documents(tb testing.TB, files ...string) []engine.Document {
	tb.Helper()
	objs, err := manifest.ReadAll(files, nil)
	if err != nil {
		tb.Fatal(err)
	}
	docs := make([]engine.Document, 0, len(objs))
	for _, o := range objs {
		docs = append(docs, engine.Document{Source: o.Source, Object: o.Object})
	}
	return docs
}

func compile(tb testing.TB, opts []gatekeeper.Option, files ...string) *engine.Set {
	tb.Helper()
	d, err := gatekeeper.New(opts...)
	if err != nil {
		tb.Fatal(err)
	}
	set, errs := engine.New(d).Compile(documents(tb, files...))
	if len(errs) > 0 {
		tb.Fatal(errs.ToAggregate())
	}
	return set
}

func podRequest(pod map[string]any) engine.Request {
	md, _ := pod["metadata"].(map[string]any)
	ns, _ := md["namespace"].(string)
	name, _ := md["name"].(string)
	return engine.Request{
		Kind:      schema.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Resource:  schema.GroupVersionResource{Version: "v1", Resource: "pods"},
		Operation: engine.Create,
		Namespace: ns,
		Name:      name,
		Object:    pod,
		Phase:     engine.PhaseValidate,
	}
}

func loadPods(tb testing.TB) []map[string]any {
	tb.Helper()
	objs, err := manifest.ReadAll([]string{filepath.Join(shared, "bench", "pods-1000.yaml")}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	pods := make([]map[string]any, len(objs))
	for i, o := range objs {
		pods[i] = o.Object
	}
	return pods
}

// BenchmarkSeedConstraints evaluates the two seed constraints (allowed
// repositories cgr.dev/*, image digests) on the benchmark Pods; one
// operation is one Pod.
func BenchmarkSeedConstraints(b *testing.B) {
	pods := loadPods(b)
	{
		for _, n := range []int{1, 100, len(pods)} {
			b.Run(fmt.Sprintf("pods=%d", n), func(b *testing.B) {
				set := compile(b, nil, seedFiles...)
				reqs := make([]engine.Request, n)
				for i := range reqs {
					reqs[i] = podRequest(pods[i])
				}
				ctx := context.Background()
				b.ReportAllocs()
				b.ResetTimer()
				cpu := startCPU()
				for i := 0; i < b.N; i++ {
					res := set.Evaluate(ctx, reqs[i%n], engine.Cluster{})
					if len(res.Rules) == 0 {
						b.Fatal("no results")
					}
				}
				cpu.report(b)
			})
		}
	}
}

// BenchmarkSeedTemplate evaluates each seed constraint alone, to show where
// the time goes.
func BenchmarkSeedTemplate(b *testing.B) {
	pods := loadPods(b)
	for _, tc := range []struct{ name, template, constraint string }{
		{"allowedreposv2", seedFiles[0], seedFiles[2]},
		{"imagedigests", seedFiles[1], seedFiles[3]},
	} {
		b.Run(tc.name, func(b *testing.B) {
			set := compile(b, nil, tc.template, tc.constraint)
			reqs := make([]engine.Request, len(pods))
			for i := range reqs {
				reqs[i] = podRequest(pods[i])
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			cpu := startCPU()
			for i := 0; i < b.N; i++ {
				set.Evaluate(ctx, reqs[i%len(reqs)], engine.Cluster{})
			}
			cpu.report(b)
		})
	}
}

// cpuClock measures the CPU time of the process, which says more than wall
// time on a machine shared with other work.
type cpuClock struct{ start time.Duration }

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU() cpuClock { return cpuClock{processCPU()} }

// report adds the CPU time per operation (of every thread, GC included).
func (c cpuClock) report(b *testing.B) {
	b.ReportMetric(float64(processCPU()-c.start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkSeedConstraints10k decodes 10,000 Pods (the benchmark file ten
// times) from YAML and evaluates the two seed constraints on each, as
// `portcullis apply` would on one core; one operation is the whole run.
func BenchmarkSeedConstraints10k(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join(shared, "bench", "pods-1000.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	data := bytes.Repeat(append(raw, "\n---\n"...), 10)
	set := compile(b, nil, seedFiles...)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU()
	for i := 0; i < b.N; i++ {
		n := 0
		err := manifest.Decode(bytes.NewReader(data), "pods.yaml", func(o manifest.Object) error {
			n++
			set.Evaluate(ctx, podRequest(o.Object), engine.Cluster{})
			return nil
		})
		if err != nil || n != 10000 {
			b.Fatalf("%d pods: %v", n, err)
		}
	}
	cpu.report(b)
}
