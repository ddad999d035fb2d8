package podsecurity

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/pod-security-admission/api"
)

// FieldError is one entry of a failed check's field error list, as Kyverno's
// fork of pod-security-admission reports it (policy.WithFieldErrors).
type FieldError struct {
	// Type is field.ErrorTypeForbidden for a value that is not allowed, or
	// field.ErrorTypeRequired for a field that must be set.
	Type field.ErrorType
	// Field is the path of the value relative to a Pod, with indexes, for
	// example "spec.containers[0].securityContext.privileged" or
	// "metadata.annotations[container.apparmor.security.beta.kubernetes.io/app]".
	Field string
	// BadValue is the offending value: a string, bool, int or []string, or
	// "" when there is none (Required errors and forbidden volume types).
	BadValue any
}

// String renders the error as Kyverno's message does: "<field> is
// forbidden, forbidden values found: <value>" for a forbidden value, else
// "<field>: Forbidden" or "<field>: Required value".
func (e FieldError) String() string {
	var b strings.Builder
	e.writeTo(&b, e.Field)
	return b.String()
}

// writeTo renders the error with the given path for its field.
func (e FieldError) writeTo(b *strings.Builder, path string) {
	b.WriteString(path)
	if s, ok := e.BadValue.(string); (!ok || s != "") && e.Type == field.ErrorTypeForbidden {
		b.WriteString(" is forbidden, forbidden values found: ")
		switch v := e.BadValue.(type) {
		case string:
			b.WriteString(v)
		case bool:
			b.WriteString(strconv.FormatBool(v))
		case int:
			b.WriteString(strconv.Itoa(v))
		case []string:
			b.WriteByte('[')
			for i, s := range v {
				if i > 0 {
					b.WriteByte(' ')
				}
				b.WriteString(s)
			}
			b.WriteByte(']')
		default:
			fmt.Fprintf(b, "%+v", e.BadValue)
		}
		return
	}
	b.WriteString(": ")
	b.WriteString(e.Type.String())
}

// badValues returns the bad value as the strings that an exclusion's values
// are matched against; "" and types Kyverno does not list give none.
func (e FieldError) badValues() []string {
	switch v := e.BadValue.(type) {
	case string:
		if v == "" {
			return nil
		}
		return []string{v}
	case bool:
		return []string{strconv.FormatBool(v)}
	case int:
		return []string{strconv.Itoa(v)}
	case []string:
		return v
	}
	return nil
}

func forbidden(path string, bad any) FieldError {
	return FieldError{Type: field.ErrorTypeForbidden, Field: path, BadValue: bad}
}

func required(path string) FieldError {
	return FieldError{Type: field.ErrorTypeRequired, Field: path, BadValue: ""}
}

// errorsFn lists the field errors of a check that failed; version is the
// MinimumVersion of the check version that ran. It mirrors the field error
// lists of Kyverno's pod-security-admission fork; the verdict itself always
// comes from k8s.io/pod-security-admission.
type errorsFn func(meta *metav1.ObjectMeta, spec *corev1.PodSpec, version api.Version) []FieldError

// fieldErrors returns the field error function of a check ID, or nil.
func fieldErrors(id string) errorsFn {
	switch id {
	case "allowPrivilegeEscalation":
		return allowPrivilegeEscalationErrors
	case "appArmorProfile":
		return appArmorProfileErrors
	case "capabilities_baseline":
		return capabilitiesBaselineErrors
	case "capabilities_restricted":
		return capabilitiesRestrictedErrors
	case "hostNamespaces":
		return hostNamespacesErrors
	case "hostPathVolumes":
		return hostPathVolumesErrors
	case "hostPorts":
		return hostPortsErrors
	case "hostProbesAndHostLifecycle":
		return hostProbesErrors
	case "privileged":
		return privilegedErrors
	case "procMount", "procMount_restricted":
		return procMountErrors
	case "restrictedVolumes":
		return restrictedVolumesErrors
	case "runAsNonRoot":
		return runAsNonRootErrors
	case "runAsUser":
		return runAsUserErrors
	case "seLinuxOptions":
		return seLinuxOptionsErrors
	case "seccompProfile_baseline":
		return seccompBaselineErrors
	case "seccompProfile_restricted":
		return seccompRestrictedErrors
	case "sysctls":
		return sysctlsErrors
	case "windowsHostProcess":
		return windowsHostProcessErrors
	}
	return nil
}

