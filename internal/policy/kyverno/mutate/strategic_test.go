package mutate

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// wantSkip is the result of a patch that changes nothing.
const wantSkip = "<skip>"

func TestStrategicMerge(t *testing.T) {
	tests := []struct {
		name     string
		resource string
		overlay  string
		// want is the patched resource, wantSkip, or an error prefixed
		// with "error: ".
		want string
	}{{
		name: "containers merge by name, new ones first",
		resource: `
apiVersion: apps/v1
kind: Deployment
metadata: {name: wordpress, labels: {app: wordpress}}
spec:
  selector: {matchLabels: {app: wordpress}}
  strategy: {type: Recreate}
  template:
    metadata: {labels: {app: wordpress}}
    spec:
      containers:
      - image: wordpress:4.8-apache
        name: wordpress
        ports: [{containerPort: 80, name: wordpress}]
        volumeMounts: [{name: wordpress-persistent-storage, mountPath: /var/www/html}]
      volumes: [{name: wordpress-persistent-storage}]`,
		overlay: `
spec:
  template:
    spec:
      containers:
      - {name: nginx, image: nginx}
      - name: wordpress
        env:
        - {name: WORDPRESS_DB_HOST, value: $(MYSQL_SERVICE)}
        - name: WORDPRESS_DB_PASSWORD
          valueFrom: {secretKeyRef: {name: mysql-pass, key: password}}
      initContainers:
      - name: init-command
        image: debian
        command: [echo $(WORDPRESS_SERVICE), echo $(MYSQL_SERVICE)]`,
		want: `
apiVersion: apps/v1
kind: Deployment
metadata: {name: wordpress, labels: {app: wordpress}}
spec:
  selector: {matchLabels: {app: wordpress}}
  strategy: {type: Recreate}
  template:
    metadata: {labels: {app: wordpress}}
    spec:
      containers:
      - {name: nginx, image: nginx}
      - image: wordpress:4.8-apache
        name: wordpress
        ports: [{containerPort: 80, name: wordpress}]
        volumeMounts: [{name: wordpress-persistent-storage, mountPath: /var/www/html}]
        env:
        - {name: WORDPRESS_DB_HOST, value: $(MYSQL_SERVICE)}
        - name: WORDPRESS_DB_PASSWORD
          valueFrom: {secretKeyRef: {name: mysql-pass, key: password}}
      volumes: [{name: wordpress-persistent-storage}]
      initContainers:
      - name: init-command
        image: debian
        command: [echo $(WORDPRESS_SERVICE), echo $(MYSQL_SERVICE)]`,
	}, {
		name: "a condition on a list element that adds nothing",
		resource: `
apiVersion: v1
kind: Pod
metadata: {name: hello}
spec:
  containers:
  - {name: hello, image: "gcr.io/google-containers/busybox:latest"}
  - {name: hello3, image: "gcr.io/google-containers/nginx:latest"}`,
		overlay: `
spec:
  containers:
  - (image): gcr.io/google-containers/nginx:*
  imagePullSecrets: [{name: regcred}]`,
		want: `
apiVersion: v1
kind: Pod
metadata: {name: hello}
spec:
  containers:
  - {name: hello, image: "gcr.io/google-containers/busybox:latest"}
  - {name: hello3, image: "gcr.io/google-containers/nginx:latest"}
  imagePullSecrets: [{name: regcred}]`,
	}, {
		name: "existing element merged in place moves first",
		resource: `
apiVersion: v1
kind: Pod
spec:
  containers: [{name: a, image: a}, {name: b, image: b}]`,
		overlay: `{spec: {containers: [{name: b, imagePullPolicy: Always}]}}`,
		want: `
apiVersion: v1
kind: Pod
spec:
  containers: [{name: b, image: b, imagePullPolicy: Always}, {name: a, image: a}]`,
	}, {
		name: "failed condition and nothing to normalise skips",
		resource: `
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec: {template: {metadata: {annotations: {inject: "false"}}}}`,
		overlay: `
spec:
  template:
    metadata:
      annotations:
        (inject): "true"
    spec:
      containers: [{name: agent, image: vault}]`,
		want: wantSkip,
	}, {
		name: "failed condition still drops null fields, as kyaml does",
		resource: `
apiVersion: v1
kind: Pod
metadata: {name: p, creationTimestamp: null, labels: {a: b}}`,
		overlay: `{metadata: {labels: {(a): c, d: e}}}`,
		want: `
apiVersion: v1
kind: Pod
metadata: {name: p, labels: {a: b}}`,
	}, {
		name:     "null in the overlay deletes",
		resource: `{apiVersion: v1, kind: Pod, metadata: {name: p, labels: {a: b, c: d}}}`,
		overlay:  `{metadata: {labels: {a: null}}}`,
		want:     `{apiVersion: v1, kind: Pod, metadata: {name: p, labels: {c: d}}}`,
	}, {
		name:     "null field of an added subtree is dropped",
		resource: `{apiVersion: v1, kind: Pod, metadata: {name: p}}`,
		overlay:  `{metadata: {labels: {a: null, b: c}}}`,
		want:     `{apiVersion: v1, kind: Pod, metadata: {name: p, labels: {b: c}}}`,
	}, {
		name: "delete directive on a list element",
		resource: `
apiVersion: v1
kind: Pod
spec:
  containers: [{name: a, image: a}, {name: b, image: b}]`,
		overlay: `{spec: {containers: [{name: a, $patch: delete}]}}`,
		want: `
apiVersion: v1
kind: Pod
spec:
  containers: [{name: b, image: b}]`,
	}, {
		name:     "replace directive on a map",
		resource: `{apiVersion: v1, kind: Pod, spec: {securityContext: {runAsUser: 1, fsGroup: 2}}}`,
		overlay:  `{spec: {securityContext: {$patch: replace, runAsNonRoot: true}}}`,
		want:     `{apiVersion: v1, kind: Pod, spec: {securityContext: {runAsNonRoot: true}}}`,
	}, {
		name:     "delete directive on a map",
		resource: `{apiVersion: v1, kind: Pod, spec: {securityContext: {runAsUser: 1}, hostNetwork: true}}`,
		overlay:  `{spec: {securityContext: {$patch: delete}}}`,
		want:     `{apiVersion: v1, kind: Pod, spec: {hostNetwork: true}}`,
	}, {
		// kyaml puts the destination element back over a replaced one.
		name: "replace directive on a list element has no effect",
		resource: `
apiVersion: v1
kind: Pod
spec:
  containers: [{name: a, image: a, args: [x]}]`,
		overlay: `{spec: {containers: [{name: a, $patch: replace, image: b}]}}`,
		want:    wantSkip,
	}, {
		name:     "unknown directive",
		resource: `{apiVersion: v1, kind: Pod, spec: {securityContext: {runAsUser: 1}}}`,
		overlay:  `{spec: {securityContext: {$patch: nope}}}`,
		want:     "error: unknown patch strategy 'nope'",
	}, {
		name:     "top-level delete directive",
		resource: `{apiVersion: v1, kind: Pod}`,
		overlay:  `{$patch: delete}`,
		want:     "error: filter cannot create or remove objects",
	}, {
		name:     "lists of unknown kinds are replaced",
		resource: `{apiVersion: example.com/v1, kind: Widget, spec: {containers: [{name: a, image: a}]}, metadata: {finalizers: [x]}}`,
		overlay:  `{spec: {containers: [{name: b, image: b}]}, metadata: {finalizers: [y]}}`,
		want:     `{apiVersion: example.com/v1, kind: Widget, spec: {containers: [{name: b, image: b}]}, metadata: {finalizers: [y]}}`,
	}, {
		name:     "finalizers of known kinds merge as a set",
		resource: `{apiVersion: v1, kind: ConfigMap, metadata: {finalizers: [a, b]}}`,
		overlay:  `{metadata: {finalizers: [c, a]}}`,
		want:     `{apiVersion: v1, kind: ConfigMap, metadata: {finalizers: [c, a, b]}}`,
	}, {
		name:     "lists without a merge strategy are replaced",
		resource: `{apiVersion: v1, kind: Pod, spec: {tolerations: [{key: a}], containers: [{name: c, args: [x, y]}]}}`,
		overlay:  `{spec: {tolerations: [{key: b}], containers: [{name: c, args: [z]}]}}`,
		want:     `{apiVersion: v1, kind: Pod, spec: {tolerations: [{key: b}], containers: [{name: c, args: [z]}]}}`,
	}, {
		name: "ports merge by containerPort and protocol",
		resource: `
apiVersion: v1
kind: Pod
spec:
  containers:
  - name: c
    ports: [{containerPort: 80, protocol: TCP, name: http}, {containerPort: 53, protocol: UDP}]`,
		overlay: `{spec: {containers: [{name: c, ports: [{containerPort: 80, protocol: TCP, hostPort: 8080}, {containerPort: 9090}]}]}}`,
		want: `
apiVersion: v1
kind: Pod
spec:
  containers:
  - name: c
    ports:
    - {containerPort: 9090}
    - {containerPort: 80, protocol: TCP, name: http, hostPort: 8080}
    - {containerPort: 53, protocol: UDP}`,
	}, {
		name: "volumes and mounts merge by their keys",
		resource: `
apiVersion: apps/v1
kind: StatefulSet
spec:
  template:
    spec:
      volumes: [{name: data, emptyDir: {}}]
      containers:
      - name: c
        volumeMounts: [{name: data, mountPath: /data}]`,
		overlay: `
spec:
  template:
    spec:
      volumes: [{name: tmp, emptyDir: {medium: Memory}}]
      containers:
      - name: c
        volumeMounts: [{name: tmp, mountPath: /tmp}, {mountPath: /data, readOnly: true}]`,
		want: `
apiVersion: apps/v1
kind: StatefulSet
spec:
  template:
    spec:
      volumes: [{name: tmp, emptyDir: {medium: Memory}}, {name: data, emptyDir: {}}]
      containers:
      - name: c
        volumeMounts:
        - {name: tmp, mountPath: /tmp}
        - {name: data, mountPath: /data, readOnly: true}`,
	}, {
		name: "cron job templates merge containers",
		resource: `
apiVersion: batch/v1
kind: CronJob
spec: {jobTemplate: {spec: {template: {spec: {containers: [{name: a, image: a}]}}}}}`,
		overlay: `{spec: {jobTemplate: {spec: {template: {spec: {containers: [{name: a, imagePullPolicy: Always}]}}}}}}`,
		want: `
apiVersion: batch/v1
kind: CronJob
spec: {jobTemplate: {spec: {template: {spec: {containers: [{name: a, image: a, imagePullPolicy: Always}]}}}}}`,
	}, {
		name: "untouched merge-keyed lists lose repeated keys",
		resource: `
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - name: c
    env: [{name: A, value: "1"}, {name: A, value: "2"}]`,
		overlay: `{metadata: {labels: {x: y}}}`,
		want: `
apiVersion: v1
kind: Pod
metadata: {name: p, labels: {x: y}}
spec:
  containers:
  - name: c
    env: [{name: A, value: "2"}]`,
	}, {
		// kyaml matches an element without its merge key against every
		// element that has the key, and deletes them.
		name:     "an element without the merge key wipes the list",
		resource: `{apiVersion: v1, kind: Pod, spec: {containers: [{name: a, image: a}]}}`,
		overlay:  `{spec: {containers: [{image: b}]}}`,
		want:     `{apiVersion: v1, kind: Pod, spec: {containers: []}}`,
	}, {
		name:     "map into a string",
		resource: `{apiVersion: v1, kind: Pod, spec: {hostname: a}}`,
		overlay:  `{spec: {hostname: {a: b}}}`,
		want:     "error: wrong node kind: expected ScalarNode but got MappingNode",
	}, {
		name:     "non-map overlay",
		resource: `{apiVersion: v1, kind: Pod}`,
		overlay:  `[a]`,
		want:     "error: failed to preProcess rule: wrong node kind: expected MappingNode but got SequenceNode",
	}, {
		name:     "global anchor that fails skips the rule",
		resource: `{apiVersion: v1, kind: Pod, spec: {containers: [{name: a, image: nginx}]}}`,
		overlay:  `{spec: {containers: [{<(image): "corp.reg.com/*"}], imagePullSecrets: [{name: my-secret}]}}`,
		want:     wantSkip,
	}, {
		name:     "global anchor that matches",
		resource: `{apiVersion: v1, kind: Pod, spec: {containers: [{name: a, image: corp.reg.com/nginx}]}}`,
		overlay:  `{spec: {containers: [{<(image): "corp.reg.com/*"}], imagePullSecrets: [{name: my-secret}]}}`,
		want:     `{apiVersion: v1, kind: Pod, spec: {containers: [{name: a, image: corp.reg.com/nginx}], imagePullSecrets: [{name: my-secret}]}}`,
	}, {
		name:     "add if not present",
		resource: `{apiVersion: batch/v1, kind: Job, spec: {backoffLimit: 2}}`,
		overlay:  `{spec: {+(ttlSecondsAfterFinished): 900, +(backoffLimit): 6}}`,
		want:     `{apiVersion: batch/v1, kind: Job, spec: {backoffLimit: 2, ttlSecondsAfterFinished: 900}}`,
	}, {
		name:     "numbers are compared by value",
		resource: `{apiVersion: v1, kind: Pod, spec: {terminationGracePeriodSeconds: 30}}`,
		overlay:  `{spec: {terminationGracePeriodSeconds: 30.0}}`,
		want:     wantSkip,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := objYAML(t, tc.resource)
			before := objYAML(t, tc.resource)
			got, err := StrategicMerge(res, fromYAML(t, tc.overlay))
			if diff := cmp.Diff(before, res); diff != "" {
				t.Fatalf("StrategicMerge() modified its input (-before +after):\n%s", diff)
			}
			checkResult(t, got, err, tc.want)
		})
	}
}

