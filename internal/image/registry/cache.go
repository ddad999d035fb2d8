package registry

import (
	"container/list"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ttlCache holds mutable answers (tag digests, referrers, credentials,
// failures) until they expire. It holds at most max entries: when full, it
// drops expired entries, then arbitrary ones.
type ttlCache[V any] struct {
	mu  sync.Mutex
	m   map[string]ttlEntry[V]
	max int
}

type ttlEntry[V any] struct {
	v       V
	expires time.Time
}

func newTTLCache[V any](max int) *ttlCache[V] {
	return &ttlCache[V]{m: make(map[string]ttlEntry[V]), max: max}
}

func (c *ttlCache[V]) get(key string, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || !now.Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.v, true
}

func (c *ttlCache[V]) put(key string, v V, now time.Time, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; !ok && len(c.m) >= c.max {
		for k, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, k)
			}
		}
		for k := range c.m {
			if len(c.m) < c.max {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[key] = ttlEntry[V]{v: v, expires: now.Add(ttl)}
}

// content is immutable content (a manifest or blob) with its descriptor.
type content struct {
	data []byte
	desc v1.Descriptor
}

// lru holds immutable content by key, bounded by the total size of the
// data; the least recently used content goes first.
type lru struct {
	mu    sync.Mutex
	max   int64
	size  int64
	ll    *list.List
	items map[string]*list.Element
}

type lruItem struct {
	key string
	c   content
}

func newLRU(max int64) *lru {
	return &lru{max: max, ll: list.New(), items: make(map[string]*list.Element)}
}

func (l *lru) get(key string) (content, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.items[key]
	if !ok {
		return content{}, false
	}
	l.ll.MoveToFront(el)
	return el.Value.(*lruItem).c, true
}

func (l *lru) put(key string, c content) {
	n := int64(len(c.data))
	if n > l.max {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.items[key]; ok {
		l.ll.MoveToFront(el)
		return
	}
	for l.size+n > l.max {
		last := l.ll.Back()
		it := last.Value.(*lruItem)
		l.ll.Remove(last)
		delete(l.items, it.key)
		l.size -= int64(len(it.c.data))
	}
	l.items[key] = l.ll.PushFront(&lruItem{key: key, c: c})
	l.size += n
}
