package sandbox

import (
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

func TestRegoCapabilities(t *testing.T) {
	extra := &ast.Builtin{Name: "external_data"}
	caps := RegoCapabilities(extra)
	names := map[string]bool{}
	for _, b := range caps.Builtins {
		names[b.Name] = true
	}
	for name := range networkBuiltins {
		if names[name] {
			t.Errorf("%s is allowed", name)
		}
	}
	for _, name := range []string{"sprintf", "time.now_ns", "external_data"} {
		if !names[name] {
			t.Errorf("%s is missing", name)
		}
	}
}
