// Package cli is the portcullis command line: `test`, `apply` and the other
// subcommands, on the same engine the webhook uses.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/image/signature"
	"github.com/portcullis-dev/portcullis/internal/policy/gatekeeper"
	"github.com/portcullis-dev/portcullis/internal/policy/kyverno"
	"github.com/portcullis-dev/portcullis/internal/policy/ratify"
	"github.com/portcullis-dev/portcullis/internal/policy/sigstore"
)

// Exit codes, documented in the README.
const (
	// ExitOK: everything passed.
	ExitOK = 0
	// ExitFailed: a test failed, or apply found a result that admission
	// would deny.
	ExitFailed = 1
	// ExitBadInput: malformed files, invalid policies, impossible tests or
	// bad flags.
	ExitBadInput = 2
)

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// badInput wraps err as a bad-input error (exit code 2).
func badInput(err error) error { return &exitError{code: ExitBadInput, err: err} }

// IO is where commands read and write.
type IO struct {
	In       io.Reader
	Out, Err io.Writer
}

// Run runs the command line and returns the process exit code.
func Run(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return RunWith(ctx, args, IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
}

// RunWith runs the command line with the given context and streams.
func RunWith(ctx context.Context, args []string, stdio IO) int {
	root := newRoot(stdio)
	root.SetArgs(args)
	root.SetIn(stdio.In)
	root.SetOut(stdio.Out)
	root.SetErr(stdio.Err)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stdio.Err, "Error:", ee.err)
		}
		return ee.code
	}
	// cobra's own errors: unknown flags and commands.
	fmt.Fprintln(stdio.Err, "Error:", err)
	return ExitBadInput
}

func newRoot(stdio IO) *cobra.Command {
	root := &cobra.Command{
		Use:           "portcullis",
		Short:         "One admission-policy engine for Kyverno, Gatekeeper and Sigstore policies",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	globalEngine = engineOptions{}
	root.PersistentFlags().StringVar(&globalEngine.gatekeeperEngine, "gatekeeper-engine", "cel",
		"engine for Gatekeeper templates that carry both Rego and CEL code: cel (as Gatekeeper does) or rego")
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if _, err := buildEngine(globalEngine); err != nil {
			return badInput(err)
		}
		return nil
	}
	root.AddCommand(newTestCommand(stdio), newApplyCommand(stdio), newServeCommand(stdio), newUpCommand(stdio), newVersionCommand(stdio), newUninstallCommand(stdio), newVerifyImageCommand(stdio))
	return root
}

// engineOptions are the dialect settings every command shares.
type engineOptions struct {
	// gatekeeperEngine picks Rego or CEL for templates that carry both.
	gatekeeperEngine string
	// enforcementPoint is the Gatekeeper enforcement point evaluations
	// stand for ("" for the dialect's default).
	enforcementPoint string
	// signatures are the options of every image signature verifier: the
	// default trust root (--trusted-root).
	signatures signature.Options
	// includeAllNamespaces enforces ClusterImagePolicies in every
	// namespace: offline commands know no namespace labels.
	includeAllNamespaces bool
	// trustRootOptions configure TrustRoot objects (network access).
	trustRootOptions []signature.TrustRootOption
	// sigstoreStanding enforces labelled namespaces even without any
	// ClusterImagePolicy, as an installed policy-controller does.
	sigstoreStanding bool
	// noMatch is policy-controller's no-match-policy: deny, warn or allow
	// ("" for deny).
	noMatch string
	// sigstoreSecretNamespace is where ClusterImagePolicy key.secretRef
	// Secrets are read: policy-controller's own namespace, for which the
	// server passes its own. Empty for the offline commands, which read
	// no Secrets.
	sigstoreSecretNamespace string
	// registryTimeout bounds the Ratify provider's calls
	// (--registry-timeout); zero keeps Ratify's defaults.
	registryTimeout time.Duration
}

// globalEngine holds the settings of the root command's flags; RunWith
// resets it for every run.
var globalEngine engineOptions

func buildEngine(o engineOptions) (*engine.Engine, error) {
	var gkOpts []gatekeeper.Option
	switch o.gatekeeperEngine {
	case "", "cel":
		gkOpts = append(gkOpts, gatekeeper.WithEngine(gatekeeper.EngineCEL))
	case "rego":
		gkOpts = append(gkOpts, gatekeeper.WithEngine(gatekeeper.EngineRego))
	default:
		return nil, fmt.Errorf("unknown --gatekeeper-engine %q: use cel or rego", o.gatekeeperEngine)
	}
	if o.enforcementPoint != "" {
		gkOpts = append(gkOpts, gatekeeper.WithEnforcementPoint(o.enforcementPoint))
	}
	gk, err := gatekeeper.New(gkOpts...)
	if err != nil {
		return nil, err
	}
	sigOpts := []sigstore.Option{sigstore.WithSignatureOptions(o.signatures)}
	if o.includeAllNamespaces {
		sigOpts = append(sigOpts, sigstore.WithIncludeAll())
	}
	if len(o.trustRootOptions) > 0 {
		sigOpts = append(sigOpts, sigstore.WithTrustRootOptions(o.trustRootOptions...))
	}
	if o.sigstoreStanding {
		sigOpts = append(sigOpts, sigstore.WithoutPoliciesEnforced())
	}
	if o.sigstoreSecretNamespace != "" {
		sigOpts = append(sigOpts, sigstore.WithSecretNamespace(o.sigstoreSecretNamespace))
	}
	if o.noMatch != "" {
		nm, err := sigstore.ParseNoMatchPolicy(o.noMatch)
		if err != nil {
			return nil, fmt.Errorf("--sigstore-no-match-policy: %w", err)
		}
		sigOpts = append(sigOpts, sigstore.WithNoMatchPolicy(nm))
	}
	// Key files named by Ratify trust policies are the user's own files.
	ratifyOpts := []ratify.Option{ratify.WithSignatureOptions(o.signatures), ratify.WithOSKeyFiles()}
	if o.registryTimeout > 0 {
		ratifyOpts = append(ratifyOpts, ratify.WithTimeouts(o.registryTimeout, o.registryTimeout))
	}
	return engine.New(
		kyverno.New(kyverno.WithSignatureOptions(o.signatures)),
		gk,
		sigstore.New(sigOpts...),
		ratify.New(ratifyOpts...),
	), nil
}

// Version is set at build time with -ldflags.
var Version = "dev"

func newVersionCommand(stdio IO) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(stdio.Out, "portcullis", Version)
			return nil
		},
	}
}
