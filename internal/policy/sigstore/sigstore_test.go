package sigstore_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/image/signature"
	"github.com/portcullis-dev/portcullis/internal/image/signature/signaturetest"
	"github.com/portcullis-dev/portcullis/internal/policy/sigstore"
)

const staticPass = `
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: allow-all
spec:
  images: [{glob: "**"}]
  authorities: [{static: {action: pass}}]
`

// TestSeedMaximumImageAge runs the seed's maximum-image-age-rego policy
// unchanged: an image whose config was created more than 30 days ago is
// denied with the seed's message, a fresh one is admitted.
func TestSeedMaximumImageAge(t *testing.T) {
	e := newEnv(t)
	old := e.push(t, "distroless/static", "latest", now.AddDate(0, 0, -400))
	fresh := e.push(t, "chainguard/static", "latest", now.Add(-6*time.Hour))
	set := compile(t, seed(t, "sigstore-maximum-image-age-rego.yaml"), sigstore.WithClock(func() time.Time { return now }))

	oldImage := digestRef("ghcr.io/distroless/static", old)
	seedLine := oldImage + " failed evaluating rego policy for type ClusterImagePolicy: policy is not compliant for query 'isCompliant = data.sigstore.isCompliant' with errors: Image exceeds maximum allowed age."
	tests := []struct {
		name  string
		image string
		want  verdict
		// where is the failing policy and its rule (the container path).
		where []string
	}{
		{
			// The mutating phase resolves the tag first: the message names
			// the digest it resolved to.
			name:  "old image by tag",
			image: "ghcr.io/distroless/static",
			want:  verdict{Denial: "validation failed: " + seedLine},
			where: []string{"maximum-image-age-rego spec.containers[0].image"},
		},
		{
			name:  "old image by digest",
			image: oldImage,
			want:  verdict{Denial: "validation failed: " + seedLine},
			where: []string{"maximum-image-age-rego spec.containers[0].image"},
		},
		{
			name:  "fresh image by tag",
			image: "cgr.dev/chainguard/static",
		},
		{
			name:  "fresh image by digest",
			image: digestRef("cgr.dev/chainguard/static", fresh),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, res := evaluate(t, set, request(pod(tc.image)), e.cluster())
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("verdict (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.where, where(res)); diff != "" {
				t.Errorf("failing policies and paths (-want +got):\n%s", diff)
			}
			if tc.want.Denial != "" && !strings.HasPrefix(got.Denial, "validation failed: ghcr.io/distroless/static@sha256:") {
				t.Errorf("the denial does not read as the seed's: %q", got.Denial)
			}
			// A policy that says no is a failure, not an error: the
			// webhook's failure policy must not let it through.
			for _, r := range res.Denied() {
				if r.Verdict != engine.Fail {
					t.Errorf("verdict %s, want fail: %s", r.Verdict, r.Message)
				}
			}
		})
	}
}

