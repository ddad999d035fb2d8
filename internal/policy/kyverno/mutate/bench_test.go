package mutate

import (
	"fmt"
	"strings"
	"testing"
)

// benchPod builds a Pod with n containers, shaped like an admission request
// object.
func benchPod(b *testing.B, n int) map[string]any {
	b.Helper()
	var c strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&c, `
  - name: c%d
    image: registry.example.com/team/app-%d:1.2.3
    imagePullPolicy: IfNotPresent
    ports: [{containerPort: %d, protocol: TCP, name: http}]
    env: [{name: A, value: "1"}, {name: B, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
    resources: {requests: {cpu: 100m}}
    volumeMounts: [{name: data, mountPath: /data}, {name: token, mountPath: /var/run/secrets, readOnly: true}]
    securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}`, i, i, 8080+i)
	}
	return objYAML(b, `
apiVersion: v1
kind: Pod
metadata:
  name: app
  namespace: default
  creationTimestamp: null
  labels: {app: app, tier: web, team: payments}
  annotations: {a: b}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: app-1, uid: 1234, controller: true}]
spec:
  serviceAccountName: app
  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
  volumes: [{name: data, emptyDir: {}}, {name: token, projected: {sources: [{serviceAccountToken: {path: token}}]}}]
  tolerations: [{key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 300}]
  containers:`+c.String())
}

func BenchmarkStrategicMerge(b *testing.B) {
	for _, n := range []int{1, 3, 10} {
		pod := benchPod(b, n)
		cases := map[string]any{
			"label":     objYAML(b, `{metadata: {labels: {+(cost-center): platform}}}`),
			"condition": objYAML(b, `{spec: {containers: [{(image): "*:latest", imagePullPolicy: Always}]}}`),
			"foreach": objYAML(b, `
spec:
  containers:
  - name: c0
    resources:
      requests: {+(memory): 128Mi, +(cpu): 100m}
      limits: {+(memory): 512Mi, +(cpu): 500m}`),
		}
		for name, overlay := range cases {
			b.Run(fmt.Sprintf("%s/containers=%d", name, n), func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					_, _ = StrategicMerge(pod, overlay)
				}
			})
		}
	}
}

// seedOverlay is the overlay of the seed policy
// kyverno-add-default-resources.yaml once "{{ element.name }}" is
// substituted with name.
func seedOverlay(name any) any {
	return map[string]any{"spec": map[string]any{"containers": []any{map[string]any{
		"name": name,
		"resources": map[string]any{
			"requests": map[string]any{"+(memory)": "128Mi", "+(cpu)": "100m"},
			"limits":   map[string]any{"+(memory)": "512Mi", "+(cpu)": "500m"},
		},
	}}}}
}

// BenchmarkStrategicMergeSeedForeach runs the foreach of the seed policy
// kyverno-add-default-resources.yaml as the engine does: one overlay per
// container, last container first, each applied to the previous result. One
// op is the whole foreach on one Pod.
func BenchmarkStrategicMergeSeedForeach(b *testing.B) {
	for _, n := range []int{1, 3, 10} {
		pod := benchPod(b, n)
		containers := pod["spec"].(map[string]any)["containers"].([]any)
		overlays := make([]any, len(containers))
		for i, c := range containers {
			overlays[i] = seedOverlay(c.(map[string]any)["name"])
		}
		b.Run(fmt.Sprintf("containers=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				res := pod
				for j := len(overlays) - 1; j >= 0; j-- {
					got, err := StrategicMerge(res, overlays[j])
					if err == nil {
						res = got
					}
				}
			}
		})
	}
}

func BenchmarkJSON6902(b *testing.B) {
	for _, n := range []int{1, 3, 10} {
		pod := benchPod(b, n)
		patch := `[{"op": "add", "path": "/spec/tolerations/-", "value": {"key": "org.com/role", "operator": "Equal", "value": "service", "effect": "NoSchedule"}}]`
		b.Run(fmt.Sprintf("containers=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				_, _ = JSON6902(pod, patch)
			}
		})
	}
}
