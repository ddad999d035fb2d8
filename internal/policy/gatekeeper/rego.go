package gatekeeper

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/policy/sandbox"
)

// The names Gatekeeper gives a template's modules; OPA's messages carry
// them as file names, e.g. "template:12: rego_type_error: ...".
const (
	entryModuleFile = "template"
	// violationRule is the rule every template must define.
	violationRule = "violation"
)

func libModuleFile(i int) string { return fmt.Sprintf(`libs["lib_%d"]`, i) }

var (
	// templatePackage is where the entry module is moved, as Gatekeeper
	// does, so that every template is queried the same way.
	templatePackage = ast.Ref{ast.DefaultRootDocument, ast.InternedTerm("template")}
	violationQuery  = "data.template.violation"
	violationRef    = ast.MustParseRef(violationQuery)
	libPrefix       = ast.MustParseRef("data.lib")
	inventoryRef    = ast.MustParseRef("data.inventory")
	futurePrefix    = ast.Ref{ast.FutureRootDocument}
	regoPrefix      = ast.Ref{ast.RegoRootDocument}
)

// regoCapabilities returns the builtins templates may call: the sandbox's,
// and external_data.
func regoCapabilities() *ast.Capabilities {
	return sandbox.RegoCapabilities(&ast.Builtin{
		Name:             externalDataBuiltin.Name,
		Decl:             externalDataBuiltin.Decl,
		Nondeterministic: true,
	})
}

// regoProgram is a template's Rego, compiled and prepared once.
type regoProgram struct {
	query rego.PreparedEvalQuery
	// usesInventory is set when the code reads data.inventory, which is
	// then resolved for each evaluation.
	usesInventory bool
	// usesExternalData is set when the code may call external_data.
	usesExternalData bool
}

