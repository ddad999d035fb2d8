package ratify

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/portcullis-dev/portcullis/internal/admission"
	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/image/imagetest"
	"github.com/portcullis-dev/portcullis/internal/image/registry"
	"github.com/portcullis-dev/portcullis/internal/image/signature"
	"github.com/portcullis-dev/portcullis/internal/image/signature/signaturetest"
	"github.com/portcullis-dev/portcullis/internal/policy/gatekeeper"
)

// The identity of the seed's trust policy.
const (
	chainguardIssuer  = "https://token.actions.githubusercontent.com"
	chainguardSubject = "https://github.com/chainguard-images/images/.github/workflows/release.yaml@refs/heads/main"
)

// TestSeed runs the seed's Ratify scenario in-process: the
// K8sRequiredImageSignatures template and constraint (Gatekeeper dialect)
// call ratify-provider for the images of Deployments, with the seed's
// Verifier and Policy. Docker Hub and cgr.dev are mirrored to a local
// registry holding an unsigned nginx and a Chainguard nginx signed by the
// seed's identity. The documents are the seed's, unchanged: the
// Verifier's ctLogVerify holds, as the in-process CA embeds SCTs in its
// certificates as Fulcio does (TestProvider checks a certificate without
// one).
func TestSeed(t *testing.T) {
	reg := imagetest.NewRegistry(t)
	ss := signaturetest.NewSigstore(t)
	nginx := reg.PushRandom(t, "library/nginx", "latest")
	cgr := reg.PushRandom(t, "chainguard/nginx", "latest")
	ss.SignLegacy(t, reg, cgr, chainguardSubject, chainguardIssuer)
	pause := reg.PushRandom(t, "pause", "3.9")
	client, err := registry.New(registry.Options{
		Insecure:  []string{reg.Host()},
		Mirrors:   map[string]string{"docker.io": reg.Host(), "cgr.dev": reg.Host(), "registry.k8s.io": reg.Host()},
		Transport: reg.Transport(),
	})
	if err != nil {
		t.Fatal(err)
	}

	docs := seedDocs(t, "gatekeeper-k8srequiredimagesignatures-template.yaml", "gatekeeper-require-signed-images.yaml",
		"ratify-verifier-cosign-chainguard.yaml", "ratify-policy.yaml")
	gk, err := gatekeeper.New()
	if err != nil {
		t.Fatal(err)
	}
	eng := engine.New(gk, New(WithSignatureOptions(signature.Options{DefaultRoot: ss.TrustedRoot()})))
	set, errs := eng.Compile(docs)
	if len(errs) > 0 {
		t.Fatalf("compile errors: %v", errs)
	}

	deployment := func(name, img string) map[string]any {
		return object(t, `apiVersion: apps/v1
kind: Deployment
metadata: {name: `+name+`, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: `+name+`}}
  template:
    metadata: {labels: {app: `+name+`}}
    spec:
      containers: [{name: nginx, image: "`+img+`", ports: [{containerPort: 80}]}]`)
	}
	tests := []struct {
		name, image string
		// pinned is the image after the mutation.
		pinned string
		// denials are the starts of the denial messages.
		denials []string
	}{{
		name:    "nginx-unsigned",
		image:   "nginx:latest",
		pinned:  "docker.io/library/nginx@" + nginx.Digest,
		denials: []string{`[require-signed-images] image "docker.io/library/nginx@` + nginx.Digest + `" is not signed by Chainguard: verification failed`},
	}, {
		name:   "nginx-chainguard",
		image:  "cgr.dev/chainguard/nginx:latest",
		pinned: "cgr.dev/chainguard/nginx@" + cgr.Digest,
	}, {
		// The constraint exempts registry.k8s.io/pause:3.9, but the
		// mutation pins the tag first, so the exemption no longer matches.
		name:    "exempt-but-pinned",
		image:   "registry.k8s.io/pause:3.9",
		pinned:  "registry.k8s.io/pause@" + pause.Digest,
		denials: []string{`[require-signed-images] image "registry.k8s.io/pause@` + pause.Digest + `" is not signed by Chainguard: verification failed`},
	}, {
		name:  "unresolvable",
		image: "cgr.dev/chainguard/nginx:missing",
		// The mutation fails (and denies); the tag is then verified as
		// is, and cannot be resolved either.
		denials: []string{
			"[ratify-mutation-provider] failed to mutate image reference cgr.dev/chainguard/nginx:missing: ",
			`[require-signed-images] image "cgr.dev/chainguard/nginx:missing" is not signed by Chainguard: verification failed`,
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := deployment(tt.name, tt.image)
			req := engine.Request{
				Kind:      schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"},
				Resource:  schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"},
				Name:      tt.name,
				Namespace: "default",
				Operation: engine.Create,
				Object:    obj,
			}
			res := set.Evaluate(context.Background(), req, engine.Cluster{Registry: client})
			denied := res.Denied()
			var msgs []string
			for _, r := range denied {
				// Ratify's mutation runs in Gatekeeper: both speak
				// Gatekeeper's format.
				msgs = append(msgs, admission.FormatFor(gatekeeper.DialectName, engine.PhaseValidate).Denial(nil, []engine.RuleResult{r}, res.Rules).Message)
			}
			if len(msgs) != len(tt.denials) {
				t.Fatalf("denials %q, want %d", msgs, len(tt.denials))
			}
			for i, want := range tt.denials {
				if !strings.HasPrefix(msgs[i], want) {
					t.Errorf("denial %q does not start with %q", msgs[i], want)
				}
			}
			if tt.pinned == "" {
				if res.Object != nil {
					t.Errorf("object changed: %v", res.Object)
				}
				return
			}
			if res.Object == nil {
				t.Fatal("the image was not pinned")
			}
			got := podSpec(res.Object)["containers"].([]any)[0].(map[string]any)["image"]
			if diff := cmp.Diff(tt.pinned, got); diff != "" {
				t.Errorf("pinned image (-want +got):\n%s", diff)
			}
		})
	}
}
