package kyverno

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"

	"github.com/portcullis-dev/portcullis/internal/match"
)

// AutogenAnnotation selects the pod controllers that autogen rules cover:
// a comma-separated list, or "none".
const AutogenAnnotation = "pod-policies.kyverno.io/autogen-controllers"

// podControllers are the controllers Kyverno generates rules for by default.
var podControllers = []string{"DaemonSet", "Deployment", "Job", "StatefulSet", "ReplicaSet", "ReplicationController", "CronJob"}

// controllerKinds maps a controller to the kind selector of its generated rule.
var controllerKinds = map[string]string{
	"DaemonSet":             "apps/v1/DaemonSet",
	"Deployment":            "apps/v1/Deployment",
	"Job":                   "batch/v1/Job",
	"StatefulSet":           "apps/v1/StatefulSet",
	"ReplicaSet":            "apps/v1/ReplicaSet",
	"ReplicationController": "v1/ReplicationController",
	"CronJob":               "batch/v1/CronJob",
	"Pod":                   "v1/Pod",
}

// autogen returns the rules of the policy with the generated pod controller
// rules appended: `autogen-<rule>` for the controllers with a pod template
// and `autogen-cronjob-<rule>` for CronJobs, as Kyverno computes them. The
// raw rules are the policy's rules as unstructured maps, so that the text
// rewriting of variable paths works on the same JSON Kyverno rewrites.
func autogen(annotations map[string]string, rules []rule, raw []map[string]any) ([]map[string]any, error) {
	controllers, ok := autogenControllers(annotations, rules)
	if !ok {
		return nil, nil
	}
	var out []map[string]any
	for i, r := range rules {
		if strings.HasPrefix(r.Name, "autogen-") {
			continue
		}
		base := podRule(r, raw[i], stripCronJob(controllers))
		if base != nil {
			conv, err := rewritePaths(base, "Pod")
			if err != nil {
				return nil, err
			}
			out = append(out, conv)
		}
		if hasController(controllers, "CronJob") {
			mid := podRule(r, raw[i], controllers)
			if mid == nil {
				continue
			}
			var midRule rule
			if err := remarshal(mid, &midRule); err != nil {
				return nil, err
			}
			cron := wrapRule(midRule, mid, "autogen-cronjob-"+r.Name, "jobTemplate", []string{"CronJob"}, func(kinds []string) bool { return true })
			conv, err := rewritePaths(cron, "CronJob")
			if err != nil {
				return nil, err
			}
			out = append(out, conv)
		}
	}
	return out, nil
}

// autogenControllers decides whether the policy gets autogen rules and for
// which controllers.
func autogenControllers(annotations map[string]string, rules []rule) ([]string, bool) {
	needed := false
	for _, r := range rules {
		if r.Generate != nil {
			return nil, false
		}
		if r.Mutate != nil {
			if r.Mutate.PatchesJSON6902 != "" {
				return nil, false
			}
			for _, fe := range r.Mutate.ForEach {
				if fe.PatchesJSON6902 != "" {
					return nil, false
				}
			}
		}
		descs := []resourceDescription{r.Match.Resources}
		for _, f := range r.Match.Any {
			descs = append(descs, f.Resources)
		}
		for _, f := range r.Match.All {
			descs = append(descs, f.Resources)
		}
		if r.Exclude != nil {
			descs = append(descs, r.Exclude.Resources)
			for _, f := range r.Exclude.Any {
				descs = append(descs, f.Resources)
			}
			for _, f := range r.Exclude.All {
				descs = append(descs, f.Resources)
			}
		}
		for _, d := range descs {
			if d.Name != "" || len(d.Names) > 0 || d.Selector != nil || d.Annotations != nil || (len(d.Kinds) > 1 && containsKind(d.Kinds, "Pod")) {
				return nil, false
			}
			for _, k := range d.Kinds {
				kind := match.ParseKind(k).Kind
				if kind == "Pod" || controllerKinds[kind] != "" {
					needed = true
				}
			}
		}
	}
	if !needed {
		return nil, false
	}
	requested, has := annotations[AutogenAnnotation]
	if !has {
		return append([]string(nil), podControllers...), true
	}
	if requested == "none" || requested == "" {
		return nil, false
	}
	var out []string
	for _, c := range strings.Split(requested, ",") {
		out = append(out, strings.TrimSpace(c))
	}
	sort.Strings(out)
	return out, true
}

