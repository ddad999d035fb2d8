package localcluster

import (
	"encoding/base64"
	"fmt"
	"strconv"
)

const (
	// kubeconfigName names the cluster, user and context in the kubeconfig.
	kubeconfigName = "portcullis"
	// adminUser is the token's user; it is in system:masters.
	adminUser = "portcullis-admin"
)

// kubeconfig renders a kubeconfig that reaches server with caCert (PEM) as
// its certificate authority and token as its bearer token. JSON strings are
// valid YAML scalars, so quoting every value with strconv.Quote keeps any
// character safe without a YAML library.
func kubeconfig(server string, caCert []byte, token string) []byte {
	q := strconv.Quote
	return fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: %[1]s
  cluster:
    server: %[2]s
    certificate-authority-data: %[3]s
users:
- name: %[4]s
  user:
    token: %[5]s
contexts:
- name: %[1]s
  context:
    cluster: %[1]s
    user: %[4]s
current-context: %[1]s
preferences: {}
`, q(kubeconfigName), q(server), q(base64.StdEncoding.EncodeToString(caCert)), q(adminUser), q(token))
}

// tokenAuthFile renders the apiserver's --token-auth-file: one line of
// token,user,uid,"group,...". system:masters makes the user cluster-admin
// under every authorizer.
func tokenAuthFile(token string) []byte {
	return fmt.Appendf(nil, "%s,%s,%s,\"system:masters\"\n", token, adminUser, adminUser)
}
