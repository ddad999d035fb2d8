package signature_test

import (
	"context"
	"crypto"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-dev/portcullis/internal/image"
	"github.com/portcullis-dev/portcullis/internal/image/imagetest"
	"github.com/portcullis-dev/portcullis/internal/image/signature"
	"github.com/portcullis-dev/portcullis/internal/image/signature/signaturetest"
)

// keySource is a KeyReader whose answer the tests change, counting reads.
type keySource struct {
	mu    sync.Mutex
	keys  string
	err   error
	reads atomic.Int64
	delay time.Duration
}

func (s *keySource) set(keys string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys, s.err = keys, err
}

func (s *keySource) read(ctx context.Context) (string, error) {
	s.reads.Add(1)
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys, s.err
}

func TestNewKeyRef(t *testing.T) {
	key := signaturetest.GenerateKeyPair(t)
	tests := []struct {
		name    string
		spec    signature.Spec
		wantErr string
	}{
		{name: "keys only", spec: signature.Spec{}},
		{name: "with the rest of a spec", spec: signature.Spec{HashAlgorithm: crypto.SHA512, RequireTLog: true, Format: signature.FormatBundle, Repository: "example.com/sigs"}},
		{name: "keys given", spec: signature.Spec{PublicKeys: key.PublicKeyPEM}, wantErr: "publicKeys, identities and certificate must be empty"},
		{name: "identities given", spec: signature.Spec{Identities: []signature.Identity{{Subject: "a"}}}, wantErr: "must be empty"},
		{name: "bad hash", spec: signature.Spec{HashAlgorithm: crypto.MD5}, wantErr: "hashAlgorithm: unsupported hash"},
		{name: "bad repository", spec: signature.Spec{Repository: "Not A Repo"}, wantErr: "repository: invalid repository"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := signature.NewKeyRef(tc.spec, signature.Options{})
			got := ""
			if err != nil {
				got = err.Error()
			}
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && !strings.Contains(got, tc.wantErr) {
				t.Errorf("NewKeyRef error = %q, want %q", got, tc.wantErr)
			}
		})
	}
}

// TestKeyRefRefresh walks a KeyRef through reads, rotations and failures
// on a fake clock: the keys are read at most once per interval, a rotated
// key applies after it, and every distinct key gets its own verifier.
func TestKeyRefRefresh(t *testing.T) {
	a := signaturetest.GenerateKeyPair(t).PublicKeyPEM
	b := signaturetest.GenerateKeyPair(t).PublicKeyPEM
	errMissing := errors.New(`secret "k" not found`)
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	ref, err := signature.NewKeyRef(signature.Spec{}, signature.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	src := &keySource{}
	seen := map[string]*signature.Verifier{}

	steps := []struct {
		name     string
		advance  time.Duration
		keys     string
		err      error
		want     string // the key whose verifier is returned
		wantErr  string
		reads    int64
		sameAsOf string // the verifier must be the one first returned for this key
	}{
		{name: "first use reads", keys: a, want: a, reads: 1},
		{name: "within the interval the read is reused", advance: 29 * time.Second, keys: b, want: a, reads: 1},
		{name: "after the interval the rotated key applies", advance: time.Second, keys: b, want: b, reads: 2},
		{name: "a key seen before reuses its verifier", advance: signature.KeyRefreshInterval, keys: a, want: a, reads: 3, sameAsOf: a},
		{name: "a read error is returned", advance: signature.KeyRefreshInterval, err: errMissing, wantErr: `secret "k" not found`, reads: 4},
		{name: "and kept for the interval", advance: 10 * time.Second, keys: a, wantErr: `secret "k" not found`, reads: 4},
		{name: "keys that do not parse", advance: signature.KeyRefreshInterval, keys: "not a key", wantErr: "invalid public key: publicKeys: not a PEM public key", reads: 5},
		{name: "no keys", advance: signature.KeyRefreshInterval, keys: " \n", wantErr: "no public key", reads: 6},
		{name: "a context error is not kept", advance: signature.KeyRefreshInterval, err: context.DeadlineExceeded, wantErr: "deadline exceeded", reads: 7},
		{name: "so the next use reads again", keys: b, want: b, reads: 8, sameAsOf: b},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			clock.Advance(st.advance)
			src.set(st.keys, st.err)
			v, err := ref.Verifier(context.Background(), src.read)
			if got := src.reads.Load(); got != st.reads {
				t.Errorf("reads = %d, want %d", got, st.reads)
			}
			if st.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), st.wantErr) {
					t.Fatalf("error = %v, want %q", err, st.wantErr)
				}
				if v != nil {
					t.Errorf("a verifier with an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("Verifier: %v", err)
			}
			if st.sameAsOf != "" && seen[st.sameAsOf] != v {
				t.Errorf("a new verifier for a key seen before")
			}
			for k, prev := range seen {
				if k != st.want && prev == v {
					t.Errorf("the verifier of another key")
				}
			}
			if seen[st.want] == nil {
				seen[st.want] = v
			}
		})
	}
}

