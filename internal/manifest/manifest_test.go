package manifest

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	sigsyaml "sigs.k8s.io/yaml"
)

// referenceDecode is what kubectl does: sigs.k8s.io/yaml to JSON, then the
// apimachinery JSON decoder.
func referenceDecode(doc []byte) (map[string]any, error) {
	js, err := sigsyaml.YAMLToJSON(doc)
	if err != nil {
		return nil, err
	}
	var v any
	if err := utiljson.Unmarshal(js, &v); err != nil {
		return nil, err
	}
	m, _ := v.(map[string]any)
	return m, nil
}

func TestDecodeDocumentMatchesSigsYAML(t *testing.T) {
	tests := []struct {
		name string
		doc  string
	}{
		{"scalars", "a: 1\nb: 1.5\nc: true\nd: null\ne: hello\nf: '1'\ng: 1.0\nh: 1e3\ni: -0\nj: 0x1F\n"},
		{"yaml 1.1 booleans", "a: yes\nb: off\nc: 'yes'\n"},
		{"nested", "a:\n  b:\n  - c: 1\n    d: [1, 2, {e: f}]\n"},
		{"non-string keys", "1: a\ntrue: b\n"},
		{"big numbers", "a: 9223372036854775807\nb: 12345678901234567890\nc: 1e21\n"},
		{"quantities", "cpu: 100m\nmemory: 128Mi\nratio: 0.5\n"},
		{"timestamps stay strings", "t: 2023-01-01T00:00:00Z\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, werr := referenceDecode([]byte(tt.doc))
			got, gerr := DecodeDocument([]byte(tt.doc))
			if (werr != nil) != (gerr != nil) {
				t.Fatalf("errors differ: reference %v, got %v", werr, gerr)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-sigs.k8s.io/yaml +DecodeDocument):\n%s", diff)
			}
		})
	}
}

// TestDecodeCorpus decodes every YAML file of the shared corpora both ways.
func TestDecodeCorpus(t *testing.T) {
	root := filepath.Join("..", "..", "..", "shared")
	if _, err := os.Stat(root); err != nil {
		t.Fatalf("the shared corpora must be beside the repository: %v", err)
	}
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return Split(bytes.NewReader(data), path, func(index int, doc []byte) error {
			want, werr := referenceDecode(doc)
			got, gerr := DecodeDocument(doc)
			if werr != nil || gerr != nil {
				if (werr != nil) != (gerr != nil) {
					t.Errorf("%s#%d: errors differ: reference %v, got %v", path, index, werr, gerr)
				}
				return nil
			}
			if len(want) == 0 && got == nil {
				return nil
			}
			n++
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s#%d (-sigs.k8s.io/yaml +DecodeDocument):\n%s", path, index, diff)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 1000 {
		t.Errorf("decoded only %d documents", n)
	}
}

func TestDecodeListsAndErrors(t *testing.T) {
	in := "apiVersion: v1\nkind: List\nitems:\n- kind: Pod\n  metadata: {name: a}\n- kind: Pod\n  metadata: {name: b}\n---\n# only a comment\n---\nkind: ConfigMap\nmetadata: {name: c}\n"
	var names []string
	err := Decode(strings.NewReader(in), "in.yaml", func(o Object) error {
		names = append(names, o.Name())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "b", "c"}, names); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	err = Decode(strings.NewReader("kind: Pod\n---\n- just\n- a list\n"), "bad.yaml", func(Object) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "bad.yaml: document 1") {
		t.Errorf("error %v does not name the file and document", err)
	}
}

func TestDefaultNamespace(t *testing.T) {
	tests := []struct {
		obj  map[string]any
		want string
	}{
		{map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "a"}}, "default"},
		{map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "a", "namespace": "x"}}, "x"},
		{map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "a"}}, ""},
		{map[string]any{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": map[string]any{"name": "a"}}, ""},
		{map[string]any{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": map[string]any{"name": "a"}}, "default"},
	}
	for _, tt := range tests {
		DefaultNamespace(tt.obj)
		if got := (Object{Object: tt.obj}).Namespace(); got != tt.want {
			t.Errorf("%v: namespace %q, want %q", tt.obj["kind"], got, tt.want)
		}
	}
}
