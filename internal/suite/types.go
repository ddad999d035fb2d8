package suite

// These types mirror Kyverno's CLI test files (cli.kyverno.io/v1alpha1):
// Test, Values and UserInfo. They are decoded strictly.

type kyvernoTest struct {
	APIVersion       string               `json:"apiVersion,omitempty"`
	Kind             string               `json:"kind,omitempty"`
	Metadata         map[string]any       `json:"metadata,omitempty"`
	Name             string               `json:"name,omitempty"`
	Policies         []string             `json:"policies,omitempty"`
	Resources        []string             `json:"resources,omitempty"`
	TargetResources  []string             `json:"targetResources,omitempty"`
	ClusterResources []string             `json:"clusterResources,omitempty"`
	ParamResources   []string             `json:"paramResources,omitempty"`
	Exceptions       []string             `json:"exceptions,omitempty"`
	Variables        string               `json:"variables,omitempty"`
	Values           *valuesFile          `json:"values,omitempty"`
	UserInfo         string               `json:"userinfo,omitempty"`
	Context          string               `json:"context,omitempty"`
	JSONPayload      string               `json:"jsonPayload,omitempty"`
	JSONPayloads     []string             `json:"jsonPayloads,omitempty"`
	HTTPPayloads     []string             `json:"httpPayloads,omitempty"`
	EnvoyPayloads    []string             `json:"envoyPayloads,omitempty"`
	APICallResponses []apiCallResponse    `json:"apiCallResponses,omitempty"`
	GlobalContext    []globalContextEntry `json:"globalContextEntries,omitempty"`
	Results          []testResult         `json:"results,omitempty"`
	Checks           []any                `json:"checks,omitempty"`
}

// apiCallResponse mocks the response of an apiCall context entry.
type apiCallResponse struct {
	URL      string `json:"url,omitempty"`
	URLPath  string `json:"urlPath,omitempty"`
	Method   string `json:"method,omitempty"`
	Response struct {
		StatusCode int `json:"statusCode,omitempty"`
		Body       any `json:"body"`
	} `json:"response"`
}

// globalContextEntry mocks a GlobalContextEntry.
type globalContextEntry struct {
	Name          string                    `json:"name"`
	Data          any                       `json:"data,omitempty"`
	Resources     []any                     `json:"resources,omitempty"`
	ResourceFiles []string                  `json:"resourceFiles,omitempty"`
	FieldPath     string                    `json:"fieldPath,omitempty"`
	Projections   []globalContextProjection `json:"projections,omitempty"`
}

type globalContextProjection struct {
	Name string `json:"name"`
	Path string `json:"path"`
}

// contextFile is a cli.kyverno.io Context: resources the policies may read
// and image data.
type contextFile struct {
	APIVersion string         `json:"apiVersion,omitempty"`
	Kind       string         `json:"kind,omitempty"`
	Metadata   map[string]any `json:"metadata,omitempty"`
	Spec       struct {
		Resources []map[string]any `json:"resources,omitempty"`
		Images    []map[string]any `json:"images,omitempty"`
	} `json:"spec"`
}

// clusterResourceFile lists resources (and CRDs) that stand for a cluster.
type clusterResourceFile struct {
	APIVersion string         `json:"apiVersion,omitempty"`
	Kind       string         `json:"kind,omitempty"`
	Metadata   map[string]any `json:"metadata,omitempty"`
	Spec       struct {
		CRDs      []string         `json:"crds,omitempty"`
		Resources []map[string]any `json:"resources,omitempty"`
	} `json:"spec"`
}

type testResult struct {
	Policy                      string         `json:"policy,omitempty"`
	Operation                   string         `json:"operation,omitempty"`
	ResourceSpecs               []resourceSpec `json:"resourceSpecs,omitempty"`
	GeneratedResources          []string       `json:"generatedResources,omitempty"`
	FailOnMissingResources      bool           `json:"failOnMissingResources,omitempty"`
	Rule                        string         `json:"rule,omitempty"`
	Kind                        string         `json:"kind,omitempty"`
	Namespace                   string         `json:"namespace,omitempty"`
	Result                      string         `json:"result,omitempty"`
	Status                      string         `json:"status,omitempty"`
	Resources                   []string       `json:"resources,omitempty"`
	Resource                    string         `json:"resource,omitempty"`
	PatchedResource             string         `json:"patchedResource,omitempty"`
	PatchedResources            string         `json:"patchedResources,omitempty"`
	GeneratedResource           string         `json:"generatedResource,omitempty"`
	CloneSourceResource         string         `json:"cloneSourceResource,omitempty"`
	IsValidatingAdmissionPolicy bool           `json:"isValidatingAdmissionPolicy,omitempty"`
	IsMutatingAdmissionPolicy   bool           `json:"isMutatingAdmissionPolicy,omitempty"`
	IsValidatingPolicy          bool           `json:"isValidatingPolicy,omitempty"`
	IsMutatingPolicy            bool           `json:"isMutatingPolicy,omitempty"`
	IsGeneratingPolicy          bool           `json:"isGeneratingPolicy,omitempty"`
	IsDeletingPolicy            bool           `json:"isDeletingPolicy,omitempty"`
	IsImageValidatingPolicy     bool           `json:"isImageValidatingPolicy,omitempty"`
}

// resourceSpec names a resource of a test result precisely.
type resourceSpec struct {
	Group       string `json:"group,omitempty"`
	Version     string `json:"version,omitempty"`
	Kind        string `json:"kind,omitempty"`
	Namespace   string `json:"namespace,omitempty"`
	Subresource string `json:"subresource,omitempty"`
	Name        string `json:"name,omitempty"`
}

type valuesFile struct {
	APIVersion         string              `json:"apiVersion,omitempty"`
	Kind               string              `json:"kind,omitempty"`
	Metadata           map[string]any      `json:"metadata,omitempty"`
	GlobalValues       map[string]any      `json:"globalValues,omitempty"`
	Policies           []valuesPolicy      `json:"policies,omitempty"`
	NamespaceSelectors []namespaceSelector `json:"namespaceSelector,omitempty"`
	Namespaces         []map[string]any    `json:"namespaces,omitempty"`
	Subresources       []subresource       `json:"subresources,omitempty"`
}

type valuesPolicy struct {
	Name      string           `json:"name"`
	Rules     []valuesRule     `json:"rules,omitempty"`
	Resources []valuesResource `json:"resources,omitempty"`
}

type valuesRule struct {
	Name          string           `json:"name"`
	Values        map[string]any   `json:"values,omitempty"`
	ForeachValues map[string][]any `json:"foreachValues,omitempty"`
}

type valuesResource struct {
	Name   string         `json:"name"`
	Values map[string]any `json:"values,omitempty"`
}

type namespaceSelector struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
}

type subresource struct {
	APIResource    map[string]any `json:"subresource"`
	ParentResource map[string]any `json:"parentResource"`
}

type userInfoFile struct {
	APIVersion   string         `json:"apiVersion,omitempty"`
	Kind         string         `json:"kind,omitempty"`
	Metadata     map[string]any `json:"metadata,omitempty"`
	Roles        []string       `json:"roles,omitempty"`
	ClusterRoles []string       `json:"clusterRoles,omitempty"`
	UserInfo     struct {
		Username string              `json:"username,omitempty"`
		UID      string              `json:"uid,omitempty"`
		Groups   []string            `json:"groups,omitempty"`
		Extra    map[string][]string `json:"extra,omitempty"`
	} `json:"userInfo,omitempty"`
}
