package mutate

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand"
	"slices"
	"strconv"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/google/go-cmp/cmp"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"
)

func TestJSON6902(t *testing.T) {
	pod := `{apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: a, image: a}, {name: b, image: b}]}}`
	tests := []struct {
		name     string
		resource string
		patch    string
		want     string
	}{{
		name:     "add to a missing list creates it",
		resource: pod,
		patch: `
- op: add
  path: "/spec/tolerations/-"
  value: {key: org.com/role, operator: Equal, value: service, effect: NoSchedule}`,
		want: `{apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: a, image: a}, {name: b, image: b}],
  tolerations: [{key: org.com/role, operator: Equal, value: service, effect: NoSchedule}]}}`,
	}, {
		name:     "add creates objects and arrays for negative indices",
		resource: `{apiVersion: apps/v1, kind: Deployment, spec: {template: {spec: {containers: [{name: t}]}}}}`,
		patch: `
- path: "/spec/template/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/-1/matchExpressions/-1"
  op: add
  value: {key: zone_weight, operator: Lt, values: ["400"]}`,
		want: `
apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      containers: [{name: t}]
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions:
              - {key: zone_weight, operator: Lt, values: ["400"]}`,
	}, {
		name:     "add at an index",
		resource: pod,
		patch:    `[{"op": "add", "path": "/spec/containers/1", "value": {"name": "c"}}]`,
		want:     `{apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: a, image: a}, {name: c}, {name: b, image: b}]}}`,
	}, {
		name:     "add past the end pads nothing and fails",
		resource: pod,
		patch:    `[{"op": "add", "path": "/spec/containers/5", "value": {"name": "c"}}]`,
		want:     "error: error in add for path: '/spec/containers/5': Unable to access invalid index: 5: invalid index referenced",
	}, {
		name:     "remove of a missing path does nothing",
		resource: pod,
		patch:    `[{"op": "remove", "path": "/metadata/labels/app"}, {"op": "remove", "path": "/spec/containers/9"}]`,
		want:     wantSkip,
	}, {
		name:     "remove by negative index",
		resource: pod,
		patch:    `[{"op": "remove", "path": "/spec/containers/-1"}]`,
		want:     `{apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: a, image: a}]}}`,
	}, {
		name:     "escaped keys",
		resource: `{apiVersion: v1, kind: Pod, metadata: {name: p, annotations: {a/b: x}}}`,
		patch:    `[{"op": "replace", "path": "/metadata/annotations/a~1b", "value": "w"}, {"op": "add", "path": "/metadata/annotations/c~0d", "value": "z"}]`,
		want:     `{apiVersion: v1, kind: Pod, metadata: {name: p, annotations: {a/b: w, c~d: z}}}`,
	}, {
		name:     "replace of a missing key fails",
		resource: pod,
		patch:    `[{"op": "replace", "path": "/spec/hostname", "value": "h"}]`,
		want:     "error: replace operation does not apply: doc is missing key: /spec/hostname: missing value",
	}, {
		name:     "replace under a missing parent fails",
		resource: pod,
		patch:    `[{"op": "replace", "path": "/spec/x/y", "value": "h"}]`,
		want:     "error: replace operation does not apply: doc is missing path: /spec/x/y: missing value",
	}, {
		name:     "test then replace",
		resource: pod,
		patch:    `[{"op": "test", "path": "/spec/containers/0/image", "value": "a"}, {"op": "replace", "path": "/spec/containers/0/image", "value": "z"}]`,
		want:     `{apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: a, image: z}, {name: b, image: b}]}}`,
	}, {
		name:     "failed test",
		resource: pod,
		patch:    `[{"op": "test", "path": "/spec/containers/0/image", "value": "b"}]`,
		want:     "error: testing value /spec/containers/0/image failed: test failed",
	}, {
		name:     "move and copy",
		resource: pod,
		patch:    `[{"op": "copy", "from": "/spec/containers/0", "path": "/spec/initContainers"}, {"op": "move", "from": "/spec/containers/1", "path": "/spec/containers/0"}]`,
		want:     `{apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {initContainers: {name: a, image: a}, containers: [{name: b, image: b}, {name: a, image: a}]}}`,
	}, {
		name:     "values keep their numbers",
		resource: pod,
		patch:    `[{"op": "add", "path": "/spec/terminationGracePeriodSeconds", "value": 30}, {"op": "add", "path": "/spec/x", "value": 1.5}]`,
		want:     `{apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: a, image: a}, {name: b, image: b}], terminationGracePeriodSeconds: 30, x: 1.5}}`,
	}, {
		name:     "replace with the same value skips",
		resource: pod,
		patch:    `[{"op": "replace", "path": "/spec/containers/0/image", "value": "a"}]`,
		want:     wantSkip,
	}, {
		name:     "invalid patch",
		resource: pod,
		patch:    `[{"op": "frob", "path": "/a"}]`,
		want:     `error: failed to decode patches: invalid operation {"op":"frob","path":"/a"}: unsupported operation`,
	}, {
		name:     "invalid YAML",
		resource: pod,
		patch:    "- op: add\n  path: [",
		want:     "error: failed to convert patchesJSON6902 to JSON: ",
	}, {
		name:     "replace the whole document with a list",
		resource: pod,
		patch:    `[{"op": "replace", "path": "", "value": [1]}]`,
		want:     "error: failed to unmarshal patched resource",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := objYAML(t, tc.resource)
			before := objYAML(t, tc.resource)
			got, err := JSON6902(res, tc.patch)
			if diff := cmp.Diff(before, res); diff != "" {
				t.Fatalf("JSON6902() modified its input (-before +after):\n%s", diff)
			}
			checkResult(t, got, err, tc.want)
		})
	}
	if _, err := JSON6902(objYAML(t, pod), ""); !errors.Is(err, ErrEmptyRule) {
		t.Errorf("empty patch: error = %v, want ErrEmptyRule", err)
	}
}