// containerPath locates a container: "spec.<kind>[<index>]".
type containerPath struct {
	kind  string
	index int
}

// field returns the path of a field of the container, for example
// "spec.containers[0]" + ".securityContext.privileged".
func (p containerPath) field(suffix string) string {
	return "spec." + p.kind + "[" + strconv.Itoa(p.index) + "]" + suffix
}

// visitContainers calls fn for every init, regular and ephemeral container,
// in that order, with the container's location.
func visitContainers(spec *corev1.PodSpec, fn func(c *corev1.Container, at containerPath)) {
	for i := range spec.InitContainers {
		fn(&spec.InitContainers[i], containerPath{"initContainers", i})
	}
	for i := range spec.Containers {
		fn(&spec.Containers[i], containerPath{"containers", i})
	}
	for i := range spec.EphemeralContainers {
		fn((*corev1.Container)(&spec.EphemeralContainers[i].EphemeralContainerCommon), containerPath{"ephemeralContainers", i})
	}
}

// sortedSet returns the distinct values, sorted.
func sortedSet(values []string) []string {
	out := slices.Clone(values)
	slices.Sort(out)
	return slices.Compact(out)
}

func allowPrivilegeEscalationErrors(_ *metav1.ObjectMeta, spec *corev1.PodSpec, _ api.Version) []FieldError {
	var errs []FieldError
	visitContainers(spec, func(c *corev1.Container, at containerPath) {
		const p = ".securityContext.allowPrivilegeEscalation"
		switch {
		case c.SecurityContext == nil:
			errs = append(errs, required(at.field(p)))
		case c.SecurityContext.AllowPrivilegeEscalation == nil:
			errs = append(errs, forbidden(at.field(p), "nil"))
		case *c.SecurityContext.AllowPrivilegeEscalation:
			errs = append(errs, forbidden(at.field(p), true))
		}
	})
	return errs
}

func allowedAppArmorType(t corev1.AppArmorProfileType) bool {
	return t == corev1.AppArmorProfileTypeRuntimeDefault || t == corev1.AppArmorProfileTypeLocalhost
}

