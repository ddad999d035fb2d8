package podsecurity

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Check is a Pod Security check that a pod failed.
type Check struct {
	// ID is the pod-security-admission check ID, for example "privileged".
	ID string
	// Control is the control name Kyverno reports for the check, for
	// example "Privileged Containers".
	Control string
	// Reason is pod-security-admission's ForbiddenReason, for example
	// "privileged" or "non-default capabilities".
	Reason string
	// Detail is pod-security-admission's ForbiddenDetail, for example
	// `container "app" must not set securityContext.privileged=true`.
	Detail string
	// Fields is the field error list, with paths relative to a Pod.
	Fields []FieldError
}

// containerNamesPattern finds the container names in a ForbiddenDetail, as
// Kyverno does to attach images to report results. It is never modified.
var containerNamesPattern = regexp.MustCompile(`container(?:s)?\s*(.*?)\s*must`)

// ContainerNames returns the names of the containers that the check's
// detail blames, as Kyverno extracts them for its policy report properties,
// or nil when the detail names none.
func (c Check) ContainerNames() []string {
	m := containerNamesPattern.FindStringSubmatch(c.Detail)
	if m == nil {
		return nil
	}
	s := strings.ReplaceAll(strings.ReplaceAll(m[1], `"`, ""), " ", "")
	return strings.Split(s, ",")
}

// Result is the outcome of evaluating a rule on a pod.
type Result struct {
	// Allowed reports whether the pod passed: no check failed, or every
	// failure was excluded.
	Allowed bool
	// Level and Version are the rule's level and version as the policy
	// spells them.
	Level, Version string
	// Checks are the failed checks that no exclusion exempted, in
	// pod-security-admission's check order. A pinned version may list a
	// check once per version of it that failed, as Kyverno does.
	Checks []Check
}

// Message returns Kyverno's rule message for the result: "Validation rule
// '<rule>' passed." or "Validation rule '<rule>' failed. It violates
// PodSecurity "<level>:<version>": (Forbidden reason: ..., field error list:
// [...])...". kind is the kind of the evaluated resource: the field paths of
// a pod controller's template are rewritten as Kyverno rewrites them
// (spec.template.spec for Deployment, DaemonSet, Job, StatefulSet,
// ReplicaSet and ReplicationController; spec.jobTemplate.spec.template.spec
// for CronJob; metadata becomes spec.template.metadata for every kind).
func (res Result) Message(ruleName, kind string) string {
	if res.Allowed {
		return "Validation rule '" + ruleName + "' passed."
	}
	var b strings.Builder
	b.Grow(len(ruleName) + len(res.Level) + len(res.Version) + 60 + formattedSize(res.Checks))
	b.WriteString("Validation rule '")
	b.WriteString(ruleName)
	b.WriteString(`' failed. It violates PodSecurity "`)
	b.WriteString(res.Level)
	b.WriteString(":")
	b.WriteString(res.Version)
	b.WriteString(`": `)
	writeChecks(&b, res.Checks, kind)
	return b.String()
}

// FormatChecks renders checks as Kyverno's pss.FormatChecksPrint does, with
// the field paths rewritten for kind as Result.Message describes.
func FormatChecks(checks []Check, kind string) string {
	var b strings.Builder
	b.Grow(formattedSize(checks))
	writeChecks(&b, checks, kind)
	return b.String()
}

// formattedSize estimates the length of the formatted checks.
func formattedSize(checks []Check) int {
	n := 0
	for _, c := range checks {
		n += len(c.Reason) + 40
		for _, e := range c.Fields {
			n += len(e.Field) + 64
		}
	}
	return n
}

func writeChecks(b *strings.Builder, checks []Check, kind string) {
	for _, c := range checks {
		b.WriteString("(Forbidden reason: ")
		b.WriteString(c.Reason)
		b.WriteString(", field error list: [")
		for i, e := range c.Fields {
			if i > 0 {
				b.WriteString(", ")
			}
			e.writeTo(b, convertField(e.Field, kind))
		}
		b.WriteString("])")
	}
}

