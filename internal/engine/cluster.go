package engine

import (
	"context"
	"errors"

	"github.com/portcullis-dev/portcullis/internal/image"
)

// ErrNotFound is returned by cluster data sources when an object does not
// exist. Callers branch on it with errors.Is.
var ErrNotFound = errors.New("not found")

// ConfigMapGetter returns a ConfigMap as an unstructured object.
type ConfigMapGetter interface {
	ConfigMap(ctx context.Context, namespace, name string) (map[string]any, error)
}

// SecretGetter returns the data of a Kubernetes Secret, for policies that
// keep public keys in Secrets (Sigstore key.secretRef, Kyverno
// keys.secret). A Secret that does not exist is an error wrapping
// ErrNotFound, not nil data.
type SecretGetter interface {
	Secret(ctx context.Context, namespace, name string) (map[string][]byte, error)
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

// InventoryLister returns the objects that policies may look up besides the
// request (Gatekeeper's data.inventory): the objects the server syncs, or
// the ones a test suite provides.
type InventoryLister interface {
	Inventory(ctx context.Context) ([]map[string]any, error)
}

// ExternalDataProvider answers external data requests: Gatekeeper's
// external_data builtin and the providers it names.
type ExternalDataProvider interface {
	// ExternalData sends keys to the named provider and returns its answer.
	// A provider that cannot be reached is an error; errors the provider
	// reports for single keys are in the response.
	ExternalData(ctx context.Context, provider string, keys []string) (ExternalDataResponse, error)
}

// ExternalDataResponse is a provider's answer, in the shape of Gatekeeper's
// ProviderResponse.
type ExternalDataResponse struct {
	Items       []ExternalDataItem
	SystemError string
	// StatusCode is the HTTP status of the provider's answer.
	StatusCode int
}

// ExternalDataItem is the provider's answer for one key.
type ExternalDataItem struct {
	Key   string
	Value any
	Error string
}

// Cluster bundles the cluster data that policies may read. Every field may be
// nil; a policy that needs a missing source gets an error result.
type Cluster struct {
	ConfigMaps    ConfigMapGetter
	Namespaces    NamespaceGetter
	API           APICaller
	Services      ServiceCaller
	GlobalContext GlobalContextGetter
	Inventory     InventoryLister
	ExternalData  ExternalDataProvider
	// Secrets reads the Secrets that hold public keys of image policies.
	// The server reads them from the cluster; the offline commands have
	// none, and policies with such keys then evaluate to an error.
	Secrets SecretGetter
	// Registry reads images, their signatures and attestations for image
	// policies (Sigstore ClusterImagePolicy, Kyverno verifyImages, Ratify).
	Registry image.Registry
}

// Provider is implemented by compiled policies that serve an external data
// provider in-process, such as Ratify's Verifier and Policy answering as
// "ratify-provider". Set.Evaluate routes external data calls for the
// provider's name to it before the cluster's ExternalData.
type Provider interface {
	ProviderName() string
	ExternalData(ctx context.Context, keys []string, cluster Cluster) (ExternalDataResponse, error)
}
