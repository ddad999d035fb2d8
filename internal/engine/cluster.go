package engine

import (
	"context"
	"errors"
)

// ErrNotFound is returned by cluster data sources when an object does not
// exist. Callers branch on it with errors.Is.
var ErrNotFound = errors.New("not found")

// ConfigMapGetter returns a ConfigMap as an unstructured object.
type ConfigMapGetter interface {
	ConfigMap(ctx context.Context, namespace, name string) (map[string]any, error)
}

// NamespaceGetter returns a Namespace as an unstructured object; the server
// reads it from an informer and the CLI from files.
type NamespaceGetter interface {
	Namespace(ctx context.Context, name string) (map[string]any, error)
}

// APICaller answers Kubernetes API GET/POST calls made by policies (Kyverno
// apiCall context entries). The result is the decoded JSON response.
type APICaller interface {
	Call(ctx context.Context, method, urlPath string, body any) (any, error)
}

// ServiceCaller answers calls to external HTTP services made by policies.
type ServiceCaller interface {
	CallService(ctx context.Context, method, url string, headers map[string]string, body any) (any, error)
}

// GlobalContextGetter returns the data of a named global context entry, or
// of one of its projections when projection is not empty.
type GlobalContextGetter interface {
	GlobalContext(ctx context.Context, name, projection string) (any, error)
}

// Cluster bundles the cluster data that policies may read. Every field may be
// nil; a policy that needs a missing source gets an error result.
type Cluster struct {
	ConfigMaps    ConfigMapGetter
	Namespaces    NamespaceGetter
	API           APICaller
	Services      ServiceCaller
	GlobalContext GlobalContextGetter
}
