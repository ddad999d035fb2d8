package cli

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/portcullis-dev/portcullis/internal/certs"
	"github.com/portcullis-dev/portcullis/internal/controller"
	"github.com/portcullis-dev/portcullis/internal/crds"
	"github.com/portcullis-dev/portcullis/internal/externaldata"
	"github.com/portcullis-dev/portcullis/internal/leader"
	"github.com/portcullis-dev/portcullis/internal/webhook"
	"github.com/portcullis-dev/portcullis/internal/webhookconfig"
)

// certRefresh is how often the serving certificate, the CA and the CA
// bundle are checked.
const certRefresh = time.Minute

// clusterOptions configure `serve` against a cluster: policies from the
// API, webhook configurations and certificates managed in the cluster.
type clusterOptions struct {
	kubeconfig        string
	namespace         string
	serviceName       string
	servicePort       int32
	webhookURL        string
	excludeNamespaces []string
	leaderElect       bool
	installCRDs       bool
	caBundleFile      string
	caSecret          string
	syncKinds         []string
	flags             *pflag.FlagSet
}

func (c *clusterOptions) addFlags(cmd *cobra.Command) {
	c.flags = cmd.Flags()
	ns := os.Getenv("POD_NAMESPACE")
	if ns == "" {
		ns = "portcullis"
	}
	f := cmd.Flags()
	f.StringVar(&c.kubeconfig, "kubeconfig", "", "serve the policies of the cluster this kubeconfig names (in a pod, the pod's service account is used without it)")
	f.StringVar(&c.namespace, "namespace", ns, "portcullis's own namespace: the CA secret, the leader lease and the Gatekeeper Config live there, and it is never sent to the webhooks (default $POD_NAMESPACE or portcullis)")
	f.StringVar(&c.serviceName, "service-name", "portcullis", "the Service in front of portcullis, which the webhook configurations name")
	f.Int32Var(&c.servicePort, "service-port", 443, "the port of that Service")
	f.StringVar(&c.webhookURL, "webhook-url", "", "the base URL the API server calls instead of the Service, when portcullis runs outside the cluster, e.g. https://127.0.0.1:9443")
	f.StringSliceVar(&c.excludeNamespaces, "exclude-namespaces", []string{"kube-system"}, "namespaces never sent to the webhooks, besides --namespace")
	f.BoolVar(&c.leaderElect, "leader-elect", true, "elect one replica with a Lease to install CRDs, rotate the CA, write policy status and manage the webhook configurations; with false this replica does it")
	f.BoolVar(&c.installCRDs, "install-crds", true, "create or update the CustomResourceDefinitions of every policy kind served")
	f.StringVar(&c.caBundleFile, "ca-bundle-file", "", "with --tls-cert-file: the CA bundle (PEM) the webhook configurations trust, e.g. cert-manager's ca.crt; reloaded when it changes")
	f.StringVar(&c.caSecret, "ca-secret", certs.DefaultSecretName, "without --tls-cert-file: the Secret in --namespace that holds the self-signed CA")
	f.StringSliceVar(&c.syncKinds, "sync-kinds", nil, "kinds whose objects Gatekeeper policies may read from data.inventory, as group/version/Kind or version/Kind (e.g. v1/Namespace,networking.k8s.io/v1/Ingress), besides those the Gatekeeper Config named config in --namespace lists under spec.sync.syncOnly")
}

// enabled reports whether serve runs against a cluster: with --kubeconfig,
// or in a pod when no --policies are given.
func (c *clusterOptions) enabled() bool {
	if c.kubeconfig != "" {
		return true
	}
	return inCluster() && (c.flags == nil || !c.flags.Changed("policies"))
}

// inCluster reports whether the process runs in a pod with a service
// account.
func inCluster() bool {
	if os.Getenv("KUBERNETES_SERVICE_HOST") == "" {
		return false
	}
	_, err := os.Stat("/var/run/secrets/kubernetes.io/serviceaccount/token")
	return err == nil
}

