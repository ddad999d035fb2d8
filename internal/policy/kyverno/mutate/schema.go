package mutate

import (
	"sort"
	"strings"
)

// schema is the part of a Kubernetes OpenAPI definition that a strategic
// merge reads: for each field, whether it is a list that merges (its
// x-kubernetes-patch-strategy contains "merge") and by which keys
// (x-kubernetes-list-map-keys when present, else x-kubernetes-patch-merge-key).
// Lists without a merge strategy are replaced by the patch's list.
//
// The table below holds the Kubernetes 1.21 types that kyaml embeds and
// that Kyverno's strategic merge therefore uses. A nil *schema means the
// kind is unknown (a CRD, or a type newer than the table): kyaml then
// replaces every list, and looks for apiVersion and kind in nested objects.
// A non-nil schema with no fields stands for a known type with no merge
// metadata below it.
type schema struct {
	// fields holds the fields with a schema of their own; a handful, so
	// that a scan finds one faster than a map would.
	fields   []namedSchema
	elem     *schema
	strategy string
	keys     []string
}

type namedSchema struct {
	name string
	s    *schema
}

// opaque is a known type with nothing mergeable below it.
var opaque = &schema{}

// field returns the schema of a field of an object.
func (s *schema) field(name string) *schema {
	if s == nil {
		return nil
	}
	for i := range s.fields {
		if s.fields[i].name == name {
			return s.fields[i].s
		}
	}
	return opaque
}

// elements returns the schema of the elements of a list.
func (s *schema) elements() *schema {
	if s == nil {
		return nil
	}
	if s.elem != nil {
		return s.elem
	}
	return opaque
}

// associative reports whether the list merges element by element.
func (s *schema) associative() bool {
	if s == nil {
		return false
	}
	for rest := s.strategy; ; {
		st, more, found := strings.Cut(rest, ",")
		if st == "merge" {
			return true
		}
		if !found {
			return false
		}
		rest = more
	}
}

// object builds the schema of an object type from its interesting fields.
func object(fields map[string]*schema) *schema {
	s := &schema{}
	for _, name := range sortedSchemaKeys(fields) {
		if f := fields[name]; f != nil {
			s.fields = append(s.fields, namedSchema{name: name, s: f})
		}
	}
	return s
}

func sortedSchemaKeys(m map[string]*schema) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// mergeList builds the schema of a list field that merges by keys; no keys
// makes a list of scalars that merges as a set (e.g. finalizers).
func mergeList(strategy string, keys []string, elem *schema) *schema {
	return &schema{strategy: strategy, keys: keys, elem: elem}
}

// plainList builds the schema of a list field that is replaced, but whose
// elements have mergeable fields.
func plainList(elem *schema) *schema { return &schema{elem: elem} }

// schemas maps "apiVersion/kind" to the schema of the kind. It is built once
// and never modified.
var schemas = buildSchemas()

// schemaFor returns the schema of a kind, or nil when the kind is unknown.
func schemaFor(apiVersion, kind string) *schema {
	return schemas[apiVersion+"|"+kind]
}

