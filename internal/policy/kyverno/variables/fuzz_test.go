package variables

import (
	"bufio"
	"os"
	"strings"
	"testing"

	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/jmespath"
)

// FuzzSubstitute checks that substitution never panics, stays within its
// bounds, and returns strings without "{{" or "$(" unchanged. It is seeded
// with variables from the Kyverno policy corpus (testdata/seeds.txt).
func FuzzSubstitute(f *testing.F) {
	file, err := os.Open("testdata/seeds.txt")
	if err != nil {
		f.Fatal(err)
	}
	defer file.Close()
	scanner := bufio.NewScanner(file)
	for scanner.Scan() {
		f.Add(scanner.Text())
	}
	if err := scanner.Err(); err != nil {
		f.Fatal(err)
	}
	jp := jmespath.New()
	data := testData()
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Substitute(s, jp, data)
		if !strings.Contains(s, "{{") && !strings.Contains(s, "$(") {
			if err != nil || got != s {
				t.Fatalf("Substitute(%q) = %#v, %v; want the string unchanged", s, got, err)
			}
		}
		if str, ok := got.(string); ok && len(str) > MaxStringLength {
			t.Fatalf("Substitute(%q) returned %d bytes", s, len(str))
		}
		// A document holding the string, as a key and as a value.
		doc := map[string]any{s: []any{s, map[string]any{"k": s}}}
		if tpl, err := Compile(doc, jp, WithPath("/mutate/patchStrategicMerge")); err == nil {
			_, _ = tpl.Evaluate(data)
		}
	})
}
