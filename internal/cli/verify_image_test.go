package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/portcullis-dev/portcullis/internal/image/imagetest"
	"github.com/portcullis-dev/portcullis/internal/image/signature/signaturetest"
)

// The identity of the seed's Chainguard policy.
const (
	chainguardSubject = "https://github.com/chainguard-images/images/.github/workflows/release.yaml@refs/heads/main"
	githubIssuer      = "https://token.actions.githubusercontent.com"
)

// verifyImageOutput is the part of verify-image's JSON the tests read.
type verifyImageOutput struct {
	Image    string
	Admitted bool
	Images   []string
	Results  []struct{ Dialect, Kind, Policy, Rule, Result, Action, Message string }
}

func TestVerifyImage(t *testing.T) {
	reg := imagetest.NewRegistry(t)
	host := reg.Host()
	ss := signaturetest.NewSigstore(t)
	signed := reg.PushRandom(t, "chainguard/nginx", "latest")
	ss.SignLegacy(t, reg, signed, chainguardSubject, githubIssuer)
	unsigned := reg.PushRandom(t, "chainguard/unsigned", "latest")
	team := reg.PushRandom(t, "team/app", "v1")
	ss.SignLegacy(t, reg, team, "dev@example.com", "https://issuer.example.com")
	stranger := reg.PushRandom(t, "team/stranger", "v1")
	ss.SignLegacy(t, reg, stranger, "mallory@example.com", "https://issuer.example.com")

	dir := t.TempDir()
	root := filepath.Join(dir, "trusted_root.json")
	if err := os.WriteFile(root, ss.TrustedRootJSON(), 0o600); err != nil {
		t.Fatal(err)
	}
	// The seed's policy, unchanged.
	seed, err := os.ReadFile(filepath.Join(shared, "seeds", "policies", "sigstore-chainguard-images-are-signed.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "cip.yaml", string(seed))
	write(t, dir, "kyverno.yaml", `apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: verify-team}
spec:
  webhookTimeoutSeconds: 30
  rules:
  - name: verify-team
    match: {any: [{resources: {kinds: [Pod]}}]}
    verifyImages:
    - imageReferences: ["`+host+`/team/*"]
      failureAction: Enforce
      attestors:
      - entries:
        - keyless:
            subject: dev@example.com
            issuer: https://issuer.example.com
            rekor: {url: https://rekor.sigstore.dev}
            ctlog: {ignoreSCT: true}
`)
	// Keys in Secrets: the offline commands read no Secrets.
	write(t, dir, "cip-secret.yaml", `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: secret-key}
spec:
  images: [{glob: "`+host+`/team/**"}]
  authorities: [{key: {secretRef: {name: cosign-key}}}]
`)
	write(t, dir, "kyverno-secret.yaml", `apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: secret-key}
spec:
  rules:
  - name: secret-key
    match: {any: [{resources: {kinds: [Pod]}}]}
    verifyImages:
    - imageReferences: ["`+host+`/team/*"]
      failureAction: Enforce
      attestors:
      - entries:
        - keys:
            secret: {name: cosign, namespace: keys}
            rekor: {url: https://rekor.sigstore.dev, ignoreTlog: true}
`)
	write(t, dir, "deployment.yaml", `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      initContainers: [{name: init, image: busybox}]
      containers: [{name: web, image: nginx, ports: [{containerPort: 80}]}]
`)
	flags := []string{"--trusted-root", root, "--registry-mirror", "cgr.dev=" + host, "--allow-insecure-registry"}
	cgr := func(repo, digest string) string { return "cgr.dev/" + repo + "@" + digest }

	tests := []struct {
		name     string
		args     []string
		code     int
		admitted bool
		// images are the workload's images after mutation.
		images []string
		// result is the start of the first failing message, if any.
		result string
	}{{
		name: "signed, by tag", code: ExitOK, admitted: true,
		args:   []string{"cgr.dev/chainguard/nginx:latest", "--policy", filepath.Join(dir, "cip.yaml")},
		images: []string{cgr("chainguard/nginx", signed.Digest)},
	}, {
		name: "signed, by digest, in a Deployment", code: ExitOK, admitted: true,
		args: []string{cgr("chainguard/nginx", signed.Digest), "-p", filepath.Join(dir, "cip.yaml"), "--resource", filepath.Join(dir, "deployment.yaml")},
	}, {
		name: "unsigned", code: ExitFailed,
		args:   []string{cgr("chainguard/unsigned", unsigned.Digest), "--policy", filepath.Join(dir, "cip.yaml")},
		result: "/chainguard/unsigned@" + unsigned.Digest + " signature keyless validation failed for authority authority-0",
	}, {
		name: "no policy matches", code: ExitFailed,
		args:   []string{host + "/team/app:v1", "--policy", filepath.Join(dir, "cip.yaml")},
		result: "no matching policies:",
	}, {
		name: "kyverno verifyImages", code: ExitOK, admitted: true,
		args:   []string{host + "/team/app:v1", "--policy", filepath.Join(dir, "kyverno.yaml")},
		images: []string{host + "/team/app:v1@" + team.Digest},
	}, {
		name: "kyverno verifyImages, wrong signer", code: ExitFailed,
		args: []string{host + "/team/stranger:v1", "--policy", filepath.Join(dir, "kyverno.yaml")},
	}, {
		name: "ClusterImagePolicy key in a Secret, offline", code: ExitFailed,
		args:   []string{host + "/team/app@" + team.Digest, "--policy", filepath.Join(dir, "cip-secret.yaml")},
		result: `spec.authorities[0].key.secretRef: cannot read secret "cosign-key": keys in Secrets are only read in a cluster (portcullis serve)`,
	}, {
		name: "kyverno key in a Secret, offline", code: ExitFailed,
		args:   []string{host + "/team/app:v1", "--policy", filepath.Join(dir, "kyverno-secret.yaml")},
		result: ".attestors[0].entries[0].keys: failed to load public key from k8s://keys/cosign: keys in Secrets are only read in a cluster (portcullis serve)",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(t, "", append(append([]string{"verify-image"}, tt.args...), flags...)...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, tt.code, out, errOut)
			}
			var got verifyImageOutput
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if got.Admitted != tt.admitted || got.Image != tt.args[0] {
				t.Errorf("admitted %v for %s, want %v for %s", got.Admitted, got.Image, tt.admitted, tt.args[0])
			}
			if len(got.Results) == 0 {
				t.Errorf("no results")
			}
			if tt.images != nil {
				if diff := cmp.Diff(tt.images, got.Images); diff != "" {
					t.Errorf("images (-want +got):\n%s", diff)
				}
			}
			if tt.result != "" {
				found := false
				for _, r := range got.Results {
					if (r.Result == "fail" || r.Result == "error") && strings.Contains(r.Message, tt.result) {
						found = true
					}
				}
				if !found {
					t.Errorf("no failing result says %q: %+v", tt.result, got.Results)
				}
			}
			want := "result: denied"
			if tt.admitted {
				want = "result: admitted"
			}
			if !strings.Contains(errOut, "image: "+tt.args[0]) || !strings.Contains(errOut, want) {
				t.Errorf("summary does not name the image and %q:\n%s", want, errOut)
			}
		})
	}
}

