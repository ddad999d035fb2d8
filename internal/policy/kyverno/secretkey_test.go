package kyverno_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/image/signature"
	"github.com/portcullis-dev/portcullis/internal/image/signature/signaturetest"
	"github.com/portcullis-dev/portcullis/internal/manifest"
	"github.com/portcullis-dev/portcullis/internal/policy/kyverno"
)

// fakeSecrets is an engine.SecretGetter over a map of "namespace/name" to
// data, counting reads.
type fakeSecrets struct {
	mu    sync.Mutex
	m     map[string]map[string][]byte
	reads atomic.Int64
}

func (f *fakeSecrets) Secret(_ context.Context, namespace, name string) (map[string][]byte, error) {
	f.reads.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.m[namespace+"/"+name]
	if !ok {
		return nil, fmt.Errorf("secret %s/%s: %w", namespace, name, engine.ErrNotFound)
	}
	return d, nil
}

func (f *fakeSecrets) set(key string, data map[string][]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]map[string][]byte{}
	}
	f.m[key] = data
}

// manualClock is a clock the tests move by hand.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// secretKeyPolicy trusts the key in the Secret keys/cosign, for Cosign or
// SigstoreBundle signatures.
func secretKeyPolicy(typ string) string {
	return fmt.Sprintf(`
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: keyed}
spec:
  validationFailureAction: Enforce
  rules:
  - name: r
    match: {any: [{resources: {kinds: [Pod]}}]}
    verifyImages:
    - imageReferences: ["ghcr.io/team/*"]
      type: %s
      attestors:
      - entries:
        - keys:
            secret: {name: cosign, namespace: keys}
            rekor: {url: https://rekor.sigstore.dev, ignoreTlog: true}
            ctlog: {ignoreSCT: true}
`, typ)
}