// TestKeyRefVerifies verifies an image signed by the real cosign CLI with
// the keys a KeyRef reads, before and after the key is rotated.
func TestKeyRefVerifies(t *testing.T) {
	reg := imagetest.NewRegistry(t)
	client := newClient(t, reg)
	key := signaturetest.GenerateKeyPair(t)
	other := signaturetest.GenerateKeyPair(t)
	ref := reg.PushRandom(t, "team/app", "v1")
	signaturetest.CosignSign(t, ref, key)

	clock := &fakeClock{now: time.Now()}
	kr, err := signature.NewKeyRef(signature.Spec{}, signature.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	src := &keySource{}
	steps := []struct {
		name    string
		keys    string
		wantErr string
	}{
		{name: "the signing key", keys: key.PublicKeyPEM},
		{name: "rotated to another key", keys: other.PublicKeyPEM, wantErr: "no matching signatures"},
		{name: "rotated back", keys: key.PublicKeyPEM},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			src.set(st.keys, nil)
			clock.Advance(signature.KeyRefreshInterval)
			v, err := kr.Verifier(ctx(t), src.read)
			if err != nil {
				t.Fatal(err)
			}
			sigs, err := v.Signatures(ctx(t), client, ref, image.Pull{})
			checkErr(t, err, st.wantErr)
			if st.wantErr == "" {
				if diff := cmp.Diff([]sigSummary{{Format: signature.FormatLegacy}}, summarize(sigs)); diff != "" {
					t.Errorf("signatures (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestKeyRefConcurrent checks that concurrent first uses share one read
// and one verifier.
func TestKeyRefConcurrent(t *testing.T) {
	kr, err := signature.NewKeyRef(signature.Spec{}, signature.Options{})
	if err != nil {
		t.Fatal(err)
	}
	src := &keySource{delay: 20 * time.Millisecond}
	src.set(signaturetest.GenerateKeyPair(t).PublicKeyPEM, nil)
	const n = 100
	got := make([]*signature.Verifier, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = kr.Verifier(context.Background(), src.read)
		}()
	}
	wg.Wait()
	if r := src.reads.Load(); r != 1 {
		t.Errorf("reads = %d, want 1", r)
	}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Verifier: %v", errs[i])
		}
		if got[i] != got[0] {
			t.Fatalf("caller %d got another verifier", i)
		}
	}
}

// TestKeyRefCanceledCaller checks that a caller whose context ends stops
// waiting, while the shared read completes for the others.
func TestKeyRefCanceledCaller(t *testing.T) {
	kr, err := signature.NewKeyRef(signature.Spec{}, signature.Options{})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	key := signaturetest.GenerateKeyPair(t).PublicKeyPEM
	read := func(ctx context.Context) (string, error) {
		<-release
		return key, ctx.Err()
	}
	c, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := kr.Verifier(c, read)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
	close(release)
	v, err := kr.Verifier(context.Background(), read)
	if err != nil || v == nil {
		t.Fatalf("Verifier after the canceled caller: %v, %v", v, err)
	}
}
