package kyverno_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/manifest"
	"github.com/portcullis-dev/portcullis/internal/policy/kyverno"
)

// FuzzCompile decodes and compiles arbitrary policy documents and evaluates
// them against a Pod: nothing may panic, and a policy that fails to compile
// must still evaluate (to errors). It is seeded with the Kyverno policies of
// the conformance corpus and the seeds.
func FuzzCompile(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join(shared, "conformance", "kyverno", "*", "*", "*.yaml"))
	more, _ := filepath.Glob(filepath.Join(shared, "seeds", "policies", "kyverno-*.yaml"))
	seeds = append(seeds, more...)
	if len(seeds) > 200 {
		seeds = seeds[:200]
	}
	for _, s := range seeds {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata: {name: x}\nspec: {rules: [{name: r}]}"))
	f.Add([]byte(`apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: v}
spec:
  rules:
  - name: r
    match: {any: [{resources: {kinds: [Pod]}}]}
    imageExtractors:
      Pod: [{path: /spec/containers/*/image}]
    context:
    - name: img
      imageRegistry: {reference: "{{ request.object.spec.containers[0].image }}", jmesPath: configData}
    verifyImages:
    - imageReferences: ["*"]
      skipImageReferences: ["docker.io/skip*"]
      failureAction: Enforce
      attestors:
      - count: 1
        entries:
        - keys: {publicKeys: "{{ img.key }}", rekor: {ignoreTlog: true, url: x}}
        - attestor: {entries: [{keyless: {subject: "*", issuer: "*", roots: "x"}}]}
      attestations:
      - name: a
        type: t
        conditions: [{all: [{key: "{{ a.x }}", operator: Equals, value: 1}]}]
      validate: {deny: {conditions: {any: [{key: 1, operator: Equals, value: 1}]}}}
`))
	pod := map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "p", "namespace": "default", "labels": map[string]any{"app": "x"}},
		"spec":     map[string]any{"containers": []any{map[string]any{"name": "c", "image": "nginx:1.0"}}},
	}
	dialect := kyverno.New()
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := manifest.DecodeObjects(data)
		if err != nil {
			return
		}
		var docs []engine.Document
		for _, o := range objs {
			docs = append(docs, engine.Document{Source: "fuzz.yaml", Object: o})
		}
		set, _ := engine.New(dialect).Compile(docs)
		set.Evaluate(context.Background(), engine.Request{Operation: engine.Create, Object: pod}, engine.Cluster{})
	})
}
