package signature

// predicateTypes is cosign's mapping of the short predicate type names of
// `cosign attest --type` (and of policy-controller's and Kyverno's
// predicateType fields) to predicate type URIs.
var predicateTypes = map[string]string{
	"custom":           "https://cosign.sigstore.dev/attestation/v1",
	"slsaprovenance":   "https://slsa.dev/provenance/v0.2",
	"slsaprovenance02": "https://slsa.dev/provenance/v0.2",
	"slsaprovenance1":  "https://slsa.dev/provenance/v1",
	"spdx":             "https://spdx.dev/Document",
	"spdxjson":         "https://spdx.dev/Document",
	"cyclonedx":        "https://cyclonedx.org/bom",
	"link":             "https://in-toto.io/Link/v1",
	"vuln":             "https://cosign.sigstore.dev/attestation/vuln/v1",
	"openvex":          "https://openvex.dev/ns",
}

// SignPredicateType is the predicate type of the in-toto statements cosign
// signs when it signs an image in the bundle format.
const SignPredicateType = "https://sigstore.dev/cosign/sign/v1"

// PredicateType returns the predicate type URI of one of cosign's short
// names ("slsaprovenance", "spdxjson", "cyclonedx", "vuln", "custom", ...),
// and any other value unchanged.
func PredicateType(name string) string {
	if uri, ok := predicateTypes[name]; ok {
		return uri
	}
	return name
}
