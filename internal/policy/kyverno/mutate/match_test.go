package mutate

import "testing"

func TestMatchPattern(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		pattern string
		want    bool
	}{
		{"equal strings", `nginx`, `nginx`, true},
		{"wildcard", `nginx:latest`, `"*:latest"`, true},
		{"wildcard mismatch", `nginx:1.2`, `"*:latest"`, false},
		{"question mark", `hello2`, `hello?`, true},
		{"question mark needs a character", `hello`, `hello?`, false},
		{"star matches anything", `""`, `"*"`, true},
		{"question star needs a character", `""`, `"?*"`, false},
		{"alternatives", `b`, `a | b`, true},
		{"conjunction", `5`, `">1 & <10"`, true},
		{"conjunction fails", `50`, `">1 & <10"`, false},
		{"not equal", `a`, `"!b"`, true},
		{"not equal wildcard", `ab`, `"!a*"`, false},
		{"greater", `3`, `">2"`, true},
		{"greater equal", `2`, `">=2"`, true},
		{"less on strings", `abc`, `"<2"`, false},
		{"range", `5`, `1-10`, true},
		{"range outside", `11`, `1-10`, false},
		{"not in range", `11`, `"1!-10"`, true},
		{"quantities", `2Gi`, `">1Gi"`, true},
		{"quantity range", `500m`, `100m-1`, true},
		{"durations", `90s`, `">1m"`, true},
		{"number pattern", `3`, `3`, true},
		{"float pattern against int", `3`, `3.0`, true},
		{"bool pattern", `true`, `true`, true},
		{"bool pattern against string", `"true"`, `true`, false},
		{"null pattern against empty", `""`, `null`, true},
		{"null pattern against zero", `0`, `null`, true},
		{"null pattern against value", `a`, `null`, false},
		{"map pattern only checks the type", `{a: 1}`, `{}`, true},
		{"list value against scalar pattern", `[a1, a2]`, `"a*"`, true},
		{"list value against scalar pattern fails", `[a1, b2]`, `"a*"`, false},
		{"nested map", `{a: {b: c}}`, `{a: {b: "c*"}}`, true},
		{"missing field against star", `{a: 1}`, `{b: "*"}`, false},
		{"missing field against value", `{a: 1}`, `{b: x}`, false},
		{"equality anchor absent", `{a: 1}`, `{=(b): x}`, true},
		{"equality anchor present", `{b: y}`, `{=(b): x}`, false},
		{"negation anchor", `{b: y}`, `{X(b): null}`, false},
		{"negation anchor absent", `{a: y}`, `{X(b): null}`, true},
		{"existence anchor", `{l: [{id: a}, {id: b}]}`, `{^(l): [{id: b}]}`, true},
		{"existence anchor fails", `{l: [{id: a}]}`, `{^(l): [{id: b}]}`, false},
		{"conditional anchor missing key", `{a: 1}`, `{(b): x, a: 1}`, false},
		{"conditional anchor then check", `{b: x, a: 1}`, `{(b): x, a: 2}`, false},
		{"global anchor absent", `{a: 1}`, `{<(b): x}`, true},
		{"array of maps skips elements whose condition fails", `[{id: a, v: 1}, {id: b, v: 2}]`, `[{(id): b, v: 2}]`, true},
		{"array of maps fails on a real mismatch", `[{id: a, v: 1}, {id: b, v: 3}]`, `[{(id): b, v: 2}]`, false},
		{"array of maps where every condition fails", `[{id: a}]`, `[{(id): b}]`, false},
		{"empty array against array of maps", `[]`, `[{id: a}]`, true},
		{"empty pattern array", `[a]`, `[]`, false},
		{"structure mismatch", `a`, `{a: b}`, false},
		{"wildcard label keys", `{metadata: {labels: {app.kubernetes.io/name: x}}}`, `{metadata: {labels: {"app.kubernetes.io/*": x}}}`, true},
		{"wildcard label keys mismatch", `{metadata: {labels: {app.kubernetes.io/name: x}}}`, `{metadata: {labels: {"app.kubernetes.io/*": y}}}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			value, pattern := fromYAML(t, tc.value), fromYAML(t, tc.pattern)
			if got := matchPattern(jsonValue(value), jsonValue(pattern)); got != tc.want {
				t.Errorf("matchPattern(%v, %v) = %v, want %v", value, pattern, got, tc.want)
			}
		})
	}
}

func TestWildcardMatch(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"", "", true},
		{"*", "", true},
		{"?", "", false},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbY", false},
		{"*a*a*a*a*b", strings50a(), false},
		{"é?", "éx", true},
		{"??", "é", false},
	}
	for _, tc := range tests {
		if got := wildcardMatch(tc.pattern, tc.name); got != tc.want {
			t.Errorf("wildcardMatch(%q, %q) = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}

func strings50a() string {
	b := make([]byte, 50)
	for i := range b {
		b[i] = 'a'
	}
	return string(b)
}
