package ratify

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
	sigsjson "sigs.k8s.io/json"

	"github.com/portcullis-dev/portcullis/internal/engine"
)

// The documents' typed forms. Specs decode strictly, as the API server
// validates them against Ratify's CRD schemas; parameters decode the way
// Ratify reads them (decodeParameters), since the CRDs preserve unknown
// fields there. Fields Ratify reads but portcullis has no use for (plugin
// addresses and versions, Rekor URLs) are accepted.

// objectMeta is the part of metadata the dialect reads.
type objectMeta struct {
	Name            string            `json:"name"`
	Namespace       string            `json:"namespace,omitempty"`
	UID             string            `json:"uid,omitempty"`
	ResourceVersion string            `json:"resourceVersion,omitempty"`
	Generation      int64             `json:"generation,omitempty"`
	Labels          map[string]string `json:"labels,omitempty"`
	Annotations     map[string]string `json:"annotations,omitempty"`
}

// document is the envelope of every Ratify object. Metadata is decoded
// leniently (any field a Kubernetes object may carry); spec strictly.
type document struct {
	APIVersion string          `json:"apiVersion"`
	Kind       string          `json:"kind"`
	Metadata   json.RawMessage `json:"metadata"`
	Spec       json.RawMessage `json:"spec"`
	Status     json.RawMessage `json:"status,omitempty"`
}

// verifierSpec is a Verifier's spec (v1beta1; v1alpha1 has no type).
type verifierSpec struct {
	// Name is the verifier's type in v1alpha1 and (deprecated) v1beta1.
	Name string `json:"name"`
	// Type overrides Name in v1beta1.
	Type          string          `json:"type,omitempty"`
	Version       string          `json:"version,omitempty"`
	ArtifactTypes string          `json:"artifactTypes"`
	Address       string          `json:"address,omitempty"`
	Source        json.RawMessage `json:"source,omitempty"`
	Parameters    json.RawMessage `json:"parameters,omitempty"`
}

// cosignParameters are the cosign verifier's parameters: trustPolicies, or
// the legacy key and rekorURL.
type cosignParameters struct {
	TrustPolicies []trustPolicyConfig `json:"trustPolicies,omitempty"`
	// Key is a public key file (legacy configuration).
	Key string `json:"key,omitempty"`
	// RekorURL turns on transparency-log checks (legacy configuration).
	RekorURL            string   `json:"rekorURL,omitempty"`
	NestedArtifactTypes []string `json:"nestedArtifactTypes,omitempty"`
}

// trustPolicyConfig is one entry of trustPolicies.
type trustPolicyConfig struct {
	Version    string        `json:"version,omitempty"`
	Name       string        `json:"name"`
	Scopes     []string      `json:"scopes"`
	Keys       []keyConfig   `json:"keys,omitempty"`
	Keyless    keylessConfig `json:"keyless,omitempty"`
	TLogVerify *bool         `json:"tLogVerify,omitempty"`
	RekorURL   string        `json:"rekorURL,omitempty"`
}

// keyConfig names public keys: every key of a KeyManagementProvider (or the
// named one), or a PEM file.
type keyConfig struct {
	Provider string `json:"provider,omitempty"`
	Name     string `json:"name,omitempty"`
	Version  string `json:"version,omitempty"`
	File     string `json:"file,omitempty"`
}

// keylessConfig is a trust policy's keyless identity.
type keylessConfig struct {
	CTLogVerify                 *bool  `json:"ctLogVerify,omitempty"`
	CertificateIdentity         string `json:"certificateIdentity,omitempty"`
	CertificateIdentityRegExp   string `json:"certificateIdentityRegExp,omitempty"`
	CertificateOIDCIssuer       string `json:"certificateOIDCIssuer,omitempty"`
	CertificateOIDCIssuerRegExp string `json:"certificateOIDCIssuerRegExp,omitempty"`
}

func (k keylessConfig) isSet() bool {
	return k.CTLogVerify != nil || k.CertificateIdentity != "" || k.CertificateIdentityRegExp != "" ||
		k.CertificateOIDCIssuer != "" || k.CertificateOIDCIssuerRegExp != ""
}

// policySpec is a Policy's spec. In v1alpha1 the type is metadata.name.
type policySpec struct {
	Type       string          `json:"type,omitempty"`
	Parameters json.RawMessage `json:"parameters,omitempty"`
}

