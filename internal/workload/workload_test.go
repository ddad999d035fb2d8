package workload

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPodSpec(t *testing.T) {
	spec := map[string]any{"containers": []any{}}
	tpl := map[string]any{"template": map[string]any{"spec": spec}}
	tests := []struct {
		name string
		obj  map[string]any
		want map[string]any
	}{
		{"pod", map[string]any{"kind": "Pod", "spec": spec}, spec},
		{"deployment", map[string]any{"kind": "Deployment", "spec": tpl}, spec},
		{"cronjob", map[string]any{"kind": "CronJob", "spec": map[string]any{"jobTemplate": map[string]any{"spec": tpl}}}, spec},
		{"no template", map[string]any{"kind": "Deployment", "spec": map[string]any{}}, nil},
		{"not a workload", map[string]any{"kind": "ConfigMap", "data": map[string]any{}}, nil},
		{"wrong type", map[string]any{"kind": "Pod", "spec": "x"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, PodSpec(tc.obj)); diff != "" {
				t.Errorf("PodSpec (-want +got):\n%s", diff)
			}
		})
	}
	p, ok := SpecPath("Job")
	if !ok || len(p) != 3 {
		t.Errorf("SpecPath(Job) = %v, %v", p, ok)
	}
	p[0] = "changed"
	if q, _ := SpecPath("Job"); q[0] != "spec" {
		t.Errorf("SpecPath returned the table itself")
	}
}
