package localcluster

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

const (
	// DefaultKubernetesVersion is the kube-apiserver version built when
	// Options.KubernetesVersion is empty.
	DefaultKubernetesVersion = "v1.37.2"
	// DefaultEtcdVersion is the etcd version built when Options.EtcdVersion
	// is empty.
	DefaultEtcdVersion = "v3.6.16"
	// DefaultStartTimeout bounds how long Start waits for etcd and then for
	// the apiserver to become ready, when Options.StartTimeout is zero.
	DefaultStartTimeout = 90 * time.Second
	// DefaultStopGracePeriod is how long Stop waits after SIGTERM before it
	// sends SIGKILL, when Options.StopGracePeriod is zero.
	DefaultStopGracePeriod = 10 * time.Second

	// CacheDirEnv names the environment variable that overrides the default
	// cache directory. Options.CacheDir takes precedence over it.
	CacheDirEnv = "PORTCULLIS_CACHE_DIR"
)

// Options configures EnsureBinaries and Start. The zero value is valid: it
// builds the default versions into the default cache directory and runs the
// cluster in a temporary directory that Stop removes.
type Options struct {
	// CacheDir holds the generated wrapper modules (src/) and the built
	// binaries (bin/). If empty, it is $PORTCULLIS_CACHE_DIR, else
	// $XDG_CACHE_HOME/portcullis, else ~/.cache/portcullis.
	CacheDir string

	// WorkDir holds the etcd data, certificates, token file, kubeconfig and
	// process logs. If empty, Start creates a temporary directory and Stop
	// removes it. A given WorkDir is kept by Stop; Start overwrites the files
	// it writes there and always begins with an empty etcd data directory,
	// so two running clusters must never share a WorkDir.
	WorkDir string

	// Log receives progress lines, such as
	// "building kube-apiserver v1.37.2 (about 5 minutes)...". Nil discards
	// them.
	Log io.Writer

	// KubernetesVersion is the kube-apiserver release to build, such as
	// "v1.37.2". It must have the form v1.MINOR.PATCH; the k8s.io staging
	// modules are taken at v0.MINOR.PATCH. Empty means
	// DefaultKubernetesVersion.
	KubernetesVersion string

	// EtcdVersion is the go.etcd.io/etcd/server/v3 release to build, such as
	// "v3.6.16". It must have the form v3.MINOR.PATCH. Empty means
	// DefaultEtcdVersion.
	EtcdVersion string

	// APIServerFlags are appended to the kube-apiserver command line, after
	// the flags this package sets, so a later flag of the same name wins
	// (for example "--feature-gates=MutatingAdmissionPolicy=true" or
	// "--authorization-mode=AlwaysAllow"). Each element is one whole flag,
	// "--name=value" (or "--name" for a boolean flag). Flags
	// that wire the apiserver to this package's files, ports and etcd may not
	// be overridden; see reservedAPIServerFlags.
	APIServerFlags []string

	// StartTimeout bounds the wait for etcd's /health and then for the
	// apiserver's /readyz, each. Zero means DefaultStartTimeout.
	StartTimeout time.Duration

	// StopGracePeriod is how long Stop waits for a process to exit after
	// SIGTERM before it sends SIGKILL. Zero means DefaultStopGracePeriod.
	StopGracePeriod time.Duration

	// GoCommand is the go command used to build the binaries. Empty means
	// "go" found in $PATH.
	GoCommand string
}

// reservedAPIServerFlags are the flags that connect the apiserver to the
// files, ports and etcd this package manages; APIServerFlags may not set them.
var reservedAPIServerFlags = []string{
	"--advertise-address",
	"--bind-address",
	"--cert-dir",
	"--etcd-servers",
	"--secure-port",
	"--service-account-key-file",
	"--service-account-signing-key-file",
	"--tls-cert-file",
	"--tls-private-key-file",
	"--token-auth-file",
}

