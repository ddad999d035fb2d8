package gatekeeper_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/manifest"
	"github.com/portcullis-dev/portcullis/internal/policy/gatekeeper"
)

// FuzzCompile decodes and compiles arbitrary template and constraint
// documents and evaluates them against a Pod: nothing may panic, and every
// constraint must yield a policy that evaluates. It is seeded with the
// templates and constraints of the Gatekeeper library corpus and the seeds.
func FuzzCompile(f *testing.F) {
	dirs, _ := filepath.Glob(library("*", "*"))
	for _, dir := range dirs {
		tpl, err := os.ReadFile(filepath.Join(dir, "template.yaml"))
		if err != nil {
			continue
		}
		constraints, _ := filepath.Glob(filepath.Join(dir, "samples", "*", "constraint.yaml"))
		for _, c := range constraints {
			if data, err := os.ReadFile(c); err == nil {
				f.Add(append(append(tpl, "\n---\n"...), data...))
			}
		}
	}
	seeds, _ := filepath.Glob(seed("gatekeeper-*.yaml"))
	for _, s := range seeds {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(templateYAML("K8sX", "package x\nviolation[{\"msg\": \"x\"}] { true }") +
		"---\napiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sX\nmetadata: {name: x}\nspec: {match: {kinds: [{}]}}"))
	pod := map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "p", "namespace": "default", "labels": map[string]any{"app": "x"}},
		"spec":     map[string]any{"containers": []any{map[string]any{"name": "c", "image": "nginx:1.0"}}},
	}
	dialect, err := gatekeeper.New()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := manifest.DecodeObjects(data)
		if err != nil {
			return
		}
		var docs []engine.Document
		constraints := 0
		for _, o := range objs {
			doc := engine.Document{Source: "fuzz.yaml", Object: o}
			if dialect.Handles(doc.GVK()) {
				docs = append(docs, doc)
				if doc.GVK().Group == gatekeeper.ConstraintGroup {
					constraints++
				}
			}
		}
		policies, _ := dialect.Compile(docs)
		if len(policies) > constraints {
			t.Fatalf("%d policies for %d constraints", len(policies), constraints)
		}
		for _, p := range policies {
			p.Evaluate(context.Background(), &engine.Request{
				Operation: engine.Create, Object: pod, Namespace: "default", Phase: engine.PhaseValidate,
			}, engine.Cluster{})
		}
	})
}