func (c *clusterOptions) restConfig() (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if c.kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	} else {
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("failed to load the cluster configuration: %w", err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	cfg.UserAgent = "portcullis/" + Version
	return cfg, nil
}

// parseKinds parses group/version/Kind and version/Kind.
func parseKinds(in []string) ([]schema.GroupVersionKind, error) {
	var out []schema.GroupVersionKind
	var errs []error
	for _, s := range in {
		parts := strings.Split(s, "/")
		switch len(parts) {
		case 2:
			out = append(out, schema.GroupVersionKind{Version: parts[0], Kind: parts[1]})
		case 3:
			out = append(out, schema.GroupVersionKind{Group: parts[0], Version: parts[1], Kind: parts[2]})
		default:
			errs = append(errs, fmt.Errorf("invalid --sync-kinds entry %q: want group/version/Kind or version/Kind", s))
		}
	}
	return out, errors.Join(errs...)
}

// identity names this replica: the pod's name (or the host's) and a random
// suffix, so that a restarted pod is a new candidate.
func identity() string {
	name := os.Getenv("POD_NAME")
	if name == "" {
		name, _ = os.Hostname()
	}
	b := make([]byte, 4)
	rand.Read(b)
	return name + "_" + hex.EncodeToString(b)
}

// clusterTLS keeps the serving certificate and the CA bundle: from files
// (cert-manager) or from the CA in a Secret.
type clusterTLS struct {
	files      *certs.FileSource
	bundleFile string
	ca         *certs.SecretCA
	serving    *certs.Serving
}

// refresh reloads or renews the serving certificate and returns the CA
// bundle. The leader also moves the CA's rotation on.
func (t *clusterTLS) refresh(ctx context.Context, leading bool) ([]byte, error) {
	if t.files != nil {
		if _, err := t.files.Reload(); err != nil {
			return nil, err
		}
		return os.ReadFile(t.bundleFile)
	}
	var a *certs.Authority
	var err error
	if leading {
		a, _, err = t.ca.Rotate(ctx)
	} else {
		a, err = t.ca.Load(ctx)
	}
	if err != nil {
		return nil, err
	}
	if _, err := t.serving.Sync(a, time.Now()); err != nil {
		return nil, err
	}
	return a.Bundle, nil
}

// runServeCluster serves the policies of a cluster: every replica watches
// and compiles the policies and serves admission; the leader installs the
// CRDs, rotates the CA, writes policy status, creates constraint CRDs and
// keeps the webhook configurations up to date.
func runServeCluster(ctx context.Context, stdio IO, log logr.Logger, o serveOptions) error {
	c := o.cluster
	if c.webhookURL != "" && c.flags.Changed("service-name") {
		return badInput(errors.New("--webhook-url and --service-name are mutually exclusive"))
	}
	if (o.certFile == "") != (o.keyFile == "") || (o.certFile != "") != (c.caBundleFile != "") {
		return badInput(errors.New("--tls-cert-file, --tls-private-key-file and --ca-bundle-file go together"))
	}
	syncKinds, err := parseKinds(c.syncKinds)
	if err != nil {
		return badInput(err)
	}
	addr := o.addr
	if inCluster() && !c.flags.Changed("addr") {
		addr = ":9443"
	}
	hookCfg := webhookconfig.Config{ExcludeNamespaces: append([]string{c.namespace}, c.excludeNamespaces...)}
	var hosts []string
	if c.webhookURL != "" {
		hookCfg.URL = c.webhookURL
		u, err := url.Parse(c.webhookURL)
		if err != nil {
			return badInput(fmt.Errorf("invalid --webhook-url: %w", err))
		}
		hosts = append([]string{u.Hostname()}, "localhost", "127.0.0.1", "::1")
	} else {
		hookCfg.Service = &webhookconfig.Service{Namespace: c.namespace, Name: c.serviceName, Port: c.servicePort}
		hosts = certs.ServiceHosts(c.serviceName, c.namespace)
	}
	if err := hookCfg.Validate(); err != nil {
		return badInput(err)
	}

	restCfg, err := c.restConfig()
	if err != nil {
		return badInput(err)
	}
	kube, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	ext, err := apiextensionsclient.NewForConfig(restCfg)
	if err != nil {
		return err
	}

	store := &certs.Store{}
	tlsSrc := &clusterTLS{bundleFile: c.caBundleFile}
	if o.certFile != "" {
		if tlsSrc.files, err = certs.NewFileSource(store, o.certFile, o.keyFile); err != nil {
			return badInput(err)
		}
	} else {
		tlsSrc.ca = &certs.SecretCA{Client: kube, Namespace: c.namespace, Name: c.caSecret}
		tlsSrc.serving = &certs.Serving{Store: store, Hosts: hosts}
	}
	bundle, err := tlsSrc.refresh(ctx, false)
	if err != nil {
		return fmt.Errorf("failed to set up the serving certificate: %w", err)
	}

	// An installed policy-controller enforces its namespaces before any
	// ClusterImagePolicy exists, and reads the Secrets of key.secretRef
	// from its own namespace: portcullis reads them from its own.
	eng, reg, err := o.images.engine(controller.SecretGetter{Kube: kube}, engineOptions{sigstoreStanding: true, sigstoreSecretNamespace: c.namespace})
	if err != nil {
		return badInput(err)
	}
	// External data providers get the serving certificate as their client
	// certificate, as Gatekeeper presents its own.
	external, err := externaldata.New(externaldata.WithClientCertificate(func() (*tls.Certificate, error) {
		return store.GetCertificate(nil)
	}))
	if err != nil {
		return err
	}
	defer external.Close()
	reconciler, err := webhookconfig.NewReconciler(kube, kube.Discovery(), hookCfg, log.WithName("webhookconfig"))
	if err != nil {
		return badInput(err)
	}
	reconciler.SetCABundle(bundle)
	metrics := webhook.NewMetrics()
	if err := registerRegistryMetrics(metrics.Registry(), reg); err != nil {
		return err
	}
	var ctrl *controller.Controller
	srv := webhook.New(log, metrics, func() error { return ctrl.Synced() })
	srv.SetDenialLogRate(o.denialLogRate)
	id := identity()
	ctrl, err = controller.New(controller.Options{
		Engine: eng, Dynamic: dyn, Kube: kube, CRDs: ext, REST: restCfg,
		Namespace: c.namespace, Identity: strings.SplitN(id, "_", 2)[0], SyncKinds: syncKinds, ExternalData: external,
		Registry: reg,
		Log:      log.WithName("controller"),
		Publish: func(s controller.Snapshot) {
			snap := webhook.NewSnapshot(s.Set, s.Cluster)
			srv.Update(snap)
			reconciler.Update(snap.Sets, webhookconfig.HintsByPolicy(eng, s.Documents))
		},
	})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("failed to listen on %s: %w", addr, err)
	}
	httpSrv := &http.Server{
		Handler:           srv.Handler(),
		TLSConfig:         store.TLSConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logr.ToSlogHandler(log), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- httpSrv.ServeTLS(ln, "", "") }()

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	goRun := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	var leading atomic.Bool
	goRun(func() { ctrl.Run(runCtx) })
	goRun(func() {
		ticker := time.NewTicker(certRefresh)
		defer ticker.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-ticker.C:
			}
			bundle, err := tlsSrc.refresh(runCtx, leading.Load())
			if err != nil {
				log.Error(err, "failed to refresh the serving certificate")
				continue
			}
			reconciler.SetCABundle(bundle)
		}
	})
	lead := func(ctx context.Context) {
		leading.Store(true)
		defer leading.Store(false)
		var lwg sync.WaitGroup
		lgo := func(f func()) {
			lwg.Add(1)
			go func() { defer lwg.Done(); f() }()
		}
		if c.installCRDs {
			lgo(func() { installCRDs(ctx, ext, log) })
		}
		lgo(func() { reconciler.Run(ctx, 0) })
		lgo(func() { ctrl.RunLeader(ctx) })
		lwg.Wait()
	}
	if c.leaderElect {
		goRun(func() {
			err := leader.Run(runCtx, leader.Config{Client: kube, Namespace: c.namespace, Identity: id, Log: log.WithName("leader")}, lead)
			if err != nil {
				log.Error(err, "leader election failed")
			}
		})
	} else {
		goRun(func() { lead(runCtx) })
	}
	goRun(func() { announce(runCtx, stdio, srv, hookCfg, log) })

	select {
	case err = <-errc:
		err = fmt.Errorf("server stopped: %w", err)
	case <-ctx.Done():
		log.Info("shutting down", "drain", o.drainAfter)
		sctx, cancel := context.WithTimeout(context.Background(), o.drainAfter)
		defer cancel()
		if serr := httpSrv.Shutdown(sctx); serr != nil {
			err = fmt.Errorf("shutdown: %w", serr)
		}
	}
	stop()
	wg.Wait()
	return err
}

