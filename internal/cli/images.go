package cli

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tuf"
	"github.com/spf13/cobra"
	"github.com/theupdateframework/go-tuf/v2/metadata/fetcher"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/image"
	"github.com/portcullis-dev/portcullis/internal/image/registry"
	"github.com/portcullis-dev/portcullis/internal/image/signature"
	"github.com/portcullis-dev/portcullis/internal/policy/ratify"
)

// imageOptions are the registry and trust flags of the commands that verify
// images: apply, test, serve (file mode) and verify-image.
type imageOptions struct {
	// mirrors are "host=mirror" pairs: images of host are read from mirror.
	mirrors []string
	// allowInsecure permits plain HTTP to every registry, as cosign's
	// --allow-insecure-registry does.
	allowInsecure bool
	// dockerConfig is a docker config.json with registry credentials.
	dockerConfig string
	// trustedRoot is a trusted_root.json: the default trust root of
	// keyless verification.
	trustedRoot string
	// online lets trust roots be fetched over TUF when first needed.
	online bool
	// noMatch is what the Sigstore dialect does with images no
	// ClusterImagePolicy matches.
	noMatch string
	// timeout bounds each registry operation and the Ratify provider's
	// calls; zero keeps the defaults.
	timeout time.Duration
}

func (o *imageOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringArrayVar(&o.mirrors, "registry-mirror", nil, "read the images of a registry from a mirror: HOST=MIRROR, e.g. docker.io=mirror.example.com:5000 (repeatable)")
	f.BoolVar(&o.allowInsecure, "allow-insecure-registry", false, "allow plain-HTTP (insecure) registries, as cosign's flag of that name does")
	f.StringVar(&o.dockerConfig, "docker-config", "", "docker config.json with registry credentials (default: anonymous access)")
	f.StringVar(&o.trustedRoot, "trusted-root", "", "Sigstore trusted_root.json: the trust root of keyless signatures (nothing is fetched from the network)")
	f.BoolVar(&o.online, "sigstore-online", false, "fetch trust roots over TUF when a verification first needs them (never at start-up): the Sigstore public-good root as the default root unless --trusted-root is given, and TrustRoots with spec.remote")
	f.StringVar(&o.noMatch, "sigstore-no-match-policy", "deny", "what policy-controller's webhook does with an image that no ClusterImagePolicy matches: deny, warn or allow")
	f.DurationVar(&o.timeout, "registry-timeout", 0, fmt.Sprintf("bound on each registry operation, and on the Ratify provider's calls (default %v, and Ratify's own %v and %v)",
		registry.DefaultTimeout, ratify.DefaultVerifyTimeout, ratify.DefaultMutateTimeout))
}

// args renders the options as the flags of another command (up passes
// them on to serve).
func (o *imageOptions) args() []string {
	var out []string
	for _, m := range o.mirrors {
		out = append(out, "--registry-mirror", m)
	}
	if o.allowInsecure {
		out = append(out, "--allow-insecure-registry")
	}
	if o.dockerConfig != "" {
		out = append(out, "--docker-config", o.dockerConfig)
	}
	if o.trustedRoot != "" {
		out = append(out, "--trusted-root", o.trustedRoot)
	}
	if o.timeout > 0 {
		out = append(out, "--registry-timeout", o.timeout.String())
	}
	if o.noMatch != "" {
		out = append(out, "--sigstore-no-match-policy", o.noMatch)
	}
	if o.online {
		out = append(out, "--sigstore-online")
	}
	return out
}

// build returns the registry client and the signature options the flags
// describe. It reads the docker config and the trusted root once; nothing
// reaches the network. secrets, when not nil, reads the imagePullSecrets
// of the Pods under admission.
func (o *imageOptions) build(secrets registry.SecretGetter) (image.Registry, signature.Options, error) {
	var so signature.Options
	if o.timeout < 0 {
		return nil, so, fmt.Errorf("--registry-timeout must not be negative, got %v", o.timeout)
	}
	opts := registry.Options{DockerConfig: o.dockerConfig, Timeout: o.timeout, Mirrors: map[string]string{}, AllowInsecureUnsafe: o.allowInsecure, Secrets: secrets}
	var errs []error
	for _, m := range o.mirrors {
		from, to, ok := strings.Cut(m, "=")
		from, to = strings.TrimSpace(from), strings.TrimSpace(to)
		if !ok || from == "" || to == "" {
			errs = append(errs, fmt.Errorf("--registry-mirror %q: want HOST=MIRROR", m))
			continue
		}
		opts.Mirrors[from] = to
	}
	if o.trustedRoot != "" {
		tr, err := root.NewTrustedRootFromPath(o.trustedRoot)
		if err != nil {
			errs = append(errs, fmt.Errorf("--trusted-root %s: %w", o.trustedRoot, err))
		} else {
			so.DefaultRoot = tr
		}
	}
	if o.online && so.DefaultRoot == nil && o.trustedRoot == "" {
		so.DefaultRoot = signature.RemoteTrustedRoot(tuf.DefaultMirror, tuf.DefaultRoot(), tufFetch, nil)
	}
	if len(errs) > 0 {
		return nil, so, errors.Join(errs...)
	}
	// Validate the options (and read the docker config) once, now.
	client, err := registry.New(opts)
	if err != nil {
		return nil, so, flagError(err)
	}
	return client, so, nil
}

// engine builds the registry client and an engine whose dialects verify
// images with the flags' trust roots. base holds the command's own engine
// settings; the Gatekeeper engine choice is the root command's flag.
func (o *imageOptions) engine(secrets registry.SecretGetter, base engineOptions) (*engine.Engine, image.Registry, error) {
	reg, sigOpts, err := o.build(secrets)
	if err != nil {
		return nil, nil, err
	}
	base.gatekeeperEngine = globalEngine.gatekeeperEngine
	base.signatures = sigOpts
	base.registryTimeout = o.timeout
	base.noMatch = o.noMatch
	if o.online {
		base.trustRootOptions = append(base.trustRootOptions, signature.WithNetworkUnsafe(tufFetch))
	}
	eng, err := buildEngine(base)
	if err != nil {
		return nil, nil, err
	}
	return eng, reg, nil
}

// tufFetch reads a TUF file over HTTPS, bounded in time and size.
func tufFetch(url string, maxLength int64) ([]byte, error) {
	f := fetcher.NewDefaultFetcher()
	f.SetHTTPClient(&http.Client{Timeout: 10 * time.Second})
	return f.DownloadFile(url, maxLength, 0)
}

// flagError names the flags behind registry.Options errors.
func flagError(err error) error {
	r := strings.NewReplacer("Options.DockerConfig", "--docker-config", "Options.Mirrors", "--registry-mirror",
		"Options.Timeout", "--registry-timeout", "Options.Insecure", "--allow-insecure-registry")
	return errors.New(r.Replace(err.Error()))
}
