package sigstore_test

import (
	"context"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/policy/sigstore"
)

// FuzzCompile feeds arbitrary documents to the compiler and evaluates what
// compiled against a Pod: neither may panic, and every problem is a field
// error.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		staticPass, staticPolicies, attestationPolicy, trustRootPolicy,
		regoPolicy("warn", "    includeSpec: true\n", inputProbe),
		cuePolicy(`authorityMatches: "authority-0": static: true`),
		keyPolicy("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", "ghcr.io/sigs"),
		"apiVersion: policy.sigstore.dev/v1alpha1\nkind: TrustRoot\nmetadata: {name: x}\nspec: {sigstoreKeys: {}}\n",
	} {
		f.Add([]byte(s))
	}
	eng := engine.New(sigstore.New(sigstore.WithIncludeAll()))
	obj := pod("ghcr.io/team/app@"+digestOf('a'), "nginx", "Bad:Image")
	f.Fuzz(func(t *testing.T, data []byte) {
		var doc map[string]any
		if err := yaml.Unmarshal(data, &doc); err != nil || doc == nil {
			return
		}
		gvk := engine.Document{Object: doc}.GVK()
		if gvk.Group != sigstore.Group {
			return
		}
		set, errs := eng.Compile([]engine.Document{{Source: "fuzz.yaml", Object: doc}})
		for _, e := range errs {
			if e == nil || e.Field == "" {
				t.Fatalf("error without a field path: %v", e)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		set.Evaluate(ctx, request(obj), engine.Cluster{})
	})
}
