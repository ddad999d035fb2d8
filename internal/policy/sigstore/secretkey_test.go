package sigstore_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/image/signature"
	"github.com/portcullis-dev/portcullis/internal/image/signature/signaturetest"
	"github.com/portcullis-dev/portcullis/internal/policy/sigstore"
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
		return nil, engine.ErrNotFound
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

// secretClock is a clock the tests move by hand.
type secretClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *secretClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *secretClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// secretPolicy trusts the key held in the Secret cosign-key.
const secretPolicy = `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: signed-by-secret
spec:
  images: [{glob: "ghcr.io/team/**"}]
  authorities:
  - key:
      secretRef: {name: cosign-key}
`

// secretResult is what the tests compare of a result that is not a pass.
type secretResult struct {
	Verdict engine.Verdict
	Message string
}

func secretResults(res engine.Result) []secretResult {
	var out []secretResult
	for _, r := range res.Rules {
		if r.Verdict != engine.Pass {
			out = append(out, secretResult{Verdict: r.Verdict, Message: r.Message})
		}
	}
	return out
}

// TestSecretKeys checks key.secretRef authorities: the key is the single
// data entry of the Secret in the configured namespace, as
// policy-controller's reconciler inlines it, and every way of failing to
// get it is an error naming the Secret and the field.
func TestSecretKeys(t *testing.T) {
	e := newEnv(t)
	key := signaturetest.GenerateKeyPair(t)
	other := signaturetest.GenerateKeyPair(t)
	signed := e.reg.PushRandom(t, "team/signed", "v1")
	signaturetest.CosignSign(t, signed, key)
	img := "ghcr.io/" + signed.Repository + "@" + signed.Digest
	prefix := img + " signature key validation failed for authority authority-0 for " + img + ": "
	const path = "spec.authorities[0].key.secretRef: "

	pub := map[string][]byte{"cosign.pub": []byte(key.PublicKeyPEM)}
	tests := []struct {
		name      string
		namespace string
		noGetter  bool
		data      map[string][]byte // the Secret portcullis/cosign-key; nil for none
		want      []secretResult
		wantPfx   bool // want's messages are prefixes
	}{
		{name: "the signing key", namespace: "portcullis", data: pub},
		{name: "any data key name", namespace: "portcullis", data: map[string][]byte{"key": []byte(key.PublicKeyPEM)}},
		{name: "another key", namespace: "portcullis", data: map[string][]byte{"cosign.pub": []byte(other.PublicKeyPEM)},
			want: []secretResult{{engine.Fail, prefix + "no matching signatures"}}, wantPfx: true},
		{name: "missing Secret", namespace: "portcullis",
			want: []secretResult{{engine.Error, prefix + path + `secret "cosign-key" not found in namespace portcullis`}}},
		{name: "Secret in another namespace", namespace: "cosign-system", data: pub,
			want: []secretResult{{engine.Error, prefix + path + `secret "cosign-key" not found in namespace cosign-system`}}},
		{name: "no data", namespace: "portcullis", data: map[string][]byte{},
			want: []secretResult{{engine.Error, prefix + path + `secret "cosign-key" contains no data`}}},
		{name: "several entries", namespace: "portcullis", data: map[string][]byte{"a": []byte(key.PublicKeyPEM), "b": []byte(other.PublicKeyPEM)},
			want: []secretResult{{engine.Error, prefix + path + `secret "cosign-key" contains multiple data entries, only one is supported`}}},
		{name: "not a key", namespace: "portcullis", data: map[string][]byte{"cosign.pub": []byte("hello")},
			want: []secretResult{{engine.Error, prefix + path + `secret "cosign-key" contains an invalid public key: PEM decoding failed`}}},
		{name: "no Secrets in the cluster data", namespace: "portcullis", noGetter: true, data: pub,
			want: []secretResult{{engine.Error, prefix + path + `cannot read secret "cosign-key": keys in Secrets are only read in a cluster (portcullis serve)`}}},
		{name: "no namespace configured", data: pub,
			want: []secretResult{{engine.Error, prefix + path + `cannot read secret "cosign-key": the namespace of policy-controller's Secrets is not configured`}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := compile(t, secretPolicy, sigstore.WithSecretNamespace(tc.namespace))
			secrets := &fakeSecrets{}
			if tc.data != nil {
				secrets.set("portcullis/cosign-key", tc.data)
			}
			cluster := e.cluster()
			if !tc.noGetter {
				cluster.Secrets = secrets
			}
			_, res := evaluate(t, set, request(pod(img)), cluster)
			got := secretResults(res)
			if tc.wantPfx && len(got) == len(tc.want) {
				for i := range got {
					if strings.HasPrefix(got[i].Message, tc.want[i].Message) {
						got[i].Message = tc.want[i].Message
					}
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSecretKeyCompileErrors checks the references that do not compile.
func TestSecretKeyCompileErrors(t *testing.T) {
	tests := []struct {
		name, authority, want string
	}{
		{name: "no name", authority: "key: {secretRef: {namespace: x}}",
			want: "spec.authorities[0].key.secretRef.name: Required value"},
		{name: "data and secretRef", authority: "key: {data: x, secretRef: {name: k}}",
			want: "spec.authorities[0].key: Invalid value: expected exactly one, got both: data, kms, secretref"},
		{name: "ca-cert in a Secret", authority: "keyless: {url: https://fulcio.example.com, ca-cert: {secretRef: {name: k}}, identities: [{issuer: i, subject: s}]}",
			want: `spec.authorities[0].keyless.ca-cert.secretRef: Invalid value: "k": certificates in Secrets are not supported: put the certificate in data`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: p}\nspec:\n  images: [{glob: \"**\"}]\n  authorities:\n  - " + tc.authority + "\n"
			_, errs := newEngine().Compile(docs(t, src))
			found := false
			for _, err := range errs {
				if strings.HasSuffix(err.Error(), tc.want) || strings.Contains(err.Error(), tc.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("compile errors %v, want one with %q", errs, tc.want)
			}
		})
	}
}

// TestSecretKeyRotation changes the key in the Secret: the old key
// applies until the refresh interval has passed, then the new one.
func TestSecretKeyRotation(t *testing.T) {
	e := newEnv(t)
	key := signaturetest.GenerateKeyPair(t)
	other := signaturetest.GenerateKeyPair(t)
	signed := e.reg.PushRandom(t, "team/signed", "v1")
	signaturetest.CosignSign(t, signed, key)
	img := "ghcr.io/" + signed.Repository + "@" + signed.Digest

	clock := &secretClock{t: time.Now()}
	set := compile(t, secretPolicy, sigstore.WithSecretNamespace("portcullis"), sigstore.WithClock(clock.Now))
	secrets := &fakeSecrets{}
	cluster := e.cluster()
	cluster.Secrets = secrets
	steps := []struct {
		name    string
		advance time.Duration
		key     string // the key the Secret holds from this step on
		want    engine.Verdict
		reads   int64
	}{
		{name: "signing key", key: key.PublicKeyPEM, want: engine.Pass, reads: 1},
		{name: "rotated, within the interval", advance: 29 * time.Second, key: other.PublicKeyPEM, want: engine.Pass, reads: 1},
		{name: "rotated, after the interval", advance: time.Second, want: engine.Fail, reads: 2},
		{name: "rotated back, within the interval", advance: 10 * time.Second, key: key.PublicKeyPEM, want: engine.Fail, reads: 2},
		{name: "rotated back, after the interval", advance: signature.KeyRefreshInterval, want: engine.Pass, reads: 3},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			clock.Advance(st.advance)
			if st.key != "" {
				secrets.set("portcullis/cosign-key", map[string][]byte{"cosign.pub": []byte(st.key)})
			}
			_, res := evaluate(t, set, request(pod(img)), cluster)
			got := engine.Pass
			for _, r := range res.Rules {
				if r.Verdict != engine.Pass {
					got = r.Verdict
				}
			}
			if got != st.want {
				t.Errorf("verdict %s, want %s (%v)", got, st.want, secretResults(res))
			}
			if r := secrets.reads.Load(); r != st.reads {
				t.Errorf("Secret reads = %d, want %d", r, st.reads)
			}
		})
	}
}

// TestSecretKeyConcurrent evaluates 100 requests at once: they share one
// Secret read, and all pass.
func TestSecretKeyConcurrent(t *testing.T) {
	e := newEnv(t)
	key := signaturetest.GenerateKeyPair(t)
	signed := e.reg.PushRandom(t, "team/signed", "v1")
	signaturetest.CosignSign(t, signed, key)
	img := "ghcr.io/" + signed.Repository + "@" + signed.Digest
	set := compile(t, secretPolicy, sigstore.WithSecretNamespace("portcullis"))
	secrets := &fakeSecrets{}
	secrets.set("portcullis/cosign-key", map[string][]byte{"cosign.pub": []byte(key.PublicKeyPEM)})
	cluster := e.cluster()
	cluster.Secrets = secrets

	const n = 100
	denied := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res := set.Evaluate(ctx, request(pod(img)), cluster)
			for _, r := range res.Rules {
				if r.Verdict != engine.Pass {
					denied[i] = r.Message
				}
			}
		}()
	}
	wg.Wait()
	for i, d := range denied {
		if d != "" {
			t.Fatalf("request %d: %s", i, d)
		}
	}
	if r := secrets.reads.Load(); r != 1 {
		t.Errorf("Secret reads = %d, want 1", r)
	}
}
