package mutate_test

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/mutate"
)

func decode(s string) map[string]any {
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		panic(err)
	}
	return m
}

func ExampleStrategicMerge() {
	pod := decode(`{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "app"},
		"spec": {"containers": [{"name": "app", "image": "nginx:latest"}, {"name": "log", "image": "fluentd:1.16"}]}}`)
	overlay := decode(`{"spec": {"containers": [{"(image)": "*:latest", "imagePullPolicy": "Always"}]}}`)

	patched, err := mutate.StrategicMerge(pod, overlay)
	if err != nil {
		fmt.Println(err)
		return
	}
	out, _ := json.Marshal(patched["spec"])
	fmt.Println(string(out))
	// Output:
	// {"containers":[{"image":"nginx:latest","imagePullPolicy":"Always","name":"app"},{"image":"fluentd:1.16","name":"log"}]}
}

func ExampleStrategicMerge_skip() {
	pod := decode(`{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "app", "labels": {"team": "a"}}}`)
	overlay := decode(`{"metadata": {"labels": {"+(team)": "platform"}}}`)

	_, err := mutate.StrategicMerge(pod, overlay)
	var skip *mutate.SkipError
	if errors.As(err, &skip) {
		fmt.Println("skip:", skip.Message)
	}
	// Output:
	// skip: no patches applied
}

func ExampleJSON6902() {
	pod := decode(`{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "app"}, "spec": {"containers": [{"name": "app"}]}}`)
	patch := `
- op: add
  path: /spec/tolerations/-
  value: {key: org.com/role, operator: Equal, value: service, effect: NoSchedule}`

	patched, err := mutate.JSON6902(pod, patch)
	if err != nil {
		fmt.Println(err)
		return
	}
	out, _ := json.Marshal(patched["spec"].(map[string]any)["tolerations"])
	fmt.Println(string(out))
	// Output:
	// [{"effect":"NoSchedule","key":"org.com/role","operator":"Equal","value":"service"}]
}