func appArmorProfileErrors(meta *metav1.ObjectMeta, spec *corev1.PodSpec, _ api.Version) []FieldError {
	var errs []FieldError
	if sc := spec.SecurityContext; sc != nil && sc.AppArmorProfile != nil && !allowedAppArmorType(sc.AppArmorProfile.Type) {
		errs = append(errs, forbidden("spec.securityContext.appArmorProfile.type", string(sc.AppArmorProfile.Type)))
	}
	visitContainers(spec, func(c *corev1.Container, at containerPath) {
		if sc := c.SecurityContext; sc != nil && sc.AppArmorProfile != nil && !allowedAppArmorType(sc.AppArmorProfile.Type) {
			errs = append(errs, forbidden(at.field(".securityContext.appArmorProfile.type"), string(sc.AppArmorProfile.Type)))
		}
	})
	// Kyverno lists the annotations in map order; sort them by key.
	var keys []string
	for k, v := range meta.Annotations {
		if strings.HasPrefix(k, corev1.DeprecatedAppArmorBetaContainerAnnotationKeyPrefix) &&
			v != "" && v != corev1.DeprecatedAppArmorBetaProfileRuntimeDefault &&
			!strings.HasPrefix(v, corev1.DeprecatedAppArmorBetaProfileNamePrefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		errs = append(errs, forbidden("metadata.annotations["+k+"]", meta.Annotations[k]))
	}
	return errs
}

// capabilitiesAllowedBaseline is the baseline set of capabilities that may be added.
func capabilityAllowedBaseline(c corev1.Capability) bool {
	switch c {
	case "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
		"NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT":
		return true
	}
	return false
}

func capabilitiesBaselineErrors(_ *metav1.ObjectMeta, spec *corev1.PodSpec, _ api.Version) []FieldError {
	var errs []FieldError
	visitContainers(spec, func(c *corev1.Container, at containerPath) {
		if c.SecurityContext == nil || c.SecurityContext.Capabilities == nil {
			return
		}
		var bad []string
		for _, cap := range c.SecurityContext.Capabilities.Add {
			if !capabilityAllowedBaseline(cap) {
				bad = append(bad, string(cap))
			}
		}
		if len(bad) > 0 {
			errs = append(errs, forbidden(at.field(".securityContext.capabilities.add"), sortedSet(bad)))
		}
	})
	return errs
}

func capabilitiesRestrictedErrors(_ *metav1.ObjectMeta, spec *corev1.PodSpec, _ api.Version) []FieldError {
	var missingDrop, badAdd []FieldError
	visitContainers(spec, func(c *corev1.Container, at containerPath) {
		const dropPath = ".securityContext.capabilities.drop"
		if c.SecurityContext == nil || c.SecurityContext.Capabilities == nil {
			missingDrop = append(missingDrop, required(at.field(dropPath)))
			return
		}
		caps := c.SecurityContext.Capabilities
		if !slices.Contains(caps.Drop, "ALL") {
			if len(caps.Drop) > 0 {
				dropped := make([]string, len(caps.Drop))
				for i, d := range caps.Drop {
					dropped[i] = string(d)
				}
				missingDrop = append(missingDrop, forbidden(at.field(dropPath), sortedSet(dropped)))
			} else {
				missingDrop = append(missingDrop, required(at.field(dropPath)))
			}
		}
		var bad []string
		for _, cap := range caps.Add {
			if cap != "NET_BIND_SERVICE" {
				bad = append(bad, string(cap))
			}
		}
		if len(bad) > 0 {
			badAdd = append(badAdd, forbidden(at.field(".securityContext.capabilities.add"), sortedSet(bad)))
		}
	})
	return append(missingDrop, badAdd...)
}

func hostNamespacesErrors(_ *metav1.ObjectMeta, spec *corev1.PodSpec, _ api.Version) []FieldError {
	var errs []FieldError
	if spec.HostNetwork {
		errs = append(errs, forbidden("spec.hostNetwork", true))
	}
	if spec.HostPID {
		errs = append(errs, forbidden("spec.hostPID", true))
	}
	if spec.HostIPC {
		errs = append(errs, forbidden("spec.hostIPC", true))
	}
	return errs
}

func hostPathVolumesErrors(_ *metav1.ObjectMeta, spec *corev1.PodSpec, _ api.Version) []FieldError {
	var errs []FieldError
	for i, v := range spec.Volumes {
		if v.HostPath != nil {
			errs = append(errs, forbidden("spec.volumes["+strconv.Itoa(i)+"].hostPath", v.HostPath.Path))
		}
	}
	return errs
}

func hostPortsErrors(_ *metav1.ObjectMeta, spec *corev1.PodSpec, _ api.Version) []FieldError {
	var errs []FieldError
	visitContainers(spec, func(c *corev1.Container, at containerPath) {
		for i, p := range c.Ports {
			if p.HostPort != 0 {
				errs = append(errs, forbidden(at.field(".ports["+strconv.Itoa(i)+"].hostPort"), int(p.HostPort)))
			}
		}
	})
	return errs
}

// hostProbesErrors lists the hosts set in probes and lifecycle handlers.
// Kyverno's fork reports no field errors of its own for this check; these
// follow the restricted fields that Kyverno documents for the control.
func hostProbesErrors(_ *metav1.ObjectMeta, spec *corev1.PodSpec, _ api.Version) []FieldError {
	var errs []FieldError
	add := func(path string, httpGet *corev1.HTTPGetAction, tcp *corev1.TCPSocketAction) {
		if httpGet != nil && httpGet.Host != "" {
			errs = append(errs, forbidden(path+".httpGet.host", httpGet.Host))
		}
		if tcp != nil && tcp.Host != "" {
			errs = append(errs, forbidden(path+".tcpSocket.host", tcp.Host))
		}
	}
	visitContainers(spec, func(c *corev1.Container, at containerPath) {
		for _, p := range []struct {
			name  string
			probe *corev1.Probe
		}{{"livenessProbe", c.LivenessProbe}, {"readinessProbe", c.ReadinessProbe}, {"startupProbe", c.StartupProbe}} {
			if p.probe != nil {
				add(at.field(".")+p.name, p.probe.HTTPGet, p.probe.TCPSocket)
			}
		}
		if c.Lifecycle != nil {
			if h := c.Lifecycle.PostStart; h != nil {
				add(at.field(".lifecycle.postStart"), h.HTTPGet, h.TCPSocket)
			}
			if h := c.Lifecycle.PreStop; h != nil {
				add(at.field(".lifecycle.preStop"), h.HTTPGet, h.TCPSocket)
			}
		}
	})
	return errs
}

func privilegedErrors(_ *metav1.ObjectMeta, spec *corev1.PodSpec, _ api.Version) []FieldError {
	var errs []FieldError
	visitContainers(spec, func(c *corev1.Container, at containerPath) {
		if c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged {
			errs = append(errs, forbidden(at.field(".securityContext.privileged"), true))
		}
	})
	return errs
}

func procMountErrors(_ *metav1.ObjectMeta, spec *corev1.PodSpec, _ api.Version) []FieldError {
	var errs []FieldError
	visitContainers(spec, func(c *corev1.Container, at containerPath) {
		if c.SecurityContext != nil && c.SecurityContext.ProcMount != nil && *c.SecurityContext.ProcMount != corev1.DefaultProcMount {
			errs = append(errs, forbidden(at.field(".securityContext.procMount"), string(*c.SecurityContext.ProcMount)))
		}
	})
	return errs
}

// restrictedVolumeType names the source of a volume that the restricted
// profile forbids, in the order pod-security-admission tests them, or ""
// for an allowed source.
func restrictedVolumeType(v *corev1.VolumeSource) string {
	switch {
	case v.ConfigMap != nil, v.CSI != nil, v.DownwardAPI != nil, v.EmptyDir != nil, v.Ephemeral != nil,
		v.Image != nil, v.PersistentVolumeClaim != nil, v.Projected != nil, v.Secret != nil:
		return ""
	case v.HostPath != nil:
		return "hostPath"
	case v.GCEPersistentDisk != nil:
		return "gcePersistentDisk"
	case v.AWSElasticBlockStore != nil:
		return "awsElasticBlockStore"
	case v.GitRepo != nil:
		return "gitRepo"
	case v.NFS != nil:
		return "nfs"
	case v.ISCSI != nil:
		return "iscsi"
	case v.Glusterfs != nil:
		return "glusterfs"
	case v.RBD != nil:
		return "rbd"
	case v.FlexVolume != nil:
		return "flexVolume"
	case v.Cinder != nil:
		return "cinder"
	case v.CephFS != nil:
		return "cephfs"
	case v.Flocker != nil:
		return "flocker"
	case v.FC != nil:
		return "fc"
	case v.AzureFile != nil:
		return "azureFile"
	case v.VsphereVolume != nil:
		return "vsphereVolume"
	case v.Quobyte != nil:
		return "quobyte"
	case v.AzureDisk != nil:
		return "azureDisk"
	case v.PhotonPersistentDisk != nil:
		return "photonPersistentDisk"
	case v.PortworxVolume != nil:
		return "portworxVolume"
	case v.ScaleIO != nil:
		return "scaleIO"
	case v.StorageOS != nil:
		return "storageos"
	}
	return "unknown"
}

func restrictedVolumesErrors(_ *metav1.ObjectMeta, spec *corev1.PodSpec, _ api.Version) []FieldError {
	var errs []FieldError
	for i := range spec.Volumes {
		if t := restrictedVolumeType(&spec.Volumes[i].VolumeSource); t != "" {
			errs = append(errs, forbidden("spec.volumes["+strconv.Itoa(i)+"]."+t, ""))
		}
	}
	return errs
}

func runAsNonRootErrors(_ *metav1.ObjectMeta, spec *corev1.PodSpec, _ api.Version) []FieldError {
	var explicit, implicit []FieldError
	podNonRoot := false
	if sc := spec.SecurityContext; sc != nil && sc.RunAsNonRoot != nil {
		if *sc.RunAsNonRoot {
			podNonRoot = true
		} else {
			explicit = append(explicit, forbidden("spec.securityContext.runAsNonRoot", false))
		}
	}
	visitContainers(spec, func(c *corev1.Container, at containerPath) {
		const p = ".securityContext.runAsNonRoot"
		if c.SecurityContext != nil && c.SecurityContext.RunAsNonRoot != nil {
			if !*c.SecurityContext.RunAsNonRoot {
				explicit = append(explicit, forbidden(at.field(p), false))
			}
		} else if !podNonRoot {
			implicit = append(implicit, required(at.field(p)))
		}
	})
	if len(explicit) > 0 {
		return explicit
	}
	return implicit
}

func runAsUserErrors(_ *metav1.ObjectMeta, spec *corev1.PodSpec, _ api.Version) []FieldError {
	var errs []FieldError
	if sc := spec.SecurityContext; sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
		errs = append(errs, forbidden("spec.securityContext.runAsUser", 0))
	}
	visitContainers(spec, func(c *corev1.Container, at containerPath) {
		if sc := c.SecurityContext; sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			errs = append(errs, forbidden(at.field(".securityContext.runAsUser"), 0))
		}
	})
	return errs
}

