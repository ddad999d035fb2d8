package webhookconfig_test

import (
	"fmt"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/webhookconfig"
)

func ExampleHintsFor() {
	h := webhookconfig.HintsFor(engine.Document{Object: map[string]any{
		"apiVersion": "kyverno.io/v1",
		"kind":       "ClusterPolicy",
		"metadata":   map[string]any{"name": "require-limits"},
		"spec": map[string]any{
			"webhookConfiguration": map[string]any{
				"timeoutSeconds": int64(15),
				"matchConditions": []any{map[string]any{
					"name": "not-system", "expression": "!request.userInfo.username.startsWith('system:')",
				}},
			},
			"rules": []any{map[string]any{"name": "limits", "validate": map[string]any{}}},
		},
	}})
	fmt.Println(h.TimeoutSeconds, h.Phases, h.MatchConditions[0].Name)
	// Output:
	// 15 [validate] not-system
}
