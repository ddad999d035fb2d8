package podsecurity_test

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/podsecurity"
)

// Example compiles the podSecurity block of a rule and evaluates a
// privileged Pod with it.
func Example() {
	rule, errs := podsecurity.Compile(map[string]any{
		"level":   "restricted",
		"version": "latest",
		"exclude": []any{
			map[string]any{"controlName": "Capabilities", "images": []any{"ghcr.io/kloudvin/net-tools:*"}},
		},
	}, field.NewPath("spec", "rules").Index(0).Child("validate", "podSecurity"))
	if len(errs) > 0 {
		fmt.Println(errs.ToAggregate())
		return
	}
	pod := map[string]any{
		"kind":     "Pod",
		"metadata": map[string]any{"name": "rooty"},
		"spec": map[string]any{
			"securityContext": map[string]any{"runAsNonRoot": true, "seccompProfile": map[string]any{"type": "RuntimeDefault"}},
			"containers": []any{map[string]any{
				"name":  "rooty",
				"image": "ghcr.io/kloudvin/api:1.0",
				"securityContext": map[string]any{
					"privileged":               true,
					"allowPrivilegeEscalation": false,
					"capabilities":             map[string]any{"drop": []any{"ALL"}},
				},
			}},
		},
	}
	res, err := rule.EvaluateResource(pod)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Allowed)
	fmt.Println(res.Message("restricted-profile", "Pod"))
	for _, c := range res.Checks {
		fmt.Printf("%s (%s): %s\n", c.ID, c.Control, c.Detail)
	}
	// Output:
	// false
	// Validation rule 'restricted-profile' failed. It violates PodSecurity "restricted:latest": (Forbidden reason: privileged, field error list: [spec.containers[0].securityContext.privileged is forbidden, forbidden values found: true])
	// privileged (Privileged Containers): container "rooty" must not set securityContext.privileged=true
}
