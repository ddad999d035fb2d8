package gatekeeper

import (
	"sort"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// fields reads typed values out of unstructured documents and collects a
// field error, with its full path, for every value of the wrong type. A
// missing or null value reads as the zero value without an error.
type fields struct {
	errs field.ErrorList
}

func (f *fields) typeError(p *field.Path, v any, want string) {
	f.errs = append(f.errs, field.TypeInvalid(p, v, "must be "+want))
}

// object returns m[key] as an object.
func (f *fields) object(m map[string]any, key string, p *field.Path) map[string]any {
	v, ok := m[key]
	if !ok || v == nil {
		return nil
	}
	o, ok := v.(map[string]any)
	if !ok {
		f.typeError(p.Child(key), v, "an object")
	}
	return o
}

// list returns m[key] as a list.
func (f *fields) list(m map[string]any, key string, p *field.Path) []any {
	v, ok := m[key]
	if !ok || v == nil {
		return nil
	}
	l, ok := v.([]any)
	if !ok {
		f.typeError(p.Child(key), v, "a list")
	}
	return l
}

// str returns m[key] as a string.
func (f *fields) str(m map[string]any, key string, p *field.Path) string {
	v, ok := m[key]
	if !ok || v == nil {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		f.typeError(p.Child(key), v, "a string")
	}
	return s
}

// boolean returns m[key] as a bool, and whether it was set.
func (f *fields) boolean(m map[string]any, key string, p *field.Path) (bool, bool) {
	v, ok := m[key]
	if !ok || v == nil {
		return false, false
	}
	b, ok := v.(bool)
	if !ok {
		f.typeError(p.Child(key), v, "a boolean")
		return false, false
	}
	return b, true
}

// strings returns m[key] as a list of strings. With nullable, null items
// read as empty strings, as Gatekeeper's nullable string lists do.
func (f *fields) strings(m map[string]any, key string, p *field.Path, nullable bool) []string {
	l := f.list(m, key, p)
	if l == nil {
		return nil
	}
	out := make([]string, 0, len(l))
	for i, e := range l {
		switch s := e.(type) {
		case string:
			out = append(out, s)
		case nil:
			if nullable {
				out = append(out, "")
				continue
			}
			f.typeError(p.Child(key).Index(i), e, "a string")
		default:
			f.typeError(p.Child(key).Index(i), e, "a string")
		}
	}
	return out
}

// only reports every key of m that is not in allowed, in sorted order.
func (f *fields) only(m map[string]any, p *field.Path, allowed ...string) {
	var extra []string
	for k := range m {
		found := false
		for _, a := range allowed {
			if k == a {
				found = true
				break
			}
		}
		if !found {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		f.errs = append(f.errs, field.Forbidden(p.Child(k), "unknown field"))
	}
}

// invalid is a field error whose message says it all, without a value.
func invalid(p *field.Path, msg string) *field.Error {
	return field.Invalid(p, field.OmitValueType{}, msg)
}
