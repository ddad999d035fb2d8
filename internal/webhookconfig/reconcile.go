package webhookconfig

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/portcullis-dev/portcullis/internal/engine"
)

// DefaultResyncPeriod is how often Run reconciles when nothing changed,
// besides the watch that repairs edits and deletions at once.
const DefaultResyncPeriod = time.Minute

// retryAfter is how long Run waits before it tries a failed reconcile again.
const retryAfter = 5 * time.Second

// ResourceLister lists the API server's resources; a discovery client is
// one.
type ResourceLister interface {
	ServerGroupsAndResources() ([]*metav1.APIGroup, []*metav1.APIResourceList, error)
}

// Reconciler keeps the two webhook configurations in the cluster equal to
// what Build returns for the latest policies and CA bundle. It is meant to
// run on the leader only; Update and SetCABundle may be called from any
// goroutine.
type Reconciler struct {
	client    kubernetes.Interface
	resources ResourceLister
	cfg       Config
	log       logr.Logger

	mu       sync.Mutex
	sets     map[string]*engine.Set
	hints    map[engine.PolicyRef]Hints
	caBundle []byte
	trigger  chan struct{}
}

// NewReconciler returns a reconciler, or an error when cfg is invalid.
func NewReconciler(client kubernetes.Interface, resources ResourceLister, cfg Config, log logr.Logger) (*Reconciler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid webhook configuration settings: %w", err)
	}
	return &Reconciler{client: client, resources: resources, cfg: cfg, log: log, trigger: make(chan struct{}, 1)}, nil
}

// Update sets the policies of each endpoint (webhook.Snapshot.Sets) and
// their hints, and asks Run to reconcile.
func (r *Reconciler) Update(sets map[string]*engine.Set, hints map[engine.PolicyRef]Hints) {
	r.mu.Lock()
	r.sets, r.hints = sets, hints
	r.mu.Unlock()
	r.kick()
}

// SetCABundle sets the CA bundle and asks Run to reconcile.
func (r *Reconciler) SetCABundle(caBundle []byte) {
	r.mu.Lock()
	r.caBundle = append([]byte(nil), caBundle...)
	r.mu.Unlock()
	r.kick()
}

func (r *Reconciler) kick() {
	select {
	case r.trigger <- struct{}{}:
	default:
	}
}

// Reconcile creates or updates both configurations once. Until policies and
// a CA bundle have been set it does nothing: a webhook without its CA would
// only fail.
func (r *Reconciler) Reconcile(ctx context.Context) error {
	r.mu.Lock()
	in := Input{Sets: r.sets, Hints: r.hints, CABundle: r.caBundle}
	r.mu.Unlock()
	if in.Sets == nil || len(in.CABundle) == 0 {
		return nil
	}
	if r.resources != nil {
		_, lists, err := r.resources.ServerGroupsAndResources()
		if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
			// Kinds get guessed plurals; the next reconcile tries again.
			r.log.Error(err, "failed to discover the API server's resources")
		}
		in.Resources = lists
	}
	validating, mutating, err := Build(r.cfg, in)
	if err != nil {
		return err
	}
	return errors.Join(r.applyValidating(ctx, validating), r.applyMutating(ctx, mutating))
}

func (r *Reconciler) applyValidating(ctx context.Context, want *admissionregistrationv1.ValidatingWebhookConfiguration) error {
	err := r.applyValidatingOnce(ctx, want)
	if apierrors.IsInvalid(err) && stripValidatingConditions(want) {
		r.log.Error(err, "the API server refused the policies' match conditions; sending every matching request instead", "configuration", want.Name)
		err = r.applyValidatingOnce(ctx, want)
	}
	if err != nil {
		return fmt.Errorf("failed to apply ValidatingWebhookConfiguration %s: %w", want.Name, err)
	}
	return nil
}

func (r *Reconciler) applyValidatingOnce(ctx context.Context, want *admissionregistrationv1.ValidatingWebhookConfiguration) error {
	api := r.client.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	have, err := api.Get(ctx, want.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = api.Create(ctx, want, metav1.CreateOptions{FieldManager: ManagedBy})
		if err == nil {
			r.log.Info("created ValidatingWebhookConfiguration", "name", want.Name, "webhooks", len(want.Webhooks))
		}
		return err
	}
	if err != nil {
		return err
	}
	if have.Labels[ManagedByLabel] == ManagedBy && equality.Semantic.DeepEqual(have.Webhooks, want.Webhooks) {
		return nil
	}
	update := have.DeepCopy()
	update.Labels = mergeLabels(have.Labels, want.Labels)
	update.Webhooks = want.Webhooks
	if _, err := api.Update(ctx, update, metav1.UpdateOptions{FieldManager: ManagedBy}); err != nil {
		return err
	}
	r.log.Info("updated ValidatingWebhookConfiguration", "name", want.Name, "webhooks", len(want.Webhooks))
	return nil
}

func (r *Reconciler) applyMutating(ctx context.Context, want *admissionregistrationv1.MutatingWebhookConfiguration) error {
	err := r.applyMutatingOnce(ctx, want)
	if apierrors.IsInvalid(err) && stripMutatingConditions(want) {
		r.log.Error(err, "the API server refused the policies' match conditions; sending every matching request instead", "configuration", want.Name)
		err = r.applyMutatingOnce(ctx, want)
	}
	if err != nil {
		return fmt.Errorf("failed to apply MutatingWebhookConfiguration %s: %w", want.Name, err)
	}
	return nil
}

