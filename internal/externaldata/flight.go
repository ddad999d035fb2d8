package externaldata

import (
	"fmt"
	"sync"
)

// flightGroup coalesces concurrent calls with the same key into one.
type flightGroup struct {
	mu    sync.Mutex
	calls map[string]*flight
}

type flight struct {
	waiters []chan flightResult
}

type flightResult struct {
	val any
	err error
}

// do runs fn once for all concurrent callers with the same key. Each caller
// gets its own channel, which receives the result once.
func (g *flightGroup) do(key string, fn func() (any, error)) <-chan flightResult {
	ch := make(chan flightResult, 1)
	g.mu.Lock()
	if g.calls == nil {
		g.calls = map[string]*flight{}
	}
	if f, ok := g.calls[key]; ok {
		f.waiters = append(f.waiters, ch)
		g.mu.Unlock()
		return ch
	}
	f := &flight{waiters: []chan flightResult{ch}}
	g.calls[key] = f
	g.mu.Unlock()

	go func() {
		var r flightResult
		defer func() {
			g.mu.Lock()
			delete(g.calls, key)
			waiters := f.waiters
			g.mu.Unlock()
			for _, w := range waiters {
				w <- r
			}
		}()
		defer func() {
			if p := recover(); p != nil {
				r = flightResult{err: fmt.Errorf("external data call panicked: %v", p)}
			}
		}()
		r.val, r.err = fn()
	}()
	return ch
}
