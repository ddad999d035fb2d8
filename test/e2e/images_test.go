package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/portcullis-dev/portcullis/internal/image"
	"github.com/portcullis-dev/portcullis/internal/image/imagetest"
	"github.com/portcullis-dev/portcullis/internal/image/signature/signaturetest"
)

// The identities the seeds' policies trust.
const (
	githubIssuer      = "https://token.actions.githubusercontent.com"
	chainguardSubject = "https://github.com/chainguard-images/images/.github/workflows/release.yaml@refs/heads/main"
	kloudvinSubject   = "https://github.com/kloudvin/api/.github/workflows/build-sign.yml@refs/heads/main"
)

// images is the registry side of the image walkthroughs: one in-process
// registry that stands in for cgr.dev, docker.io and ghcr.io (portcullis
// reads them through --registry-mirror), an in-process Sigstore whose
// trusted root portcullis is given with --trusted-root, and the images the
// seeds name, signed as their publishers sign them.
type images struct {
	reg   *imagetest.Registry
	ss    *signaturetest.Sigstore
	flags []string
	refs  map[string]image.Ref
}

func newImages(t *testing.T) *images {
	t.Helper()
	im := &images{reg: imagetest.NewRegistry(t), ss: signaturetest.NewSigstore(t), refs: map[string]image.Ref{}}
	rootFile := filepath.Join(t.TempDir(), "trusted_root.json")
	if err := os.WriteFile(rootFile, im.ss.TrustedRootJSON(), 0o600); err != nil {
		t.Fatal(err)
	}
	host := im.reg.Host()
	im.flags = []string{"--trusted-root", rootFile, "--allow-insecure-registry",
		"--registry-mirror", "cgr.dev=" + host, "--registry-mirror", "docker.io=" + host, "--registry-mirror", "ghcr.io=" + host}
	return im
}

// push pushes a random image as repo:tag of the local registry, created at
// the given time, and remembers its digest reference under name.
func (im *images) push(t *testing.T, name, repo, tag string, created time.Time) image.Ref {
	t.Helper()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.CreatedAt(img, v1.Time{Time: created})
	if err != nil {
		t.Fatal(err)
	}
	ref := im.reg.PushImage(t, repo, tag, img)
	im.refs[name] = ref
	return ref
}

// digestOf returns name@digest as the seeds print it: the image as the
// Pod names it, without its tag, at the digest the registry gives.
func (im *images) digestOf(name, written string) string {
	repo, _, _ := strings.Cut(written, ":")
	return repo + "@" + im.refs[name].Digest
}

