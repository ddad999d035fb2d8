package localcluster

import "syscall"

// setParentDeathSignal has Linux kill the child if this process dies without
// calling Stop (for example on SIGKILL), so the cluster never outlives it.
// The signal is tied to the thread that started the child; the Go runtime
// only ends threads of goroutines that exit while locked to them, which this
// package never does.
func setParentDeathSignal(attr *syscall.SysProcAttr) {
	attr.Pdeathsig = syscall.SIGKILL
}