// installCRDs applies the embedded CRDs, retrying until it succeeds or ctx
// ends.
func installCRDs(ctx context.Context, client apiextensionsclient.Interface, log logr.Logger) {
	all, err := crds.All()
	if err != nil {
		log.Error(err, "failed to read the embedded CRDs")
		return
	}
	for delay := time.Second; ; delay = min(2*delay, time.Minute) {
		if err = crds.Apply(ctx, client, log.WithName("crds"), all...); err == nil {
			log.Info("installed the CRDs", "count", len(all))
			return
		}
		log.Error(err, "failed to install the CRDs; retrying", "after", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}

// announce prints, once the server is ready, the "webhook: <name> <URL>"
// line of every webhook it serves, as file mode does; and then the line of
// every webhook that starts being served later, when its first policy is
// created.
func announce(ctx context.Context, stdio IO, srv *webhook.Server, cfg webhookconfig.Config, log logr.Logger) {
	base := strings.TrimSuffix(cfg.URL, "/")
	if cfg.Service != nil {
		base = fmt.Sprintf("https://%s.%s.svc:%d", cfg.Service.Name, cfg.Service.Namespace, cfg.Service.Port)
	}
	ticker := time.NewTicker(250 * time.Millisecond)
	defer ticker.Stop()
	printed := map[string]bool{}
	ready := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if srv.Ready() != nil {
			continue
		}
		if !ready {
			ready = true
			log.Info("ready", "webhooks", len(srv.ServedEndpoints()))
		}
		for _, e := range srv.ServedEndpoints() {
			if !printed[e.Name] {
				printed[e.Name] = true
				fmt.Fprintf(stdio.Out, "webhook: %s %s%s\n", e.Name, base, e.Path)
			}
		}
	}
}
