package kyverno

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// These types mirror the kyverno.io/v1 and v2beta1 ClusterPolicy and Policy
// schema. They are decoded strictly: a field that is not part of the schema
// is an error that names its path. Parts that this dialect hands to other
// packages as raw JSON (patterns, conditions, overlays) stay `any`.

// policyDoc is a ClusterPolicy or Policy document.
type policyDoc struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       spec              `json:"spec"`
	Status     any               `json:"status,omitempty"`
}

type spec struct {
	Rules                            []rule                `json:"rules,omitempty"`
	ApplyRules                       *string               `json:"applyRules,omitempty"`
	FailurePolicy                    *string               `json:"failurePolicy,omitempty"`
	ValidationFailureAction          string                `json:"validationFailureAction,omitempty"`
	ValidationFailureActionOverrides []actionOverride      `json:"validationFailureActionOverrides,omitempty"`
	EmitWarning                      *bool                 `json:"emitWarning,omitempty"`
	AuditWarning                     *bool                 `json:"auditWarning,omitempty"`
	Admission                        *bool                 `json:"admission,omitempty"`
	Background                       *bool                 `json:"background,omitempty"`
	SchemaValidation                 *bool                 `json:"schemaValidation,omitempty"`
	WebhookTimeoutSeconds            *int32                `json:"webhookTimeoutSeconds,omitempty"`
	MutateExistingOnPolicyUpdate     bool                  `json:"mutateExistingOnPolicyUpdate,omitempty"`
	GenerateExistingOnPolicyUpdate   *bool                 `json:"generateExistingOnPolicyUpdate,omitempty"`
	GenerateExisting                 bool                  `json:"generateExisting,omitempty"`
	UseServerSideApply               bool                  `json:"useServerSideApply,omitempty"`
	WebhookConfiguration             *webhookConfiguration `json:"webhookConfiguration,omitempty"`
	Evaluation                       map[string]any        `json:"evaluation,omitempty"`
}

type webhookConfiguration struct {
	FailurePolicy   *string                                  `json:"failurePolicy,omitempty"`
	TimeoutSeconds  *int32                                   `json:"timeoutSeconds,omitempty"`
	MatchConditions []admissionregistrationv1.MatchCondition `json:"matchConditions,omitempty"`
}

type actionOverride struct {
	Action            string                `json:"action,omitempty"`
	Namespaces        []string              `json:"namespaces,omitempty"`
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
}

type rule struct {
	Name                   string                                   `json:"name,omitempty"`
	Context                []contextEntry                           `json:"context,omitempty"`
	Match                  matchResources                           `json:"match,omitempty"`
	Exclude                *matchResources                          `json:"exclude,omitempty"`
	ImageExtractors        map[string][]imageExtractor              `json:"imageExtractors,omitempty"`
	Preconditions          any                                      `json:"preconditions,omitempty"`
	CELPreconditions       []admissionregistrationv1.MatchCondition `json:"celPreconditions,omitempty"`
	Mutate                 *mutation                                `json:"mutate,omitempty"`
	Validate               *validation                              `json:"validate,omitempty"`
	Generate               map[string]any                           `json:"generate,omitempty"`
	VerifyImages           []imageVerification                      `json:"verifyImages,omitempty"`
	SkipBackgroundRequests *bool                                    `json:"skipBackgroundRequests,omitempty"`
	ReportProperties       map[string]string                        `json:"reportProperties,omitempty"`
}

type imageExtractor struct {
	Path     string `json:"path"`
	Value    string `json:"value,omitempty"`
	Name     string `json:"name,omitempty"`
	Key      string `json:"key,omitempty"`
	JMESPath string `json:"jmesPath,omitempty"`
}

type matchResources struct {
	Any       []resourceFilter    `json:"any,omitempty"`
	All       []resourceFilter    `json:"all,omitempty"`
	Resources resourceDescription `json:"resources,omitempty"`
	userInfo  `json:",inline"`
}

type resourceFilter struct {
	Resources resourceDescription `json:"resources,omitempty"`
	userInfo  `json:",inline"`
}

type userInfo struct {
	Roles        []string         `json:"roles,omitempty"`
	ClusterRoles []string         `json:"clusterRoles,omitempty"`
	Subjects     []rbacv1.Subject `json:"subjects,omitempty"`
}

type resourceDescription struct {
	Kinds             []string              `json:"kinds,omitempty"`
	Name              string                `json:"name,omitempty"`
	Names             []string              `json:"names,omitempty"`
	Namespaces        []string              `json:"namespaces,omitempty"`
	Annotations       map[string]string     `json:"annotations,omitempty"`
	Selector          *metav1.LabelSelector `json:"selector,omitempty"`
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
	Operations        []string              `json:"operations,omitempty"`
}

