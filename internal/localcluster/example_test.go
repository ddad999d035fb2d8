package localcluster_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/exec"

	"github.com/portcullis-dev/portcullis/internal/localcluster"
)

// The first call builds kube-apiserver and etcd into the cache (minutes);
// later calls start a cluster in seconds. The example is not run by go test:
// it needs the Go module proxy and a free core for a while.
func ExampleStart() {
	ctx := context.Background()
	cluster, err := localcluster.Start(ctx, localcluster.Options{
		Log:            os.Stderr,
		APIServerFlags: []string{"--feature-gates=MutatingAdmissionPolicy=true"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Stop()

	out, err := exec.CommandContext(ctx, "kubectl", "--kubeconfig", cluster.Kubeconfig, "get", "namespaces").CombinedOutput()
	if err != nil {
		log.Fatalf("kubectl: %v\n%s", err, out)
	}
	fmt.Printf("%s", out)
}
