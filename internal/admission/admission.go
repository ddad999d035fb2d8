// Package admission converts between AdmissionReview objects (v1 and
// v1beta1) and the engine's Request and Result, and renders decisions the way
// each dialect's original controller does, because kubectl prints those
// messages to users. It does nothing else: no HTTP, no policy logic.
package admission

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	admissionv1beta1 "k8s.io/api/admission/v1beta1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/portcullis-dev/portcullis/internal/engine"
)

// Review is a decoded AdmissionReview, remembering the version it came in
// so that the response uses the same one. The request's object, old object
// and options are decoded once, into unstructured values; Request holds the
// rest (its RawExtensions are empty).
type Review struct {
	// APIVersion is admission.k8s.io/v1 or admission.k8s.io/v1beta1.
	APIVersion string
	Request    *admissionv1.AdmissionRequest
	Object     map[string]any
	OldObject  map[string]any
	Options    map[string]any
}

// ErrNoRequest is returned for a review without a request.
var ErrNoRequest = errors.New("admission review has no request")

// wireReview is an AdmissionReview of either version (they have the same
// fields) with the embedded objects decoded straight into maps, so that
// the body is parsed in one pass.
type wireReview struct {
	APIVersion string       `json:"apiVersion"`
	Request    *wireRequest `json:"request"`
}

type wireRequest struct {
	UID                types.UID                    `json:"uid"`
	Kind               metav1.GroupVersionKind      `json:"kind"`
	Resource           metav1.GroupVersionResource  `json:"resource"`
	SubResource        string                       `json:"subResource,omitempty"`
	RequestKind        *metav1.GroupVersionKind     `json:"requestKind,omitempty"`
	RequestResource    *metav1.GroupVersionResource `json:"requestResource,omitempty"`
	RequestSubResource string                       `json:"requestSubResource,omitempty"`
	Name               string                       `json:"name,omitempty"`
	Namespace          string                       `json:"namespace,omitempty"`
	Operation          admissionv1.Operation        `json:"operation"`
	UserInfo           authenticationv1.UserInfo    `json:"userInfo"`
	Object             map[string]any               `json:"object,omitempty"`
	OldObject          map[string]any               `json:"oldObject,omitempty"`
	DryRun             *bool                        `json:"dryRun,omitempty"`
	Options            map[string]any               `json:"options,omitempty"`
}

// Decode reads an AdmissionReview in either version.
func Decode(body []byte) (*Review, error) {
	var w wireReview
	if err := utiljson.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("failed to decode admission review: %w", err)
	}
	switch w.APIVersion {
	case "", admissionv1.SchemeGroupVersion.String():
		w.APIVersion = admissionv1.SchemeGroupVersion.String()
	case admissionv1beta1.SchemeGroupVersion.String():
	default:
		return nil, fmt.Errorf("unsupported admission review version %q", w.APIVersion)
	}
	if w.Request == nil {
		return nil, ErrNoRequest
	}
	r := w.Request
	return &Review{
		APIVersion: w.APIVersion,
		Request: &admissionv1.AdmissionRequest{
			UID: r.UID, Kind: r.Kind, Resource: r.Resource, SubResource: r.SubResource,
			RequestKind: r.RequestKind, RequestResource: r.RequestResource, RequestSubResource: r.RequestSubResource,
			Name: r.Name, Namespace: r.Namespace, Operation: r.Operation, UserInfo: r.UserInfo, DryRun: r.DryRun,
		},
		Object:    r.Object,
		OldObject: r.OldObject,
		Options:   r.Options,
	}, nil
}

// UID returns the request's UID, or "" when there is none. Handlers use it
// to answer even requests they cannot process.
func UID(body []byte) types.UID {
	var r struct {
		Request struct {
			UID types.UID `json:"uid"`
		} `json:"request"`
	}
	_ = json.Unmarshal(body, &r)
	return r.Request.UID
}

// EngineRequest converts an admission review for the engine.
func EngineRequest(rv *Review, phase engine.Phase) engine.Request {
	req := rv.Request
	out := engine.Request{
		UID:         string(req.UID),
		Kind:        schema.GroupVersionKind{Group: req.Kind.Group, Version: req.Kind.Version, Kind: req.Kind.Kind},
		Resource:    schema.GroupVersionResource{Group: req.Resource.Group, Version: req.Resource.Version, Resource: req.Resource.Resource},
		SubResource: req.SubResource,
		Name:        req.Name,
		Namespace:   req.Namespace,
		Operation:   engine.Operation(req.Operation),
		UserInfo:    req.UserInfo,
		Object:      rv.Object,
		OldObject:   rv.OldObject,
		Options:     rv.Options,
		Phase:       phase,
	}
	if req.DryRun != nil {
		out.DryRun = *req.DryRun
	}
	return out
}

// Encode writes the response review in the request's version.
func Encode(review *Review, resp *admissionv1.AdmissionResponse) ([]byte, error) {
	if review != nil && review.APIVersion == admissionv1beta1.SchemeGroupVersion.String() {
		var r admissionv1beta1.AdmissionResponse
		b, _ := json.Marshal(resp)
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, err
		}
		return json.Marshal(admissionv1beta1.AdmissionReview{
			TypeMeta: metav1.TypeMeta{APIVersion: review.APIVersion, Kind: "AdmissionReview"},
			Response: &r,
		})
	}
	return json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "AdmissionReview"},
		Response: resp,
	})
}

// Allow is an allowing response with warnings.
func Allow(uid types.UID, warnings []string) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{UID: uid, Allowed: true, Warnings: warnings}
}

// Deny is a denying response with a status.
func Deny(uid types.UID, status *metav1.Status, warnings []string) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{UID: uid, Allowed: false, Result: status, Warnings: warnings}
}

// Errored answers a request that could not be processed. The webhook's
// failure policy decides: with Fail the request is denied, with Ignore it is
// allowed with a warning that says what went wrong.
func Errored(uid types.UID, err error, ignore bool) *admissionv1.AdmissionResponse {
	if ignore {
		return Allow(uid, []string{"portcullis: request not evaluated (failure policy Ignore): " + err.Error()})
	}
	return Deny(uid, &metav1.Status{Status: metav1.StatusFailure, Code: 500, Reason: metav1.StatusReasonInternalError, Message: err.Error()}, nil)
}

// WithPatch adds a JSON patch to a response.
func WithPatch(resp *admissionv1.AdmissionResponse, patch []engine.PatchOperation) error {
	if len(patch) == 0 {
		return nil
	}
	b, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	pt := admissionv1.PatchTypeJSONPatch
	resp.Patch = b
	resp.PatchType = &pt
	return nil
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }
