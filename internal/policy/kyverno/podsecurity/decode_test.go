package podsecurity

import (
	"encoding/json"
	"errors"
	"math/rand"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	sigsjson "sigs.k8s.io/json"
)

// checkOutcome is everything evaluation takes from one check version.
type checkOutcome struct {
	Allowed        bool
	Reason, Detail string
	Errors         []FieldError
}

// outcomes runs every version of every check on a pod.
func outcomes(meta *metav1.ObjectMeta, spec *corev1.PodSpec) []checkOutcome {
	var out []checkOutcome
	for _, c := range policy.DefaultChecks() {
		for _, v := range c.Versions {
			res := v.CheckPod(meta, spec)
			o := checkOutcome{Allowed: res.Allowed, Reason: res.ForbiddenReason, Detail: res.ForbiddenDetail}
			if !res.Allowed {
				o.Errors = fieldErrors(string(c.ID))(meta, spec, v.MinimumVersion)
			}
			out = append(out, o)
		}
	}
	return out
}

// toUnstructured round-trips a value through JSON into unstructured values,
// as an admission request or a manifest file provides them.
func toUnstructured(t testing.TB, v any) map[string]any {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := utiljson.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestDecodeMatchesTyped checks that decoding unstructured pods keeps every
// field the checks read: the checks see the same pod as with corev1 types.
func TestDecodeMatchesTyped(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for i := range 2000 {
		meta, spec := randomPod(rng)
		p, err := DecodePod(toUnstructured(t, meta), toUnstructured(t, spec))
		if err != nil {
			t.Fatalf("pod %d: %v", i, err)
		}
		if diff := cmp.Diff(outcomes(meta, spec), outcomes(&p.meta, &p.spec)); diff != "" {
			t.Fatalf("pod %d: outcomes differ (-typed +decoded):\n%s", i, diff)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		meta string
		spec string
		want *DecodeError
	}{
		{
			name: "privileged as a string",
			spec: `{containers: [{name: c, securityContext: {privileged: "true"}}]}`,
			want: &DecodeError{Field: "spec.containers[0].securityContext.privileged", Want: "boolean", Got: "true"},
		},
		{
			name: "hostPort out of range",
			spec: `{containers: [{name: c, ports: [{hostPort: 3000000000}]}]}`,
			want: &DecodeError{Field: "spec.containers[0].ports[0].hostPort", Want: "integer", Got: int64(3000000000)},
		},
		{
			name: "fractional runAsUser",
			spec: `{securityContext: {runAsUser: 1.5}}`,
			want: &DecodeError{Field: "spec.securityContext.runAsUser", Want: "integer", Got: 1.5},
		},
		{
			name: "containers not a list",
			spec: `{containers: {name: c}}`,
			want: &DecodeError{Field: "spec.containers", Want: "array", Got: map[string]any{"name": "c"}},
		},
		{
			name: "annotation not a string",
			meta: `{annotations: {a: 1}}`,
			want: &DecodeError{Field: "metadata.annotations[a]", Want: "string", Got: int64(1)},
		},
		{
			name: "volume source not an object",
			spec: `{volumes: [{name: v, hostPath: /data}]}`,
			want: &DecodeError{Field: "spec.volumes[0].hostPath", Want: "object", Got: "/data"},
		},
		{
			name: "nulls are absent values",
			meta: `{annotations: null}`,
			spec: `{hostNetwork: null, securityContext: null, containers: [null, {name: c, securityContext: {capabilities: {add: [null]}}, ports: [null]}], volumes: [{name: v, emptyDir: null}]}`,
		},
		{
			name: "unknown and unread fields are ignored",
			spec: `{containers: [{name: c, resources: {limits: {cpu: [1]}}}], unknownField: 1}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var meta, spec map[string]any
			if tc.meta != "" {
				meta = toUnstructured(t, mustUnmarshal(t, tc.meta))
			}
			if tc.spec != "" {
				spec = toUnstructured(t, mustUnmarshal(t, tc.spec))
			}
			_, err := DecodePod(meta, spec)
			var got *DecodeError
			if err != nil && !errors.As(err, &got) {
				t.Fatalf("error %v is not a *DecodeError", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// fuzzRule has pod-level, image-level and field-level exclusions.
var fuzzRule = func() *Rule {
	r := &Rule{level: "restricted", checks: selectChecks("restricted", api.LatestVersion())}
	r.exclusions = []Exclusion{
		{ControlName: ControlSeccomp},
		{ControlName: ControlCapabilities, Images: []string{"nginx*"}},
		{ControlName: ControlRunningAsNonRoot, Images: []string{"*"}, RestrictedField: "spec.containers[*].securityContext.runAsNonRoot", Values: []string{"false"}},
		{ControlName: ControlHostPathVolumes, RestrictedField: "spec.volumes[*].hostPath", Values: []string{"/var/*"}},
	}
	return r
}()

// FuzzDecodePod feeds arbitrary JSON to DecodePod. It must never panic, and
// whenever the JSON also decodes into corev1 types (case-sensitively, as the
// API server does), the checks must see the same pod both ways.
func FuzzDecodePod(f *testing.F) {
	f.Add([]byte(`{"spec":{"containers":[{"name":"c","image":"nginx","securityContext":{"privileged":true}}]}}`))
	f.Add([]byte(`{"metadata":{"annotations":{"seccomp.security.alpha.kubernetes.io/pod":"unconfined"}},"spec":{"hostPID":true,"volumes":[{"name":"v","hostPath":{"path":"/"}}]}}`))
	f.Add([]byte(`{"spec":{"securityContext":{"runAsUser":0,"sysctls":[{"name":"kernel.msgmax"}]},"initContainers":[{"name":"i","ports":[{"hostPort":80}],"livenessProbe":{"httpGet":{"host":"h"}}}]}}`))
	f.Add([]byte(`{"spec":{"containers":[{"securityContext":{"capabilities":{"add":["SYS_ADMIN"],"drop":["ALL"]},"procMount":"Unmasked"}}],"hostUsers":false}}`))
	rng := rand.New(rand.NewSource(3))
	for range 20 {
		meta, spec := randomPod(rng)
		data, err := json.Marshal(corev1.Pod{ObjectMeta: *meta, Spec: *spec})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var obj map[string]any
		if err := utiljson.Unmarshal(data, &obj); err != nil {
			return
		}
		meta, _ := obj["metadata"].(map[string]any)
		spec, _ := obj["spec"].(map[string]any)
		p, err := DecodePod(meta, spec)
		if err == nil {
			// Evaluation with exclusions of every kind must not panic.
			fuzzRule.EvaluatePod(p).Message("rule", "CronJob")
		}
		var typed corev1.Pod
		strict, typedErr := sigsjson.UnmarshalStrict(data, &typed)
		if typedErr != nil || len(strict) > 0 || reflect.TypeOf(obj["metadata"]) != reflect.TypeOf(map[string]any{}) || reflect.TypeOf(obj["spec"]) != reflect.TypeOf(map[string]any{}) {
			return
		}
		if err != nil {
			t.Fatalf("DecodePod rejected a valid pod: %v", err)
		}
		if diff := cmp.Diff(outcomes(&typed.ObjectMeta, &typed.Spec), outcomes(&p.meta, &p.spec)); diff != "" {
			t.Fatalf("outcomes differ (-typed +decoded):\n%s", diff)
		}
	})
}
