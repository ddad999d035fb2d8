// Package examples holds the bundled example policies and resources: the
// seed documents' Kyverno and Gatekeeper policies. `portcullis up` loads
// them by default.
package examples

import "embed"

// Policies holds the example policies: kyverno/policies/*.yaml and
// gatekeeper/*.yaml (templates and their constraints).
//
//go:embed kyverno/policies/*.yaml gatekeeper/*.yaml
var Policies embed.FS
