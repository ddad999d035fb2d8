// Package podsecurity implements Kyverno's validate.podSecurity subrule: a
// Pod Security Standards profile (level baseline, restricted or privileged,
// at a version "latest" or "v1.x") evaluated with
// k8s.io/pod-security-admission, minus the controls that the rule's
// exclusions exempt, by control name and, for container-level fields, by
// image, restricted field and values.
//
// The verdicts, the selection of checks per level and version, the
// exclusion semantics and the failure message follow Kyverno's pkg/pss and
// its validate.podSecurity handler, including their quirks: every check of
// the level runs (a restricted check does not replace the baseline check it
// overrides in pod-security-admission), a pinned version runs every version
// of a check up to it, and a "privileged" level runs all checks as Kyverno
// does. Only the order of the failing checks differs where Kyverno's is
// random (after exclusions): they are sorted in pod-security-admission's
// check order.
package podsecurity

import (
	"maps"
	"slices"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// Control names that an exclusion may name, as Kyverno's CRD enumerates them.
const (
	ControlHostProcess              = "HostProcess"
	ControlHostNamespaces           = "Host Namespaces"
	ControlPrivilegedContainers     = "Privileged Containers"
	ControlCapabilities             = "Capabilities"
	ControlHostPathVolumes          = "HostPath Volumes"
	ControlHostPorts                = "Host Ports"
	ControlAppArmor                 = "AppArmor"
	ControlSELinux                  = "SELinux"
	ControlProcMountType            = "/proc Mount Type"
	ControlSeccomp                  = "Seccomp"
	ControlSysctls                  = "Sysctls"
	ControlVolumeTypes              = "Volume Types"
	ControlPrivilegeEscalation      = "Privilege Escalation"
	ControlRunningAsNonRoot         = "Running as Non-root"
	ControlRunningAsNonRootUser     = "Running as Non-root user"
	ControlHostProbesLifecycleHooks = "Host Probes / Lifecycle Hooks"
)

// Kyverno's policy validation messages.
const (
	errImagesRequired          = "exclude.images must be specified for the container level control"
	errImagesForbidden         = "exclude.images must not be specified for the pod level control"
	errControlNotAtLevel       = "Invalid control name defined at the given level"
	errValuesRequired          = "values is required"
	errRestrictedFieldRequired = "restrictedField is required"
	errVersion                 = `must be "latest" or "v1.x"`
)

// ControlNames lists every control name an exclusion may use, in the order
// of Kyverno's CRD enum.
func ControlNames() []string {
	return []string{
		ControlHostProcess, ControlHostNamespaces, ControlPrivilegedContainers, ControlCapabilities,
		ControlHostPathVolumes, ControlHostPorts, ControlAppArmor, ControlSELinux, ControlProcMountType,
		ControlSeccomp, ControlSysctls, ControlVolumeTypes, ControlPrivilegeEscalation,
		ControlRunningAsNonRoot, ControlRunningAsNonRootUser, ControlHostProbesLifecycleHooks,
	}
}

// CheckIDs returns the pod-security-admission check IDs that a control name
// stands for, or nil for an unknown name.
func CheckIDs(control string) []string {
	switch control {
	case ControlCapabilities:
		return []string{"capabilities_baseline", "capabilities_restricted"}
	case ControlSeccomp:
		return []string{"seccompProfile_baseline", "seccompProfile_restricted"}
	case ControlPrivilegedContainers:
		return []string{"privileged"}
	case ControlHostPorts:
		return []string{"hostPorts"}
	case ControlProcMountType:
		return []string{"procMount", "procMount_restricted"}
	case ControlHostProbesLifecycleHooks:
		return []string{"hostProbesAndHostLifecycle"}
	case ControlHostProcess:
		return []string{"windowsHostProcess"}
	case ControlSELinux:
		return []string{"seLinuxOptions"}
	case ControlHostNamespaces:
		return []string{"hostNamespaces"}
	case ControlHostPathVolumes:
		return []string{"hostPathVolumes"}
	case ControlSysctls:
		return []string{"sysctls"}
	case ControlAppArmor:
		return []string{"appArmorProfile"}
	case ControlPrivilegeEscalation:
		return []string{"allowPrivilegeEscalation"}
	case ControlRunningAsNonRoot:
		return []string{"runAsNonRoot"}
	case ControlRunningAsNonRootUser:
		return []string{"runAsUser"}
	case ControlVolumeTypes:
		return []string{"restrictedVolumes"}
	}
	return nil
}

// ControlName returns the control name of a pod-security-admission check ID,
// for example "Privileged Containers" for "privileged", or "" if unknown.
func ControlName(checkID string) string {
	switch checkID {
	case "capabilities_baseline", "capabilities_restricted":
		return ControlCapabilities
	case "seccompProfile_baseline", "seccompProfile_restricted":
		return ControlSeccomp
	case "privileged":
		return ControlPrivilegedContainers
	case "hostPorts":
		return ControlHostPorts
	case "procMount", "procMount_restricted":
		return ControlProcMountType
	case "hostProbesAndHostLifecycle":
		return ControlHostProbesLifecycleHooks
	case "windowsHostProcess":
		return ControlHostProcess
	case "seLinuxOptions":
		return ControlSELinux
	case "hostNamespaces":
		return ControlHostNamespaces
	case "hostPathVolumes":
		return ControlHostPathVolumes
	case "sysctls":
		return ControlSysctls
	case "appArmorProfile":
		return ControlAppArmor
	case "allowPrivilegeEscalation":
		return ControlPrivilegeEscalation
	case "runAsNonRoot":
		return ControlRunningAsNonRoot
	case "runAsUser":
		return ControlRunningAsNonRootUser
	case "restrictedVolumes":
		return ControlVolumeTypes
	}
	return ""
}

// containerLevel reports whether an exclusion of the control must name images.
func containerLevel(control string) bool {
	switch control {
	case ControlCapabilities, ControlPrivilegedContainers, ControlHostPorts, ControlProcMountType,
		ControlPrivilegeEscalation, ControlHostProbesLifecycleHooks:
		return true
	}
	return false
}

// podLevel reports whether an exclusion of the control must not name images.
func podLevel(control string) bool {
	switch control {
	case ControlHostNamespaces, ControlHostPathVolumes, ControlSysctls, ControlVolumeTypes:
		return true
	}
	return false
}

// restrictedOnly reports whether a control exists only in the restricted
// profile, so that a baseline rule may not exclude it.
func restrictedOnly(control string) bool {
	switch control {
	case ControlVolumeTypes, ControlPrivilegeEscalation, ControlRunningAsNonRoot, ControlRunningAsNonRootUser:
		return true
	}
	return false
}

// Exclusion exempts a control, for all containers or for the containers
// whose image matches, and optionally only for one restricted field and
// values. It mirrors Kyverno's PodSecurityStandard.
type Exclusion struct {
	// ControlName is a control name, one of ControlNames.
	ControlName string
	// Images are image patterns ('*' and '?' wildcards). When set, the
	// exclusion applies to the matching containers only; when empty, to the
	// pod.
	Images []string
	// RestrictedField narrows the exclusion to one field, written with [*]
	// for indexes, for example "spec.containers[*].securityContext.capabilities.add".
	RestrictedField string
	// Values are the allowed bad values (wildcards allowed); set exactly
	// when RestrictedField is.
	Values []string
}

// Rule is a compiled podSecurity subrule. It is immutable and safe for
// concurrent use.
type Rule struct {
	// level and version are the policy's strings, as the message shows them.
	level, version string
	checks         []checkFn
	exclusions     []Exclusion
}

// checkFn is one check version that the rule runs.
type checkFn struct {
	id      string
	control string
	order   int // index of the check in policy.DefaultChecks
	version api.Version
	run     policy.CheckPodFn
	errors  errorsFn
}

// Level returns the level as the policy spells it.
func (r *Rule) Level() string { return r.level }

// Version returns the version as the policy spells it ("" when omitted).
func (r *Rule) Version() string { return r.version }

// Exclusions returns a copy of the rule's exclusions.
func (r *Rule) Exclusions() []Exclusion {
	if len(r.exclusions) == 0 {
		return nil
	}
	out := make([]Exclusion, len(r.exclusions))
	for i, ex := range r.exclusions {
		ex.Images = slices.Clone(ex.Images)
		ex.Values = slices.Clone(ex.Values)
		out[i] = ex
	}
	return out
}

// Compile validates a podSecurity block (unstructured JSON: level, version,
// exclude) found at fldPath and prepares it for evaluation. The errors name
// the offending fields and cover every problem found, as Kyverno's CRD
// schema and policy validation report them. An omitted version means
// "latest" (the message still shows it empty, as Kyverno's does); an omitted
// level is accepted, as Kyverno's schema does, and like "privileged" runs
// every check.
func Compile(raw any, fldPath *field.Path) (*Rule, field.ErrorList) {
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, field.ErrorList{field.TypeInvalid(fldPath, raw, "must be an object")}
	}
	var errs field.ErrorList
	r := &Rule{}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		p := fldPath.Child(k)
		switch k {
		case "level":
			s, ok := v.(string)
			if !ok && v != nil {
				errs = append(errs, field.TypeInvalid(p, v, "must be a string"))
				continue
			}
			r.level = s
		case "version":
			s, ok := v.(string)
			if !ok && v != nil {
				errs = append(errs, field.TypeInvalid(p, v, "must be a string"))
				continue
			}
			r.version = s
		case "exclude":
		default:
			errs = append(errs, field.NotSupported(fldPath, k, []string{"level", "version", "exclude"}))
		}
	}
	switch api.Level(r.level) {
	case "", api.LevelPrivileged, api.LevelBaseline, api.LevelRestricted:
	default:
		errs = append(errs, field.NotSupported(fldPath.Child("level"), r.level,
			[]string{string(api.LevelPrivileged), string(api.LevelBaseline), string(api.LevelRestricted)}))
	}
	version := api.LatestVersion()
	if r.version != "" && r.version != "latest" {
		v, err := api.ParseVersion(r.version)
		if err != nil {
			errs = append(errs, field.Invalid(fldPath.Child("version"), r.version, errVersion))
		} else {
			version = v
		}
	}
	excl, exclErrs := compileExclusions(m["exclude"], fldPath.Child("exclude"), api.Level(r.level))
	errs = append(errs, exclErrs...)
	if len(errs) > 0 {
		return nil, errs
	}
	r.exclusions = excl
	r.checks = selectChecks(api.Level(r.level), version)
	return r, nil
}