func buildSchemas() map[string]*schema {
	byType := func(name string) []string { return []string{name} }
	conditions := func() *schema { return mergeList("merge", byType("type"), nil) }

	meta := object(map[string]*schema{
		"finalizers":      mergeList("merge", nil, nil),
		"ownerReferences": mergeList("merge", byType("uid"), nil),
	})
	withMeta := func(fields map[string]*schema) *schema {
		if fields == nil {
			fields = map[string]*schema{}
		}
		fields["metadata"] = meta
		return object(fields)
	}

	container := object(map[string]*schema{
		"env":           mergeList("merge", byType("name"), nil),
		"ports":         mergeList("merge", []string{"containerPort", "protocol"}, nil),
		"volumeDevices": mergeList("merge", byType("devicePath"), nil),
		"volumeMounts":  mergeList("merge", byType("mountPath"), nil),
	})
	ephemeralContainer := object(map[string]*schema{
		"env":           mergeList("merge", byType("name"), nil),
		"volumeDevices": mergeList("merge", byType("devicePath"), nil),
		"volumeMounts":  mergeList("merge", byType("mountPath"), nil),
	})
	pvcTemplate := object(map[string]*schema{"metadata": meta})
	volume := object(map[string]*schema{
		"ephemeral": object(map[string]*schema{"volumeClaimTemplate": pvcTemplate}),
	})
	podSpec := object(map[string]*schema{
		"containers":                mergeList("merge", byType("name"), container),
		"initContainers":            mergeList("merge", byType("name"), container),
		"ephemeralContainers":       mergeList("merge", byType("name"), ephemeralContainer),
		"hostAliases":               mergeList("merge", byType("ip"), nil),
		"imagePullSecrets":          mergeList("merge", byType("name"), nil),
		"topologySpreadConstraints": mergeList("merge", []string{"topologyKey", "whenUnsatisfiable"}, nil),
		"volumes":                   mergeList("merge,retainKeys", byType("name"), volume),
	})
	podTemplate := object(map[string]*schema{"metadata": meta, "spec": podSpec})
	podStatus := object(map[string]*schema{
		"conditions": conditions(),
		"podIPs":     mergeList("merge", byType("ip"), nil),
	})
	withTemplate := func(extra map[string]*schema) *schema {
		spec := map[string]*schema{"template": podTemplate}
		for k, v := range extra {
			spec[k] = v
		}
		return withMeta(map[string]*schema{
			"spec":   object(spec),
			"status": object(map[string]*schema{"conditions": conditions()}),
		})
	}
	pvc := withMeta(map[string]*schema{
		"status": object(map[string]*schema{"conditions": conditions()}),
	})
	jobSpec := object(map[string]*schema{"template": podTemplate})
	cronJob := withMeta(map[string]*schema{
		"spec": object(map[string]*schema{
			"jobTemplate": object(map[string]*schema{"metadata": meta, "spec": jobSpec}),
		}),
	})
	statusConditions := func() *schema {
		return withMeta(map[string]*schema{
			"status": object(map[string]*schema{"conditions": conditions()}),
		})
	}

	m := map[string]*schema{}
	add := func(apiVersion, kind string, s *schema) {
		m[apiVersion+"|"+kind] = s
	}

	add("v1", "Pod", withMeta(map[string]*schema{"spec": podSpec, "status": podStatus}))
	add("v1", "PodTemplate", withMeta(map[string]*schema{"template": podTemplate}))
	add("v1", "ReplicationController", withTemplate(nil))
	add("apps/v1", "Deployment", withTemplate(nil))
	add("apps/v1", "ReplicaSet", withTemplate(nil))
	add("apps/v1", "DaemonSet", withTemplate(nil))
	add("apps/v1", "StatefulSet", withTemplate(map[string]*schema{"volumeClaimTemplates": plainList(pvc)}))
	add("batch/v1", "Job", withTemplate(nil))
	add("batch/v1", "CronJob", cronJob)
	add("batch/v1beta1", "CronJob", cronJob)
	add("v1", "Service", withMeta(map[string]*schema{
		"spec":   object(map[string]*schema{"ports": mergeList("merge", []string{"port", "protocol"}, nil)}),
		"status": object(map[string]*schema{"conditions": conditions()}),
	}))
	add("v1", "ServiceAccount", withMeta(map[string]*schema{
		"secrets": mergeList("merge", byType("name"), nil),
	}))
	add("v1", "Node", withMeta(map[string]*schema{
		"spec": object(map[string]*schema{"podCIDRs": mergeList("merge", nil, nil)}),
		"status": object(map[string]*schema{
			"addresses":  mergeList("merge", byType("type"), nil),
			"conditions": conditions(),
		}),
	}))
	add("v1", "Namespace", statusConditions())
	add("v1", "PersistentVolumeClaim", pvc)
	add("v1", "ComponentStatus", withMeta(map[string]*schema{"conditions": conditions()}))
	add("policy/v1", "PodDisruptionBudget", statusConditions())
	add("policy/v1beta1", "PodDisruptionBudget", statusConditions())
	add("apiregistration.k8s.io/v1", "APIService", statusConditions())
	add("apiregistration.k8s.io/v1beta1", "APIService", statusConditions())
	for _, v := range []string{"admissionregistration.k8s.io/v1", "admissionregistration.k8s.io/v1beta1"} {
		for _, k := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
			add(v, k, withMeta(map[string]*schema{"webhooks": mergeList("merge", byType("name"), nil)}))
		}
	}
	for _, v := range []string{"storage.k8s.io/v1", "storage.k8s.io/v1beta1"} {
		add(v, "CSINode", withMeta(map[string]*schema{
			"spec": object(map[string]*schema{"drivers": mergeList("merge", byType("name"), nil)}),
		}))
	}

	// Known kinds whose only mergeable lists are in their metadata.
	metaOnly := map[string][]string{
		"v1": {"Binding", "ConfigMap", "Endpoints", "Event", "LimitRange", "PersistentVolume",
			"ResourceQuota", "Secret"},
		"apps/v1":                              {"ControllerRevision"},
		"authentication.k8s.io/v1":             {"TokenRequest", "TokenReview"},
		"authentication.k8s.io/v1beta1":        {"TokenReview"},
		"authorization.k8s.io/v1":              {"LocalSubjectAccessReview", "SelfSubjectAccessReview", "SelfSubjectRulesReview", "SubjectAccessReview"},
		"authorization.k8s.io/v1beta1":         {"LocalSubjectAccessReview", "SelfSubjectAccessReview", "SelfSubjectRulesReview", "SubjectAccessReview"},
		"autoscaling/v1":                       {"HorizontalPodAutoscaler", "Scale"},
		"autoscaling/v2beta1":                  {"HorizontalPodAutoscaler"},
		"autoscaling/v2beta2":                  {"HorizontalPodAutoscaler"},
		"certificates.k8s.io/v1":               {"CertificateSigningRequest"},
		"certificates.k8s.io/v1beta1":          {"CertificateSigningRequest"},
		"coordination.k8s.io/v1":               {"Lease"},
		"coordination.k8s.io/v1beta1":          {"Lease"},
		"discovery.k8s.io/v1":                  {"EndpointSlice"},
		"discovery.k8s.io/v1beta1":             {"EndpointSlice"},
		"events.k8s.io/v1":                     {"Event"},
		"events.k8s.io/v1beta1":                {"Event"},
		"extensions/v1beta1":                   {"Ingress"},
		"flowcontrol.apiserver.k8s.io/v1beta1": {"FlowSchema", "PriorityLevelConfiguration"},
		"networking.k8s.io/v1":                 {"Ingress", "IngressClass", "NetworkPolicy"},
		"networking.k8s.io/v1beta1":            {"Ingress", "IngressClass"},
		"node.k8s.io/v1":                       {"RuntimeClass"},
		"node.k8s.io/v1beta1":                  {"RuntimeClass"},
		"policy/v1beta1":                       {"Eviction", "PodSecurityPolicy"},
		"rbac.authorization.k8s.io/v1":         {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"},
		"rbac.authorization.k8s.io/v1beta1":    {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"},
		"scheduling.k8s.io/v1":                 {"PriorityClass"},
		"scheduling.k8s.io/v1beta1":            {"PriorityClass"},
		"storage.k8s.io/v1":                    {"CSIDriver", "StorageClass", "VolumeAttachment"},
		"storage.k8s.io/v1beta1":               {"CSIDriver", "CSIStorageCapacity", "StorageClass", "VolumeAttachment"},
		"apiextensions.k8s.io/v1":              {"CustomResourceDefinition"},
		"apiextensions.k8s.io/v1beta1":         {"CustomResourceDefinition"},
	}
	for v, kinds := range metaOnly {
		for _, k := range kinds {
			add(v, k, withMeta(nil))
		}
	}
	return m
}
