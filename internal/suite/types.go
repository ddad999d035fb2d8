package suite

// These types mirror Kyverno's CLI test files (cli.kyverno.io/v1alpha1):
// Test, Values and UserInfo. They are decoded strictly.

type kyvernoTest struct {
	APIVersion       string         `json:"apiVersion,omitempty"`
	Kind             string         `json:"kind,omitempty"`
	Metadata         map[string]any `json:"metadata,omitempty"`
	Name             string         `json:"name,omitempty"`
	Policies         []string       `json:"policies,omitempty"`
	Resources        []string       `json:"resources,omitempty"`
	TargetResources  []string       `json:"targetResources,omitempty"`
	ClusterResources []string       `json:"clusterResources,omitempty"`
	ParamResources   []string       `json:"paramResources,omitempty"`
	Exceptions       []string       `json:"exceptions,omitempty"`
	Variables        string         `json:"variables,omitempty"`
	Values           *valuesFile    `json:"values,omitempty"`
	UserInfo         string         `json:"userinfo,omitempty"`
	Context          string         `json:"context,omitempty"`
	JSONPayload      string         `json:"jsonPayload,omitempty"`
	Results          []testResult   `json:"results,omitempty"`
	Checks           []any          `json:"checks,omitempty"`
}

type testResult struct {
	Policy                      string   `json:"policy,omitempty"`
	Rule                        string   `json:"rule,omitempty"`
	Kind                        string   `json:"kind,omitempty"`
	Namespace                   string   `json:"namespace,omitempty"`
	Result                      string   `json:"result,omitempty"`
	Status                      string   `json:"status,omitempty"`
	Resources                   []string `json:"resources,omitempty"`
	Resource                    string   `json:"resource,omitempty"`
	PatchedResource             string   `json:"patchedResource,omitempty"`
	PatchedResources            string   `json:"patchedResources,omitempty"`
	GeneratedResource           string   `json:"generatedResource,omitempty"`
	CloneSourceResource         string   `json:"cloneSourceResource,omitempty"`
	IsValidatingAdmissionPolicy bool     `json:"isValidatingAdmissionPolicy,omitempty"`
	IsMutatingAdmissionPolicy   bool     `json:"isMutatingAdmissionPolicy,omitempty"`
	IsValidatingPolicy          bool     `json:"isValidatingPolicy,omitempty"`
	IsMutatingPolicy            bool     `json:"isMutatingPolicy,omitempty"`
	IsGeneratingPolicy          bool     `json:"isGeneratingPolicy,omitempty"`
	IsDeletingPolicy            bool     `json:"isDeletingPolicy,omitempty"`
	IsImageValidatingPolicy     bool     `json:"isImageValidatingPolicy,omitempty"`
}

type valuesFile struct {
	APIVersion         string              `json:"apiVersion,omitempty"`
	Kind               string              `json:"kind,omitempty"`
	Metadata           map[string]any      `json:"metadata,omitempty"`
	GlobalValues       map[string]any      `json:"globalValues,omitempty"`
	Policies           []valuesPolicy      `json:"policies,omitempty"`
	NamespaceSelectors []namespaceSelector `json:"namespaceSelector,omitempty"`
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
