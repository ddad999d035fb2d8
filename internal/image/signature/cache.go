package signature

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/portcullis-dev/portcullis/internal/image"
)

// result is what one verification returns.
type result struct {
	sigs []Signature
	atts []Attestation
}

type cacheEntry struct {
	r       result
	err     error
	expires time.Time
}

// resultCache holds verification results by key until they expire. It is
// bounded: when full, expired entries go first, then arbitrary ones.
type resultCache struct {
	mu  sync.RWMutex
	m   map[string]*cacheEntry
	max int
}

func newResultCache(max int) *resultCache {
	return &resultCache{m: map[string]*cacheEntry{}, max: max}
}

func (c *resultCache) get(key string, now time.Time) (*cacheEntry, bool) {
	c.mu.RLock()
	e, ok := c.m[key]
	c.mu.RUnlock()
	if !ok || !now.Before(e.expires) {
		return nil, false
	}
	return e, true
}

func (c *resultCache) put(key string, e *cacheEntry, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for k, old := range c.m {
			if !now.Before(old.expires) {
				delete(c.m, k)
			}
		}
		for k := range c.m {
			if len(c.m) < c.max*3/4 {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[key] = e
}

// cacheKey identifies a verification: its kind ('s' signatures, 'a'
// attestations), the image's repository and digest, and the predicate type.
func cacheKey(kind byte, ref image.Ref, predicateType string) string {
	var b strings.Builder
	b.Grow(len(ref.Registry) + len(ref.Repository) + len(ref.Digest) + len(predicateType) + 4)
	b.WriteByte(kind)
	b.WriteString(ref.Registry)
	b.WriteByte('/')
	b.WriteString(ref.Repository)
	b.WriteByte('@')
	b.WriteString(ref.Digest)
	b.WriteByte(' ')
	b.WriteString(predicateType)
	return b.String()
}

// cached returns the cached result for key, or runs fn once for all
// concurrent callers and caches what it returns: successes for CacheTTL,
// verification failures for ErrorTTL. Registry and context errors are not
// cached: the caller's failure policy decides on them, and the registry
// client has its own short failure cache.
//
// The shared run ignores the cancellation of the caller that started it
// (others may still wait for it) but keeps its deadline.
func (v *Verifier) cached(ctx context.Context, key string, fn func(context.Context) (result, error)) (result, error) {
	if e, ok := v.cache.get(key, v.opts.Now()); ok {
		return e.r, e.err
	}
	ch := v.flight.DoChan(key, func() (any, error) {
		if e, ok := v.cache.get(key, v.opts.Now()); ok {
			return e, nil
		}
		runCtx := context.WithoutCancel(ctx)
		if d, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			runCtx, cancel = context.WithDeadline(runCtx, d)
			defer cancel()
		}
		r, err := fn(runCtx)
		e := &cacheEntry{r: r, err: err}
		now := v.opts.Now()
		var ve *VerificationError
		switch {
		case err == nil && v.opts.CacheTTL > 0:
			e.expires = now.Add(v.opts.CacheTTL)
			v.cache.put(key, e, now)
		case errors.As(err, &ve) && v.opts.ErrorTTL > 0:
			e.expires = now.Add(v.opts.ErrorTTL)
			v.cache.put(key, e, now)
		}
		return e, nil
	})
	select {
	case <-ctx.Done():
		return result{}, ctx.Err()
	case res := <-ch:
		e := res.Val.(*cacheEntry)
		return e.r, e.err
	}
}
