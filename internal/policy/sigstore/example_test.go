package sigstore_test

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/policy/sigstore"
)

// Example compiles a ClusterImagePolicy that retires an image repository
// and evaluates a Pod that uses it. Images given by digest need no
// registry for a static authority.
func Example() {
	const policy = `
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: retired
spec:
  images: [{glob: "ghcr.io/example/legacy*"}]
  authorities: [{static: {action: fail, message: "use ghcr.io/example/app"}}]
`
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(policy), &obj); err != nil {
		panic(err)
	}
	set, errs := engine.New(sigstore.New(sigstore.WithIncludeAll())).Compile([]engine.Document{{Source: "policy.yaml", Object: obj}})
	if len(errs) > 0 {
		panic(errs.ToAggregate())
	}
	image := "ghcr.io/example/legacy@sha256:0123456789012345678901234567890123456789012345678901234567890123"
	res := set.Evaluate(context.Background(), engine.Request{
		Kind:      schema.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Namespace: "default",
		Operation: engine.Create,
		Phase:     engine.PhaseValidate,
		Object: map[string]any{
			"apiVersion": "v1", "kind": "Pod",
			"metadata": map[string]any{"name": "web", "namespace": "default"},
			"spec":     map[string]any{"containers": []any{map[string]any{"name": "web", "image": image}}},
		},
	}, engine.Cluster{})
	for _, r := range res.Denied() {
		fmt.Printf("%s at %s:\n%s\n", r.Policy.Name, r.Rule, r.Message)
	}
	// Output:
	// retired at spec.containers[0].image:
	// ghcr.io/example/legacy@sha256:0123456789012345678901234567890123456789012345678901234567890123 disallowed by static policy: use ghcr.io/example/app
}