func TestVerifyImageBadInput(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "cip.yaml", `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: p}
spec:
  images: [{glob: "**"}]
  authorities: [{keyless: {identities: [{issuer: i, subject: s}]}}]
`)
	write(t, dir, "static.yaml", `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: pass}
spec:
  images: [{glob: "**"}]
  authorities: [{static: {action: pass}}]
`)
	write(t, dir, "empty.yaml", "# nothing\n")
	write(t, dir, "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
	write(t, dir, "root.json", "{not json")
	cip := filepath.Join(dir, "cip.yaml")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no image", []string{"--policy", cip}, "exactly one IMAGE"},
		{"two images", []string{"a", "b", "--policy", cip}, "exactly one IMAGE"},
		{"bad image", []string{"Not/Valid", "--policy", cip}, "invalid image reference"},
		{"no policy", []string{"nginx"}, "at least one --policy"},
		{"missing policy file", []string{"nginx", "--policy", filepath.Join(dir, "nope.yaml")}, "nope.yaml"},
		{"empty policy file", []string{"nginx", "--policy", filepath.Join(dir, "empty.yaml")}, "hold no policies"},
		{"keyless without a trusted root", []string{"nginx", "--policy", cip}, "cip.yaml[ClusterImagePolicy/p]"},
		{"bad trusted root", []string{"nginx", "--policy", cip, "--trusted-root", filepath.Join(dir, "root.json")}, "--trusted-root"},
		{"bad mirror", []string{"nginx", "--policy", cip, "--registry-mirror", "docker.io"}, "--registry-mirror"},
		{"bad timeout", []string{"nginx", "--policy", cip, "--registry-timeout", "-1s"}, "--registry-timeout"},
		{"resource that runs no image", []string{"nginx", "--policy", filepath.Join(dir, "static.yaml"), "--resource", filepath.Join(dir, "cm.yaml")}, "not a Pod or a pod controller"},
		{"unknown flag", []string{"nginx", "--policy", cip, "--nope"}, "unknown flag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := run(t, "", append([]string{"verify-image"}, tt.args...)...)
			if code != ExitBadInput {
				t.Errorf("exit %d, want %d\n%s", code, ExitBadInput, errOut)
			}
			if !strings.Contains(errOut, tt.want) {
				t.Errorf("error %q does not contain %q", errOut, tt.want)
			}
		})
	}
}

