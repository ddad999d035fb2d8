package podsecurity

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Pod is a pod (or a pod template) decoded once for Pod Security evaluation.
// It holds only the fields that the Pod Security Standards checks read:
// metadata name, namespace and annotations; the host namespaces, hostUsers,
// os, the pod security context, the volumes' sources and, for every init,
// regular and ephemeral container, its name, image, security context, ports,
// probes and lifecycle handlers. Several rules may evaluate the same *Pod;
// Evaluate never modifies it.
type Pod struct {
	meta metav1.ObjectMeta
	spec corev1.PodSpec
}

// DecodeError reports a field that Pod Security evaluation reads but whose
// value has the wrong JSON type, as Kyverno's decoding into corev1.Pod would
// reject it. Kyverno reports such a resource as a rule error.
type DecodeError struct {
	// Field is the path of the bad value, for example
	// "spec.containers[0].securityContext.privileged".
	Field string
	// Want names the JSON type expected there, for example "boolean".
	Want string
	// Got is the offending value.
	Got any
}

// Error implements error.
func (e *DecodeError) Error() string {
	return fmt.Sprintf("%s: expected %s, got %T", e.Field, e.Want, e.Got)
}

// DecodePod decodes the metadata and spec of a Pod, or of the pod template of
// a controller (the caller extracts spec.template.metadata and
// spec.template.spec, or the CronJob's job template equivalent), from
// unstructured JSON values as k8s.io/apimachinery/pkg/util/json produces
// them. Either map may be nil. Fields that the checks do not read are
// ignored; a read field of the wrong type is a *DecodeError.
func DecodePod(podMeta, podSpec map[string]any) (*Pod, error) {
	var d decoder
	p := &Pod{}
	d.meta(podMeta, &p.meta)
	d.podSpec(podSpec, &p.spec)
	if d.err != nil {
		return nil, d.err
	}
	return p, nil
}

// decoder walks unstructured values and remembers the first type error. It
// keeps the location being decoded in a fixed stack, so that decoding
// allocates nothing for paths unless a value is bad.
type decoder struct {
	err   *DecodeError
	stack [16]segment
	depth int
}

// segment is one step of a field path.
type segment struct {
	key   string
	index int
	kind  uint8
}

const (
	segChild uint8 = iota
	segIndex
	segMapKey
)

func (d *decoder) push(s segment) {
	if d.depth < len(d.stack) {
		d.stack[d.depth] = s
	}
	d.depth++
}

func (d *decoder) pop() { d.depth-- }

// enter and index push a step for the values decoded until the next pop.
func (d *decoder) enter(key string) { d.push(segment{key: key}) }
func (d *decoder) index(i int)      { d.push(segment{index: i, kind: segIndex}) }

// fail records a bad value at the current location, extended by leaf.
func (d *decoder) fail(leaf *segment, want string, got any) {
	if d.err != nil {
		return
	}
	var p *field.Path
	steps := d.stack[:min(d.depth, len(d.stack))]
	for _, s := range steps {
		p = s.extend(p)
	}
	if leaf != nil {
		p = leaf.extend(p)
	}
	d.err = &DecodeError{Field: p.String(), Want: want, Got: got}
}

func (s segment) extend(p *field.Path) *field.Path {
	switch {
	case p == nil:
		return field.NewPath(s.key)
	case s.kind == segIndex:
		return p.Index(s.index)
	case s.kind == segMapKey:
		return p.Key(s.key)
	}
	return p.Child(s.key)
}

// failAt records a bad value under key at the current location.
func (d *decoder) failAt(key string, want string, got any) {
	d.fail(&segment{key: key}, want, got)
}

// object decodes m[key] as an object; it reports false when the value is
// absent or null.
func (d *decoder) object(m map[string]any, key string) (map[string]any, bool) {
	v := m[key]
	if v == nil {
		return nil, false
	}
	o, ok := v.(map[string]any)
	if !ok {
		d.failAt(key, "object", v)
		return nil, false
	}
	return o, true
}