// CompileExclusions validates a list of exclusions, such as the podSecurity
// list of a Kyverno PolicyException, found at fldPath.
func CompileExclusions(raw any, fldPath *field.Path) ([]Exclusion, field.ErrorList) {
	return compileExclusions(raw, fldPath, "")
}

func compileExclusions(raw any, fldPath *field.Path, level api.Level) ([]Exclusion, field.ErrorList) {
	if raw == nil {
		return nil, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, field.ErrorList{field.TypeInvalid(fldPath, raw, "must be an array")}
	}
	var errs field.ErrorList
	out := make([]Exclusion, 0, len(list))
	for i, item := range list {
		p := fldPath.Index(i)
		m, ok := item.(map[string]any)
		if !ok {
			errs = append(errs, field.TypeInvalid(p, item, "must be an object"))
			continue
		}
		var ex Exclusion
		for _, k := range slices.Sorted(maps.Keys(m)) {
			v := m[k]
			switch k {
			case "controlName":
				s, ok := v.(string)
				if !ok {
					errs = append(errs, field.TypeInvalid(p.Child(k), v, "must be a string"))
				}
				ex.ControlName = s
			case "restrictedField":
				s, ok := v.(string)
				if !ok && v != nil {
					errs = append(errs, field.TypeInvalid(p.Child(k), v, "must be a string"))
				}
				ex.RestrictedField = s
			case "images", "values":
				l, lerrs := stringList(v, p.Child(k))
				errs = append(errs, lerrs...)
				if k == "images" {
					ex.Images = l
				} else {
					ex.Values = l
				}
			default:
				errs = append(errs, field.NotSupported(p, k, []string{"controlName", "images", "restrictedField", "values"}))
			}
		}
		switch {
		case ex.ControlName == "":
			errs = append(errs, field.Required(p.Child("controlName"), ""))
		case CheckIDs(ex.ControlName) == nil:
			errs = append(errs, field.NotSupported(p.Child("controlName"), ex.ControlName, ControlNames()))
		case containerLevel(ex.ControlName) && len(ex.Images) == 0:
			errs = append(errs, field.Invalid(p.Child("controlName"), ex.ControlName, errImagesRequired))
		case podLevel(ex.ControlName) && len(ex.Images) != 0:
			errs = append(errs, field.Invalid(p.Child("controlName"), ex.ControlName, errImagesForbidden))
		}
		if level == api.LevelBaseline && restrictedOnly(ex.ControlName) {
			errs = append(errs, field.Invalid(p.Child("controlName"), ex.ControlName, errControlNotAtLevel))
		}
		if ex.RestrictedField != "" && len(ex.Values) == 0 {
			errs = append(errs, field.Forbidden(p.Child("values"), errValuesRequired))
		}
		if ex.RestrictedField == "" && len(ex.Values) != 0 {
			errs = append(errs, field.Forbidden(p.Child("restrictedField"), errRestrictedFieldRequired))
		}
		out = append(out, ex)
	}
	return out, errs
}

