package k8scel_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/portcullis-dev/portcullis/internal/manifest"
	"github.com/portcullis-dev/portcullis/internal/policy/gatekeeper/k8scel"
)

// library is the Gatekeeper library corpus beside the repository.
var library = filepath.Join("..", "..", "..", "..", "..", "shared", "conformance", "gatekeeper", "library")

// suite is a gator test suite (test.gatekeeper.sh/v1alpha1 Suite).
type suite struct {
	Tests []struct {
		Name       string `json:"name"`
		Template   string `json:"template"`
		Constraint string `json:"constraint"`
		Cases      []struct {
			Name       string      `json:"name"`
			Object     string      `json:"object"`
			Assertions []assertion `json:"assertions"`
		} `json:"cases"`
	} `json:"tests"`
}

// assertion is a gator assertion: how many violations (yes, no or a
// number; yes when unset) have a message matching Message (any when unset).
type assertion struct {
	Violations any     `json:"violations"`
	Message    *string `json:"message"`
}

// readOne reads the single document of a YAML file.
func readOne(t *testing.T, path string) map[string]any {
	t.Helper()
	objs, err := manifest.ReadAll([]string{path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 {
		t.Fatalf("%s: %d documents, want 1", path, len(objs))
	}
	return objs[0].Object
}

// celSource returns the K8sNativeValidation source and the parameters
// schema of a ConstraintTemplate, or nil when it has no such code.
func celSource(tmpl map[string]any) (src, schema map[string]any) {
	spec, _ := tmpl["spec"].(map[string]any)
	targets, _ := spec["targets"].([]any)
	if len(targets) != 1 {
		return nil, nil
	}
	target, _ := targets[0].(map[string]any)
	code, _ := target["code"].([]any)
	for _, c := range code {
		c, _ := c.(map[string]any)
		if c["engine"] == "K8sNativeValidation" {
			src, _ = c["source"].(map[string]any)
		}
	}
	crd, _ := spec["crd"].(map[string]any)
	crdSpec, _ := crd["spec"].(map[string]any)
	validation, _ := crdSpec["validation"].(map[string]any)
	schema, _ = validation["openAPIV3Schema"].(map[string]any)
	return src, schema
}

// review turns an object file into the Input gator gives the driver: an
// AdmissionReview's request, or a plain object as a request with kind, name
// and namespace and no operation.
func review(obj map[string]any) k8scel.Input {
	if obj["kind"] == "AdmissionReview" {
		req, _ := obj["request"].(map[string]any)
		in := k8scel.Input{Request: req}
		in.Object, _ = req["object"].(map[string]any)
		in.OldObject, _ = req["oldObject"].(map[string]any)
		return in
	}
	return k8scel.Input{Object: obj, Request: requestFor(obj, "")}
}

func requestFor(obj map[string]any, operation string) map[string]any {
	apiVersion, _ := obj["apiVersion"].(string)
	group, version, ok := strings.Cut(apiVersion, "/")
	if !ok {
		group, version = "", apiVersion
	}
	md, _ := obj["metadata"].(map[string]any)
	req := map[string]any{
		"kind": map[string]any{"group": group, "version": version, "kind": obj["kind"]},
		"name": md["name"], "namespace": md["namespace"],
	}
	if operation != "" {
		req["operation"] = operation
	}
	return req
}

// matches applies the parts of a constraint's spec.match that the library
// suites use: kinds and excluded namespaces.
func matches(constraint, obj map[string]any) bool {
	spec, _ := constraint["spec"].(map[string]any)
	m, _ := spec["match"].(map[string]any)
	apiVersion, _ := obj["apiVersion"].(string)
	group, _, ok := strings.Cut(apiVersion, "/")
	if !ok {
		group = ""
	}
	if kinds, ok := m["kinds"].([]any); ok {
		found := false
		for _, k := range kinds {
			k, _ := k.(map[string]any)
			if contains(k["apiGroups"], group) && contains(k["kinds"], obj["kind"].(string)) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	md, _ := obj["metadata"].(map[string]any)
	ns, _ := md["namespace"].(string)
	return ns == "" || !contains(m["excludedNamespaces"], ns)
}

func contains(list any, s string) bool {
	l, _ := list.([]any)
	for _, v := range l {
		if v == s || v == "*" {
			return true
		}
	}
	return false
}

// check applies gator's assertions to the messages of the violations.
func check(assertions []assertion, messages []string) error {
	for _, a := range assertions {
		n := 0
		for _, m := range messages {
			if a.Message == nil || regexp.MustCompile(*a.Message).MatchString(m) {
				n++
			}
		}
		switch want := fmt.Sprint(a.Violations); want {
		case "<nil>", "yes", "true":
			if n == 0 {
				return fmt.Errorf("want violations matching %v, got %q", a.Message, messages)
			}
		case "no", "false":
			if n != 0 {
				return fmt.Errorf("want no violations matching %v, got %q", a.Message, messages)
			}
		default:
			if fmt.Sprint(n) != want {
				return fmt.Errorf("want %s violations matching %v, got %q", want, a.Message, messages)
			}
		}
	}
	return nil
}

// libraryCase is one case of a library suite whose template has
// K8sNativeValidation code.
type libraryCase struct {
	source     map[string]any
	schema     map[string]any
	constraint map[string]any
	in         k8scel.Input
	assertions []assertion
}

// forEachLibraryCase runs fn in a subtest for each case of the library
// suites whose template has K8sNativeValidation code, and returns how many
// templates and cases it found.
func forEachLibraryCase(t *testing.T, fn func(*testing.T, libraryCase)) (templates, cases int) {
	suites, err := filepath.Glob(filepath.Join(library, "*", "*", "suite.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(suites) == 0 {
		t.Skipf("no library at %s", library)
	}
	for _, path := range suites {
		dir := filepath.Dir(path)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var s suite
		if err := yaml.Unmarshal(data, &s); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		name, _ := filepath.Rel(library, dir)
		seen := map[string]bool{}
		for _, test := range s.Tests {
			src, schema := celSource(readOne(t, filepath.Join(dir, test.Template)))
			if src == nil {
				continue
			}
			if !seen[test.Template] {
				seen[test.Template] = true
				templates++
			}
			constraint := readOne(t, filepath.Join(dir, test.Constraint))
			spec, _ := constraint["spec"].(map[string]any)
			for _, c := range test.Cases {
				cases++
				t.Run(name+"/"+test.Name+"/"+c.Name, func(t *testing.T) {
					in := review(readOne(t, filepath.Join(dir, c.Object)))
					in.Params = spec["parameters"]
					fn(t, libraryCase{source: src, schema: schema, constraint: constraint, in: in, assertions: c.Assertions})
				})
			}
		}
	}
	if templates == 0 {
		t.Error("no library template has K8sNativeValidation code")
	}
	return templates, cases
}

// TestLibrary runs the gator suites of the library templates that carry
// K8sNativeValidation code. gator prefers that engine when a template has
// both, so these are the verdicts Gatekeeper gives.
func TestLibrary(t *testing.T) {
	programs := map[string]*k8scel.Program{}
	templates, cases := forEachLibraryCase(t, func(t *testing.T, c libraryCase) {
		key := fmt.Sprint(c.source)
		prog, ok := programs[key]
		if !ok {
			var errs field.ErrorList
			prog, errs = k8scel.Compile(c.source, c.schema, root)
			if len(errs) > 0 {
				t.Fatal(errs.ToAggregate())
			}
			programs[key] = prog
		}
		obj := c.in.Object
		if obj == nil {
			obj = c.in.OldObject
		}
		var messages []string
		if matches(c.constraint, obj) {
			violations, err := prog.Evaluate(context.Background(), c.in)
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			for _, v := range violations {
				messages = append(messages, v.Message)
			}
		}
		if err := check(c.assertions, messages); err != nil {
			t.Error(err)
		}
	})
	t.Logf("%d templates, %d cases", templates, cases)
}