// convertField rewrites a pod field path for the resource kind, replacing
// every occurrence of "spec" and "metadata" as Kyverno's handler does.
func convertField(f, kind string) string {
	switch kind {
	case "DaemonSet", "Deployment", "Job", "StatefulSet", "ReplicaSet", "ReplicationController":
		f = strings.ReplaceAll(f, "spec", "spec.template.spec")
	case "CronJob":
		f = strings.ReplaceAll(f, "spec", "spec.jobTemplate.spec.template.spec")
	}
	return strings.ReplaceAll(f, "metadata", "spec.template.metadata")
}

// PodTemplate returns the metadata and spec that Kyverno evaluates for a
// resource: those of a Pod; the pod template's for a Deployment, DaemonSet,
// Job, StatefulSet, ReplicaSet or ReplicationController; and for a CronJob
// the job template's metadata with the pod template's spec, as Kyverno's
// handler takes them. Other kinds are an error, as in Kyverno. A missing
// part is nil.
func PodTemplate(obj map[string]any) (meta, spec map[string]any, err error) {
	kind, _ := obj["kind"].(string)
	switch kind {
	case "Pod":
		meta, _ = obj["metadata"].(map[string]any)
		spec, _ = obj["spec"].(map[string]any)
	case "DaemonSet", "Deployment", "Job", "StatefulSet", "ReplicaSet", "ReplicationController":
		tmpl, _ := nestedMap(obj, "spec", "template")
		meta, _ = tmpl["metadata"].(map[string]any)
		spec, _ = tmpl["spec"].(map[string]any)
	case "CronJob":
		job, _ := nestedMap(obj, "spec", "jobTemplate")
		meta, _ = job["metadata"].(map[string]any)
		spec, _ = nestedMap(job, "spec", "template", "spec")
	default:
		return nil, nil, fmt.Errorf("pod security cannot evaluate kind %q: could not find correct resource type", kind)
	}
	return meta, spec, nil
}

func nestedMap(m map[string]any, keys ...string) (map[string]any, bool) {
	for _, k := range keys {
		next, ok := m[k].(map[string]any)
		if !ok {
			return nil, false
		}
		m = next
	}
	return m, true
}

// EvaluateResource evaluates the rule on a Pod or pod controller (see
// PodTemplate). Render the result with Result.Message and the resource's kind.
func (r *Rule) EvaluateResource(obj map[string]any) (Result, error) {
	meta, spec, err := PodTemplate(obj)
	if err != nil {
		return Result{}, err
	}
	return r.Evaluate(meta, spec)
}

// Evaluate decodes a pod's (or pod template's) metadata and spec and
// evaluates the rule on them; see DecodePod and EvaluatePod. Callers must
// still decide whether the rule applies to the resource (match, exclude,
// preconditions) and handle a decode error as Kyverno does: as a rule error.
func (r *Rule) Evaluate(podMeta, podSpec map[string]any) (Result, error) {
	p, err := DecodePod(podMeta, podSpec)
	if err != nil {
		return Result{}, fmt.Errorf("failed to decode pod for pod security evaluation: %w", err)
	}
	return r.EvaluatePod(p), nil
}

// EvaluatePod runs the rule's checks on the pod and applies its exclusions.
func (r *Rule) EvaluatePod(p *Pod) Result {
	results := r.run(&p.meta, &p.spec, "")
	if len(r.exclusions) > 0 {
		results = r.exclude(results, p, r.exclusions)
	}
	return r.result(results)
}

// ApplyExclusions applies further exclusions to a failed result, as Kyverno
// applies the podSecurity exclusions of matching PolicyExceptions after the
// rule failed. p must be the pod that produced res. If the returned result
// is allowed, Kyverno reports the rule as skipped by the exceptions.
func (r *Rule) ApplyExclusions(res Result, p *Pod, exclusions []Exclusion) Result {
	if res.Allowed || len(exclusions) == 0 {
		return res
	}
	results := make([]result, len(res.Checks))
	for i, c := range res.Checks {
		order := len(r.checks) // a check the rule does not run sorts last
		if j := slices.IndexFunc(r.checks, func(f checkFn) bool { return f.id == c.ID }); j >= 0 {
			order = r.checks[j].order
		}
		results[i] = result{id: c.ID, order: order, reason: c.Reason, detail: c.Detail, errs: slices.Clone(c.Fields)}
	}
	return r.result(r.exclude(results, p, exclusions))
}