func stringList(v any, p *field.Path) ([]string, field.ErrorList) {
	if v == nil {
		return nil, nil
	}
	l, ok := v.([]any)
	if !ok {
		return nil, field.ErrorList{field.TypeInvalid(p, v, "must be an array of strings")}
	}
	var errs field.ErrorList
	out := make([]string, 0, len(l))
	for i, e := range l {
		s, ok := e.(string)
		if !ok {
			errs = append(errs, field.TypeInvalid(p.Index(i), e, "must be a string"))
			continue
		}
		out = append(out, s)
	}
	return out, errs
}

// selectChecks lists the check versions Kyverno runs for a level and
// version: for "latest", the newest version of every check; for a pinned
// version, every version of every check that is not newer than it. A
// baseline level runs the baseline checks only, any other level runs all.
func selectChecks(level api.Level, version api.Version) []checkFn {
	var out []checkFn
	for order, c := range policy.DefaultChecks() {
		if level == api.LevelBaseline && c.Level != api.LevelBaseline {
			continue
		}
		id := string(c.ID)
		errFn := fieldErrors(id)
		if errFn == nil {
			errFn = noFieldErrors
		}
		if version.Latest() {
			newest := c.Versions[0]
			for _, vc := range c.Versions[1:] {
				if !vc.MinimumVersion.Older(newest.MinimumVersion) {
					newest = vc
				}
			}
			out = append(out, checkFn{id: id, control: ControlName(id), order: order, version: newest.MinimumVersion, run: newest.CheckPod, errors: errFn})
			continue
		}
		for _, vc := range c.Versions {
			if version.Older(vc.MinimumVersion) {
				continue
			}
			out = append(out, checkFn{id: id, control: ControlName(id), order: order, version: vc.MinimumVersion, run: vc.CheckPod, errors: errFn})
		}
	}
	return out
}
