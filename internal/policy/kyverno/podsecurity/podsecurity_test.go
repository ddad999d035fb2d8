package podsecurity

import (
	"fmt"
	"math/rand"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

func TestCompile(t *testing.T) {
	root := field.NewPath("spec", "rules").Index(0).Child("validate", "podSecurity")
	excl := root.Child("exclude")
	tests := []struct {
		name        string
		raw         string
		wantErrs    field.ErrorList
		wantLevel   string
		wantVersion string
		wantExcl    []Exclusion
	}{
		{
			name:        "seed policy",
			raw:         seedRule,
			wantLevel:   "restricted",
			wantVersion: "latest",
			wantExcl:    []Exclusion{{ControlName: "Capabilities", Images: []string{"ghcr.io/kloudvin/net-tools:*"}}},
		},
		{
			name:        "pinned version and field exclusion",
			raw:         `{level: baseline, version: v1.24, exclude: [{controlName: Sysctls, restrictedField: "spec.securityContext.sysctls[*].name", values: [a, b]}]}`,
			wantLevel:   "baseline",
			wantVersion: "v1.24",
			wantExcl:    []Exclusion{{ControlName: "Sysctls", RestrictedField: "spec.securityContext.sysctls[*].name", Values: []string{"a", "b"}}},
		},
		{
			name:      "version omitted",
			raw:       `{level: privileged}`,
			wantLevel: "privileged",
		},
		{
			name: "bad level and version",
			raw:  `{level: strict, version: "1.24"}`,
			wantErrs: field.ErrorList{
				field.NotSupported(root.Child("level"), "strict", []string{"privileged", "baseline", "restricted"}),
				field.Invalid(root.Child("version"), "1.24", `must be "latest" or "v1.x"`),
			},
		},
		{
			name: "unknown control and unknown key",
			raw:  `{level: baseline, exclude: [{controlName: Volumes, image: [x]}]}`,
			wantErrs: field.ErrorList{
				field.NotSupported(excl.Index(0), "image", []string{"controlName", "images", "restrictedField", "values"}),
				field.NotSupported(excl.Index(0).Child("controlName"), "Volumes", ControlNames()),
			},
		},
		{
			name: "container and pod level controls",
			raw: `
level: restricted
exclude:
- controlName: Privileged Containers
- controlName: Host Probes / Lifecycle Hooks
- controlName: Host Namespaces
  images: [nginx]
- {}`,
			wantErrs: field.ErrorList{
				field.Invalid(excl.Index(0).Child("controlName"), "Privileged Containers", "exclude.images must be specified for the container level control"),
				field.Invalid(excl.Index(1).Child("controlName"), "Host Probes / Lifecycle Hooks", "exclude.images must be specified for the container level control"),
				field.Invalid(excl.Index(2).Child("controlName"), "Host Namespaces", "exclude.images must not be specified for the pod level control"),
				field.Required(excl.Index(3).Child("controlName"), ""),
			},
		},
		{
			name: "restrictedField and values go together",
			raw: `
level: baseline
exclude:
- {controlName: Seccomp, restrictedField: spec.securityContext.seccompProfile.type}
- {controlName: Seccomp, values: [Unconfined]}`,
			wantErrs: field.ErrorList{
				field.Forbidden(excl.Index(0).Child("values"), "values is required"),
				field.Forbidden(excl.Index(1).Child("restrictedField"), "restrictedField is required"),
			},
		},
		{
			name: "restricted-only control at baseline",
			raw: `
level: baseline
exclude:
- {controlName: Running as Non-root}
- {controlName: Capabilities, images: [nginx]}`,
			wantErrs: field.ErrorList{
				field.Invalid(excl.Index(0).Child("controlName"), "Running as Non-root", "Invalid control name defined at the given level"),
			},
		},
		{
			name: "wrong types",
			raw:  `{level: 1, version: [v1.29], exclude: [{controlName: AppArmor, images: nginx, values: [1]}], extra: true}`,
			wantErrs: field.ErrorList{
				field.NotSupported(root, "extra", []string{"level", "version", "exclude"}),
				field.TypeInvalid(root.Child("level"), float64(1), "must be a string"),
				field.TypeInvalid(root.Child("version"), []any{"v1.29"}, "must be a string"),
				field.TypeInvalid(excl.Index(0).Child("images"), "nginx", "must be an array of strings"),
				field.TypeInvalid(excl.Index(0).Child("values").Index(0), float64(1), "must be a string"),
			},
		},
		{
			name:     "not an object",
			raw:      `[restricted]`,
			wantErrs: field.ErrorList{field.TypeInvalid(root, []any{"restricted"}, "must be an object")},
		},
	}
	sortErrs := cmpopts.SortSlices(func(a, b *field.Error) bool { return a.Error() < b.Error() })
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var raw any
			if tc.raw[0] == '[' {
				raw = []any{"restricted"}
			} else {
				raw = mustUnmarshal(t, tc.raw)
			}
			r, errs := Compile(raw, root)
			if diff := cmp.Diff(tc.wantErrs, errs, sortErrs); diff != "" {
				t.Fatalf("errors (-want +got):\n%s", diff)
			}
			if len(tc.wantErrs) > 0 {
				if r != nil {
					t.Errorf("Compile returned a rule with errors")
				}
				return
			}
			if r.Level() != tc.wantLevel || r.Version() != tc.wantVersion {
				t.Errorf("level, version = %q, %q; want %q, %q", r.Level(), r.Version(), tc.wantLevel, tc.wantVersion)
			}
			if diff := cmp.Diff(tc.wantExcl, r.Exclusions()); diff != "" {
				t.Errorf("exclusions (-want +got):\n%s", diff)
			}
		})
	}
}

