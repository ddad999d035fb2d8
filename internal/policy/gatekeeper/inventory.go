package gatekeeper

import (
	"context"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/resolver"

	"github.com/portcullis-dev/portcullis/internal/engine"
)

// maxInventory bounds the number of objects one evaluation puts in
// data.inventory.
const maxInventory = 100_000

// inventoryResolver answers reads of data.inventory for one evaluation. It
// lists the inventory on the first read only, and lays it out as
// Gatekeeper does:
//
//	data.inventory.cluster[groupVersion][kind][name]
//	data.inventory.namespace[namespace][groupVersion][kind][name]
//
// The objects are converted to Rego values lazily, as they are read.
type inventoryResolver struct {
	lister engine.InventoryLister
	value  ast.Value
	err    error
	done   bool
}

// Eval implements resolver.Resolver.
func (r *inventoryResolver) Eval(ctx context.Context, _ resolver.Input) (resolver.Result, error) {
	if !r.done {
		r.done = true
		r.value, r.err = r.build(ctx)
	}
	return resolver.Result{Value: r.value}, r.err
}

func (r *inventoryResolver) build(ctx context.Context) (ast.Value, error) {
	objs, err := r.lister.Inventory(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to list the inventory: %w", err)
	}
	if len(objs) > maxInventory {
		return nil, fmt.Errorf("the inventory holds %d objects, more than the limit of %d", len(objs), maxInventory)
	}
	return ast.LazyObject(InventoryTree(objs)), nil
}

// InventoryTree lays objects out as Gatekeeper's data.inventory. Objects
// without apiVersion, kind or name are left out.
func InventoryTree(objs []map[string]any) map[string]any {
	cluster := map[string]any{}
	namespaced := map[string]any{}
	for _, o := range objs {
		apiVersion, _ := o["apiVersion"].(string)
		kind, _ := o["kind"].(string)
		md, _ := o["metadata"].(map[string]any)
		name, _ := md["name"].(string)
		ns, _ := md["namespace"].(string)
		if apiVersion == "" || kind == "" || name == "" {
			continue
		}
		root := cluster
		if ns != "" {
			root = child(namespaced, ns)
		}
		child(child(root, apiVersion), kind)[name] = o
	}
	return map[string]any{"cluster": cluster, "namespace": namespaced}
}

func child(m map[string]any, key string) map[string]any {
	if c, ok := m[key].(map[string]any); ok {
		return c
	}
	c := map[string]any{}
	m[key] = c
	return c
}
