package localcluster

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/tools/clientcmd"
)

func TestKubeconfig(t *testing.T) {
	ca := []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	got := kubeconfig("https://127.0.0.1:6443", ca, "0123abcd")
	checkGolden(t, "kubeconfig.golden", got)

	// client-go, and so kubectl, must read it the way we mean it.
	cfg, err := clientcmd.Load(got)
	if err != nil {
		t.Fatalf("clientcmd.Load: %v", err)
	}
	rest, err := clientcmd.NewDefaultClientConfig(*cfg, nil).ClientConfig()
	if err != nil {
		t.Fatalf("ClientConfig: %v", err)
	}
	gotFields := map[string]string{
		"host":  rest.Host,
		"token": rest.BearerToken,
		"ca":    string(rest.CAData),
	}
	wantFields := map[string]string{
		"host":  "https://127.0.0.1:6443",
		"token": "0123abcd",
		"ca":    string(ca),
	}
	if diff := cmp.Diff(wantFields, gotFields); diff != "" {
		t.Errorf("client config mismatch (-want +got):\n%s", diff)
	}
}

func TestTokenAuthFile(t *testing.T) {
	got := string(tokenAuthFile("abc"))
	want := "abc,portcullis-admin,portcullis-admin,\"system:masters\"\n"
	if got != want {
		t.Errorf("tokenAuthFile() = %q, want %q", got, want)
	}
}
