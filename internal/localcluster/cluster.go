package localcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Cluster is a running local control plane: one etcd and one kube-apiserver
// on loopback. Its exported fields describe it and must not be changed.
//
// There is no controller manager, scheduler or kubelet: objects are stored
// and admitted (admission webhooks and policies run) but nothing reconciles
// them, no Pod runs and no default ServiceAccount is created.
type Cluster struct {
	// Kubeconfig is the path of a kubeconfig file for Server, CACert and
	// Token, usable as `kubectl --kubeconfig PATH`.
	Kubeconfig string
	// Server is the apiserver's URL, https://127.0.0.1:PORT.
	Server string
	// CACert is the PEM certificate of the CA that signed the apiserver's
	// serving certificate.
	CACert []byte
	// Token is a bearer token for a member of system:masters: full access.
	Token string

	// WorkDir holds the cluster's files: etcd data, certificates, the token
	// file, the kubeconfig and the logs.
	WorkDir string
	// EtcdURL is etcd's client URL, http://127.0.0.1:PORT (no TLS, no
	// authentication: any local user can reach it).
	EtcdURL string
	// APIServerPID and EtcdPID are the processes' IDs; each leads its own
	// process group.
	APIServerPID, EtcdPID int
	// APIServerLog and EtcdLog are the paths of the processes' output.
	APIServerLog, EtcdLog string

	apiserver, etcd *process
	removeWorkDir   bool
	grace           time.Duration
	exited          chan struct{} // closed when either process has exited
	stopping        chan struct{} // closed by Stop; ends the context watcher
	watcherDone     chan struct{} // closed when the context watcher returns
	stopOnce        sync.Once
	stopErr         error
}

// Start builds or reuses the binaries (see EnsureBinaries), starts etcd and
// kube-apiserver on free loopback ports, and returns once the apiserver's
// /readyz answers 200, or fails within opts.StartTimeout with the end of the
// failing process's log.
//
// ctx bounds the cluster's life as well as the start: when ctx is done, both
// processes are killed. Callers must call Stop in every case, which also
// removes a temporary work directory.
//
// The cluster listens on loopback only, but etcd has no authentication, so
// every local user can read and write the cluster's data; it is meant for
// tests and playgrounds, never for real workloads.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	cfg, err := opts.resolve(os.Getenv, os.UserHomeDir)
	if err != nil {
		return nil, err
	}
	bins, err := ensureBinaries(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return start(ctx, cfg, bins)
}

func start(ctx context.Context, cfg config, bins Binaries) (*Cluster, error) {
	began := time.Now()
	c := &Cluster{
		grace:       cfg.stopGracePeriod,
		exited:      make(chan struct{}),
		stopping:    make(chan struct{}),
		watcherDone: make(chan struct{}),
	}
	if err := c.prepareWorkDir(cfg.workDir); err != nil {
		return nil, err
	}
	if err := c.run(ctx, cfg, bins); err != nil {
		c.stopProcesses()
		if c.removeWorkDir {
			os.RemoveAll(c.WorkDir)
		}
		return nil, fmt.Errorf("failed to start the local cluster: %w", err)
	}
	go c.watch(ctx)
	fmt.Fprintf(cfg.log, "cluster ready at %s in %s (kubeconfig: %s)\n", c.Server, time.Since(began).Round(100*time.Millisecond), c.Kubeconfig)
	return c, nil
}

