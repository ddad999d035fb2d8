package kyverno

import (
	"sort"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/match"
)

// matcher is a compiled match or exclude block.
type matcher struct {
	any    []*filter
	all    []*filter
	single *filter // the legacy form: resources and user info inline
}

// filter is one compiled resource filter: every attribute it sets must
// hold, and within user info any role, cluster role or subject suffices.
type filter struct {
	kinds             []match.Kind
	names             []string
	namespaces        []string
	annotations       map[string]string
	selector          *match.Selector
	namespaceSelector *match.Selector
	operations        map[string]bool
	roles             []string
	clusterRoles      []string
	subjects          userInfo
	hasUserInfo       bool
	empty             bool
}

func compileMatcher(m matchResources, path *field.Path, requireKinds bool) (*matcher, field.ErrorList) {
	var errs field.ErrorList
	out := &matcher{}
	switch {
	case len(m.Any) > 0:
		for i, f := range m.Any {
			cf, ferrs := compileFilter(f.Resources, f.userInfo, path.Child("any").Index(i), requireKinds)
			errs = append(errs, ferrs...)
			out.any = append(out.any, cf)
		}
	case len(m.All) > 0:
		for i, f := range m.All {
			cf, ferrs := compileFilter(f.Resources, f.userInfo, path.Child("all").Index(i), requireKinds)
			errs = append(errs, ferrs...)
			out.all = append(out.all, cf)
		}
	default:
		cf, ferrs := compileFilter(m.Resources, m.userInfo, path, requireKinds)
		errs = append(errs, ferrs...)
		out.single = cf
	}
	if (len(m.Any) > 0 || len(m.All) > 0) && (len(m.Resources.Kinds) > 0 || m.Resources.Name != "" || len(m.Resources.Namespaces) > 0 || m.Resources.Selector != nil) {
		errs = append(errs, field.Forbidden(path.Child("resources"), "can't combine any/all with the legacy resources block"))
	}
	return out, errs
}

func compileFilter(d resourceDescription, ui userInfo, path *field.Path, requireKinds bool) (*filter, field.ErrorList) {
	var errs field.ErrorList
	f := &filter{
		namespaces:   d.Namespaces,
		annotations:  d.Annotations,
		roles:        ui.Roles,
		clusterRoles: ui.ClusterRoles,
		subjects:     ui,
	}
	f.hasUserInfo = len(ui.Roles) > 0 || len(ui.ClusterRoles) > 0 || len(ui.Subjects) > 0
	if d.Name != "" {
		f.names = append(f.names, d.Name)
	}
	f.names = append(f.names, d.Names...)
	for _, k := range d.Kinds {
		f.kinds = append(f.kinds, match.ParseKind(k))
	}
	if requireKinds && len(d.Kinds) == 0 && !f.hasUserInfo {
		errs = append(errs, field.Required(path.Child("resources", "kinds"), "at least one kind is required"))
	}
	var err error
	if f.selector, err = match.CompileSelector(d.Selector); err != nil {
		errs = append(errs, field.Invalid(path.Child("resources", "selector"), d.Selector, err.Error()))
	}
	if f.namespaceSelector, err = match.CompileSelector(d.NamespaceSelector); err != nil {
		errs = append(errs, field.Invalid(path.Child("resources", "namespaceSelector"), d.NamespaceSelector, err.Error()))
	}
	if len(d.Operations) > 0 {
		f.operations = map[string]bool{}
		for i, op := range d.Operations {
			switch op {
			case "CREATE", "UPDATE", "DELETE", "CONNECT":
				f.operations[op] = true
			default:
				errs = append(errs, field.NotSupported(path.Child("resources", "operations").Index(i), op, []string{"CREATE", "UPDATE", "DELETE", "CONNECT"}))
			}
		}
	}
	f.empty = len(f.kinds) == 0 && len(f.names) == 0 && len(f.namespaces) == 0 && len(f.annotations) == 0 &&
		d.Selector == nil && d.NamespaceSelector == nil && len(f.operations) == 0 && !f.hasUserInfo
	return f, errs
}

// subject is what a rule matches against: the resource and the request.
type subject struct {
	object          map[string]any
	gvk             schema.GroupVersionKind
	subresource     string
	operation       engine.Operation
	namespaceLabels map[string]string
	req             *engine.Request
	hasUserInfo     bool
}

