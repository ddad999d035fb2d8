package mutate

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/anchor"
)

// deepCopy copies a value exactly: unlike clone it keeps nil maps and lists
// nil, so that a comparison with the original sees every difference.
func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		if t == nil {
			return t
		}
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		if t == nil {
			return t
		}
		l := make([]any, len(t))
		for i, e := range t {
			l[i] = deepCopy(e)
		}
		return l
	}
	return v
}

// scribble changes every map and list of v in place.
func scribble(v any) {
	switch t := v.(type) {
	case map[string]any:
		if t == nil {
			return
		}
		for k, e := range t {
			scribble(e)
			t[k] = "scribbled"
		}
		t["scribbled"] = true
	case []any:
		for i, e := range t {
			scribble(e)
			t[i] = "scribbled"
		}
	}
}

// sharingPod is a Pod with a null field, which the merge drops, and fields
// that no overlay below touches.
const sharingPod = `
apiVersion: v1
kind: Pod
metadata:
  name: app
  creationTimestamp: null
  labels: {app: app}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: app-1, uid: "1234"}]
spec:
  volumes: [{name: data, emptyDir: {}}]
  tolerations: [{key: a, operator: Exists}]
  containers:
  - name: app
    image: nginx:latest
    env: [{name: A, value: "1"}]
    resources: {requests: {cpu: 100m}}
  - name: sidecar
    image: corp/sidecar:1
    ports: [{containerPort: 8080, protocol: TCP}]`

// sharingOverlays covers the anchors, the directives and the list merges.
var sharingOverlays = []string{
	// the seed policy kyverno-add-default-resources.yaml, for one element
	`{spec: {containers: [{name: sidecar, resources: {requests: {+(memory): 128Mi, +(cpu): 100m}, limits: {+(memory): 512Mi}}}]}}`,
	`{spec: {containers: [{(image): "*:latest", imagePullPolicy: Always, env: [{name: B, value: "2"}]}]}}`,
	`{spec: {containers: [{(name): "*", securityContext: {runAsNonRoot: true}}]}}`,
	`{metadata: {labels: {+(team): platform, app: null}}, spec: {tolerations: [{key: b}]}}`,
	`{spec: {containers: [{name: app, $patch: delete}], volumes: [{name: tmp, emptyDir: {medium: Memory}}]}}`,
	`{spec: {containers: [{name: app, resources: {$patch: replace, limits: {cpu: "1"}}}]}}`,
	`{metadata: {annotations: {(x): y}}}`,
	`{spec: {<(volumes): [{name: data}], hostNetwork: false}}`,
}

