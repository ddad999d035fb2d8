package gatekeeper_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-dev/portcullis/internal/engine"
)

type namespaces map[string]map[string]any

func (n namespaces) Namespace(_ context.Context, name string) (map[string]any, error) {
	if ns, ok := n[name]; ok {
		return ns, nil
	}
	return nil, fmt.Errorf("namespaces %q %w", name, engine.ErrNotFound)
}

func namespace(name string, labels map[string]any) map[string]any {
	return map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name, "labels": labels}}
}

// TestMatch checks spec.match as Gatekeeper applies it.
func TestMatch(t *testing.T) {
	pod := func(ns, name string, labels map[string]any) map[string]any {
		md := map[string]any{"name": name, "labels": labels}
		if ns != "" {
			md["namespace"] = ns
		}
		return map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": md}
	}
	deployment := map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "d", "namespace": "prod"}}
	node := map[string]any{"apiVersion": "v1", "kind": "Node", "metadata": map[string]any{"name": "n1"}}
	prod := namespace("prod", map[string]any{"env": "prod"})
	cluster := engine.Cluster{Namespaces: namespaces{"prod": prod, "dev": namespace("dev", map[string]any{"env": "dev"})}}

	for _, tc := range []struct {
		name    string
		match   string
		req     engine.Request
		cluster engine.Cluster
		// want is "match", "" (no match) or an error message.
		want string
	}{
		{name: "no match criteria", match: `{}`, req: admission(node, engine.Create), want: "match"},
		{name: "kind", match: `{kinds: [{apiGroups: [""], kinds: [Pod]}]}`, req: admission(pod("prod", "p", nil), engine.Create), want: "match"},
		{name: "other kind", match: `{kinds: [{apiGroups: [""], kinds: [Pod]}]}`, req: admission(deployment, engine.Create)},
		{name: "other group", match: `{kinds: [{apiGroups: [""], kinds: [Deployment]}]}`, req: admission(deployment, engine.Create)},
		{name: "wildcard group", match: `{kinds: [{apiGroups: ["*"], kinds: [Deployment]}]}`, req: admission(deployment, engine.Create), want: "match"},
		{name: "wildcard kind", match: `{kinds: [{apiGroups: [apps], kinds: ["*"]}]}`, req: admission(deployment, engine.Create), want: "match"},
		{name: "empty lists match all", match: `{kinds: [{}]}`, req: admission(deployment, engine.Create), want: "match"},
		{name: "scope cluster", match: `{scope: Cluster}`, req: admission(node, engine.Create), want: "match"},
		{name: "scope cluster, namespaced object", match: `{scope: Cluster}`, req: admission(deployment, engine.Create)},
		{name: "scope namespaced", match: `{scope: Namespaced}`, req: admission(deployment, engine.Create), want: "match"},
		{name: "scope namespaced, a namespace", match: `{scope: Namespaced}`, req: admission(prod, engine.Create)},
		{name: "namespaces", match: `{namespaces: [prod]}`, req: admission(deployment, engine.Create), want: "match"},
		{name: "namespaces prefix", match: `{namespaces: ["pr*"]}`, req: admission(deployment, engine.Create), want: "match"},
		{name: "namespaces suffix", match: `{namespaces: ["*od"]}`, req: admission(deployment, engine.Create), want: "match"},
		{name: "namespaces contains", match: `{namespaces: ["*ro*"]}`, req: admission(deployment, engine.Create), want: "match"},
		{name: "other namespace", match: `{namespaces: [dev]}`, req: admission(deployment, engine.Create)},
		{name: "namespaces, cluster-scoped object", match: `{namespaces: [dev]}`, req: admission(node, engine.Create), want: "match"},
		{name: "namespaces, a namespace by its name", match: `{namespaces: [prod]}`, req: admission(prod, engine.Create), want: "match"},
		{name: "excluded namespace", match: `{excludedNamespaces: ["kube-*"]}`, req: admission(pod("kube-system", "p", nil), engine.Create)},
		{name: "not excluded", match: `{excludedNamespaces: ["kube-*"]}`, req: admission(pod("prod", "p", nil), engine.Create), want: "match"},
		{name: "label selector", match: `{labelSelector: {matchLabels: {app: web}}}`, req: admission(pod("prod", "p", map[string]any{"app": "web"}), engine.Create), want: "match"},
		{name: "label selector, other labels", match: `{labelSelector: {matchExpressions: [{key: app, operator: In, values: [db]}]}}`, req: admission(pod("prod", "p", map[string]any{"app": "web"}), engine.Create)},
		{name: "namespace selector", match: `{namespaceSelector: {matchLabels: {env: prod}}}`, req: admission(pod("prod", "p", nil), engine.Create), cluster: cluster, want: "match"},
		{name: "namespace selector, other namespace", match: `{namespaceSelector: {matchLabels: {env: prod}}}`, req: admission(pod("dev", "p", nil), engine.Create), cluster: cluster},
		{name: "namespace selector, a namespace", match: `{namespaceSelector: {matchLabels: {env: prod}}}`, req: admission(prod, engine.Create), want: "match"},
		{name: "namespace selector, cluster-scoped object", match: `{namespaceSelector: {matchLabels: {env: prod}}}`, req: admission(node, engine.Create), want: "match"},
		{
			name:  "namespace selector, the request's namespace object",
			match: `{namespaceSelector: {matchLabels: {env: prod}}}`,
			req: func() engine.Request {
				r := admission(pod("prod", "p", nil), engine.Create)
				r.NamespaceObject = prod
				return r
			}(),
			want: "match",
		},
		{
			name:  "namespace selector, unknown namespace",
			match: `{namespaceSelector: {matchLabels: {env: prod}}}`,
			req:   admission(pod("other", "p", nil), engine.Create),
			want:  "unable to match constraints: error matching the requested object: p :failed to run Match criteria: namespace selector for namespace-scoped object but missing Namespace",
		},
		{name: "name", match: `{name: "web-*"}`, req: admission(pod("prod", "web-1", nil), engine.Create), want: "match"},
		{name: "other name", match: `{name: "web-*"}`, req: admission(pod("prod", "db-1", nil), engine.Create)},
		{
			name:  "name by generateName",
			match: `{name: "web-*"}`,
			req: admission(map[string]any{"apiVersion": "v1", "kind": "Pod",
				"metadata": map[string]any{"generateName": "web-", "namespace": "prod"}}, engine.Create),
			want: "match",
		},
		{name: "source original", match: `{source: Original}`, req: admission(node, engine.Create), want: "match"},
		{name: "source generated", match: `{source: Generated}`, req: admission(node, engine.Create)},
		{
			name:  "update: the old object matches",
			match: `{labelSelector: {matchLabels: {app: web}}}`,
			req: func() engine.Request {
				r := admission(pod("prod", "p", nil), engine.Update)
				r.OldObject = pod("prod", "p", map[string]any{"app": "web"})
				return r
			}(),
			want: "match",
		},
		{
			name:  "delete: the old object",
			match: `{kinds: [{apiGroups: [""], kinds: [Pod]}]}`,
			req: func() engine.Request {
				r := admission(pod("prod", "p", nil), engine.Delete)
				r.OldObject, r.Object = r.Object, nil
				return r
			}(),
			want: "match",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := mustCompile(t, echoTemplateMatch(tc.match))
			var want []result
			switch tc.want {
			case "":
			case "match":
				want = []result{{"K8sEcho/echo", engine.Fail, engine.ActionDeny, "v"}}
			default:
				want = []result{{"K8sEcho/echo", engine.Error, engine.ActionDeny, tc.want}}
			}
			if diff := cmp.Diff(want, evaluate(set, tc.req, tc.cluster)); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
		})
	}
}

