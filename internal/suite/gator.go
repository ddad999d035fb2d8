package suite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/manifest"
)

// GatorSuiteFile is the file name of a gator test suite
// (test.gatekeeper.sh/v1alpha1 Suite).
const GatorSuiteFile = "suite.yaml"

// gatorGroup is the API group of gator suites.
const gatorGroup = "test.gatekeeper.sh"

// These types mirror gator's Suite. Like gator, the runner reads the file
// as YAML 1.2, so that `violations: yes` is the string "yes".
type gatorSuite struct {
	APIVersion string         `json:"apiVersion,omitempty"`
	Kind       string         `json:"kind,omitempty"`
	Metadata   map[string]any `json:"metadata,omitempty"`
	Tests      []gatorTest    `json:"tests"`
	Skip       bool           `json:"skip,omitempty"`
}

type gatorTest struct {
	Name       string       `json:"name"`
	Template   string       `json:"template"`
	Constraint string       `json:"constraint"`
	Cases      []*gatorCase `json:"cases,omitempty"`
	// Invalid expects the constraint not to compile for the template.
	Invalid bool `json:"invalid,omitempty"`
	Skip    bool `json:"skip,omitempty"`
}

type gatorCase struct {
	Name       string           `json:"name"`
	Object     string           `json:"object"`
	Inventory  []string         `json:"inventory,omitempty"`
	Assertions []gatorAssertion `json:"assertions"`
	Skip       bool             `json:"skip,omitempty"`
}

// gatorAssertion is one assertion: how many violations (an integer, "yes"
// for at least one or "no" for none; "yes" when absent) match the optional
// message regular expression.
type gatorAssertion struct {
	Violations json.RawMessage `json:"violations,omitempty"`
	Message    *string         `json:"message,omitempty"`
}

// readGatorSuite reads a suite file as gator does.
func readGatorSuite(path string) (*gatorSuite, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("invalid YAML: %w", err)
	}
	raw, err := json.Marshal(jsonCompatible(doc))
	if err != nil {
		return nil, fmt.Errorf("invalid YAML: %w", err)
	}
	var s gatorSuite
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("invalid suite: %w", err)
	}
	if gv, _ := schema.ParseGroupVersion(s.APIVersion); gv.Group != gatorGroup || s.Kind != "Suite" {
		return nil, fmt.Errorf("not a gator suite: apiVersion %q kind %q, want %s/v1alpha1 Suite", s.APIVersion, s.Kind, gatorGroup)
	}
	return &s, nil
}

// jsonCompatible turns YAML values into values encoding/json can marshal.
func jsonCompatible(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = jsonCompatible(e)
		}
		return t
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[fmt.Sprint(k)] = jsonCompatible(e)
		}
		return m
	case []any:
		for i, e := range t {
			t[i] = jsonCompatible(e)
		}
		return t
	}
	return v
}

// isGatorSuite reports whether a test file is a gator suite: by its name,
// or else by its apiVersion and kind.
func isGatorSuite(path string) bool {
	switch filepath.Base(path) {
	case GatorSuiteFile:
		return true
	case KyvernoTestFile:
		return false
	}
	objs, err := manifest.ReadAll([]string{path}, nil)
	if err != nil || len(objs) == 0 {
		return false
	}
	gv, _ := schema.ParseGroupVersion(objs[0].APIVersion())
	return gv.Group == gatorGroup && objs[0].Kind() == "Suite"
}

// runGatorSuite runs every test of a gator suite. Each case gives one
// result; a test that expects an invalid constraint gives one result.
func (r *Runner) runGatorSuite(ctx context.Context, file string) ([]Result, error) {
	s, err := readGatorSuite(file)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(file)
	var out []Result
	for _, t := range s.Tests {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		out = append(out, r.runGatorTest(ctx, file, dir, t, s.Skip)...)
	}
	return out, nil
}

// compiledTest is a test's template and constraint, compiled.
type compiledTest struct {
	set        *engine.Set
	constraint engine.Document
	// err is why the test cannot run: files that cannot be read, or
	// compile errors.
	err error
	// constraintOnly is set when every compile error is the constraint's.
	constraintOnly bool
}