var (
	kubernetesVersionRE = regexp.MustCompile(`^v1\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$`)
	etcdVersionRE       = regexp.MustCompile(`^v3\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$`)
)

// config is Options with defaults applied and every field validated.
type config struct {
	cacheDir          string
	workDir           string
	log               io.Writer
	kubernetesVersion string
	stagingVersion    string
	etcdVersion       string
	apiserverFlags    []string
	startTimeout      time.Duration
	stopGracePeriod   time.Duration
	goCommand         string
}

// resolve validates opts and applies the defaults. It reports every problem,
// not only the first. getenv and homeDir are os.Getenv and os.UserHomeDir
// outside tests.
func (opts Options) resolve(getenv func(string) string, homeDir func() (string, error)) (config, error) {
	var errs []error
	cfg := config{
		workDir:           opts.WorkDir,
		log:               opts.Log,
		kubernetesVersion: opts.KubernetesVersion,
		etcdVersion:       opts.EtcdVersion,
		apiserverFlags:    append([]string(nil), opts.APIServerFlags...),
		startTimeout:      opts.StartTimeout,
		stopGracePeriod:   opts.StopGracePeriod,
		goCommand:         opts.GoCommand,
	}
	if cfg.log == nil {
		cfg.log = io.Discard
	}
	if cfg.kubernetesVersion == "" {
		cfg.kubernetesVersion = DefaultKubernetesVersion
	}
	if m := kubernetesVersionRE.FindStringSubmatch(cfg.kubernetesVersion); m == nil {
		errs = append(errs, fmt.Errorf("KubernetesVersion %q: must have the form v1.MINOR.PATCH", cfg.kubernetesVersion))
	} else {
		cfg.stagingVersion = "v0." + m[1] + "." + m[2]
	}
	if cfg.etcdVersion == "" {
		cfg.etcdVersion = DefaultEtcdVersion
	}
	if !etcdVersionRE.MatchString(cfg.etcdVersion) {
		errs = append(errs, fmt.Errorf("EtcdVersion %q: must have the form v3.MINOR.PATCH", cfg.etcdVersion))
	}
	for i, flag := range cfg.apiserverFlags {
		if err := checkAPIServerFlag(flag); err != nil {
			errs = append(errs, fmt.Errorf("APIServerFlags[%d]: %w", i, err))
		}
	}
	switch {
	case cfg.startTimeout < 0:
		errs = append(errs, fmt.Errorf("StartTimeout %v: must not be negative", cfg.startTimeout))
	case cfg.startTimeout == 0:
		cfg.startTimeout = DefaultStartTimeout
	}
	switch {
	case cfg.stopGracePeriod < 0:
		errs = append(errs, fmt.Errorf("StopGracePeriod %v: must not be negative", cfg.stopGracePeriod))
	case cfg.stopGracePeriod == 0:
		cfg.stopGracePeriod = DefaultStopGracePeriod
	}
	if cfg.goCommand == "" {
		cfg.goCommand = "go"
	}
	dir, err := cacheDir(opts.CacheDir, getenv, homeDir)
	if err != nil {
		errs = append(errs, err)
	}
	cfg.cacheDir = dir
	if err := errors.Join(errs...); err != nil {
		return config{}, fmt.Errorf("invalid localcluster options: %w", err)
	}
	return cfg, nil
}

// checkAPIServerFlag reports whether flag may be appended to the apiserver
// command line.
func checkAPIServerFlag(flag string) error {
	if !strings.HasPrefix(flag, "--") || len(flag) == 2 {
		return fmt.Errorf("%q: must start with \"--\", as in --name=value", flag)
	}
	name, _, _ := strings.Cut(flag, "=")
	for _, reserved := range reservedAPIServerFlags {
		if name == reserved {
			return fmt.Errorf("%q: %s is set by localcluster and may not be overridden", flag, reserved)
		}
	}
	return nil
}
