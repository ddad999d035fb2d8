package mutate

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestMergeCleanMatchesGeneral checks that the linear merge of clean lists
// gives what kyaml's general algorithm gives.
func TestMergeCleanMatchesGeneral(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	names := []string{"a", "b", "c", "d", "e"}
	element := func(keys []string) map[string]any {
		m := map[string]any{}
		for _, k := range keys {
			if k == "protocol" {
				m[k] = []string{"TCP", "UDP"}[r.Intn(2)]
			} else {
				m[k] = names[r.Intn(len(names))]
			}
		}
		switch r.Intn(5) {
		case 0:
			m["$patch"] = "delete"
		case 1:
			m["$patch"] = "replace"
		case 2:
			m["x"] = nil
		}
		m["v"] = int64(r.Intn(3))
		return m
	}
	list := func(keys []string, withDirectives bool) []any {
		var out []any
		seen := map[string]bool{}
		for i := r.Intn(5); i > 0; i-- {
			e := element(keys)
			if !withDirectives {
				delete(e, "$patch")
			}
			id := fmt.Sprint(e[keys[0]], e[keys[len(keys)-1]])
			if seen[id] {
				continue
			}
			seen[id] = true
			out = append(out, e)
		}
		return out
	}
	for i := 0; i < 5000; i++ {
		keys := []string{"name"}
		if r.Intn(2) == 0 {
			keys = []string{"port", "protocol"}
		}
		dest := list(keys, false)
		origin := list(keys, true)

		d1, o1 := &listRef{items: clone(dest).([]any)}, &listRef{items: clone(origin).([]any)}
		d2, o2 := &listRef{items: clone(dest).([]any)}, &listRef{items: clone(origin).([]any)}
		aliased := false
		switch r.Intn(4) {
		case 0:
			o1, o2 = nil, nil
		case 1:
			// a list the patch adds merges with itself
			d1, d2, aliased = o1, o2, true
		}
		fast, ok, err := mergeClean(d1, o1, keys, opaque, 0, aliased)
		if !ok || err != nil {
			t.Fatalf("mergeClean(%v, %v) = %v, %v", dest, origin, ok, err)
		}
		values := elementValues(d2, o2, keys)
		general, err := setAssociative(values, keys, d2, o2, opaque, 0)
		if err != nil {
			t.Fatalf("setAssociative: %v", err)
		}
		if diff := cmp.Diff(general.v, fast.v); diff != "" {
			t.Fatalf("dest %v origin %v (keys %v): mismatch (-general +fast):\n%s", dest, origin, keys, diff)
		}
	}
}

func TestResolvePlain(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		{"foo", "foo"},
		{"example.com/finalizer", "example.com/finalizer"},
		{"123", int64(123)},
		{"0x1F", int64(31)},
		{"1_000", int64(1000)},
		{"1.5", 1.5},
		{"1e3", int64(1000)},
		{"true", true},
		{"False", false},
		{"null", nil},
		{"~", nil},
		{"-", "-"},
		{"1.2.3", "1.2.3"},
		{".inf", ".inf"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, resolvePlain(tc.in)); diff != "" {
				t.Errorf("resolvePlain(%q) mismatch (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestPrimitiveListItemsAreRetyped(t *testing.T) {
	// kyaml rewrites the items of a merged list of scalars from their text.
	res := objYAML(t, `{apiVersion: v1, kind: ConfigMap, metadata: {finalizers: [a, "123"]}}`)
	got, err := StrategicMerge(res, objYAML(t, `{metadata: {finalizers: [b]}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := objYAML(t, `{apiVersion: v1, kind: ConfigMap, metadata: {finalizers: [b, a, 123]}}`)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}