// checkResult compares the outcome of a patch with want: a resource in YAML,
// wantSkip, or "error: " and the start of the error.
func checkResult(t *testing.T, got map[string]any, err error, want string) {
	t.Helper()
	switch {
	case want == wantSkip:
		var skip *SkipError
		if !errors.As(err, &skip) || skip.Message != NoPatchesApplied || got != nil {
			t.Fatalf("got (%v, %v), want a skip", got, err)
		}
	case strings.HasPrefix(want, "error: "):
		if err == nil || !strings.HasPrefix(err.Error(), strings.TrimPrefix(want, "error: ")) {
			t.Fatalf("got (%v, %v), want error %q", got, err, want)
		}
		var skip *SkipError
		if errors.As(err, &skip) {
			t.Fatalf("got a skip for an error: %v", err)
		}
	default:
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		if diff := cmp.Diff(objYAML(t, want), got); diff != "" {
			t.Errorf("patched resource mismatch (-want +got):\n%s", diff)
		}
	}
}

// foreachMerge applies one overlay per element of a list, in Kyverno's
// default foreach order for strategic merges (last element first), each to
// the result of the previous one, as Kyverno's foreach does; make builds the
// overlay of an element.
func foreachMerge(t *testing.T, res map[string]any, list []any, make func(element map[string]any) any) map[string]any {
	t.Helper()
	for i := len(list) - 1; i >= 0; i-- {
		el, _ := list[i].(map[string]any)
		got, err := StrategicMerge(res, make(el))
		var skip *SkipError
		switch {
		case errors.As(err, &skip):
		case err != nil:
			t.Fatalf("element %d: %v", i, err)
		default:
			res = got
		}
	}
	return res
}

