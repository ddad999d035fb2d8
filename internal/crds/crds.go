// Package crds installs the CustomResourceDefinitions portcullis serves:
// the policy kinds of every dialect (Kyverno, Gatekeeper, Sigstore, Ratify)
// and the wgpolicyk8s.io report kinds. The definitions are the YAML files of
// deploy/crds, embedded in the binary; Apply creates or updates them and
// waits until the API server serves them. Apply is also how the controller
// installs the constraint kinds that Gatekeeper templates define.
package crds

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"time"

	"github.com/go-logr/logr"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/yaml"

	crdfiles "github.com/portcullis-dev/portcullis/deploy/crds"
)

// The label that marks what portcullis created and keeps up to date.
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedBy      = "portcullis"
)

// PollInterval is how often WaitEstablished checks the definitions.
const PollInterval = 250 * time.Millisecond

// All returns the embedded definitions, sorted by name. Each call returns
// new objects that the caller may change.
func All() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	names, err := fs.Glob(crdfiles.Files, "*.yaml")
	if err != nil {
		return nil, err
	}
	var out []*apiextensionsv1.CustomResourceDefinition
	for _, name := range names {
		data, err := crdfiles.Files.ReadFile(name)
		if err != nil {
			return nil, err
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(data, crd); err != nil {
			return nil, fmt.Errorf("failed to decode deploy/crds/%s: %w", name, err)
		}
		out = append(out, crd)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Managed reports whether portcullis manages an object: it carries the
// app.kubernetes.io/managed-by=portcullis label.
func Managed(obj metav1.Object) bool { return obj.GetLabels()[ManagedByLabel] == ManagedBy }

// Apply creates every definition that does not exist and updates the ones
// portcullis manages, then waits until all of them are Established. A
// definition that exists without the managed-by label (installed by
// Kyverno's or Gatekeeper's own charts, say) is left as it is: its schema is
// the peer's and serves the same objects.
func Apply(ctx context.Context, client apiextensionsclient.Interface, log logr.Logger, defs ...*apiextensionsv1.CustomResourceDefinition) error {
	api := client.ApiextensionsV1().CustomResourceDefinitions()
	names := make([]string, 0, len(defs))
	for _, def := range defs {
		names = append(names, def.Name)
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			existing, err := api.Get(ctx, def.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				_, err = api.Create(ctx, def, metav1.CreateOptions{FieldManager: ManagedBy})
				if err == nil {
					log.Info("created CustomResourceDefinition", "name", def.Name)
				}
				return err
			}
			if err != nil {
				return err
			}
			if !Managed(existing) {
				log.V(1).Info("kept a CustomResourceDefinition that portcullis does not manage", "name", def.Name)
				return nil
			}
			update := def.DeepCopy()
			update.ResourceVersion = existing.ResourceVersion
			update.OwnerReferences = mergeOwners(existing.OwnerReferences, def.OwnerReferences)
			_, err = api.Update(ctx, update, metav1.UpdateOptions{FieldManager: ManagedBy})
			return err
		})
		if err != nil {
			return fmt.Errorf("failed to apply CustomResourceDefinition %s: %w", def.Name, err)
		}
	}
	return WaitEstablished(ctx, client, names...)
}

func mergeOwners(existing, desired []metav1.OwnerReference) []metav1.OwnerReference {
	if len(desired) == 0 {
		return existing
	}
	return desired
}

// WaitEstablished waits until every named definition is Established, or
// returns an error when ctx ends first or when the API server refused a
// definition's names.
func WaitEstablished(ctx context.Context, client apiextensionsclient.Interface, names ...string) error {
	api := client.ApiextensionsV1().CustomResourceDefinitions()
	pending := append([]string(nil), names...)
	var last error
	err := wait.PollUntilContextCancel(ctx, PollInterval, true, func(ctx context.Context) (bool, error) {
		rest := pending[:0]
		for _, name := range pending {
			crd, err := api.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				last = err
				rest = append(rest, name)
				continue
			}
			established, err := Established(crd)
			if err != nil {
				return false, err
			}
			if !established {
				last = fmt.Errorf("%s is not established yet", name)
				rest = append(rest, name)
			}
		}
		pending = rest
		return len(pending) == 0, nil
	})
	if err != nil && last != nil && ctx.Err() != nil {
		return fmt.Errorf("failed waiting for CustomResourceDefinitions %v to be established: %w (last: %v)", pending, err, last)
	}
	if err != nil {
		return fmt.Errorf("failed waiting for CustomResourceDefinitions %v to be established: %w", pending, err)
	}
	return nil
}

// Established reports whether the API server serves a definition, and an
// error when it refused its names.
func Established(crd *apiextensionsv1.CustomResourceDefinition) (bool, error) {
	established := false
	for _, c := range crd.Status.Conditions {
		switch {
		case c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue:
			established = true
		case c.Type == apiextensionsv1.NamesAccepted && c.Status == apiextensionsv1.ConditionFalse:
			return false, fmt.Errorf("the API server did not accept the names of %s: %s", crd.Name, c.Message)
		}
	}
	return established, nil
}

// Delete deletes the named definitions that portcullis manages, and with
// them every object of their kinds. Missing definitions are not an error.
// It returns the names it deleted.
func Delete(ctx context.Context, client apiextensionsclient.Interface, names ...string) ([]string, error) {
	api := client.ApiextensionsV1().CustomResourceDefinitions()
	var deleted []string
	var errs []error
	for _, name := range names {
		crd, err := api.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !Managed(crd) {
			continue
		}
		if err := api.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("failed to delete CustomResourceDefinition %s: %w", name, err))
			continue
		}
		deleted = append(deleted, name)
	}
	return deleted, errors.Join(errs...)
}
