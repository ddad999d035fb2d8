package ratify_test

import (
	"fmt"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/policy/ratify"
)

// A Verifier with a key trust policy and the Policy compile into a policy
// per document, the ratify-provider external data provider that Gatekeeper
// templates call, and the mutation that pins image tags to digests.
func ExampleDialect_Compile() {
	key := `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8N1Qwd/uELjS5mUVXVibGef3y/Y9
JHI/qPtSpS14hN9X1xJan9B94XHJvA8wwV41aOPK952UsYdhvsIcIWkVTQ==
-----END PUBLIC KEY-----
`
	docs := []engine.Document{{Source: "kmp.yaml", Object: map[string]any{
		"apiVersion": "config.ratify.deislabs.io/v1beta1", "kind": "KeyManagementProvider",
		"metadata": map[string]any{"name": "team-key"},
		"spec":     map[string]any{"type": "inline", "parameters": map[string]any{"contentType": "key", "value": key}},
	}}, {Source: "verifier.yaml", Object: map[string]any{
		"apiVersion": "config.ratify.deislabs.io/v1beta1", "kind": "Verifier",
		"metadata": map[string]any{"name": "verifier-cosign"},
		"spec": map[string]any{"name": "cosign", "artifactTypes": ratify.ArtifactTypeCosignSignature,
			"parameters": map[string]any{"trustPolicies": []any{map[string]any{
				"name": "team", "scopes": []any{"ghcr.io/team/*"}, "tLogVerify": false,
				"keys": []any{map[string]any{"provider": "team-key"}},
			}}}},
	}}, {Source: "policy.yaml", Object: map[string]any{
		"apiVersion": "config.ratify.deislabs.io/v1beta1", "kind": "Policy",
		"metadata": map[string]any{"name": ratify.PolicyName},
		"spec": map[string]any{"type": "config-policy", "parameters": map[string]any{
			"artifactVerificationPolicies": map[string]any{ratify.ArtifactTypeCosignSignature: "any"}}},
	}}}
	policies, errs := ratify.New().Compile(docs)
	fmt.Println("errors:", len(errs))
	for _, p := range policies {
		_, provides := p.(engine.Provider)
		fmt.Println(p.Ref(), provides)
	}
	// Output:
	// errors: 0
	// KeyManagementProvider/team-key false
	// Verifier/verifier-cosign false
	// Policy/ratify-policy false
	// Provider/ratify-provider true
	// MutationProvider/ratify-mutation-provider false
}
