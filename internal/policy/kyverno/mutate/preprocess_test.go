package mutate

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The cases mirror the expectations of Kyverno's own preprocessing tests
// (pkg/engine/mutate/patch/strategicPreprocessing_test.go): the overlay that
// preprocessing produces for a resource.
func TestPreprocess(t *testing.T) {
	pod := func(spec string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: hello\nspec:\n" + spec
	}
	tests := []struct {
		name     string
		pattern  string
		resource string
		want     string
		wantErr  string
	}{{
		name: "global anchor on a list element passes and is removed",
		pattern: `
metadata:
  annotations:
    +(cluster-autoscaler.kubernetes.io/safe-to-evict): "true"
spec:
  volumes:
  - <(emptyDir): {}`,
		resource: pod(`
  containers: [{name: web, image: nginx}]
  volumes:
  - {name: cache-volume, emptyDir: {}}
  - {name: token, secret: {secretName: token}}`),
		want: `{metadata: {annotations: {cluster-autoscaler.kubernetes.io/safe-to-evict: "true"}}}`,
	}, {
		name:     "null is kept",
		pattern:  `{metadata: null}`,
		resource: pod(`  containers: [{name: hello, image: busybox}]`),
		want:     `{metadata: null}`,
	}, {
		name: "conditional name takes the resource element's name",
		pattern: `
spec:
  containers:
  - (name): "*"
    image: gcr.io/google-containers/busybox:latest
  imagePullSecrets:
  - name: regcred`,
		resource: pod(`  containers: [{name: hello, image: busybox}]`),
		want: `
spec:
  containers:
  - {name: hello, image: gcr.io/google-containers/busybox:latest}
  imagePullSecrets: [{name: regcred}]`,
	}, {
		name: "several conditions on one element",
		pattern: `
spec:
  containers:
  - (name): "*"
    (image): gcr.io/google-containers/busybox:*
    new_filed: must be inserted
  imagePullSecrets: [{name: regcred}]`,
		resource: pod(`  containers: [{name: hello, image: "gcr.io/google-containers/busybox:latest"}]`),
		want: `
spec:
  containers: [{name: hello, new_filed: must be inserted}]
  imagePullSecrets: [{name: regcred}]`,
	}, {
		name: "an element of conditions only adds nothing",
		pattern: `
spec:
  containers:
  - (image): gcr.io/google-containers/busybox:*
  imagePullSecrets: [{name: regcred}]`,
		resource: pod(`
  containers:
  - {name: hello, image: "gcr.io/google-containers/busybox:latest"}
  - {name: hello2, image: "gcr.io/google-containers/busybox:latest"}
  - {name: hello3, image: "gcr.io/google-containers/nginx:latest"}`),
		want: `{spec: {imagePullSecrets: [{name: regcred}]}}`,
	}, {
		name: "global anchor in a nested map of a list element",
		pattern: `
metadata:
  annotations:
    +(cluster-autoscaler.kubernetes.io/safe-to-evict): true
  labels:
    +(add-labels): add
spec:
  volumes:
  - <(hostPath):
      path: "*"`,
		resource: pod(`
  containers: [{name: nginx, image: "nginx:latest"}]
  volumes:
  - name: cache-volume
    hostPath: {path: /data, type: Directory}`),
		want: `
metadata:
  annotations: {cluster-autoscaler.kubernetes.io/safe-to-evict: true}
  labels: {add-labels: add}`,
	}, {
		name: "add-if-not-present on an existing key leaves nothing",
		pattern: `
metadata:
  annotations:
    +(cluster-autoscaler.kubernetes.io/safe-to-evict): true
spec:
  volumes:
  - <(hostPath):
      path: "*"`,
		resource: `
kind: Pod
apiVersion: v1
metadata:
  name: nginx
  annotations: {cluster-autoscaler.kubernetes.io/safe-to-evict: "false"}
spec:
  containers: [{name: nginx, image: "nginx:latest"}]
  volumes:
  - name: cache-volume
    hostPath: {path: /data, type: Directory}`,
		want: `{}`,
	}, {
		name: "conditional anchors inside a pod template",
		pattern: `
spec:
  template:
    spec:
      containers:
      - (name): "*"
        resources:
          limits:
            +(memory): 300Mi
            +(cpu): "100"`,
		resource: `
apiVersion: apps/v1
kind: Deployment
metadata: {name: qos-demo}
spec:
  template:
    spec:
      containers:
      - name: nginx
        image: nginx:latest
        resources: {limits: {cpu: 50m}}`,
		want: `
spec:
  template:
    spec:
      containers:
      - name: nginx
        resources: {limits: {memory: 300Mi}}`,
	}, {
		name: "conditional list key and image wildcard",
		pattern: `
metadata:
  annotations:
    +(annotation1): atest1
    +(annotation2): atest2
  labels:
    +(label1): test1
spec:
  (volumes):
  - (hostPath):
      path: /var/run/docker.sock
  containers:
  - (image): "*:latest"
    command: [ls]
    imagePullPolicy: Always`,
		resource: `
apiVersion: v1
kind: Pod
metadata:
  name: check-root-user
  annotations: {annotation1: atest2}
  labels: {label1: test2, label2: test2}
spec:
  containers:
  - {name: nginx, image: "nginx:latest", command: [ll], imagePullPolicy: Never}
  - {name: busybox, image: "busybox:latest", imagePullPolicy: Never}
  volumes:
  - name: test-volume
    hostPath: {path: /var/run/docker.sock}`,
		want: `
metadata:
  annotations: {annotation2: atest2}
spec:
  containers:
  - {name: nginx, command: [ls], imagePullPolicy: Always}
  - {name: busybox, command: [ls], imagePullPolicy: Always}`,
	}, {
		name:     "explicit null value is kept",
		pattern:  `{metadata: {annotations: {annotation1: null}}}`,
		resource: `{metadata: {name: a, annotations: {annotation1: atest2}}}`,
		want:     `{metadata: {annotations: {annotation1: null}}}`,
	}, {
		name: "init containers and containers",
		pattern: `
spec:
  securityContext: {runAsNonRoot: true}
  initContainers:
  - (name): "*"
    securityContext: {runAsNonRoot: true}
  containers:
  - (name): "*"
    securityContext: {runAsNonRoot: true}`,
		resource: `
spec:
  initContainers: [{name: initbusy, image: "busybox:1.28"}]
  containers: [{name: busybox, image: "busybox:1.28"}]`,
		want: `
spec:
  securityContext: {runAsNonRoot: true}
  initContainers: [{name: initbusy, securityContext: {runAsNonRoot: true}}]
  containers: [{name: busybox, securityContext: {runAsNonRoot: true}}]`,
	}, {
		name:     "add-if-not-present inside a condition",
		pattern:  `{spec: {template: {spec: {volumes: [{(emptyDir): {+(sizeLimit): 20Mi}, name: "*"}]}}}}`,
		resource: `{spec: {template: {spec: {volumes: [{emptyDir: {}, name: vol02}]}}}}`,
		want:     `{spec: {template: {spec: {volumes: [{emptyDir: {sizeLimit: 20Mi}, name: vol02}]}}}}`,
	}, {
		name: "question mark matches one character",
		pattern: `
containers:
- (name): hello?
  image: busybox:1`,
		resource: `
containers:
- {name: hello, image: busybox}
- {name: hello2, image: busybox}
- {name: hello3, image: nginx}`,
		want: `{containers: [{name: hello2, image: "busybox:1"}, {name: hello3, image: "busybox:1"}]}`,
	}, {
		name: "missing condition key fails the whole overlay",
		pattern: `
metadata:
  labels:
    (key1): value1
spec:
  containers: [{name: busybox, image: busybox}]`,
		resource: pod(`  containers: [{name: hello, image: busybox}]`),
		wantErr:  `condition failed: could not found "key1" key in the resource`,
	}, {
		name:     "failed top-level global condition",
		pattern:  `{metadata: {labels: {<(team): a*}, x: y}}`,
		resource: `{metadata: {labels: {team: b}}}`,
		wantErr:  `global condition failed: resource value does not match <(team)`,
	}, {
		name:     "global condition in a list element fails the overlay when no element matches",
		pattern:  `{spec: {containers: [{<(image): "corp/*", imagePullPolicy: Always}]}}`,
		resource: `{spec: {containers: [{name: a, image: nginx}]}}`,
		wantErr:  `global condition failed: resource value does not match <(image)`,
	}, {
		name:     "global condition in a list element of a missing list",
		pattern:  `{spec: {containers: [{<(image): "corp/*"}]}}`,
		resource: `{spec: {}}`,
		wantErr:  `global condition failed: could not found "image" key in the resource`,
	}, {
		name: "add-if-not-present in a list element applies to every named element",
		pattern: `
spec:
  containers:
  - name: foo
    +(imagePullPolicy): Always`,
		resource: `{spec: {containers: [{name: a, image: x}, {name: b, image: y}]}}`,
		want:     `{spec: {containers: [{name: a, imagePullPolicy: Always}, {name: b, imagePullPolicy: Always}]}}`,
	}, {
		// Kyverno matches the elements through one copy of the overlay
		// element: once the first container has the field, the anchor is
		// gone for the next one.
		name: "add-if-not-present is resolved by the first resource element",
		pattern: `
spec:
  containers:
  - (name): "*"
    +(imagePullPolicy): IfNotPresent`,
		resource: `{spec: {containers: [{name: a, imagePullPolicy: Always}, {name: b}]}}`,
		want:     `{}`,
	}, {
		name: "add-if-not-present resolved by a first element without the field",
		pattern: `
spec:
  containers:
  - (name): "*"
    +(imagePullPolicy): IfNotPresent`,
		resource: `{spec: {containers: [{name: b}, {name: a, imagePullPolicy: Always}]}}`,
		want: `
spec:
  containers:
  - {name: b, imagePullPolicy: IfNotPresent}
  - {name: a, imagePullPolicy: IfNotPresent}`,
	}, {
		name:     "non-conditional anchors are plain keys in a mutation",
		pattern:  `{metadata: {labels: {=(a): b, X(c): d, ^(e): f}}}`,
		resource: `{metadata: {labels: {a: b}}}`,
		want:     `{metadata: {labels: {=(a): b, X(c): d, ^(e): f}}}`,
	}, {
		name:     "top-level conditional keys keep their anchor",
		pattern:  `{(metadata): {+(labels): {a: b}}}`,
		resource: `{metadata: {name: x}}`,
		want:     `{(metadata): {labels: {a: b}}}`,
	}, {
		name:     "scalar conditions compare the text of the value",
		pattern:  `{spec: {(replicas): 3, paused: true}}`,
		resource: `{spec: {replicas: 3}}`,
		want:     `{spec: {paused: true}}`,
	}, {
		name:     "condition operators",
		pattern:  `{spec: {(replicas): ">2", paused: true}}`,
		resource: `{spec: {replicas: 2}}`,
		wantErr:  `condition failed: resource value does not match (replicas)`,
	}, {
		name: "two anchored elements: Kyverno removes by stale index",
		pattern: `
spec:
  containers:
  - (name): a
    image: x
  - (name): b
    image: y`,
		resource: `{spec: {containers: [{name: a}, {name: b}]}}`,
		want:     `{spec: {containers: [{(name): b, image: y}, {name: b, image: y}]}}`,
	}, {
		name: "two anchored elements without matches",
		pattern: `
spec:
  containers:
  - (name): a
    image: x
  - (name): b
    image: y`,
		resource: `{spec: {containers: [{name: c}]}}`,
		wantErr:  `failed to delete anchors: list element 1 is out of range`,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pattern := objYAML(t, tc.pattern)
			res := objYAML(t, tc.resource)
			err := preprocess(pattern, res)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("preprocess() = %v, want error %q", pattern, tc.wantErr)
				}
				if err.Error() != tc.wantErr {
					t.Fatalf("preprocess() error = %q, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("preprocess() error = %v", err)
			}
			if diff := cmp.Diff(objYAML(t, tc.want), pattern); diff != "" {
				t.Errorf("preprocess() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
