package engine_test

import (
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// TestEngineDependencies keeps the engine pure. Nothing it depends on, even
// indirectly, may be client-go, controller-runtime or a metrics library, and
// none of the project's own engine packages may import an HTTP package: the
// webhook and the CLI adapt to the engine, not the reverse. (Kubernetes
// libraries the engine uses import net/http themselves; that is allowed.)
func TestEngineDependencies(t *testing.T) {
	bannedAnywhere := []string{
		"k8s.io/client-go",
		"sigs.k8s.io/controller-runtime",
		"github.com/prometheus/client_golang",
	}
	bannedDirect := []string{"net/http", "net/rpc"}
	const module = "github.com/portcullis-dev/portcullis/"
	goBin := runtime.GOROOT() + "/bin/go"
	out, err := exec.Command(goBin, "list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \",\"}}",
		"./", "../match", "../policy/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, " ")
		for _, b := range bannedAnywhere {
			if pkg == b || strings.HasPrefix(pkg, b+"/") {
				t.Errorf("the engine depends on %s", pkg)
			}
		}
		if !strings.HasPrefix(pkg, module) {
			continue
		}
		for _, imp := range strings.Split(imports, ",") {
			for _, b := range bannedDirect {
				if imp == b || strings.HasPrefix(imp, b+"/") {
					t.Errorf("%s imports %s, which engine packages must not", pkg, imp)
				}
			}
		}
	}
}