func containersOf(t *testing.T, res map[string]any) []any {
	t.Helper()
	spec, _ := res["spec"].(map[string]any)
	if tmpl, ok := spec["template"].(map[string]any); ok {
		spec, _ = tmpl["spec"].(map[string]any)
	}
	list, _ := spec["containers"].([]any)
	return list
}

func TestStrategicMergeForeach(t *testing.T) {
	// The overlay of the kyverno/policies add-default-resources policy,
	// whose chainsaw test gives the expected objects.
	conditional := func(el map[string]any) any {
		return map[string]any{"spec": map[string]any{"containers": []any{map[string]any{
			"(name)": el["name"],
			"resources": map[string]any{"requests": map[string]any{
				"+(memory)": "100Mi", "+(cpu)": "100m",
			}},
		}}}}
	}
	// The seed policy kyverno-add-default-resources.yaml, which names the
	// element without a conditional anchor.
	seed := func(el map[string]any) any {
		return map[string]any{"spec": map[string]any{"containers": []any{map[string]any{
			"name": el["name"],
			"resources": map[string]any{
				"requests": map[string]any{"+(memory)": "128Mi", "+(cpu)": "100m"},
				"limits":   map[string]any{"+(memory)": "512Mi", "+(cpu)": "500m"},
			},
		}}}}
	}
	tests := []struct {
		name     string
		overlay  func(map[string]any) any
		resource string
		want     string
	}{{
		name:    "conditional name, first container has requests",
		overlay: conditional,
		resource: `
apiVersion: v1
kind: Pod
spec:
  containers:
  - {name: bb-01, image: busybox, resources: {requests: {memory: 500Mi, cpu: 500m}}}
  - {name: bb-02, image: busybox}`,
		want: `
apiVersion: v1
kind: Pod
spec:
  containers:
  - {name: bb-02, image: busybox, resources: {requests: {memory: 100Mi, cpu: 100m}}}
  - {name: bb-01, image: busybox, resources: {requests: {memory: 500Mi, cpu: 500m}}}`,
	}, {
		name:    "conditional name, second container has a cpu request",
		overlay: conditional,
		resource: `
apiVersion: v1
kind: Pod
spec:
  containers:
  - {name: bb-01, image: busybox}
  - {name: bb-02, image: busybox, resources: {requests: {cpu: 500m}}}`,
		want: `
apiVersion: v1
kind: Pod
spec:
  containers:
  - {name: bb-01, image: busybox, resources: {requests: {memory: 100Mi, cpu: 100m}}}
  - {name: bb-02, image: busybox, resources: {requests: {memory: 100Mi, cpu: 500m}}}`,
	}, {
		name:    "seed policy, single container",
		overlay: seed,
		resource: `
apiVersion: v1
kind: Pod
spec:
  containers:
  - {name: app, image: nginx, resources: {limits: {memory: 1Gi}}}`,
		want: `
apiVersion: v1
kind: Pod
spec:
  containers:
  - name: app
    image: nginx
    resources:
      requests: {memory: 128Mi, cpu: 100m}
      limits: {memory: 1Gi, cpu: 500m}`,
	}, {
		name:    "seed policy, no resources anywhere",
		overlay: seed,
		resource: `
apiVersion: v1
kind: Pod
spec:
  containers: [{name: a, image: a}, {name: b, image: b}]`,
		want: `
apiVersion: v1
kind: Pod
spec:
  containers:
  - {name: a, image: a, resources: {requests: {memory: 128Mi, cpu: 100m}, limits: {memory: 512Mi, cpu: 500m}}}
  - {name: b, image: b, resources: {requests: {memory: 128Mi, cpu: 100m}, limits: {memory: 512Mi, cpu: 500m}}}`,
	}, {
		// Without a conditional anchor on the name, Kyverno resolves the
		// "+()" anchors against the first container only, so the second
		// container misses the cpu request the first one has.
		name:    "seed policy, first container has a cpu request",
		overlay: seed,
		resource: `
apiVersion: v1
kind: Pod
spec:
  containers:
  - {name: app, image: a, resources: {requests: {cpu: 250m}}}
  - {name: sidecar, image: b}`,
		want: `
apiVersion: v1
kind: Pod
spec:
  containers:
  - {name: app, image: a, resources: {requests: {cpu: 250m, memory: 128Mi}, limits: {memory: 512Mi, cpu: 500m}}}
  - {name: sidecar, image: b, resources: {requests: {memory: 128Mi}, limits: {memory: 512Mi, cpu: 500m}}}`,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := objYAML(t, tc.resource)
			got := foreachMerge(t, res, containersOf(t, res), tc.overlay)
			if diff := cmp.Diff(objYAML(t, tc.want), got); diff != "" {
				t.Errorf("patched resource mismatch (-want +got):\n%s", diff)
			}
			// Idempotence: the API server may call the webhook again.
			again := foreachMerge(t, got, containersOf(t, got), tc.overlay)
			if diff := cmp.Diff(got, again); diff != "" {
				t.Errorf("second application changed the resource (-first +second):\n%s", diff)
			}
		})
	}
}

