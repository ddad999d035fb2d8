//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package localcluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
)

// platformErr says why the package cannot run here.
var platformErr = fmt.Errorf("localcluster does not run on %s: %w", runtime.GOOS, errors.ErrUnsupported)

func setProcessGroup(cmd *exec.Cmd) {}

func signalGroup(pid int, kill bool) error { return platformErr }

func tryLock(f *os.File) (bool, error) { return false, platformErr }
