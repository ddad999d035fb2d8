package pattern

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWildcard(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "s3:GetObject", true},
		{"", "s3:GetObject", false},
		{"", "", true},
		{"*", "", true},
		{"?*", "", false},
		{"?*", "a", true},
		{"s3:*", "s3:ListMultipartUploadParts", true},
		{"s3:ListBucketMultipartUploads", "s3:ListBucket", false},
		{"s3:ListBucket", "s3:ListBucket", true},
		{"my-bucket/oo*", "my-bucket/oo", true},
		{"my-bucket/In*", "my-bucket/India/Karnataka/", true},
		{"my-bucket/In*", "my-bucket/Karnataka/India/", false},
		{"my-bucket/In*/Ka*/Ban", "my-bucket/India/Karnataka/Ban/Ban/Ban/Ban/Ban", true},
		{"my-bucket/In*/Ka*/Ban", "my-bucket/India/State1/State2/Karnataka/Area1/Area2/Area3/Ban", true},
		{"my-bucket/In*/Ka*/Ban", "my-bucket/India/Karnataka/Bangalore", false},
		{"my-bucket/In*/Ka*/Ban*", "my-bucket/India/Karnataka/Bangalore", true},
		{"my-bucket/oo*", "my-bucket/odo", false},
		{"my-bucket?/abc*", "mybucket/abc", false},
		{"my-bucket?/abc*", "my-bucket1/abc", true},
		{"my-?-bucket/abc*", "my--bucket/abc", false},
		{"my-?-bucket/abc*", "my-1-bucket/abc", true},
		{"my??bucket/abc*", "mybucket/abc", false},
		{"my??bucket/abc*", "my4abucket/abc", true},
		{"my-bucket/abc????", "my-bucket/abc", false},
		{"my-bucket/abc????", "my-bucket/abcde", false},
		{"my-bucket/abc????", "my-bucket/abcdefg", true},
		{"my-bucket/abc?", "my-bucket/abc", false},
		{"my-bucket/abc?", "my-bucket/abcd", true},
		{"my-bucket/abc?", "my-bucket/abcde", false},
		{"my-bucket/mnop*?", "my-bucket/mnop", false},
		{"my-bucket/mnop*?", "my-bucket/mnopq", true},
		{"my-bucket/mnop*?and", "my-bucket/mnopqand", true},
		{"my-bucket/mnop*?and", "my-bucket/mnopand", false},
		{"my-bucket/mnop*?and?", "my-bucket/mnopqanda", true},
		{"my-bucket/mnop*?and", "my-bucket/mnopqanda", false},
		{"*:latest", "nginx:latest", true},
		{"*:latest", "nginx", false},
		{"*:*", "nginx", false},
		{"a.b", "axb", false},
		{"é?", "éé", true},
		{"?", "é", true},
		{"**a", "bba", true},
		{"*a*b", "xaxxb", true},
		{"*a*b", "xaxxc", false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q~%q", tt.pattern, tt.s), func(t *testing.T) {
			if got := Wildcard(tt.pattern, tt.s); got != tt.want {
				t.Errorf("Wildcard(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
			}
		})
	}
}

