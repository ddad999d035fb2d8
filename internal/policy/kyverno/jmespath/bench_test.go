package jmespath

import "testing"

func BenchmarkSearch(b *testing.B) {
	in := New()
	data := podData()
	for _, bc := range []struct{ name, expr string }{
		{"field", "request.object.metadata.name"},
		{"filter", "request.object.spec.containers[?name=='nginx'].image | [0]"},
		{"functions", "length(request.object.spec.[containers, initContainers][].image) > `1`"},
		{"regex", "regex_match('^nginx:[0-9.]+$', request.object.spec.containers[0].image)"},
		{"quantity", "add(request.object.spec.containers[0].resources.limits.memory, '100Mi')"},
	} {
		q, err := in.Compile(bc.expr)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := q.Search(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