func echoTemplateMatch(match string) string {
	return templateYAML("K8sEcho", `package echo
violation[{"msg": "v"}] { true }
`) + `---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sEcho
metadata: {name: echo}
spec:
  match: ` + match + "\n"
}

func TestTargets(t *testing.T) {
	for _, tc := range []struct {
		match string
		want  []engine.Target
	}{
		{`{}`, nil},
		{`{kinds: [{apiGroups: ["", apps], kinds: [Pod, Deployment]}]}`, []engine.Target{
			{Group: "", Version: "*", Kind: "Pod", Subresource: "*"},
			{Group: "", Version: "*", Kind: "Deployment", Subresource: "*"},
			{Group: "apps", Version: "*", Kind: "Pod", Subresource: "*"},
			{Group: "apps", Version: "*", Kind: "Deployment", Subresource: "*"},
		}},
		{`{kinds: [{apiGroups: ["*"], kinds: []}]}`, []engine.Target{{Group: "*", Version: "*", Kind: "*", Subresource: "*"}}},
		{`{kinds: [{apiGroups: [""], kinds: [Pod]}], scope: Bad}`, nil},
	} {
		set, _ := compileYAML(t, echoTemplateMatch(tc.match))
		targets, ok := set.Targets()
		if diff := cmp.Diff(tc.want, targets); diff != "" || ok != (tc.want != nil) {
			t.Errorf("%s: targets (-want +got), ok %v:\n%s", tc.match, ok, diff)
		}
	}
}