// element decodes v, the current location, as an object; it reports false
// when v is null.
func (d *decoder) element(v any) (map[string]any, bool) {
	if v == nil {
		return nil, false
	}
	m, ok := v.(map[string]any)
	if !ok {
		d.fail(nil, "object", v)
		return nil, false
	}
	return m, true
}

// list decodes m[key] as an array.
func (d *decoder) list(m map[string]any, key string) []any {
	v := m[key]
	if v == nil {
		return nil
	}
	l, ok := v.([]any)
	if !ok {
		d.failAt(key, "array", v)
		return nil
	}
	return l
}

// str decodes the string m[key].
func (d *decoder) str(m map[string]any, key string) string {
	v := m[key]
	if v == nil {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		d.failAt(key, "string", v)
	}
	return s
}

// boolean decodes the boolean m[key].
func (d *decoder) boolean(m map[string]any, key string) bool {
	v := m[key]
	if v == nil {
		return false
	}
	b, ok := v.(bool)
	if !ok {
		d.failAt(key, "boolean", v)
	}
	return b
}

// boolPtr decodes the optional boolean m[key].
func (d *decoder) boolPtr(m map[string]any, key string) *bool {
	if m[key] == nil {
		return nil
	}
	b := d.boolean(m, key)
	return &b
}

// integer decodes m[key], accepting the number representations of
// unstructured JSON that hold an integral value within [lo, hi].
func (d *decoder) integer(m map[string]any, key string, lo, hi int64) int64 {
	v := m[key]
	var n int64
	ok := true
	switch x := v.(type) {
	case int64:
		n = x
	case int:
		n = int64(x)
	case int32:
		n = int64(x)
	case float64:
		ok = x == math.Trunc(x) && x >= float64(lo) && x <= float64(hi)
		n = int64(x)
	case json.Number:
		i, err := strconv.ParseInt(string(x), 10, 64)
		ok = err == nil
		n = i
	default:
		ok = false
	}
	if !ok || n < lo || n > hi {
		d.failAt(key, "integer", v)
		return 0
	}
	return n
}

func (d *decoder) meta(m map[string]any, out *metav1.ObjectMeta) {
	if m == nil {
		return
	}
	d.enter("metadata")
	defer d.pop()
	out.Name = d.str(m, "name")
	out.Namespace = d.str(m, "namespace")
	if a, ok := d.object(m, "annotations"); ok {
		out.Annotations = make(map[string]string, len(a))
		d.enter("annotations")
		for k, v := range a {
			if s, ok := v.(string); ok {
				out.Annotations[k] = s
			} else if v != nil {
				d.fail(&segment{key: k, kind: segMapKey}, "string", v)
			}
		}
		d.pop()
	}
}

func (d *decoder) podSpec(m map[string]any, out *corev1.PodSpec) {
	if m == nil {
		return
	}
	d.enter("spec")
	defer d.pop()
	out.HostNetwork = d.boolean(m, "hostNetwork")
	out.HostPID = d.boolean(m, "hostPID")
	out.HostIPC = d.boolean(m, "hostIPC")
	out.HostUsers = d.boolPtr(m, "hostUsers")
	if os, ok := d.object(m, "os"); ok {
		d.enter("os")
		out.OS = &corev1.PodOS{Name: corev1.OSName(d.str(os, "name"))}
		d.pop()
	}
	if sc, ok := d.object(m, "securityContext"); ok {
		d.enter("securityContext")
		out.SecurityContext = d.podSecurityContext(sc)
		d.pop()
	}
	if l := d.list(m, "volumes"); len(l) > 0 {
		d.enter("volumes")
		out.Volumes = make([]corev1.Volume, len(l))
		for i, v := range l {
			d.index(i)
			d.volume(v, &out.Volumes[i])
			d.pop()
		}
		d.pop()
	}
	if l := d.list(m, "initContainers"); len(l) > 0 {
		d.enter("initContainers")
		out.InitContainers = make([]corev1.Container, len(l))
		for i, v := range l {
			d.index(i)
			d.container(v, &out.InitContainers[i])
			d.pop()
		}
		d.pop()
	}
	if l := d.list(m, "containers"); len(l) > 0 {
		d.enter("containers")
		out.Containers = make([]corev1.Container, len(l))
		for i, v := range l {
			d.index(i)
			d.container(v, &out.Containers[i])
			d.pop()
		}
		d.pop()
	}
	if l := d.list(m, "ephemeralContainers"); len(l) > 0 {
		d.enter("ephemeralContainers")
		out.EphemeralContainers = make([]corev1.EphemeralContainer, len(l))
		for i, v := range l {
			d.index(i)
			d.container(v, (*corev1.Container)(&out.EphemeralContainers[i].EphemeralContainerCommon))
			d.pop()
		}
		d.pop()
	}
}