// TestStrategicMergeSharesStructure checks the contract of StrategicMerge:
// it modifies neither input, shares the untouched parts of the resource
// with the result, shares nothing with the overlay, and its result patches
// like an unshared copy of it.
func TestStrategicMergeSharesStructure(t *testing.T) {
	for _, first := range sharingOverlays {
		t.Run(first, func(t *testing.T) {
			res := objYAML(t, sharingPod)
			overlay := fromYAML(t, first)
			resBefore, overlayBefore := deepCopy(res), deepCopy(overlay)
			got, err := StrategicMerge(res, overlay)
			if diff := cmp.Diff(resBefore, any(res)); diff != "" {
				t.Fatalf("StrategicMerge() modified the resource (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(overlayBefore, overlay); diff != "" {
				t.Fatalf("StrategicMerge() modified the overlay (-before +after):\n%s", diff)
			}
			var skip *SkipError
			if errors.As(err, &skip) {
				return
			}
			if err != nil {
				t.Fatalf("StrategicMerge() error = %v", err)
			}
			if !sameMap(got["spec"].(map[string]any)["volumes"].([]any)[0].(map[string]any), res["spec"].(map[string]any)["volumes"].([]any)[0].(map[string]any)) &&
				!sameMap(got["metadata"].(map[string]any)["labels"].(map[string]any), res["metadata"].(map[string]any)["labels"].(map[string]any)) {
				t.Errorf("the result shares nothing with the resource")
			}

			// A second patch of the result, as a foreach applies it,
			// gives what it gives on an unshared copy and changes
			// neither the result nor the resource.
			gotBefore := deepCopy(got)
			for _, second := range sharingOverlays {
				want, wantErr := StrategicMerge(deepCopy(got).(map[string]any), fromYAML(t, second))
				again, err := StrategicMerge(got, fromYAML(t, second))
				if (err == nil) != (wantErr == nil) || cmp.Diff(want, again) != "" {
					t.Fatalf("second overlay %s: got (%v, %v), want (%v, %v)", second, again, err, want, wantErr)
				}
				jpWant, jpWantErr := JSON6902(deepCopy(got).(map[string]any), `[{"op": "add", "path": "/spec/containers/0/args", "value": ["x"]}]`)
				jp, jpErr := JSON6902(got, `[{"op": "add", "path": "/spec/containers/0/args", "value": ["x"]}]`)
				if (jpErr == nil) != (jpWantErr == nil) || cmp.Diff(jpWant, jp) != "" {
					t.Fatalf("JSON patch of the result: got (%v, %v), want (%v, %v)", jp, jpErr, jpWant, jpWantErr)
				}
			}
			if diff := cmp.Diff(gotBefore, any(got)); diff != "" {
				t.Fatalf("patching the result modified it (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(resBefore, any(res)); diff != "" {
				t.Fatalf("patching the result modified the resource (-before +after):\n%s", diff)
			}

			// Changing the result in place, which the contract forbids
			// for the resource's sake, must still leave the overlay
			// alone.
			scribble(got)
			if diff := cmp.Diff(overlayBefore, overlay); diff != "" {
				t.Fatalf("changing the result changed the overlay (-before +after):\n%s", diff)
			}
		})
	}
}

// TestJSON6902SharesStructure checks the same contract for JSON patches.
func TestJSON6902SharesStructure(t *testing.T) {
	patches := []string{
		`[{"op": "add", "path": "/spec/tolerations/-", "value": {"key": "b"}}]`,
		`[{"op": "replace", "path": "/metadata/labels/app", "value": "x"}, {"op": "add", "path": "/metadata/annotations", "value": {"a": null}}]`,
		`[{"op": "move", "from": "/spec/volumes", "path": "/metadata/volumes"}, {"op": "add", "path": "/metadata/volumes/0/x", "value": 1}]`,
		`[{"op": "copy", "from": "/spec", "path": "/status"}, {"op": "remove", "path": "/status/containers"}]`,
		`[{"op": "add", "path": "/x/0/-", "value": null}]`,
		`[{"op": "replace", "path": "", "value": {"a": 1}}]`,
	}
	for _, patch := range patches {
		t.Run(patch, func(t *testing.T) {
			res := objYAML(t, sharingPod)
			before := deepCopy(res)
			got, err := JSON6902(res, patch)
			if diff := cmp.Diff(before, any(res)); diff != "" {
				t.Fatalf("JSON6902() modified the resource (-before +after):\n%s", diff)
			}
			if err != nil {
				t.Fatalf("JSON6902() error = %v", err)
			}
			want, err := JSON6902(deepCopy(res).(map[string]any), patch)
			if err != nil || cmp.Diff(want, got) != "" {
				t.Fatalf("JSON6902() = %v, want (%v, %v)", got, want, err)
			}
			gotBefore := deepCopy(got)
			for _, second := range sharingOverlays {
				if _, err := StrategicMerge(got, fromYAML(t, second)); err != nil && !errors.As(err, new(*SkipError)) {
					t.Fatalf("second overlay %s: %v", second, err)
				}
			}
			if diff := cmp.Diff(gotBefore, any(got)); diff != "" {
				t.Fatalf("patching the result modified it (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(before, any(res)); diff != "" {
				t.Fatalf("patching the result modified the resource (-before +after):\n%s", diff)
			}
		})
	}
}

// FuzzStrategicMergeSharing checks the copy-on-write contract on two
// overlays applied one after the other: the inputs stay as they were, the
// second merge of the (shared) first result gives what it gives on an
// unshared copy, and changing the results in place leaves the overlays
// alone.
func FuzzStrategicMergeSharing(f *testing.F) {
	pod, _ := utiljson.Marshal(fromYAML(f, sharingPod))
	f.Add(string(pod), `{"metadata":{"labels":{"+(team)":"x"}}}`, `{"spec":{"containers":[{"(name)":"*","env":[{"name":"B"}]}]}}`)
	for i := 0; i+1 < len(sharingOverlays); i++ {
		a, _ := utiljson.Marshal(fromYAML(f, sharingOverlays[i]))
		b, _ := utiljson.Marshal(fromYAML(f, sharingOverlays[i+1]))
		f.Add(string(pod), string(a), string(b))
	}
	for _, r := range fuzzResources {
		f.Add(r, `{"spec":{"items":null,"x":{"$patch":"replace","y":[{"(a)":null}]}}}`, `{"spec":{"containers":[{"name":"a","image":"b"}]}}`)
	}
	f.Fuzz(func(t *testing.T, resource, first, second string) {
		res, ok := decodeObject(resource)
		if !ok {
			return
		}
		var o1, o2 any
		if utiljson.Unmarshal([]byte(first), &o1) != nil || utiljson.Unmarshal([]byte(second), &o2) != nil {
			return
		}
		resBefore, o1Before, o2Before := deepCopy(res), deepCopy(o1), deepCopy(o2)
		r1, err := StrategicMerge(res, o1)
		if err != nil {
			r1 = res
		}
		r1Before := deepCopy(r1)
		want, wantErr := StrategicMerge(deepCopy(r1).(map[string]any), deepCopy(o2))
		r2, err := StrategicMerge(r1, o2)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("second merge: error %v, on an unshared copy %v", err, wantErr)
		}
		if diff := cmp.Diff(want, r2); diff != "" {
			t.Fatalf("second merge differs from the merge of an unshared copy (-copy +shared):\n%s", diff)
		}
		for _, c := range []struct {
			name        string
			got, before any
		}{{"resource", res, resBefore}, {"first overlay", o1, o1Before}, {"second overlay", o2, o2Before}, {"first result", r1, r1Before}} {
			if diff := cmp.Diff(c.before, c.got); diff != "" {
				t.Fatalf("the %s changed (-before +after):\n%s", c.name, diff)
			}
		}
		scribble(r2)
		scribble(r1)
		if cmp.Diff(o1Before, o1) != "" || cmp.Diff(o2Before, o2) != "" {
			t.Fatal("changing the results changed an overlay")
		}
	})
}

// TestAnchorKind checks the anchor parsing of the overlay walks against
// anchor.Parse on every short key over the characters that matter.
func TestAnchorKind(t *testing.T) {
	kinds := map[anchor.Type]akind{
		anchor.None:            akNone,
		anchor.Condition:       akCondition,
		anchor.Global:          akGlobal,
		anchor.AddIfNotPresent: akAdd,
		anchor.Equality:        akOther,
		anchor.Existence:       akOther,
		anchor.Negation:        akOther,
	}
	var walk func(key []byte)
	walk = func(key []byte) {
		a := anchor.Parse(string(key))
		got := anchorKind(string(key))
		if got != kinds[a.Type] {
			t.Fatalf("anchorKind(%q) = %d, want %d (%q)", key, got, kinds[a.Type], a.Type)
		}
		if got != akNone && anchorKey(string(key), got) != a.Key {
			t.Fatalf("anchorKey(%q) = %q, want %q", key, anchorKey(string(key), got), a.Key)
		}
		if len(key) == 5 {
			return
		}
		for _, c := range []byte("()+<=^Xa") {
			walk(append(key, c))
		}
	}
	walk(nil)
}
