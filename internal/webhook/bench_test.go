package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/go-logr/logr"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/manifest"
	"github.com/portcullis-dev/portcullis/internal/policy/kyverno"
)

var shared = filepath.Join("..", "..", "..", "shared")

// reviews wraps the Pods of bench/pods-1000.yaml in AdmissionReviews, as
// the load generator does.
func reviews(b *testing.B) [][]byte {
	b.Helper()
	objs, err := manifest.ReadAll([]string{filepath.Join(shared, "bench", "pods-1000.yaml")}, nil)
	if err != nil {
		b.Fatal(err)
	}
	out := make([][]byte, 0, len(objs))
	for i, o := range objs {
		manifest.DefaultNamespace(o.Object)
		body, err := json.Marshal(map[string]any{
			"apiVersion": "admission.k8s.io/v1",
			"kind":       "AdmissionReview",
			"request": map[string]any{
				"uid":       fmt.Sprintf("uid-%d", i),
				"kind":      map[string]any{"group": "", "version": "v1", "kind": "Pod"},
				"resource":  map[string]any{"group": "", "version": "v1", "resource": "pods"},
				"namespace": o.Namespace(),
				"name":      o.Name(),
				"operation": "CREATE",
				"userInfo":  map[string]any{"username": "loadgen"},
				"object":    o.Object,
			},
		})
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, body)
	}
	return out
}

// BenchmarkHandler measures one admission review through the handler:
// decode, evaluate the three Kyverno seed policies, encode. One op is one
// review.
func BenchmarkHandler(b *testing.B) {
	var docs []engine.Document
	for _, f := range []string{"kyverno-add-default-resources.yaml", "kyverno-require-limits.yaml", "kyverno-pod-security-restricted.yaml"} {
		objs, err := manifest.ReadAll([]string{filepath.Join(shared, "seeds", "policies", f)}, nil)
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range objs {
			docs = append(docs, engine.Document{Source: o.Source, Object: o.Object})
		}
	}
	set, errs := engine.New(kyverno.New()).Compile(docs)
	if len(errs) > 0 {
		b.Fatal(errs.ToAggregate())
	}
	s := New(logr.Discard(), NewMetrics(), nil)
	s.Update(NewSnapshot(set, engine.Cluster{}))
	h := s.Handler()
	bodies := reviews(b)
	for _, path := range []string{"/validate/fail", "/mutate/fail"} {
		b.Run(path, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				req := httptest.NewRequest(http.MethodPost, path+"?timeout=10s", bytes.NewReader(bodies[i%len(bodies)]))
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}