// prepareWorkDir creates the work directory, or a temporary one.
func (c *Cluster) prepareWorkDir(dir string) error {
	if dir == "" {
		tmp, err := os.MkdirTemp("", "portcullis-cluster-")
		if err != nil {
			return fmt.Errorf("failed to create a work directory: %w", err)
		}
		c.WorkDir, c.removeWorkDir = tmp, true
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("invalid WorkDir: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return fmt.Errorf("failed to create the work directory: %w", err)
	}
	c.WorkDir = abs
	return nil
}

// run writes the cluster's files, then starts etcd and the apiserver and
// waits for each. On error, the caller stops whatever was started.
func (c *Cluster) run(ctx context.Context, cfg config, bins Binaries) error {
	l := layout{dir: c.WorkDir}
	creds, err := newCredentials(time.Now())
	if err != nil {
		return err
	}
	if err := writeFiles(l, creds); err != nil {
		return err
	}
	p, err := freePorts()
	if err != nil {
		return err
	}
	c.CACert, c.Token = creds.caCert, creds.token
	c.Server = loopbackURL("https", p.apiserver)
	c.EtcdURL = loopbackURL("http", p.etcdClient)
	c.EtcdLog, c.APIServerLog = l.etcdLog(), l.apiserverLog()
	env := serverEnv(os.Environ())
	probe, err := newProber(creds.caCert, creds.token)
	if err != nil {
		return err
	}
	defer probe.close()

	fmt.Fprintf(cfg.log, "starting etcd %s at %s...\n", cfg.etcdVersion, c.EtcdURL)
	c.etcd, err = startProcess(etcdComponent, bins.Etcd, etcdArgs(l, p), env, l.etcdLog())
	if err != nil {
		return err
	}
	c.EtcdPID = c.etcd.pid()
	if err := waitReady(ctx, cfg.startTimeout, c.etcd, func(ctx context.Context) error {
		return probe.etcdHealthy(ctx, c.EtcdURL)
	}); err != nil {
		return err
	}

	fmt.Fprintf(cfg.log, "starting kube-apiserver %s at %s...\n", cfg.kubernetesVersion, c.Server)
	c.apiserver, err = startProcess(apiserverComponent, bins.APIServer, apiserverArgs(l, p, cfg.apiserverFlags), env, l.apiserverLog())
	if err != nil {
		return err
	}
	c.APIServerPID = c.apiserver.pid()
	go func(apiserver, etcd *process) {
		select {
		case <-apiserver.exited:
		case <-etcd.exited:
		}
		close(c.exited)
	}(c.apiserver, c.etcd)
	if err := waitReady(ctx, cfg.startTimeout, c.apiserver, func(ctx context.Context) error {
		return probe.apiserverReady(ctx, c.Server)
	}); err != nil {
		return err
	}

	c.Kubeconfig = l.kubeconfig()
	if err := os.WriteFile(c.Kubeconfig, kubeconfig(c.Server, c.CACert, c.Token), 0o600); err != nil {
		return fmt.Errorf("failed to write the kubeconfig: %w", err)
	}
	return nil
}

// writeFiles writes the credentials where the apiserver flags expect them,
// and empties the etcd data directory.
func writeFiles(l layout, creds credentials) error {
	if err := os.RemoveAll(l.etcdData()); err != nil {
		return fmt.Errorf("failed to clear the etcd data directory: %w", err)
	}
	if err := os.MkdirAll(l.certDir(), 0o700); err != nil {
		return fmt.Errorf("failed to create the certificate directory: %w", err)
	}
	for _, f := range []struct {
		path string
		data []byte
	}{
		{l.caCert(), creds.caCert},
		{l.servingCert(), creds.servingCert},
		{l.servingKey(), creds.servingKey},
		{l.saKey(), creds.saKey},
		{l.saPublicKey(), creds.saPublicKey},
		{l.tokenFile(), tokenAuthFile(creds.token)},
	} {
		if err := os.WriteFile(f.path, f.data, 0o600); err != nil {
			return fmt.Errorf("failed to write %s: %w", filepath.Base(f.path), err)
		}
	}
	return nil
}

// watch kills the processes when ctx is done, unless Stop comes first.
func (c *Cluster) watch(ctx context.Context) {
	defer close(c.watcherDone)
	select {
	case <-ctx.Done():
		c.stopProcesses()
	case <-c.stopping:
	}
}

// Exited returns a channel that is closed when kube-apiserver or etcd has
// exited, whether through Stop, the end of Start's context or a crash.
func (c *Cluster) Exited() <-chan struct{} { return c.exited }

// Stop stops kube-apiserver, then etcd: SIGTERM to each process group, and
// SIGKILL after the grace period (Options.StopGracePeriod). It then removes
// the work directory if Start created it. Stop waits for both processes to
// exit; it is safe to call more than once, and returns the first call's
// result.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		close(c.stopping)
		<-c.watcherDone
		err := c.stopProcesses()
		if c.removeWorkDir {
			if rmErr := os.RemoveAll(c.WorkDir); rmErr != nil {
				err = errors.Join(err, fmt.Errorf("failed to remove the work directory: %w", rmErr))
			}
		}
		c.stopErr = err
	})
	return c.stopErr
}

// stopProcesses stops the apiserver, then etcd, skipping any not started.
func (c *Cluster) stopProcesses() error {
	var errs []error
	for _, p := range []*process{c.apiserver, c.etcd} {
		if p != nil {
			errs = append(errs, p.stop(c.grace))
		}
	}
	return errors.Join(errs...)
}