// profiles decodes the security context fields that pods and containers
// share: seLinuxOptions, seccompProfile, appArmorProfile and windowsOptions.
func (d *decoder) profiles(m map[string]any) (se *corev1.SELinuxOptions, sp *corev1.SeccompProfile, ap *corev1.AppArmorProfile, wo *corev1.WindowsSecurityContextOptions) {
	if o, ok := d.object(m, "seLinuxOptions"); ok {
		d.enter("seLinuxOptions")
		se = &corev1.SELinuxOptions{
			User:  d.str(o, "user"),
			Role:  d.str(o, "role"),
			Type:  d.str(o, "type"),
			Level: d.str(o, "level"),
		}
		d.pop()
	}
	if o, ok := d.object(m, "seccompProfile"); ok {
		d.enter("seccompProfile")
		sp = &corev1.SeccompProfile{Type: corev1.SeccompProfileType(d.str(o, "type"))}
		d.pop()
	}
	if o, ok := d.object(m, "appArmorProfile"); ok {
		d.enter("appArmorProfile")
		ap = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileType(d.str(o, "type"))}
		d.pop()
	}
	if o, ok := d.object(m, "windowsOptions"); ok {
		d.enter("windowsOptions")
		wo = &corev1.WindowsSecurityContextOptions{HostProcess: d.boolPtr(o, "hostProcess")}
		d.pop()
	}
	return se, sp, ap, wo
}

func (d *decoder) podSecurityContext(m map[string]any) *corev1.PodSecurityContext {
	sc := &corev1.PodSecurityContext{}
	sc.RunAsNonRoot = d.boolPtr(m, "runAsNonRoot")
	if m["runAsUser"] != nil {
		n := d.integer(m, "runAsUser", math.MinInt64, math.MaxInt64)
		sc.RunAsUser = &n
	}
	sc.SELinuxOptions, sc.SeccompProfile, sc.AppArmorProfile, sc.WindowsOptions = d.profiles(m)
	if l := d.list(m, "sysctls"); len(l) > 0 {
		d.enter("sysctls")
		sc.Sysctls = make([]corev1.Sysctl, len(l))
		for i, v := range l {
			d.index(i)
			if o, ok := d.element(v); ok {
				sc.Sysctls[i].Name = d.str(o, "name")
			}
			d.pop()
		}
		d.pop()
	}
	return sc
}

