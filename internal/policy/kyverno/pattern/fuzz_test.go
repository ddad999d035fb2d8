package pattern

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/json"

	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/anchor"
)

const fuzzPod = `{"apiVersion": "v1", "kind": "Pod",
	"metadata": {"name": "p", "labels": {"app": "x", "app.kubernetes.io/name": "y"}},
	"spec": {"hostNetwork": false, "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
		"containers": [{"name": "c", "image": "nginx:latest", "ports": [{"containerPort": 80, "hostPort": 8080}],
			"securityContext": {"privileged": false, "capabilities": {"drop": ["ALL"]}},
			"resources": {"limits": {"cpu": "500m", "memory": "1Gi"}}}],
		"volumes": [{"name": "v", "hostPath": {"path": "/var/run/docker.sock"}}]}}`

// FuzzValidate checks that matching never panics, and that a resource always
// matches a pattern equal to itself when the pattern has no anchors, no
// wildcard keys and no lists whose elements differ.
func FuzzValidate(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "seeds", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, []byte(fuzzPod))
		f.Add(data, data)
	}
	f.Add([]byte(`{"a": [1, 1], "b": {"c": null, "d": "x|y"}}`), []byte(`{"a": [1, 2]}`))
	f.Add([]byte(`"1-10"`), []byte(`5`))
	f.Fuzz(func(t *testing.T, patternJSON, resourceJSON []byte) {
		var pat, res any
		if json.Unmarshal(patternJSON, &pat) != nil || json.Unmarshal(resourceJSON, &res) != nil {
			return
		}
		err := Validate(res, pat)
		_ = Respond("rule", "message", err)
		_ = RespondAny("rule", "", ValidateAny(res, []any{pat, res}))
		if plain(pat) {
			if err := Validate(pat, pat); err != nil {
				t.Fatalf("a plain pattern does not match itself: %v\npattern: %s", err, patternJSON)
			}
		}
	})
}

// plain reports whether a pattern matches a resource equal to itself: it has
// no anchors or wildcards in keys, no empty lists, lists whose elements are
// all equal, and integers that a float64 holds exactly.
func plain(p any) bool {
	switch t := p.(type) {
	case map[string]any:
		for k, v := range t {
			if anchor.Parse(k).Type != anchor.None || strings.ContainsAny(k, "*?") || !plain(v) {
				return false
			}
		}
		return true
	case []any:
		if len(t) == 0 {
			return false
		}
		for _, e := range t[1:] {
			if !reflect.DeepEqual(e, t[0]) {
				return false
			}
		}
		return plain(t[0])
	case int64:
		return math.Abs(float64(t)) <= 1<<53
	}
	return true
}
