package gatekeeper

import (
	"errors"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/types"

	"github.com/portcullis-dev/portcullis/internal/engine"
)

// externalDataBuiltin declares Gatekeeper's external_data function. It is
// registered per prepared query (never process-wide) and memoized per
// evaluation, so that a template asking twice for the same keys calls the
// provider once.
var externalDataBuiltin = &rego.Function{
	Name:             "external_data",
	Decl:             types.NewFunction(types.Args(types.A), types.A),
	Memoize:          true,
	Nondeterministic: true,
}

// externalDataRequest is the builtin's argument:
// {"provider": "name", "keys": ["k1", ...]}.
type externalDataRequest struct {
	Provider string   `json:"provider"`
	Keys     []string `json:"keys"`
}

// errNoProvider is returned when the evaluation has no external data
// source; like every error of the builtin, it makes the call undefined.
var errNoProvider = errors.New("no external data providers are configured")

// externalData implements external_data. It sends the keys to the
// evaluation's ExternalDataProvider and returns Gatekeeper's response:
//
//	{"responses": [[key, value], ...], "errors": [[key, error], ...],
//	 "status_code": 200, "system_error": ""}
//
// A provider that cannot be reached is an error, which OPA turns into an
// undefined call, as in Gatekeeper; errors the provider reports (for single
// keys or the whole request) are in the response.
func externalData(bctx rego.BuiltinContext, arg *ast.Term) (*ast.Term, error) {
	var req externalDataRequest
	if err := ast.As(arg.Value, &req); err != nil {
		return nil, fmt.Errorf("invalid request: %w", err)
	}
	responses := make([]*ast.Term, 0, len(req.Keys))
	errs := []*ast.Term{}
	status, systemError := 0, ""
	if len(req.Keys) > 0 {
		provider, _ := bctx.Context.Value(providerKey{}).(engine.ExternalDataProvider)
		if provider == nil {
			return nil, fmt.Errorf("provider %q: %w", req.Provider, errNoProvider)
		}
		resp, err := provider.ExternalData(bctx.Context, req.Provider, req.Keys)
		if err != nil {
			return nil, fmt.Errorf("failed to send the external data request to provider %q: %w", req.Provider, err)
		}
		for _, item := range resp.Items {
			if item.Error != "" {
				errs = append(errs, ast.ArrayTerm(ast.StringTerm(item.Key), ast.StringTerm(item.Error)))
				continue
			}
			v, err := ast.InterfaceToValue(item.Value)
			if err != nil {
				return nil, fmt.Errorf("provider %q returned a value for key %q that is not JSON: %w", req.Provider, item.Key, err)
			}
			responses = append(responses, ast.ArrayTerm(ast.StringTerm(item.Key), ast.NewTerm(v)))
		}
		status, systemError = resp.StatusCode, resp.SystemError
	}
	return ast.ObjectTerm(
		ast.Item(ast.StringTerm("responses"), ast.ArrayTerm(responses...)),
		ast.Item(ast.StringTerm("errors"), ast.ArrayTerm(errs...)),
		ast.Item(ast.StringTerm("status_code"), ast.IntNumberTerm(status)),
		ast.Item(ast.StringTerm("system_error"), ast.StringTerm(systemError)),
	), nil
}
