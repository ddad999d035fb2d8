package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func seedPolicy(name string) string { return filepath.Join(shared, "seeds", "policies", name) }

// compliantPod passes the restricted Pod Security profile and has no
// resources: the mutate policy defaults them.
const compliantPod = `apiVersion: v1
kind: Pod
metadata:
  name: noreq
spec:
  securityContext:
    runAsNonRoot: true
    seccompProfile: {type: RuntimeDefault}
  containers:
  - name: api
    image: ghcr.io/kloudvin/api@sha256:4b7ce07a2d5f4c5a62d2f2cbc5c96d1d8e2b3f4bfa6ed3e1a2c0ed8ee0a1b2c3
    securityContext:
      allowPrivilegeEscalation: false
      capabilities: {drop: [ALL]}
`

// TestKyvernoWalkthrough drives seed 003: default resources injected, limits
// required, restricted Pod Security with its exemption, Audit against
// Enforce and the kubectl patch that flips it, --dry-run=server, a policy
// that does not compile, and the failure policies when portcullis is down.
func TestKyvernoWalkthrough(t *testing.T) {
	srv := startServer(t, "")
	defer func() {
		if t.Failed() {
			t.Logf("portcullis log:\n%s", srv.log.String())
		}
		suite.kubectl("", "delete", "clusterpolicies", "--all")
		srv.stop(t)
	}()

	out := mustKubectl(t, "", "apply",
		"-f", seedPolicy("kyverno-add-default-resources.yaml"),
		"-f", seedPolicy("kyverno-require-limits.yaml"),
		"-f", seedPolicy("kyverno-pod-security-restricted.yaml"))
	for _, want := range []string{
		"clusterpolicy.kyverno.io/add-default-resources created",
		"clusterpolicy.kyverno.io/require-resource-limits created",
		"clusterpolicy.kyverno.io/pod-security-restricted created",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl apply printed %q, want %q", out, want)
		}
	}
	eventually(t, 30*time.Second, "policies ready", func() (string, bool) {
		out, _ := suite.kubectl("", "get", "cpol", "-o", `jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status} {end}`)
		return out, strings.Count(out, "=True") == 3
	})
	out = mustKubectl(t, "", "get", "cpol")
	if !strings.Contains(out, "READY") || strings.Count(out, "True") < 3 {
		t.Errorf("kubectl get cpol:\n%s", out)
	}

	t.Run("defaults injected with --dry-run=server and nothing created", func(t *testing.T) {
		out := eventually(t, 30*time.Second, "mutation", func() (string, bool) {
			out, err := suite.kubectl(compliantPod, "apply", "--dry-run=server", "-o", "yaml", "-f", "-")
			return out, err == nil && strings.Contains(out, "memory: 512Mi")
		})
		for _, want := range []string{"cpu: 100m", "memory: 128Mi", "cpu: 500m", "memory: 512Mi"} {
			if !strings.Contains(out, want) {
				t.Errorf("dry-run output lacks %q:\n%s", want, out)
			}
		}
		if out, err := suite.kubectl("", "get", "pod", "noreq"); err == nil || !strings.Contains(out, "NotFound") {
			t.Errorf("--dry-run=server created the pod: %s", out)
		}
	})

	t.Run("privileged pod blocked by restricted Pod Security", func(t *testing.T) {
		out, err := suite.kubectl("", "run", "rooty", "--image=ghcr.io/kloudvin/api@sha256:4b7ce07a2d5f4c5a62d2f2cbc5c96d1d8e2b3f4bfa6ed3e1a2c0ed8ee0a1b2c3", "--privileged", "--dry-run=server")
		if err == nil {
			t.Fatalf("privileged pod admitted: %s", out)
		}
		for _, want := range []string{
			`Error from server: admission webhook "validate.kyverno.svc-fail" denied the request: `,
			"resource Pod/default/rooty was blocked due to the following policies",
			"pod-security-restricted:\n  restricted-profile: 'Validation rule ''restricted-profile'' failed. It violates PodSecurity \"restricted:latest\":",
			"(Forbidden reason: privileged, field error list: [spec.containers[0].securityContext.privileged is forbidden, forbidden values found: true])",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("kubectl printed:\n%s\nwant it to contain:\n%s", out, want)
			}
		}
	})

	t.Run("net-tools image exempt from the Capabilities control", func(t *testing.T) {
		pod := strings.ReplaceAll(compliantPod, "name: noreq", "name: net-debug")
		pod = strings.ReplaceAll(pod, "ghcr.io/kloudvin/api@sha256:4b7ce07a2d5f4c5a62d2f2cbc5c96d1d8e2b3f4bfa6ed3e1a2c0ed8ee0a1b2c3", "ghcr.io/kloudvin/net-tools:2.1")
		pod = strings.ReplaceAll(pod, "capabilities: {drop: [ALL]}", "capabilities: {drop: [ALL], add: [NET_RAW]}")
		out := mustKubectl(t, pod, "create", "-f", "-")
		if out != "pod/net-debug created" {
			t.Errorf("kubectl printed %q", out)
		}
		pod = strings.ReplaceAll(pod, "ghcr.io/kloudvin/net-tools:2.1", "ghcr.io/kloudvin/api:2.1")
		pod = strings.ReplaceAll(pod, "name: net-debug", "name: not-exempt")
		out, err := suite.kubectl(pod, "create", "-f", "-")
		if err == nil || !strings.Contains(out, "non-default capabilities") {
			t.Errorf("a non-exempt image added a capability: %s", out)
		}
	})

	t.Run("limits required, Audit admits, the patch to Enforce blocks again", func(t *testing.T) {
		// Without the defaulting policy nothing adds limits.
		mustKubectl(t, "", "delete", "clusterpolicy", "add-default-resources")
		pod := strings.ReplaceAll(compliantPod, "name: noreq", "name: nolimits")
		want := `admission webhook "validate.kyverno.svc-fail" denied the request: ` + "\n\nresource Pod/default/nolimits was blocked due to the following policies \n\nrequire-resource-limits:\n  require-cpu-mem-limits: 'validation failure: CPU and memory limits are required on every container.'"
		eventually(t, 30*time.Second, "require limits", func() (string, bool) {
			out, err := suite.kubectl(pod, "create", "--dry-run=server", "-f", "-")
			return out, err != nil && strings.Contains(out, want)
		})
		mustKubectl(t, "", "patch", "clusterpolicy", "require-resource-limits", "--type", "merge", "-p", `{"spec":{"validationFailureAction":"Audit"}}`)
		eventually(t, 30*time.Second, "Audit admits", func() (string, bool) {
			out, err := suite.kubectl(pod, "create", "--dry-run=server", "-f", "-")
			return out, err == nil && strings.Contains(out, "pod/nolimits created (server dry run)")
		})
		// A Pod admitted under Audit keeps its violation.
		if out := mustKubectl(t, pod, "create", "-f", "-"); out != "pod/nolimits created" {
			t.Errorf("kubectl printed %q", out)
		}
		mustKubectl(t, "", "patch", "clusterpolicy", "require-resource-limits", "--type", "merge", "-p", `{"spec":{"validationFailureAction":"Enforce"}}`)
		eventually(t, 30*time.Second, "Enforce blocks", func() (string, bool) {
			pod := strings.ReplaceAll(pod, "name: nolimits", "name: nolimits-2")
			want := strings.ReplaceAll(want, "Pod/default/nolimits ", "Pod/default/nolimits-2 ")
			out, err := suite.kubectl(pod, "create", "--dry-run=server", "-f", "-")
			return out, err != nil && strings.Contains(out, want)
		})
		// An update that keeps a violation the old Pod already had is
		// admitted (allowExistingViolations, true unless set false).
		if out := mustKubectl(t, "", "label", "pod", "nolimits", "tier=web"); out != "pod/nolimits labeled" {
			t.Errorf("kubectl printed %q", out)
		}
		mustKubectl(t, "", "delete", "pod", "nolimits", "--wait=false")
	})

	t.Run("a policy that does not compile is Ready=False with the field path", func(t *testing.T) {
		broken := `apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: broken
spec:
  validationFailureAction: Enforce
  rules:
  - name: bad-operator
    match: {any: [{resources: {kinds: [ConfigMap]}}]}
    validate:
      deny:
        conditions:
          any: [{key: "{{ request.object.data.x || '' }}", operator: Equalz, value: "y"}]
`
		mustKubectl(t, broken, "apply", "-f", "-")
		out := eventually(t, 30*time.Second, "Ready=False", func() (string, bool) {
			out, _ := suite.kubectl("", "get", "cpol", "broken", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].message}`)
			return out, strings.HasPrefix(out, "False")
		})
		if !strings.Contains(out, "spec.rules[0].validate.deny.conditions.any[0].operator") || !strings.Contains(out, "Equalz") {
			t.Errorf("Ready condition %q does not name the field and value", out)
		}
		mustKubectl(t, "", "delete", "cpol", "broken")
		eventually(t, 30*time.Second, "broken policy unloaded", func() (string, bool) {
			out, err := suite.kubectl("", "create", "configmap", "after-broken", "--dry-run=server")
			return out, err == nil
		})
	})

	t.Run("a mutate rule that errs under failurePolicy Ignore admits with Kyverno's warning", func(t *testing.T) {
		policy := `apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: owner-from-annotation
spec:
  failurePolicy: Ignore
  rules:
  - name: copy-owner
    match: {any: [{resources: {kinds: [ConfigMap]}}]}
    mutate:
      patchStrategicMerge:
        metadata:
          labels:
            owner: "{{ request.object.metadata.annotations.owner }}"
`
		mustKubectl(t, policy, "apply", "-f", "-")
		defer mustKubectl(t, "", "delete", "cpol", "owner-from-annotation")
		want := `Warning: policy owner-from-annotation.copy-owner: variable substitution failed: failed to resolve request.object.metadata.annotations.owner at path /metadata/labels/owner`
		out := eventually(t, 30*time.Second, "the mutate warning", func() (string, bool) {
			out, err := suite.kubectl("", "create", "configmap", "no-owner", "--dry-run=server")
			return out, err == nil && strings.Contains(out, want)
		})
		if !strings.Contains(out, "configmap/no-owner created (server dry run)") {
			t.Errorf("kubectl printed %q", out)
		}
	})

	t.Run("logs are quiet: one line per denial, nothing per allowed request", func(t *testing.T) {
		// Log lines are written out in batches, in order: once the denial's
		// line is out, so is anything the allowed requests logged before it.
		before := len(srv.logLines(`"msg":"denied"`))
		for i := 0; i < 3; i++ {
			mustKubectl(t, "", "create", "configmap", "quiet-"+string(rune('a'+i)), "--dry-run=server")
		}
		pod := strings.ReplaceAll(compliantPod, "name: noreq", "name: nolimits2")
		suite.kubectl(pod, "create", "--dry-run=server", "-f", "-")
		eventually(t, 10*time.Second, "the denial is logged", func() (string, bool) {
			lines := srv.logLines(`"msg":"denied"`)
			return strings.Join(lines, "\n"), len(lines) > before
		})
		lines := srv.logLines(`"msg":"denied"`)[before:]
		if len(lines) != 1 || !strings.Contains(lines[0], `"name":"nolimits2"`) {
			t.Errorf("want exactly one line, for the denied pod; got %q", lines)
		}
	})
}

// TestFailurePolicies stops portcullis while its webhook says Fail, then
// while it says Ignore.
func TestFailurePolicies(t *testing.T) {
	policy := `apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: team-label
spec:
  validationFailureAction: Enforce
  failurePolicy: Fail
  rules:
  - name: team
    match: {any: [{resources: {kinds: [ConfigMap]}}]}
    validate:
      message: "label team is required"
      pattern: {metadata: {labels: {team: "?*"}}}
`
	srv := startServer(t, "")
	mustKubectl(t, policy, "apply", "-f", "-")
	eventually(t, 30*time.Second, "policy enforced", func() (string, bool) {
		out, err := suite.kubectl("", "create", "configmap", "probe", "--dry-run=server")
		return out, err != nil && strings.Contains(out, "label team is required")
	})
	addr := srv.addr
	srv.stop(t)
	out, err := suite.kubectl("", "create", "configmap", "while-down")
	if err == nil || !strings.Contains(out, `failed calling webhook "validate.kyverno.svc-fail"`) {
		t.Errorf("with failurePolicy Fail and portcullis down, kubectl printed %q (err %v)", out, err)
	}

	srv = startServer(t, addr)
	mustKubectl(t, "", "patch", "clusterpolicy", "team-label", "--type", "merge", "-p", `{"spec":{"failurePolicy":"Ignore"}}`)
	eventually(t, 30*time.Second, "webhook moved to Ignore", func() (string, bool) {
		out, _ := suite.kubectl("", "get", "validatingwebhookconfigurations", "-o", `jsonpath={range .items[*].webhooks[*]}{.name}={.failurePolicy} {end}`)
		return out, strings.Contains(out, "validate.kyverno.svc-ignore=Ignore") && !strings.Contains(out, "validate.kyverno.svc-fail=")
	})
	// The policy still denies through the Ignore webhook while portcullis runs.
	if out, err := suite.kubectl("", "create", "configmap", "probe", "--dry-run=server"); err == nil || !strings.Contains(out, `admission webhook "validate.kyverno.svc-ignore" denied the request`) {
		t.Errorf("the Ignore webhook did not deny: %q", out)
	}
	srv.stop(t)
	if out, err := suite.kubectl("", "create", "configmap", "while-down-ignore"); err != nil {
		t.Errorf("with failurePolicy Ignore and portcullis down, kubectl printed %q (err %v)", out, err)
	}
	srv = startServer(t, addr)
	defer srv.stop(t)
	mustKubectl(t, "", "delete", "cpol", "team-label")
}
