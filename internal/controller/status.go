package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/dynamic"
)

// The Ready condition, as Kyverno writes it and Argo CD's health checks
// read it.
const (
	ConditionReady = "Ready"
	// ReasonSucceeded: the policy compiled and is enforced.
	ReasonSucceeded = "Succeeded"
	// ReasonCompileError: the policy did not compile; the message lists
	// the problems with their field paths.
	ReasonCompileError = "CompileError"
	// ReasonConstraintCRD: the template's constraint kind could not be
	// created.
	ReasonConstraintCRD = "ConstraintCRDNotCreated"
)

// maxMessage bounds a condition's message.
const maxMessage = 4096

// RunLeader does, until ctx ends, what only the leader does: it creates the
// constraint CRD of every ConstraintTemplate and writes every policy's
// status after each compilation, and every DefaultStatusResync.
func (c *Controller) RunLeader(ctx context.Context) {
	ticker := time.NewTicker(DefaultStatusResync)
	defer ticker.Stop()
	for {
		c.reconcileConstraintCRDs(ctx)
		c.writeStatuses(ctx)
		select {
		case <-ctx.Done():
			return
		case <-c.leaderWork:
		case <-ticker.C:
		}
	}
}

// statusTarget is one object whose status the leader writes.
type statusTarget struct {
	watch    *watch
	obj      *unstructured.Unstructured
	errs     field.ErrorList
	root     string
	compiled bool
	template *templateState
}

// writeStatuses writes the status of every compiled document and every
// template whose status differs from what it should be.
func (c *Controller) writeStatuses(ctx context.Context) {
	c.mu.Lock()
	last := c.last
	templates := c.templates
	c.mu.Unlock()
	if last == nil {
		return
	}
	seen := map[string]bool{}
	var targets []statusTarget
	for _, d := range last.docs {
		o, ok, _ := d.watch.informer.GetStore().GetByKey(storeKey(d.namespace, d.name))
		if !ok {
			continue
		}
		u := o.(*unstructured.Unstructured)
		if string(u.GetUID()) != d.uid || u.GetGeneration() != d.generation {
			// A newer version is on its way to the compiler.
			continue
		}
		t := statusTarget{watch: d.watch, obj: u, errs: d.errs, root: d.root, compiled: true}
		if d.watch.template {
			if s, ok := templates[d.uid]; ok {
				t.template = &s
			}
		}
		seen[d.uid] = true
		targets = append(targets, t)
	}
	if w := c.watchOf(templateGK); w != nil && !w.policy {
		for _, o := range w.informer.GetStore().List() {
			u := o.(*unstructured.Unstructured)
			s, ok := templates[string(u.GetUID())]
			if !ok || seen[string(u.GetUID())] || s.generation != u.GetGeneration() {
				continue
			}
			targets = append(targets, statusTarget{watch: w, obj: u, template: &s})
		}
	}
	now := metav1.Now()
	for _, t := range targets {
		patch, changed := desiredStatus(t, c.opts.Identity, now)
		if !changed {
			continue
		}
		if err := c.patchStatus(ctx, t.watch, t.obj, patch); err != nil && ctx.Err() == nil {
			c.log.Error(err, "failed to write a policy's status", "resource", t.watch.gvr.String(),
				"namespace", t.obj.GetNamespace(), "name", t.obj.GetName())
		}
	}
}

