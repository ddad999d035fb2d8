package jmespath_test

import (
	"fmt"
	"time"

	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/jmespath"
)

func ExampleInterpreter_Compile() {
	in := jmespath.New(jmespath.WithClock(func() time.Time {
		return time.Date(2023, 1, 12, 0, 0, 0, 0, time.UTC)
	}))
	q, err := in.Compile("request.object.spec.containers[].resources.requests.memory | sum(@)")
	if err != nil {
		panic(err)
	}
	data := map[string]any{"request": map[string]any{"object": map[string]any{"spec": map[string]any{
		"containers": []any{
			map[string]any{"resources": map[string]any{"requests": map[string]any{"memory": "100Mi"}}},
			map[string]any{"resources": map[string]any{"requests": map[string]any{"memory": "1Gi"}}},
		},
	}}}}
	total, err := q.Search(data)
	fmt.Println(total, err)

	_, err = in.Search("request.object.metadata.labels.app", data)
	fmt.Println(err)

	fallback, _ := in.Search("request.object.metadata.labels.app || 'none'", data)
	fmt.Println(fallback)

	diff, _ := in.Search("time_diff('2023-01-10T00:00:00Z', time_now_utc())", data)
	fmt.Println(diff)
	// Output:
	// 1124Mi <nil>
	// Unknown key "metadata" in path
	// none
	// 48h0m0s
}

func ExampleImageInfo() {
	info, err := jmespath.ImageInfo("ghcr.io/kyverno/kyverno:v1.19.1")
	fmt.Println(info["registry"], info["path"], info["name"], info["tag"], err)
	info, _ = jmespath.ImageInfo("nginx")
	fmt.Println(info["reference"])
	// Output:
	// ghcr.io kyverno/kyverno kyverno v1.19.1 <nil>
	// docker.io/nginx:latest
}