// TestNoMatch covers the no-match policy: deny (the default, the seed's
// "kubectl run --image nginx" message), warn and allow.
func TestNoMatch(t *testing.T) {
	e := newEnv(t)
	nginx := e.push(t, "library/nginx", "latest", now)
	chainguard := seed(t, "sigstore-chainguard-images-are-signed.yaml")
	ss := signaturetest.NewSigstore(t)
	nginxDigest := "index.docker.io/library/nginx@" + nginx
	tests := []struct {
		name string
		opts []sigstore.Option
		want verdict
	}{
		{
			name: "deny by default",
			want: verdict{Denial: "validation failed: no matching policies: spec.containers[0].image"},
		},
		{
			name: "deny",
			opts: []sigstore.Option{sigstore.WithNoMatchPolicy(sigstore.NoMatchDeny)},
			want: verdict{Denial: "validation failed: no matching policies: spec.containers[0].image"},
		},
		{
			name: "warn",
			opts: []sigstore.Option{sigstore.WithNoMatchPolicy(sigstore.NoMatchWarn)},
			want: verdict{Warnings: []string{"no matching policies: spec.containers[0].image"}},
		},
		{
			name: "allow",
			opts: []sigstore.Option{sigstore.WithNoMatchPolicy(sigstore.NoMatchAllow)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := compile(t, chainguard, append(tc.opts, sigstore.WithSignatureOptions(signature.Options{DefaultRoot: ss.TrustedRoot()}))...)
			got, res := evaluate(t, set, request(pod("nginx")), e.cluster())
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("verdict (-want +got):\n%s", diff)
			}
			// The message no longer names the image (the seed's does
			// not): the result still does, resolved to its digest.
			var wantImages []string
			if tc.want.Denial != "" || len(tc.want.Warnings) > 0 {
				wantImages = []string{sigstore.ControllerPolicyName + " no-match-policy " + nginxDigest}
			}
			if diff := cmp.Diff(wantImages, failedImages(res)); diff != "" {
				t.Errorf("failing results (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNoMatchPolicyOption checks the parsing of the setting and that an
// unknown value is reported and denies.
func TestNoMatchPolicyOption(t *testing.T) {
	for _, s := range []string{"deny", "warn", "allow"} {
		if p, err := sigstore.ParseNoMatchPolicy(s); err != nil || string(p) != s {
			t.Errorf("ParseNoMatchPolicy(%q) = %q, %v", s, p, err)
		}
	}
	if _, err := sigstore.ParseNoMatchPolicy("maybe"); err == nil {
		t.Errorf("ParseNoMatchPolicy(maybe): no error")
	}
	e := newEnv(t)
	ss := signaturetest.NewSigstore(t)
	set, errs := engine.New(sigstore.New(sigstore.WithNoMatchPolicy("maybe"),
		sigstore.WithSignatureOptions(signature.Options{DefaultRoot: ss.TrustedRoot()}))).Compile(docs(t, seed(t, "sigstore-chainguard-images-are-signed.yaml")))
	want := []string{`config-policy-controller.no-match-policy: Invalid value: "deny": unknown no-match policy "maybe": want "deny", "warn" or "allow"`}
	if diff := cmp.Diff(want, errorStrings(errs)); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	img := "ghcr.io/other/app@sha256:" + strings.Repeat("0", 64)
	got, res := evaluate(t, set, request(pod(img)), e.cluster())
	if want := "validation failed: no matching policies: spec.containers[0].image"; got.Denial != want {
		t.Errorf("denial = %q, want %q (fail closed)", got.Denial, want)
	}
	if diff := cmp.Diff([]string{sigstore.ControllerPolicyName + " no-match-policy " + img}, failedImages(res)); diff != "" {
		t.Errorf("failing results (-want +got):\n%s", diff)
	}
}

func errorStrings(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

// TestNoPolicies checks that with no ClusterImagePolicy at all the dialect
// still denies (seed 001's first step): Compile with no documents returns
// the controller policy.
func TestNoPolicies(t *testing.T) {
	e := newEnv(t)
	nginx := e.push(t, "library/nginx", "latest", now)
	policies, errs := sigstore.New().Compile(nil)
	if len(errs) > 0 || len(policies) != 1 {
		t.Fatalf("Compile(nil) = %d policies, %v", len(policies), errs)
	}
	p := policies[0]
	if diff := cmp.Diff(engine.PolicyRef{Dialect: "sigstore", Kind: sigstore.ControllerPolicyKind, Name: sigstore.ControllerPolicyName}, p.Ref()); diff != "" {
		t.Errorf("ref (-want +got):\n%s", diff)
	}
	req := request(pod("nginx"))
	req.Memo = engine.Memo{}
	req.Phase = engine.PhaseMutate
	mutated := p.Evaluate(t.Context(), &req, e.cluster())
	if mutated.Object == nil {
		t.Fatal("no mutation")
	}
	req = request(mutated.Object)
	req.Memo = engine.Memo{}
	req.Phase = engine.PhaseValidate
	out := p.Evaluate(t.Context(), &req, e.cluster())
	var got []string
	for _, r := range out.Rules {
		got = append(got, string(r.Verdict)+" "+string(r.Action)+" "+r.Policy.Name+" "+r.Rule+" "+r.Properties["image"]+": "+r.Message)
	}
	want := []string{"fail deny " + sigstore.ControllerPolicyName + " no-match-policy index.docker.io/library/nginx@" + nginx +
		": no matching policies: spec.containers[0].image"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}
