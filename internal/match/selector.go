package match

import (
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Selector is a compiled label selector. Kyverno lets matchLabels keys and
// values hold wildcards; such a selector is resolved against each label set
// before it is evaluated.
type Selector struct {
	selector  labels.Selector
	wildcards map[string]string // matchLabels entries with wildcards
	rest      *metav1.LabelSelector
}

// CompileSelector compiles ls. A nil selector compiles to nil, which
// matches nothing (callers decide what an absent selector means).
func CompileSelector(ls *metav1.LabelSelector) (*Selector, error) {
	if ls == nil {
		return nil, nil
	}
	s := &Selector{}
	plain := ls.DeepCopy()
	for k, v := range ls.MatchLabels {
		if HasWildcard(k) || HasWildcard(v) {
			if s.wildcards == nil {
				s.wildcards = map[string]string{}
			}
			s.wildcards[k] = v
			delete(plain.MatchLabels, k)
		}
	}
	sel, err := metav1.LabelSelectorAsSelector(plain)
	if err != nil {
		return nil, fmt.Errorf("invalid label selector: %w", err)
	}
	s.selector = sel
	return s, nil
}

// Matches reports whether the label set matches. A wildcard entry matches
// when some label's key and value match the entry's key and value patterns.
func (s *Selector) Matches(set map[string]string) bool {
	if s == nil {
		return false
	}
	for kp, vp := range s.wildcards {
		found := false
		for k, v := range set {
			if Wildcard(kp, k) && Wildcard(vp, v) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return s.selector.Matches(labels.Set(set))
}

// Subjects reports whether the user is one of the subjects: a User by name,
// a Group the user belongs to, or a ServiceAccount by namespace and name.
// Names may hold wildcards.
func Subjects(subjects []rbacv1.Subject, user authenticationv1.UserInfo) bool {
	for _, sub := range subjects {
		switch sub.Kind {
		case rbacv1.ServiceAccountKind:
			if Wildcard("system:serviceaccount:"+sub.Namespace+":"+sub.Name, user.Username) {
				return true
			}
		case rbacv1.GroupKind:
			for _, g := range user.Groups {
				if Wildcard(sub.Name, g) {
					return true
				}
			}
		case rbacv1.UserKind:
			if Wildcard(sub.Name, user.Username) {
				return true
			}
		}
	}
	return false
}

// AnyWildcard reports whether any pattern matches s.
func AnyWildcard(patterns []string, s string) bool {
	for _, p := range patterns {
		if Wildcard(p, s) {
			return true
		}
	}
	return false
}
