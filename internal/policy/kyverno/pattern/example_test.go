package pattern_test

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/json"

	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/pattern"
)

func mustDecode(s string) any {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		panic(err)
	}
	return v
}

func ExampleValidate() {
	pod := mustDecode(`{"spec": {"containers": [
		{"name": "web", "image": "nginx:1.27"},
		{"name": "debug", "image": "busybox:latest", "imagePullPolicy": "IfNotPresent"}]}}`)
	// Containers using the latest tag must always pull their image.
	p := mustDecode(`{"spec": {"containers": [{"(image)": "*:latest", "imagePullPolicy": "Always"}]}}`)

	err := pattern.Validate(pod, p)
	r := pattern.Respond("latest-must-pull", "Pull latest images always", err)
	fmt.Println(r.Status)
	fmt.Println(r.Message)
	// Output:
	// fail
	// validation error: Pull latest images always. rule latest-must-pull failed at path /spec/containers/1/imagePullPolicy/
}

func ExampleRespondAny() {
	svc := mustDecode(`{"spec": {"type": "NodePort"}}`)
	anyPattern := []any{
		mustDecode(`{"spec": {"type": "ClusterIP"}}`),
		mustDecode(`{"spec": {"type": "LoadBalancer"}}`),
	}
	r := pattern.RespondAny("service-type", "Only ClusterIP or LoadBalancer", pattern.ValidateAny(svc, anyPattern))
	fmt.Println(r.Message)
	// Output:
	// validation error: Only ClusterIP or LoadBalancer. rule service-type[0] failed at path /spec/type/ rule service-type[1] failed at path /spec/type/
}

func ExampleMatchValue() {
	fmt.Println(pattern.MatchValue("1500Mi", "<=2Gi"))
	fmt.Println(pattern.MatchValue(int64(8080), "8000-8999"))
	fmt.Println(pattern.MatchValue(nil, "?*"))
	// Output:
	// true
	// true
	// false
}

// restricted is a typical Pod Security pattern from the Kyverno policy
// library.
const restricted = `{"spec": {
	"=(ephemeralContainers)": [{"=(securityContext)": {"=(seLinuxOptions)": {"X(role)": "null", "X(user)": "null"}, "=(privileged)": "false", "=(allowPrivilegeEscalation)": "false"}}],
	"=(initContainers)": [{"=(securityContext)": {"=(seLinuxOptions)": {"X(role)": "null", "X(user)": "null"}, "=(privileged)": "false", "=(allowPrivilegeEscalation)": "false"}}],
	"=(securityContext)": {"=(seLinuxOptions)": {"X(role)": "null", "X(user)": "null"}},
	"containers": [{"=(securityContext)": {"=(seLinuxOptions)": {"X(role)": "null", "X(user)": "null"}, "=(privileged)": "false", "allowPrivilegeEscalation": "false", "=(ports)": [{"=(hostPort)": 0}]}, "image": "!*:latest", "resources": {"limits": {"memory": "<=2Gi", "cpu": "?*"}}}]
}}`

func podWith(containers int) any {
	var cs []string
	for i := 0; i < containers; i++ {
		cs = append(cs, fmt.Sprintf(`{"name": "c%d", "image": "registry.example.com/app:%d", "ports": [{"containerPort": 80}],
			"securityContext": {"privileged": false, "allowPrivilegeEscalation": false},
			"resources": {"limits": {"memory": "512Mi", "cpu": "500m"}}}`, i, i))
	}
	return mustDecode(`{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [` + strings.Join(cs, ",") + `]}}`)
}

func BenchmarkValidate(b *testing.B) {
	p := pattern.Compile(mustDecode(restricted))
	for _, n := range []int{1, 3, 10} {
		pod := podWith(n)
		b.Run(fmt.Sprintf("containers=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := p.Validate(pod); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCompileAndValidate(b *testing.B) {
	raw := mustDecode(restricted)
	pod := podWith(3)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := pattern.Validate(pod, raw); err != nil {
			b.Fatal(err)
		}
	}
}
