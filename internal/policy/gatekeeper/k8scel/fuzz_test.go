package k8scel_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/portcullis-dev/portcullis/internal/manifest"
	"github.com/portcullis-dev/portcullis/internal/policy/gatekeeper/k8scel"
)

// expressionSeeds exercise the libraries of the environment and the
// variables expressions see.
var expressionSeeds = []string{
	`true`,
	`object.metadata.name == "web"`,
	`variables.anyObject.spec.containers.all(c, c.image.startsWith("nginx"))`,
	`variables.params == null`,
	`request.operation == "CREATE" && request.kind.kind == "Pod"`,
	`namespaceObject == null`,
	`quantity("1Gi").isGreaterThan(quantity("500Mi"))`,
	`isQuantity("1Gi") && quantity("1Gi").asInteger() > 0`,
	`url("https://a/b").getScheme() == "https"`,
	`ip("10.0.0.1").family() == 4 && cidr("10.0.0.0/8").containsIP("10.0.0.1")`,
	`"a-b".split("-").join("+") == "a+b"`,
	`"abc".matches("^a") && "abc".find("b") == "b" && "abc".findAll("[a-c]").size() == 3`,
	`sets.equivalent([1, 2], [2, 1])`,
	`[1, 2, 3].isSorted() && [1, 2].sum() == 3 && [3, 1].min() == 1`,
	`[1, 2, 3].slice(1, 2) == [2] && [[1], [2]].flatten() == [1, 2]`,
	`semver("1.0.0").major() == 1`,
	`"%s-%d".format(["a", 1]) == "a-1"`,
	`object.?metadata.?annotations.?foo.orValue("x") == "x"`,
	`object.spec.containers.exists_one(c, c.name == "nginx")`,
	`{"a": 1}.all(k, v, v > 0)`,
	`object.spec.containers.map(i, c, c.name).size() == 1`,
	`duration("1h") > duration("1m") && timestamp("2024-01-01T00:00:00Z") < now()`,
	`1 < 2.0 && 1u < 2`,
	`params.spec`,
	`authorizer.path("/healthz").check("get").allowed()`,
	`object.spec.`,
	`1 + "a"`,
	`"x".matches("[")`,
	`duration("bogus") > duration("1s")`,
	`[1, "a"]`,
	`variables.missing`,
	`object.metadata.labels.namespace == "x" || has(object.metadata.labels.__namespace__)`,
	`type(object) == map && type(request) == map`,
	`object.spec.containers[0].ports[0].hostPort + 1 == 8081`,
	`dyn(object.spec.containers[0].ports[0].hostPort) == 8080.0`,
	`string(object.spec.containers[0].ports[0].hostPort) == "8080"`,
	`object.spec.containers.filter(c, has(c.ports)).size() > 0`,
	`jsonpatch.escapeKey("a/b") == "a~1b"`,
}

// FuzzCompile compiles fuzzed validation expressions and, when they compile,
// evaluates them on a Pod, comparing both steps with the API server's own
// implementation: the same expressions must compile, with the same errors,
// and report the same messages.
func FuzzCompile(f *testing.F) {
	for _, s := range expressionSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		if strings.TrimSpace(expr) == "" || len(expr) > 4096 {
			return
		}
		src := map[string]any{"validations": []any{map[string]any{"expression": expr}}}
		p, errs := k8scel.Compile(src, nil, root)
		ref := newReference(t, src)
		var want, got []string
		for _, err := range ref.validations.CompilationErrors() {
			want = append(want, err.Error())
		}
		for _, e := range errs {
			got = append(got, e.Detail)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("compile errors of %q differ from the API server's (-reference +ours):\n%s", expr, diff)
		}
		if p == nil {
			t.Fatalf("no program for %q", expr)
		}
		in := k8scel.Input{Object: pod(map[string]any{"app": "web"}), Params: map[string]any{"x": int64(1)}, Request: requestFor(pod(nil), "CREATE")}
		if diff := cmp.Diff(sorted(ref.evaluate(t, in)), sorted(ours(t, p, in))); diff != "" {
			t.Fatalf("messages of %q differ from the API server's (-reference +ours):\n%s", expr, diff)
		}
	})
}

// FuzzEvaluate evaluates library templates on fuzzed objects and compares
// the messages with the API server's implementation. Seeds are the Pods of
// the library samples.
func FuzzEvaluate(f *testing.F) {
	dirs := []string{
		"pod-security-policy/privileged-containers",
		"pod-security-policy/host-network-ports",
		"pod-security-policy/seccompv2",
		"general/requiredlabels",
	}
	samples, _ := filepath.Glob(filepath.Join(library, "pod-security-policy", "*", "samples", "*", "example_*.yaml"))
	for _, s := range samples {
		objs, err := manifest.ReadAll([]string{s}, nil)
		if err != nil || len(objs) != 1 {
			continue
		}
		data, err := utiljson.Marshal(objs[0].Object)
		if err != nil {
			f.Fatal(err)
		}
		for i := range dirs {
			f.Add(uint8(i), data)
		}
	}
	type template struct {
		src    map[string]any
		prog   *k8scel.Program
		params map[string]any
	}
	var templates []template
	for _, d := range dirs {
		objs, err := manifest.ReadAll([]string{filepath.Join(library, d, "template.yaml")}, nil)
		if err != nil {
			f.Skip(err)
		}
		src, _ := celSource(objs[0].Object)
		templates = append(templates, template{src: src, prog: mustCompile(f, src), params: map[string]any{
			"exemptImages": []any{"safe/*", "exact"}, "min": int64(80), "max": int64(9000),
			"labels":          []any{map[string]any{"key": "app", "allowedRegex": "^a"}},
			"allowedProfiles": []any{"runtime/default", "Localhost"}, "allowedLocalhostFiles": []any{"*"},
		}})
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		var obj map[string]any
		if err := utiljson.Unmarshal(data, &obj); err != nil || obj == nil {
			return
		}
		tmpl := templates[int(which)%len(templates)]
		in := k8scel.Input{Object: obj, Params: tmpl.params, Request: requestFor(obj, "CREATE")}
		got := sorted(ours(t, tmpl.prog, in))
		want := sorted(newReference(t, tmpl.src).evaluate(t, in))
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("messages differ from the API server's (-reference +ours):\n%s", diff)
		}
	})
}