func TestMatchValue(t *testing.T) {
	tests := []struct {
		name    string
		value   any
		pattern any
		want    bool
	}{
		// Booleans.
		{"bool equal", true, true, true},
		{"bool differ", true, false, false},
		{"bool vs string", "true", true, false},
		{"bool vs nil", nil, false, false},
		// null matches zero values.
		{"nil vs nil", nil, nil, true},
		{"nil vs empty string", "", nil, true},
		{"nil vs string", "value", nil, false},
		{"nil vs 0.0", 0.0, nil, true},
		{"nil vs int64 0", int64(0), nil, true},
		{"nil vs 1", int64(1), nil, false},
		{"nil vs false", false, nil, true},
		{"nil vs true", true, nil, false},
		{"nil vs map", map[string]any{}, nil, false},
		{"nil vs list", []any{}, nil, false},
		// Numbers: Kyverno's patterns are float64.
		{"float equal", 7.9914, 7.9914, true},
		{"float differ", 7.9914, 7.99141, false},
		{"int64 vs float pattern", int64(7), 7.0, true},
		{"int64 vs int pattern", int64(10), int64(10), true},
		{"int64 vs other int", int64(8), int64(10), false},
		{"float integral vs int pattern", 8.0, int64(8), true},
		{"float fraction vs int pattern", 8.1, int64(8), false},
		{"int vs fraction pattern", int64(8), 8.1, false},
		{"string vs int pattern", "8", int64(8), true},
		{"float string vs int pattern", "8.0", int64(8), true},
		{"string fraction vs int pattern", "8.1", int64(8), false},
		{"string vs float pattern", "8.1", 8.1, true},
		{"bad string vs float", "abc", 8.1, false},
		{"bool vs number", false, 8.0, false},
		{"nil vs number", nil, int64(0), false},
		// Lists never match; maps match any map.
		{"list pattern", nil, []any{}, false},
		{"map pattern vs map", map[string]any{"a": true}, map[string]any{"b": false}, true},
		{"map pattern vs string", "abc", map[string]any{}, false},
		// Plain strings and wildcards.
		{"exact", "nginx", "nginx", true},
		{"exact differ", "nginx", "busybox", false},
		{"star vs empty", "", "*", true},
		{"star vs nil", nil, "*", false},
		{"non-empty vs empty", "", "?*", false},
		{"non-empty vs nil", nil, "?*", false},
		{"non-empty vs value", "x", "?*", true},
		{"non-empty vs number", int64(3), "?*", true},
		{"non-empty vs bool", false, "?*", true},
		{"empty pattern vs empty", "", "", true},
		{"empty pattern vs nil", nil, "", false},
		{"wildcard", "nginx:latest", "*:latest", true},
		{"value equals pattern with operators", "!5.10.84-1", "!5.10.84-1", true},
		{"string true vs bool", true, "true", true},
		{"float formats with exponent", 1.5, "1.5E+00", true},
		{"float string wildcard", 1.5, "1.5*", true},
		// "!" negates.
		{"not latest", "nginx:1.2", "!*:latest", true},
		{"not latest fails", "nginx:latest", "!*:latest", false},
		{"not vs nil", nil, "!*:latest", false},
		{"not range-like version", "5.16.5-arch1-1", "!5.10.84-1", true},
		{"not range-like version fails", "5.10.84-1", "!5.10.84-1", false},
		{"and of nots", "5.16.5-arch1-1", "!5.10.84-1 & !5.15.2-1", true},
		{"and of nots fails", "5.15.2-1", "!5.10.84-1 & !5.15.2-1", false},
		{"not 1 vs nil", nil, "!1", true},
		{"not 0 vs nil", nil, "!0", false},
		// "|" and "&".
		{"or", "10.100.11.54", "192.168.88.1 | 10.100.11.*", true},
		{"and", "10", ">1 & <20", true},
		{"or of ands first", "10", ">1 & <20 | >31 & <33", true},
		{"or of ands second", "32", ">1 & <20 | >31 & <33", true},
		{"or of ands none", "21", ">1 & <20 | >31 & <33", false},
		{"latest or untagged", "nginx", "*:latest | !*:*", true},
		{"latest or untagged tagged", "nginx:1.2.3", "*:latest | !*:*", false},
		// Numeric comparisons go through quantities.
		{"more with space", int64(4), ">= 3", true},
		{"float more", 7.00001, ">7.000001", true},
		{"float not equal", 7.00001, "!7", true},
		{"float equal", 7.0, "7", true},
		{"float less", 6.000000001, "<6", false},
		{"gt zero", int64(1000), ">0", true},
		{"gt zero fails", int64(0), ">0", false},
		{"gt zero nil", nil, ">0", false},
		{"lt one nil", nil, "<1", true},
		{"zero nil", nil, "0", true},
		{"string operators on strings", "abc", ">1", false},
		{"string more than string", "b", ">a", false},
		// Quantities.
		{"quantity equal", "1024Mi", "1Gi", true},
		{"quantity milli", "0.2", "200m", true},
		{"quantity int", int64(1024), "1024", true},
		{"quantity more", "1Gi", ">1000Mi", true},
		{"quantity less", "1G", "<1Gi", true},
		{"quantity more equal", "500m", ">=0.5", true},
		{"quantity less equal", "0.2", "<=.5", true},
		{"quantity not equal", "0.2", "!.5", true},
		{"quantity no string compare", "500m", ">=0.6", false},
		{"quantity invalid value", "gii", "1024Gi", false},
		{"quantity empty pattern", "1024Gi", "", false},
		{"quantity limit", "2Gi", "<=2Gi", true},
		{"quantity over limit", "3Gi", "<=2Gi", false},
		// Durations.
		{"duration equal", "12s", "12s", true},
		{"duration not equal", "12s", "!15s", true},
		{"duration less", "12s", "<15s", true},
		{"duration less equal", "12s", "<=12s", true},
		{"duration not less", "15s", "<12s", false},
		{"duration more", "15s", ">12s", true},
		{"duration minutes", "1h", ">30m", true},
		{"duration not more", "12s", ">15s", false},
		// Ranges.
		{"range low", int64(0), "0-2", true},
		{"range mid", int64(1), "0-2", true},
		{"range high", int64(2), "0-2", true},
		{"range out", int64(3), "0-2", false},
		{"not range below", int64(0), "10!-20", true},
		{"not range inside", int64(15), "10!-20", false},
		{"not range above", int64(25), "10!-20", true},
		{"float range out", int64(0), "0.00001-2.00001", false},
		{"float range in", int64(2), "0.00001-2.00001", true},
		{"float range over", 2.0001, "0.00001-2.00001", false},
		{"float not range", 2.0001, "0.00001!-2.00001", true},
		{"point range", int64(2), "2-2", true},
		{"point not range", int64(2), "2!-2", false},
		{"range fraction", 2.99999, "2.99998-3", true},
		{"quantity range", "256Mi", "128Mi-512Mi", true},
		{"quantity range over", "1024Mi", "128Mi-512Mi", false},
		{"quantity range under", "64Mi", "128Mi-512Mi", false},
		{"quantity not range", "1024Mi", "128Mi!-512Mi", true},
		{"negative range", int64(-9), "-10-8", true},
		{"negative bounds", int64(9), "-10--8", false},
		{"negative not range", int64(9), "-10!--8", true},
		{"negative quantity not range", "9Mi", "-10Mi!--8Mi", true},
		{"negative not range inside", int64(-9), "-10!--8", false},
		{"plus range", int64(0), "-10-+8", true},
		{"plus quantity range", "7Mi", "-10Mi-+8Mi", true},
		{"plus not range", int64(10), "-10!-+8", true},
		{"plus bounds", int64(0), "+0-+1", true},
		{"range vs string", "abc", "1-10", false},
		{"range vs nil", nil, "0-10", true},
		{"range-like value equals itself", "2023-01", "2023-01", true},
		// Quantities too large to compare in bounded time are strings.
		{"huge exponent value", "1e999999999", "<1Ki", false},
		{"huge exponent value equal", "1e999999999", "1e999999999", true},
		{"huge exponent pattern", "1", "!1e99999", true},
		{"largest exponent", "1e308", ">1Ei", true},
		{"long digits", "9" + strings.Repeat("9", 600), ">1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MatchValue(tt.value, tt.pattern); got != tt.want {
				t.Errorf("MatchValue(%#v, %#v) = %v, want %v", tt.value, tt.pattern, got, tt.want)
			}
		})
	}
}

func TestParseCondition(t *testing.T) {
	tests := []struct {
		in      string
		op      op
		operand string
	}{
		{"", opEqual, ""},
		{"f", opEqual, "f"},
		{">", opEqual, ">"},
		{">= 3", opMoreEqual, "3"},
		{"<=3", opLessEqual, "3"},
		{"> 3", opMore, "3"},
		{"<3", opLess, "3"},
		{"!foo", opNotEqual, "foo"},
		{"!-5-10", opNotEqual, "-5-10"},
		{"1-10", opInRange, "1-10"},
		{"1!-10", opNotInRange, "1!-10"},
		{"1.2.3-4", opEqual, "1.2.3-4"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c := parseCondition(tt.in)
			got := []any{c.op, c.operand}
			if diff := cmp.Diff([]any{tt.op, tt.operand}, got); diff != "" {
				t.Errorf("parseCondition(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}
