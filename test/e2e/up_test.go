package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestUp runs `portcullis up` as a user would: it prints the kubeconfig
// once the bundled policies are loaded, kubectl works with it, and an
// interrupt stops everything.
func TestUp(t *testing.T) {
	cmd := exec.Command(suite.bin, "up")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		if t.Failed() {
			t.Logf("portcullis up stderr:\n%s", logs.String())
		}
	}()
	kubeconfig := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if path, ok := strings.CutPrefix(sc.Text(), "kubeconfig: "); ok {
				kubeconfig <- path
			}
		}
	}()
	var path string
	select {
	case path = <-kubeconfig:
	case err := <-done:
		t.Fatalf("portcullis up exited: %v", err)
	case <-time.After(5 * time.Minute):
		cmd.Process.Kill()
		t.Fatal("no kubeconfig line within 5 minutes")
	}
	out, err := exec.Command("kubectl", "--kubeconfig", path, "get", "cpol,constrainttemplates", "-o", "name").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl: %v\n%s", err, out)
	}
	for _, want := range []string{
		"clusterpolicy.kyverno.io/add-default-resources",
		"clusterpolicy.kyverno.io/pod-security-restricted",
		"clusterpolicy.kyverno.io/require-resource-limits",
		"constrainttemplate.templates.gatekeeper.sh/k8sallowedreposv2",
		"constrainttemplate.templates.gatekeeper.sh/k8simagedigests",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the bundled policies lack %s:\n%s", want, out)
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("portcullis up did not exit cleanly: %v", err)
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("portcullis up did not stop within a minute of an interrupt")
	}
	if _, err := os.Stat(path); err == nil {
		t.Errorf("the temporary work dir was not removed: %s exists", path)
	}
}
