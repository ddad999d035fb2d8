package sigstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/image/signature"
	"github.com/portcullis-dev/portcullis/internal/image/signature/signaturetest"
	"github.com/portcullis-dev/portcullis/internal/policy/sigstore"
)

// BenchmarkEvaluate measures the validating phase for a Pod with one image
// once the registry client and the verifiers have cached what they read:
// what an admission of an already seen image costs.
func BenchmarkEvaluate(b *testing.B) {
	e := newEnv(b)
	ss := signaturetest.NewSigstore(b)
	signed := e.reg.PushRandom(b, "chainguard/static", "latest")
	ss.SignLegacy(b, e.reg, signed, chainguardSubject, githubIssuer)
	fresh := e.push(b, "distroless/static", "latest", now)
	keyless := `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: keyless
spec:
  images: [{glob: "cgr.dev/chainguard/**"}]
  authorities:
  - keyless:
      url: https://fulcio.sigstore.dev
      insecureIgnoreSCT: true
      identities: [{issuer: "` + githubIssuer + `", subject: "` + chainguardSubject + `"}]
    ctlog: {url: "https://rekor.sigstore.dev"}
`
	cases := []struct {
		name   string
		policy string
		image  string
		opts   []sigstore.Option
	}{
		{name: "static", policy: staticPass, image: "ghcr.io/team/app@" + digestOf('a')},
		{name: "rego-max-age", policy: seed(b, "sigstore-maximum-image-age-rego.yaml"), image: "ghcr.io/distroless/static@" + fresh,
			opts: []sigstore.Option{sigstore.WithClock(func() time.Time { return now })}},
		{name: "keyless-cached", policy: keyless, image: "cgr.dev/chainguard/static@" + signed.Digest,
			opts: []sigstore.Option{sigstore.WithSignatureOptions(signature.Options{DefaultRoot: ss.TrustedRoot()})}},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			set, errs := engine.New(sigstore.New(bc.opts...)).Compile(docs(b, bc.policy))
			if len(errs) > 0 {
				b.Fatal(errs.ToAggregate())
			}
			req := request(pod(bc.image))
			req.Phase = engine.PhaseValidate
			ctx := context.Background()
			if res := set.Evaluate(ctx, req, e.cluster()); len(res.Denied()) > 0 {
				b.Fatalf("denied: %+v", res.Denied())
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				set.Evaluate(ctx, req, e.cluster())
			}
		})
	}
}