// result is a failed check during evaluation.
type result struct {
	id             string
	order          int
	reason, detail string
	errs           []FieldError
}

func (r *Rule) result(results []result) Result {
	res := Result{Allowed: len(results) == 0, Level: r.level, Version: r.version}
	if len(results) > 0 {
		res.Checks = make([]Check, len(results))
		for i, x := range results {
			res.Checks[i] = Check{ID: x.id, Control: ControlName(x.id), Reason: x.reason, Detail: x.detail, Fields: x.errs}
		}
	}
	return res
}

// run evaluates the rule's check versions on a pod and returns the failures.
// When control is set, only that control's checks run.
func (r *Rule) run(meta *metav1.ObjectMeta, spec *corev1.PodSpec, control string) []result {
	var out []result
	for i := range r.checks {
		c := &r.checks[i]
		if control != "" && c.control != control {
			continue
		}
		res := c.run(meta, spec)
		if res.Allowed {
			continue
		}
		reason := res.ForbiddenReason
		if reason == "" {
			reason = "unknown forbidden reason"
		}
		errs := c.errors(meta, spec, c.version)
		if errs == nil {
			errs = []FieldError{}
		}
		out = append(out, result{id: c.id, order: c.order, reason: reason, detail: res.ForbiddenDetail, errs: errs})
	}
	return out
}

// exclude applies exclusions one after the other, as Kyverno's
// ApplyPodSecurityExclusion does: each exclusion evaluates the checks of its
// control on the part of the pod it covers (the pod without its containers,
// or only the containers whose image matches), and every field error found
// there removes one matching field error from the pod's results; a check
// left without field errors passes.
func (r *Rule) exclude(results []result, p *Pod, exclusions []Exclusion) []result {
	for i := range exclusions {
		ex := &exclusions[i]
		// Kyverno keeps the results in a map keyed by check ID.
		results = lastPerID(results)
		if !slices.ContainsFunc(results, func(x result) bool { return ControlName(x.id) == ex.ControlName }) {
			continue
		}
		if len(ex.Images) == 0 {
			spec := p.spec
			spec.Containers = []corev1.Container{{Name: "fake"}}
			spec.InitContainers = nil
			spec.EphemeralContainers = nil
			results = exempt(results, r.run(&p.meta, &spec, ex.ControlName), ex, p, nil)
			continue
		}
		m := matchingContainers(p, ex.Images)
		results = exempt(results, r.run(&m.meta, &m.spec, ex.ControlName), ex, p, m)
	}
	return results
}

// lastPerID keeps the last result of every check ID, in check order.
func lastPerID(results []result) []result {
	out := make([]result, 0, len(results))
	for i, x := range results {
		last := true
		for _, y := range results[i+1:] {
			if y.id == x.id {
				last = false
				break
			}
		}
		if last {
			out = append(out, x)
		}
	}
	slices.SortStableFunc(out, func(a, b result) int { return a.order - b.order })
	return out
}

// matchingContainers returns a pod with only the name and namespace of p
// and the containers of p whose image matches one of the patterns.
func matchingContainers(p *Pod, images []string) *Pod {
	m := &Pod{meta: metav1.ObjectMeta{Name: p.meta.Name, Namespace: p.meta.Namespace}}
	for _, c := range p.spec.Containers {
		if matchAny(images, c.Image) {
			m.spec.Containers = append(m.spec.Containers, c)
		}
	}
	for _, c := range p.spec.InitContainers {
		if matchAny(images, c.Image) {
			m.spec.InitContainers = append(m.spec.InitContainers, c)
		}
	}
	for _, c := range p.spec.EphemeralContainers {
		if matchAny(images, c.Image) {
			m.spec.EphemeralContainers = append(m.spec.EphemeralContainers, c)
		}
	}
	return m
}