func TestApplyRegistryFlags(t *testing.T) {
	reg := imagetest.NewRegistry(t)
	nginx := reg.PushRandom(t, "library/nginx", "latest")
	ss := signaturetest.NewSigstore(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "trusted_root.json")
	if err := os.WriteFile(root, ss.TrustedRootJSON(), 0o600); err != nil {
		t.Fatal(err)
	}
	seeds := filepath.Join(shared, "seeds", "policies")
	write(t, dir, "deployment.yaml", `apiVersion: apps/v1
kind: Deployment
metadata: {name: nginx-unsigned, namespace: default}
spec:
  selector: {matchLabels: {app: nginx-unsigned}}
  template:
    metadata: {labels: {app: nginx-unsigned}}
    spec:
      containers: [{name: nginx, image: "nginx:latest", ports: [{containerPort: 80}]}]
`)
	code, out, errOut := run(t, "", "apply", "-o", "json",
		"-p", filepath.Join(seeds, "gatekeeper-k8srequiredimagesignatures-template.yaml"),
		"-p", filepath.Join(seeds, "gatekeeper-require-signed-images.yaml"),
		"-p", filepath.Join(seeds, "ratify-verifier-cosign-chainguard.yaml"),
		"-p", filepath.Join(seeds, "ratify-policy.yaml"),
		"-r", filepath.Join(dir, "deployment.yaml"),
		"--trusted-root", root, "--registry-mirror", "docker.io="+reg.Host(), "--allow-insecure-registry")
	if code != ExitFailed {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, ExitFailed, out, errOut)
	}
	var rep struct {
		Results []struct{ Policy, Result, Message string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := `image "docker.io/library/nginx@` + nginx.Digest + `" is not signed by Chainguard: verification failed`
	found := false
	for _, r := range rep.Results {
		if r.Policy == "require-signed-images" && r.Result == "fail" && r.Message == want {
			found = true
		}
	}
	if !found {
		t.Errorf("no failure %q in %+v", want, rep.Results)
	}
}

// TestApplySigstoreSeeds runs seeds 001 and 002 through apply: an image no
// ClusterImagePolicy matches is denied, and the maximum-age Rego policy
// refuses an old image with the seed's message, naming the digest.
func TestApplySigstoreSeeds(t *testing.T) {
	reg := imagetest.NewRegistry(t)
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.CreatedAt(img, v1.Time{Time: time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	old := reg.PushImage(t, "distroless/static", "latest", img)
	dir := t.TempDir()
	root := filepath.Join(dir, "trusted_root.json")
	if err := os.WriteFile(root, signaturetest.NewSigstore(t).TrustedRootJSON(), 0o600); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "pods.yaml", `apiVersion: v1
kind: Pod
metadata: {name: myoldimage, namespace: default}
spec:
  containers: [{name: myoldimage, image: ghcr.io/distroless/static}]
`)
	seeds := filepath.Join(shared, "seeds", "policies")
	tests := []struct {
		name, policy, want string
	}{
		{"seed 001: no matching policies", "sigstore-chainguard-images-are-signed.yaml",
			"no matching policies: spec.containers[0].image"},
		{"seed 002: maximum image age", "sigstore-maximum-image-age-rego.yaml",
			"ghcr.io/distroless/static@" + old.Digest + " failed evaluating rego policy for type ClusterImagePolicy: policy is not compliant for query 'isCompliant = data.sigstore.isCompliant' with errors: Image exceeds maximum allowed age."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(t, "", "apply", "-o", "json", "-p", filepath.Join(seeds, tt.policy),
				"-r", filepath.Join(dir, "pods.yaml"), "--registry-mirror", "ghcr.io="+reg.Host(), "--allow-insecure-registry", "--trusted-root", root)
			if code != ExitFailed {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, ExitFailed, out, errOut)
			}
			var rep struct {
				Results []struct{ Result, Message string }
			}
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			var msgs []string
			for _, r := range rep.Results {
				if r.Result == "fail" {
					msgs = append(msgs, r.Message)
				}
			}
			if diff := cmp.Diff([]string{tt.want}, msgs); diff != "" {
				t.Errorf("failures (-want +got):\n%s", diff)
			}
		})
	}
}
