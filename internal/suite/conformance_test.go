package suite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/policy/kyverno"
)

// updateEnv rewrites the golden files of this package when set to 1.
const updateEnv = "UPDATE_CONFORMANCE_GOLDEN"

// TestKyvernoConformance runs every kyverno-test.yaml of the plain-named
// (JMESPath ClusterPolicy) folders of the Kyverno conformance corpus and
// compares the results that do not match with the known list in
// testdata/kyverno-misses.txt, each of which docs/conformance.md explains.
// A new miss fails the test, and so does a miss that is fixed, so that the
// list and the document stay true.
func TestKyvernoConformance(t *testing.T) {
	root := filepath.Join("..", "..", "..", "shared", "conformance", "kyverno")
	dirs, err := os.ReadDir(root)
	if err != nil {
		t.Fatalf("the conformance corpus must be beside the repository: %v", err)
	}
	var paths []string
	for _, d := range dirs {
		name := d.Name()
		if !d.IsDir() || strings.HasSuffix(name, "-cel") || strings.HasSuffix(name, "-vpol") ||
			strings.HasSuffix(name, "-mpol") || strings.HasSuffix(name, "-gpol") || strings.HasSuffix(name, "-dpol") {
			continue
		}
		paths = append(paths, filepath.Join(root, name))
	}
	files, err := Discover(paths)
	if err != nil {
		t.Fatal(err)
	}
	runner := &Runner{Engine: engine.New(kyverno.New())}
	rep := runner.Run(context.Background(), files)
	for _, e := range rep.Errors {
		t.Errorf("test file error: %v", e)
	}
	var misses []string
	for _, r := range rep.Results {
		if !r.OK {
			file, _ := filepath.Rel(root, r.File)
			misses = append(misses, fmt.Sprintf("%s %s %s/%s expected=%s actual=%s", filepath.Dir(filepath.Dir(file)), r.Rule, r.Kind, r.Resource, r.Expected, r.Actual))
		}
	}
	sort.Strings(misses)
	rate := float64(rep.Summary.Passed) / float64(rep.Summary.Total)
	t.Logf("Kyverno conformance: %d/%d expected results match (%.2f%%)", rep.Summary.Passed, rep.Summary.Total, 100*rate)
	if rate < 0.97 {
		t.Errorf("conformance %.2f%% is below 97%%", 100*rate)
	}
	golden := filepath.Join("testdata", "kyverno-misses.txt")
	got := strings.Join(misses, "\n") + "\n"
	if os.Getenv(updateEnv) == "1" {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with %s=1 to create it)", err, updateEnv)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("misses differ from %s (-known +now); update it and docs/conformance.md (%s=1):\n%s", golden, updateEnv, diff)
	}
}