// parseRego parses a module in the given Rego version, falling back to the
// other version as Gatekeeper's parser does. The error is the one of the
// first version tried.
func parseRego(file, src string, first ast.RegoVersion) (*ast.Module, error) {
	var firstErr error
	for _, v := range []ast.RegoVersion{first, otherVersion(first)} {
		m, err := ast.ParseModuleWithOpts(file, src, ast.ParserOptions{RegoVersion: v})
		if err == nil {
			if m == nil {
				return nil, errors.New("the module is empty")
			}
			return m, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

func otherVersion(v ast.RegoVersion) ast.RegoVersion {
	if v == ast.RegoV1 {
		return ast.RegoV0
	}
	return ast.RegoV1
}

// compileRego checks a template's Rego the way Gatekeeper does (a violation
// rule; libraries in packages below data.lib; imports of data.lib only;
// data references to data.lib and data.inventory only), compiles it with
// the dialect's capabilities and prepares the violation query.
func (d *Dialect) compileRego(src *regoSource) (*regoProgram, field.ErrorList) {
	var errs field.ErrorList
	version := ast.RegoV0
	switch src.version {
	case "", "v0":
	case "v1":
		version = ast.RegoV1
	default:
		errs = append(errs, field.NotSupported(src.versionPath, src.version, []string{"v0", "v1"}))
	}
	entry, err := parseRego(entryModuleFile, src.rego, version)
	if err != nil {
		return nil, append(errs, regoErrors(src.regoPath, err)...)
	}
	if !hasRule(entry, violationRule) {
		errs = append(errs, invalid(src.regoPath, "invalid module: missing required rules: [violation]"))
	}
	modules := map[string]*ast.Module{entryModuleFile: entry}
	paths := map[string]*field.Path{entryModuleFile: src.regoPath}
	for i, lib := range src.libs {
		file := libModuleFile(i)
		p := src.libsPath.Index(i)
		m, err := parseRego(file, lib, version)
		if err != nil {
			errs = append(errs, regoErrors(p, err)...)
			continue
		}
		if pkg := m.Package.Path; !pkg.HasPrefix(libPrefix) || pkg.Equal(libPrefix) {
			errs = append(errs, field.Invalid(p, pkg.String(), "a library's package must be below data.lib"))
		}
		modules[file] = m
		paths[file] = p
	}
	for _, file := range slices.Sorted(maps.Keys(modules)) {
		errs = append(errs, checkReferences(modules[file], paths[file])...)
	}
	if len(errs) > 0 {
		return nil, errs
	}

	entry.Package.Path = templatePackage
	compiler := ast.NewCompiler().
		WithCapabilities(d.capabilities).
		WithEnablePrintStatements(false)
	compiler.Compile(modules)
	if compiler.Failed() {
		for _, e := range compiler.Errors {
			p := src.regoPath
			if e.Location != nil {
				if lp, ok := paths[e.Location.File]; ok {
					p = lp
				}
			}
			errs = append(errs, invalid(p, e.Error()))
		}
		return nil, errs
	}

	prog := &regoProgram{}
	for _, m := range modules {
		ast.WalkRefs(m, func(r ast.Ref) bool {
			if r.HasPrefix(inventoryRef) {
				prog.usesInventory = true
			}
			return prog.usesInventory
		})
	}
	prog.usesExternalData = strings.Contains(src.rego, externalDataBuiltin.Name)
	for _, lib := range src.libs {
		prog.usesExternalData = prog.usesExternalData || strings.Contains(lib, externalDataBuiltin.Name)
	}
	query, err := rego.New(
		rego.Compiler(compiler),
		rego.Query(violationQuery),
		rego.Store(inmem.NewWithOpts(inmem.OptRoundTripOnWrite(false))),
		rego.Function1(externalDataBuiltin, externalData),
		rego.StrictBuiltinErrors(false),
	).PrepareForEval(context.Background())
	if err != nil {
		return nil, append(errs, invalid(src.regoPath, fmt.Sprintf("failed to prepare the violation query: %v", err)))
	}
	prog.query = query
	return prog, nil
}

// regoErrors reports each of OPA's errors (parse errors come in lists) as
// a field error at p.
func regoErrors(p *field.Path, err error) field.ErrorList {
	var list ast.Errors
	if !errors.As(err, &list) || len(list) == 0 {
		return field.ErrorList{invalid(p, err.Error())}
	}
	out := make(field.ErrorList, 0, len(list))
	for _, e := range list {
		out = append(out, invalid(p, e.Error()))
	}
	return out
}

func hasRule(m *ast.Module, name string) bool {
	for _, r := range m.Rules {
		if ref := r.Head.Ref(); len(ref) > 0 && ref[0].Value.Compare(ast.Var(name)) == 0 {
			return true
		}
	}
	return false
}

// checkReferences enforces Gatekeeper's sandbox: imports name data.lib
// packages (or future keywords and rego.v1), and every data reference is
// below data.lib or data.inventory.
func checkReferences(m *ast.Module, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, imp := range m.Imports {
		ref, ok := imp.Path.Value.(ast.Ref)
		switch {
		case !ok:
			errs = append(errs, field.Invalid(p, imp.Path.String(), "bad import"))
		case ref.HasPrefix(futurePrefix), ref.HasPrefix(regoPrefix):
		case ref.HasPrefix(libPrefix):
		default:
			errs = append(errs, field.Invalid(p, ref.String(), "bad import: templates may only import data.lib packages"))
		}
	}
	seen := map[string]bool{}
	for _, r := range m.Rules {
		ast.WalkRefs(r, func(ref ast.Ref) bool {
			if len(ref) == 0 || !ref[0].Equal(ast.DefaultRootDocument) {
				return false
			}
			if ref.HasPrefix(libPrefix) || ref.HasPrefix(inventoryRef) {
				return false
			}
			if s := ref.String(); !seen[s] {
				seen[s] = true
				errs = append(errs, field.Invalid(p, s, "disallowed ref: templates may only read data.lib and data.inventory"))
			}
			return false
		})
	}
	return errs
}

// noMetrics spares every evaluation the maps of OPA's metrics.
var noMetrics = metrics.NoOp()

// providerKey carries the evaluation's external data provider to the
// external_data builtin, which is prepared once and shared.
type providerKey struct{}

// termResult keeps the query's result as an AST term instead of converting
// it to Go values.
func termResult(t *ast.Term, _ *rego.EvalContext) (any, error) { return t, nil }

// eval runs the violation query for one review and returns the messages of
// the violations, sorted.
func (p *regoProgram) eval(ctx context.Context, in *review, params *constraintParams, cluster engine.Cluster, timeout time.Duration) ([]string, error) {
	// The input is converted to Rego values lazily, as the code reads it:
	// most templates read a few fields of a large object. A strict
	// ast.Object would hash, and so convert, all of it up front. The lazy
	// review is shared by the constraints that evaluate the request.
	input := ast.LazyObject(map[string]any{"review": in.regoReview(), "parameters": params.value})
	// OPA would start a goroutine per evaluation to watch ctx; a cancel
	// flag set by ctx and the timeout costs far less.
	cancel := topdown.NewCancel()
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, cancel.Cancel)
		defer stop()
	}
	if timeout > 0 {
		if deadline, ok := ctx.Deadline(); !ok || time.Until(deadline) > timeout {
			t := time.AfterFunc(timeout, cancel.Cancel)
			defer t.Stop()
		}
	}
	opts := make([]rego.EvalOption, 0, 6)
	opts = append(opts,
		rego.EvalParsedInput(input),
		rego.EvalGenerateJSON(termResult),
		rego.EvalExternalCancel(cancel),
		rego.EvalMetrics(noMetrics),
	)
	if p.usesInventory && cluster.Inventory != nil {
		opts = append(opts, rego.EvalResolver(inventoryRef, &inventoryResolver{lister: cluster.Inventory}))
	}
	if p.usesExternalData {
		ctx = context.WithValue(ctx, providerKey{}, cluster.ExternalData)
	}
	rs, err := p.query.Eval(ctx, opts...)
	if err != nil {
		if topdown.IsCancel(err) {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, fmt.Errorf("evaluation stopped: %w", ctxErr)
			}
			return nil, fmt.Errorf("evaluation stopped after %v", timeout)
		}
		return nil, err
	}
	var msgs []string
	seen := map[string]bool{}
	for _, r := range rs {
		for _, e := range r.Expressions {
			t, ok := e.Value.(*ast.Term)
			if !ok {
				continue
			}
			set, ok := t.Value.(ast.Set)
			if !ok {
				return nil, fmt.Errorf("violation is a %s, not a set", ast.ValueName(t.Value))
			}
			err := set.Iter(func(v *ast.Term) error {
				obj, ok := v.Value.(ast.Object)
				if !ok {
					return nil
				}
				m := obj.Get(ast.InternedTerm("msg"))
				if m == nil {
					return nil
				}
				s, ok := m.Value.(ast.String)
				if !ok {
					return fmt.Errorf("message binding was %s but want string", ast.ValueName(m.Value))
				}
				// Gatekeeper keeps one result per message and details.
				details := obj.Get(ast.InternedTerm("details"))
				key := string(s) + "\x00"
				if details != nil {
					key += details.String()
				}
				if !seen[key] {
					seen[key] = true
					msgs = append(msgs, string(s))
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
	}
	sort.Strings(msgs)
	return msgs, nil
}
