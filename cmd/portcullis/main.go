// Command portcullis is one admission-policy engine for Kyverno, Gatekeeper
// and Sigstore policies: a CLI to test and apply them, and a webhook server.
package main

import (
	"os"

	"github.com/portcullis-dev/portcullis/internal/cli"
)

func main() {
	os.Exit(cli.Run(os.Args[1:]))
}
