package podsecurity

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/pod-security-admission/api"
	"sigs.k8s.io/yaml"
)

// mustUnmarshal decodes YAML into unstructured JSON values.
func mustUnmarshal(t testing.TB, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("bad YAML: %v", err)
	}
	return m
}

func mustCompile(t testing.TB, rule string) *Rule {
	t.Helper()
	r, errs := Compile(mustUnmarshal(t, rule), field.NewPath("podSecurity"))
	if len(errs) > 0 {
		t.Fatalf("Compile: %v", errs.ToAggregate())
	}
	return r
}

// compileUnchecked builds a rule without policy validation, as Kyverno's own
// unit tests construct theirs.
func compileUnchecked(t testing.TB, raw map[string]any) *Rule {
	t.Helper()
	r := &Rule{}
	r.level, _ = raw["level"].(string)
	r.version, _ = raw["version"].(string)
	version := api.LatestVersion()
	if r.version != "" && r.version != "latest" {
		v, err := api.ParseVersion(r.version)
		if err != nil {
			t.Fatalf("bad version %q", r.version)
		}
		version = v
	}
	r.exclusions, _ = compileExclusions(raw["exclude"], field.NewPath("exclude"), "")
	r.checks = selectChecks(api.Level(r.level), version)
	return r
}

func podParts(pod map[string]any) (meta, spec map[string]any) {
	meta, _ = pod["metadata"].(map[string]any)
	spec, _ = pod["spec"].(map[string]any)
	return meta, spec
}