func (r *Reconciler) applyMutatingOnce(ctx context.Context, want *admissionregistrationv1.MutatingWebhookConfiguration) error {
	api := r.client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	have, err := api.Get(ctx, want.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = api.Create(ctx, want, metav1.CreateOptions{FieldManager: ManagedBy})
		if err == nil {
			r.log.Info("created MutatingWebhookConfiguration", "name", want.Name, "webhooks", len(want.Webhooks))
		}
		return err
	}
	if err != nil {
		return err
	}
	if have.Labels[ManagedByLabel] == ManagedBy && equality.Semantic.DeepEqual(have.Webhooks, want.Webhooks) {
		return nil
	}
	update := have.DeepCopy()
	update.Labels = mergeLabels(have.Labels, want.Labels)
	update.Webhooks = want.Webhooks
	if _, err := api.Update(ctx, update, metav1.UpdateOptions{FieldManager: ManagedBy}); err != nil {
		return err
	}
	r.log.Info("updated MutatingWebhookConfiguration", "name", want.Name, "webhooks", len(want.Webhooks))
	return nil
}

func stripValidatingConditions(c *admissionregistrationv1.ValidatingWebhookConfiguration) bool {
	stripped := false
	for i := range c.Webhooks {
		if c.Webhooks[i].MatchConditions != nil {
			c.Webhooks[i].MatchConditions, stripped = nil, true
		}
	}
	return stripped
}

func stripMutatingConditions(c *admissionregistrationv1.MutatingWebhookConfiguration) bool {
	stripped := false
	for i := range c.Webhooks {
		if c.Webhooks[i].MatchConditions != nil {
			c.Webhooks[i].MatchConditions, stripped = nil, true
		}
	}
	return stripped
}

func mergeLabels(have, want map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range have {
		out[k] = v
	}
	for k, v := range want {
		out[k] = v
	}
	return out
}

// Run reconciles whenever Update or SetCABundle is called, whenever someone
// edits or deletes a configuration, and every period (DefaultResyncPeriod
// when zero), until ctx ends. Failures are logged and retried.
func (r *Reconciler) Run(ctx context.Context, period time.Duration) {
	if period <= 0 {
		period = DefaultResyncPeriod
	}
	factory := informers.NewSharedInformerFactoryWithOptions(r.client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.LabelSelector = ManagedByLabel + "=" + ManagedBy
	}))
	handler := cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, _ any) { r.kick() },
		DeleteFunc: func(any) { r.kick() },
	}
	v1 := factory.Admissionregistration().V1()
	if _, err := v1.ValidatingWebhookConfigurations().Informer().AddEventHandler(handler); err != nil {
		r.log.Error(err, "failed to watch ValidatingWebhookConfigurations")
	}
	if _, err := v1.MutatingWebhookConfigurations().Informer().AddEventHandler(handler); err != nil {
		r.log.Error(err, "failed to watch MutatingWebhookConfigurations")
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()

	ticker := time.NewTicker(period)
	defer ticker.Stop()
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.trigger:
		case <-ticker.C:
		case <-retry:
		}
		retry = nil
		if err := r.Reconcile(ctx); err != nil && ctx.Err() == nil {
			r.log.Error(err, "failed to reconcile the webhook configurations; retrying", "after", retryAfter)
			retry = time.After(retryAfter)
		}
	}
}

// Delete deletes the configurations portcullis manages: the two it names
// and any other that carries its managed-by label. It returns what it
// deleted, as kind/name.
func Delete(ctx context.Context, client kubernetes.Interface) ([]string, error) {
	var deleted []string
	var errs []error
	selector := metav1.ListOptions{LabelSelector: ManagedByLabel + "=" + ManagedBy}
	v1 := client.AdmissionregistrationV1()

	vnames := map[string]bool{ValidatingName: true}
	if list, err := v1.ValidatingWebhookConfigurations().List(ctx, selector); err != nil {
		errs = append(errs, err)
	} else {
		for _, c := range list.Items {
			vnames[c.Name] = true
		}
	}
	for name := range vnames {
		err := v1.ValidatingWebhookConfigurations().Delete(ctx, name, metav1.DeleteOptions{})
		switch {
		case err == nil:
			deleted = append(deleted, "ValidatingWebhookConfiguration/"+name)
		case !apierrors.IsNotFound(err):
			errs = append(errs, fmt.Errorf("failed to delete ValidatingWebhookConfiguration %s: %w", name, err))
		}
	}

	mnames := map[string]bool{MutatingName: true}
	if list, err := v1.MutatingWebhookConfigurations().List(ctx, selector); err != nil {
		errs = append(errs, err)
	} else {
		for _, c := range list.Items {
			mnames[c.Name] = true
		}
	}
	for name := range mnames {
		err := v1.MutatingWebhookConfigurations().Delete(ctx, name, metav1.DeleteOptions{})
		switch {
		case err == nil:
			deleted = append(deleted, "MutatingWebhookConfiguration/"+name)
		case !apierrors.IsNotFound(err):
			errs = append(errs, fmt.Errorf("failed to delete MutatingWebhookConfiguration %s: %w", name, err))
		}
	}
	sort.Strings(deleted)
	return deleted, errors.Join(errs...)
}
