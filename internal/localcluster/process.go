package localcluster

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// process is a running child: etcd or kube-apiserver, in its own process
// group, with its output in a log file.
type process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	// exited is closed when the process has exited and waitErr is set.
	exited  chan struct{}
	waitErr error
}

// startProcess starts bin with args and env, writing its standard output
// and error to logPath, which it truncates. One goroutine waits for it; it ends when the process
// exits, which stop guarantees.
func startProcess(name, bin string, args, env []string, logPath string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("failed to open the %s log: %w", name, err)
	}
	defer logFile.Close() // the child has its own copy
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	setProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("failed to start %s: %w", name, err)
	}
	p := &process{name: name, logPath: logPath, cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// pid is the process ID, which is also its process group ID.
func (p *process) pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM to the process group, then SIGKILL if the process has
// not exited after grace, and waits for it to exit.
func (p *process) stop(grace time.Duration) error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	if err := signalGroup(p.pid(), false); err != nil {
		return fmt.Errorf("failed to stop %s (pid %d): %w", p.name, p.pid(), err)
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.exited:
		return nil
	case <-timer.C:
	}
	if err := signalGroup(p.pid(), true); err != nil {
		return fmt.Errorf("failed to kill %s (pid %d): %w", p.name, p.pid(), err)
	}
	<-p.exited
	return nil
}

// exitError describes how the process ended, with the end of its log. Call
// it only after exited is closed.
func (p *process) exitError() error {
	status := "exited"
	if p.waitErr != nil {
		status = p.waitErr.Error()
	}
	return fmt.Errorf("%s %s; last lines of %s:\n%s", p.name, status, p.logPath, logTail(p.logPath, 20))
}

// maxTailBytes bounds how much of a log logTail reads.
const maxTailBytes = 64 << 10

// logTail returns the last n lines of the file at path, reading at most its
// last 64 KiB, or a note saying why it could not.
func logTail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > maxTailBytes {
		if _, err := f.Seek(fi.Size()-maxTailBytes, io.SeekStart); err != nil {
			return fmt.Sprintf("(unreadable log: %v)", err)
		}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxTailBytes))
	if err != nil {
		return fmt.Sprintf("(unreadable log: %v)", err)
	}
	return lastLines(data, n)
}

// lastLines returns the last n lines of data, without a trailing newline.
func lastLines(data []byte, n int) string {
	data = bytes.TrimRight(data, "\n")
	lines := strings.Split(string(data), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