// TestControlMapping guards against a pod-security-admission check that no
// control names: it could not be excluded and would have no field errors.
func TestControlMapping(t *testing.T) {
	for _, c := range policy.DefaultChecks() {
		t.Run(string(c.ID), func(t *testing.T) {
			name := ControlName(string(c.ID))
			if name == "" {
				t.Fatalf("check %s has no control name", c.ID)
			}
			if !slices.Contains(CheckIDs(name), string(c.ID)) {
				t.Errorf("CheckIDs(%q) = %v, lacks %s", name, CheckIDs(name), c.ID)
			}
			if fieldErrors(string(c.ID)) == nil {
				t.Errorf("check %s has no field error list", c.ID)
			}
		})
	}
	for _, name := range ControlNames() {
		if len(CheckIDs(name)) == 0 {
			t.Errorf("control %q has no checks", name)
		}
	}
}

func TestSelectChecks(t *testing.T) {
	ids := func(level api.Level, version string) []string {
		v := api.LatestVersion()
		if version != "latest" {
			v, _ = api.ParseVersion(version)
		}
		var out []string
		for _, c := range selectChecks(level, v) {
			out = append(out, fmt.Sprintf("%s@%s", c.id, c.version.String()))
		}
		return out
	}
	tests := []struct {
		level   api.Level
		version string
		want    []string
	}{
		{api.LevelBaseline, "v1.19", []string{
			"appArmorProfile@v1.0", "capabilities_baseline@v1.0", "hostNamespaces@v1.0", "hostPathVolumes@v1.0",
			"hostPorts@v1.0", "privileged@v1.0", "procMount@v1.0", "seLinuxOptions@v1.0",
			"seccompProfile_baseline@v1.0", "seccompProfile_baseline@v1.19", "sysctls@v1.0", "windowsHostProcess@v1.0",
		}},
		{api.LevelRestricted, "latest", []string{
			"allowPrivilegeEscalation@v1.25", "appArmorProfile@v1.0", "capabilities_baseline@v1.0",
			"capabilities_restricted@v1.25", "hostNamespaces@v1.0", "hostPathVolumes@v1.0", "hostPorts@v1.0",
			"hostProbesAndHostLifecycle@v1.34", "privileged@v1.0", "procMount@v1.35", "procMount_restricted@v1.35",
			"restrictedVolumes@v1.0", "runAsNonRoot@v1.35", "runAsUser@v1.35", "seLinuxOptions@v1.31",
			"seccompProfile_baseline@v1.19", "seccompProfile_restricted@v1.25", "sysctls@v1.37", "windowsHostProcess@v1.0",
		}},
	}
	for _, tc := range tests {
		t.Run(string(tc.level)+":"+tc.version, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, ids(tc.level, tc.version)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// randomPod builds a pod that trips the checks now and then.
func randomPod(rng *rand.Rand) (*metav1.ObjectMeta, *corev1.PodSpec) {
	pick := func(values ...string) string { return values[rng.Intn(len(values))] }
	maybe := func() bool { return rng.Intn(3) == 0 }
	boolPtr := func() *bool {
		switch rng.Intn(3) {
		case 0:
			return nil
		case 1:
			b := true
			return &b
		}
		b := false
		return &b
	}
	meta := &metav1.ObjectMeta{Annotations: map[string]string{}}
	if maybe() {
		meta.Annotations["container.apparmor.security.beta.kubernetes.io/c0"] = pick("runtime/default", "unconfined", "localhost/x", "")
	}
	if maybe() {
		meta.Annotations[seccompPodAnnotation] = pick("runtime/default", "unconfined", "docker/default")
	}
	if maybe() {
		meta.Annotations[seccompContainerAnnotationPrefix+"c1"] = pick("runtime/default", "unconfined")
	}
	spec := &corev1.PodSpec{HostNetwork: maybe(), HostPID: maybe(), HostIPC: maybe()}
	if maybe() {
		spec.OS = &corev1.PodOS{Name: corev1.OSName(pick("linux", "windows"))}
	}
	if maybe() {
		spec.HostUsers = boolPtr()
	}
	if maybe() {
		sc := &corev1.PodSecurityContext{RunAsNonRoot: boolPtr()}
		if maybe() {
			u := int64(rng.Intn(2))
			sc.RunAsUser = &u
		}
		if maybe() {
			sc.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileType(pick("RuntimeDefault", "Localhost", "Unconfined", ""))}
		}
		if maybe() {
			sc.AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileType(pick("RuntimeDefault", "Unconfined"))}
		}
		if maybe() {
			sc.SELinuxOptions = &corev1.SELinuxOptions{Type: pick("", "container_t", "container_engine_t", "spc_t"), User: pick("", "u"), Role: pick("", "r")}
		}
		if maybe() {
			sc.WindowsOptions = &corev1.WindowsSecurityContextOptions{HostProcess: boolPtr()}
		}
		for range rng.Intn(3) {
			sc.Sysctls = append(sc.Sysctls, corev1.Sysctl{Name: pick("kernel.shm_rmid_forced", "net.ipv4.tcp_rmem", "net.ipv4.tcp_notsent_lowat", "net.ipv4.ip_local_reserved_ports", "kernel.msgmax")})
		}
		spec.SecurityContext = sc
	}
	for i := range rng.Intn(4) {
		var v corev1.Volume
		v.Name = fmt.Sprintf("v%d", i)
		setVolumeSource(pick("hostPath", "emptyDir", "nfs", "configMap", "gitRepo", "image", "unknownType"), &v.VolumeSource)
		if v.HostPath != nil {
			v.HostPath.Path = pick("/", "/var/run")
		}
		spec.Volumes = append(spec.Volumes, v)
	}
	container := func(name string) corev1.Container {
		c := corev1.Container{Name: name, Image: pick("nginx", "busybox")}
		if maybe() {
			c.Ports = []corev1.ContainerPort{{HostPort: int32(rng.Intn(2) * 8080)}}
		}
		if maybe() {
			c.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Host: pick("", "localhost")}}}
		}
		if maybe() {
			c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{TCPSocket: &corev1.TCPSocketAction{Host: pick("", "h")}}}
		}
		if rng.Intn(4) == 0 {
			return c
		}
		sc := &corev1.SecurityContext{
			Privileged:               boolPtr(),
			AllowPrivilegeEscalation: boolPtr(),
			RunAsNonRoot:             boolPtr(),
		}
		if maybe() {
			u := int64(rng.Intn(2))
			sc.RunAsUser = &u
		}
		if maybe() {
			pm := corev1.ProcMountType(pick("Default", "Unmasked"))
			sc.ProcMount = &pm
		}
		if rng.Intn(2) == 0 {
			sc.Capabilities = &corev1.Capabilities{}
			for range rng.Intn(3) {
				sc.Capabilities.Add = append(sc.Capabilities.Add, corev1.Capability(pick("NET_BIND_SERVICE", "CHOWN", "SYS_ADMIN", "NET_RAW")))
			}
			for range rng.Intn(3) {
				sc.Capabilities.Drop = append(sc.Capabilities.Drop, corev1.Capability(pick("ALL", "NET_RAW")))
			}
		}
		if maybe() {
			sc.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileType(pick("RuntimeDefault", "Unconfined", ""))}
		}
		if maybe() {
			sc.AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileType(pick("Localhost", "Unconfined"))}
		}
		if maybe() {
			sc.SELinuxOptions = &corev1.SELinuxOptions{Type: pick("", "spc_t"), Role: pick("", "r")}
		}
		if maybe() {
			sc.WindowsOptions = &corev1.WindowsSecurityContextOptions{HostProcess: boolPtr()}
		}
		c.SecurityContext = sc
		return c
	}
	for i := range rng.Intn(3) {
		spec.InitContainers = append(spec.InitContainers, container(fmt.Sprintf("i%d", i)))
	}
	for i := range 1 + rng.Intn(3) {
		spec.Containers = append(spec.Containers, container(fmt.Sprintf("c%d", i)))
	}
	if maybe() {
		spec.EphemeralContainers = append(spec.EphemeralContainers, corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon(container("e0"))})
	}
	return meta, spec
}

