package signature_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-dev/portcullis/internal/image"
	"github.com/portcullis-dev/portcullis/internal/image/imagetest"
	"github.com/portcullis-dev/portcullis/internal/image/registry"
	"github.com/portcullis-dev/portcullis/internal/image/signature"
)

const (
	testSubject = "dev@example.com"
	testIssuer  = "https://issuer.example.com"
)

// newClient is a registry client for reg; each test gets a fresh one so
// that its tag and referrer caches do not hide what a test pushes.
func newClient(t testing.TB, reg *imagetest.Registry) image.Registry {
	t.Helper()
	c, err := registry.New(registry.Options{Insecure: []string{reg.Host()}, Transport: reg.Transport()})
	if err != nil {
		t.Fatalf("registry client: %v", err)
	}
	return c
}

func newVerifier(t *testing.T, spec signature.Spec) *signature.Verifier {
	t.Helper()
	v, err := signature.New(spec, signature.Options{})
	if err != nil {
		t.Fatalf("signature.New: %v", err)
	}
	return v
}

// sigSummary is what the tests compare of a verified signature.
type sigSummary struct {
	Format          signature.Format
	Subject, Issuer string
	PredicateType   string
}

func summarize(sigs []signature.Signature) []sigSummary {
	var out []sigSummary
	for _, s := range sigs {
		out = append(out, sigSummary{Format: s.Format, Subject: s.Subject, Issuer: s.Issuer})
	}
	return out
}

func summarizeAtts(atts []signature.Attestation) []sigSummary {
	var out []sigSummary
	for _, a := range atts {
		out = append(out, sigSummary{Format: a.Format, Subject: a.Subject, Issuer: a.Issuer, PredicateType: a.PredicateType})
	}
	return out
}

// checkErr fails unless err contains want (or is nil when want is empty),
// and unless a verification failure is a *VerificationError.
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Fatalf("no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("error\n  %v\nwant it to contain\n  %q", err, want)
	case want != "":
		var ve *signature.VerificationError
		if !errors.As(err, &ve) {
			t.Fatalf("error %v is a %T, want a *signature.VerificationError", err, err)
		}
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}
