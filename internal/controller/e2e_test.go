package controller_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/portcullis-dev/portcullis/internal/cli"
	"github.com/portcullis-dev/portcullis/internal/crds"
	"github.com/portcullis-dev/portcullis/internal/localcluster"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func unstructuredYAML(t *testing.T, s string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(s), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

// TestEndToEnd runs `portcullis serve --kubeconfig` against a real
// kube-apiserver (localcluster) in URL mode: it installs the CRDs, compiles
// a policy, writes its status, registers the webhook, and the API server
// then denies what the policy forbids; `portcullis uninstall --crds` removes
// it all. Set PORTCULLIS_E2E=1 to run it.
func TestEndToEnd(t *testing.T) {
	if os.Getenv("PORTCULLIS_E2E") != "1" {
		t.Skip("set PORTCULLIS_E2E=1 to run portcullis against a real kube-apiserver")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cluster, err := localcluster.Start(ctx, localcluster.Options{StopGracePeriod: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Stop()
	cfg, err := clientcmd.BuildConfigFromFlags("", cluster.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	kube := kubernetes.NewForConfigOrDie(cfg)
	dyn := dynamic.NewForConfigOrDie(cfg)
	ext := apiextensionsclient.NewForConfigOrDie(cfg)
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "portcullis"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	serveCtx, stopServe := context.WithCancel(ctx)
	var out, errOut syncBuffer
	served := make(chan int, 1)
	go func() {
		served <- cli.RunWith(serveCtx, []string{"serve", "--kubeconfig", cluster.Kubeconfig, "--addr", addr,
			"--webhook-url", "https://" + addr, "--namespace", "portcullis", "--log-level", "debug"},
			cli.IO{In: strings.NewReader(""), Out: &out, Err: &errOut})
	}()
	defer func() {
		stopServe()
		<-served
		if t.Failed() {
			t.Logf("serve stdout:\n%s\nserve stderr:\n%s", out.String(), errOut.String())
		}
	}()
	eventually := func(what string, timeout time.Duration, cond func() error) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for {
			err := cond()
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v", what, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	// The CRDs are installed and served.
	all, err := crds.All()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range all {
		names = append(names, c.Name)
	}
	if err := crds.WaitEstablished(ctx, ext, names...); err != nil {
		t.Fatal(err)
	}

	// A policy compiles, its status says so, and its webhook is registered.
	cpol := policyGVR
	policy := unstructuredYAML(t, `
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: require-team}
spec:
  validationFailureAction: Enforce
  rules:
  - name: team
    match: {any: [{resources: {kinds: [ConfigMap]}}]}
    validate:
      message: "the label team is required"
      pattern: {metadata: {labels: {team: "?*"}}}
`)
	if _, err := dyn.Resource(cpol).Create(ctx, policy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually("the policy is Ready", time.Minute, func() error {
		u, err := dyn.Resource(cpol).Get(ctx, "require-team", metav1.GetOptions{})
		if err != nil {
			return err
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			if m := c.(map[string]any); m["type"] == "Ready" && m["status"] == "True" {
				return nil
			}
		}
		return fmt.Errorf("status %v", u.Object["status"])
	})
	var hook admissionregistrationv1.ValidatingWebhook
	eventually("the validating webhook", time.Minute, func() error {
		v, err := kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "portcullis-validating", metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, w := range v.Webhooks {
			if w.Name == "validate.kyverno.svc-fail" {
				hook = w
				return nil
			}
		}
		return fmt.Errorf("webhooks %v", v.Webhooks)
	})
	if hook.ClientConfig.URL == nil || *hook.ClientConfig.URL != "https://"+addr+"/validate/fail" || len(hook.ClientConfig.CABundle) == 0 {
		t.Errorf("client config %+v", hook.ClientConfig)
	}
	eventually("the webhook line", 10*time.Second, func() error {
		if want := "webhook: validate.kyverno.svc-fail https://" + addr + "/validate/fail\n"; !strings.Contains(out.String(), want) {
			return fmt.Errorf("stdout %q; want %q", out.String(), want)
		}
		return nil
	})

	// The API server denies what the policy forbids.
	eventually("a ConfigMap without a team is denied", time.Minute, func() error {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "no-team-", Namespace: "default"}}
		_, err := kube.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err == nil {
			return fmt.Errorf("admitted")
		}
		if !strings.Contains(err.Error(), "require-team") || !strings.Contains(err.Error(), "validate.kyverno.svc-fail") {
			return fmt.Errorf("unexpected error: %v", err)
		}
		t.Logf("denied: %v", err)
		return nil
	})
	ok := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "with-team", Namespace: "default", Labels: map[string]string{"team": "a"}}}
	if _, err := kube.CoreV1().ConfigMaps("default").Create(ctx, ok, metav1.CreateOptions{}); err != nil {
		t.Errorf("a ConfigMap with a team was denied: %v", err)
	}
	// portcullis's own namespace is never sent to the webhook.
	own := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "own", Namespace: "portcullis"}}
	if _, err := kube.CoreV1().ConfigMaps("portcullis").Create(ctx, own, metav1.CreateOptions{}); err != nil {
		t.Errorf("a ConfigMap in portcullis's namespace was denied: %v", err)
	}

	// A broken policy is reported in its status.
	broken := unstructuredYAML(t, `
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: broken}
spec:
  rules:
  - match: {any: [{resources: {kinds: [Pod]}}]}
    validate: {pattern: {metadata: {labels: {team: "?*"}}}}
`)
	if _, err := dyn.Resource(cpol).Create(ctx, broken, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually("the broken policy is not Ready", time.Minute, func() error {
		u, err := dyn.Resource(cpol).Get(ctx, "broken", metav1.GetOptions{})
		if err != nil {
			return err
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			if m := c.(map[string]any); m["type"] == "Ready" && m["status"] == "False" {
				t.Logf("broken policy: %v: %v", m["reason"], m["message"])
				return nil
			}
		}
		return fmt.Errorf("status %v", u.Object["status"])
	})
	if kubectl, err := exec.LookPath("kubectl"); err == nil {
		table, err := exec.CommandContext(ctx, kubectl, "--kubeconfig", cluster.Kubeconfig, "get", "cpol").CombinedOutput()
		t.Logf("kubectl get cpol:\n%s", table)
		if err != nil || !strings.Contains(string(table), "READY") {
			t.Errorf("kubectl get cpol: %v", err)
		}
	}

	// A ConstraintTemplate gets its constraint CRD, which the real API
	// server accepts, and status.created.
	tmpl := unstructuredYAML(t, `
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: k8srequiredlabels}
spec:
  crd:
    spec:
      names: {kind: K8sRequiredLabels}
      validation:
        openAPIV3Schema:
          type: object
          properties:
            labels: {type: array, items: {type: string}}
  targets:
  - target: admission.k8s.gatekeeper.sh
    rego: |
      package k8srequiredlabels
      violation[{"msg": "missing labels"}] { false }
`)
	if _, err := dyn.Resource(templateGVR).Create(ctx, tmpl, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := crds.WaitEstablished(ctx, ext, "k8srequiredlabels.constraints.gatekeeper.sh"); err != nil {
		t.Fatal(err)
	}
	eventually("the template is created", time.Minute, func() error {
		u, err := dyn.Resource(templateGVR).Get(ctx, "k8srequiredlabels", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if created, _, _ := unstructured.NestedBool(u.Object, "status", "created"); !created {
			return fmt.Errorf("status %v", u.Object["status"])
		}
		return nil
	})
	constraint := unstructuredYAML(t, `
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sRequiredLabels
metadata: {name: must-have-owner}
spec:
  match: {kinds: [{apiGroups: [""], kinds: [Namespace]}]}
  parameters: {labels: [owner], unknown: kept-or-pruned}
`)
	if _, err := dyn.Resource(constraintGVR).Create(ctx, constraint, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Uninstall removes the webhook configurations and the CRDs.
	stopServe()
	if code := <-served; code != 0 {
		t.Errorf("serve exited with %d", code)
	}
	served <- 0
	var uout, uerr bytes.Buffer
	if code := cli.RunWith(ctx, []string{"uninstall", "--kubeconfig", cluster.Kubeconfig, "--crds"}, cli.IO{In: strings.NewReader(""), Out: &uout, Err: &uerr}); code != 0 {
		t.Fatalf("uninstall exited with %d: %s", code, uerr.String())
	}
	t.Logf("uninstall:\n%s", uout.String())
	for _, want := range []string{"ValidatingWebhookConfiguration/portcullis-validating", "CustomResourceDefinition/clusterpolicies.kyverno.io",
		"CustomResourceDefinition/k8srequiredlabels.constraints.gatekeeper.sh"} {
		if !strings.Contains(uout.String(), want) {
			t.Errorf("uninstall did not delete %s", want)
		}
	}
	if _, err := kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "portcullis-validating", metav1.GetOptions{}); err == nil {
		t.Error("the validating webhook configuration is still there")
	}
}
