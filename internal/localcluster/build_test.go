package localcluster

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeBuild writes a script to out, counting its calls.
func fakeBuild(calls *atomic.Int32, delay time.Duration) buildFunc {
	return func(ctx context.Context, srcDir, out string) error {
		calls.Add(1)
		if entries, err := os.ReadDir(srcDir); err != nil || len(entries) != 0 {
			return errors.New("source directory is not fresh and empty")
		}
		time.Sleep(delay)
		return os.WriteFile(out, []byte("#!/bin/sh\n"), 0o644)
	}
}

func TestEnsureBinaryBuildsOnceThenReuses(t *testing.T) {
	if platformErr != nil {
		t.Skip(platformErr)
	}
	cache := t.TempDir()
	var calls atomic.Int32
	var log bytes.Buffer
	for range 2 {
		bin, err := ensureBinary(context.Background(), cache, "etcd", "v3.6.16", &log, "a moment", fakeBuild(&calls, 0))
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(cache, "bin", "etcd-v3.6.16"); bin != want {
			t.Errorf("bin = %q, want %q", bin, want)
		}
		if !isExecutable(bin) {
			t.Errorf("%s is not executable", bin)
		}
	}
	if calls.Load() != 1 {
		t.Errorf("built %d times, want 1", calls.Load())
	}
	if got := log.String(); !strings.HasPrefix(got, "building etcd v3.6.16 (a moment)...\nbuilt etcd v3.6.16 in ") {
		t.Errorf("log = %q", got)
	}
	assertNoTempFiles(t, cache)
}

func TestEnsureBinaryConcurrentCallers(t *testing.T) {
	if platformErr != nil {
		t.Skip(platformErr)
	}
	cache := t.TempDir()
	var calls atomic.Int32
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = ensureBinary(context.Background(), cache, "kube-apiserver", "v1.37.2", io.Discard, "", fakeBuild(&calls, 200*time.Millisecond))
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 {
		t.Errorf("built %d times by 4 concurrent callers, want 1", calls.Load())
	}
	assertNoTempFiles(t, cache)
}

func TestEnsureBinaryFailureLeavesNoBinary(t *testing.T) {
	if platformErr != nil {
		t.Skip(platformErr)
	}
	cache := t.TempDir()
	failing := func(ctx context.Context, srcDir, out string) error {
		os.WriteFile(out, []byte("partial"), 0o755)
		return errors.New("compile error")
	}
	_, err := ensureBinary(context.Background(), cache, "etcd", "v3.6.16", io.Discard, "", failing)
	if err == nil || !strings.Contains(err.Error(), "failed to build etcd v3.6.16: compile error") {
		t.Fatalf("ensureBinary() = %v, want the build error", err)
	}
	if _, err := os.Stat(binaryPath(cache, "etcd", "v3.6.16")); !os.IsNotExist(err) {
		t.Errorf("a failed build left a binary (stat: %v)", err)
	}
	assertNoTempFiles(t, cache)
}

func TestEnsureBinaryWaitIsCancellable(t *testing.T) {
	if platformErr != nil {
		t.Skip(platformErr)
	}
	cache := t.TempDir()
	unlock, err := lock(context.Background(), lockPath(cache, "etcd", "v3.6.16"), func() {})
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var log bytes.Buffer
	_, err = ensureBinary(ctx, cache, "etcd", "v3.6.16", &log, "", func(context.Context, string, string) error {
		t.Error("built while another process held the lock")
		return nil
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ensureBinary() = %v, want context.DeadlineExceeded", err)
	}
	if want := "waiting for another process building etcd v3.6.16...\n"; log.String() != want {
		t.Errorf("log = %q, want %q", log.String(), want)
	}
}

func assertNoTempFiles(t *testing.T, cache string) {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(cache, "bin"))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left in the cache", e.Name())
		}
	}
}