// seLinuxTypeAllowed reports whether an SELinux type is allowed by the
// seLinuxOptions check version that starts at version.
func seLinuxTypeAllowed(t string, version api.Version) bool {
	switch t {
	case "", "container_t", "container_init_t", "container_kvm_t":
		return true
	case "container_engine_t":
		return !version.Older(api.MajorMinorVersion(1, 31))
	}
	return false
}

func seLinuxOptionsErrors(_ *metav1.ObjectMeta, spec *corev1.PodSpec, version api.Version) []FieldError {
	var errs []FieldError
	check := func(o *corev1.SELinuxOptions, prefix string) {
		if !seLinuxTypeAllowed(o.Type, version) {
			errs = append(errs, forbidden(prefix+".type", o.Type))
		}
		if o.User != "" {
			errs = append(errs, forbidden(prefix+".user", o.User))
		}
		if o.Role != "" {
			errs = append(errs, forbidden(prefix+".role", o.Role))
		}
	}
	if sc := spec.SecurityContext; sc != nil && sc.SELinuxOptions != nil {
		check(sc.SELinuxOptions, "spec.securityContext.seLinuxOptions")
	}
	visitContainers(spec, func(c *corev1.Container, at containerPath) {
		if sc := c.SecurityContext; sc != nil && sc.SELinuxOptions != nil {
			check(sc.SELinuxOptions, at.field(".securityContext.seLinuxOptions"))
		}
	})
	return errs
}

