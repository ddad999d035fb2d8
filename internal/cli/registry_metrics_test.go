package cli

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/portcullis-dev/portcullis/internal/image"
	"github.com/portcullis-dev/portcullis/internal/image/registry"
)

type countingRegistry struct {
	image.Registry
	stats registry.Stats
}

func (c *countingRegistry) Stats() registry.Stats { return c.stats }

func TestRegistryMetrics(t *testing.T) {
	client := &countingRegistry{}
	reg := prometheus.NewRegistry()
	if err := registerRegistryMetrics(reg, client); err != nil {
		t.Fatal(err)
	}
	client.stats = registry.Stats{RoundTrips: 7, Hits: 5, Misses: 3, Shared: 2}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		got[f.GetName()] = f.GetMetric()[0].GetCounter().GetValue()
	}
	want := map[string]float64{
		"portcullis_registry_round_trips_total":  7,
		"portcullis_registry_cache_hits_total":   5,
		"portcullis_registry_cache_misses_total": 3,
		"portcullis_registry_shared_total":       2,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
	// A registry that keeps no counters adds no metrics.
	if err := registerRegistryMetrics(prometheus.NewRegistry(), struct{ image.Registry }{}); err != nil {
		t.Error(err)
	}
}