func failedIDs(res Result) []string {
	var ids []string
	for _, c := range res.Checks {
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

const seedRule = `
level: restricted
version: latest
exclude:
- controlName: "Capabilities"
  images: ["ghcr.io/kloudvin/net-tools:*"]
`

func TestEvaluateMessages(t *testing.T) {
	tests := []struct {
		name, rule, ruleName, kind, pod string
		want                            string
	}{
		{
			name:     "seed policy, privileged pod (kubectl run --privileged)",
			rule:     seedRule,
			ruleName: "restricted-profile",
			kind:     "Pod",
			pod: `
metadata: {name: rooty}
spec:
  containers:
  - {name: rooty, image: "ghcr.io/kloudvin/api@sha256:ce9ff57f43b7a3a69a8dca03580d7b71d8f564135be6128e18c267976142ea7d", securityContext: {privileged: true}}`,
			want: `Validation rule 'restricted-profile' failed. It violates PodSecurity "restricted:latest": ` +
				`(Forbidden reason: allowPrivilegeEscalation != false, field error list: [spec.containers[0].securityContext.allowPrivilegeEscalation is forbidden, forbidden values found: nil])` +
				`(Forbidden reason: unrestricted capabilities, field error list: [spec.containers[0].securityContext.capabilities.drop: Required value])` +
				`(Forbidden reason: privileged, field error list: [spec.containers[0].securityContext.privileged is forbidden, forbidden values found: true])` +
				`(Forbidden reason: runAsNonRoot != true, field error list: [spec.containers[0].securityContext.runAsNonRoot: Required value])` +
				`(Forbidden reason: seccompProfile, field error list: [spec.containers[0].securityContext.seccompProfile.type: Required value])`,
		},
		{
			name:     "seed policy, net-tools may add capabilities",
			rule:     seedRule,
			ruleName: "restricted-profile",
			kind:     "Pod",
			pod: `
metadata: {name: tools}
spec:
  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
  containers:
  - {name: app, image: "ghcr.io/kloudvin/api:1.0", securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}}
  - {name: tools, image: "ghcr.io/kloudvin/net-tools:2.1", securityContext: {allowPrivilegeEscalation: false, capabilities: {add: [NET_ADMIN, NET_RAW]}}}`,
			want: `Validation rule 'restricted-profile' passed.`,
		},
		{
			name:     "seed policy, the exclusion is for net-tools images only",
			rule:     seedRule,
			ruleName: "restricted-profile",
			kind:     "Pod",
			pod: `
metadata: {name: tools}
spec:
  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
  containers:
  - {name: app, image: "ghcr.io/kloudvin/api:1.0", securityContext: {allowPrivilegeEscalation: false, capabilities: {add: [SYS_ADMIN, NET_RAW], drop: [ALL]}}}
  - {name: tools, image: "ghcr.io/kloudvin/net-tools:2.1", securityContext: {allowPrivilegeEscalation: false, capabilities: {add: [NET_ADMIN]}}}`,
			want: `Validation rule 'restricted-profile' failed. It violates PodSecurity "restricted:latest": ` +
				`(Forbidden reason: non-default capabilities, field error list: [spec.containers[0].securityContext.capabilities.add is forbidden, forbidden values found: [NET_RAW SYS_ADMIN]])` +
				`(Forbidden reason: unrestricted capabilities, field error list: [spec.containers[0].securityContext.capabilities.add is forbidden, forbidden values found: [NET_RAW SYS_ADMIN]])`,
		},
		{
			// Kyverno's pkg/event TestMessageLength holds this message.
			name:     "restricted latest, privileged hostNetwork pod with hostPath volumes",
			rule:     `{level: restricted, version: latest}`,
			ruleName: "baseline",
			kind:     "Pod",
			pod: `
spec:
  hostNetwork: true
  containers:
  - {name: kube-proxy, image: kube-proxy, securityContext: {privileged: true}}
  volumes:
  - {name: config, configMap: {name: kube-proxy}}
  - {name: xtables-lock, hostPath: {path: /run/xtables.lock}}
  - {name: lib-modules, hostPath: {path: /lib/modules}}`,
			want: `Validation rule 'baseline' failed. It violates PodSecurity "restricted:latest": (Forbidden reason: allowPrivilegeEscalation != false, field error list: [spec.containers[0].securityContext.allowPrivilegeEscalation is forbidden, forbidden values found: nil])(Forbidden reason: unrestricted capabilities, field error list: [spec.containers[0].securityContext.capabilities.drop: Required value])(Forbidden reason: host namespaces, field error list: [spec.hostNetwork is forbidden, forbidden values found: true])(Forbidden reason: hostPath volumes, field error list: [spec.volumes[1].hostPath is forbidden, forbidden values found: /run/xtables.lock, spec.volumes[2].hostPath is forbidden, forbidden values found: /lib/modules])(Forbidden reason: privileged, field error list: [spec.containers[0].securityContext.privileged is forbidden, forbidden values found: true])(Forbidden reason: restricted volume types, field error list: [spec.volumes[1].hostPath: Forbidden, spec.volumes[2].hostPath: Forbidden])(Forbidden reason: runAsNonRoot != true, field error list: [spec.containers[0].securityContext.runAsNonRoot: Required value])(Forbidden reason: seccompProfile, field error list: [spec.containers[0].securityContext.seccompProfile.type: Required value])`,
		},
		{
			// A Kyverno policy report on a DaemonSet (autogen rule) holds this message.
			name:     "baseline latest, DaemonSet template",
			rule:     `{level: baseline, version: latest}`,
			ruleName: "autogen-baseline",
			kind:     "DaemonSet",
			pod: `
spec:
  hostNetwork: true
  hostPID: true
  containers:
  - {name: csi-cephfsplugin, image: cephcsi, securityContext: {privileged: true, capabilities: {add: [SYS_ADMIN]}}}
  - {name: driver-registrar, image: csi-node-driver-registrar, securityContext: {privileged: true}}
  - {name: liveness-prometheus, image: cephcsi, securityContext: {privileged: true}}
  volumes:
  - {name: v0, hostPath: {path: /var/lib/kubelet/plugins/cephfs.csi.ceph.com}}
  - {name: v1, hostPath: {path: /var/lib/kubelet/plugins_registry}}
  - {name: v2, hostPath: {path: /var/lib/kubelet/pods}}
  - {name: v3, hostPath: {path: /var/lib/kubelet/plugins}}
  - {name: v4, hostPath: {path: /sys}}
  - {name: v5, hostPath: {path: /etc/selinux}}
  - {name: v6, hostPath: {path: /run/mount}}
  - {name: v7, hostPath: {path: /lib/modules}}
  - {name: v8, hostPath: {path: /dev}}
  - {name: v9, configMap: {name: ceph-config}}
  - {name: v10, emptyDir: {}}
  - {name: v11, secret: {secretName: keys}}
  - {name: v12, hostPath: {path: /var/lib/kubelet/plugins/cephfs.csi.ceph.com/mountinfo}}`,
			want: `Validation rule 'autogen-baseline' failed. It violates PodSecurity "baseline:latest": ` +
				`(Forbidden reason: non-default capabilities, field error list: [spec.template.spec.containers[0].securityContext.capabilities.add is forbidden, forbidden values found: [SYS_ADMIN]])` +
				`(Forbidden reason: host namespaces, field error list: [spec.template.spec.hostNetwork is forbidden, forbidden values found: true, spec.template.spec.hostPID is forbidden, forbidden values found: true])` +
				`(Forbidden reason: hostPath volumes, field error list: [spec.template.spec.volumes[0].hostPath is forbidden, forbidden values found: /var/lib/kubelet/plugins/cephfs.csi.ceph.com, spec.template.spec.volumes[1].hostPath is forbidden, forbidden values found: /var/lib/kubelet/plugins_registry, spec.template.spec.volumes[2].hostPath is forbidden, forbidden values found: /var/lib/kubelet/pods, spec.template.spec.volumes[3].hostPath is forbidden, forbidden values found: /var/lib/kubelet/plugins, spec.template.spec.volumes[4].hostPath is forbidden, forbidden values found: /sys, spec.template.spec.volumes[5].hostPath is forbidden, forbidden values found: /etc/selinux, spec.template.spec.volumes[6].hostPath is forbidden, forbidden values found: /run/mount, spec.template.spec.volumes[7].hostPath is forbidden, forbidden values found: /lib/modules, spec.template.spec.volumes[8].hostPath is forbidden, forbidden values found: /dev, spec.template.spec.volumes[12].hostPath is forbidden, forbidden values found: /var/lib/kubelet/plugins/cephfs.csi.ceph.com/mountinfo])` +
				`(Forbidden reason: privileged, field error list: [spec.template.spec.containers[0].securityContext.privileged is forbidden, forbidden values found: true, spec.template.spec.containers[1].securityContext.privileged is forbidden, forbidden values found: true, spec.template.spec.containers[2].securityContext.privileged is forbidden, forbidden values found: true])`,
		},
		{
			name:     "baseline latest, Deployment template",
			rule:     `{level: baseline, version: latest}`,
			ruleName: "baseline",
			kind:     "Deployment",
			pod:      `{spec: {containers: [{name: nginx, image: nginx, securityContext: {privileged: true}}]}}`,
			want:     `Validation rule 'baseline' failed. It violates PodSecurity "baseline:latest": (Forbidden reason: privileged, field error list: [spec.template.spec.containers[0].securityContext.privileged is forbidden, forbidden values found: true])`,
		},
		{
			name:     "baseline latest, CronJob template",
			rule:     `{level: baseline, version: latest}`,
			ruleName: "autogen-cronjob-baseline",
			kind:     "CronJob",
			pod:      `{spec: {hostIPC: true, containers: [{name: job, image: busybox}]}}`,
			want:     `Validation rule 'autogen-cronjob-baseline' failed. It violates PodSecurity "baseline:latest": (Forbidden reason: host namespaces, field error list: [spec.jobTemplate.spec.template.spec.hostIPC is forbidden, forbidden values found: true])`,
		},
		{
			// Kyverno rewrites metadata to spec.template.metadata for every kind.
			name:     "baseline latest, AppArmor annotation on a Pod",
			rule:     `{level: baseline, version: latest}`,
			ruleName: "baseline",
			kind:     "Pod",
			pod: `
metadata: {annotations: {container.apparmor.security.beta.kubernetes.io/nginx: unconfined}}
spec: {containers: [{name: nginx, image: nginx}]}`,
			want: `Validation rule 'baseline' failed. It violates PodSecurity "baseline:latest": (Forbidden reason: forbidden AppArmor profile, field error list: [spec.template.metadata.annotations[container.apparmor.security.beta.kubernetes.io/nginx] is forbidden, forbidden values found: unconfined])`,
		},
		{
			// A Kyverno user guide shows this message: the Seccomp control
			// excluded for the whole pod, the other controls still apply.
			name: "restricted minus Seccomp",
			rule: `
level: restricted
version: latest
exclude: [{controlName: Seccomp}]`,
			ruleName: "restricted",
			kind:     "Pod",
			pod: `
metadata: {name: alsoroot}
spec:
  restartPolicy: Never
  containers:
  - {name: c, image: "busybox:1.36", securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}, command: [sh, -c, echo hi]}`,
			want: `Validation rule 'restricted' failed. It violates PodSecurity "restricted:latest": (Forbidden reason: runAsNonRoot != true, field error list: [spec.containers[0].securityContext.runAsNonRoot: Required value])`,
		},
		{
			name: "restricted minus Seccomp, compliant otherwise",
			rule: `
level: restricted
version: latest
exclude: [{controlName: Seccomp}]`,
			ruleName: "restricted",
			kind:     "Pod",
			pod: `
metadata: {name: noseccomp}
spec:
  securityContext: {runAsNonRoot: true, runAsUser: 1000}
  containers:
  - {name: c, image: "busybox:1.36", securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}}`,
			want: `Validation rule 'restricted' passed.`,
		},
		{
			// Kyverno prints these in map order; they are sorted here.
			name: "restricted minus Capabilities for nginx images",
			rule: `
level: restricted
version: latest
exclude: [{controlName: Capabilities, images: ["nginx*"]}]`,
			ruleName: "restricted-except-one-control",
			kind:     "Pod",
			pod:      `{metadata: {name: r-bad}, spec: {containers: [{name: r-bad, image: "nginx:1.27"}]}}`,
			want: `Validation rule 'restricted-except-one-control' failed. It violates PodSecurity "restricted:latest": ` +
				`(Forbidden reason: allowPrivilegeEscalation != false, field error list: [spec.containers[0].securityContext.allowPrivilegeEscalation: Required value])` +
				`(Forbidden reason: runAsNonRoot != true, field error list: [spec.containers[0].securityContext.runAsNonRoot: Required value])` +
				`(Forbidden reason: seccompProfile, field error list: [spec.containers[0].securityContext.seccompProfile.type: Required value])`,
		},
		{
			name: "values narrow an exclusion to listed capabilities",
			rule: `
level: baseline
version: latest
exclude:
- {controlName: Capabilities, images: ["docker.io/library/nginx*"], restrictedField: "spec.containers[*].securityContext.capabilities.add", values: [NET_ADMIN]}`,
			ruleName: "baseline",
			kind:     "Pod",
			pod:      `{spec: {containers: [{name: agent, image: "docker.io/library/nginx:1.27", securityContext: {capabilities: {add: [NET_ADMIN, SYS_ADMIN]}}}]}}`,
			want:     `Validation rule 'baseline' failed. It violates PodSecurity "baseline:latest": (Forbidden reason: non-default capabilities, field error list: [spec.containers[0].securityContext.capabilities.add is forbidden, forbidden values found: [NET_ADMIN SYS_ADMIN]])`,
		},
		{
			name: "host namespaces excluded field by field",
			rule: `
level: baseline
version: latest
exclude:
- {controlName: Host Namespaces, restrictedField: spec.hostNetwork, values: ["true"]}`,
			ruleName: "baseline",
			kind:     "Pod",
			pod:      `{spec: {hostNetwork: true, hostPID: true, containers: [{name: c, image: busybox}]}}`,
			want:     `Validation rule 'baseline' failed. It violates PodSecurity "baseline:latest": (Forbidden reason: host namespaces, field error list: [spec.hostPID is forbidden, forbidden values found: true])`,
		},
		{
			// Kyverno removes an excluded field error by moving the last
			// one into its place, which reorders the list.
			name: "host ports excluded by value",
			rule: `
level: baseline
exclude:
- {controlName: Host Ports, images: ["*/cephcsi:*"], restrictedField: "spec.containers[*].ports[*].hostPort", values: ["8080", "8081"]}`,
			ruleName: "baseline",
			kind:     "Pod",
			pod: `
spec:
  containers:
  - {name: plugin, image: quay.io/cephcsi:v3, ports: [{containerPort: 8080, hostPort: 8080}, {containerPort: 9090, hostPort: 9090}]}
  - {name: other, image: quay.io/other:v1, ports: [{containerPort: 8081, hostPort: 8081}]}`,
			want: `Validation rule 'baseline' failed. It violates PodSecurity "baseline:": (Forbidden reason: hostPort, field error list: [spec.containers[1].ports[0].hostPort is forbidden, forbidden values found: 8081, spec.containers[0].ports[1].hostPort is forbidden, forbidden values found: 9090])`,
		},
		{
			// Kyverno runs every version of a check up to a pinned version.
			name:     "pinned version reports a check once per failing version",
			rule:     `{level: restricted, version: v1.29}`,
			ruleName: "restricted",
			kind:     "Pod",
			pod: `
spec:
  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
  containers: [{name: c, image: busybox, securityContext: {capabilities: {drop: [ALL]}}}]`,
			want: `Validation rule 'restricted' failed. It violates PodSecurity "restricted:v1.29": ` +
				`(Forbidden reason: allowPrivilegeEscalation != false, field error list: [spec.containers[0].securityContext.allowPrivilegeEscalation is forbidden, forbidden values found: nil])` +
				`(Forbidden reason: allowPrivilegeEscalation != false, field error list: [spec.containers[0].securityContext.allowPrivilegeEscalation is forbidden, forbidden values found: nil])`,
		},
		{
			name:     "restricted volume types and sysctls",
			rule:     `{level: restricted, version: latest}`,
			ruleName: "restricted",
			kind:     "Pod",
			pod: `
spec:
  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}, sysctls: [{name: kernel.shm_rmid_forced, value: "1"}, {name: kernel.msgmax, value: "1"}]}
  containers: [{name: c, image: busybox, securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}}]
  volumes: [{name: a, nfs: {server: s, path: /}}, {name: b, projected: {sources: []}}, {name: c}]`,
			want: `Validation rule 'restricted' failed. It violates PodSecurity "restricted:latest": ` +
				`(Forbidden reason: restricted volume types, field error list: [spec.volumes[0].nfs: Forbidden, spec.volumes[2].unknown: Forbidden])` +
				`(Forbidden reason: forbidden sysctls, field error list: [spec.securityContext.sysctls[1].name is forbidden, forbidden values found: kernel.msgmax])`,
		},
		{
			name:     "runAsUser 0, seLinux, hostProcess and procMount",
			rule:     `{level: restricted, version: latest}`,
			ruleName: "restricted",
			kind:     "Pod",
			pod: `
spec:
  securityContext: {runAsNonRoot: true, runAsUser: 0, seccompProfile: {type: RuntimeDefault}, seLinuxOptions: {type: spc_t}, windowsOptions: {hostProcess: true}}
  initContainers: [{name: init, image: busybox, securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}, runAsUser: 0, procMount: Unmasked}}]
  containers: [{name: c, image: busybox, securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}, seLinuxOptions: {user: u, role: r}}}]`,
			want: `Validation rule 'restricted' failed. It violates PodSecurity "restricted:latest": ` +
				`(Forbidden reason: procMount, field error list: [spec.initContainers[0].securityContext.procMount is forbidden, forbidden values found: Unmasked])` +
				`(Forbidden reason: procMount, field error list: [spec.initContainers[0].securityContext.procMount is forbidden, forbidden values found: Unmasked])` +
				`(Forbidden reason: runAsUser=0, field error list: [spec.securityContext.runAsUser is forbidden, forbidden values found: 0, spec.initContainers[0].securityContext.runAsUser is forbidden, forbidden values found: 0])` +
				`(Forbidden reason: seLinuxOptions, field error list: [spec.securityContext.seLinuxOptions.type is forbidden, forbidden values found: spc_t, spec.containers[0].securityContext.seLinuxOptions.user is forbidden, forbidden values found: u, spec.containers[0].securityContext.seLinuxOptions.role is forbidden, forbidden values found: r])` +
				`(Forbidden reason: hostProcess, field error list: [spec.securityContext.windowsOptions.hostProcess is forbidden, forbidden values found: true])`,
		},
		{
			name:     "probe and lifecycle hosts",
			rule:     `{level: baseline, version: latest}`,
			ruleName: "baseline",
			kind:     "Pod",
			pod: `
spec:
  containers:
  - name: c
    image: busybox
    readinessProbe: {tcpSocket: {host: 10.0.0.1, port: 80}}
    lifecycle: {preStop: {httpGet: {host: example.com, port: 80}}}`,
			want: `Validation rule 'baseline' failed. It violates PodSecurity "baseline:latest": (Forbidden reason: probe or lifecycle host, field error list: [spec.containers[0].readinessProbe.tcpSocket.host is forbidden, forbidden values found: 10.0.0.1, spec.containers[0].lifecycle.preStop.httpGet.host is forbidden, forbidden values found: example.com])`,
		},
		{
			// Kyverno's level filter only skips restricted checks for
			// baseline: a privileged level runs every check.
			name:     "privileged level runs every check, as Kyverno does",
			rule:     `{level: privileged, version: latest}`,
			ruleName: "privileged",
			kind:     "Pod",
			pod: `
spec:
  securityContext: {seccompProfile: {type: RuntimeDefault}}
  containers: [{name: c, image: busybox, securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}}]`,
			want: `Validation rule 'privileged' failed. It violates PodSecurity "privileged:latest": (Forbidden reason: runAsNonRoot != true, field error list: [spec.containers[0].securityContext.runAsNonRoot: Required value])`,
		},
		{
			name:     "baseline passes a restricted violation",
			rule:     `{level: baseline, version: latest}`,
			ruleName: "baseline",
			kind:     "Pod",
			pod:      `{spec: {containers: [{name: c, image: busybox}]}}`,
			want:     `Validation rule 'baseline' passed.`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustCompile(t, tc.rule)
			meta, spec := podParts(mustUnmarshal(t, tc.pod))
			res, err := r.Evaluate(meta, spec)
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			if diff := cmp.Diff(tc.want, res.Message(tc.ruleName, tc.kind)); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
			if res.Allowed != strings.HasSuffix(tc.want, "passed.") {
				t.Errorf("Allowed = %v, want %v", res.Allowed, !res.Allowed)
			}
		})
	}
}

// kyvernoCase is one entry of testdata/kyverno_cases.yaml.
type kyvernoCase struct {
	Name    string         `json:"name"`
	Rule    map[string]any `json:"rule"`
	Pod     map[string]any `json:"pod"`
	Allowed bool           `json:"allowed"`
	Failed  []string       `json:"failed"`
}

func TestKyvernoCases(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "kyverno_cases.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []kyvernoCase
	if err := yaml.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 50 {
		t.Fatalf("only %d cases loaded", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			r := compileUnchecked(t, tc.Rule)
			meta, spec := podParts(tc.Pod)
			res, err := r.Evaluate(meta, spec)
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			if res.Allowed != tc.Allowed {
				t.Errorf("Allowed = %v, want %v; %s", res.Allowed, tc.Allowed, res.Message("rule", "Pod"))
			}
			if tc.Failed != nil {
				if diff := cmp.Diff(tc.Failed, failedIDs(res)); diff != "" {
					t.Errorf("failed checks (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestConformance runs the podSecurity policies of the conformance corpus
// against their test resources and compares with the expected results.
func TestConformance(t *testing.T) {
	root := "/work/shared/conformance/kyverno"
	if _, err := os.Stat(root); err != nil {
		t.Skip("conformance corpus not available")
	}
	type result struct {
		Policy    string   `json:"policy"`
		Rule      string   `json:"rule"`
		Resources []string `json:"resources"`
		Kind      string   `json:"kind"`
		Result    string   `json:"result"`
	}
	type testFile struct {
		Policies  []string `json:"policies"`
		Resources []string `json:"resources"`
		Results   []result `json:"results"`
	}
	tests, _ := filepath.Glob(filepath.Join(root, "*", "*", "*", ".kyverno-test", "kyverno-test.yaml"))
	more, _ := filepath.Glob(filepath.Join(root, "*", "*", ".kyverno-test", "kyverno-test.yaml"))
	tests = append(tests, more...)
	checked := 0
	for _, path := range tests {
		dir := filepath.Dir(path)
		var tf testFile
		readYAML(t, path, &tf)
		rules := map[string]*Rule{} // policy/rule -> compiled podSecurity rule
		for _, p := range tf.Policies {
			if data, err := os.ReadFile(filepath.Join(dir, p)); err != nil || !strings.Contains(string(data), "podSecurity:") {
				continue
			}
			for _, doc := range readDocs(t, filepath.Join(dir, p)) {
				name, _ := nested(doc, "metadata", "name").(string)
				rs, _ := nested(doc, "spec", "rules").([]any)
				for i, rr := range rs {
					ps := nested(rr, "validate", "podSecurity")
					if ps == nil {
						continue
					}
					ruleName, _ := nested(rr, "name").(string)
					r, errs := Compile(ps, field.NewPath("spec", "rules").Index(i).Child("validate", "podSecurity"))
					if len(errs) > 0 {
						t.Fatalf("%s: %v", p, errs.ToAggregate())
					}
					rules[name+"/"+ruleName] = r
				}
			}
		}
		if len(rules) == 0 {
			continue
		}
		resources := map[string]map[string]any{}
		for _, rp := range tf.Resources {
			for _, doc := range readDocs(t, filepath.Join(dir, rp)) {
				name, _ := nested(doc, "metadata", "name").(string)
				resources[name] = doc
			}
		}
		for _, want := range tf.Results {
			r := rules[want.Policy+"/"+want.Rule]
			if r == nil || want.Kind != "Pod" {
				continue
			}
			for _, name := range want.Resources {
				t.Run(want.Policy+"/"+want.Rule+"/"+name, func(t *testing.T) {
					doc := resources[name]
					if doc == nil {
						t.Fatalf("resource %s not found", name)
					}
					meta, spec := podParts(doc)
					res, err := r.Evaluate(meta, spec)
					if err != nil {
						t.Fatal(err)
					}
					got := "fail"
					if res.Allowed {
						got = "pass"
					}
					if got != want.Result {
						t.Errorf("result = %s, want %s: %s", got, want.Result, res.Message(want.Rule, "Pod"))
					}
				})
				checked++
			}
		}
	}
	if checked == 0 {
		t.Fatal("no podSecurity conformance results checked")
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// readDocs reads the YAML documents of a multi-document file.
func readDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var docs []map[string]any
	for _, part := range strings.Split(string(data), "\n---") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(part), &m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if m != nil {
			docs = append(docs, m)
		}
	}
	return docs
}

func nested(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func TestApplyExclusions(t *testing.T) {
	r := mustCompile(t, `{level: baseline, version: latest}`)
	p, err := DecodePod(nil, mustUnmarshal(t, `
hostNetwork: true
containers: [{name: agent, image: "docker.io/library/nginx:1", securityContext: {privileged: true, capabilities: {add: [NET_ADMIN]}}}]`))
	if err != nil {
		t.Fatal(err)
	}
	res := r.EvaluatePod(p)
	if diff := cmp.Diff([]string{"capabilities_baseline", "hostNamespaces", "privileged"}, failedIDs(res)); diff != "" {
		t.Fatalf("failed checks (-want +got):\n%s", diff)
	}
	before := res.Message("baseline", "Pod")
	exceptions, errs := CompileExclusions(mustUnmarshal(t, `x:
- {controlName: Capabilities, images: ["docker.io/library/nginx*"], restrictedField: "spec.containers[*].securityContext.capabilities.add", values: [NET_ADMIN]}
- {controlName: Host Namespaces, restrictedField: spec.hostNetwork, values: ["true"]}`)["x"], field.NewPath("spec", "podSecurity"))
	if len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	after := r.ApplyExclusions(res, p, exceptions)
	if diff := cmp.Diff([]string{"privileged"}, failedIDs(after)); diff != "" {
		t.Errorf("failed checks after exceptions (-want +got):\n%s", diff)
	}
	if got := res.Message("baseline", "Pod"); got != before {
		t.Errorf("ApplyExclusions modified its input: %s", got)
	}
	all := append(exceptions, Exclusion{ControlName: ControlPrivilegedContainers, Images: []string{"docker.io/*"}})
	if got := r.ApplyExclusions(res, p, all); !got.Allowed {
		t.Errorf("not allowed after all exceptions: %s", got.Message("baseline", "Pod"))
	}
}

func TestContainerNames(t *testing.T) {
	tests := []struct {
		detail string
		want   []string
	}{
		{`containers "nginx", "busybox" must set securityContext.allowPrivilegeEscalation=false`, []string{"nginx", "busybox"}},
		{`pod or container "nginx" must set securityContext.runAsNonRoot=true`, []string{"nginx"}},
		{`hostNetwork=true`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.detail, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, Check{Detail: tc.detail}.ContainerNames()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestPodTemplate(t *testing.T) {
	tests := []struct {
		name     string
		obj      string
		wantMeta map[string]any
		wantSpec map[string]any
		wantErr  bool
	}{
		{
			name:     "Pod",
			obj:      `{kind: Pod, metadata: {name: p}, spec: {hostPID: true}}`,
			wantMeta: map[string]any{"name": "p"},
			wantSpec: map[string]any{"hostPID": true},
		},
		{
			name:     "Deployment",
			obj:      `{kind: Deployment, metadata: {name: d}, spec: {template: {metadata: {name: t}, spec: {hostIPC: true}}}}`,
			wantMeta: map[string]any{"name": "t"},
			wantSpec: map[string]any{"hostIPC": true},
		},
		{
			// Kyverno takes the job template's metadata, not the pod template's.
			name:     "CronJob",
			obj:      `{kind: CronJob, spec: {jobTemplate: {metadata: {name: job}, spec: {template: {metadata: {name: pod}, spec: {hostNetwork: true}}}}}}`,
			wantMeta: map[string]any{"name": "job"},
			wantSpec: map[string]any{"hostNetwork": true},
		},
		{
			name: "Job without template",
			obj:  `{kind: Job, spec: {}}`,
		},
		{
			name:    "unsupported kind",
			obj:     `{kind: PodTemplate, template: {}}`,
			wantErr: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			meta, spec, err := PodTemplate(mustUnmarshal(t, tc.obj))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.wantMeta, meta); diff != "" {
				t.Errorf("metadata (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantSpec, spec); diff != "" {
				t.Errorf("spec (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEvaluateResource(t *testing.T) {
	r := mustCompile(t, `{level: baseline, version: latest}`)
	obj := mustUnmarshal(t, `
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      containers: [{name: web, image: nginx, securityContext: {privileged: "yes"}}]`)
	if _, err := r.EvaluateResource(obj); err == nil {
		t.Fatal("no error for a privileged field that is not a boolean")
	} else if want := "spec.containers[0].securityContext.privileged: expected boolean, got string"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	nested(obj, "spec", "template", "spec", "containers").([]any)[0].(map[string]any)["securityContext"] = map[string]any{"privileged": true}
	res, err := r.EvaluateResource(obj)
	if err != nil {
		t.Fatal(err)
	}
	want := `Validation rule 'autogen-baseline' failed. It violates PodSecurity "baseline:latest": (Forbidden reason: privileged, field error list: [spec.template.spec.containers[0].securityContext.privileged is forbidden, forbidden values found: true])`
	if diff := cmp.Diff(want, res.Message("autogen-baseline", "Deployment")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestFieldErrorString(t *testing.T) {
	tests := []struct {
		err  FieldError
		want string
	}{
		{forbidden("spec.hostPID", true), "spec.hostPID is forbidden, forbidden values found: true"},
		{forbidden("spec.containers[0].ports[0].hostPort", 80), "spec.containers[0].ports[0].hostPort is forbidden, forbidden values found: 80"},
		{forbidden("spec.containers[0].securityContext.capabilities.add", []string{"NET_RAW", "SYS_ADMIN"}), "spec.containers[0].securityContext.capabilities.add is forbidden, forbidden values found: [NET_RAW SYS_ADMIN]"},
		{forbidden("spec.volumes[0].hostPath", "/"), "spec.volumes[0].hostPath is forbidden, forbidden values found: /"},
		{forbidden("spec.volumes[0].nfs", ""), "spec.volumes[0].nfs: Forbidden"},
		{forbidden("spec.x", 1.5), "spec.x is forbidden, forbidden values found: 1.5"},
		{required("spec.containers[0].securityContext.runAsNonRoot"), "spec.containers[0].securityContext.runAsNonRoot: Required value"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.err.String()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestConcurrentEvaluate runs one rule from many goroutines; run it with
// -race.
func TestConcurrentEvaluate(t *testing.T) {
	r := mustCompile(t, seedRule)
	meta, spec := podParts(mustUnmarshal(t, `{spec: {containers: [{name: a, image: "ghcr.io/kloudvin/net-tools:1", securityContext: {capabilities: {add: [NET_RAW]}}}, {name: b, image: nginx}]}}`))
	want, err := r.Evaluate(meta, spec)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan string)
	for range 8 {
		go func() {
			res, _ := r.Evaluate(meta, spec)
			done <- res.Message("r", "Pod")
		}()
	}
	for range 8 {
		if got := <-done; got != want.Message("r", "Pod") {
			t.Errorf("concurrent result differs: %s", got)
		}
	}
}
