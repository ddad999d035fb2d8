package localcluster

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// kubernetesGoMod1372 is the go.mod of k8s.io/kubernetes v1.37.2, as the
// module proxy serves it.
func kubernetesGoMod1372(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("testdata/kubernetes-v1.37.2.go.mod.txt")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestParseKubernetesGoMod(t *testing.T) {
	got, err := parseKubernetesGoMod(kubernetesGoMod1372(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"k8s.io/api", "k8s.io/apiextensions-apiserver", "k8s.io/apimachinery", "k8s.io/apiserver",
		"k8s.io/cli-runtime", "k8s.io/client-go", "k8s.io/cloud-provider", "k8s.io/cluster-bootstrap",
		"k8s.io/code-generator", "k8s.io/component-base", "k8s.io/component-helpers",
		"k8s.io/controller-manager", "k8s.io/cri-api", "k8s.io/cri-client", "k8s.io/cri-streaming",
		"k8s.io/csi-translation-lib", "k8s.io/dynamic-resource-allocation", "k8s.io/endpointslice",
		"k8s.io/externaljwt", "k8s.io/kms", "k8s.io/kube-aggregator", "k8s.io/kube-controller-manager",
		"k8s.io/kube-proxy", "k8s.io/kube-scheduler", "k8s.io/kubectl", "k8s.io/kubelet", "k8s.io/metrics",
		"k8s.io/mount-utils", "k8s.io/pod-security-admission", "k8s.io/sample-apiserver",
		"k8s.io/sample-cli-plugin", "k8s.io/sample-controller", "k8s.io/streaming",
	}
	if diff := cmp.Diff(want, got.staging); diff != "" {
		t.Errorf("staging modules mismatch (-want +got):\n%s", diff)
	}
	if got.goVersion != "1.26.0" {
		t.Errorf("goVersion = %q, want 1.26.0", got.goVersion)
	}
}

func TestParseKubernetesGoModForms(t *testing.T) {
	tests := []struct {
		name    string
		gomod   string
		want    []string
		wantErr string
	}{
		{
			name: "one-line forms, versions and comments",
			gomod: `module k8s.io/kubernetes
go 1.26.0
require (
	k8s.io/api v0.0.0 // replace ( is not a directive here
)
replace k8s.io/b => ./staging/src/k8s.io/b
replace k8s.io/a v0.0.0 => ../a // a comment
replace example.com/fork => example.com/fork v1.2.3
replace (
	// k8s.io/commented => ./x
	k8s.io/c => /abs/c
	k8s.io/a => ./a
)
`,
			want: []string{"k8s.io/a", "k8s.io/b", "k8s.io/c"},
		},
		{name: "no go directive", gomod: "replace a => ./a\n", wantErr: "no go directive"},
		{name: "no staging", gomod: "go 1.26\nreplace a => b v1.0.0\n", wantErr: "no replace directive with a local path"},
		{name: "malformed", gomod: "go 1.26\nreplace (\n\ta ./a\n)\n", wantErr: "line 3: malformed replace directive"},
		{name: "unterminated", gomod: "go 1.26\nreplace (\n\ta => ./a\n", wantErr: "unterminated block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseKubernetesGoMod(tt.gomod)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseKubernetesGoMod() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got.staging); diff != "" {
				t.Errorf("staging mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRenderAPIServerWrapper(t *testing.T) {
	mod, err := parseKubernetesGoMod(kubernetesGoMod1372(t))
	if err != nil {
		t.Fatal(err)
	}
	files, err := renderWrapper(apiserverComponent, wrapperData{
		Version: "v1.37.2", GoVersion: mod.goVersion, StagingVersion: "v0.37.2", Staging: mod.staging,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "kube-apiserver.go.mod.golden", files["go.mod"])
	checkGolden(t, "kube-apiserver.main.go.golden", files["main.go"])
}

func TestRenderEtcdWrapper(t *testing.T) {
	files, err := renderWrapper(etcdComponent, wrapperData{Version: "v3.6.16", GoVersion: "1.24"})
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "etcd.go.mod.golden", files["go.mod"])
	checkGolden(t, "etcd.main.go.golden", files["main.go"])
}

func TestGoDirective(t *testing.T) {
	for in, want := range map[string]string{
		"module x\n\ngo 1.24\n":            "1.24",
		"module x\ngo 1.26.0 // comment\n": "1.26.0",
		"module x\n// go 1.2\n":            "",
	} {
		if got := goDirective(in); got != want {
			t.Errorf("goDirective(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAPIServerLDFlags(t *testing.T) {
	got := apiserverLDFlags("v1.37.2")
	for _, want := range []string{
		"-s -w ",
		"-X k8s.io/component-base/version.gitVersion=v1.37.2",
		"-X k8s.io/component-base/version.gitMajor=1",
		"-X k8s.io/component-base/version.gitMinor=37",
		"-X k8s.io/client-go/pkg/version.gitVersion=v1.37.2",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("apiserverLDFlags() = %q, missing %q", got, want)
		}
	}
}
