package match

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestWildcard(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"*", "anything", true},
		{"", "", true},
		{"", "a", false},
		{"abc", "abc", true},
		{"abc", "abd", false},
		{"a*", "abc", true},
		{"*c", "abc", true},
		{"a*c", "ac", true},
		{"a*c", "abbbc", true},
		{"a*c", "abbbd", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"ghcr.io/kloudvin/*", "ghcr.io/kloudvin/api:v1", true},
		{"ghcr.io/kloudvin/*", "docker.io/nginx", false},
		{"*-system", "kube-system", true},
		{"*a*b*", "xxaxxbxx", true},
		{"*a*b*", "xxbxxaxx", false},
		{"a**", "a", true},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+"~"+tt.s, func(t *testing.T) {
			if got := Wildcard(tt.pattern, tt.s); got != tt.want {
				t.Errorf("Wildcard(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
			}
		})
	}
}

func TestParseKind(t *testing.T) {
	tests := []struct {
		in   string
		want Kind
	}{
		{"Pod", Kind{"*", "*", "Pod", ""}},
		{"v1/Pod", Kind{"*", "v1", "Pod", ""}},
		{"Pod/status", Kind{"*", "*", "Pod", "status"}},
		{"Pod.status", Kind{"*", "*", "Pod", "status"}},
		{"apps/v1/Deployment", Kind{"apps", "v1", "Deployment", ""}},
		{"v1/Pod/exec", Kind{"*", "v1", "Pod", "exec"}},
		{"apps/v1/Deployment/scale", Kind{"apps", "v1", "Deployment", "scale"}},
		{"networking.k8s.io/v1/Ingress", Kind{"networking.k8s.io", "v1", "Ingress", ""}},
		{"*", Kind{"*", "*", "*", ""}},
		{"*/*", Kind{"*", "*", "*", "*"}},
		{"*/status", Kind{"*", "*", "*", "status"}},
		{"batch/*/CronJob", Kind{"batch", "*", "CronJob", ""}},
		{"apps/v1/Deployment.scale", Kind{"apps", "v1", "Deployment", "scale"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ParseKind(tt.in)); diff != "" {
				t.Errorf("ParseKind(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestKindMatches(t *testing.T) {
	pod := schema.GroupVersionKind{Version: "v1", Kind: "Pod"}
	deploy := schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	tests := []struct {
		sel  string
		gvk  schema.GroupVersionKind
		sub  string
		want bool
	}{
		{"Pod", pod, "", true},
		{"Pod", pod, "status", false},
		{"Pod", pod, "ephemeralcontainers", true},
		{"*/*", pod, "status", true},
		{"Pod/status", pod, "", false},
		{"Pod/status", pod, "status", true},
		{"v1/Pod", pod, "", true},
		{"v2/Pod", pod, "", false},
		{"apps/v1/Deployment", deploy, "", true},
		{"Deployment", deploy, "", true},
		{"batch/v1/Deployment", deploy, "", false},
		{"*", deploy, "", true},
		{"Dep*", deploy, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.sel+"/"+tt.gvk.Kind+"/"+tt.sub, func(t *testing.T) {
			if got := ParseKind(tt.sel).Matches(tt.gvk, tt.sub); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSelector(t *testing.T) {
	tests := []struct {
		name   string
		sel    *metav1.LabelSelector
		labels map[string]string
		want   bool
	}{
		{"labels", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, map[string]string{"app": "web"}, true},
		{"labels mismatch", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, map[string]string{"app": "db"}, false},
		{"wildcard value", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "w*"}}, map[string]string{"app": "web"}, true},
		{"wildcard key", &metav1.LabelSelector{MatchLabels: map[string]string{"team.io/*": "*"}}, map[string]string{"team.io/owner": "x"}, true},
		{"wildcard no label", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "*"}}, nil, false},
		{"expression", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "env", Operator: metav1.LabelSelectorOpIn, Values: []string{"prod"}}}}, map[string]string{"env": "prod"}, true},
		{"empty selector", &metav1.LabelSelector{}, map[string]string{"a": "b"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := CompileSelector(tt.sel)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Matches(tt.labels); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := CompileSelector(&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Bogus"}}}); err == nil {
		t.Error("invalid operator compiled")
	}
}

func TestSubjects(t *testing.T) {
	user := authenticationv1.UserInfo{Username: "system:serviceaccount:ci:deployer", Groups: []string{"system:serviceaccounts", "devs"}}
	tests := []struct {
		name string
		subs []rbacv1.Subject
		want bool
	}{
		{"sa", []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: "ci", Name: "deployer"}}, true},
		{"sa wildcard", []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: "ci", Name: "*"}}, true},
		{"group", []rbacv1.Subject{{Kind: "Group", Name: "devs"}}, true},
		{"user", []rbacv1.Subject{{Kind: "User", Name: "alice"}}, false},
		{"none", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Subjects(tt.subs, user); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
