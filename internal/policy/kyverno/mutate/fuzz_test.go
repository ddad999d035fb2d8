package mutate

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	utiljson "k8s.io/apimachinery/pkg/util/json"
)

var fuzzResources = []string{
	`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"a":"b"},"creationTimestamp":null},"spec":{"containers":[{"name":"a","image":"nginx:latest","env":[{"name":"X","value":"1"}],"ports":[{"containerPort":80}]},{"name":"b","image":"corp/b"}],"volumes":[{"name":"v","emptyDir":{}}]}}`,
	`{"apiVersion":"apps/v1","kind":"Deployment","spec":{"template":{"metadata":{"annotations":{"x":"true"}},"spec":{"containers":[{"name":"a"}]}}}}`,
	`{"apiVersion":"example.com/v1","kind":"Widget","spec":{"items":[1,2,{"a":null}]}}`,
}

// decodeObject decodes a fuzz input as the engine decodes objects; ok is
// false when it is not a JSON object.
func decodeObject(s string) (map[string]any, bool) {
	var m map[string]any
	if err := utiljson.Unmarshal([]byte(s), &m); err != nil || m == nil {
		return nil, false
	}
	return m, true
}

func FuzzStrategicMerge(f *testing.F) {
	overlays := []string{
		`{"metadata":{"labels":{"+(team)":"x","(a)":"b*"}}}`,
		`{"spec":{"containers":[{"(image)":"*:latest","imagePullPolicy":"Always"}],"imagePullSecrets":[{"name":"s"}]}}`,
		`{"spec":{"containers":[{"<(image)":"corp/*"},{"name":"c","$patch":"delete"}]}}`,
		`{"spec":{"template":{"metadata":{"annotations":{"(x)":"true"}},"spec":{"containers":[{"(name)":"?*","resources":{"limits":{"+(cpu)":"1"}}}]}}}}`,
		`{"spec":{"items":null,"x":{"$patch":"replace","y":[{"(a)":null}]}}}`,
		`{"spec":{"volumes":[{"(emptyDir)":{"+(sizeLimit)":"1Gi"},"name":"*"}],"(containers)":[{"(name)":">1"}]}}`,
	}
	for _, r := range fuzzResources {
		for _, o := range overlays {
			f.Add(r, o)
		}
	}
	f.Fuzz(func(t *testing.T, resource, overlay string) {
		res, ok := decodeObject(resource)
		if !ok {
			return
		}
		var ov any
		if err := utiljson.Unmarshal([]byte(overlay), &ov); err != nil {
			return
		}
		before, _ := decodeObject(resource)
		got, err := StrategicMerge(res, ov)
		if diff := cmp.Diff(before, res); diff != "" {
			t.Fatalf("StrategicMerge modified its input:\n%s", diff)
		}
		if err == nil {
			if got == nil {
				t.Fatal("nil result without an error")
			}
			if _, err := json.Marshal(got); err != nil {
				t.Fatalf("result is not JSON: %v", err)
			}
		}
	})
}

// FuzzJSON6902 checks JSON6902 against evanphx/json-patch.
func FuzzJSON6902(f *testing.F) {
	patches := []string{
		`[{"op":"add","path":"/spec/tolerations/-","value":{"key":"k"}}]`,
		`[{"op":"add","path":"/spec/a/-1/b/-1","value":1}]`,
		`[{"op":"remove","path":"/spec/containers/5"},{"op":"remove","path":"/metadata/x"}]`,
		`[{"op":"test","path":"/metadata/name","value":"p"},{"op":"replace","path":"/metadata/name","value":"q"}]`,
		`[{"op":"move","from":"/spec/containers/0","path":"/spec/containers/-"},{"op":"copy","from":"/metadata","path":"/spec/m"}]`,
		"- op: add\n  path: /metadata/labels/a~1b\n  value: c\n",
		`[{"op":"replace","path":"","value":{"a":1}},{"op":"add","path":"//x","value":null}]`,
	}
	for _, r := range fuzzResources {
		for _, p := range patches {
			f.Add(r, p)
		}
	}
	f.Fuzz(func(t *testing.T, resource, patch string) {
		res, ok := decodeObject(resource)
		if !ok || patch == "" || len(patch) > 4096 {
			return
		}
		if strings.Contains(patch, `"/"`) || strings.Contains(patch, `"//`) || strings.Contains(patch, `from: /`) {
			// evanphx/json-patch can move the root into itself through an
			// empty key and overflow its stack: only check that
			// JSON6902 survives.
			_, _ = JSON6902(res, patch)
			return
		}
		compareWithReference(t, res, patch)
	})
}
