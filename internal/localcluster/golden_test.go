package localcluster

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// updateGoldenEnv, when set to 1, makes the tests rewrite testdata/golden.
const updateGoldenEnv = "UPDATE_LOCALCLUSTER_GOLDEN"

// checkGolden compares got with testdata/golden/name, or rewrites the file
// when UPDATE_LOCALCLUSTER_GOLDEN=1.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if os.Getenv(updateGoldenEnv) == "1" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("missing golden file (run with %s=1 to create it): %v", updateGoldenEnv, err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got), run with %s=1 to update:\n%s", path, updateGoldenEnv, diff)
	}
}

// TestGoldenFilesAreUsed reports golden files that no test checks any more.
func TestGoldenFilesAreUsed(t *testing.T) {
	if os.Getenv(updateGoldenEnv) == "1" {
		t.Skip("golden files are being rewritten")
	}
	used := map[string]bool{
		"kube-apiserver.go.mod.golden":  true,
		"kube-apiserver.main.go.golden": true,
		"etcd.go.mod.golden":            true,
		"etcd.main.go.golden":           true,
		"kubeconfig.golden":             true,
	}
	entries, err := os.ReadDir(filepath.Join("testdata", "golden"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !used[e.Name()] {
			t.Errorf("testdata/golden/%s is checked by no test; delete it", e.Name())
		}
		delete(used, e.Name())
	}
	for name := range used {
		t.Errorf("testdata/golden/%s is missing; run with %s=1", name, updateGoldenEnv)
	}
}