func validSeccomp(t corev1.SeccompProfileType) bool {
	return t == corev1.SeccompProfileTypeLocalhost || t == corev1.SeccompProfileTypeRuntimeDefault
}

func validSeccompAnnotation(v string) bool {
	return v == corev1.SeccompProfileRuntimeDefault || v == corev1.DeprecatedSeccompProfileDockerDefault ||
		strings.HasPrefix(v, corev1.SeccompLocalhostProfileNamePrefix)
}

const (
	seccompPodAnnotation             = "seccomp.security.alpha.kubernetes.io/pod"
	seccompContainerAnnotationPrefix = "container.seccomp.security.alpha.kubernetes.io/"
)

func seccompBaselineErrors(meta *metav1.ObjectMeta, spec *corev1.PodSpec, version api.Version) []FieldError {
	var errs []FieldError
	if version.Older(api.MajorMinorVersion(1, 19)) {
		// Before 1.19 the check reads the alpha annotations. Kyverno lists
		// them in map order; sort them by key.
		var keys []string
		if v, ok := meta.Annotations[seccompPodAnnotation]; ok && !validSeccompAnnotation(v) {
			keys = append(keys, seccompPodAnnotation)
		}
		visitContainers(spec, func(c *corev1.Container, _ containerPath) {
			k := seccompContainerAnnotationPrefix + c.Name
			if v, ok := meta.Annotations[k]; ok && !validSeccompAnnotation(v) {
				keys = append(keys, k)
			}
		})
		for _, k := range sortedSet(keys) {
			errs = append(errs, forbidden("metadata.annotations["+k+"]", meta.Annotations[k]))
		}
		return errs
	}
	if sc := spec.SecurityContext; sc != nil && sc.SeccompProfile != nil && !validSeccomp(sc.SeccompProfile.Type) {
		errs = append(errs, forbidden("spec.securityContext.seccompProfile.type", string(sc.SeccompProfile.Type)))
	}
	visitContainers(spec, func(c *corev1.Container, at containerPath) {
		if sc := c.SecurityContext; sc != nil && sc.SeccompProfile != nil && !validSeccomp(sc.SeccompProfile.Type) {
			errs = append(errs, forbidden(at.field(".securityContext.seccompProfile.type"), string(sc.SeccompProfile.Type)))
		}
	})
	return errs
}

