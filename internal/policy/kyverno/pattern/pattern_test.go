package pattern

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/json"

	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/anchor"
)

// decode parses JSON as the engine does: integers become int64.
func decode(t testing.TB, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad JSON %q: %v", s, err)
	}
	return v
}

// outcome summarises a Validate error for comparison.
type outcome struct {
	Status Status
	Path   string
	Reason string
	Anchor anchor.Type
}

func summarize(err error) outcome {
	var (
		fe *FailError
		se *SkipError
		ee *ExecutionError
	)
	switch {
	case err == nil:
		return outcome{Status: StatusPass}
	case errors.As(err, &fe):
		return outcome{Status: StatusFail, Path: fe.Path, Reason: fe.Reason}
	case errors.As(err, &se):
		return outcome{Status: StatusSkip, Reason: se.Reason, Anchor: se.Anchor}
	case errors.As(err, &ee):
		return outcome{Status: StatusError, Reason: ee.Reason}
	}
	return outcome{Status: "unknown", Reason: err.Error()}
}

func pass() outcome { return outcome{Status: StatusPass} }

func fail(path, reason string) outcome {
	return outcome{Status: StatusFail, Path: path, Reason: reason}
}

func skip(reason string) outcome {
	return outcome{Status: StatusSkip, Reason: reason, Anchor: anchor.Condition}
}

func globalSkip(reason string) outcome {
	return outcome{Status: StatusSkip, Reason: reason, Anchor: anchor.Global}
}

func execErr(reason string) outcome { return outcome{Status: StatusError, Reason: reason} }

// statusOnly marks a test that checks only the status, not path or reason.
func statusOnly(s Status) outcome { return outcome{Status: s, Path: "*"} }

const deployment = `{
	"apiVersion": "apps/v1", "kind": "Deployment",
	"metadata": {"name": "nginx-deployment", "labels": {"app": "nginx"}},
	"spec": {"replicas": 3, "template": {"metadata": {"labels": {"app": "nginx"}}, "spec": {
		"securityContext": {"runAsNonRoot": true},
		"containers": [{
			"name": "nginx", "image": "https://nirmata/nginx:latest", "imagePullPolicy": "Always",
			"livenessProbe": {"tcpSocket": {"port": 8080}, "initialDelaySeconds": 15, "periodSeconds": 11},
			"resources": {"limits": {"memory": "2Gi", "cpu": 8}, "requests": {"memory": "512Mi", "cpu": "8"}},
			"ports": [{"containerPort": 80}]
		}]
	}}}
}`