type contextEntry struct {
	Name            string              `json:"name"`
	ConfigMap       *configMapReference `json:"configMap,omitempty"`
	APICall         *apiCall            `json:"apiCall,omitempty"`
	ImageRegistry   *imageRegistry      `json:"imageRegistry,omitempty"`
	Variable        *variable           `json:"variable,omitempty"`
	GlobalReference *globalReference    `json:"globalReference,omitempty"`
}

type configMapReference struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
}

type variable struct {
	Value    any    `json:"value,omitempty"`
	JMESPath string `json:"jmesPath,omitempty"`
	Default  any    `json:"default,omitempty"`
}

type globalReference struct {
	Name     string `json:"name"`
	JMESPath string `json:"jmesPath,omitempty"`
}

type apiCall struct {
	URLPath  string        `json:"urlPath,omitempty"`
	Method   string        `json:"method,omitempty"`
	Data     []requestData `json:"data,omitempty"`
	Service  *serviceCall  `json:"service,omitempty"`
	JMESPath string        `json:"jmesPath,omitempty"`
	Default  any           `json:"default,omitempty"`
}

type requestData struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}

type serviceCall struct {
	URL      string       `json:"url"`
	Headers  []httpHeader `json:"headers,omitempty"`
	CABundle string       `json:"caBundle,omitempty"`
}

type httpHeader struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type validation struct {
	FailureAction                    *string             `json:"failureAction,omitempty"`
	ValidationFailureAction          *string             `json:"validationFailureAction,omitempty"`
	FailureActionOverrides           []actionOverride    `json:"failureActionOverrides,omitempty"`
	ValidationFailureActionOverrides []actionOverride    `json:"validationFailureActionOverrides,omitempty"`
	AllowExistingViolations          *bool               `json:"allowExistingViolations,omitempty"`
	Message                          string              `json:"message,omitempty"`
	Manifests                        map[string]any      `json:"manifests,omitempty"`
	ForEach                          []forEachValidation `json:"foreach,omitempty"`
	Pattern                          any                 `json:"pattern,omitempty"`
	AnyPattern                       any                 `json:"anyPattern,omitempty"`
	Deny                             *deny               `json:"deny,omitempty"`
	PodSecurity                      any                 `json:"podSecurity,omitempty"`
	CEL                              map[string]any      `json:"cel,omitempty"`
	Assert                           any                 `json:"assert,omitempty"`
}

type deny struct {
	Conditions any `json:"conditions,omitempty"`
}

type forEachValidation struct {
	List          string              `json:"list"`
	Context       []contextEntry      `json:"context,omitempty"`
	ElementScope  *bool               `json:"elementScope,omitempty"`
	Preconditions any                 `json:"preconditions,omitempty"`
	Pattern       any                 `json:"pattern,omitempty"`
	AnyPattern    any                 `json:"anyPattern,omitempty"`
	Deny          *deny               `json:"deny,omitempty"`
	ForEach       []forEachValidation `json:"foreach,omitempty"`
}

type mutation struct {
	MutateExistingOnPolicyUpdate *bool             `json:"mutateExistingOnPolicyUpdate,omitempty"`
	Targets                      []map[string]any  `json:"targets,omitempty"`
	PatchStrategicMerge          any               `json:"patchStrategicMerge,omitempty"`
	PatchesJSON6902              string            `json:"patchesJson6902,omitempty"`
	ForEach                      []forEachMutation `json:"foreach,omitempty"`
}

type forEachMutation struct {
	List                string            `json:"list"`
	Order               *string           `json:"order,omitempty"`
	Context             []contextEntry    `json:"context,omitempty"`
	Preconditions       any               `json:"preconditions,omitempty"`
	PatchStrategicMerge any               `json:"patchStrategicMerge,omitempty"`
	PatchesJSON6902     string            `json:"patchesJson6902,omitempty"`
	ForEach             []forEachMutation `json:"foreach,omitempty"`
}

// imageRegistry is the imageRegistry context entry: the image reference
// to read from its registry, and a JMESPath over Kyverno's image document.
type imageRegistry struct {
	Reference                string                    `json:"reference"`
	JMESPath                 string                    `json:"jmesPath,omitempty"`
	ImageRegistryCredentials *imageRegistryCredentials `json:"imageRegistryCredentials,omitempty"`
}

// imageRegistryCredentials says how registry reads authenticate.
type imageRegistryCredentials struct {
	AllowInsecureRegistry bool     `json:"allowInsecureRegistry,omitempty"`
	Providers             []string `json:"providers,omitempty"`
	Secrets               []string `json:"secrets,omitempty"`
}