func seccompRestrictedErrors(_ *metav1.ObjectMeta, spec *corev1.PodSpec, _ api.Version) []FieldError {
	var explicit, implicit []FieldError
	podSet := false
	if sc := spec.SecurityContext; sc != nil && sc.SeccompProfile != nil {
		if validSeccomp(sc.SeccompProfile.Type) {
			podSet = true
		} else {
			explicit = append(explicit, forbidden("spec.securityContext.seccompProfile.type", string(sc.SeccompProfile.Type)))
		}
	}
	visitContainers(spec, func(c *corev1.Container, at containerPath) {
		const p = ".securityContext.seccompProfile.type"
		if sc := c.SecurityContext; sc != nil && sc.SeccompProfile != nil {
			if !validSeccomp(sc.SeccompProfile.Type) {
				explicit = append(explicit, forbidden(at.field(p), string(sc.SeccompProfile.Type)))
			}
		} else if !podSet {
			implicit = append(implicit, required(at.field(p)))
		}
	})
	if len(explicit) > 0 {
		return explicit
	}
	return implicit
}

// sysctlAllowed reports whether a sysctl is allowed by the sysctls check
// version that starts at version.
func sysctlAllowed(name string, version api.Version) bool {
	var since api.Version
	switch name {
	case "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
		"net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start":
		return true
	case "net.ipv4.ip_local_reserved_ports":
		since = api.MajorMinorVersion(1, 27)
	case "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
		"net.ipv4.tcp_keepalive_probes":
		since = api.MajorMinorVersion(1, 29)
	case "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem":
		since = api.MajorMinorVersion(1, 32)
	case "net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat":
		since = api.MajorMinorVersion(1, 37)
	default:
		return false
	}
	return !version.Older(since)
}

func sysctlsErrors(_ *metav1.ObjectMeta, spec *corev1.PodSpec, version api.Version) []FieldError {
	if spec.SecurityContext == nil {
		return nil
	}
	var errs []FieldError
	for i, s := range spec.SecurityContext.Sysctls {
		if !sysctlAllowed(s.Name, version) {
			errs = append(errs, forbidden("spec.securityContext.sysctls["+strconv.Itoa(i)+"].name", s.Name))
		}
	}
	return errs
}

func windowsHostProcessErrors(_ *metav1.ObjectMeta, spec *corev1.PodSpec, _ api.Version) []FieldError {
	var errs []FieldError
	if sc := spec.SecurityContext; sc != nil && sc.WindowsOptions != nil && sc.WindowsOptions.HostProcess != nil && *sc.WindowsOptions.HostProcess {
		errs = append(errs, forbidden("spec.securityContext.windowsOptions.hostProcess", true))
	}
	visitContainers(spec, func(c *corev1.Container, at containerPath) {
		if sc := c.SecurityContext; sc != nil && sc.WindowsOptions != nil && sc.WindowsOptions.HostProcess != nil && *sc.WindowsOptions.HostProcess {
			errs = append(errs, forbidden(at.field(".securityContext.windowsOptions.hostProcess"), true))
		}
	})
	return errs
}

// noFieldErrors stands in for a check that this package has no field error
// list for: pod-security-admission may add checks before Kyverno maps them.
func noFieldErrors(_ *metav1.ObjectMeta, _ *corev1.PodSpec, _ api.Version) []FieldError { return nil }