// TestSigstoreWalkthrough drives seeds 001 and 002 through policy.sigstore.dev:
// a labelled namespace denies every image while no ClusterImagePolicy
// matches it; the keyless Chainguard policy admits a signed Chainguard image
// (pinned to its digest by the defaulting webhook) and refuses an unsigned
// one; the maximum-age Rego policy refuses an image built years ago with the
// seed's message.
func TestSigstoreWalkthrough(t *testing.T) {
	im := newImages(t)
	nginx := im.push(t, "chainguard-nginx", "chainguard/nginx", "latest", time.Now())
	im.ss.SignBundle(t, im.reg, nginx, chainguardSubject, githubIssuer)
	static := im.push(t, "chainguard-static", "chainguard/static", "latest", time.Now().Add(-time.Hour))
	im.ss.SignLegacy(t, im.reg, static, chainguardSubject, githubIssuer)
	im.push(t, "chainguard-unsigned", "chainguard/unsigned", "latest", time.Now())
	im.push(t, "distroless", "distroless/static", "latest", time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC))
	im.push(t, "docker-nginx", "library/nginx", "latest", time.Now())

	srv := startServer(t, "", im.flags...)
	defer func() {
		if t.Failed() {
			t.Logf("portcullis log:\n%s", srv.log.String())
		}
		suite.kubectl("", "delete", "pods", "--all", "--wait=false")
		suite.kubectl("", "delete", "clusterimagepolicies", "--all")
		suite.kubectl("", "label", "namespace", "default", "policy.sigstore.dev/include-")
		srv.stop(t)
	}()
	mustKubectl(t, "", "label", "namespace", "default", "policy.sigstore.dev/include=true", "--overwrite")
	if out := mustKubectl(t, "", "get", "ns", "-l", "policy.sigstore.dev/include=true", "-o", "name"); out != "namespace/default" {
		t.Errorf("labelled namespaces: %q", out)
	}

	// Seed 001, step 1: no ClusterImagePolicy, so no policy matches.
	want := `Error from server (BadRequest): admission webhook "policy.sigstore.dev" denied the request: validation failed: no matching policies: spec.containers[0].image`
	eventually(t, 60*time.Second, "no-match denial", func() (string, bool) {
		out, _ := suite.kubectl("", "run", "nginx", "--image", "nginx", "--dry-run=server")
		return out, strings.Contains(out, "no matching policies")
	})
	if out, _ := suite.kubectl("", "run", "nginx", "--image", "nginx"); out != want {
		t.Errorf("kubectl run printed:\n%s\nwant:\n%s", out, want)
	}

	// Step 2: the keyless policy for Chainguard's images.
	out := mustKubectl(t, "", "apply", "-f", seedPolicy("sigstore-chainguard-images-are-signed.yaml"))
	if out != "clusterimagepolicy.policy.sigstore.dev/chainguard-images-are-signed created" {
		t.Errorf("kubectl apply printed %q", out)
	}
	out = eventually(t, 60*time.Second, "signed image admitted", func() (string, bool) {
		out, err := suite.kubectl("", "run", "nginx", "--image", "cgr.dev/chainguard/nginx")
		return out, err == nil
	})
	if out != "pod/nginx created" {
		t.Errorf("kubectl run printed %q", out)
	}
	if got, want := mustKubectl(t, "", "get", "pod", "nginx", "-o", "jsonpath={.spec.containers[0].image}"), im.digestOf("chainguard-nginx", "cgr.dev/chainguard/nginx"); got != want {
		t.Errorf("admitted image is %q, want it pinned to %q", got, want)
	}
	out, err := suite.kubectl("", "run", "unsigned", "--image", "cgr.dev/chainguard/unsigned:latest")
	prefix := `Error from server (BadRequest): admission webhook "policy.sigstore.dev" denied the request: validation failed: ` + im.digestOf("chainguard-unsigned", "cgr.dev/chainguard/unsigned") + " "
	if err == nil || !strings.HasPrefix(out, prefix) || !strings.Contains(out, "no signatures found") {
		t.Errorf("unsigned Chainguard image: kubectl printed:\n%s\nwant a denial starting with:\n%s", out, prefix)
	}

	// Seed 002: the maximum image age, in Rego, on the image's config.
	out = mustKubectl(t, "", "apply", "-f", seedPolicy("sigstore-maximum-image-age-rego.yaml"))
	if out != "clusterimagepolicy.policy.sigstore.dev/maximum-image-age-rego created" {
		t.Errorf("kubectl apply printed %q", out)
	}
	want = `Error from server (BadRequest): admission webhook "policy.sigstore.dev" denied the request: validation failed: ` +
		im.digestOf("distroless", "ghcr.io/distroless/static") +
		` failed evaluating rego policy for type ClusterImagePolicy: policy is not compliant for query 'isCompliant = data.sigstore.isCompliant' with errors: Image exceeds maximum allowed age.`
	eventually(t, 60*time.Second, "maximum age denial", func() (string, bool) {
		out, _ := suite.kubectl("", "run", "myoldimage", "--image", "ghcr.io/distroless/static", "--dry-run=server")
		return out, strings.Contains(out, "maximum allowed age")
	})
	if out, _ := suite.kubectl("", "run", "myoldimage", "--image", "ghcr.io/distroless/static"); out != want {
		t.Errorf("kubectl run printed:\n%s\nwant:\n%s", out, want)
	}
	if out, err := suite.kubectl("", "run", "mydailyfreshimage", "--image", "cgr.dev/chainguard/static"); err != nil || out != "pod/mydailyfreshimage created" {
		t.Errorf("fresh signed image: kubectl printed %q (%v)", out, err)
	}
}

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: NAME
spec:
  replicas: 1
  selector:
    matchLabels:
      app: NAME
  template:
    metadata:
      labels:
        app: NAME
    spec:
      containers:
      - name: nginx
        image: IMAGE
        ports:
        - containerPort: 8080
