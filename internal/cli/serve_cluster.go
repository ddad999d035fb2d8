package cli

import (
	"context"
	"errors"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
)

// clusterOptions configure `serve` against a cluster: policies from the
// API, webhook configurations and certificates managed in the cluster.
type clusterOptions struct {
	kubeconfig string
}

func (c *clusterOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&c.kubeconfig, "kubeconfig", "", "serve the policies of the cluster this kubeconfig names")
}

func (c *clusterOptions) enabled() bool { return c.kubeconfig != "" }

// runServeCluster serves the policies of a cluster.
func runServeCluster(ctx context.Context, stdio IO, log logr.Logger, o serveOptions) error {
	return badInput(errors.New("serving from a cluster is not built yet"))
}
