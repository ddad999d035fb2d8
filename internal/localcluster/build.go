package localcluster

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Binaries are the paths of the built, cached executables.
type Binaries struct {
	// APIServer is the kube-apiserver executable, such as
	// ~/.cache/portcullis/bin/kube-apiserver-v1.37.2.
	APIServer string
	// Etcd is the etcd executable, such as
	// ~/.cache/portcullis/bin/etcd-v3.6.16.
	Etcd string
}

// EnsureBinaries returns the cached kube-apiserver and etcd executables of
// the versions opts names, building any that is missing first. Building
// needs the go command and the Go module proxy; kube-apiserver takes about 5
// minutes on 2 cores, etcd about 30 seconds, and progress goes to opts.Log.
// Once both are cached, EnsureBinaries returns at once.
//
// Concurrent callers, in one process or several, are safe: one builds while
// the others wait for it, and a binary appears in the cache only when it is
// complete. Cancelling ctx stops a build or a wait.
func EnsureBinaries(ctx context.Context, opts Options) (Binaries, error) {
	cfg, err := opts.resolve(os.Getenv, os.UserHomeDir)
	if err != nil {
		return Binaries{}, err
	}
	return ensureBinaries(ctx, cfg)
}

func ensureBinaries(ctx context.Context, cfg config) (Binaries, error) {
	if platformErr != nil {
		return Binaries{}, platformErr
	}
	gb := goBuilder{goCommand: cfg.goCommand}
	etcd, err := ensureBinary(ctx, cfg.cacheDir, etcdComponent, cfg.etcdVersion, cfg.log, "about 30 seconds",
		func(ctx context.Context, srcDir, out string) error {
			return gb.buildEtcd(ctx, srcDir, out, cfg.etcdVersion)
		})
	if err != nil {
		return Binaries{}, err
	}
	apiserver, err := ensureBinary(ctx, cfg.cacheDir, apiserverComponent, cfg.kubernetesVersion, cfg.log, "about 5 minutes",
		func(ctx context.Context, srcDir, out string) error {
			return gb.buildAPIServer(ctx, srcDir, out, cfg.kubernetesVersion, cfg.stagingVersion)
		})
	if err != nil {
		return Binaries{}, err
	}
	return Binaries{APIServer: apiserver, Etcd: etcd}, nil
}

// buildFunc builds a component from a fresh, empty source directory into
// the file out.
type buildFunc func(ctx context.Context, srcDir, out string) error

// lockPollInterval is how often a caller waiting for another build retries
// the lock.
const lockPollInterval = 500 * time.Millisecond

// ensureBinary returns the cached binary of component at version, building
// it with build when it is missing. A file lock serialises builders across
// processes, and the binary is built under a temporary name and renamed into
// place, so readers never see a partial file.
func ensureBinary(ctx context.Context, cache, component, version string, log io.Writer, estimate string, build buildFunc) (string, error) {
	bin := binaryPath(cache, component, version)
	if isExecutable(bin) {
		return bin, nil
	}
	unlock, err := lock(ctx, lockPath(cache, component, version), func() {
		fmt.Fprintf(log, "waiting for another process building %s %s...\n", component, version)
	})
	if err != nil {
		return "", fmt.Errorf("failed to lock the %s %s build: %w", component, version, err)
	}
	defer unlock()
	if isExecutable(bin) { // built by the process we waited for
		return bin, nil
	}

	fmt.Fprintf(log, "building %s %s (%s)...\n", component, version, estimate)
	start := time.Now()
	srcDir := sourceDir(cache, component, version)
	if err := os.RemoveAll(srcDir); err != nil {
		return "", fmt.Errorf("failed to clear %s: %w", srcDir, err)
	}
	if err := os.MkdirAll(srcDir, 0o755); err != nil {
		return "", fmt.Errorf("failed to create the source directory: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return "", fmt.Errorf("failed to create the binary directory: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(bin), "."+filepath.Base(bin)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("failed to create a temporary binary: %w", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if err := build(ctx, srcDir, tmp.Name()); err != nil {
		return "", fmt.Errorf("failed to build %s %s: %w", component, version, err)
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		return "", fmt.Errorf("failed to make %s executable: %w", component, err)
	}
	if err := os.Rename(tmp.Name(), bin); err != nil {
		return "", fmt.Errorf("failed to move %s into the cache: %w", component, err)
	}
	fmt.Fprintf(log, "built %s %s in %s\n", component, version, time.Since(start).Round(time.Second))
	return bin, nil
}

// lock takes the exclusive file lock at path, polling until it is free or
// ctx is done. It calls waiting once if it has to wait. The returned func
// releases the lock.
func lock(ctx context.Context, path string, waiting func()) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	ticker := time.NewTicker(lockPollInterval)
	defer ticker.Stop()
	for first := true; ; first = false {
		ok, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, err
		}
		if ok {
			return func() { f.Close() }, nil // closing releases the lock
		}
		if first {
			waiting()
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-ticker.C:
		}
	}
}

// isExecutable reports whether path is a regular file with an execute bit.
func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