`

// TestRatifyWalkthrough drives the end of seed 000: Gatekeeper's
// K8sRequiredImageSignatures template calls the Ratify provider, which
// portcullis serves in-process from the seed's Verifier and Policy; the
// signed Chainguard Deployment is created and the unsigned nginx one is
// denied with the seed's message, naming the digest Ratify's mutation
// pinned the image to.
func TestRatifyWalkthrough(t *testing.T) {
	im := newImages(t)
	nginx := im.push(t, "chainguard-nginx", "chainguard/nginx", "latest", time.Now())
	im.ss.SignLegacy(t, im.reg, nginx, chainguardSubject, githubIssuer)
	im.push(t, "docker-nginx", "library/nginx", "latest", time.Now())

	srv := startServer(t, "", im.flags...)
	defer func() {
		if t.Failed() {
			t.Logf("portcullis log:\n%s", srv.log.String())
		}
		suite.kubectl("", "delete", "deployments", "--all")
		suite.kubectl("", "delete", "constrainttemplates", "--all")
		suite.kubectl("", "delete", "verifiers.config.ratify.deislabs.io,policies.config.ratify.deislabs.io", "--all")
		srv.stop(t)
	}()
	mustKubectl(t, "", "apply", "-f", seedPolicy("ratify-verifier-cosign-chainguard.yaml"), "-f", seedPolicy("ratify-policy.yaml"))
	mustKubectl(t, "", "create", "-f", seedPolicy("gatekeeper-k8srequiredimagesignatures-template.yaml"))
	constraint := readFile(t, seedPolicy("gatekeeper-require-signed-images.yaml"))
	eventually(t, 60*time.Second, "constraint CRD", func() (string, bool) {
		out, err := suite.kubectl(constraint, "create", "-f", "-")
		return out, err == nil
	})

	dir := t.TempDir()
	good := filepath.Join(dir, "good-deployment.yaml")
	bad := filepath.Join(dir, "bad-deployment.yaml")
	writeDeployment(t, good, "nginx-chainguard", "cgr.dev/chainguard/nginx:latest")
	writeDeployment(t, bad, "nginx-unsigned", "nginx:latest")

	want := `Error from server (Forbidden): error when creating "` + bad + `": admission webhook "validation.gatekeeper.sh" denied the request: [require-signed-images] image "docker.io/library/nginx@` +
		im.refs["docker-nginx"].Digest + `" is not signed by Chainguard: verification failed`
	eventually(t, 60*time.Second, "unsigned denial", func() (string, bool) {
		out, _ := suite.kubectl("", "create", "--dry-run=server", "-f", bad)
		return out, strings.Contains(out, "[require-signed-images]")
	})
	if out, _ := suite.kubectl("", "create", "-f", bad); out != want {
		t.Errorf("kubectl create printed:\n%s\nwant:\n%s", out, want)
	}
	if out, err := suite.kubectl("", "create", "-f", good); err != nil || out != "deployment.apps/nginx-chainguard created" {
		t.Errorf("signed deployment: kubectl printed %q (%v)", out, err)
	}
}

