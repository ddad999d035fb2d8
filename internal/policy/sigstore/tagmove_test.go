package sigstore_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/image"
	"github.com/portcullis-dev/portcullis/internal/image/registry"
	"github.com/portcullis-dev/portcullis/internal/image/signature"
	"github.com/portcullis-dev/portcullis/internal/image/signature/signaturetest"
	"github.com/portcullis-dev/portcullis/internal/policy/sigstore"
)

// TestTagMovedAfterVerification: a tag is verified at the digest it names,
// and the digest is what is admitted. When the tag is moved to an unsigned
// image afterwards, the Pod admitted before still runs the verified digest,
// and a new admission of the tag (once the registry client's tag cache has
// expired) resolves the new digest and is denied.
func TestTagMovedAfterVerification(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	client, err := registry.New(registry.Options{
		Insecure:  []string{e.reg.Host()},
		Mirrors:   map[string]string{"cgr.dev": e.reg.Host()},
		Transport: e.reg.Transport(),
		TTL:       30 * time.Second,
		Now:       clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	cluster := engine.Cluster{Registry: client}
	ss := signaturetest.NewSigstore(t)
	set := compile(t, seed(t, "sigstore-chainguard-images-are-signed.yaml"),
		sigstore.WithSignatureOptions(signature.Options{DefaultRoot: ss.TrustedRoot()}))

	signed := e.reg.PushRandom(t, "chainguard/app", "latest")
	ss.SignLegacy(t, e.reg, signed, chainguardSubject, githubIssuer)
	got, res := evaluate(t, set, request(pod("cgr.dev/chainguard/app:latest")), cluster)
	if got.Denial != "" {
		t.Fatalf("signed image denied: %s", got.Denial)
	}
	if got, want := imageOf(res), "cgr.dev/chainguard/app@"+signed.Digest; got != want {
		t.Fatalf("admitted image %s, want the verified digest %s", got, want)
	}

	// The tag moves to an unsigned image.
	moved := e.reg.PushRandom(t, "chainguard/app", "latest")
	if moved.Digest == signed.Digest {
		t.Fatal("the new image has the old digest")
	}
	// Within the tag cache's TTL the tag still names the verified digest:
	// what is admitted is that digest, which was verified.
	got, res = evaluate(t, set, request(pod("cgr.dev/chainguard/app:latest")), cluster)
	if got.Denial != "" || !strings.Contains(imageOf(res), signed.Digest) {
		t.Fatalf("within the TTL: denial %q, image %s; want %s admitted", got.Denial, imageOf(res), signed.Digest)
	}
	// After it, the tag resolves to the unsigned image, which is denied.
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	got, _ = evaluate(t, set, request(pod("cgr.dev/chainguard/app:latest")), cluster)
	want := "validation failed: cgr.dev/chainguard/app@" + moved.Digest + " "
	if !strings.HasPrefix(got.Denial, want) || !strings.Contains(got.Denial, "no signatures found") {
		t.Errorf("after the tag moved: denial %q, want it to start with %q and say no signatures were found", got.Denial, want)
	}
	// The digest verified before is still admitted by digest.
	if got, _ := evaluate(t, set, request(pod(image.Ref{Registry: "cgr.dev", Repository: "chainguard/app", Digest: signed.Digest}.String())), cluster); got.Denial != "" {
		t.Errorf("the verified digest is denied: %s", got.Denial)
	}
}

func imageOf(res engine.Result) string {
	if res.Object == nil {
		return ""
	}
	s, _ := res.Object["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["image"].(string)
	return s
}
