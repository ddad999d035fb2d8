package localcluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startShell runs a POSIX shell script as a process under test.
func startShell(t *testing.T, script string) *process {
	t.Helper()
	if platformErr != nil {
		t.Skip(platformErr)
	}
	logPath := filepath.Join(t.TempDir(), "sh.log")
	p, err := startProcess("sh", "/bin/sh", []string{"-c", script}, os.Environ(), logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.stop(0) })
	return p
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func TestProcessStopTerminatesGroup(t *testing.T) {
	// The shell starts a child in the same group; stop must end both.
	p := startShell(t, `sleep 60 & echo started; wait`)
	waitForLog(t, p, "started")
	start := time.Now()
	if err := p.stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("stop took %v; SIGTERM should have ended the shell at once", d)
	}
	// The orphaned sleep is reaped by init, so give it a moment.
	deadline := time.Now().Add(3 * time.Second)
	for {
		err := syscall.Kill(-p.pid(), 0)
		if errors.Is(err, syscall.ESRCH) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("process group %d still exists after stop (kill 0: %v)", p.pid(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestProcessStopEscalatesToKill(t *testing.T) {
	p := startShell(t, `trap '' TERM; echo started; while :; do sleep 1; done`)
	waitForLog(t, p, "started")
	start := time.Now()
	if err := p.stop(300 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("stop returned after %v, before the grace period", d)
	}
	if alive(p.pid()) {
		t.Errorf("process %d survived SIGKILL", p.pid())
	}
	if err := p.stop(time.Second); err != nil {
		t.Errorf("second stop: %v", err)
	}
	checkNoGoroutines(t)
}

func TestProcessExitError(t *testing.T) {
	p := startShell(t, `for i in 1 2 3 4 5; do echo line $i; done; exit 3`)
	<-p.exited
	err := p.exitError()
	msg := err.Error()
	for _, want := range []string{"sh exit status 3", "line 1", "line 5", p.logPath} {
		if !strings.Contains(msg, want) {
			t.Errorf("exitError() = %q, missing %q", msg, want)
		}
	}
}

func TestWaitReady(t *testing.T) {
	t.Run("ready", func(t *testing.T) {
		p := startShell(t, `sleep 60`)
		calls := 0
		err := waitReady(context.Background(), 5*time.Second, p, func(context.Context) error {
			calls++
			if calls < 3 {
				return errors.New("not yet")
			}
			return nil
		})
		if err != nil || calls != 3 {
			t.Errorf("waitReady() = %v after %d calls, want nil after 3", err, calls)
		}
	})
	t.Run("process exits", func(t *testing.T) {
		p := startShell(t, `echo "fatal: bad flag"; exit 1`)
		err := waitReady(context.Background(), 5*time.Second, p, func(context.Context) error { return errors.New("refused") })
		if err == nil || !strings.Contains(err.Error(), "fatal: bad flag") {
			t.Errorf("waitReady() = %v, want the log tail", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		p := startShell(t, `echo still starting; sleep 60`)
		err := waitReady(context.Background(), 400*time.Millisecond, p, func(context.Context) error { return errors.New("503") })
		if err == nil || !strings.Contains(err.Error(), "not ready after 400ms (last probe: 503)") ||
			!strings.Contains(err.Error(), "still starting") {
			t.Errorf("waitReady() = %v, want a timeout with the last probe and the log tail", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		p := startShell(t, `sleep 60`)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := waitReady(ctx, 5*time.Second, p, func(context.Context) error { return errors.New("503") })
		if !errors.Is(err, context.Canceled) {
			t.Errorf("waitReady() = %v, want context.Canceled", err)
		}
	})
}

func TestLastLines(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb\nc", 5, "a\nb\nc"},
		{"", 3, ""},
	}
	for _, tt := range tests {
		if got := lastLines([]byte(tt.in), tt.n); got != tt.want {
			t.Errorf("lastLines(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestLogTailReadsOnlyTheEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.log")
	big := strings.Repeat("x", 2*maxTailBytes) + "\nlast line\n"
	if err := os.WriteFile(path, []byte(big), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := logTail(path, 1); got != "last line" {
		t.Errorf("logTail() = %q, want %q", got, "last line")
	}
	if got := logTail(filepath.Join(t.TempDir(), "missing"), 1); !strings.HasPrefix(got, "(no log:") {
		t.Errorf("logTail(missing) = %q", got)
	}
}

// waitForLog waits until the process's log contains want.
func waitForLog(t *testing.T, p *process, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if data, _ := os.ReadFile(p.logPath); strings.Contains(string(data), want) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("log %s never contained %q", p.logPath, want)
}