// imageVerification is one entry of a verifyImages rule. The booleans whose
// CRD default is true are pointers, so that an absent field takes Kyverno's
// default.
type imageVerification struct {
	FailureAction            *string                   `json:"failureAction,omitempty"`
	Type                     string                    `json:"type,omitempty"`
	Image                    string                    `json:"image,omitempty"`
	ImageReferences          []string                  `json:"imageReferences,omitempty"`
	SkipImageReferences      []string                  `json:"skipImageReferences,omitempty"`
	Key                      string                    `json:"key,omitempty"`
	Roots                    string                    `json:"roots,omitempty"`
	Subject                  string                    `json:"subject,omitempty"`
	Issuer                   string                    `json:"issuer,omitempty"`
	AdditionalExtensions     map[string]string         `json:"additionalExtensions,omitempty"`
	Attestors                []attestorSet             `json:"attestors,omitempty"`
	Attestations             []attestation             `json:"attestations,omitempty"`
	Annotations              map[string]string         `json:"annotations,omitempty"`
	Repository               string                    `json:"repository,omitempty"`
	CosignOCI11              bool                      `json:"cosignOCI11,omitempty"`
	MutateDigest             *bool                     `json:"mutateDigest,omitempty"`
	VerifyDigest             *bool                     `json:"verifyDigest,omitempty"`
	Validation               *imageValidation          `json:"validate,omitempty"`
	Required                 *bool                     `json:"required,omitempty"`
	ImageRegistryCredentials *imageRegistryCredentials `json:"imageRegistryCredentials,omitempty"`
	UseCache                 *bool                     `json:"useCache,omitempty"`
}

// imageValidation is verifyImages[].validate: deny conditions checked
// across the attestations of the entry.
type imageValidation struct {
	Message string `json:"message,omitempty"`
	Deny    *deny  `json:"deny,omitempty"`
}

// attestorSet is a set of attestors of which Count must verify (all of
// them when Count is absent).
type attestorSet struct {
	Count   *int       `json:"count,omitempty"`
	Entries []attestor `json:"entries,omitempty"`
}

// attestor is one authority: keys, certificates, keyless, or a nested set.
type attestor struct {
	Keys               *staticKeyAttestor   `json:"keys,omitempty"`
	Certificates       *certificateAttestor `json:"certificates,omitempty"`
	Keyless            *keylessAttestor     `json:"keyless,omitempty"`
	Attestor           any                  `json:"attestor,omitempty"`
	Annotations        map[string]string    `json:"annotations,omitempty"`
	Repository         string               `json:"repository,omitempty"`
	SignatureAlgorithm string               `json:"signatureAlgorithm,omitempty"`
}

type staticKeyAttestor struct {
	PublicKeys         string           `json:"publicKeys,omitempty"`
	SignatureAlgorithm string           `json:"signatureAlgorithm,omitempty"`
	KMS                string           `json:"kms,omitempty"`
	Secret             *secretReference `json:"secret,omitempty"`
	Rekor              *rekor           `json:"rekor,omitempty"`
	CTLog              *ctlog           `json:"ctlog,omitempty"`
}

type secretReference struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
}

type certificateAttestor struct {
	Certificate      string `json:"cert,omitempty"`
	CertificateChain string `json:"certChain,omitempty"`
	Rekor            *rekor `json:"rekor,omitempty"`
	CTLog            *ctlog `json:"ctlog,omitempty"`
}

type keylessAttestor struct {
	Rekor                *rekor            `json:"rekor,omitempty"`
	CTLog                *ctlog            `json:"ctlog,omitempty"`
	Issuer               string            `json:"issuer,omitempty"`
	IssuerRegExp         string            `json:"issuerRegExp,omitempty"`
	Subject              string            `json:"subject,omitempty"`
	SubjectRegExp        string            `json:"subjectRegExp,omitempty"`
	Roots                string            `json:"roots,omitempty"`
	AdditionalExtensions map[string]string `json:"additionalExtensions,omitempty"`
}

type rekor struct {
	URL         string `json:"url,omitempty"`
	RekorPubKey string `json:"pubkey,omitempty"`
	IgnoreTlog  bool   `json:"ignoreTlog,omitempty"`
}

type ctlog struct {
	IgnoreSCT    bool   `json:"ignoreSCT,omitempty"`
	CTLogPubKey  string `json:"pubkey,omitempty"`
	TSACertChain string `json:"tsaCertChain,omitempty"`
}

// attestation is a check of signed in-toto statements of one predicate
// type.
type attestation struct {
	Name          string        `json:"name,omitempty"`
	PredicateType string        `json:"predicateType,omitempty"`
	Type          string        `json:"type,omitempty"`
	Attestors     []attestorSet `json:"attestors,omitempty"`
	Conditions    []any         `json:"conditions,omitempty"`
}