func (r *Runner) compileGatorTest(dir string, t gatorTest) compiledTest {
	var ct compiledTest
	if t.Template == "" || t.Constraint == "" {
		ct.err = errors.New("invalid suite: a test needs a template and a constraint")
		return ct
	}
	var docs []engine.Document
	for i, p := range []string{t.Template, t.Constraint} {
		path, err := resolve(dir, p)
		if err != nil {
			ct.err = err
			return ct
		}
		objs, err := manifest.ReadAll([]string{path}, nil)
		if err != nil {
			ct.err = err
			return ct
		}
		if len(objs) != 1 {
			ct.err = fmt.Errorf("%s defines %d objects, want 1", path, len(objs))
			return ct
		}
		doc := engine.Document{Source: objs[0].Source, Object: objs[0].Object}
		if i == 1 {
			ct.constraint = doc
		}
		docs = append(docs, doc)
	}
	set, errs := r.Engine.Compile(docs)
	ct.set = set
	if len(errs) > 0 {
		ct.err = errs.ToAggregate()
		ct.constraintOnly = true
		prefix := ct.constraint.Root().String()
		for _, e := range errs {
			if !strings.HasPrefix(e.Field, prefix) {
				ct.constraintOnly = false
			}
		}
	}
	return ct
}

func (r *Runner) runGatorTest(ctx context.Context, file, dir string, t gatorTest, skipSuite bool) []Result {
	base := Result{File: file, Rule: t.Name}
	skipped := func(res Result) Result {
		res.Actual, res.OK, res.Message = "skipped", true, "skipped"
		return res
	}
	if t.Invalid {
		res := base
		res.Expected = "invalid constraint"
		if skipSuite || t.Skip {
			return []Result{skipped(res)}
		}
		ct := r.compileGatorTest(dir, t)
		res.Policy = constraintName(ct.constraint)
		switch {
		case ct.err == nil:
			res.Actual, res.Message = "valid constraint", "the constraint compiled, but the test expects it to be invalid"
		case ct.constraintOnly:
			res.Actual, res.OK, res.Message = "invalid constraint", true, ct.err.Error()
		default:
			res.Actual, res.Message = "error", ct.err.Error()
		}
		return []Result{res}
	}

	var ct compiledTest
	compiled := false
	var out []Result
	for _, c := range t.Cases {
		res := base
		res.Resource = c.Name
		res.Expected = expectedAssertions(c.Assertions)
		if skipSuite || t.Skip || c.Skip {
			out = append(out, skipped(res))
			continue
		}
		if !compiled {
			ct, compiled = r.compileGatorTest(dir, t), true
		}
		res.Policy = constraintName(ct.constraint)
		if ct.err != nil {
			res.Actual, res.Message = "error", ct.err.Error()
			out = append(out, res)
			continue
		}
		r.runGatorCase(ctx, dir, ct, c, &res)
		out = append(out, res)
	}
	return out
}

func constraintName(doc engine.Document) string {
	if doc.Object == nil {
		return ""
	}
	_, name := doc.Name()
	return name
}

// runGatorCase reviews the case's object with the test's constraint and
// checks the assertions.
func (r *Runner) runGatorCase(ctx context.Context, dir string, ct compiledTest, c *gatorCase, res *Result) {
	fail := func(msg string) {
		res.Actual, res.Message = "error", msg
	}
	if c.Object == "" {
		fail("invalid case: must define object")
		return
	}
	if len(c.Assertions) == 0 {
		fail("invalid case: assertions must be non-empty")
		return
	}
	path, err := resolve(dir, c.Object)
	if err != nil {
		fail(err.Error())
		return
	}
	objs, err := manifest.ReadAll([]string{path}, nil)
	if err != nil {
		fail(err.Error())
		return
	}
	if len(objs) != 1 {
		fail(fmt.Sprintf("%s defines %d objects, want 1", path, len(objs)))
		return
	}
	req, err := gatorRequest(objs[0].Object)
	if err != nil {
		fail(fmt.Sprintf("%s: %v", path, err))
		return
	}
	res.Kind = req.Kind.Kind
	if obj := req.Object; obj != nil {
		if k, _ := obj["kind"].(string); k != "" {
			res.Kind = k
		}
	} else if obj := req.OldObject; obj != nil {
		if k, _ := obj["kind"].(string); k != "" {
			res.Kind = k
		}
	}
	var cluster engine.Cluster
	if len(c.Inventory) > 0 {
		inv := &gatorInventory{}
		for _, p := range c.Inventory {
			ip, err := resolve(dir, p)
			if err != nil {
				fail(err.Error())
				return
			}
			objs, err := manifest.ReadAll([]string{ip}, nil)
			if err != nil {
				fail(fmt.Sprintf("inventory: %v", err))
				return
			}
			if len(objs) == 0 {
				fail(fmt.Sprintf("inventory: %s defines no objects", ip))
				return
			}
			for _, o := range objs {
				inv.objects = append(inv.objects, o.Object)
			}
		}
		cluster.Inventory, cluster.Namespaces = inv, inv
	}

	result := ct.set.Evaluate(ctx, req, cluster)
	constraintKind := ct.constraint.GVK().Kind
	name := constraintName(ct.constraint)
	var messages []string
	for _, rr := range result.Rules {
		if rr.Policy.Kind != constraintKind || rr.Policy.Name != name {
			continue
		}
		if rr.Verdict == engine.Fail || rr.Verdict == engine.Error {
			messages = append(messages, rr.Message)
		}
	}
	var actual, problems []string
	for _, a := range c.Assertions {
		got, err := a.check(messages)
		if err != nil {
			problems = append(problems, err.Error())
		}
		actual = append(actual, got)
	}
	res.Actual = strings.Join(actual, "; ")
	if len(problems) == 0 {
		res.OK = true
		res.Message = strings.Join(messages, "\n")
		return
	}
	res.Message = fmt.Sprintf("%s: got messages %q", strings.Join(problems, "; "), messages)
}