func TestJSON6902Idempotent(t *testing.T) {
	// A rule that removes what it finds or adds to a list by name is
	// idempotent only with a precondition; these patches are by themselves.
	patches := []string{
		`[{"op": "add", "path": "/metadata/labels/team", "value": "x"}]`,
		`[{"op": "remove", "path": "/spec/hostNetwork"}]`,
		`[{"op": "replace", "path": "/spec/containers/0/image", "value": "registry/a"}]`,
		`[{"op": "add", "path": "/spec/securityContext/runAsNonRoot", "value": true}]`,
	}
	for _, p := range patches {
		t.Run(p, func(t *testing.T) {
			res := objYAML(t, `{apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {hostNetwork: true, containers: [{name: a, image: a}]}}`)
			first, err := JSON6902(res, p)
			if err != nil {
				t.Fatalf("first application: %v", err)
			}
			if _, err := JSON6902(first, p); !errors.As(err, new(*SkipError)) {
				t.Fatalf("second application error = %v, want a skip", err)
			}
		})
	}
}

// referenceJSON6902 applies a patch the way Kyverno does: through JSON and
// evanphx/json-patch with Kyverno's options.
func referenceJSON6902(resource map[string]any, patch string) (res map[string]any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errPanicked
		}
	}()
	raw := []byte(patch)
	if patch[0] != '[' {
		if raw, err = yaml.YAMLToJSON(raw); err != nil {
			return nil, fmt.Errorf("failed to convert patchesJSON6902 to JSON: %w", err)
		}
	}
	ops, err := jsonpatch.DecodePatch(raw)
	if err != nil {
		return nil, fmt.Errorf("failed to decode patches: %w", err)
	}
	doc, err := json.Marshal(resource)
	if err != nil {
		return nil, err
	}
	out, err := ops.ApplyWithOptions(doc, &jsonpatch.ApplyOptions{
		SupportNegativeIndices: true, AllowMissingPathOnRemove: true, EnsurePathExistsOnAdd: true,
	})
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := utiljson.Unmarshal(out, &m); err != nil || m == nil {
		return nil, fmt.Errorf("failed to unmarshal patched resource: %v", err)
	}
	if jsonEqual(m, resource) {
		return nil, &SkipError{Message: NoPatchesApplied}
	}
	return m, nil
}

var errPanicked = errors.New("reference panicked")

// compareWithReference checks JSON6902 against the reference on one input.
func compareWithReference(t *testing.T, resource map[string]any, patch string) {
	t.Helper()
	want, wantErr := referenceJSON6902(clone(resource).(map[string]any), patch)
	if errors.Is(wantErr, errPanicked) {
		return
	}
	got, gotErr := JSON6902(resource, patch)
	if (wantErr == nil) != (gotErr == nil) {
		t.Fatalf("patch %s on %v:\n got (%v, %v)\nwant (%v, %v)", patch, resource, got, gotErr, want, wantErr)
	}
	if wantErr != nil {
		if strings.HasPrefix(wantErr.Error(), "failed to unmarshal patched resource") {
			if !strings.HasPrefix(gotErr.Error(), "failed to unmarshal patched resource") {
				t.Fatalf("patch %s on %v: error %q, want %q", patch, resource, gotErr, wantErr)
			}
			return
		}
		if gotErr.Error() != wantErr.Error() {
			t.Fatalf("patch %s on %v: error\n %q\nwant\n %q", patch, resource, gotErr, wantErr)
		}
		return
	}
	if !jsonEqual(got, want) {
		t.Fatalf("patch %s on %v:\n got %v\nwant %v", patch, resource, got, want)
	}
}