func TestStrategicMergeIdempotent(t *testing.T) {
	resource := `
apiVersion: apps/v1
kind: Deployment
metadata: {name: d, labels: {app: x}}
spec:
  template:
    metadata: {annotations: {vault.hashicorp.com/agent-inject: "true"}}
    spec:
      containers:
      - {name: a, image: "a:latest", env: [{name: X, value: "1"}]}
      - {name: b, image: "b:1"}
      volumes: [{name: v, emptyDir: {}}]`
	overlays := []string{
		`{metadata: {labels: {+(team): platform}}}`,
		`{spec: {template: {spec: {containers: [{(image): "*:latest", imagePullPolicy: Always}]}}}}`,
		`{spec: {template: {spec: {containers: [{(name): "*", env: [{name: Y, value: "2"}]}]}}}}`,
		`{spec: {template: {metadata: {annotations: {(vault.hashicorp.com/agent-inject): "true"}}, spec: {containers: [{name: agent, image: vault}], volumes: [{name: secrets, emptyDir: {medium: Memory}}]}}}}`,
		`{spec: {template: {spec: {securityContext: {runAsNonRoot: true}, containers: [{(name): "?*", securityContext: {privileged: false, capabilities: {drop: [ALL]}}}]}}}}`,
	}
	for _, o := range overlays {
		t.Run(o, func(t *testing.T) {
			first, err := StrategicMerge(objYAML(t, resource), fromYAML(t, o))
			if err != nil {
				t.Fatalf("first application: %v", err)
			}
			second, err := StrategicMerge(first, fromYAML(t, o))
			var skip *SkipError
			if !errors.As(err, &skip) {
				t.Fatalf("second application = (%v, %v), want a skip", second, err)
			}
		})
	}
}

func TestStrategicMergeSkipCause(t *testing.T) {
	res := objYAML(t, `{apiVersion: v1, kind: Pod, metadata: {labels: {a: b}}}`)
	_, err := StrategicMerge(res, fromYAML(t, `{metadata: {labels: {(a): c, d: e}}}`))
	var skip *SkipError
	if !errors.As(err, &skip) {
		t.Fatalf("StrategicMerge() error = %v, want a skip", err)
	}
	var cond *ConditionError
	if !errors.As(err, &cond) || cond.Global {
		t.Fatalf("skip cause = %v, want a condition error", skip.Cause)
	}
	if got, want := err.Error(), `no patches applied: condition failed: resource value does not match (a)`; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
	if _, err := StrategicMerge(res, nil); !errors.Is(err, ErrEmptyRule) {
		t.Errorf("nil overlay: error = %v, want ErrEmptyRule", err)
	}
}