// compileWithClock compiles policies with the fixture's trust root and
// clock as the verifiers' clock.
func (f *imageFixture) compileWithClock(t testing.TB, policies string, now func() time.Time) *engine.Set {
	t.Helper()
	var docs []engine.Document
	err := manifest.Decode(strings.NewReader(policies), "policy.yaml", func(o manifest.Object) error {
		docs = append(docs, engine.Document{Source: o.Source, Object: o.Object})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	d := kyverno.New(kyverno.WithSignatureOptions(signature.Options{DefaultRoot: f.ss.TrustedRoot(), Now: now}))
	set, errs := engine.New(d).Compile(docs)
	if len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	return set
}

// TestVerifyImagesSecretKeys checks keys.secret attestors: the key is the
// Secret's cosign.pub entry, as cosign's k8s:// key references read it,
// and failing to get it is an error naming the Secret and the attestor.
func TestVerifyImagesSecretKeys(t *testing.T) {
	f := newImageFixture(t)
	key := signaturetest.GenerateKeyPair(t)
	other := signaturetest.GenerateKeyPair(t)
	signed := f.push(t, "team/app", "v1")
	signaturetest.CosignSign(t, signed, key)
	signedBundle := f.push(t, "team/bundle", "v1")
	signaturetest.CosignSign(t, signedBundle, key, "--new-bundle-format")
	app := "ghcr.io/team/app:v1"
	bundle := "ghcr.io/team/bundle:v1"
	unverified := "unverified image ghcr.io/team/app@" + signed.Digest
	failed := "failed to verify image " + app + ": .attestors[0].entries[0].keys: "
	loadFailed := failed + "failed to load public key from k8s://keys/cosign: "

	pub := map[string][]byte{"cosign.pub": []byte(key.PublicKeyPEM)}
	passed := func(img string) []verdict {
		return []verdict{
			{"r", engine.Pass, "", "verified image signatures for " + img},
			{"r", engine.Pass, "", "image verified"},
		}
	}
	errored := func(msg string) []verdict {
		return []verdict{
			{"r", engine.Error, engine.ActionDeny, msg},
			{"r", engine.Fail, engine.ActionDeny, unverified},
		}
	}
	tests := []struct {
		name     string
		typ      string
		image    string
		noGetter bool
		data     map[string][]byte // the Secret keys/cosign; nil for none
		want     []verdict
	}{
		{name: "the signing key", typ: "Cosign", image: app, data: pub, want: passed(app)},
		{name: "SigstoreBundle", typ: "SigstoreBundle", image: bundle, data: pub, want: passed(bundle)},
		{name: "the first of several keys", typ: "Cosign", image: app,
			data: map[string][]byte{"cosign.pub": []byte(key.PublicKeyPEM + other.PublicKeyPEM)}, want: passed(app)},
		{name: "another key", typ: "Cosign", image: app, data: map[string][]byte{"cosign.pub": []byte(other.PublicKeyPEM)},
			want: []verdict{
				{"r", engine.Fail, engine.ActionDeny, failed + "no matching signatures: "},
				{"r", engine.Fail, engine.ActionDeny, unverified},
			}},
		{name: "missing Secret", typ: "Cosign", image: app,
			want: errored(loadFailed + `checking if secret exists: secrets "cosign" not found`)},
		{name: "missing Secret, SigstoreBundle", typ: "SigstoreBundle", image: app,
			want: errored(failed + `failed to load public key: checking if secret exists: secrets "cosign" not found`)},
		{name: "no cosign.pub entry", typ: "Cosign", image: app, data: map[string][]byte{"key": []byte(key.PublicKeyPEM)},
			want: errored(loadFailed + "secret keys/cosign has no cosign.pub entry")},
		{name: "not a key", typ: "Cosign", image: app, data: map[string][]byte{"cosign.pub": []byte("hello")},
			want: errored(loadFailed + "PEM decoding failed")},
		{name: "no Secrets in the cluster data", typ: "Cosign", image: app, noGetter: true, data: pub,
			want: errored(loadFailed + "keys in Secrets are only read in a cluster (portcullis serve)")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := f.mustCompile(t, secretKeyPolicy(tc.typ))
			secrets := &fakeSecrets{}
			if tc.data != nil {
				secrets.set("keys/cosign", tc.data)
			}
			cluster := f.cluster()
			if !tc.noGetter {
				cluster.Secrets = secrets
			}
			res := set.Evaluate(context.Background(), admission(podWith(t, tc.image), engine.Create), cluster)
			got := verdicts(res)
			for i := range got {
				if j := strings.Index(got[i].Message, "no matching signatures: "); j >= 0 {
					got[i].Message = got[i].Message[:j+len("no matching signatures: ")]
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("verdicts (-want +got):\n%s", diff)
			}
		})
	}
}

// TestVerifyImagesSecretKeyCompileErrors checks the references that do
// not compile.
func TestVerifyImagesSecretKeyCompileErrors(t *testing.T) {
	f := newImageFixture(t)
	tests := []struct {
		name, secret, want string
	}{
		{name: "no name", secret: "secret: {namespace: keys}", want: "keys.secret.name: Required value"},
		{name: "no namespace", secret: "secret: {name: cosign}", want: "keys.secret.namespace: Required value"},
		{name: "sha224", secret: "secret: {name: cosign, namespace: keys}\n            signatureAlgorithm: sha224", want: `keys.signatureAlgorithm: Unsupported value: "sha224"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			policy := strings.Replace(secretKeyPolicy("Cosign"), "secret: {name: cosign, namespace: keys}", tc.secret, 1)
			_, errs := f.compileImages(t, policy)
			found := false
			for _, err := range errs {
				if strings.Contains(err.Error(), tc.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("compile errors %v, want one with %q", errs, tc.want)
			}
		})
	}
}

// TestVerifyImagesSecretKeyRotation changes the key in the Secret: the old
// key applies until the refresh interval has passed, then the new one.
func TestVerifyImagesSecretKeyRotation(t *testing.T) {
	f := newImageFixture(t)
	key := signaturetest.GenerateKeyPair(t)
	other := signaturetest.GenerateKeyPair(t)
	signed := f.push(t, "team/app", "v1")
	signaturetest.CosignSign(t, signed, key)
	clock := &manualClock{t: time.Now()}
	set := f.compileWithClock(t, secretKeyPolicy("Cosign"), clock.Now)
	secrets := &fakeSecrets{}
	cluster := f.cluster()
	cluster.Secrets = secrets
	steps := []struct {
		name    string
		advance time.Duration
		key     string // the key the Secret holds from this step on
		denied  bool
		reads   int64
	}{
		{name: "signing key", key: key.PublicKeyPEM, reads: 1},
		{name: "rotated, within the interval", advance: 29 * time.Second, key: other.PublicKeyPEM, reads: 1},
		{name: "rotated, after the interval", advance: time.Second, denied: true, reads: 2},
		{name: "rotated back, within the interval", advance: 10 * time.Second, key: key.PublicKeyPEM, denied: true, reads: 2},
		{name: "rotated back, after the interval", advance: signature.KeyRefreshInterval, reads: 3},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			clock.Advance(st.advance)
			if st.key != "" {
				secrets.set("keys/cosign", map[string][]byte{"cosign.pub": []byte(st.key)})
			}
			res := set.Evaluate(context.Background(), admission(podWith(t, "ghcr.io/team/app:v1"), engine.Create), cluster)
			if denied := len(res.Denied()) > 0; denied != st.denied {
				t.Errorf("denied = %v, want %v: %v", denied, st.denied, verdicts(res))
			}
			if r := secrets.reads.Load(); r != st.reads {
				t.Errorf("Secret reads = %d, want %d", r, st.reads)
			}
		})
	}
}

// TestVerifyImagesSecretKeyConcurrent evaluates 100 admissions at once:
// they share one Secret read, and all are admitted.
func TestVerifyImagesSecretKeyConcurrent(t *testing.T) {
	f := newImageFixture(t)
	key := signaturetest.GenerateKeyPair(t)
	signed := f.push(t, "team/app", "v1")
	signaturetest.CosignSign(t, signed, key)
	set := f.mustCompile(t, secretKeyPolicy("Cosign"))
	secrets := &fakeSecrets{}
	secrets.set("keys/cosign", map[string][]byte{"cosign.pub": []byte(key.PublicKeyPEM)})
	cluster := f.cluster()
	cluster.Secrets = secrets
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := set.Evaluate(context.Background(), admission(podWith(t, "ghcr.io/team/app:v1"), engine.Create), cluster)
			if len(res.Denied()) > 0 {
				t.Errorf("denied: %v", verdicts(res))
			}
		}()
	}
	wg.Wait()
	if r := secrets.reads.Load(); r != 1 {
		t.Errorf("Secret reads = %d, want 1", r)
	}
}
