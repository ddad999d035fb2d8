package signature

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// KeyRefreshInterval is how long a KeyRef uses the keys it read, or the
// failure to read them, before it reads them again: a rotated key applies
// within this time, and the keys are read at most once per interval
// however many images are verified.
const KeyRefreshInterval = 30 * time.Second

// maxKeyVerifiers bounds the verifiers a KeyRef keeps, one per distinct
// key content it has read.
const maxKeyVerifiers = 4

// KeyReader returns PEM public keys, e.g. from a Kubernetes Secret. Its
// errors are returned to the callers of KeyRef.Verifier as they are.
type KeyReader func(ctx context.Context) (string, error)

// KeyRef is an authority whose public keys are read when images are
// verified rather than when the policy is compiled, such as a key held in
// a Kubernetes Secret. It reads the keys at most once per
// KeyRefreshInterval (concurrent callers share one read) and compiles one
// Verifier per distinct key content, so that each key keeps its own result
// cache across rotations. It is safe for concurrent use.
type KeyRef struct {
	spec Spec
	opts Options
	now  func() time.Time

	state  atomic.Pointer[keyState]
	flight singleflight.Group

	mu        sync.Mutex
	verifiers map[[sha256.Size]byte]*Verifier
	order     [][sha256.Size]byte // oldest first
}

// keyState is the outcome of one read: a verifier or an error, and when
// it must be read again.
type keyState struct {
	v       *Verifier
	err     error
	expires time.Time
}

// NewKeyRef checks spec, which must leave PublicKeys, Identities and
// Certificate empty: the keys come from the KeyReader given to Verifier.
// The rest of the Spec (hash algorithm, transparency requirements,
// repository, format) applies to every key read. opts are the options of
// the verifiers, and opts.Now the clock of the refresh interval.
func NewKeyRef(spec Spec, opts Options) (*KeyRef, error) {
	if strings.TrimSpace(spec.PublicKeys) != "" || len(spec.Identities) > 0 || strings.TrimSpace(spec.Certificate) != "" {
		return nil, errors.New("a key reference reads its keys: publicKeys, identities and certificate must be empty")
	}
	// Compile the rest of the Spec now, with a throwaway key, so that its
	// problems are compile errors and not errors at every verification.
	placeholder, err := placeholderKey()
	if err != nil {
		return nil, err
	}
	check := spec
	check.PublicKeys = placeholder
	if _, err := New(check, opts); err != nil {
		return nil, err
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &KeyRef{spec: spec, opts: opts, now: now, verifiers: map[[sha256.Size]byte]*Verifier{}}, nil
}

func placeholderKey() (string, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", fmt.Errorf("failed to generate a placeholder key: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return "", fmt.Errorf("failed to encode a placeholder key: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}

// Verifier returns the verifier for the current keys. It calls read when
// the keys were last read KeyRefreshInterval ago or more (or never), once
// for all concurrent callers; otherwise it returns the verifier, or the
// error, of the last read. An error of read other than a context error is
// kept for the interval too, so that a missing key does not cost a read
// per verification. Keys that do not parse give an error saying so.
//
// The shared read ignores the cancellation of the caller that started it
// (others may be waiting for it) but keeps its deadline.
func (k *KeyRef) Verifier(ctx context.Context, read KeyReader) (*Verifier, error) {
	if s := k.state.Load(); s != nil && k.now().Before(s.expires) {
		return s.v, s.err
	}
	ch := k.flight.DoChan("", func() (any, error) {
		if s := k.state.Load(); s != nil && k.now().Before(s.expires) {
			return s, nil
		}
		runCtx := context.WithoutCancel(ctx)
		if d, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			runCtx, cancel = context.WithDeadline(runCtx, d)
			defer cancel()
		}
		return k.refresh(runCtx, read), nil
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case res := <-ch:
		s := res.Val.(*keyState)
		return s.v, s.err
	}
}

// refresh reads the keys and records the outcome, unless the read was
// cut short by its context.
func (k *KeyRef) refresh(ctx context.Context, read KeyReader) *keyState {
	s := &keyState{}
	keys, err := read(ctx)
	if err == nil {
		s.v, s.err = k.verifierFor(keys)
	} else {
		s.err = err
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return s
		}
	}
	s.expires = k.now().Add(KeyRefreshInterval)
	k.state.Store(s)
	return s
}

// verifierFor returns the verifier of keys, compiling it the first time
// these keys are seen.
func (k *KeyRef) verifierFor(keys string) (*Verifier, error) {
	if strings.TrimSpace(keys) == "" {
		return nil, errors.New("no public key")
	}
	sum := sha256.Sum256([]byte(keys))
	k.mu.Lock()
	v, ok := k.verifiers[sum]
	k.mu.Unlock()
	if ok {
		return v, nil
	}
	spec := k.spec
	spec.PublicKeys = keys
	v, err := New(spec, k.opts)
	if err != nil {
		return nil, fmt.Errorf("invalid public key: %w", err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if prev, ok := k.verifiers[sum]; ok {
		return prev, nil
	}
	if len(k.order) >= maxKeyVerifiers {
		delete(k.verifiers, k.order[0])
		k.order = k.order[1:]
	}
	k.verifiers[sum] = v
	k.order = append(k.order, sum)
	return v, nil
}