// want is an assertion's expected count: n >= 0 exactly, or yes (at least
// one) or no (none).
type want struct {
	n       int
	yes, no bool
}

func (a gatorAssertion) want() (want, error) {
	raw := strings.TrimSpace(string(a.Violations))
	if raw == "" || raw == "null" {
		return want{yes: true}, nil
	}
	var s string
	if err := json.Unmarshal(a.Violations, &s); err == nil {
		switch s {
		case "yes":
			return want{yes: true}, nil
		case "no":
			return want{no: true}, nil
		}
		return want{}, fmt.Errorf(`invalid assertion: violations %q must be a nonnegative integer, "yes", or "no"`, s)
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 {
		return want{}, fmt.Errorf(`invalid assertion: violations %s must be a nonnegative integer, "yes", or "no"`, raw)
	}
	return want{n: n}, nil
}

func (a gatorAssertion) suffix() string {
	if a.Message == nil {
		return ""
	}
	return " matching /" + *a.Message + "/"
}

// expected describes the assertion, e.g. "violations: yes" or
// "2 violations matching /re/".
func (a gatorAssertion) expected() string {
	w, err := a.want()
	switch {
	case err != nil:
		return "violations: " + string(a.Violations)
	case w.yes:
		return "violations" + a.suffix() + ": yes"
	case w.no:
		return "violations" + a.suffix() + ": no"
	}
	return fmt.Sprintf("%d violations%s", w.n, a.suffix())
}

func expectedAssertions(as []gatorAssertion) string {
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = a.expected()
	}
	return strings.Join(parts, "; ")
}

// check counts the messages the assertion matches. It returns what was
// found, in the words of expected, and an error, in gator's words, when
// the count is not the wanted one.
func (a gatorAssertion) check(messages []string) (string, error) {
	w, err := a.want()
	if err != nil {
		return "error", err
	}
	var re *regexp.Regexp
	if a.Message != nil {
		if re, err = regexp.Compile(*a.Message); err != nil {
			return "error", fmt.Errorf("invalid assertion: message is not a regular expression: %w", err)
		}
	}
	n := 0
	for _, m := range messages {
		if re == nil || re.MatchString(m) {
			n++
		}
	}
	got := fmt.Sprintf("%d violations%s", n, a.suffix())
	containing := ""
	if a.Message != nil {
		containing = fmt.Sprintf(" containing %q", *a.Message)
	}
	switch {
	case w.yes && n == 0:
		return got, fmt.Errorf("got 0 violations%s but want at least 1", containing)
	case w.no && n > 0:
		return got, fmt.Errorf("got %d violations%s but want none", n, containing)
	case !w.yes && !w.no && n != w.n:
		return got, fmt.Errorf("got %d violations%s but want exactly %d", n, containing, w.n)
	}
	return got, nil
}

