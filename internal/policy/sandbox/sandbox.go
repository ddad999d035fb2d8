// Package sandbox says what the policies portcullis runs may do: the Rego
// builtins they may call. A policy engine must not make requests on behalf
// of the policies it runs, so the builtins that reach the network are left
// out (Gatekeeper disables http.send too).
package sandbox

import "github.com/open-policy-agent/opa/v1/ast"

// networkBuiltins are the builtins that reach the network.
var networkBuiltins = map[string]bool{
	"http.send":          true,
	"net.lookup_ip_addr": true,
}

// RegoCapabilities returns the capabilities of this OPA version without the
// builtins that reach the network, plus the extra builtins given. Each call
// returns a new value.
func RegoCapabilities(extra ...*ast.Builtin) *ast.Capabilities {
	caps := ast.CapabilitiesForThisVersion()
	builtins := caps.Builtins[:0]
	for _, b := range caps.Builtins {
		if !networkBuiltins[b.Name] {
			builtins = append(builtins, b)
		}
	}
	caps.Builtins = append(builtins, extra...)
	return caps
}
