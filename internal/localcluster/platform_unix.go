//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package localcluster

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// platformErr is nil where the package is supported.
var platformErr error

// setProcessGroup puts the command in its own process group, so that a
// terminal's Ctrl-C does not reach it before Stop does and so that
// signalGroup reaches every process it starts.
func setProcessGroup(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	setParentDeathSignal(cmd.SysProcAttr)
}

// signalGroup sends SIGKILL (if kill) or SIGTERM to the process group led by
// pid. A group that is already gone is not an error.
func signalGroup(pid int, kill bool) error {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	err := syscall.Kill(-pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// tryLock takes an exclusive advisory lock on f without blocking. It
// returns false, nil when another process holds it.
func tryLock(f *os.File) (bool, error) {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}
