package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/portcullis-dev/portcullis/internal/image"
	"github.com/portcullis-dev/portcullis/internal/image/signature/signaturetest"
)

// craneRegistry runs `crane registry serve` on a free loopback port until
// the test ends and returns its host:port. The crane binary is $CRANE (the
// Makefile builds it), else crane on $PATH.
func craneRegistry(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("CRANE")
	if bin == "" {
		p, err := exec.LookPath("crane")
		if err != nil {
			t.Fatal("the crane CLI is needed (make tools builds it into bin/tools; or go install github.com/google/go-containerregistry/cmd/crane@v0.22.1)")
		}
		bin = p
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "registry", "serve", "--address", addr)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("crane registry serve did not listen on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestVerifyImageCraneRegistry checks key-based signatures made by the real
// cosign CLI, classic and bundle formats, in a registry served by crane,
// through verify-image with --allow-insecure-registry. The signatures are
// not in a transparency log (--tlog-upload=false), which a key authority
// without ctlog does not ask for.
func TestVerifyImageCraneRegistry(t *testing.T) {
	host := craneRegistry(t)
	push := func(repo string) image.Ref {
		img, err := random.Image(256, 1)
		if err != nil {
			t.Fatal(err)
		}
		tag, err := name.NewTag(host+"/"+repo+":v1", name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(tag, img); err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		ref, err := image.Parse(host + "/" + repo + "@" + d.String())
		if err != nil {
			t.Fatal(err)
		}
		return ref
	}
	key := signaturetest.GenerateKeyPair(t)
	other := signaturetest.GenerateKeyPair(t)
	legacy := push("team/legacy")
	signaturetest.CosignSign(t, legacy, key)
	bundled := push("team/bundled")
	signaturetest.CosignSign(t, bundled, key, "--new-bundle-format")
	stranger := push("team/stranger")
	signaturetest.CosignSign(t, stranger, other)
	unsigned := push("team/unsigned")

	dir := t.TempDir()
	indent := "        " + strings.ReplaceAll(strings.TrimSpace(key.PublicKeyPEM), "\n", "\n        ")
	write(t, dir, "cip.yaml", `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: team-signed
spec:
  images:
  - glob: "`+host+`/team/**"
  authorities:
  - key:
      data: |
`+indent+`
`)
	tests := []struct {
		name     string
		ref      image.Ref
		admitted bool
		code     int
		message  string
	}{
		{"cosign legacy signature", legacy, true, ExitOK, ""},
		{"cosign bundle", bundled, true, ExitOK, ""},
		{"signed with another key", stranger, false, ExitFailed, "no matching signatures"},
		{"unsigned", unsigned, false, ExitFailed, "no signatures found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(t, "", "verify-image", tt.ref.String(), "--policy", filepath.Join(dir, "cip.yaml"), "--allow-insecure-registry")
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, tt.code, out, errOut)
			}
			var got verifyImageOutput
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if got.Admitted != tt.admitted {
				t.Errorf("admitted = %v, want %v: %+v", got.Admitted, tt.admitted, got.Results)
			}
			if tt.message != "" && !strings.Contains(out, tt.message) {
				t.Errorf("output does not say %q:\n%s", tt.message, out)
			}
		})
	}
}
