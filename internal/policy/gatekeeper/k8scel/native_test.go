package k8scel

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/cel-go/common/types"
)

// TestNativeVariables checks that the Go computation of Gatekeeper's
// variables gives the value and the cost of their CEL definitions, on every
// path through them.
func TestNativeVariables(t *testing.T) {
	p, errs := Compile(map[string]any{}, nil, nil)
	if len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	big := map[string]any{"a": int64(1), "b": map[string]any{"c": []any{int64(1), "x"}}, "d": "a long string value"}
	small := map[string]any{"x": int64(1)}
	var ops []any
	ops = append(ops, nil, "", "C", "CREATE", "UPDATE", "DELETE", "CONNECT", "DELETED", "A_MUCH_LONGER_OPERATION", 7)
	for _, c := range p.variables {
		for _, op := range ops {
			for _, obj := range []map[string]any{nil, small, big} {
				for _, old := range []map[string]any{nil, big} {
					for _, params := range []any{nil, small, "scalar", []any{}, map[string]any(nil)} {
						in := &Input{Object: obj, OldObject: old, Params: params, Request: map[string]any{"operation": op}}
						if op == nil {
							in.Request = nil
						}
						name := fmt.Sprintf("%s/op=%v/obj=%d/old=%v/params=%v", c.name, op, len(obj), old != nil, params)
						ev := p.newEvaluation(context.Background(), in)
						want, details, err := c.prog.ContextEval(context.Background(), ev)
						if err != nil {
							t.Fatalf("%s: %v", name, err)
						}
						got, cost := c.native(ev)
						if got.Equal(want) != types.True || got.Type() != want.Type() {
							t.Errorf("%s: value %v (%v), want %v (%v)", name, got, got.Type(), want, want.Type())
						}
						if uint64(cost) != *details.ActualCost() {
							t.Errorf("%s: cost %d, want %d", name, cost, *details.ActualCost())
						}
					}
				}
			}
		}
	}
}
