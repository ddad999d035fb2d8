package localcluster

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// e2eEnv must be 1 for TestStartRealCluster to run: it builds kube-apiserver
// (about 5 minutes on 2 cores, once per cache directory) and needs the Go
// module proxy and kubectl.
const e2eEnv = "PORTCULLIS_E2E"

// testLog sends progress lines to t.Log.
type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestStartRealCluster(t *testing.T) {
	if os.Getenv(e2eEnv) != "1" {
		t.Skipf("set %s=1 to build and run a real kube-apiserver and etcd", e2eEnv)
	}
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Fatalf("kubectl is required: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	opts := Options{Log: testLog{t}}

	began := time.Now()
	bins, err := EnsureBinaries(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("EnsureBinaries: %v (%s, %s)", time.Since(began).Round(time.Millisecond), bins.APIServer, bins.Etcd)
	began = time.Now()
	if _, err := EnsureBinaries(ctx, opts); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(began); d > time.Second {
		t.Errorf("a second EnsureBinaries took %v; it should reuse the cache at once", d)
	}

	began = time.Now()
	c, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Start: %v (server %s, work dir %s)", time.Since(began).Round(time.Millisecond), c.Server, c.WorkDir)
	t.Cleanup(func() { c.Stop() })

	kubectl := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := kubectl("get", "ns")
	if err != nil || !strings.Contains(out, "default") || !strings.Contains(out, "kube-system") {
		t.Fatalf("kubectl get ns: %v\n%s", err, out)
	}
	if out, err := kubectl("create", "ns", "x"); err != nil {
		t.Fatalf("kubectl create ns x: %v\n%s", err, out)
	}
	if out, err := kubectl("get", "ns", "x", "-o", "name"); err != nil || strings.TrimSpace(out) != "namespace/x" {
		t.Fatalf("kubectl get ns x: %v\n%s", err, out)
	}
	if out, err := kubectl("auth", "can-i", "*", "*"); err != nil || strings.TrimSpace(out) != "yes" {
		t.Errorf("the token is not cluster-admin: kubectl auth can-i '*' '*': %v\n%s", err, out)
	}

	t.Run("admission webhook on loopback", func(t *testing.T) {
		testLoopbackWebhook(t, kubectl)
	})

	workDir, pids := c.WorkDir, []int{c.APIServerPID, c.EtcdPID}
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	for _, pid := range pids {
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("process %d is still running after Stop", pid)
		}
	}
	if _, err := os.Stat(workDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary work directory %s survived Stop (stat: %v)", workDir, err)
	}

	t.Run("cancelled context kills the cluster", func(t *testing.T) {
		cctx, ccancel := context.WithCancel(ctx)
		defer ccancel()
		began := time.Now()
		c, err := Start(cctx, Options{Log: testLog{t}, StopGracePeriod: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Stop()
		t.Logf("second Start: %v", time.Since(began).Round(time.Millisecond))
		ccancel()
		select {
		case <-c.Exited():
		case <-time.After(30 * time.Second):
			t.Fatal("the cluster is still running 30s after its context was cancelled")
		}
		if err := c.Stop(); err != nil {
			t.Errorf("Stop after cancellation: %v", err)
		}
	})
	checkNoGoroutines(t)
}

// testLoopbackWebhook registers a validating webhook served on 127.0.0.1 and
// checks that the apiserver calls it.
func testLoopbackWebhook(t *testing.T, kubectl func(...string) (string, error)) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var review struct {
			Request struct {
				UID  string `json:"uid"`
				Name string `json:"name"`
			} `json:"request"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&review); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		allowed := !strings.HasPrefix(review.Request.Name, "denied-")
		json.NewEncoder(w).Encode(map[string]any{
			"apiVersion": "admission.k8s.io/v1",
			"kind":       "AdmissionReview",
			"response": map[string]any{
				"uid":     review.Request.UID,
				"allowed": allowed,
				"status":  map[string]any{"message": "denied by the loopback test webhook"},
			},
		})
	}))
	defer srv.Close()
	caBundle := base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	manifest := fmt.Sprintf(`{
  "apiVersion": "admissionregistration.k8s.io/v1",
  "kind": "ValidatingWebhookConfiguration",
  "metadata": {"name": "loopback-test"},
  "webhooks": [{
    "name": "loopback-test.portcullis.dev",
    "clientConfig": {"url": %q, "caBundle": %q},
    "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["namespaces"]}],
    "failurePolicy": "Fail",
    "sideEffects": "None",
    "admissionReviewVersions": ["v1"],
    "timeoutSeconds": 5
  }]
}`, srv.URL, caBundle)
	path := t.TempDir() + "/webhook.json"
	if err := os.WriteFile(path, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := kubectl("apply", "-f", path); err != nil {
		t.Fatalf("kubectl apply webhook: %v\n%s", err, out)
	}
	// The apiserver picks the configuration up asynchronously.
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		out, err := kubectl("create", "ns", fmt.Sprintf("denied-%d", i))
		if err != nil && strings.Contains(out, "denied by the loopback test webhook") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the webhook at %s was never called; last kubectl output (err %v):\n%s", srv.URL, err, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if out, err := kubectl("create", "ns", "allowed-by-webhook"); err != nil {
		t.Fatalf("kubectl create ns allowed-by-webhook: %v\n%s", err, out)
	}
	if out, err := kubectl("delete", "validatingwebhookconfiguration", "loopback-test"); err != nil {
		t.Fatalf("kubectl delete webhook: %v\n%s", err, out)
	}
}