// exempt removes from results the field errors that an exclusion covers.
// excluded are the failures found on the covered part of the pod; matching
// is that part for a container-level exclusion (images set), else nil.
func exempt(results, excluded []result, ex *Exclusion, p, matching *Pod) []result {
	containerLevel := matching != nil
	// The parsed fields of the results' errors, kept in step with them.
	parsed := map[string][]parsedField{}
	for _, x := range excluded {
		for _, xe := range x.errs {
			xf := parseField(xe.Field, containerLevel)
			if ex.RestrictedField != "" && xf.field != ex.RestrictedField {
				continue
			}
			if len(ex.Values) > 0 && !allMatch(ex.Values, xe.badValues()) {
				continue
			}
			d := slices.IndexFunc(results, func(y result) bool { return y.id == x.id })
			if d < 0 {
				continue
			}
			var xName string
			if xf.container {
				xName = containerName(matching, xf)
			}
			errs := results[d].errs
			fields, ok := parsed[x.id]
			if !ok {
				fields = make([]parsedField, len(errs))
				for i, de := range errs {
					fields[i] = parseField(de.Field, containerLevel)
				}
			}
			for i, df := range fields {
				if xf.field != df.field || (df.container && xName != containerName(p, df)) {
					continue
				}
				// Kyverno removes by moving the last error into the hole.
				last := len(errs) - 1
				errs[i], fields[i] = errs[last], fields[last]
				errs, fields = errs[:last], fields[:last]
				break
			}
			results[d].errs = errs
			parsed[x.id] = fields
			if len(errs) == 0 {
				results = slices.Delete(results, d, d+1)
			}
		}
	}
	return results
}

func allMatch(patterns, values []string) bool {
	for _, v := range values {
		if !matchAny(patterns, v) {
			return false
		}
	}
	return true
}

// parsedField is a field path with its indexes replaced by "*".
type parsedField struct {
	field string
	// container is set for a path into a container when container-level
	// parsing was asked for; kind and index then locate the container.
	container bool
	kind      string
	index     int
}

// parseField replaces every run of digits in a field path with "*", as
// Kyverno does. With containerLevel it also reports whether the path's
// second word is containers, initContainers or ephemeralContainers, and the
// first index in the path.
func parseField(f string, containerLevel bool) parsedField {
	var b strings.Builder
	out := parsedField{index: -1}
	word := 0
	for i := 0; i < len(f); {
		c := f[i]
		switch {
		case c >= '0' && c <= '9':
			j := i
			for j < len(f) && f[j] >= '0' && f[j] <= '9' {
				j++
			}
			if out.index < 0 {
				n, err := strconv.Atoi(f[i:j])
				if err != nil {
					n = 0
				}
				out.index = n
			}
			b.WriteByte('*')
			i = j
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(f) && (f[j] >= 'a' && f[j] <= 'z' || f[j] >= 'A' && f[j] <= 'Z') {
				j++
			}
			word++
			if word == 2 {
				out.kind = f[i:j]
			}
			b.WriteString(f[i:j])
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	out.field = b.String()
	if containerLevel {
		switch out.kind {
		case "containers", "initContainers", "ephemeralContainers":
			out.container = out.index >= 0
		}
	}
	return out
}

// containerName returns the name of the container a parsed field points
// into, or "" if there is none.
func containerName(p *Pod, f parsedField) string {
	i := f.index
	switch f.kind {
	case "containers":
		if i < len(p.spec.Containers) {
			return p.spec.Containers[i].Name
		}
	case "initContainers":
		if i < len(p.spec.InitContainers) {
			return p.spec.InitContainers[i].Name
		}
	case "ephemeralContainers":
		if i < len(p.spec.EphemeralContainers) {
			return p.spec.EphemeralContainers[i].Name
		}
	}
	return ""
}

// matchAny reports whether s matches one of the wildcard patterns.
func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if wildcardMatch(p, s) {
			return true
		}
	}
	return false
}

// wildcardMatch reports whether s matches pattern, where '*' matches any
// run of characters (also empty) and '?' exactly one character, as
// Kyverno's wildcard matching does for images and values.
func wildcardMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
