package signature_test

import (
	"fmt"

	"github.com/portcullis-dev/portcullis/internal/image/signature"
)

func ExamplePredicateType() {
	fmt.Println(signature.PredicateType("slsaprovenance"))
	fmt.Println(signature.PredicateType("spdxjson"))
	fmt.Println(signature.PredicateType("https://example.com/predicate/v1"))
	// Output:
	// https://slsa.dev/provenance/v0.2
	// https://spdx.dev/Document
	// https://example.com/predicate/v1
}

func ExampleVerificationError() {
	fmt.Println(&signature.VerificationError{})
	fmt.Println(&signature.VerificationError{Found: 2, Reasons: []string{
		"invalid or missing digest in claim: sha256:0123",
		"none of the expected identities matched what was in the certificate, got subjects [dev@example.com] with issuer https://issuer.example.com",
	}})
	fmt.Println(&signature.VerificationError{Attestation: true, PredicateType: "https://slsa.dev/provenance/v0.2"})
	// Output:
	// no signatures found
	// no matching signatures: invalid or missing digest in claim: sha256:0123
	//  none of the expected identities matched what was in the certificate, got subjects [dev@example.com] with issuer https://issuer.example.com
	// no matching attestations
}

func ExampleNew() {
	_, err := signature.New(signature.Spec{
		Identities: []signature.Identity{{SubjectRegExp: "("}},
	}, signature.Options{})
	fmt.Println(err)
	// Output:
	// identities[0].subjectRegExp: error parsing regexp: missing closing ): `(`
	// identities: keyless verification needs a trusted root with certificate authorities (trustedRoot, the default root or roots)
}