func TestValidate(t *testing.T) {
	tests := []struct {
		name     string
		pattern  string
		resource string
		want     outcome
	}{
		// Maps, lists and scalars.
		{
			name:     "deployment passes",
			pattern:  `{"spec": {"template": {"spec": {"containers": [{"name": "?*", "resources": {"requests": {"cpu": "<4|8"}}}]}}}}`,
			resource: deployment,
			want:     pass(),
		},
		{
			name:     "star for int",
			pattern:  `{"spec": {"template": {"spec": {"containers": [{"name": "*", "livenessProbe": {"periodSeconds": "*"}}]}}}}`,
			resource: deployment,
			want:     pass(),
		},
		{
			name:     "star for map and list",
			pattern:  `{"spec": {"template": {"spec": {"containers": "*", "securityContext": "*"}}}}`,
			resource: deployment,
			want:     pass(),
		},
		{
			name:     "star for missing field fails at the parent",
			pattern:  `{"spec": {"template": {"spec": {"containers": [{"name": "*", "readinessProbe": "*"}]}}}}`,
			resource: deployment,
			want:     fail("/spec/template/spec/containers/0/", "/spec/template/spec/containers/0//readinessProbe not found"),
		},
		{
			name:     "null pattern and missing field",
			pattern:  `{"spec": {"template": {"spec": {"containers": [{"name": "*", "readinessProbe": null}]}}}}`,
			resource: deployment,
			want:     pass(),
		},
		{
			name:     "scalar mismatch",
			pattern:  `{"spec": {"template": {"spec": {"securityContext": {"runAsNonRoot": false}}}}}`,
			resource: deployment,
			want:     fail("/spec/template/spec/securityContext/runAsNonRoot/", "resource value 'true' does not match 'false' at path /spec/template/spec/securityContext/runAsNonRoot/"),
		},
		{
			name:     "number pattern prints as float",
			pattern:  `{"spec": {"replicas": 2}}`,
			resource: deployment,
			want:     fail("/spec/replicas/", "resource value '3' does not match '2' at path /spec/replicas/"),
		},
		{
			name:     "quantity in list element",
			pattern:  `{"spec": {"template": {"spec": {"containers": [{"resources": {"limits": {"memory": "<=1Gi"}}}]}}}}`,
			resource: deployment,
			want:     fail("/spec/template/spec/containers/0/resources/limits/memory/", "resource value '2Gi' does not match '<=1Gi' at path /spec/template/spec/containers/0/resources/limits/memory/"),
		},
		{
			name:     "map pattern on a string",
			pattern:  `{"metadata": {"name": {"a": "b"}}}`,
			resource: deployment,
			want:     fail("/metadata/name/", "pattern and resource have different structures. Path: /metadata/name/. Expected map[string]interface {}, found string"),
		},
		{
			name:     "map pattern on a missing field",
			pattern:  `{"metadata": {"annotations": {"a": "b"}}}`,
			resource: deployment,
			want:     fail("/metadata/annotations/", "pattern and resource have different structures. Path: /metadata/annotations/. Expected map[string]interface {}, found <nil>"),
		},
		{
			name:     "list pattern on a map",
			pattern:  `{"metadata": [{"a": "b"}]}`,
			resource: deployment,
			want:     fail("/metadata/", "validation rule failed at path /metadata/, resource does not satisfy the expected overlay pattern"),
		},
		{
			name:     "empty list pattern",
			pattern:  `{"spec": {"template": {"spec": {"containers": []}}}}`,
			resource: deployment,
			want:     fail("/spec/template/spec/containers/", "pattern Array empty"),
		},
		{
			name:     "scalar pattern checks every element of a list",
			pattern:  `{"args": "--*"}`,
			resource: `{"args": ["--a", "b"]}`,
			want:     fail("/args/", "resource value '[--a b]' does not match '--*' at path /args/"),
		},
		{
			name:     "scalar list pattern uses its first element",
			pattern:  `{"args": ["--*", "x"]}`,
			resource: `{"args": ["--a", "--b"]}`,
			want:     pass(),
		},
		{
			name:     "list of maps uses its first element",
			pattern:  `{"l": [{"a": 1}, {"b": 2}]}`,
			resource: `{"l": [{"a": 1}, {"a": 1.0}]}`,
			want:     pass(),
		},
		{
			name:     "empty resource list passes",
			pattern:  `{"l": [{"a": 1}]}`,
			resource: `{"l": []}`,
			want:     pass(),
		},
		{
			name:     "list elements that are not maps",
			pattern:  `{"l": [{"a": 1}]}`,
			resource: `{"l": ["x"]}`,
			want:     fail("/l/0/", "pattern and resource have different structures. Path: /l/0/. Expected map[string]interface {}, found string"),
		},
		{
			name:     "list of lists matches by index",
			pattern:  `{"l": [["a*"], ["b*"]]}`,
			resource: `{"l": [["ax"], ["bx"], ["zz"]]}`,
			want:     pass(),
		},
		{
			name:     "list of lists shorter than the pattern is an error",
			pattern:  `{"l": [["a*"], ["b*"]]}`,
			resource: `{"l": [["ax"]]}`,
			want:     execErr("validate Array failed, array length mismatch, resource Array len is 1 and pattern Array len is 2"),
		},
		{
			name:     "root list",
			pattern:  `[{"(name)": "nirmata-*", "object": [{"(key1)": "value*", "key2": "value*"}]}]`,
			resource: `[{"name": "nirmata-1", "object": [{"key1": "value5", "key2": "1value1"}]}]`,
			want:     fail("/0/object/0/key2/", "resource value '1value1' does not match 'value*' at path /0/object/0/key2/"),
		},

		// Condition anchors.
		{
			name:     "condition holds, then fails",
			pattern:  `{"spec": {"containers": [{"(image)": "*:latest", "imagePullPolicy": "Always"}]}}`,
			resource: `{"spec": {"containers": [{"image": "nginx:latest", "imagePullPolicy": "IfNotPresent"}]}}`,
			want:     fail("/spec/containers/0/imagePullPolicy/", "resource value 'IfNotPresent' does not match 'Always' at path /spec/containers/0/imagePullPolicy/"),
		},
		{
			name:     "condition not met in every element skips",
			pattern:  `{"spec": {"containers": [{"(image)": "*:latest", "imagePullPolicy": "Always"}]}}`,
			resource: `{"spec": {"containers": [{"image": "nginx:1"}, {"image": "busybox"}]}}`,
			want:     skip("conditional anchor mismatch: resource value 'nginx:1' does not match '*:latest' at path /spec/containers/0/image/; conditional anchor mismatch: resource value 'busybox' does not match '*:latest' at path /spec/containers/1/image/"),
		},
		{
			name:     "condition met in one element applies to it only",
			pattern:  `{"spec": {"containers": [{"(image)": "*:latest", "imagePullPolicy": "Always"}]}}`,
			resource: `{"spec": {"containers": [{"image": "nginx:1"}, {"image": "busybox:latest", "imagePullPolicy": "Always"}]}}`,
			want:     pass(),
		},
		{
			name:     "condition key missing",
			pattern:  `{"metadata": {"(name)": "x*"}, "spec": {"a": 1}}`,
			resource: `{"metadata": {}, "spec": {"a": 2}}`,
			want:     skip("conditional anchor mismatch: conditional anchor key doesn't exist in the resource"),
		},
		{
			name:     "condition on a map skips the whole rule",
			pattern:  `{"metadata": {"(name)": "x*"}, "spec": {"a": 1}}`,
			resource: `{"metadata": {"name": "y"}, "spec": {"a": 2}}`,
			want:     skip("conditional anchor mismatch: resource value 'y' does not match 'x*' at path /metadata/name/"),
		},
		{
			name:     "keys with nested anchors are checked first",
			pattern:  `{"a": {"b": 1}, "spec": {"containers": [{"(name)": "x", "image": "y"}]}}`,
			resource: `{"a": {"b": 2}, "spec": {"containers": [{"name": "z"}]}}`,
			want:     skip("conditional anchor mismatch: resource value 'z' does not match 'x' at path /spec/containers/0/name/"),
		},
		{
			name:     "nested condition skips the enclosing list element",
			pattern:  `{"spec": {"containers": [{"securityContext": {"(privileged)": true, "runAsNonRoot": true}}]}}`,
			resource: `{"spec": {"containers": [{"securityContext": {"privileged": false}}, {"securityContext": {"privileged": true, "runAsNonRoot": false}}]}}`,
			want:     fail("/spec/containers/1/securityContext/runAsNonRoot/", "resource value 'false' does not match 'true' at path /spec/containers/1/securityContext/runAsNonRoot/"),
		},
		{
			name:     "latest or untagged with tagged image skips",
			pattern:  `{"spec": {"containers": [{"name": "*", "(image)": "*:latest | !*:*", "imagePullPolicy": "!Always"}]}}`,
			resource: `{"spec": {"containers": [{"name": "nginx", "image": "nginx:1.2.3", "imagePullPolicy": "Always"}]}}`,
			want:     statusOnly(StatusSkip),
		},
		{
			name:     "latest or untagged with untagged image fails",
			pattern:  `{"spec": {"containers": [{"name": "*", "(image)": "*:latest | !*:*", "imagePullPolicy": "!Always"}]}}`,
			resource: `{"spec": {"containers": [{"name": "nginx", "image": "nginx", "imagePullPolicy": "Always"}]}}`,
			want:     fail("/spec/containers/0/imagePullPolicy/", "resource value 'Always' does not match '!Always' at path /spec/containers/0/imagePullPolicy/"),
		},
		{
			name:     "latest or untagged mixed passes",
			pattern:  `{"spec": {"containers": [{"name": "*", "(image)": "*:latest | !*:*", "imagePullPolicy": "!Always"}]}}`,
			resource: `{"spec": {"containers": [{"name": "nginx", "image": "nginx", "imagePullPolicy": "Never"}, {"name": "busybox", "image": "busybox:1.28", "imagePullPolicy": "Always"}]}}`,
			want:     pass(),
		},
		{
			name:     "condition map anchors",
			pattern:  `{"metadata": {"labels": {"allow-docker": "true"}}, "(spec)": {"(volumes)": [{"(hostPath)": {"path": "/var/run/docker.sock"}}]}}`,
			resource: `{"metadata": {"labels": {"run": "nginx"}, "name": "nginx"}, "spec": {"containers": [{"image": "nginx", "name": "nginx"}]}}`,
			want:     skip("conditional anchor mismatch: conditional anchor mismatch: conditional anchor key doesn't exist in the resource"),
		},
		{
			name:     "condition map anchors met then fail",
			pattern:  `{"metadata": {"labels": {"allow-docker": "true"}}, "(spec)": {"(volumes)": [{"(hostPath)": {"path": "/var/run/docker.sock"}}]}}`,
			resource: `{"metadata": {"labels": {"run": "nginx", "allow-docker": "false"}}, "spec": {"volumes": [{"hostPath": {"path": "/var/run/docker.sock"}}]}}`,
			want:     fail("/metadata/labels/allow-docker/", "resource value 'false' does not match 'true' at path /metadata/labels/allow-docker/"),
		},
		{
			name:     "condition with negated names",
			pattern:  `{"spec": {"=(volumes)": [{"(name)": "!credential-socket&!istio-data", "=(emptyDir)": {"sizeLimit": "?*"}}]}}`,
			resource: `{"spec": {"volumes": [{"name": "credential-socket", "emptyDir": {"sizeLimit": "1Gi"}}]}}`,
			want:     statusOnly(StatusSkip),
		},
		{
			name:     "condition with negated names applies",
			pattern:  `{"spec": {"=(volumes)": [{"(name)": "!credential-socket&!istio-data", "=(emptyDir)": {"sizeLimit": "?*"}}]}}`,
			resource: `{"spec": {"volumes": [{"name": "cache-volume", "emptyDir": {}}]}}`,
			want:     fail("/spec/volumes/0/emptyDir/sizeLimit/", "resource value '<nil>' does not match '?*' at path /spec/volumes/0/emptyDir/sizeLimit/"),
		},
		{
			name:     "istio init containers skipped",
			pattern:  `{"spec": {"=(initContainers)": [{"(name)": "!istio-init", "=(securityContext)": {"=(runAsUser)": ">0"}}], "=(containers)": [{"=(securityContext)": {"=(runAsUser)": ">0"}}]}}`,
			resource: `{"spec": {"initContainers": [{"name": "istio-init", "securityContext": {"runAsUser": 0}}], "containers": [{"name": "nginx", "image": "nginx"}]}}`,
			want:     statusOnly(StatusSkip),
		},
		{
			name:     "istio containers checked",
			pattern:  `{"spec": {"=(initContainers)": [{"(name)": "!istio-init", "=(securityContext)": {"=(runAsUser)": ">0"}}], "=(containers)": [{"=(securityContext)": {"=(runAsUser)": ">0"}}]}}`,
			resource: `{"spec": {"initContainers": [{"name": "nginx", "securityContext": {"runAsUser": 1000}}], "containers": [{"name": "nginx", "image": "nginx"}]}}`,
			want:     pass(),
		},
		{
			name:     "istio containers fail",
			pattern:  `{"spec": {"=(initContainers)": [{"(name)": "!istio-init", "=(securityContext)": {"=(runAsUser)": ">0"}}], "=(containers)": [{"=(securityContext)": {"=(runAsUser)": ">0"}}]}}`,
			resource: `{"spec": {"initContainers": [{"name": "nginx", "securityContext": {"runAsUser": 0}}], "containers": [{"name": "nginx", "image": "nginx"}]}}`,
			want:     fail("/spec/initContainers/0/securityContext/runAsUser/", "resource value '0' does not match '>0' at path /spec/initContainers/0/securityContext/runAsUser/"),
		},

		// Equality anchors.
		{
			name:     "equality anchor absent",
			pattern:  `{"spec": {"=(hostNetwork)": false}}`,
			resource: `{"spec": {}}`,
			want:     pass(),
		},
		{
			name:     "equality anchor present and wrong",
			pattern:  `{"spec": {"=(hostNetwork)": false}}`,
			resource: `{"spec": {"hostNetwork": true}}`,
			want:     fail("/spec/hostNetwork/", "resource value 'true' does not match 'false' at path /spec/hostNetwork/"),
		},
		{
			name:     "equality anchor with string bool",
			pattern:  `{"spec": {"=(securityContext)": {"=(privileged)": "false"}}}`,
			resource: `{"spec": {"securityContext": {"privileged": false}}}`,
			want:     pass(),
		},

		// Negation anchors.
		{
			name:     "negation absent",
			pattern:  `{"spec": {"=(affinity)": {"X(nodeAffinity)": "null"}}}`,
			resource: `{"spec": {"affinity": {"podAffinity": {}}}}`,
			want:     pass(),
		},
		{
			name:     "negation present",
			pattern:  `{"spec": {"=(affinity)": {"X(nodeAffinity)": "null"}}}`,
			resource: `{"spec": {"affinity": {"nodeAffinity": {}}}}`,
			want:     fail("/spec/affinity/nodeAffinity/", "negation anchor matched in resource: /spec/affinity/nodeAffinity/ is not allowed"),
		},
		{
			name:     "negation present with null value",
			pattern:  `{"spec": {"X(hostPID)": "null"}}`,
			resource: `{"spec": {"hostPID": null}}`,
			want:     fail("/spec/hostPID/", "negation anchor matched in resource: /spec/hostPID/ is not allowed"),
		},
		{
			name:     "negation inside a condition skips",
			pattern:  `{"spec": {"(a)": {"X(b)": "null"}}}`,
			resource: `{"spec": {"a": {"b": 1}}}`,
			want:     skip("conditional anchor mismatch: negation anchor matched in resource: /spec/a/b/ is not allowed"),
		},

		// Existence anchors.
		{
			name:     "existence one matches",
			pattern:  `{"^(list)": [{"(name)": "nirmata-*", "object": [{"(key1)": "value*", "key2": "value*"}]}]}`,
			resource: `{"list": [{"name": "nirmata-1", "object": [{"key1": "value1", "key2": "value2"}]}, {"name": "nirmata-1", "object": [{"key1": "not_value", "key2": "not_value"}]}]}`,
			want:     pass(),
		},
		{
			name:     "existence none matches",
			pattern:  `{"spec": {"^(containers)": [{"name": "sidecar"}]}}`,
			resource: `{"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}`,
			want:     fail("/spec/containers/", "existence anchor validation failed at path /spec/containers/"),
		},
		{
			name:     "existence absent",
			pattern:  `{"spec": {"^(containers)": [{"name": "sidecar"}]}}`,
			resource: `{"spec": {}}`,
			want:     pass(),
		},
		{
			name:     "existence on a map",
			pattern:  `{"spec": {"^(containers)": [{"name": "sidecar"}]}}`,
			resource: `{"spec": {"containers": {"name": "sidecar"}}}`,
			want:     fail("/spec/containers/", "invalid resource type map[string]interface {}: Existence ^ () anchor can be used only on list/array type resource"),
		},
		{
			name:     "existence with a scalar pattern",
			pattern:  `{"spec": {"^(containers)": "x"}}`,
			resource: `{"spec": {"containers": []}}`,
			want:     fail("/spec/containers/", "invalid pattern type string: Pattern has to be of list to compare against resource"),
		},
		{
			name:     "existence with a list of scalars",
			pattern:  `{"spec": {"^(containers)": ["x"]}}`,
			resource: `{"spec": {"containers": []}}`,
			want:     fail("/spec/containers/", "invalid pattern type []interface {}: Pattern has to be of type map to compare against items in resource"),
		},

		// Global anchors.
		{
			name:     "global anchor not met skips",
			pattern:  `{"spec": {"containers": [{"name": "*", "<(image)": "*:latest", "imagePullPolicy": "!Always"}]}}`,
			resource: `{"spec": {"containers": [{"name": "nginx", "image": "nginx:v1", "imagePullPolicy": "Always"}]}}`,
			want:     globalSkip("global anchor mismatch: resource value 'nginx:v1' does not match '*:latest' at path /spec/containers/0/image/"),
		},
		{
			name:     "global anchor met then fails",
			pattern:  `{"spec": {"containers": [{"name": "*", "<(image)": "*:latest", "imagePullPolicy": "!Always"}]}}`,
			resource: `{"spec": {"containers": [{"name": "nginx", "image": "nginx:latest", "imagePullPolicy": "Always"}]}}`,
			want:     fail("/spec/containers/0/imagePullPolicy/", "resource value 'Always' does not match '!Always' at path /spec/containers/0/imagePullPolicy/"),
		},
		{
			name:     "global anchor mixed passes",
			pattern:  `{"spec": {"containers": [{"name": "*", "<(image)": "*:latest", "imagePullPolicy": "!Always"}]}}`,
			resource: `{"spec": {"containers": [{"name": "nginx", "image": "nginx:latest", "imagePullPolicy": "IfNotPresent"}, {"name": "nginx", "image": "nginx:v2", "imagePullPolicy": "IfNotPresent"}]}}`,
			want:     pass(),
		},
		{
			name:     "global anchor absent key passes",
			pattern:  `{"metadata": {"<(name)": "nginx"}, "spec": {"imagePullSecrets": [{"name": "regcred"}]}}`,
			resource: `{"metadata": {}, "spec": {"imagePullSecrets": [{"name": "regcred"}]}}`,
			want:     pass(),
		},
		{
			name:     "global anchor on image requires pull secret",
			pattern:  `{"spec": {"containers": [{"name": "*", "<(image)": "nginx"}], "imagePullSecrets": [{"name": "my-registry-secret"}]}}`,
			resource: `{"spec": {"containers": [{"name": "nginx", "image": "nginx"}], "imagePullSecrets": [{"name": "cred"}]}}`,
			want:     fail("/spec/imagePullSecrets/0/name/", "resource value 'cred' does not match 'my-registry-secret' at path /spec/imagePullSecrets/0/name/"),
		},
		{
			name:     "global anchor on labels",
			pattern:  `{"metadata": {"labels": {"<(foo)": "bar"}}, "spec": {"containers": [{"name": "nginx", "image": "!*:latest"}]}}`,
			resource: `{"metadata": {"name": "nginx", "labels": {"foo": "baz"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx:latest"}]}}`,
			want:     globalSkip("global anchor mismatch: resource value 'baz' does not match 'bar' at path /metadata/labels/foo/"),
		},

		// Anchor keys never found in the resource turn a failure into an error.
		{
			name:     "missing existence key makes a failure an error",
			pattern:  `{"spec": {"^(containers)": [{"name": "a"}], "x": "y"}}`,
			resource: `{"spec": {"x": "z"}}`,
			want:     execErr("resource value 'z' does not match 'y' at path /spec/x/"),
		},
		{
			name:     "condition key missing from one element only",
			pattern:  `{"spec": {"containers": [{"(name)": "*"}], "x": "y"}}`,
			resource: `{"spec": {"containers": [{"image": "a"}, {"name": "b"}], "x": "z"}}`,
			want:     fail("/spec/x/", "resource value 'z' does not match 'y' at path /spec/x/"),
		},
		{
			name:     "missing negation key does not",
			pattern:  `{"spec": {"X(hostPID)": "null", "x": "y"}}`,
			resource: `{"spec": {"x": "z"}}`,
			want:     fail("/spec/x/", "resource value 'z' does not match 'y' at path /spec/x/"),
		},

		// Wildcards in metadata keys.
		{
			name:     "annotation key wildcard",
			pattern:  `{"metadata": {"annotations": {"test/*": "value1"}}}`,
			resource: `{"metadata": {"annotations": {"test/bar": "value1"}}}`,
			want:     pass(),
		},
		{
			name:     "annotation key question marks",
			pattern:  `{"metadata": {"annotations": {"test/b??": "v*"}}}`,
			resource: `{"metadata": {"annotations": {"test/bar": "value1"}}}`,
			want:     pass(),
		},
		{
			name:     "annotations missing",
			pattern:  `{"metadata": {"annotations": {"test/b??": "v*"}}}`,
			resource: `{"metadata": {"labels": {"test/bar": "value1"}}}`,
			want:     fail("/metadata/annotations/", "pattern and resource have different structures. Path: /metadata/annotations/. Expected map[string]interface {}, found <nil>"),
		},
		{
			name:     "label key wildcard matches a key with question mark",
			pattern:  `{"metadata": {"labels": {"foo/a*": "bar"}}}`,
			resource: `{"metadata": {"labels": {"foo/aa?": "bar", "foo/789": "bar"}}}`,
			want:     pass(),
		},
		{
			name:     "label key wildcard then value mismatch",
			pattern:  `{"metadata": {"labels": {"foo/ABC*": "bar"}}}`,
			resource: `{"metadata": {"labels": {"foo/AB?": "bar", "foo/ABC": "bar2"}}}`,
			want:     fail("/metadata/labels/foo/ABC/", "resource value 'bar2' does not match 'bar' at path /metadata/labels/foo/ABC/"),
		},
		{
			name:     "anchored metadata and labels",
			pattern:  `{"=(metadata)": {"=(labels)": {"foo/P*": "bar", "foo/Q*": "bar2"}}}`,
			resource: `{"metadata": {"labels": {"foo/PQR": "bar", "foo/QR": "bar2"}}}`,
			want:     pass(),
		},
		{
			name:     "label key wildcard with no match",
			pattern:  `{"metadata": {"labels": {"foo/X*": "bar", "foo/A*": "bar2"}}}`,
			resource: `{"metadata": {"labels": {"foo/XYZ": "bar"}}}`,
			want:     fail("/metadata/labels/foo/A*/", "resource value '<nil>' does not match 'bar2' at path /metadata/labels/foo/A*/"),
		},
		{
			name:     "anchored label key wildcard",
			pattern:  `{"metadata": {"labels": {"X(app.kubernetes.io/*)": "null"}}}`,
			resource: `{"metadata": {"labels": {"app.kubernetes.io/name": "x"}}}`,
			want:     fail("/metadata/labels/app.kubernetes.io/name/", "negation anchor matched in resource: /metadata/labels/app.kubernetes.io/name/ is not allowed"),
		},
		{
			name:     "pod template labels",
			pattern:  `{"spec": {"template": {"metadata": {"labels": {"app.kubernetes.io/*": "?*"}}}}}`,
			resource: `{"spec": {"template": {"metadata": {"labels": {"app.kubernetes.io/name": "x"}}}}}`,
			want:     pass(),
		},

		// Unusual patterns.
		{
			name:     "add anchor is a plain key in validation",
			pattern:  `{"spec": {"+(x)": "y"}}`,
			resource: `{"spec": {"x": "y"}}`,
			want:     fail("/spec/+(x)/", "resource value '<nil>' does not match 'y' at path /spec/+(x)/"),
		},
		{
			name:     "integer pattern against float string",
			pattern:  `{"a": 8}`,
			resource: `{"a": "8.0"}`,
			want:     pass(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := summarize(Validate(decode(t, tt.resource), decode(t, tt.pattern)))
			if tt.want.Path == "*" {
				got = outcome{Status: got.Status, Path: "*"}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Validate() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCompileIsReusable(t *testing.T) {
	p := Compile(decode(t, `{"metadata": {"labels": {"app*": "?*"}}, "spec": {"containers": [{"(image)": "*:latest", "imagePullPolicy": "Always"}]}}`))
	tests := []struct {
		name     string
		resource string
		want     Status
	}{
		{"pass", `{"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"image": "a:latest", "imagePullPolicy": "Always"}]}}`, StatusPass},
		{"skip", `{"metadata": {"labels": {"apple": "x"}}, "spec": {"containers": [{"image": "a:1"}]}}`, StatusSkip},
		{"fail", `{"metadata": {"labels": {"other": "x"}}, "spec": {"containers": [{"image": "a:latest", "imagePullPolicy": "Always"}]}}`, StatusFail},
		{"pass again", `{"metadata": {"labels": {"application": "y"}}, "spec": {"containers": []}}`, StatusPass},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := summarize(p.Validate(decode(t, tt.resource))).Status; got != tt.want {
				t.Errorf("Validate() = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestRespond(t *testing.T) {
	tests := []struct {
		name    string
		message string
		err     error
		want    Response
	}{
		{"pass", "msg", nil, Response{StatusPass, "validation rule 'check' passed."}},
		{"fail with message", "Images must not use latest", &FailError{Path: "/spec/containers/0/image/"},
			Response{StatusFail, "validation error: Images must not use latest. rule check failed at path /spec/containers/0/image/"}},
		{"fail with period", "Only prodclass may be used.", &FailError{Path: "/spec/runtimeClassName/"},
			Response{StatusFail, "validation error: Only prodclass may be used. rule check failed at path /spec/runtimeClassName/"}},
		{"fail without message", "", &FailError{Path: "/spec/"},
			Response{StatusFail, "validation error: rule check failed at path /spec/"}},
		{"skip", "msg", &SkipError{Reason: "conditional anchor mismatch: x"},
			Response{StatusSkip, "conditional anchor mismatch: x"}},
		{"error with message", "msg", &ExecutionError{Reason: "boom"},
			Response{StatusError, "validation error: msg. rule check execution error: boom"}},
		{"error without message", "", &ExecutionError{Reason: "boom"},
			Response{StatusError, "validation error: rule check execution error: boom"}},
		{"foreign error", "", errors.New("oops"),
			Response{StatusError, "validation error: rule check execution error: oops"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Respond("check", tt.message, tt.err)); diff != "" {
				t.Errorf("Respond() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRespondAny(t *testing.T) {
	tests := []struct {
		name     string
		message  string
		patterns []string
		resource string
		want     Response
	}{
		{
			name:     "second pattern passes",
			message:  "msg",
			patterns: []string{`{"spec": {"a": 1}}`, `{"spec": {"b": 2}}`},
			resource: `{"spec": {"b": 2}}`,
			want:     Response{StatusPass, "validation rule 'check' anyPattern[1] passed."},
		},
		{
			name:     "all fail",
			message:  "Either a or b must be set",
			patterns: []string{`{"spec": {"a": 1}}`, `{"spec": {"b": 2}}`},
			resource: `{"spec": {}}`,
			want:     Response{StatusFail, "validation error: Either a or b must be set. rule check[0] failed at path /spec/a/ rule check[1] failed at path /spec/b/"},
		},
		{
			name:     "all fail with period",
			message:  "Set a or b.",
			patterns: []string{`{"spec": {"a": 1}}`, `{"spec": {"b": 2}}`},
			resource: `{"spec": {}}`,
			want:     Response{StatusFail, "validation error: Set a or b. rule check[0] failed at path /spec/a/ rule check[1] failed at path /spec/b/"},
		},
		{
			name:     "all fail without message",
			patterns: []string{`{"spec": {"a": 1}}`},
			resource: `{"spec": {}}`,
			want:     Response{StatusFail, "validation error: rule check[0] failed at path /spec/a/"},
		},
		{
			name:     "skip and fail fails",
			message:  "msg",
			patterns: []string{`{"spec": {"(a)": 1, "b": 1}}`, `{"spec": {"b": 2}}`},
			resource: `{"spec": {"a": 2, "b": 3}}`,
			want:     Response{StatusFail, "validation error: msg. rule check[1] failed at path /spec/b/"},
		},
		{
			name:     "all skipped",
			message:  "msg",
			patterns: []string{`{"spec": {"(a)": 1}}`, `{"spec": {"(b)": 2}}`},
			resource: `{"spec": {"a": 2}}`,
			want: Response{StatusSkip, "rule check[0] skipped: conditional anchor mismatch: resource value '2' does not match '1' at path /spec/a/ " +
				"rule check[1] skipped: conditional anchor mismatch: conditional anchor key doesn't exist in the resource"},
		},
		{
			name:     "execution error fails with its reason",
			message:  "msg",
			patterns: []string{`{"l": [["a"], ["b"]]}`},
			resource: `{"l": [["a"]]}`,
			want:     Response{StatusFail, "validation error: msg. rule check[0] failed: validate Array failed, array length mismatch, resource Array len is 1 and pattern Array len is 2"},
		},
		{
			name:     "no patterns",
			message:  "msg",
			resource: `{}`,
			want:     Response{StatusPass, "msg"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pats []any
			for _, p := range tt.patterns {
				pats = append(pats, decode(t, p))
			}
			got := RespondAny("check", tt.message, ValidateAny(decode(t, tt.resource), pats))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("RespondAny() (-want +got):\n%s", diff)
			}
		})
	}
}