// gatorRequest turns a case's object into the request gator reviews: an
// AdmissionReview's request as it is, or any other object as a request
// with just its kind, name, namespace and object, as gator builds it.
func gatorRequest(obj map[string]any) (engine.Request, error) {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	gv, _ := schema.ParseGroupVersion(apiVersion)
	if kind == "AdmissionReview" && gv.Group == "admission.k8s.io" {
		return admissionReviewRequest(obj)
	}
	md, _ := obj["metadata"].(map[string]any)
	name, _ := md["name"].(string)
	namespace, _ := md["namespace"].(string)
	return engine.Request{
		Kind:      gv.WithKind(kind),
		Name:      name,
		Namespace: namespace,
		Object:    obj,
		Phase:     engine.PhaseValidate,
	}, nil
}

// admissionRequest is the part of admission/v1 AdmissionRequest gator
// reads, decoded strictly as gator does.
type admissionRequest struct {
	UID                string                    `json:"uid"`
	RawKind            *gvkJSON                  `json:"kind"`
	Resource           *gvrJSON                  `json:"resource"`
	SubResource        string                    `json:"subResource"`
	RequestKind        *gvkJSON                  `json:"requestKind"`
	RequestResource    *gvrJSON                  `json:"requestResource"`
	RequestSubResource string                    `json:"requestSubResource"`
	Name               string                    `json:"name"`
	Namespace          string                    `json:"namespace"`
	Operation          string                    `json:"operation"`
	UserInfo           authenticationv1.UserInfo `json:"userInfo"`
	Object             map[string]any            `json:"object"`
	OldObject          map[string]any            `json:"oldObject"`
	DryRun             *bool                     `json:"dryRun"`
	Options            map[string]any            `json:"options"`
}

type gvkJSON struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

type gvrJSON struct {
	Group    string `json:"group"`
	Version  string `json:"version"`
	Resource string `json:"resource"`
}

func admissionReviewRequest(obj map[string]any) (engine.Request, error) {
	for k := range obj {
		switch k {
		case "apiVersion", "kind", "request", "response":
		default:
			return engine.Request{}, fmt.Errorf("invalid AdmissionReview: unknown field %q", k)
		}
	}
	rawReq, ok := obj["request"].(map[string]any)
	if !ok {
		return engine.Request{}, errors.New("the AdmissionReview has no request")
	}
	var ar admissionRequest
	if err := remarshalStrict(rawReq, &ar); err != nil {
		return engine.Request{}, fmt.Errorf("invalid AdmissionReview: %w", err)
	}
	if ar.Object == nil && ar.OldObject == nil {
		return engine.Request{}, errors.New(`the AdmissionRequest does not contain an "object" or "oldObject" to review`)
	}
	req := engine.Request{
		UID:         ar.UID,
		SubResource: ar.SubResource,
		Name:        ar.Name,
		Namespace:   ar.Namespace,
		Operation:   engine.Operation(ar.Operation),
		UserInfo:    ar.UserInfo,
		Object:      ar.Object,
		OldObject:   ar.OldObject,
		Options:     ar.Options,
		Phase:       engine.PhaseValidate,
	}
	if ar.RawKind != nil {
		req.Kind = schema.GroupVersionKind{Group: ar.RawKind.Group, Version: ar.RawKind.Version, Kind: ar.RawKind.Kind}
	}
	if ar.Resource != nil {
		req.Resource = schema.GroupVersionResource{Group: ar.Resource.Group, Version: ar.Resource.Version, Resource: ar.Resource.Resource}
	}
	if ar.DryRun != nil {
		req.DryRun = *ar.DryRun
	}
	return req, nil
}

// gatorInventory is the inventory a case provides: data.inventory for
// templates, and the namespaces matching may look up.
type gatorInventory struct {
	objects []map[string]any
}

var (
	_ engine.InventoryLister = (*gatorInventory)(nil)
	_ engine.NamespaceGetter = (*gatorInventory)(nil)
)

// Inventory implements engine.InventoryLister.
func (g *gatorInventory) Inventory(context.Context) ([]map[string]any, error) {
	return g.objects, nil
}

// Namespace implements engine.NamespaceGetter with the inventory's
// Namespaces.
func (g *gatorInventory) Namespace(_ context.Context, name string) (map[string]any, error) {
	for _, o := range g.objects {
		obj := manifest.Object{Object: o}
		if obj.Kind() == "Namespace" && obj.APIVersion() == "v1" && obj.Name() == name {
			return o, nil
		}
	}
	return nil, fmt.Errorf("namespaces %q %w", name, engine.ErrNotFound)
}
