package controller_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	apiextensionsfake "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset/fake"
	"k8s.io/apimachinery/pkg/runtime"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"

	"github.com/portcullis-dev/portcullis/internal/controller"
	"github.com/portcullis-dev/portcullis/internal/engine"
)

func TestAPICalls(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/api/v1/namespaces" && r.Method == http.MethodGet:
			if r.URL.Query().Get("labelSelector") != "team=a" {
				http.Error(w, `{"kind":"Status","message":"bad selector"}`, http.StatusBadRequest)
				return
			}
			io.WriteString(w, `{"kind":"NamespaceList","items":[{"metadata":{"name":"a"}}],"count":2,"ratio":0.5}`)
		case r.URL.Path == "/apis/authorization.k8s.io/v1/subjectaccessreviews" && r.Method == http.MethodPost:
			body, _ := io.ReadAll(r.Body)
			io.WriteString(w, `{"echo":`+string(body)+`}`)
		case r.URL.Path == "/big":
			io.WriteString(w, `"`+strings.Repeat("x", controller.MaxAPIResponseBytes)+`"`)
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"kind":"Status","message":"the server could not find the requested resource"}`)
		}
	}))
	defer srv.Close()
	c, err := controller.New(controller.Options{
		Engine: engine.New(), Dynamic: dynamicfake.NewSimpleDynamicClient(runtime.NewScheme()), Kube: kubefake.NewClientset(),
		CRDs: apiextensionsfake.NewClientset(), Log: logr.Discard(),
		REST: &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{Insecure: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	api := c.Cluster().API
	ctx := context.Background()

	got, err := api.Call(ctx, "GET", "/api/v1/namespaces?labelSelector=team%3Da", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"kind": "NamespaceList", "items": []any{map[string]any{"metadata": map[string]any{"name": "a"}}}, "count": int64(2), "ratio": 0.5}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GET (-want +got):\n%s", diff)
	}
	got, err = api.Call(ctx, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", map[string]any{"spec": map[string]any{"user": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"echo": map[string]any{"spec": map[string]any{"user": "x"}}}, got); diff != "" {
		t.Errorf("POST (-want +got):\n%s", diff)
	}
	if _, err := api.Call(ctx, "GET", "/api/v1/namespaces/missing", nil); !errors.Is(err, engine.ErrNotFound) || !strings.Contains(err.Error(), "could not find") {
		t.Errorf("404: %v; want engine.ErrNotFound with the server's message", err)
	}
	if _, err := api.Call(ctx, "GET", "/big", nil); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("a response over the bound: %v", err)
	}
	for _, bad := range []struct{ method, path string }{
		{"DELETE", "/api/v1/namespaces/a"}, {"GET", "https://evil.example.com/api"}, {"GET", "api/v1/namespaces"}, {"GET", "//evil.example.com/x"},
	} {
		if _, err := api.Call(ctx, bad.method, bad.path, nil); err == nil {
			t.Errorf("%s %s: no error", bad.method, bad.path)
		}
	}
}
