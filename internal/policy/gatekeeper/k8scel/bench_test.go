package k8scel_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/portcullis-dev/portcullis/internal/manifest"
	"github.com/portcullis-dev/portcullis/internal/policy/gatekeeper/k8scel"
)

// benchTemplates are library templates of growing size, with the
// parameters of their sample constraints.
var benchTemplates = []struct {
	name, dir string
	params    map[string]any
}{
	{"requiredlabels", "general/requiredlabels", map[string]any{
		"labels": []any{map[string]any{"key": "app", "allowedRegex": "^app-[0-9]+$"}},
	}},
	{"privileged", "pod-security-policy/privileged-containers", map[string]any{
		"exemptImages": []any{"safeimages.com/*"},
	}},
	{"hostnetworkports", "pod-security-policy/host-network-ports", map[string]any{
		"hostNetwork": true, "min": int64(80), "max": int64(9000), "exemptImages": []any{"safeimages.com/*"},
	}},
}

func benchProgram(b *testing.B, dir string) *k8scel.Program {
	b.Helper()
	objs, err := manifest.ReadAll([]string{filepath.Join(library, dir, "template.yaml")}, nil)
	if err != nil {
		b.Fatal(err)
	}
	src, schema := celSource(objs[0].Object)
	p, errs := k8scel.Compile(src, schema, root)
	if len(errs) > 0 {
		b.Fatal(errs.ToAggregate())
	}
	return p
}

// BenchmarkEvaluate evaluates library templates on the Pods of the shared
// benchmark corpus, compiled once.
func BenchmarkEvaluate(b *testing.B) {
	objs, err := manifest.ReadAll([]string{filepath.Join(library, "..", "..", "..", "bench", "pods-1000.yaml")}, nil)
	if err != nil {
		b.Skip(err)
	}
	inputs := make([]k8scel.Input, 0, len(objs))
	for _, o := range objs {
		inputs = append(inputs, k8scel.Input{Object: o.Object, Request: requestFor(o.Object, "CREATE")})
	}
	ctx := context.Background()
	for _, bt := range benchTemplates {
		b.Run(bt.name, func(b *testing.B) {
			p := benchProgram(b, bt.dir)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				in := inputs[i%len(inputs)]
				in.Params = bt.params
				if _, err := p.Evaluate(ctx, in); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkCompile compiles library templates.
func BenchmarkCompile(b *testing.B) {
	for _, bt := range benchTemplates {
		b.Run(bt.name, func(b *testing.B) {
			objs, err := manifest.ReadAll([]string{filepath.Join(library, bt.dir, "template.yaml")}, nil)
			if err != nil {
				b.Fatal(err)
			}
			src, schema := celSource(objs[0].Object)
			b.ReportAllocs()
			for b.Loop() {
				if _, errs := k8scel.Compile(src, schema, root); len(errs) > 0 {
					b.Fatal(errs.ToAggregate())
				}
			}
		})
	}
}

// BenchmarkReference evaluates the same templates with the API server's own
// CEL admission code, wired as Gatekeeper's driver wires it (see
// reference_test.go), for comparison with BenchmarkEvaluate.
func BenchmarkReference(b *testing.B) {
	objs, err := manifest.ReadAll([]string{filepath.Join(library, "..", "..", "..", "bench", "pods-1000.yaml")}, nil)
	if err != nil {
		b.Skip(err)
	}
	for _, bt := range benchTemplates {
		b.Run(bt.name, func(b *testing.B) {
			tmpl, err := manifest.ReadAll([]string{filepath.Join(library, bt.dir, "template.yaml")}, nil)
			if err != nil {
				b.Fatal(err)
			}
			src, _ := celSource(tmpl[0].Object)
			ref := newReference(b, src)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				o := objs[i%len(objs)].Object
				ref.evaluate(b, k8scel.Input{Object: o, Request: requestFor(o, "CREATE"), Params: bt.params})
				i++
			}
		})
	}
}