func hasController(list []string, c string) bool {
	for _, x := range list {
		if x == c || x == "all" {
			return true
		}
	}
	return false
}

func stripCronJob(controllers []string) []string {
	var out []string
	for _, c := range controllers {
		if c != "CronJob" {
			out = append(out, c)
		}
	}
	return out
}

// containsKind reports whether a kind selector list names kind (ignoring
// group, version and subresource).
func containsKind(kinds []string, kind string) bool {
	for _, k := range kinds {
		if match.ParseKind(k).Kind == kind {
			return true
		}
	}
	return false
}

func allKinds(m matchResources) []string {
	kinds := append([]string(nil), m.Resources.Kinds...)
	for _, f := range m.Any {
		kinds = append(kinds, f.Resources.Kinds...)
	}
	for _, f := range m.All {
		kinds = append(kinds, f.Resources.Kinds...)
	}
	return kinds
}

// podRule builds the controller rule (tplKey "template") for rule r, or nil
// when r does not apply to Pods.
func podRule(r rule, raw map[string]any, controllers []string) map[string]any {
	if len(controllers) == 0 {
		return nil
	}
	if !containsKind(allKinds(r.Match), "Pod") {
		return nil
	}
	if r.Exclude != nil {
		if ek := allKinds(*r.Exclude); len(ek) > 0 && !containsKind(ek, "Pod") {
			return nil
		}
	}
	valid := map[string]bool{"DaemonSet": true, "Deployment": true, "Job": true, "StatefulSet": true, "ReplicaSet": true, "ReplicationController": true}
	var kinds []string
	for _, c := range controllers {
		if c == "all" {
			kinds = []string{"DaemonSet", "Deployment", "Job", "ReplicaSet", "ReplicationController", "StatefulSet"}
			break
		}
		if valid[c] {
			kinds = append(kinds, c)
		}
	}
	if len(kinds) == 0 {
		// Kyverno keeps the requested list as it is when none of it is a
		// known template controller (for example only "CronJob").
		kinds = append(kinds, controllers...)
	}
	sort.Strings(kinds)
	return wrapRule(r, raw, "autogen-"+r.Name, "template", kinds, func(k []string) bool { return containsKind(k, "Pod") })
}

// wrapRule rewrites a rule for controllers: new name, kinds replaced, and
// the validation or mutation wrapped under spec.<tplKey>.
func wrapRule(r rule, raw map[string]any, name, tplKey string, kinds []string, replaceFilter func([]string) bool) map[string]any {
	if len(name) > 63 {
		name = name[:63]
	}
	gvks := make([]any, 0, len(kinds))
	for _, k := range kinds {
		if gvk, ok := controllerKinds[k]; ok {
			gvks = append(gvks, gvk)
		} else {
			gvks = append(gvks, k)
		}
	}
	out := map[string]any{"name": name}
	for _, key := range []string{"context", "preconditions", "celPreconditions", "skipBackgroundRequests", "reportProperties", "verifyImages"} {
		if v, ok := raw[key]; ok {
			out[key] = deepCopy(v)
		}
	}
	if m, ok := raw["match"].(map[string]any); ok {
		out["match"] = replaceKinds(deepCopy(m).(map[string]any), gvks, replaceFilter, true)
	}
	if e, ok := raw["exclude"].(map[string]any); ok {
		out["exclude"] = replaceKinds(deepCopy(e).(map[string]any), gvks, replaceFilter, false)
	}
	wrap := func(v any) any {
		return map[string]any{"spec": map[string]any{tplKey: deepCopy(v)}}
	}
	if mu, ok := raw["mutate"].(map[string]any); ok {
		switch {
		case mu["patchStrategicMerge"] != nil:
			out["mutate"] = map[string]any{"patchStrategicMerge": wrap(mu["patchStrategicMerge"])}
		case mu["foreach"] != nil:
			var fes []any
			for _, fe := range asSlice(mu["foreach"]) {
				fm, _ := fe.(map[string]any)
				n := map[string]any{"list": fm["list"]}
				for _, key := range []string{"context", "preconditions"} {
					if v, ok := fm[key]; ok {
						n[key] = deepCopy(v)
					}
				}
				n["patchStrategicMerge"] = wrap(fm["patchStrategicMerge"])
				fes = append(fes, n)
			}
			out["mutate"] = map[string]any{"foreach": fes}
		default:
			out["mutate"] = deepCopy(mu)
		}
	}
	if va, ok := raw["validate"].(map[string]any); ok {
		nv := map[string]any{}
		for _, key := range []string{"message", "failureAction", "failureActionOverrides", "allowExistingViolations", "validationFailureAction", "validationFailureActionOverrides"} {
			if v, ok := va[key]; ok {
				nv[key] = deepCopy(v)
			}
		}
		switch {
		case va["pattern"] != nil:
			nv["pattern"] = wrap(va["pattern"])
		case va["deny"] != nil:
			nv["deny"] = deepCopy(va["deny"])
		case va["podSecurity"] != nil:
			nv["podSecurity"] = deepCopy(va["podSecurity"])
		case va["anyPattern"] != nil:
			var ps []any
			for _, p := range asSlice(va["anyPattern"]) {
				ps = append(ps, wrap(p))
			}
			nv["anyPattern"] = ps
		case va["foreach"] != nil:
			nv["foreach"] = deepCopy(va["foreach"])
		default:
			nv = deepCopy(va).(map[string]any)
		}
		out["validate"] = nv
	}
	return out
}

