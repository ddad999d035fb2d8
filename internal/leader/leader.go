// Package leader elects one replica of portcullis, with a
// coordination.k8s.io Lease, to do what must happen once per cluster:
// installing CRDs, creating constraint CRDs, rotating the CA, writing policy
// status and keeping the webhook configurations up to date. Every replica
// serves admission whether it leads or not.
package leader

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Defaults of Config, the ones controller-runtime and Kyverno use.
const (
	DefaultLeaseName     = "portcullis-leader"
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

// Config configures the election.
type Config struct {
	Client kubernetes.Interface
	// Namespace holds the Lease: portcullis's own namespace.
	Namespace string
	// Name is the Lease's name; empty means DefaultLeaseName.
	Name string
	// Identity must be unique per replica, e.g. the pod name.
	Identity string
	// LeaseDuration, RenewDeadline and RetryPeriod default to the
	// constants above when zero.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	Log                                       logr.Logger
}

// Run campaigns for the Lease until ctx ends. Each time this replica wins,
// it calls lead with a context that is canceled when the replica loses the
// Lease; once lead has returned, it campaigns again. On ctx's end it
// releases the Lease so that another replica takes over at once.
func Run(ctx context.Context, cfg Config, lead func(ctx context.Context)) error {
	if cfg.Client == nil || cfg.Namespace == "" || cfg.Identity == "" {
		return errors.New("leader election needs a client, a namespace and an identity")
	}
	if cfg.Name == "" {
		cfg.Name = DefaultLeaseName
	}
	if cfg.LeaseDuration == 0 {
		cfg.LeaseDuration = DefaultLeaseDuration
	}
	if cfg.RenewDeadline == 0 {
		cfg.RenewDeadline = DefaultRenewDeadline
	}
	if cfg.RetryPeriod == 0 {
		cfg.RetryPeriod = DefaultRetryPeriod
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, cfg.Namespace, cfg.Name,
		cfg.Client.CoreV1(), cfg.Client.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: cfg.Identity})
	if err != nil {
		return fmt.Errorf("failed to create the leader election lock: %w", err)
	}
	for ctx.Err() == nil {
		// lead runs on this goroutine, one term after the other, so that a
		// new term never overlaps the last one.
		terms := make(chan context.Context, 1)
		elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   cfg.LeaseDuration,
			RenewDeadline:   cfg.RenewDeadline,
			RetryPeriod:     cfg.RetryPeriod,
			ReleaseOnCancel: true,
			Name:            cfg.Name,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(ctx context.Context) {
					cfg.Log.Info("became the leader", "lease", cfg.Namespace+"/"+cfg.Name, "identity", cfg.Identity)
					terms <- ctx
				},
				OnStoppedLeading: func() {
					cfg.Log.Info("stopped leading", "lease", cfg.Namespace+"/"+cfg.Name, "identity", cfg.Identity)
				},
				OnNewLeader: func(identity string) {
					if identity != cfg.Identity {
						cfg.Log.Info("another replica leads", "leader", identity)
					}
				},
			},
		})
		if err != nil {
			return fmt.Errorf("invalid leader election settings: %w", err)
		}
		ran := make(chan struct{})
		go func() {
			defer close(ran)
			elector.Run(ctx)
		}()
		select {
		case term := <-terms:
			lead(term)
			<-ran
		case <-ran:
			select {
			case term := <-terms:
				lead(term)
			default:
			}
		}
	}
	return nil
}
