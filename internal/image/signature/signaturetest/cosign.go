package signaturetest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-dev/portcullis/internal/image"
)

// CosignVersion is the cosign release the tests are written against.
const CosignVersion = "v2.6.5"

// Cosign returns the path of the cosign binary: $COSIGN, else cosign on
// $PATH, else $(go env GOPATH)/bin/cosign. It fails the test (never skips
// it) when there is none, saying how to install it.
func Cosign(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("COSIGN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("signaturetest: COSIGN=%s: %v", p, err)
		}
		return p
	}
	if p, err := exec.LookPath("cosign"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			p := filepath.Join(dir, "bin", "cosign")
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	t.Fatalf("signaturetest: the cosign CLI is needed for key-based signatures and was not found " +
		"($COSIGN, $PATH, $(go env GOPATH)/bin); install it with: go install github.com/sigstore/cosign/v2/cmd/cosign@" + CosignVersion)
	return ""
}

// KeyPair is a cosign key pair with an empty password.
type KeyPair struct {
	// PrivateKey and PublicKey are the paths of cosign.key and cosign.pub.
	PrivateKey, PublicKey string
	// PublicKeyPEM is the content of cosign.pub.
	PublicKeyPEM string
}

// GenerateKeyPair runs cosign generate-key-pair in a temporary directory.
func GenerateKeyPair(t testing.TB) KeyPair {
	t.Helper()
	dir := t.TempDir()
	RunCosign(t, dir, "generate-key-pair")
	pub, err := os.ReadFile(filepath.Join(dir, "cosign.pub"))
	if err != nil {
		t.Fatalf("signaturetest: %v", err)
	}
	return KeyPair{
		PrivateKey:   filepath.Join(dir, "cosign.key"),
		PublicKey:    filepath.Join(dir, "cosign.pub"),
		PublicKeyPEM: string(pub),
	}
}

// ImportKeyPair imports a private key (ECDSA, RSA or Ed25519) into a
// cosign key pair with `cosign import-key-pair`.
func ImportKeyPair(t testing.TB, priv crypto.Signer) KeyPair {
	t.Helper()
	dir := t.TempDir()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatalf("signaturetest: private key: %v", err)
	}
	file := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatalf("signaturetest: %v", err)
	}
	RunCosign(t, dir, "import-key-pair", "--key", file, "--output-key-prefix", "imported")
	pub, err := os.ReadFile(filepath.Join(dir, "imported.pub"))
	if err != nil {
		t.Fatalf("signaturetest: %v", err)
	}
	return KeyPair{
		PrivateKey:   filepath.Join(dir, "imported.key"),
		PublicKey:    filepath.Join(dir, "imported.pub"),
		PublicKeyPEM: string(pub),
	}
}

// CosignSign signs ref (which must have a digest; its registry must be a
// plain-HTTP test registry) with key: `cosign sign --key KEY
// --tlog-upload=false --allow-http-registry --allow-insecure-registry --yes
// REF@DIGEST`, plus extra arguments (e.g. "--new-bundle-format" for a
// bundle referrer).
func CosignSign(t testing.TB, ref image.Ref, key KeyPair, extra ...string) {
	t.Helper()
	args := append([]string{"sign", "--key", key.PrivateKey, "--tlog-upload=false",
		"--allow-http-registry", "--allow-insecure-registry", "--yes"}, extra...)
	RunCosign(t, "", append(args, digestName(t, ref).String())...)
}

// CosignAttest attests ref with key: `cosign attest --key KEY --type TYPE
// --predicate FILE --tlog-upload=false ... REF@DIGEST`, plus extra
// arguments. predicateType is a cosign short name or a URI.
func CosignAttest(t testing.TB, ref image.Ref, key KeyPair, predicateType string, predicate []byte, extra ...string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "predicate.json")
	if err := os.WriteFile(file, predicate, 0o600); err != nil {
		t.Fatalf("signaturetest: %v", err)
	}
	args := append([]string{"attest", "--key", key.PrivateKey, "--type", predicateType, "--predicate", file,
		"--tlog-upload=false", "--allow-http-registry", "--allow-insecure-registry", "--yes"}, extra...)
	RunCosign(t, "", append(args, digestName(t, ref).String())...)
}

// RunCosign runs cosign with args in dir (a temporary directory when
// empty), with an empty key password, a private HOME and no network
// lookups of its own beyond the registry named in args; it fails the test
// with cosign's output when cosign fails, and returns its standard output.
func RunCosign(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := runCosign(t, dir, args...)
	if err != nil {
		t.Fatalf("signaturetest: %v", err)
	}
	return out
}

// runCosign runs cosign as RunCosign does and returns its standard output,
// or an error with its output when it fails.
func runCosign(t testing.TB, dir string, args ...string) (string, error) {
	t.Helper()
	bin := Cosign(t)
	if dir == "" {
		dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	home := t.TempDir()
	cmd.Env = append(os.Environ(),
		"COSIGN_PASSWORD=",
		"COSIGN_YES=true",
		"HOME="+home,
		"TUF_ROOT="+filepath.Join(home, "tuf"),
		"COSIGN_EXPERIMENTAL=0",
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("cosign %s: %w\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}
