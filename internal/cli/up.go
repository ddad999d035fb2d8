package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/portcullis-dev/portcullis/examples"
	"github.com/portcullis-dev/portcullis/internal/localcluster"
	"github.com/portcullis-dev/portcullis/internal/manifest"
)

type upOptions struct {
	policies []string
	workDir  string
	cacheDir string
	addr     string
	logFile  string
	images   imageOptions
}

func newUpCommand(stdio IO) *cobra.Command {
	var o upOptions
	cmd := &cobra.Command{
		Use:   "up [--policies PATH]...",
		Short: "Run a local control plane with portcullis wired in, to try policies with kubectl",
		Long: `Start a local Kubernetes control plane (a real kube-apiserver and etcd, built
from the Go module proxy on first use and cached) with portcullis serving its
admission webhooks, load the policies (the bundled seed policies by default),
and print "kubeconfig: <path>" once everything is ready. Use that kubeconfig with
kubectl. Runs until interrupted, then stops everything and cleans up.

No cluster and no Docker are needed; building kube-apiserver the first time
takes several minutes and needs the Go toolchain.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runUp(cmd.Context(), stdio, o)
		},
	}
	cmd.Flags().StringSliceVar(&o.policies, "policies", nil, "policy files or folders to load (default: the bundled seed policies)")
	cmd.Flags().StringVar(&o.workDir, "work-dir", "", "where the control plane keeps its data, certificates, logs and kubeconfig (default: a temporary folder, removed on exit)")
	cmd.Flags().StringVar(&o.cacheDir, "cache-dir", "", "where kube-apiserver and etcd are built and cached (default $PORTCULLIS_CACHE_DIR or ~/.cache/portcullis)")
	cmd.Flags().StringVar(&o.addr, "addr", "127.0.0.1:0", "address portcullis listens on")
	cmd.Flags().StringVar(&o.logFile, "log-file", "", "write portcullis's logs to this file (default: in the work dir)")
	o.images.addFlags(cmd)
	return cmd
}

func runUp(ctx context.Context, stdio IO, o upOptions) error {
	docs, err := upPolicies(o.policies)
	if err != nil {
		return badInput(err)
	}
	progress := func(format string, args ...any) { fmt.Fprintf(stdio.Err, "up: "+format+"\n", args...) }

	progress("starting kube-apiserver and etcd (the first run builds them, which takes several minutes)")
	cluster, err := localcluster.Start(ctx, localcluster.Options{CacheDir: o.cacheDir, WorkDir: o.workDir, Log: stdio.Err})
	if err != nil {
		return fmt.Errorf("failed to start the control plane: %w", err)
	}
	defer func() {
		progress("stopping the control plane")
		if err := cluster.Stop(); err != nil {
			progress("stop: %v", err)
		}
	}()

	restCfg, err := clientcmd.BuildConfigFromFlags("", cluster.Kubeconfig)
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	const namespace = "portcullis"
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("failed to create namespace %s: %w", namespace, err)
	}

	// Serve in this process, as `portcullis serve --kubeconfig` would, on a
	// loopback port the API server calls.
	addr := o.addr
	if strings.HasSuffix(addr, ":0") {
		if addr, err = freePort(addr); err != nil {
			return err
		}
	}
	logPath := o.logFile
	if logPath == "" {
		logPath = filepath.Join(cluster.WorkDir, "portcullis.log")
	}
	logOut, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logOut.Close()
	serveCtx, stopServe := context.WithCancel(ctx)
	defer stopServe()
	pr, pw := io.Pipe()
	served := make(chan error, 1)
	go func() {
		args := append([]string{"serve", "--kubeconfig", cluster.Kubeconfig, "--addr", addr,
			"--webhook-url", "https://" + addr, "--namespace", namespace, "--leader-elect=false", "--log-format", "json"}, o.images.args()...)
		code := RunWith(serveCtx, args,
			IO{In: strings.NewReader(""), Out: pw, Err: logOut})
		pw.Close()
		served <- fmt.Errorf("portcullis serve exited with code %d (logs in %s)", code, logPath)
	}()
	started := make(chan struct{})
	go func() {
		// serve prints "webhook: <name> <URL>" once it is ready.
		sc := bufio.NewScanner(pr)
		ready := false
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "webhook: ") {
				fmt.Fprintln(stdio.Out, line)
				if !ready {
					ready = true
					close(started)
				}
			}
		}
	}()

	progress("loading %d policy documents", len(docs))
	if err := applyDocuments(ctx, cluster.Kubeconfig, docs, served); err != nil {
		return err
	}
	select {
	case <-started:
	case err := <-served:
		return err
	case <-time.After(2 * time.Minute):
		return errors.New("portcullis did not become ready within 2 minutes (logs in " + logPath + ")")
	}
	if err := waitPoliciesReady(ctx, cluster.Kubeconfig, docs, progress); err != nil {
		return err
	}
	fmt.Fprintf(stdio.Out, "kubeconfig: %s\n", cluster.Kubeconfig)
	progress("ready: export KUBECONFIG=%s, then use kubectl; Ctrl-C stops everything", cluster.Kubeconfig)

	select {
	case <-ctx.Done():
		stopServe()
		<-served
		return nil
	case err := <-served:
		return err
	case <-cluster.Exited():
		return errors.New("the control plane exited (logs in " + cluster.WorkDir + ")")
	}
}

// upPolicies reads the policies to load: the given paths, or the bundled
// examples.
func upPolicies(paths []string) ([]map[string]any, error) {
	var objs []manifest.Object
	if len(paths) > 0 {
		var err error
		if objs, err = manifest.ReadAll(paths, nil); err != nil {
			return nil, err
		}
	} else {
		err := fs.WalkDir(examples.Policies, ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			f, err := examples.Policies.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			return manifest.Decode(f, path, func(o manifest.Object) error {
				objs = append(objs, o)
				return nil
			})
		})
		if err != nil {
			return nil, err
		}
	}
	out := make([]map[string]any, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.Object)
	}
	// Templates before the constraints that need their CRDs.
	sort.SliceStable(out, func(i, j int) bool { return applyOrder(out[i]) < applyOrder(out[j]) })
	return out, nil
}

func applyOrder(obj map[string]any) int {
	apiVersion, _ := obj["apiVersion"].(string)
	switch {
	case strings.HasPrefix(apiVersion, "templates.gatekeeper.sh/"):
		return 0
	case strings.HasPrefix(apiVersion, "constraints.gatekeeper.sh/"):
		return 2
	}
	return 1
}

// applyDocuments creates or updates documents in the cluster, waiting for
// the kinds they need (CRDs that portcullis installs, constraint kinds that
// templates create) to be served.
func applyDocuments(ctx context.Context, kubeconfig string, docs []map[string]any, stopped <-chan error) error {
	restCfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(restCfg)
	if err != nil {
		return err
	}
	cached := memory.NewMemCacheClient(dc)
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(cached)
	dyn, err := dynamic.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	for _, doc := range docs {
		u := &unstructured.Unstructured{Object: doc}
		gvk := u.GroupVersionKind()
		deadline := time.Now().Add(2 * time.Minute)
		for {
			err = applyOne(ctx, dyn, mapper, u)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("failed to load %s %s: %w", gvk.Kind, u.GetName(), err)
			}
			select {
			case err := <-stopped:
				return err
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(500 * time.Millisecond):
				cached.Invalidate()
				mapper.Reset()
			}
		}
	}
	return nil
}

func applyOne(ctx context.Context, dyn dynamic.Interface, mapper meta.RESTMapper, u *unstructured.Unstructured) error {
	gvk := u.GroupVersionKind()
	m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return err
	}
	var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ns := u.GetNamespace()
		if ns == "" {
			ns = "default"
		}
		ri = dyn.Resource(m.Resource).Namespace(ns)
	}
	_, err = ri.Create(ctx, u, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		cur, gerr := ri.Get(ctx, u.GetName(), metav1.GetOptions{})
		if gerr != nil {
			return gerr
		}
		u.SetResourceVersion(cur.GetResourceVersion())
		_, err = ri.Update(ctx, u, metav1.UpdateOptions{})
	}
	return err
}

// waitPoliciesReady waits until portcullis has compiled every loaded
// policy: each has a Ready condition. Policies that are not ready are
// reported, not fatal: the user can inspect them with kubectl.
func waitPoliciesReady(ctx context.Context, kubeconfig string, docs []map[string]any, progress func(string, ...any)) error {
	restCfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(restCfg)
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	dyn, err := dynamic.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	for _, doc := range docs {
		u := &unstructured.Unstructured{Object: doc}
		gvk := u.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			continue
		}
		ri := dyn.Resource(m.Resource).Namespace(u.GetNamespace())
		if m.Scope.Name() != meta.RESTScopeNameNamespace {
			ri = dyn.Resource(m.Resource).Namespace("")
		}
		for {
			cur, err := ri.Get(ctx, u.GetName(), metav1.GetOptions{})
			status, msg := "", ""
			if err == nil {
				conds, _, _ := unstructured.NestedSlice(cur.Object, "status", "conditions")
				for _, c := range conds {
					cm, _ := c.(map[string]any)
					if cm["type"] == "Ready" {
						status, _ = cm["status"].(string)
						msg, _ = cm["message"].(string)
					}
				}
			}
			if status == "True" {
				break
			}
			if status == "False" || time.Now().After(deadline) {
				progress("%s %s is not ready: %s", gvk.Kind, u.GetName(), msg)
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	return nil
}

// freePort resolves HOST:0 to a free port on HOST.
func freePort(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
