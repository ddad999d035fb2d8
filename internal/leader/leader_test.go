package leader_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/portcullis-dev/portcullis/internal/leader"
)

// TestOneLeaderAtATime runs two replicas: one leads, and when it stops
// (releasing the Lease), the other takes over.
func TestOneLeaderAtATime(t *testing.T) {
	client := fake.NewClientset()
	var leading atomic.Int32
	var overlap atomic.Bool
	led := make(chan string, 4)
	run := func(ctx context.Context, id string) error {
		return leader.Run(ctx, leader.Config{
			Client: client, Namespace: "portcullis", Identity: id, Log: logr.Discard(),
			LeaseDuration: time.Second, RenewDeadline: 500 * time.Millisecond, RetryPeriod: 50 * time.Millisecond,
		}, func(ctx context.Context) {
			if leading.Add(1) > 1 {
				overlap.Store(true)
			}
			led <- id
			<-ctx.Done()
			leading.Add(-1)
		})
	}
	ctxA, stopA := context.WithCancel(context.Background())
	ctxB, stopB := context.WithCancel(context.Background())
	defer stopB()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); run(ctxA, "a") }()
	go func() { defer wg.Done(); run(ctxB, "b") }()

	first := wait(t, led)
	if first == "a" {
		stopA()
	} else {
		stopB()
	}
	second := wait(t, led)
	if second == first {
		t.Fatalf("%s led twice; want the other replica to take over", first)
	}
	stopA()
	stopB()
	wg.Wait()
	if overlap.Load() {
		t.Error("two replicas led at once")
	}
}

func wait(t *testing.T, c chan string) string {
	t.Helper()
	select {
	case id := <-c:
		return id
	case <-time.After(15 * time.Second):
		t.Fatal("no replica became the leader")
		return ""
	}
}

func TestRunNeedsIdentity(t *testing.T) {
	if err := leader.Run(context.Background(), leader.Config{Client: fake.NewClientset(), Namespace: "x"}, func(context.Context) {}); err == nil {
		t.Error("Run without an identity returned nil")
	}
}
