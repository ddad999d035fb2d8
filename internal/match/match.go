// Package match holds the matching primitives that every dialect shares:
// wildcard strings, kind selectors, label selectors and user subjects. It is
// pure code with no I/O.
package match

import (
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Wildcard reports whether s matches pattern, where '*' matches any run of
// characters (also empty) and '?' matches exactly one character. A pattern
// without wildcards must equal s.
func Wildcard(pattern, s string) bool {
	if !strings.ContainsAny(pattern, "*?") {
		return pattern == s
	}
	if pattern == "*" {
		return true
	}
	// Iterative matcher with backtracking on the last star: linear in
	// practice and never exponential.
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

// HasWildcard reports whether s contains '*' or '?'.
func HasWildcard(s string) bool { return strings.ContainsAny(s, "*?") }

// Kind is a parsed kind selector, as Kyverno writes them: "Pod",
// "v1/Pod", "apps/v1/Deployment", "Pod/status", "Pod.status",
// "apps/v1/Deployment/scale", "*/*". Every part may hold wildcards. A
// selector without a subresource matches only requests for the resource
// itself, not for its subresources.
type Kind struct {
	Group, Version, Kind, Subresource string
}

var versionPattern = regexp.MustCompile(`^(v\d((alpha|beta)\d)?|\*)$`)

// ParseKind parses a kind selector. Parts that are not given are "*"; the
// last part may carry the subresource after a dot.
func ParseKind(s string) Kind {
	parts := strings.Split(s, "/")
	last := parts[len(parts)-1]
	parts = append(parts[:len(parts)-1], strings.Split(last, ".")...)
	switch len(parts) {
	case 1:
		return Kind{"*", "*", parts[0], ""}
	case 2:
		switch {
		case parts[0] == "*" && parts[1] == "*":
			return Kind{"*", "*", "*", "*"}
		case parts[0] == "*" && strings.ToLower(parts[1]) == parts[1]:
			return Kind{"*", "*", "*", parts[1]}
		case versionPattern.MatchString(parts[0]):
			return Kind{"*", parts[0], parts[1], ""}
		}
		return Kind{"*", "*", parts[0], parts[1]}
	case 3:
		if versionPattern.MatchString(parts[0]) {
			return Kind{"*", parts[0], parts[1], parts[2]}
		}
		return Kind{parts[0], parts[1], parts[2], ""}
	case 4:
		return Kind{parts[0], parts[1], parts[2], parts[3]}
	}
	// More parts than any selector has: matches nothing.
	return Kind{Group: "\x00", Version: "\x00", Kind: "\x00"}
}

// Matches reports whether the selector matches a request for gvk and
// subresource ("" for the resource itself). Pod selectors also match the
// ephemeralcontainers subresource of core/v1 Pods, as Kyverno does.
func (k Kind) Matches(gvk schema.GroupVersionKind, subresource string) bool {
	if !Wildcard(k.Group, gvk.Group) || !Wildcard(k.Version, gvk.Version) || !Wildcard(k.Kind, gvk.Kind) {
		return false
	}
	if Wildcard(k.Subresource, subresource) {
		return true
	}
	return gvk.Group == "" && gvk.Version == "v1" && gvk.Kind == "Pod" && subresource == "ephemeralcontainers"
}

// String renders the selector back.
func (k Kind) String() string {
	s := k.Kind
	if k.Group != "*" || k.Version != "*" {
		s = k.Group + "/" + k.Version + "/" + k.Kind
		if k.Group == "*" {
			s = k.Version + "/" + k.Kind
		}
	}
	if k.Subresource != "" {
		s += "/" + k.Subresource
	}
	return s
}