// matches reports whether the filter selects the subject. With
// ignoreUserInfo the filter's roles and subjects are not checked.
func (f *filter) matches(s *subject, ignoreUserInfo bool) bool {
	if len(f.kinds) > 0 {
		ok := false
		for _, k := range f.kinds {
			if k.Matches(s.gvk, s.subresource) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	name := metaString(s.object, "name")
	if name == "" {
		name = metaString(s.object, "generateName")
	}
	if len(f.names) > 0 && !match.AnyWildcard(f.names, name) {
		return false
	}
	if len(f.namespaces) > 0 {
		ns := metaString(s.object, "namespace")
		if s.gvk.Kind == "Namespace" {
			ns = name
		}
		if !match.AnyWildcard(f.namespaces, ns) {
			return false
		}
	}
	if len(f.annotations) > 0 {
		ann := stringMap(metaField(s.object, "annotations"))
		for kp, vp := range f.annotations {
			found := false
			for k, v := range ann {
				if match.Wildcard(kp, k) && match.Wildcard(vp, v) {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
	}
	if f.selector != nil && !f.selector.Matches(stringMap(metaField(s.object, "labels"))) {
		return false
	}
	if f.namespaceSelector != nil && s.gvk.Kind != "Namespace" {
		if !f.namespaceSelector.Matches(s.namespaceLabels) {
			return false
		}
	}
	if f.operations != nil && !f.operations[string(s.operation)] {
		return false
	}
	if f.hasUserInfo && !ignoreUserInfo {
		if len(f.roles) > 0 && !intersects(f.roles, s.req.Roles) {
			return false
		}
		if len(f.clusterRoles) > 0 && !intersects(f.clusterRoles, s.req.ClusterRoles) {
			return false
		}
		if len(f.subjects.Subjects) > 0 && !match.Subjects(f.subjects.Subjects, s.req.UserInfo) {
			return false
		}
	}
	return true
}

// excludes reports whether an exclude filter removes the subject. An empty
// filter excludes nothing. User info is always checked: a request without
// user information is never excluded by roles or subjects.
func (f *filter) excludes(s *subject) bool {
	if f.empty {
		return false
	}
	return f.matches(s, false)
}

// selects reports whether a match block selects the subject.
func (m *matcher) selects(s *subject) bool {
	switch {
	case len(m.any) > 0:
		for _, f := range m.any {
			if !f.empty && f.matchesAsMatch(s) {
				return true
			}
		}
		return false
	case len(m.all) > 0:
		for _, f := range m.all {
			if f.empty || !f.matchesAsMatch(s) {
				return false
			}
		}
		return true
	default:
		return !m.single.empty && m.single.matchesAsMatch(s)
	}
}

// matchesAsMatch applies a match filter. When the request has no user
// information, Kyverno drops the filter's user info before matching, so a
// filter made only of user info is empty and matches nothing.
func (f *filter) matchesAsMatch(s *subject) bool {
	if !s.hasUserInfo && len(f.kinds) == 0 && len(f.names) == 0 && len(f.namespaces) == 0 && len(f.annotations) == 0 &&
		f.selector == nil && f.namespaceSelector == nil && f.operations == nil {
		return false
	}
	return f.matches(s, !s.hasUserInfo)
}

// rejects reports whether an exclude block removes the subject.
func (m *matcher) rejects(s *subject) bool {
	if m == nil {
		return false
	}
	switch {
	case len(m.any) > 0:
		for _, f := range m.any {
			if f.excludes(s) {
				return true
			}
		}
		return false
	case len(m.all) > 0:
		for _, f := range m.all {
			if !f.excludes(s) {
				return false
			}
		}
		return true
	default:
		return m.single.excludes(s)
	}
}

func intersects(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}

func metaField(obj map[string]any, key string) any {
	md, _ := obj["metadata"].(map[string]any)
	return md[key]
}

func metaString(obj map[string]any, key string) string {
	s, _ := metaField(obj, key).(string)
	return s
}

func stringMap(v any) map[string]string {
	m, _ := v.(map[string]any)
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, e := range m {
		if s, ok := e.(string); ok {
			out[k] = s
		}
	}
	return out
}

// targets lists the kinds and operations a rule's match block may select,
// or nil when it may select anything (a filter without kinds).
func (m *matcher) targets() []engine.Target {
	if m == nil {
		return nil
	}
	filters := m.any
	if len(m.all) > 0 {
		// Every filter must hold: the kinds of any one of them bound it.
		// Use the first filter that names kinds.
		for _, f := range m.all {
			if len(f.kinds) > 0 {
				filters = []*filter{f}
				break
			}
		}
		if len(filters) == 0 {
			return nil
		}
	}
	if m.single != nil {
		filters = []*filter{m.single}
	}
	var out []engine.Target
	for _, f := range filters {
		if len(f.kinds) == 0 {
			return nil
		}
		var ops []engine.Operation
		for op := range f.operations {
			ops = append(ops, engine.Operation(op))
		}
		sort.Slice(ops, func(i, j int) bool { return ops[i] < ops[j] })
		for _, k := range f.kinds {
			out = append(out, engine.Target{Group: k.Group, Version: k.Version, Kind: k.Kind, Subresource: "*", Operations: ops})
		}
	}
	return out
}
