// Package kyverno is the Kyverno dialect: kyverno.io/v1 and v2beta1
// ClusterPolicy and Policy with validate (pattern, anyPattern, deny,
// foreach, podSecurity), mutate (patchStrategicMerge, patchesJson6902,
// foreach) and verifyImages (Cosign and SigstoreBundle signatures and
// attestations, through internal/image/signature) rules, match/exclude,
// preconditions, context entries (imageRegistry through
// engine.Cluster.Registry), JMESPath variables and the autogen rules for
// pod controllers. Each policy compiles once, signature verifiers
// included; evaluation only substitutes variables, matches and reads
// registries.
package kyverno

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	sigsjson "sigs.k8s.io/json"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/image/signature"
	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/jmespath"
)

// DialectName is the dialect's identifier in results and metrics.
const DialectName = "kyverno"

// Dialect compiles Kyverno policies.
type Dialect struct {
	jp      *jmespath.Interpreter
	now     func() time.Time
	sigOpts signature.Options
}

var _ engine.Dialect = (*Dialect)(nil)

// Option configures a Dialect.
type Option func(*Dialect)

// WithClock sets the clock that time functions and time-based variables
// read. Tests use a fixed clock.
func WithClock(now func() time.Time) Option {
	return func(d *Dialect) { d.now = now }
}

// WithSignatureOptions sets the options of the signature verifiers that
// verifyImages rules compile to: the default trust root of keyless
// attestors (without one, keyless attestors without roots fail to compile),
// the result cache's lifetimes and the clock.
func WithSignatureOptions(o signature.Options) Option {
	return func(d *Dialect) { d.sigOpts = o }
}

// New returns the Kyverno dialect.
func New(opts ...Option) *Dialect {
	d := &Dialect{now: time.Now}
	for _, o := range opts {
		o(d)
	}
	d.jp = jmespath.New(jmespath.WithClock(d.now))
	return d
}

// Name implements engine.Dialect.
func (d *Dialect) Name() string { return DialectName }

// Handles implements engine.Dialect: ClusterPolicy and Policy in kyverno.io.
func (d *Dialect) Handles(gvk schema.GroupVersionKind) bool {
	return gvk.Group == "kyverno.io" && (gvk.Kind == "ClusterPolicy" || gvk.Kind == "Policy")
}

// Compile implements engine.Dialect.
func (d *Dialect) Compile(docs []engine.Document) ([]engine.Policy, field.ErrorList) {
	var out []engine.Policy
	var errs field.ErrorList
	for _, doc := range docs {
		p, perrs := d.compile(doc)
		out = append(out, p)
		errs = append(errs, perrs...)
	}
	return out, errs
}

// decode strictly decodes a document into its typed form. Unknown fields and
// type mismatches are reported with their full path.
func decode(doc engine.Document) (*policyDoc, field.ErrorList) {
	root := doc.Root()
	raw, err := json.Marshal(doc.Object)
	if err != nil {
		return nil, field.ErrorList{field.InternalError(root, err)}
	}
	var p policyDoc
	strict, err := sigsjson.UnmarshalStrict(raw, &p, sigsjson.DisallowUnknownFields)
	if err != nil {
		return nil, field.ErrorList{field.Invalid(root, nil, decodeMessage(err))}
	}
	var errs field.ErrorList
	for _, e := range strict {
		errs = append(errs, strictError(root, e))
	}
	return &p, errs
}

// strictError turns a strict-decoding error (`unknown field "spec.x"`,
// `duplicate field "..."`) into a field error at that path.
func strictError(root *field.Path, err error) *field.Error {
	msg := err.Error()
	if i := strings.IndexByte(msg, '"'); i >= 0 {
		if j := strings.LastIndexByte(msg, '"'); j > i {
			return field.Forbidden(root.Child(msg[i+1:j]), strings.TrimSpace(msg[:i]))
		}
	}
	return field.Invalid(root, nil, msg)
}

func decodeMessage(err error) string {
	var te *json.UnmarshalTypeError
	if ok := asTypeError(err, &te); ok && te.Field != "" {
		return fmt.Sprintf("%s: cannot use a %s as %s", te.Field, te.Value, te.Type)
	}
	return err.Error()
}

func asTypeError(err error, target **json.UnmarshalTypeError) bool {
	te, ok := err.(*json.UnmarshalTypeError)
	if ok {
		*target = te
	}
	return ok
}

// toJSON and fromJSON round-trip raw values through JSON, keeping integers
// as int64 as the rest of the engine expects.
func fromJSON(b []byte) (any, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return normalizeNumbers(v), nil
}

// normalizeNumbers converts json.Number values to int64 when they are
// integers and to float64 otherwise.
func normalizeNumbers(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = normalizeNumbers(e)
		}
		return t
	case []any:
		for i, e := range t {
			t[i] = normalizeNumbers(e)
		}
		return t
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	default:
		return v
	}
}