// replaceKinds swaps the kinds of the filters that name Pods (any/all), or
// of the legacy top-level resources, for the controllers' kinds.
func replaceKinds(m map[string]any, gvks []any, filter func([]string) bool, isMatch bool) map[string]any {
	for _, key := range []string{"any", "all"} {
		list := asSlice(m[key])
		if len(list) == 0 {
			continue
		}
		for _, f := range list {
			fm, _ := f.(map[string]any)
			res, _ := fm["resources"].(map[string]any)
			if res == nil {
				continue
			}
			if filter(toStrings(res["kinds"])) {
				res["kinds"] = append([]any(nil), gvks...)
			}
		}
		return m
	}
	res, _ := m["resources"].(map[string]any)
	if res != nil && (isMatch || len(asSlice(res["kinds"])) > 0) {
		res["kinds"] = append([]any(nil), gvks...)
	}
	return m
}

var (
	podRewrites = [][2]string{
		{"request.object.spec", "request.object.spec.template.spec"},
		{"request.oldObject.spec", "request.oldObject.spec.template.spec"},
		{"request.object.metadata", "request.object.spec.template.metadata"},
		{"request.oldObject.metadata", "request.oldObject.spec.template.metadata"},
	}
	cronRewrites = [][2]string{
		{"request.object.spec", "request.object.spec.jobTemplate.spec.template.spec"},
		{"request.oldObject.spec", "request.oldObject.spec.jobTemplate.spec.template.spec"},
		{"request.object.metadata", "request.object.spec.jobTemplate.spec.template.metadata"},
		{"request.oldObject.metadata", "request.oldObject.spec.jobTemplate.spec.template.metadata"},
	}
)

// rewritePaths moves variable paths from the Pod to the pod template, in the
// whole rule's JSON text, as Kyverno's autogen does.
func rewritePaths(r map[string]any, kind string) (map[string]any, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	rewrites := podRewrites
	if kind == "CronJob" {
		rewrites = cronRewrites
	}
	for _, rw := range rewrites {
		b = bytes.ReplaceAll(b, []byte(rw[0]), []byte(rw[1]))
	}
	v, err := fromJSON(b)
	if err != nil {
		return nil, err
	}
	m, _ := v.(map[string]any)
	return m, nil
}

func remarshal(in any, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func toStrings(v any) []string {
	var out []string
	for _, e := range asSlice(v) {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// deepCopy copies an unstructured JSON value.
func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		s := make([]any, len(t))
		for i, e := range t {
			s[i] = deepCopy(e)
		}
		return s
	default:
		return v
	}
}
