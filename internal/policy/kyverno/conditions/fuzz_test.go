package conditions

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// FuzzConditions checks that compiling any block and evaluating it, and
// applying every operator to any key and value, never panics, and that
// NotEquals is always the negation of Equals.
func FuzzConditions(f *testing.F) {
	f.Add([]byte(`{"any": [{"key": "{{a}}", "operator": "AnyIn", "value": "1-10"}], "all": [{"key": "1Gi", "operator": "GreaterThan", "value": "1000Mi"}]}`), []byte(`[1, 5, "x*"]`), []byte(`"1-3"`))
	f.Add([]byte(`[{"key": "1h", "operator": "DurationLessThan", "value": 7200, "message": "m"}]`), []byte(`"1.5.0"`), []byte(`"1.10.0"`))
	f.Add([]byte(`{"all": [{"key": {"a": 1}, "operator": "Equals", "value": {"a": 1.0}}]}`), []byte(`"[\"a\"]"`), []byte(`["a", 1, true, null]`))
	f.Fuzz(func(t *testing.T, blockJSON, keyJSON, valueJSON []byte) {
		var raw, key, value any
		if json.Unmarshal(blockJSON, &raw) == nil {
			if b, errs := Compile(raw, field.NewPath("conditions")); len(errs) == 0 {
				subst := func(v any) (any, error) {
					if s, ok := v.(string); ok && s == "{{a}}" {
						return key, nil
					}
					return v, nil
				}
				_, _, _ = b.Evaluate(subst)
			}
		}
		if json.Unmarshal(keyJSON, &key) != nil || json.Unmarshal(valueJSON, &value) != nil {
			return
		}
		for _, op := range Operators() {
			_ = Operator(op).Eval(key, value)
		}
		if Equals.Eval(key, value) == NotEquals.Eval(key, value) {
			t.Fatalf("Equals and NotEquals agree on %s and %s", keyJSON, valueJSON)
		}
	})
}
