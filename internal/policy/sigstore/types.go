package sigstore

import (
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	sigsjson "sigs.k8s.io/json"

	"github.com/portcullis-dev/portcullis/internal/engine"
)

// The decoded form of a ClusterImagePolicy: v1beta1's fields, which
// v1alpha1's are a subset of (v1alpha1's policy.url is v1beta1's
// policy.remote).

type cipDoc struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       cipSpec           `json:"spec"`
	Status     json.RawMessage   `json:"status,omitempty"`
}

type cipSpec struct {
	Images      []imagePattern  `json:"images"`
	Authorities []authoritySpec `json:"authorities,omitempty"`
	Policy      *policySpec     `json:"policy,omitempty"`
	Mode        string          `json:"mode,omitempty"`
	Match       []matchResource `json:"match,omitempty"`
}

type imagePattern struct {
	Glob string `json:"glob"`
}

type authoritySpec struct {
	Name             string            `json:"name,omitempty"`
	Key              *keyRef           `json:"key,omitempty"`
	Keyless          *keylessRef       `json:"keyless,omitempty"`
	Static           *staticRef        `json:"static,omitempty"`
	Sources          []sourceSpec      `json:"source,omitempty"`
	CTLog            *tlogSpec         `json:"ctlog,omitempty"`
	Attestations     []attestationSpec `json:"attestations,omitempty"`
	RFC3161Timestamp *tsaSpec          `json:"rfc3161timestamp,omitempty"`
	SignatureFormat  string            `json:"signatureFormat,omitempty"`
}

type keyRef struct {
	SecretRef     *corev1.SecretReference `json:"secretRef,omitempty"`
	Data          string                  `json:"data,omitempty"`
	KMS           string                  `json:"kms,omitempty"`
	HashAlgorithm string                  `json:"hashAlgorithm,omitempty"`
}

type keylessRef struct {
	URL               string         `json:"url,omitempty"`
	Identities        []identitySpec `json:"identities,omitempty"`
	CACert            *keyRef        `json:"ca-cert,omitempty"`
	TrustRootRef      string         `json:"trustRootRef,omitempty"`
	InsecureIgnoreSCT *bool          `json:"insecureIgnoreSCT,omitempty"`
}

type identitySpec struct {
	Issuer        string `json:"issuer,omitempty"`
	Subject       string `json:"subject,omitempty"`
	IssuerRegExp  string `json:"issuerRegExp,omitempty"`
	SubjectRegExp string `json:"subjectRegExp,omitempty"`
}

type staticRef struct {
	Action  string `json:"action"`
	Message string `json:"message,omitempty"`
}

type sourceSpec struct {
	OCI                  string                        `json:"oci,omitempty"`
	SignaturePullSecrets []corev1.LocalObjectReference `json:"signaturePullSecrets,omitempty"`
	TagPrefix            *string                       `json:"tagPrefix,omitempty"`
}

type tlogSpec struct {
	URL          string `json:"url,omitempty"`
	TrustRootRef string `json:"trustRootRef,omitempty"`
}

type tsaSpec struct {
	TrustRootRef string `json:"trustRootRef,omitempty"`
}

type attestationSpec struct {
	Name          string      `json:"name"`
	PredicateType string      `json:"predicateType"`
	Policy        *policySpec `json:"policy,omitempty"`
}

type policySpec struct {
	Type              string           `json:"type"`
	Data              string           `json:"data,omitempty"`
	Remote            *json.RawMessage `json:"remote,omitempty"`
	URL               string           `json:"url,omitempty"`
	ConfigMapRef      *json.RawMessage `json:"configMapRef,omitempty"`
	FetchConfigFile   *bool            `json:"fetchConfigFile,omitempty"`
	IncludeSpec       *bool            `json:"includeSpec,omitempty"`
	IncludeObjectMeta *bool            `json:"includeObjectMeta,omitempty"`
	IncludeTypeMeta   *bool            `json:"includeTypeMeta,omitempty"`
}

type matchResource struct {
	Group    string                `json:"group,omitempty"`
	Version  string                `json:"version,omitempty"`
	Resource string                `json:"resource,omitempty"`
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
}

// decode strictly decodes a document. Unknown and duplicate fields and
// values of the wrong type are reported with their path.
func decode(doc engine.Document) (*cipDoc, field.ErrorList) {
	root := doc.Root()
	raw, err := json.Marshal(doc.Object)
	if err != nil {
		return nil, field.ErrorList{field.InternalError(root, err)}
	}
	var c cipDoc
	strict, err := sigsjson.UnmarshalStrict(raw, &c, sigsjson.DisallowUnknownFields)
	if err != nil {
		return nil, field.ErrorList{typeError(root, doc.Object, err)}
	}
	var errs field.ErrorList
	for _, e := range strict {
		errs = append(errs, strictError(root, e))
	}
	return &c, errs
}

// strictError turns a strict-decoding error (`unknown field "spec.x"`)
// into a field error at that path.
func strictError(root *field.Path, err error) *field.Error {
	msg := err.Error()
	if i := strings.IndexByte(msg, '"'); i >= 0 {
		if j := strings.LastIndexByte(msg, '"'); j > i {
			return field.Forbidden(root.Child(msg[i+1:j]), strings.TrimSpace(msg[:i]))
		}
	}
	return field.Invalid(root, field.OmitValueType{}, msg)
}

// typeError reports a value of the wrong type at its path. The decoder
// names the field without list indices ("spec.authorities.name"); the
// path reported is that of the first such value in the document
// ("spec.authorities[1].name").
func typeError(root *field.Path, obj map[string]any, err error) *field.Error {
	te, ok := err.(*json.UnmarshalTypeError)
	if !ok || te.Field == "" {
		return field.Invalid(root, field.OmitValueType{}, err.Error())
	}
	p := locate(obj, strings.Split(te.Field, "."), root, te.Value)
	if p == nil {
		p = root.Child(te.Field)
	}
	return field.TypeInvalid(p, field.OmitValueType{}, fmt.Sprintf("must be %s, not %s", jsonType(te.Type.String()), te.Value))
}

// locate finds the first value at the dotted path segs (descending into
// every list on the way) whose JSON kind is kind.
func locate(v any, segs []string, p *field.Path, kind string) *field.Path {
	if l, ok := v.([]any); ok && len(segs) > 0 {
		for i, e := range l {
			if found := locate(e, segs, p.Index(i), kind); found != nil {
				return found
			}
		}
		return nil
	}
	if len(segs) == 0 {
		if jsonKind(v) == kind {
			return p
		}
		if l, ok := v.([]any); ok {
			for i, e := range l {
				if jsonKind(e) == kind {
					return p.Index(i)
				}
			}
		}
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	next, ok := m[segs[0]]
	if !ok {
		return nil
	}
	return locate(next, segs[1:], p.Child(segs[0]), kind)
}

// jsonKind names a decoded JSON value's kind as encoding/json's type
// errors do.
func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case bool:
		return "bool"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case nil:
		return "null"
	}
	return "number"
}

func jsonType(goType string) string {
	switch {
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "a boolean"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "float"):
		return "a number"
	}
	return "an object"
}
