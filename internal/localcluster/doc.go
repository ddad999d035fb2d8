// Package localcluster runs a local Kubernetes control plane: a real etcd and
// a real kube-apiserver, and nothing else (no controller manager, scheduler or
// kubelet). It backs `portcullis up`, the playground for users, and the
// end-to-end tests.
//
// Neither binary is imported into this module. EnsureBinaries generates a
// small wrapper module for each one in a cache directory, builds it with the
// local go command from the Go module proxy, and keeps the binary, named by
// version, for later calls. The first kube-apiserver build takes minutes;
// later calls reuse the cached binary at once.
//
// Start builds or reuses the binaries, starts etcd and kube-apiserver on free
// loopback ports, waits until the apiserver's /readyz answers, and returns a
// Cluster with a kubeconfig whose bearer token is cluster-admin. Stop ends
// both processes and removes a temporary work directory.
//
// The package runs on Linux and the BSDs, macOS included; elsewhere Start and
// EnsureBinaries return an error that wraps errors.ErrUnsupported.
package localcluster
