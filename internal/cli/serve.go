package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"

	"github.com/portcullis-dev/portcullis/internal/certs"
	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/logging"
	"github.com/portcullis-dev/portcullis/internal/manifest"
	"github.com/portcullis-dev/portcullis/internal/webhook"
)

type serveOptions struct {
	cluster       clusterOptions
	policies      []string
	addr          string
	certFile      string
	keyFile       string
	certDir       string
	logFormat     string
	logLevel      string
	denialLogRate int
	drainAfter    time.Duration
	cpuProfile    string
	// images configures the registry client and the trust roots.
	images imageOptions
}

func newServeCommand(stdio IO) *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve --policies DIR --addr HOST:PORT",
		Short: "Serve the admission webhooks for policies read from files",
		Long: `Serve the validating and mutating admission webhooks over HTTPS for the policies
in the given files or folders, with no cluster at all. Without --tls-cert-file a
self-signed CA and serving certificate are created (written to --cert-dir).
Once ready it prints one line per webhook it serves: "webhook: <name> <URL>".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), stdio, o)
		},
	}
	cmd.Flags().StringSliceVar(&o.policies, "policies", nil, "policy files or folders (repeatable)")
	cmd.Flags().StringVar(&o.addr, "addr", "127.0.0.1:9443", "address to listen on")
	cmd.Flags().StringVar(&o.certFile, "tls-cert-file", "", "serving certificate (PEM); reloaded when it changes")
	cmd.Flags().StringVar(&o.keyFile, "tls-private-key-file", "", "serving key (PEM)")
	cmd.Flags().StringVar(&o.certDir, "cert-dir", "", "where the self-signed CA and certificate are written (default: a temporary folder)")
	cmd.Flags().StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	cmd.Flags().StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	cmd.Flags().IntVar(&o.denialLogRate, "denial-log-rate", webhook.DefaultDenialLogRate, "most denial log lines per second (every denial is still counted in the metrics); 0 logs them all")
	cmd.Flags().DurationVar(&o.drainAfter, "shutdown-timeout", 10*time.Second, "how long to drain connections on shutdown")
	cmd.Flags().StringVar(&o.cpuProfile, "cpu-profile", "", "write a CPU profile to this file until shutdown (for performance work)")
	cmd.Flags().MarkHidden("cpu-profile")
	o.cluster.addFlags(cmd)
	o.images.addFlags(cmd)
	return cmd
}

// newLogger returns a logr logger writing to w through log/slog.
func newLogger(w io.Writer, format, level string) (logr.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return logr.Logger{}, fmt.Errorf("invalid --log-level %q", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "json":
		return logr.FromSlogHandler(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return logr.FromSlogHandler(slog.NewTextHandler(w, opts)), nil
	}
	return logr.Logger{}, fmt.Errorf("invalid --log-format %q: use text or json", format)
}

func runServe(ctx context.Context, stdio IO, o serveOptions) error {
	// Log lines are written out in batches, so that one line per denial
	// does not cost a system call per denial under load.
	logOut := logging.NewWriter(stdio.Err, 250*time.Millisecond)
	defer logOut.Close()
	log, err := newLogger(logOut, o.logFormat, o.logLevel)
	if err != nil {
		return badInput(err)
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return badInput(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	serverGC()
	if o.cluster.enabled() {
		return runServeCluster(ctx, stdio, log, o)
	}
	if len(o.policies) == 0 {
		return badInput(errors.New("serve needs --policies (or --kubeconfig, or to run in a cluster)"))
	}
	if (o.certFile == "") != (o.keyFile == "") {
		return badInput(errors.New("--tls-cert-file and --tls-private-key-file go together"))
	}
	// Without a cluster there are no namespace labels to opt in with:
	// ClusterImagePolicies apply in every namespace, as in apply.
	eng, reg, err := o.images.engine(nil, engineOptions{includeAllNamespaces: true})
	if err != nil {
		return badInput(err)
	}
	set, err := compileFiles(eng, o.policies, stdio.In)
	if err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(o.addr)
	if err != nil {
		return badInput(fmt.Errorf("invalid --addr %q: %w", o.addr, err))
	}

	store := &certs.Store{}
	var files *certs.FileSource
	if o.certFile != "" {
		if files, err = certs.NewFileSource(store, o.certFile, o.keyFile); err != nil {
			return badInput(err)
		}
	} else {
		caFile, err := selfSign(store, o.certDir, host)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdio.Out, "ca-bundle: %s\n", caFile)
	}

	metrics := webhook.NewMetrics()
	if err := registerRegistryMetrics(metrics.Registry(), reg); err != nil {
		return err
	}
	srv := webhook.New(log, metrics, nil)
	srv.SetDenialLogRate(o.denialLogRate)
	srv.Update(webhook.NewSnapshot(set, engine.Cluster{Registry: reg}))

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("failed to listen on %s: %w", o.addr, err)
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

	addr := ln.Addr().String()
	for _, e := range srv.ServedEndpoints() {
		fmt.Fprintf(stdio.Out, "webhook: %s https://%s%s\n", e.Name, addr, e.Path)
	}
	log.Info("serving", "addr", addr, "policies", set.Len())

	reload := time.NewTicker(10 * time.Second)
	defer reload.Stop()
	for {
		select {
		case err := <-errc:
			return fmt.Errorf("server stopped: %w", err)
		case <-reload.C:
			if files != nil {
				if changed, err := files.Reload(); err != nil {
					log.Error(err, "failed to reload the serving certificate")
				} else if changed {
					log.Info("reloaded the serving certificate")
				}
			}
		case <-ctx.Done():
			log.Info("shutting down", "drain", o.drainAfter)
			sctx, cancel := context.WithTimeout(context.Background(), o.drainAfter)
			defer cancel()
			if err := httpSrv.Shutdown(sctx); err != nil {
				return fmt.Errorf("shutdown: %w", err)
			}
			return nil
		}
	}
}

// compileFiles reads the policies in paths and compiles them with eng.
func compileFiles(eng *engine.Engine, paths []string, stdin io.Reader) (*engine.Set, error) {
	objs, err := manifest.ReadAll(paths, stdin)
	if err != nil {
		return nil, badInput(err)
	}
	docs := make([]engine.Document, 0, len(objs))
	for _, p := range objs {
		docs = append(docs, engine.Document{Source: p.Source, Object: p.Object})
	}
	set, errs := eng.Compile(docs)
	if len(errs) > 0 {
		return nil, badInput(errs.ToAggregate())
	}
	return set, nil
}

// selfSign creates a CA and a serving certificate for host (and localhost),
// installs it and writes the CA bundle to dir. It returns the bundle's path.
func selfSign(store *certs.Store, dir, host string) (string, error) {
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "portcullis-certs-"); err != nil {
			return "", err
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	now := time.Now()
	ca, err := certs.NewCA("portcullis-ca", now)
	if err != nil {
		return "", err
	}
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if host != "" && host != "0.0.0.0" && host != "::" {
		hosts = append([]string{host}, hosts...)
	}
	certPEM, keyPEM, err := ca.Issue(hosts, now)
	if err != nil {
		return "", err
	}
	if err := store.Replace(certPEM, keyPEM); err != nil {
		return "", err
	}
	caFile := filepath.Join(dir, "ca.crt")
	for name, data := range map[string][]byte{"ca.crt": ca.CertPEM, "tls.crt": certPEM, "tls.key": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return "", err
		}
	}
	return caFile, nil
}