func writeDeployment(t *testing.T, path, name, img string) {
	t.Helper()
	y := strings.ReplaceAll(strings.Replace(deployment, "IMAGE", img, 1), "NAME", name)
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestKyvernoVerifyImages drives seed 003's verifyImages policy. As
// written (validationFailureAction Audit with mutateDigest: true) Kyverno
// refuses it, and so does portcullis: the policy is not Ready and says why.
// Step 7's patch to Enforce (the policy's and the rule's own failureAction)
// makes it valid: a signed image of ghcr.io/kloudvin is admitted and pinned
// to its digest, an unsigned one is refused with Kyverno's message.
func TestKyvernoVerifyImages(t *testing.T) {
	im := newImages(t)
	api := im.push(t, "api", "kloudvin/api", "v1", time.Now())
	im.ss.SignLegacy(t, im.reg, api, kloudvinSubject, githubIssuer)
	im.push(t, "unsigned", "kloudvin/unsigned", "v1", time.Now())

	srv := startServer(t, "", im.flags...)
	defer func() {
		if t.Failed() {
			t.Logf("portcullis log:\n%s", srv.log.String())
		}
		suite.kubectl("", "delete", "pods", "--all", "--wait=false")
		suite.kubectl("", "delete", "clusterpolicies", "--all")
		srv.stop(t)
	}()
	if out := mustKubectl(t, "", "apply", "-f", seedPolicy("kyverno-verify-images.yaml")); out != "clusterpolicy.kyverno.io/require-signed-images created" {
		t.Errorf("kubectl apply printed %q", out)
	}
	ready := `jsonpath={.status.conditions[?(@.type=="Ready")].status}: {.status.conditions[?(@.type=="Ready")].message}`
	out := eventually(t, 60*time.Second, "policy refused", func() (string, bool) {
		out, _ := suite.kubectl("", "get", "cpol", "require-signed-images", "-o", ready)
		return out, strings.HasPrefix(out, "False")
	})
	if want := "mutateDigest must be set to false for ‘Audit’ failure action"; !strings.Contains(out, want) {
		t.Errorf("Ready condition %q does not say %q", out, want)
	}

	mustKubectl(t, "", "patch", "clusterpolicy", "require-signed-images", "--type", "json", "-p",
		`[{"op":"replace","path":"/spec/validationFailureAction","value":"Enforce"},{"op":"replace","path":"/spec/rules/0/verifyImages/0/failureAction","value":"Enforce"}]`)
	eventually(t, 60*time.Second, "policy ready", func() (string, bool) {
		out, _ := suite.kubectl("", "get", "cpol", "require-signed-images", "-o", ready)
		return out, strings.HasPrefix(out, "True")
	})
	out = eventually(t, 60*time.Second, "signed image pinned", func() (string, bool) {
		out, err := suite.kubectl("", "run", "good-pod", "--image", "ghcr.io/kloudvin/api:v1", "--dry-run=server", "-o", "jsonpath={.spec.containers[0].image}")
		return out, err == nil && strings.Contains(out, "@sha256:")
	})
	if want := "ghcr.io/kloudvin/api:v1@" + api.Digest; out != want {
		t.Errorf("admitted image is %q, want %q", out, want)
	}
	out, err := suite.kubectl("", "run", "bad-unsigned", "--image", "ghcr.io/kloudvin/unsigned:v1")
	want := `Error from server: admission webhook "mutate.kyverno.svc-fail" denied the request: 

resource Pod/default/bad-unsigned was blocked due to the following policies 

require-signed-images:
  verify-ghcr-cosign-keyless: 'failed to verify image ghcr.io/kloudvin/unsigned:v1: .attestors[0].entries[0].keyless: no signatures found'`
	if err == nil || out != want {
		t.Errorf("unsigned image: kubectl printed:\n%s\nwant:\n%s", out, want)
	}
}

// TestSigstoreKeyInSecret: a ClusterImagePolicy whose key authority names a
// Secret in portcullis's namespace (policy-controller reads its own
// namespace) admits an image signed by the cosign CLI with that key and
// denies an unsigned one.
func TestSigstoreKeyInSecret(t *testing.T) {
	im := newImages(t)
	key := signaturetest.GenerateKeyPair(t)
	app := im.push(t, "app", "team/app", "v1", time.Now())
	signaturetest.CosignSign(t, app, key)
	im.push(t, "unsigned", "team/unsigned", "v1", time.Now())

	srv := startServer(t, "", im.flags...)
	defer func() {
		if t.Failed() {
			t.Logf("portcullis log:\n%s", srv.log.String())
		}
		suite.kubectl("", "delete", "pods", "--all", "--wait=false")
		suite.kubectl("", "delete", "clusterimagepolicies", "--all")
		suite.kubectl("", "-n", "portcullis", "delete", "secret", "team-key", "--ignore-not-found")
		suite.kubectl("", "label", "namespace", "default", "policy.sigstore.dev/include-")
		srv.stop(t)
	}()
	mustKubectl(t, "", "-n", "portcullis", "create", "secret", "generic", "team-key", "--from-file=cosign.pub="+key.PublicKey)
	mustKubectl(t, "", "label", "namespace", "default", "policy.sigstore.dev/include=true", "--overwrite")
	mustKubectl(t, `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: team-signed
spec:
  images:
  - glob: "ghcr.io/team/**"
  authorities:
  - key:
      secretRef:
        name: team-key
`, "apply", "-f", "-")
	out := eventually(t, 60*time.Second, "signed image admitted", func() (string, bool) {
		out, err := suite.kubectl("", "run", "app", "--image", "ghcr.io/team/app:v1")
		return out, err == nil
	})
	if out != "pod/app created" {
		t.Errorf("kubectl run printed %q", out)
	}
	out, err := suite.kubectl("", "run", "unsigned", "--image", "ghcr.io/team/unsigned:v1")
	prefix := `Error from server (BadRequest): admission webhook "policy.sigstore.dev" denied the request: validation failed: ` + im.digestOf("unsigned", "ghcr.io/team/unsigned") + " "
	if err == nil || !strings.HasPrefix(out, prefix) {
		t.Errorf("unsigned image: kubectl printed:\n%s\nwant a denial starting with:\n%s", out, prefix)
	}
}
