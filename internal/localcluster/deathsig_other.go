//go:build !linux && (darwin || freebsd || netbsd || openbsd || dragonfly)

package localcluster

import "syscall"

// setParentDeathSignal does nothing: only Linux can signal a child when its
// parent dies.
func setParentDeathSignal(attr *syscall.SysProcAttr) {}
