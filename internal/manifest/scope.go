package manifest

import "strings"

// clusterScoped lists the built-in kinds that are not namespaced, by API
// group. Kinds not listed (including every custom resource) are taken to be
// namespaced, as Kyverno's CLI does offline.
var clusterScoped = map[string][]string{
	"":                             {"Namespace", "Node", "PersistentVolume", "ComponentStatus"},
	"rbac.authorization.k8s.io":    {"ClusterRole", "ClusterRoleBinding"},
	"storage.k8s.io":               {"StorageClass", "CSIDriver", "CSINode", "VolumeAttachment", "VolumeAttributesClass"},
	"apiextensions.k8s.io":         {"CustomResourceDefinition"},
	"apiregistration.k8s.io":       {"APIService"},
	"admissionregistration.k8s.io": {"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding"},
	"scheduling.k8s.io":            {"PriorityClass"},
	"node.k8s.io":                  {"RuntimeClass"},
	"networking.k8s.io":            {"IngressClass", "IPAddress", "ServiceCIDR"},
	"certificates.k8s.io":          {"CertificateSigningRequest", "ClusterTrustBundle"},
	"flowcontrol.apiserver.k8s.io": {"FlowSchema", "PriorityLevelConfiguration"},
	"policy":                       {"PodSecurityPolicy"},
	"resource.k8s.io":              {"DeviceClass", "ResourceSlice"},
	"authentication.k8s.io":        {"TokenReview", "SelfSubjectReview"},
	"authorization.k8s.io":         {"SubjectAccessReview", "SelfSubjectAccessReview", "SelfSubjectRulesReview"},
	"storagemigration.k8s.io":      {"StorageVersionMigration"},
	"internal.apiserver.k8s.io":    {"StorageVersion"},
}

// ClusterScoped reports whether objects of this apiVersion and kind are
// cluster-scoped built-in kinds.
func ClusterScoped(apiVersion, kind string) bool {
	group := ""
	if i := strings.IndexByte(apiVersion, '/'); i >= 0 {
		group = apiVersion[:i]
	}
	for _, k := range clusterScoped[group] {
		if k == kind {
			return true
		}
	}
	return false
}

// DefaultNamespace gives a namespaced object without a namespace the
// namespace "default", as kubectl and Kyverno's CLI do, and turns null
// label, annotation and data maps into empty ones. It changes obj in place.
func DefaultNamespace(obj map[string]any) {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	md, _ := obj["metadata"].(map[string]any)
	if md == nil {
		md = map[string]any{}
		obj["metadata"] = md
	}
	if ns, _ := md["namespace"].(string); ns == "" && !ClusterScoped(apiVersion, kind) {
		md["namespace"] = "default"
	}
	normalizeNilMaps(obj)
}

var nilMapFields = map[string]bool{"annotations": true, "labels": true, "matchLabels": true, "nodeSelector": true, "data": true, "stringData": true}

func normalizeNilMaps(obj map[string]any) {
	for k, v := range obj {
		if v == nil && nilMapFields[k] {
			obj[k] = map[string]any{}
			continue
		}
		switch t := v.(type) {
		case map[string]any:
			normalizeNilMaps(t)
		case []any:
			for _, e := range t {
				if m, ok := e.(map[string]any); ok {
					normalizeNilMaps(m)
				}
			}
		}
	}
}