// TestJSON6902MatchesEvanphx applies random patches to random documents with
// both implementations.
func TestJSON6902MatchesEvanphx(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for i := 0; i < n; i++ {
		doc := randomObject(r, 3)
		patch := randomPatch(r, doc)
		compareWithReference(t, doc, patch)
	}
}

var randomKeys = []string{"a", "b", "c", "x/y", "t~o", ""}

func randomScalar(r *rand.Rand) any {
	switch r.Intn(6) {
	case 0:
		return nil
	case 1:
		return r.Intn(2) == 0
	case 2:
		return int64(r.Intn(5))
	case 3:
		return 1.5
	default:
		return randomKeys[r.Intn(len(randomKeys))]
	}
}

func randomValue(r *rand.Rand, depth int) any {
	if depth <= 0 {
		return randomScalar(r)
	}
	switch r.Intn(3) {
	case 0:
		return randomObject(r, depth-1)
	case 1:
		n := r.Intn(4)
		l := make([]any, n)
		for i := range l {
			l[i] = randomValue(r, depth-1)
		}
		return l
	}
	return randomScalar(r)
}

func randomObject(r *rand.Rand, depth int) map[string]any {
	m := map[string]any{}
	for i := r.Intn(4); i > 0; i-- {
		m[randomKeys[r.Intn(len(randomKeys))]] = randomValue(r, depth)
	}
	return m
}

var pointerEncoder = strings.NewReplacer("~", "~0", "/", "~1")

// randomPath returns a path into doc, mostly one that exists or nearly.
func randomPath(r *rand.Rand, doc any) string {
	var b strings.Builder
	cur := doc
	for {
		if r.Intn(4) == 0 {
			break
		}
		switch t := cur.(type) {
		case map[string]any:
			keys := slices.Sorted(maps.Keys(t))
			var k string
			if len(keys) > 0 && r.Intn(4) != 0 {
				k = keys[r.Intn(len(keys))]
			} else {
				k = randomKeys[r.Intn(len(randomKeys))]
			}
			b.WriteString("/" + pointerEncoder.Replace(k))
			cur = t[k]
		case []any:
			var seg string
			switch r.Intn(5) {
			case 0:
				seg = "-"
			case 1:
				seg = strconv.Itoa(-1 - r.Intn(len(t)+2))
			default:
				seg = strconv.Itoa(r.Intn(len(t) + 2))
			}
			b.WriteString("/" + seg)
			if i, err := strconv.Atoi(seg); err == nil && i >= 0 && i < len(t) {
				cur = t[i]
			} else {
				cur = nil
			}
		default:
			for i := r.Intn(3); i >= 0; i-- {
				segs := []string{"a", "0", "-", "-1", "b"}
				b.WriteString("/" + segs[r.Intn(len(segs))])
			}
			return b.String()
		}
	}
	return b.String()
}

func randomPatch(r *rand.Rand, doc map[string]any) string {
	ops := []string{"add", "remove", "replace", "move", "copy", "test"}
	var list []map[string]any
	for i := r.Intn(3) + 1; i > 0; i-- {
		op := map[string]any{"op": ops[r.Intn(len(ops))], "path": randomPath(r, doc)}
		switch op["op"] {
		case "add", "replace":
			op["value"] = randomValue(r, 2)
		case "test":
			if r.Intn(2) == 0 {
				op["value"] = randomValue(r, 1)
			} else {
				op["value"] = lookup(doc, op["path"].(string))
			}
		case "move", "copy":
			// evanphx/json-patch can move the root into itself through
			// "/", which overflows its stack.
			from := randomPath(r, doc)
			for from == "/" || strings.HasPrefix(from, "//") {
				from = randomPath(r, doc)
			}
			op["from"] = from
		}
		list = append(list, op)
	}
	b, _ := json.Marshal(list)
	if r.Intn(3) == 0 {
		y, _ := yaml.JSONToYAML(b)
		return string(y)
	}
	return string(b)
}

// lookup returns the value at a path, or nil.
func lookup(doc any, path string) any {
	if path == "" {
		return doc
	}
	cur := doc
	for _, seg := range strings.Split(path, "/")[1:] {
		seg = decodeKey(seg)
		switch t := cur.(type) {
		case map[string]any:
			cur = t[seg]
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(t) {
				return nil
			}
			cur = t[i]
		default:
			return nil
		}
	}
	return cur
}