func storeKey(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

// desiredStatus returns the status fields the object should have, and
// whether they differ from the ones it has: the Ready condition (True; or
// False with the compile errors or the constraint CRD's problem), Kyverno's
// status.ready and status.rulecount, and Gatekeeper's status.created and
// status.byPod.
func desiredStatus(t statusTarget, identity string, now metav1.Time) (map[string]any, bool) {
	obj := t.obj
	have, _, _ := unstructured.NestedMap(obj.Object, "status")
	generation := obj.GetGeneration()
	ready, reason, message := true, ReasonSucceeded, "Ready"
	var problems []map[string]any
	if len(t.errs) > 0 {
		ready, reason = false, ReasonCompileError
		message = errorMessage(t.errs, t.root)
		for _, e := range t.errs {
			problems = append(problems, map[string]any{"code": string(e.Type), "message": e.ErrorBody(), "location": relativePath(e.Field, t.root)})
		}
	}
	if t.template != nil && t.template.err != "" {
		problems = append(problems, map[string]any{"code": "create_error", "message": t.template.err})
		if ready {
			ready, reason, message = false, ReasonConstraintCRD, t.template.err
		}
	} else if t.template != nil && !t.template.created && ready {
		ready, reason, message = false, ReasonConstraintCRD, "the constraint CRD is not established yet"
	}

	want := map[string]any{}
	status := "False"
	if ready {
		status = "True"
	}
	cond := map[string]any{
		"type": ConditionReady, "status": status, "reason": reason, "message": message,
		"observedGeneration": generation, "lastTransitionTime": now.UTC().Format(time.RFC3339),
	}
	var conditions []any
	found := false
	existing, _ := have["conditions"].([]any)
	for _, e := range existing {
		m, ok := e.(map[string]any)
		if !ok || m["type"] != ConditionReady {
			conditions = append(conditions, e)
			continue
		}
		found = true
		if m["status"] == status {
			if ltt, ok := m["lastTransitionTime"].(string); ok {
				cond["lastTransitionTime"] = ltt
			}
		}
		conditions = append(conditions, cond)
	}
	if !found {
		conditions = append(conditions, cond)
	}
	want["conditions"] = conditions

	gvk := obj.GroupVersionKind()
	switch {
	case gvk.Group == "kyverno.io" && (gvk.Kind == "ClusterPolicy" || gvk.Kind == "Policy"):
		want["ready"] = ready
		want["rulecount"] = ruleCount(obj)
	case gvk.GroupKind() == templateGK:
		created := t.template != nil && t.template.created
		want["created"] = created
		want["byPod"] = []any{byPod(identity, generation, "templateUID", string(obj.GetUID()), problems, nil)}
	case gvk.Group == ConstraintsGroup:
		want["byPod"] = []any{byPod(identity, generation, "constraintUID", string(obj.GetUID()), problems, &ready)}
	}
	want = jsonRoundTrip(want)
	for k, v := range want {
		if !equality.Semantic.DeepEqual(have[k], v) {
			return want, true
		}
	}
	return want, false
}

func byPod(identity string, generation int64, uidKey, uid string, problems []map[string]any, enforced *bool) map[string]any {
	entry := map[string]any{
		"id": identity, "observedGeneration": generation, "operations": []any{"webhook"}, uidKey: uid,
	}
	if enforced != nil {
		entry["enforced"] = *enforced
	}
	if len(problems) > 0 {
		errs := make([]any, 0, len(problems))
		for _, p := range problems {
			errs = append(errs, p)
		}
		entry["errors"] = errs
	}
	return entry
}

// ruleCount counts a Kyverno policy's rules by type, for the VALIDATE,
// MUTATE, GENERATE and VERIFY IMAGES columns.
func ruleCount(obj *unstructured.Unstructured) map[string]any {
	counts := map[string]any{"validate": int64(0), "mutate": int64(0), "generate": int64(0), "verifyimages": int64(0)}
	rules, _, _ := unstructured.NestedSlice(obj.Object, "spec", "rules")
	for _, r := range rules {
		rule, _ := r.(map[string]any)
		for field, name := range map[string]string{"validate": "validate", "mutate": "mutate", "generate": "generate", "verifyImages": "verifyimages"} {
			if _, ok := rule[field]; ok {
				counts[name] = counts[name].(int64) + 1
			}
		}
	}
	return counts
}

// errorMessage renders compile errors as "path: problem" lines relative to
// the document, bounded in length.
func errorMessage(errs field.ErrorList, root string) string {
	var lines []string
	for _, e := range errs {
		if p := relativePath(e.Field, root); p != "" {
			lines = append(lines, p+": "+e.ErrorBody())
		} else {
			lines = append(lines, e.ErrorBody())
		}
	}
	msg := strings.Join(lines, "; ")
	if len(msg) > maxMessage {
		msg = msg[:maxMessage-len(" (truncated)")] + " (truncated)"
	}
	return msg
}

// relativePath strips the document's root from a field path:
// "clusterpolicies.kyverno.io[ClusterPolicy/x].spec.rules[0]" becomes
// "spec.rules[0]".
func relativePath(path, root string) string {
	return strings.TrimPrefix(strings.TrimPrefix(path, root), ".")
}

// jsonRoundTrip gives values the types the API returns (int64, []any,
// map[string]any), so that they compare equal to what is stored.
func jsonRoundTrip(m map[string]any) map[string]any {
	data, err := json.Marshal(m)
	if err != nil {
		return m
	}
	var out map[string]any
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return m
	}
	return normalizeNumbers(out).(map[string]any)
}

// patchStatus merge-patches the status fields, on the status subresource
// when the resource has one.
func (c *Controller) patchStatus(ctx context.Context, w *watch, obj *unstructured.Unstructured, status map[string]any) error {
	body, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"uid": string(obj.GetUID())},
		"status":   status,
	})
	if err != nil {
		return err
	}
	var api dynamic.ResourceInterface = c.opts.Dynamic.Resource(w.gvr)
	if w.namespaced {
		api = c.opts.Dynamic.Resource(w.gvr).Namespace(obj.GetNamespace())
	}
	var subresources []string
	if w.status {
		subresources = []string{"status"}
	}
	_, err = api.Patch(ctx, obj.GetName(), types.MergePatchType, body, metav1.PatchOptions{FieldManager: "portcullis"}, subresources...)
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		// Deleted, or deleted and created again: the new object gets its
		// status after the next compile.
		return nil
	}
	if err != nil {
		return fmt.Errorf("failed to patch the status: %w", err)
	}
	return nil
}