// configPolicyParameters are config-policy's parameters.
type configPolicyParameters struct {
	ArtifactVerificationPolicies map[string]string `json:"artifactVerificationPolicies,omitempty"`
	PassthroughEnabled           bool              `json:"passthroughEnabled,omitempty"`
}

// kmpSpec is a KeyManagementProvider's spec.
type kmpSpec struct {
	Type            string          `json:"type,omitempty"`
	RefreshInterval string          `json:"refreshInterval,omitempty"`
	Parameters      json.RawMessage `json:"parameters,omitempty"`
}

// inlineKMPParameters are the parameters of an inline KeyManagementProvider.
type inlineKMPParameters struct {
	ContentType string `json:"contentType"`
	Value       string `json:"value"`
}

// decodeEnvelope splits a document into its metadata and raw spec.
func decodeEnvelope(doc engine.Document) (objectMeta, json.RawMessage, field.ErrorList) {
	root := doc.Root()
	raw, err := json.Marshal(doc.Object)
	if err != nil {
		return objectMeta{}, nil, field.ErrorList{field.InternalError(root, err)}
	}
	var d document
	if err := json.Unmarshal(raw, &d); err != nil {
		return objectMeta{}, nil, field.ErrorList{field.Invalid(root, nil, decodeMessage(err))}
	}
	var meta objectMeta
	if len(d.Metadata) > 0 {
		if err := json.Unmarshal(d.Metadata, &meta); err != nil {
			return objectMeta{}, nil, field.ErrorList{field.Invalid(root.Child("metadata"), nil, decodeMessage(err))}
		}
	}
	var errs field.ErrorList
	if meta.Name == "" {
		errs = append(errs, field.Required(root.Child("metadata", "name"), ""))
	}
	return meta, d.Spec, errs
}

// decodeStrict decodes raw into out, reporting unknown and duplicate fields
// and type mismatches under path.
func decodeStrict(raw json.RawMessage, path *field.Path, out any) field.ErrorList {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	strict, err := sigsjson.UnmarshalStrict(raw, out, sigsjson.DisallowUnknownFields)
	if err != nil {
		return field.ErrorList{field.Invalid(path, field.OmitValueType{}, decodeMessage(err))}
	}
	var errs field.ErrorList
	for _, e := range strict {
		errs = append(errs, strictError(path, e))
	}
	return errs
}

// decodeParameters decodes a plugin's parameters as Ratify does, with
// encoding/json: field names match case-insensitively and unknown fields
// are ignored (the CRDs preserve them). Type mismatches are errors under
// path.
func decodeParameters(raw json.RawMessage, path *field.Path, out any) field.ErrorList {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return field.ErrorList{field.TypeInvalid(childPath(path, te.Field), field.OmitValueType{}, fmt.Sprintf("cannot use a %s as %s", te.Value, te.Type))}
		}
		return field.ErrorList{field.Invalid(path, field.OmitValueType{}, err.Error())}
	}
	return nil
}

// strictError turns a strict-decoding error (`unknown field "a.b"`) into a
// field error at that path below root.
func strictError(root *field.Path, err error) *field.Error {
	msg := err.Error()
	if i := strings.IndexByte(msg, '"'); i >= 0 {
		if j := strings.LastIndexByte(msg, '"'); j > i {
			return field.Forbidden(childPath(root, msg[i+1:j]), strings.TrimSpace(msg[:i]))
		}
	}
	return field.Invalid(root, nil, msg)
}

// childPath appends a dotted JSON path ("trustPolicies[0].keyles") to root.
func childPath(root *field.Path, dotted string) *field.Path {
	p := root
	for _, seg := range strings.Split(dotted, ".") {
		name, rest, _ := strings.Cut(seg, "[")
		if name != "" {
			p = p.Child(name)
		}
		for rest != "" {
			idx, after, ok := strings.Cut(rest, "]")
			if !ok {
				break
			}
			var n int
			if _, err := fmt.Sscanf(idx, "%d", &n); err == nil {
				p = p.Index(n)
			} else {
				p = p.Key(idx)
			}
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return p
}

func decodeMessage(err error) string {
	if te, ok := err.(*json.UnmarshalTypeError); ok && te.Field != "" {
		return fmt.Sprintf("%s: cannot use a %s as %s", te.Field, te.Value, te.Type)
	}
	return err.Error()
}
