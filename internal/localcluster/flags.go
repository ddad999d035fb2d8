package localcluster

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
)

const (
	// serviceCIDR is the cluster's service IP range. Nothing routes it; the
	// apiserver only allocates ClusterIPs from it.
	serviceCIDR = "10.0.0.0/24"
	// serviceAccountIssuer is the iss claim of service account tokens.
	serviceAccountIssuer = "https://kubernetes.default.svc.cluster.local"
	// loopback is the only address the cluster listens on.
	loopback = "127.0.0.1"
)

// serviceIP is the ClusterIP of the kubernetes Service, the first address
// of serviceCIDR; the serving certificate includes it.
var serviceIP = net.IPv4(10, 0, 0, 1)

// layout names the files of a cluster in its work directory.
type layout struct{ dir string }

func (l layout) etcdData() string     { return filepath.Join(l.dir, "etcd") }
func (l layout) etcdLog() string      { return filepath.Join(l.dir, "etcd.log") }
func (l layout) apiserverLog() string { return filepath.Join(l.dir, "kube-apiserver.log") }
func (l layout) certDir() string      { return filepath.Join(l.dir, "pki") }
func (l layout) caCert() string       { return filepath.Join(l.dir, "pki", "ca.crt") }
func (l layout) servingCert() string  { return filepath.Join(l.dir, "pki", "apiserver.crt") }
func (l layout) servingKey() string   { return filepath.Join(l.dir, "pki", "apiserver.key") }
func (l layout) saKey() string        { return filepath.Join(l.dir, "pki", "sa.key") }
func (l layout) saPublicKey() string  { return filepath.Join(l.dir, "pki", "sa.pub") }
func (l layout) tokenFile() string    { return filepath.Join(l.dir, "pki", "tokens.csv") }
func (l layout) kubeconfig() string   { return filepath.Join(l.dir, "kubeconfig") }

// loopbackURL is scheme://127.0.0.1:port.
func loopbackURL(scheme string, port int) string {
	return scheme + "://" + net.JoinHostPort(loopback, strconv.Itoa(port))
}

// ports are the loopback ports a cluster listens on.
type ports struct {
	etcdClient int
	etcdPeer   int
	apiserver  int
}

// etcdArgs is the etcd command line: a single member on loopback, storing
// its data in the work directory. fsync is off: the cluster is disposable,
// and fsync dominates etcd's latency on shared disks.
func etcdArgs(l layout, p ports) []string {
	client := loopbackURL("http", p.etcdClient)
	peer := loopbackURL("http", p.etcdPeer)
	return []string{
		"--name=" + kubeconfigName,
		"--data-dir=" + l.etcdData(),
		"--listen-client-urls=" + client,
		"--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=" + kubeconfigName + "=" + peer,
		"--initial-cluster-state=new",
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	}
}

// apiserverArgs is the kube-apiserver command line, followed by extra. It
// serves on loopback only, authenticates with the token file, authorizes
// with RBAC (the token's user is in system:masters) and runs without a
// controller manager: no endpoint reconciler and no ServiceAccount admission
// plugin, since nothing would create the default service accounts.
func apiserverArgs(l layout, p ports, extra []string) []string {
	args := []string{
		"--advertise-address=" + loopback,
		"--bind-address=" + loopback,
		"--secure-port=" + strconv.Itoa(p.apiserver),
		"--cert-dir=" + l.certDir(),
		"--tls-cert-file=" + l.servingCert(),
		"--tls-private-key-file=" + l.servingKey(),
		"--etcd-servers=" + loopbackURL("http", p.etcdClient),
		"--token-auth-file=" + l.tokenFile(),
		"--authorization-mode=RBAC",
		"--service-account-issuer=" + serviceAccountIssuer,
		"--service-account-key-file=" + l.saPublicKey(),
		"--service-account-signing-key-file=" + l.saKey(),
		"--service-cluster-ip-range=" + serviceCIDR,
		"--endpoint-reconciler-type=none",
		"--disable-admission-plugins=ServiceAccount",
		"--allow-privileged=true",
		"--profiling=false",
	}
	return append(args, extra...)
}

// proxyVars are the proxy settings removed from the children's environment:
// the cluster talks to loopback only, and a proxy would break the
// apiserver's calls to admission webhooks on 127.0.0.1.
var proxyVars = []string{"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"}

// serverEnv is the environment of etcd and kube-apiserver: environ without
// proxy settings, and with NO_PROXY covering loopback in case a proxy is
// configured some other way.
func serverEnv(environ []string) []string {
	env := make([]string, 0, len(environ)+2)
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		isProxy := false
		for _, v := range proxyVars {
			if strings.EqualFold(name, v) {
				isProxy = true
			}
		}
		if !isProxy {
			env = append(env, kv)
		}
	}
	const noProxy = "127.0.0.1,localhost,::1"
	return append(env, "NO_PROXY="+noProxy, "no_proxy="+noProxy)
}

// freePorts picks three free loopback ports by listening on port 0. Another
// process could take one before the cluster binds it; Start then fails with
// the process's "address already in use" log line.
func freePorts() (ports, error) {
	var picked [3]int
	for i := range picked {
		ln, err := net.Listen("tcp", net.JoinHostPort(loopback, "0"))
		if err != nil {
			return ports{}, fmt.Errorf("failed to find a free loopback port: %w", err)
		}
		defer ln.Close()
		picked[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports{etcdClient: picked[0], etcdPeer: picked[1], apiserver: picked[2]}, nil
}
