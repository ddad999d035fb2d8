package jmespath

import "testing"

// FuzzSearch checks that compiling and evaluating arbitrary expressions never
// panics and stays within its bounds.
func FuzzSearch(f *testing.F) {
	for _, seed := range []string{
		"request.object.spec.containers[?name=='nginx'].image | [0]",
		"request.object.spec.[initContainers, containers][].image",
		"request.object.metadata.labels.* | length(@)",
		`regex_match('^\\d+$', '1')`,
		"sum(['1Ki', '2Ki'])",
		"sort_by(request.object.spec.containers, &name)[-1:]",
		"items(request.object.metadata.labels, 'k', 'v')[].k",
		"request.object.spec.replicas > `2` && !contains(keys(@), 'x')",
		"{a: foo, b: [foo, `1`]}",
		"map(&to_string(@), request.object.spec.containers[1].ports)",
	} {
		f.Add(seed)
	}
	in := newTestInterpreter()
	data := podData()
	f.Fuzz(func(t *testing.T, expr string) {
		q, err := in.Compile(expr)
		if err != nil {
			return
		}
		v, err := q.Search(data)
		if s, ok := v.(string); ok && err == nil && len(s) > MaxStringLength {
			t.Fatalf("Search(%q) returned %d bytes", expr, len(s))
		}
	})
}
