package gatekeeper_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/manifest"
	"github.com/portcullis-dev/portcullis/internal/policy/gatekeeper"
)

// decode reads YAML documents as policy documents.
func decode(t testing.TB, yaml string) []engine.Document {
	t.Helper()
	var docs []engine.Document
	err := manifest.Decode(strings.NewReader(yaml), "policy.yaml", func(o manifest.Object) error {
		docs = append(docs, engine.Document{Source: o.Source, Object: o.Object})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

// compileYAML compiles YAML documents with a new dialect and returns the
// set and the errors.
func compileYAML(t testing.TB, yaml string, opts ...gatekeeper.Option) (*engine.Set, field.ErrorList) {
	t.Helper()
	d, err := gatekeeper.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return engine.New(d).Compile(decode(t, yaml))
}

// mustCompile compiles YAML documents that must compile.
func mustCompile(t testing.TB, yaml string, opts ...gatekeeper.Option) *engine.Set {
	t.Helper()
	set, errs := compileYAML(t, yaml, opts...)
	if len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	return set
}

// errorStrings renders field errors for comparison.
func errorStrings(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

// object decodes one YAML object.
func object(t testing.TB, yaml string) map[string]any {
	t.Helper()
	obj, err := manifest.DecodeDocument([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

// admission builds an admission request for obj, in the validate phase.
func admission(obj map[string]any, op engine.Operation) engine.Request {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	md, _ := obj["metadata"].(map[string]any)
	name, _ := md["name"].(string)
	ns, _ := md["namespace"].(string)
	return engine.Request{
		Kind:      schema.FromAPIVersionAndKind(apiVersion, kind),
		Name:      name,
		Namespace: ns,
		Operation: op,
		Object:    obj,
		Phase:     engine.PhaseValidate,
	}
}

// result is the part of a rule result the tests compare.
type result struct {
	Policy  string
	Verdict engine.Verdict
	Action  engine.Action
	Message string
}

func (r result) String() string {
	return fmt.Sprintf("%s %s %s %q", r.Policy, r.Verdict, r.Action, r.Message)
}

func results(res engine.Result) []result {
	var out []result
	for _, r := range res.Rules {
		out = append(out, result{r.Policy.String(), r.Verdict, r.Action, r.Message})
	}
	return out
}

func evaluate(set *engine.Set, req engine.Request, cluster engine.Cluster) []result {
	return results(set.Evaluate(context.Background(), req, cluster))
}

// templateYAML is a v1 template with Rego code.
func templateYAML(kind, rego string) string {
	return fmt.Sprintf(`apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: %s
spec:
  crd:
    spec:
      names:
        kind: %s
      validation:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
  targets:
  - target: admission.k8s.gatekeeper.sh
    rego: |
%s
`, strings.ToLower(kind), kind, indent(rego, 6))
}

func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = pad + l
		}
	}
	return strings.Join(lines, "\n")
}

func sortStrings(s []string) { sort.Strings(s) }