// TestFieldErrorsAgreeWithPSA checks that every check version reports field
// errors exactly when pod-security-admission fails it, unless the check
// passes the pod through an exemption (Windows pods, user namespaces) that
// the field error lists do not repeat because they only run on failures.
func TestFieldErrorsAgreeWithPSA(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for i := range 3000 {
		meta, spec := randomPod(rng)
		exempt := (spec.OS != nil && spec.OS.Name == corev1.Windows) || (spec.HostUsers != nil && !*spec.HostUsers)
		for _, c := range policy.DefaultChecks() {
			for _, v := range c.Versions {
				res := v.CheckPod(meta, spec)
				errs := fieldErrors(string(c.ID))(meta, spec, v.MinimumVersion)
				if !res.Allowed && len(errs) == 0 {
					t.Fatalf("pod %d: %s@%s failed (%s: %s) without field errors", i, c.ID, v.MinimumVersion.String(), res.ForbiddenReason, res.ForbiddenDetail)
				}
				if res.Allowed && len(errs) > 0 && !exempt {
					t.Fatalf("pod %d: %s@%s passed but has field errors %v", i, c.ID, v.MinimumVersion.String(), errs)
				}
			}
		}
	}
}

func TestWildcardMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "anything", true},
		{"", "", true},
		{"", "x", false},
		{"ghcr.io/kloudvin/net-tools:*", "ghcr.io/kloudvin/net-tools:1.2", true},
		{"ghcr.io/kloudvin/net-tools:*", "ghcr.io/kloudvin/net-tools@sha256:abc", false},
		{"my-bucket/abc?", "my-bucket/abc", false},
		{"my-bucket/abc?", "my-bucket/abcd", true},
		{"my-bucket/mnop*?", "my-bucket/mnop", false},
		{"my-bucket/mnop*?and", "my-bucket/mnopqand", true},
		{"my-bucket/In*/Ka*/Ban", "my-bucket/India/State1/State2/Karnataka/Area1/Ban", true},
		{"nginx", "nginx:1.2.3", false},
		{"602401143452.dkr.ecr.*.amazonaws.com/eks/*", "602401143452.dkr.ecr.eu-west-1.amazonaws.com/eks/agent:1", true},
	}
	for _, tc := range tests {
		t.Run(tc.pattern+"~"+tc.s, func(t *testing.T) {
			if got := wildcardMatch(tc.pattern, tc.s); got != tc.want {
				t.Errorf("wildcardMatch(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
			}
		})
	}
}

