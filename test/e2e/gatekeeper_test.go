package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func libraryTemplate(name string) string {
	return filepath.Join(shared, "conformance", "gatekeeper", "library", "general", name, "template.yaml")
}

const nginxPod = `apiVersion: v1
kind: Pod
metadata:
  name: nginx-disallowed
spec:
  containers:
  - name: nginx
    image: IMAGE
`

// TestGatekeeperWalkthrough drives seed 000: the allowed-repositories and
// image-digest constraints deny nginx with the seed's messages, then
// enforcementAction: warn turns the denial into a warning.
func TestGatekeeperWalkthrough(t *testing.T) {
	srv := startServer(t, "")
	defer func() {
		if t.Failed() {
			t.Logf("portcullis log:\n%s", srv.log.String())
		}
		suite.kubectl("", "delete", "pod", "nginx-disallowed", "--ignore-not-found")
		suite.kubectl("", "delete", "constrainttemplates", "--all")
		srv.stop(t)
	}()

	out := mustKubectl(t, "", "create", "-f", libraryTemplate("allowedreposv2"))
	if out != "constrainttemplate.templates.gatekeeper.sh/k8sallowedreposv2 created" {
		t.Errorf("kubectl printed %q", out)
	}
	constraint := readFile(t, seedPolicy("gatekeeper-repo-is-cgr-dev.yaml"))
	out = eventually(t, 60*time.Second, "constraint CRD", func() (string, bool) {
		out, err := suite.kubectl(constraint, "create", "-f", "-")
		return out, err == nil
	})
	if out != "k8sallowedreposv2.constraints.gatekeeper.sh/repo-is-cgr-dev created" {
		t.Errorf("kubectl printed %q", out)
	}
	want := `Error from server (Forbidden): error when creating "STDIN": admission webhook "validation.gatekeeper.sh" denied the request: [repo-is-cgr-dev] container <nginx> has an invalid image <nginx>, allowed images are ["cgr.dev/*"]`
	nginx := strings.Replace(nginxPod, "IMAGE", "nginx", 1)
	waitDenied(t, nginx, "[repo-is-cgr-dev]")
	if out, _ := suite.kubectl(nginx, "create", "-f", "-"); out != want {
		t.Errorf("kubectl printed:\n%s\nwant:\n%s", out, want)
	}

	mustKubectl(t, "", "create", "-f", libraryTemplate("imagedigests"))
	digest := readFile(t, seedPolicy("gatekeeper-container-image-must-have-digest.yaml"))
	eventually(t, 60*time.Second, "constraint CRD", func() (string, bool) {
		out, err := suite.kubectl(digest, "create", "-f", "-")
		return out, err == nil
	})
	want = `Error from server (Forbidden): error when creating "STDIN": admission webhook "validation.gatekeeper.sh" denied the request: [container-image-must-have-digest] container <nginx> uses an image without a digest <cgr.dev/chainguard/nginx>`
	chainguard := strings.Replace(nginxPod, "IMAGE", "cgr.dev/chainguard/nginx", 1)
	waitDenied(t, chainguard, "[container-image-must-have-digest]")
	if out, _ := suite.kubectl(chainguard, "create", "-f", "-"); out != want {
		t.Errorf("kubectl printed:\n%s\nwant:\n%s", out, want)
	}

	mustKubectl(t, "", "patch", "k8simagedigests", "container-image-must-have-digest", "--type", "merge", "-p", `{"spec":{"enforcementAction":"warn"}}`)
	warning := "Warning: [container-image-must-have-digest] container <nginx> uses an image without a digest <cgr.dev/chainguard/nginx>"
	eventually(t, 60*time.Second, "warn", func() (string, bool) {
		out, err := suite.kubectl(chainguard, "create", "--dry-run=server", "-f", "-")
		return out, err == nil && strings.HasPrefix(out, warning)
	})
	out, _ = suite.kubectl(chainguard, "create", "-f", "-")
	if out != warning+"\npod/nginx-disallowed created" {
		t.Errorf("kubectl printed %q, want the warning and the created pod", out)
	}
}

// waitDenied waits until a server-side dry run of the pod is denied with a
// message that contains what.
func waitDenied(t *testing.T, pod, what string) {
	t.Helper()
	eventually(t, 60*time.Second, "denial "+what, func() (string, bool) {
		out, err := suite.kubectl(pod, "create", "--dry-run=server", "-f", "-")
		return out, err != nil && strings.Contains(out, what)
	})
}
