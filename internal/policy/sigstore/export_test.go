package sigstore

import "time"

// SetCueCompileTimeout shortens the bound on compiling CUE policies for a
// test; the returned function restores it.
func SetCueCompileTimeout(d time.Duration) (restore func()) {
	old := cueCompileTimeout
	cueCompileTimeout = d
	return func() { cueCompileTimeout = old }
}
