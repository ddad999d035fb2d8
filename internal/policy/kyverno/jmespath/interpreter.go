// Package jmespath evaluates Kyverno's dialect of JMESPath.
//
// Kyverno (v1.19) evaluates expressions with its fork of go-jmespath plus its
// own custom functions. This package parses with the jmespath-community
// parser, restricted to the grammar the fork accepts, and evaluates with its
// own tree interpreter that reproduces the fork's semantics:
//
//   - Accessing a missing key of an object is an error, NotFoundError
//     ("Unknown key \"x\" in path"), unless an enclosing construct swallows
//     it: function arguments, ||, &&'s left side, !, comparisons, pipes,
//     projections and filters treat it as null, while a.b.c propagates it.
//   - Raw string literals ('...') only unescape \' (so '\\d' keeps both
//     backslashes), as in the fork.
//   - The JMESPath community extensions (arithmetic operators, $, let) are
//     rejected as syntax errors.
//   - Only the functions Kyverno registers exist: the fork's standard
//     functions (length, contains, keys, ...) and Kyverno's custom ones
//     (add, regex_match, time_diff, ...). sum is Kyverno's quantity-aware
//     sum, items is Kyverno's items(obj, keyName, valueName).
//
// Data must be unstructured JSON: map[string]any, []any, string, bool, nil
// and numbers. Numbers may be float64, int64, int (any Go integer or float
// type) or json.Number; they all compare and type-check as JMESPath numbers.
// Values taken from the data are returned as they are (an int64 stays an
// int64); numbers that functions compute are float64. Results may share
// memory with the data and with literals in the expression: callers must not
// mutate them.
package jmespath

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/jmespath-community/go-jmespath/pkg/parsing"
)

// Limits that bound the work of untrusted expressions.
const (
	// MaxExpressionLength is the longest expression Compile accepts.
	MaxExpressionLength = 64 << 10
	// MaxSteps bounds the number of AST node evaluations of one Search.
	MaxSteps = 1 << 20
	// MaxStringLength bounds the length of a string a function returns.
	MaxStringLength = 1 << 20
	// maxCacheEntries bounds the query and regexp caches of an Interpreter.
	maxCacheEntries = 2048
)

// Resolver looks up the IP addresses of a host name. *net.Resolver
// implements it.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// Option configures an Interpreter.
type Option func(*config)

type config struct {
	clock           func() time.Time
	resolver        Resolver
	defaultRegistry string
	registryMutate  bool
}

// WithClock sets the clock used by time_now, time_now_utc and time_since.
// The default is time.Now.
func WithClock(clock func() time.Time) Option {
	return func(c *config) {
		if clock != nil {
			c.clock = clock
		}
	}
}

// WithResolver lets is_external_url resolve host names with r. Without it
// (the default) is_external_url answers for IP addresses only and returns an
// error for host names, so that evaluation never does network I/O. Kyverno
// itself uses the system resolver.
func WithResolver(r Resolver) Option {
	return func(c *config) { c.resolver = r }
}

// WithDefaultRegistry sets Kyverno's defaultRegistry and
// enableDefaultRegistryMutation settings, used by image_normalize and
// Interpreter.ImageInfo. The defaults are "docker.io" and true.
func WithDefaultRegistry(registry string, enableMutation bool) Option {
	return func(c *config) {
		if registry != "" {
			c.defaultRegistry = registry
		}
		c.registryMutate = enableMutation
	}
}

// Interpreter evaluates Kyverno JMESPath expressions. Build one with New and
// share it: it is safe for concurrent use.
type Interpreter struct {
	cfg       config
	functions map[string]*function
	queries   boundedCache[*Query]
	regexps   boundedCache[regexpEntry]
}

// New returns an Interpreter with Kyverno's functions.
func New(opts ...Option) *Interpreter {
	i := &Interpreter{cfg: config{clock: time.Now, defaultRegistry: "docker.io", registryMutate: true}}
	for _, opt := range opts {
		if opt != nil {
			opt(&i.cfg)
		}
	}
	i.functions = make(map[string]*function)
	for _, f := range standardFunctions() {
		i.functions[f.name] = f
	}
	for _, f := range kyvernoFunctions() {
		i.functions[f.name] = f
	}
	return i
}

// Query is a compiled expression. It is safe for concurrent use.
type Query struct {
	expr string
	root *node
	in   *Interpreter
}

// String returns the expression the query was compiled from.
func (q *Query) String() string { return q.expr }

// Compile parses an expression once. Errors are syntax errors, with the
// messages of the JMESPath parser ("SyntaxError: ...").
func (i *Interpreter) Compile(expr string) (*Query, error) {
	if len(expr) > MaxExpressionLength {
		return nil, fmt.Errorf("SyntaxError: expression longer than %d bytes", MaxExpressionLength)
	}
	ast, err := parse(fixRawStrings(expr))
	if err != nil {
		var se parsing.SyntaxError
		if errors.As(err, &se) {
			return nil, errors.New(strings.ReplaceAll(se.Error(), "TOK", "t"))
		}
		return nil, err
	}
	root, err := i.convert(ast)
	if err != nil {
		return nil, err
	}
	return &Query{expr: expr, root: root, in: i}, nil
}

// parse runs the community parser. Its lexer indexes out of range on U+0080
// after an identifier; that input is turned into a syntax error instead of a
// panic.
func parse(expr string) (ast parsing.ASTNode, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errors.New("SyntaxError: invalid character in expression")
		}
	}()
	return parsing.NewParser().Parse(expr)
}

// Query returns the compiled form of expr from a bounded cache of the
// Interpreter, compiling it on a miss. Use it for expressions that are only
// known at evaluation time.
func (i *Interpreter) Query(expr string) (*Query, error) {
	if q, ok := i.queries.get(expr); ok {
		return q, nil
	}
	q, err := i.Compile(expr)
	if err != nil {
		return nil, err
	}
	i.queries.put(expr, q)
	return q, nil
}

// Search compiles expr (through the cache of Query) and evaluates it against
// data.
func (i *Interpreter) Search(expr string, data any) (any, error) {
	q, err := i.Query(expr)
	if err != nil {
		return nil, err
	}
	return q.Search(data)
}

// Search evaluates the query against data. A missing key that nothing in the
// expression swallowed is reported as a NotFoundError.
func (q *Query) Search(data any) (any, error) {
	e := evaluator{in: q.in}
	return e.eval(q.root, data)
}

// NotFoundError reports an object key that does not exist, as Kyverno's
// go-jmespath fork does. Match it with errors.As.
type NotFoundError struct {
	// Key is the missing key.
	Key string
}

func (e NotFoundError) Error() string {
	return "Unknown key \"" + e.Key + "\" in path"
}

// ErrBudget is returned when an evaluation exceeds MaxSteps.
var ErrBudget = fmt.Errorf("JMESPath evaluation exceeded %d steps", MaxSteps)

// boundedCache is a small concurrency-safe map that is cleared when full.
type boundedCache[V any] struct {
	mu sync.RWMutex
	m  map[string]V
}

func (c *boundedCache[V]) get(k string) (V, bool) {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	return v, ok
}

func (c *boundedCache[V]) put(k string, v V) {
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCacheEntries {
		c.m = make(map[string]V)
	}
	c.m[k] = v
	c.mu.Unlock()
}
