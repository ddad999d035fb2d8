package imagetest

import (
	"io"
	"log"
)

// discardLogger silences the in-process registry's per-request log lines.
func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }
