package mutate

import (
	"testing"

	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"
)

// fromYAML decodes a YAML or JSON document as the engine receives objects:
// through JSON and the unstructured decoder (int64 and float64 numbers).
func fromYAML(t testing.TB, s string) any {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(s))
	if err != nil {
		t.Fatalf("invalid YAML: %v\n%s", err, s)
	}
	var v any
	if err := utiljson.Unmarshal(j, &v); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, j)
	}
	return v
}

// objYAML decodes a YAML object.
func objYAML(t testing.TB, s string) map[string]any {
	t.Helper()
	m, ok := fromYAML(t, s).(map[string]any)
	if !ok {
		t.Fatalf("not an object:\n%s", s)
	}
	return m
}