func TestParseField(t *testing.T) {
	tests := []struct {
		in             string
		containerLevel bool
		want           parsedField
	}{
		{"spec.containers[12].ports[3].hostPort", true, parsedField{field: "spec.containers[*].ports[*].hostPort", container: true, kind: "containers", index: 12}},
		{"spec.initContainers[0].securityContext.privileged", false, parsedField{field: "spec.initContainers[*].securityContext.privileged", kind: "initContainers", index: 0}},
		{"spec.hostNetwork", true, parsedField{field: "spec.hostNetwork", kind: "hostNetwork", index: -1}},
		{"metadata.annotations[container.apparmor.security.beta.kubernetes.io/app2]", true, parsedField{field: "metadata.annotations[container.apparmor.security.beta.kubernetes.io/app*]", kind: "annotations", index: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, parseField(tc.in, tc.containerLevel), cmp.AllowUnexported(parsedField{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestVerdictMatchesPSA checks the verdicts against pod-security-admission's
// own evaluator. At "latest" they agree: Kyverno runs extra checks (a
// restricted check does not replace the baseline one it overrides), but every
// pod they fail is also failed by the check that overrides them. At a pinned
// version Kyverno also runs the older versions of each check, so it fails a
// superset of the pods.
func TestVerdictMatchesPSA(t *testing.T) {
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(4))
	for _, level := range []api.Level{api.LevelBaseline, api.LevelRestricted} {
		for _, version := range []api.Version{api.LatestVersion(), api.MajorMinorVersion(1, 24), api.MajorMinorVersion(1, 35)} {
			r := &Rule{level: string(level), checks: selectChecks(level, version)}
			for i := range 1000 {
				meta, spec := randomPod(rng)
				want := policy.AggregateCheckResults(evaluator.EvaluatePod(api.LevelVersion{Level: level, Version: version}, meta, spec)).Allowed
				got := r.EvaluatePod(&Pod{meta: *meta, spec: *spec})
				if got.Allowed != want && (version.Latest() || got.Allowed) {
					t.Fatalf("%s:%s pod %d: allowed = %v, pod-security-admission says %v: %s", level, version.String(), i, got.Allowed, want, got.Message("rule", "Pod"))
				}
			}
		}
	}
}
