package cli

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/spf13/cobra"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/portcullis-dev/portcullis/internal/controller"
	"github.com/portcullis-dev/portcullis/internal/crds"
	"github.com/portcullis-dev/portcullis/internal/webhookconfig"
)

func newUninstallCommand(stdio IO) *cobra.Command {
	var kubeconfig string
	var withCRDs bool
	cmd := &cobra.Command{
		Use:   "uninstall --kubeconfig PATH [--crds]",
		Short: "Remove portcullis's webhook configurations (and its CRDs) from a cluster",
		Long: `Delete the ValidatingWebhookConfiguration and MutatingWebhookConfiguration that
portcullis manages, so that the API server stops calling it. Stop portcullis
first: a running server recreates them. With --crds, also delete the
CustomResourceDefinitions portcullis installed and the constraint CRDs it
created, which deletes every policy of those kinds. CRDs that portcullis did
not install (no app.kubernetes.io/managed-by=portcullis label) are kept.
It prints one line per deleted object.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runUninstall(cmd.Context(), stdio, kubeconfig, withCRDs)
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "the cluster to uninstall from (in a pod, the pod's service account is used without it)")
	cmd.Flags().BoolVar(&withCRDs, "crds", false, "also delete portcullis's CRDs, and with them every policy of their kinds")
	return cmd
}

func runUninstall(ctx context.Context, stdio IO, kubeconfig string, withCRDs bool) error {
	if kubeconfig == "" && !inCluster() {
		return badInput(errors.New("uninstall needs --kubeconfig (or to run in a cluster)"))
	}
	c := clusterOptions{kubeconfig: kubeconfig}
	restCfg, err := c.restConfig()
	if err != nil {
		return badInput(err)
	}
	kube, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	deleted, err := webhookconfig.Delete(ctx, kube)
	for _, d := range deleted {
		fmt.Fprintf(stdio.Out, "deleted %s\n", d)
	}
	if err != nil {
		return err
	}
	if !withCRDs {
		return nil
	}
	ext, err := apiextensionsclient.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	all, err := crds.All()
	if err != nil {
		return err
	}
	var names []string
	for _, crd := range all {
		names = append(names, crd.Name)
	}
	constraints, err := ext.ApiextensionsV1().CustomResourceDefinitions().List(ctx, metav1.ListOptions{
		LabelSelector: crds.ManagedByLabel + "=" + crds.ManagedBy + "," + controller.ConstraintLabel + "=yes",
	})
	if err != nil {
		return fmt.Errorf("failed to list the constraint CRDs: %w", err)
	}
	for _, crd := range constraints.Items {
		names = append(names, crd.Name)
	}
	sort.Strings(names)
	removed, err := crds.Delete(ctx, ext, names...)
	for _, name := range removed {
		fmt.Fprintf(stdio.Out, "deleted CustomResourceDefinition/%s\n", name)
	}
	return err
}
