package gatekeeper_test

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/manifest"
	"github.com/portcullis-dev/portcullis/internal/policy/gatekeeper"
)

func Example() {
	const policies = `apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: k8srequiredlabels
spec:
  crd:
    spec:
      names:
        kind: K8sRequiredLabels
      validation:
        openAPIV3Schema:
          type: object
          properties:
            labels:
              type: array
              items:
                type: string
  targets:
  - target: admission.k8s.gatekeeper.sh
    rego: |
      package k8srequiredlabels
      violation[{"msg": msg}] {
        provided := {label | input.review.object.metadata.labels[label]}
        required := {label | label := input.parameters.labels[_]}
        missing := required - provided
        count(missing) > 0
        msg := sprintf("you must provide labels: %v", [missing])
      }
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sRequiredLabels
metadata:
  name: must-have-owner
spec:
  match:
    kinds:
    - apiGroups: [""]
      kinds: ["Namespace"]
  parameters:
    labels: ["owner", "team"]
`
	var docs []engine.Document
	_ = manifest.Decode(strings.NewReader(policies), "policies.yaml", func(o manifest.Object) error {
		docs = append(docs, engine.Document{Source: o.Source, Object: o.Object})
		return nil
	})
	dialect, err := gatekeeper.New()
	if err != nil {
		fmt.Println(err)
		return
	}
	// Compile once...
	set, errs := engine.New(dialect).Compile(docs)
	if len(errs) > 0 {
		fmt.Println(errs.ToAggregate())
		return
	}
	// ...evaluate many.
	ns := map[string]any{
		"apiVersion": "v1",
		"kind":       "Namespace",
		"metadata":   map[string]any{"name": "payments", "labels": map[string]any{"owner": "alice"}},
	}
	res := set.Evaluate(context.Background(), engine.Request{
		Kind:      schema.GroupVersionKind{Version: "v1", Kind: "Namespace"},
		Name:      "payments",
		Operation: engine.Create,
		Object:    ns,
	}, engine.Cluster{})
	for _, r := range res.Rules {
		fmt.Printf("[%s] %s (%s, %s)\n", r.Policy.Name, r.Message, r.Verdict, r.Action)
	}
	// Output:
	// [must-have-owner] you must provide labels: {"team"} (fail, deny)
}