func (d *decoder) container(v any, out *corev1.Container) {
	m, ok := d.element(v)
	if !ok {
		return
	}
	out.Name = d.str(m, "name")
	out.Image = d.str(m, "image")
	if sc, ok := d.object(m, "securityContext"); ok {
		d.enter("securityContext")
		out.SecurityContext = d.securityContext(sc)
		d.pop()
	}
	if l := d.list(m, "ports"); len(l) > 0 {
		d.enter("ports")
		out.Ports = make([]corev1.ContainerPort, len(l))
		for j, p := range l {
			d.index(j)
			if o, ok := d.element(p); ok && o["hostPort"] != nil {
				out.Ports[j].HostPort = int32(d.integer(o, "hostPort", math.MinInt32, math.MaxInt32))
			}
			d.pop()
		}
		d.pop()
	}
	out.LivenessProbe = d.probe(m, "livenessProbe")
	out.ReadinessProbe = d.probe(m, "readinessProbe")
	out.StartupProbe = d.probe(m, "startupProbe")
	if lc, ok := d.object(m, "lifecycle"); ok {
		d.enter("lifecycle")
		out.Lifecycle = &corev1.Lifecycle{
			PostStart: d.handler(lc, "postStart"),
			PreStop:   d.handler(lc, "preStop"),
		}
		d.pop()
	}
}

func (d *decoder) securityContext(m map[string]any) *corev1.SecurityContext {
	sc := &corev1.SecurityContext{}
	sc.Privileged = d.boolPtr(m, "privileged")
	sc.AllowPrivilegeEscalation = d.boolPtr(m, "allowPrivilegeEscalation")
	sc.RunAsNonRoot = d.boolPtr(m, "runAsNonRoot")
	if m["runAsUser"] != nil {
		n := d.integer(m, "runAsUser", math.MinInt64, math.MaxInt64)
		sc.RunAsUser = &n
	}
	if m["procMount"] != nil {
		pm := corev1.ProcMountType(d.str(m, "procMount"))
		sc.ProcMount = &pm
	}
	if o, ok := d.object(m, "capabilities"); ok {
		d.enter("capabilities")
		sc.Capabilities = &corev1.Capabilities{
			Add:  d.capabilities(o, "add"),
			Drop: d.capabilities(o, "drop"),
		}
		d.pop()
	}
	sc.SELinuxOptions, sc.SeccompProfile, sc.AppArmorProfile, sc.WindowsOptions = d.profiles(m)
	return sc
}

func (d *decoder) capabilities(m map[string]any, key string) []corev1.Capability {
	l := d.list(m, key)
	if len(l) == 0 {
		return nil
	}
	out := make([]corev1.Capability, len(l))
	for i, c := range l {
		if c == nil {
			continue
		}
		s, ok := c.(string)
		if !ok {
			d.enter(key)
			d.fail(&segment{index: i, kind: segIndex}, "string", c)
			d.pop()
		}
		out[i] = corev1.Capability(s)
	}
	return out
}

// hostOf decodes the host of the httpGet or tcpSocket handler m[key].
func (d *decoder) hostOf(m map[string]any, key string) (string, bool) {
	o, ok := d.object(m, key)
	if !ok {
		return "", false
	}
	d.enter(key)
	defer d.pop()
	return d.str(o, "host"), true
}

func (d *decoder) probe(m map[string]any, key string) *corev1.Probe {
	o, ok := d.object(m, key)
	if !ok {
		return nil
	}
	d.enter(key)
	defer d.pop()
	p := &corev1.Probe{}
	if h, ok := d.hostOf(o, "httpGet"); ok {
		p.HTTPGet = &corev1.HTTPGetAction{Host: h}
	}
	if h, ok := d.hostOf(o, "tcpSocket"); ok {
		p.TCPSocket = &corev1.TCPSocketAction{Host: h}
	}
	return p
}

func (d *decoder) handler(m map[string]any, key string) *corev1.LifecycleHandler {
	o, ok := d.object(m, key)
	if !ok {
		return nil
	}
	d.enter(key)
	defer d.pop()
	h := &corev1.LifecycleHandler{}
	if host, ok := d.hostOf(o, "httpGet"); ok {
		h.HTTPGet = &corev1.HTTPGetAction{Host: host}
	}
	if host, ok := d.hostOf(o, "tcpSocket"); ok {
		h.TCPSocket = &corev1.TCPSocketAction{Host: host}
	}
	return h
}

