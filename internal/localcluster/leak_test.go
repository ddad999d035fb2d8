package localcluster

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// checkNoGoroutines fails the test if a goroutine started by this package
// is still running after a grace period.
func checkNoGoroutines(t *testing.T) {
	t.Helper()
	const marker = "portcullis/internal/localcluster."
	deadline := time.Now().Add(5 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		var leaked []string
		for _, g := range strings.Split(stacks, "\n\n") {
			// Skip the goroutines of the test itself.
			if strings.Contains(g, marker) && !strings.Contains(g, "testing.tRunner") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines leaked:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
