package externaldata

import (
	"sync"
	"time"

	"github.com/portcullis-dev/portcullis/internal/engine"
)

// cache holds answers per provider and key until they expire. It holds at
// most max entries: when full, it drops expired entries and then, if it must,
// arbitrary ones.
type cache struct {
	mu      sync.RWMutex
	max     int
	entries map[cacheKey]cacheEntry
}

type cacheKey struct {
	provider, key string
}

type cacheEntry struct {
	item    engine.ExternalDataItem
	expires time.Time
	// endpoint is the provider configuration that answered; an answer from
	// a provider whose spec changed since is not used.
	endpoint *endpoint
}

func newCache(max int) *cache {
	return &cache{max: max, entries: map[cacheKey]cacheEntry{}}
}

func (c *cache) get(e *endpoint, key string, now time.Time) (engine.ExternalDataItem, bool) {
	c.mu.RLock()
	entry, ok := c.entries[cacheKey{e.name, key}]
	c.mu.RUnlock()
	if !ok || entry.endpoint != e || !now.Before(entry.expires) {
		return engine.ExternalDataItem{}, false
	}
	return entry.item, true
}

func (c *cache) put(e *endpoint, item engine.ExternalDataItem, now, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := cacheKey{e.name, item.Key}
	if _, ok := c.entries[k]; !ok && len(c.entries) >= c.max {
		c.evict(now)
	}
	c.entries[k] = cacheEntry{item: item, expires: expires, endpoint: e}
}

// evict makes room: it drops expired entries, and when that frees less than
// a tenth of the cache, arbitrary entries up to that tenth.
func (c *cache) evict(now time.Time) {
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, k)
		}
	}
	for k := range c.entries {
		if len(c.entries) < c.max-c.max/10 {
			break
		}
		delete(c.entries, k)
	}
}
