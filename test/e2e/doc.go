// Package e2e is the end-to-end suite: it builds portcullis, starts a real
// kube-apiserver and etcd (internal/localcluster), runs `portcullis serve`
// against them as the API server's webhook, and drives the seed documents'
// walkthroughs with the real kubectl, asserting what kubectl prints.
//
// It is its own Go module so that the product's go.mod stays lean. Run it
// with `make e2e` (or `cd test/e2e && go test ./...`).
package e2e