// volume records which volume sources are set: the checks only look at
// which source a volume uses, and at the path of a hostPath.
func (d *decoder) volume(v any, out *corev1.Volume) {
	m, ok := d.element(v)
	if !ok {
		return
	}
	out.Name = d.str(m, "name")
	for k, val := range m {
		if k == "name" || val == nil || !setVolumeSource(k, &out.VolumeSource) {
			continue
		}
		src, ok := val.(map[string]any)
		if !ok {
			d.failAt(k, "object", val)
			continue
		}
		if k == "hostPath" {
			d.enter(k)
			out.HostPath.Path = d.str(src, "path")
			d.pop()
		}
	}
}

// setVolumeSource marks the volume source named by its JSON key as present
// and reports whether the key names a volume source.
func setVolumeSource(key string, s *corev1.VolumeSource) bool {
	switch key {
	case "hostPath":
		s.HostPath = &corev1.HostPathVolumeSource{}
	case "emptyDir":
		s.EmptyDir = &corev1.EmptyDirVolumeSource{}
	case "gcePersistentDisk":
		s.GCEPersistentDisk = &corev1.GCEPersistentDiskVolumeSource{}
	case "awsElasticBlockStore":
		s.AWSElasticBlockStore = &corev1.AWSElasticBlockStoreVolumeSource{}
	case "gitRepo":
		s.GitRepo = &corev1.GitRepoVolumeSource{}
	case "secret":
		s.Secret = &corev1.SecretVolumeSource{}
	case "nfs":
		s.NFS = &corev1.NFSVolumeSource{}
	case "iscsi":
		s.ISCSI = &corev1.ISCSIVolumeSource{}
	case "glusterfs":
		s.Glusterfs = &corev1.GlusterfsVolumeSource{}
	case "persistentVolumeClaim":
		s.PersistentVolumeClaim = &corev1.PersistentVolumeClaimVolumeSource{}
	case "rbd":
		s.RBD = &corev1.RBDVolumeSource{}
	case "flexVolume":
		s.FlexVolume = &corev1.FlexVolumeSource{}
	case "cinder":
		s.Cinder = &corev1.CinderVolumeSource{}
	case "cephfs":
		s.CephFS = &corev1.CephFSVolumeSource{}
	case "flocker":
		s.Flocker = &corev1.FlockerVolumeSource{}
	case "downwardAPI":
		s.DownwardAPI = &corev1.DownwardAPIVolumeSource{}
	case "fc":
		s.FC = &corev1.FCVolumeSource{}
	case "azureFile":
		s.AzureFile = &corev1.AzureFileVolumeSource{}
	case "configMap":
		s.ConfigMap = &corev1.ConfigMapVolumeSource{}
	case "vsphereVolume":
		s.VsphereVolume = &corev1.VsphereVirtualDiskVolumeSource{}
	case "quobyte":
		s.Quobyte = &corev1.QuobyteVolumeSource{}
	case "azureDisk":
		s.AzureDisk = &corev1.AzureDiskVolumeSource{}
	case "photonPersistentDisk":
		s.PhotonPersistentDisk = &corev1.PhotonPersistentDiskVolumeSource{}
	case "projected":
		s.Projected = &corev1.ProjectedVolumeSource{}
	case "portworxVolume":
		s.PortworxVolume = &corev1.PortworxVolumeSource{}
	case "scaleIO":
		s.ScaleIO = &corev1.ScaleIOVolumeSource{}
	case "storageos":
		s.StorageOS = &corev1.StorageOSVolumeSource{}
	case "csi":
		s.CSI = &corev1.CSIVolumeSource{}
	case "ephemeral":
		s.Ephemeral = &corev1.EphemeralVolumeSource{}
	case "image":
		s.Image = &corev1.ImageVolumeSource{}
	default:
		return false
	}
	return true
}
