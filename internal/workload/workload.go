// Package workload knows where the kinds that run containers keep their pod
// spec and their containers, for the image policies of every dialect.
package workload

// specPaths is where each kind keeps its pod spec.
var specPaths = map[string][]string{
	"Pod":                   {"spec"},
	"Deployment":            {"spec", "template", "spec"},
	"StatefulSet":           {"spec", "template", "spec"},
	"DaemonSet":             {"spec", "template", "spec"},
	"ReplicaSet":            {"spec", "template", "spec"},
	"ReplicationController": {"spec", "template", "spec"},
	"Job":                   {"spec", "template", "spec"},
	"CronJob":               {"spec", "jobTemplate", "spec", "template", "spec"},
}

// ContainerFields are the pod spec fields that list containers, in the
// order the kubelet starts them.
func ContainerFields() []string {
	return []string{"initContainers", "containers", "ephemeralContainers"}
}

// SpecPath returns the path of kind's pod spec, and false for kinds that
// have none.
func SpecPath(kind string) ([]string, bool) {
	p, ok := specPaths[kind]
	return append([]string(nil), p...), ok
}

// PodSpec returns the pod spec of obj (a Pod or a pod controller) as it is
// in obj, or nil when obj has none.
func PodSpec(obj map[string]any) map[string]any {
	kind, _ := obj["kind"].(string)
	return PodSpecOfKind(obj, kind)
}

// PodSpecOfKind is PodSpec for an object whose kind is known apart.
func PodSpecOfKind(obj map[string]any, kind string) map[string]any {
	path, ok := specPaths[kind]
	if !ok {
		return nil
	}
	cur := obj
	for _, k := range path {
		next, ok := cur[k].(map[string]any)
		if !ok {
			return nil
		}
		cur = next
	}
	return cur
}
