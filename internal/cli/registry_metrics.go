package cli

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/portcullis-dev/portcullis/internal/image"
	"github.com/portcullis-dev/portcullis/internal/image/registry"
)

// registryStats is implemented by registry clients that count their work.
type registryStats interface {
	Stats() registry.Stats
}

// registerRegistryMetrics exposes the counters of the registry client (if
// it keeps any) on the server's /metrics: how many HTTP round trips image
// policies cost, and how many reads the caches and the coalescing of
// identical requests saved.
func registerRegistryMetrics(reg prometheus.Registerer, client image.Registry) error {
	rs, ok := client.(registryStats)
	if !ok {
		return nil
	}
	counters := []struct {
		name, help string
		value      func(registry.Stats) int64
	}{
		{"portcullis_registry_round_trips_total", "HTTP requests sent to registries (pings, tokens, retries and redirects included).",
			func(s registry.Stats) int64 { return s.RoundTrips }},
		{"portcullis_registry_cache_hits_total", "Registry reads answered from a cache (failures included).",
			func(s registry.Stats) int64 { return s.Hits }},
		{"portcullis_registry_cache_misses_total", "Registry reads that went to a registry.",
			func(s registry.Stats) int64 { return s.Misses }},
		{"portcullis_registry_shared_total", "Registry reads answered by an identical read already in flight.",
			func(s registry.Stats) int64 { return s.Shared }},
	}
	for _, c := range counters {
		value := c.value
		if err := reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: c.name, Help: c.help},
			func() float64 { return float64(value(rs.Stats())) })); err != nil {
			return err
		}
	}
	return nil
}
