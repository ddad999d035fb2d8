package gatekeeper_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/policy/gatekeeper"
)

// TestSeedMessages checks the two seed constraints against the seed's Pods:
// the messages are exactly those kubectl printed after "[constraint-name] ".
func TestSeedMessages(t *testing.T) {
	for _, opts := range [][]gatekeeper.Option{nil, {gatekeeper.WithEngine(gatekeeper.EngineRego)}} {
		set := compile(t, opts, seedFiles...)
		for _, tc := range []struct {
			name string
			pod  string
			want []result
		}{{
			name: "docker hub image",
			pod: `apiVersion: v1
kind: Pod
metadata: {name: nginx-disallowed, namespace: default}
spec:
  containers:
  - {name: nginx, image: nginx}
`,
			want: []result{
				{"K8sAllowedReposv2/repo-is-cgr-dev", engine.Fail, engine.ActionDeny, `container <nginx> has an invalid image <nginx>, allowed images are ["cgr.dev/*"]`},
				{"K8sImageDigests/container-image-must-have-digest", engine.Fail, engine.ActionDeny, "container <nginx> uses an image without a digest <nginx>"},
			},
		}, {
			name: "chainguard image without digest",
			pod: `apiVersion: v1
kind: Pod
metadata: {name: nginx-disallowed, namespace: default}
spec:
  containers:
  - {name: nginx, image: cgr.dev/chainguard/nginx}
`,
			want: []result{
				{"K8sAllowedReposv2/repo-is-cgr-dev", engine.Pass, "", ""},
				{"K8sImageDigests/container-image-must-have-digest", engine.Fail, engine.ActionDeny, "container <nginx> uses an image without a digest <cgr.dev/chainguard/nginx>"},
			},
		}, {
			name: "chainguard image by digest",
			pod: `apiVersion: v1
kind: Pod
metadata: {name: ok, namespace: default}
spec:
  containers:
  - {name: nginx, image: "cgr.dev/chainguard/nginx@sha256:93cd59bf5c941cf0dc98d2c1e2acf72f9e574f7aa0ee89aed453dd324b0dbb41"}
`,
			want: []result{
				{"K8sAllowedReposv2/repo-is-cgr-dev", engine.Pass, "", ""},
				{"K8sImageDigests/container-image-must-have-digest", engine.Pass, "", ""},
			},
		}, {
			name: "kube-system is excluded",
			pod: `apiVersion: v1
kind: Pod
metadata: {name: dns, namespace: kube-system}
spec:
  containers:
  - {name: dns, image: registry.k8s.io/coredns}
`,
		}} {
			t.Run(tc.name, func(t *testing.T) {
				got := evaluate(set, admission(object(t, tc.pod), engine.Create), engine.Cluster{})
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("results (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// fakeProvider is an in-process external data provider.
type fakeProvider struct {
	mu     sync.Mutex
	calls  []string
	answer func(provider string, keys []string) (engine.ExternalDataResponse, error)
}

func (f *fakeProvider) ExternalData(_ context.Context, provider string, keys []string) (engine.ExternalDataResponse, error) {
	f.mu.Lock()
	for _, k := range keys {
		f.calls = append(f.calls, provider+" "+k)
	}
	f.mu.Unlock()
	return f.answer(provider, keys)
}

// TestRequiredImageSignatures runs the seed's Rego v1 template, which asks
// the "ratify-provider" external data provider about every image of a pod
// controller, with a fake provider.
func TestRequiredImageSignatures(t *testing.T) {
	set := compile(t, nil, seed("gatekeeper-k8srequiredimagesignatures-template.yaml"), seed("gatekeeper-require-signed-images.yaml"))
	deployment := object(t, `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  template:
    spec:
      containers:
      - {name: a, image: cgr.dev/chainguard/nginx}
      - {name: b, image: docker.io/library/nginx}
      initContainers:
      - {name: pause, image: "registry.k8s.io/pause:3.9"}
`)
	verified := map[string]any{"isSuccess": true, "verifierReports": []any{}}
	for _, tc := range []struct {
		name   string
		answer func(string, []string) (engine.ExternalDataResponse, error)
		want   []result
	}{{
		name: "one image signed, one not",
		answer: func(_ string, keys []string) (engine.ExternalDataResponse, error) {
			resp := engine.ExternalDataResponse{StatusCode: 200}
			for _, k := range keys {
				v := any(verified)
				if k == "docker.io/library/nginx" {
					v = map[string]any{"isSuccess": false, "message": "no signature found"}
				}
				resp.Items = append(resp.Items, engine.ExternalDataItem{Key: k, Value: v})
			}
			return resp, nil
		},
		want: []result{{"K8sRequiredImageSignatures/require-signed-images", engine.Fail, engine.ActionDeny,
			`image "docker.io/library/nginx" is not signed by Chainguard: no signature found`}},
	}, {
		name: "errors for single keys",
		answer: func(_ string, keys []string) (engine.ExternalDataResponse, error) {
			resp := engine.ExternalDataResponse{StatusCode: 200}
			for _, k := range keys {
				resp.Items = append(resp.Items, engine.ExternalDataItem{Key: k, Error: "registry unreachable"})
			}
			return resp, nil
		},
		// The template reads responses, which hold no items when every key
		// errs: it reports nothing.
		want: []result{{"K8sRequiredImageSignatures/require-signed-images", engine.Pass, "", ""}},
	}, {
		name: "system error",
		answer: func(_ string, keys []string) (engine.ExternalDataResponse, error) {
			resp := engine.ExternalDataResponse{StatusCode: 200, SystemError: "ratify is down"}
			for _, k := range keys {
				resp.Items = append(resp.Items, engine.ExternalDataItem{Key: k, Value: verified})
			}
			return resp, nil
		},
		// The template looks for system_error in each item's value, not in
		// the response: it reports nothing.
		want: []result{{"K8sRequiredImageSignatures/require-signed-images", engine.Pass, "", ""}},
	}, {
		name: "unreachable provider makes the call undefined",
		answer: func(string, []string) (engine.ExternalDataResponse, error) {
			return engine.ExternalDataResponse{}, errors.New("connection refused")
		},
		want: []result{{"K8sRequiredImageSignatures/require-signed-images", engine.Pass, "", ""}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			p := &fakeProvider{answer: tc.answer}
			got := evaluate(set, admission(deployment, engine.Create), engine.Cluster{ExternalData: p})
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			// The exempt image is not sent; each image is asked once.
			wantCalls := []string{"ratify-provider cgr.dev/chainguard/nginx", "ratify-provider docker.io/library/nginx"}
			p.mu.Lock()
			calls := append([]string(nil), p.calls...)
			p.mu.Unlock()
			sortStrings(calls)
			if diff := cmp.Diff(wantCalls, calls); diff != "" {
				t.Errorf("provider calls (-want +got):\n%s", diff)
			}
		})
	}
}

// TestExternalDataResponse checks the shape of external_data's answer,
// which templates read: responses and errors as [key, value] pairs, the
// status code and the system error.
func TestExternalDataResponse(t *testing.T) {
	set := mustCompile(t, templateYAML("K8sExternal", `package external
violation[{"msg": msg}] {
  resp := external_data({"provider": "p", "keys": input.parameters.keys})
  msg := sprintf("%v", [resp])
}
`)+`---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sExternal
metadata: {name: e}
spec:
  parameters:
    keys: [a, b]
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sExternal
metadata: {name: empty}
spec:
  parameters:
    keys: []
`)
	p := &fakeProvider{answer: func(_ string, keys []string) (engine.ExternalDataResponse, error) {
		return engine.ExternalDataResponse{
			StatusCode:  200,
			SystemError: "partly down",
			Items: []engine.ExternalDataItem{
				{Key: "a", Value: map[string]any{"n": int64(1)}},
				{Key: "b", Error: "boom"},
			},
		}, nil
	}}
	pod := object(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}")
	want := []result{
		{"K8sExternal/e", engine.Fail, engine.ActionDeny, `{"errors": [["b", "boom"]], "responses": [["a", {"n": 1}]], "status_code": 200, "system_error": "partly down"}`},
		{"K8sExternal/empty", engine.Fail, engine.ActionDeny, `{"errors": [], "responses": [], "status_code": 0, "system_error": ""}`},
	}
	if diff := cmp.Diff(want, evaluate(set, admission(pod, engine.Create), engine.Cluster{ExternalData: p})); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	// Without a provider the call is undefined, as in Gatekeeper when the
	// provider is not known.
	want = []result{
		{"K8sExternal/e", engine.Pass, "", ""},
		{"K8sExternal/empty", engine.Fail, engine.ActionDeny, `{"errors": [], "responses": [], "status_code": 0, "system_error": ""}`},
	}
	if diff := cmp.Diff(want, evaluate(set, admission(pod, engine.Create), engine.Cluster{})); diff != "" {
		t.Errorf("without provider (-want +got):\n%s", diff)
	}
}
