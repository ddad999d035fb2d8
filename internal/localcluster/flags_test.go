package localcluster

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

var testPorts = ports{etcdClient: 2379, etcdPeer: 2380, apiserver: 6443}

func TestAPIServerArgs(t *testing.T) {
	got := apiserverArgs(layout{dir: "/w"}, testPorts, []string{"--feature-gates=A=true", "--authorization-mode=AlwaysAllow"})
	want := []string{
		"--advertise-address=127.0.0.1",
		"--bind-address=127.0.0.1",
		"--secure-port=6443",
		"--cert-dir=/w/pki",
		"--tls-cert-file=/w/pki/apiserver.crt",
		"--tls-private-key-file=/w/pki/apiserver.key",
		"--etcd-servers=http://127.0.0.1:2379",
		"--token-auth-file=/w/pki/tokens.csv",
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=/w/pki/sa.pub",
		"--service-account-signing-key-file=/w/pki/sa.key",
		"--service-cluster-ip-range=10.0.0.0/24",
		"--endpoint-reconciler-type=none",
		"--disable-admission-plugins=ServiceAccount",
		"--allow-privileged=true",
		"--profiling=false",
		"--feature-gates=A=true",
		"--authorization-mode=AlwaysAllow", // last wins in pflag
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("apiserverArgs() mismatch (-want +got):\n%s", diff)
	}
}

func TestAPIServerArgsSetEveryReservedFlag(t *testing.T) {
	set := map[string]bool{}
	for _, arg := range apiserverArgs(layout{dir: "/w"}, testPorts, nil) {
		name, _, _ := cutFlag(arg)
		set[name] = true
	}
	for _, reserved := range reservedAPIServerFlags {
		if !set[reserved] {
			t.Errorf("%s is reserved but apiserverArgs does not set it", reserved)
		}
	}
}

func cutFlag(arg string) (name, value string, ok bool) {
	for i := range len(arg) {
		if arg[i] == '=' {
			return arg[:i], arg[i+1:], true
		}
	}
	return arg, "", false
}

func TestEtcdArgs(t *testing.T) {
	got := etcdArgs(layout{dir: "/w"}, testPorts)
	want := []string{
		"--name=portcullis",
		"--data-dir=/w/etcd",
		"--listen-client-urls=http://127.0.0.1:2379",
		"--advertise-client-urls=http://127.0.0.1:2379",
		"--listen-peer-urls=http://127.0.0.1:2380",
		"--initial-advertise-peer-urls=http://127.0.0.1:2380",
		"--initial-cluster=portcullis=http://127.0.0.1:2380",
		"--initial-cluster-state=new",
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("etcdArgs() mismatch (-want +got):\n%s", diff)
	}
}

func TestServerEnv(t *testing.T) {
	got := serverEnv([]string{
		"PATH=/bin",
		"HTTP_PROXY=http://proxy:3128",
		"https_proxy=http://proxy:3128",
		"ALL_PROXY=socks5://proxy",
		"NO_PROXY=example.com",
		"HOME=/root",
	})
	want := []string{
		"PATH=/bin",
		"HOME=/root",
		"NO_PROXY=127.0.0.1,localhost,::1",
		"no_proxy=127.0.0.1,localhost,::1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("serverEnv() mismatch (-want +got):\n%s", diff)
	}
}

func TestGoEnv(t *testing.T) {
	got := goEnv([]string{"PATH=/bin", "GOFLAGS=-buildvcs=false", "GOWORK=/w/go.work", "GOTOOLCHAIN=local", "GOPROXY=https://proxy"})
	want := []string{
		"PATH=/bin",
		"GOTOOLCHAIN=local",
		"GOPROXY=https://proxy",
		"CGO_ENABLED=0",
		"GO111MODULE=on",
		"GOFLAGS=-mod=mod",
		"GOWORK=off",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("goEnv() mismatch (-want +got):\n%s", diff)
	}
}

func TestFreePorts(t *testing.T) {
	p, err := freePorts()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, port := range []int{p.etcdClient, p.etcdPeer, p.apiserver} {
		if port <= 0 || port > 65535 || seen[port] {
			t.Errorf("freePorts() = %+v: want three distinct valid ports", p)
		}
		seen[port] = true
	}
}
