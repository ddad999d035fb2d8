package signaturetest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	sigsig "github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// TrustRootObject returns a policy.sigstore.dev/v1alpha1 TrustRoot named
// name whose spec.sigstoreKeys hold this Sigstore's CA, log, CT log and
// TSA, with the byte fields base64-encoded as in a real object.
func (s *Sigstore) TrustRootObject(t testing.TB, name string) map[string]any {
	t.Helper()
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	pemOf := func(certs ...*x509.Certificate) string {
		b, err := cryptoutils.MarshalCertificatesToPEM(certs)
		if err != nil {
			t.Fatalf("signaturetest: PEM: %v", err)
		}
		return b64(b)
	}
	logsOf := func(logs map[string]*root.TransparencyLog) []any {
		var out []any
		for _, k := range slices.Sorted(mapKeys(logs)) {
			b, err := cryptoutils.MarshalPublicKeyToPEM(logs[k].PublicKey)
			if err != nil {
				t.Fatalf("signaturetest: key PEM: %v", err)
			}
			url := logs[k].BaseURL
			if url == "" || url == "test" {
				url = "https://ctlog.localhost"
			}
			out = append(out, map[string]any{"baseURL": url, "hashAlgorithm": "sha-256", "publicKey": b64(b)})
		}
		return out
	}
	subject := map[string]any{"organization": "sigstore.dev", "commonName": "sigstore"}
	tsa, ok := s.vs.TimestampingAuthorities()[0].(*root.SigstoreTimestampingAuthority)
	if !ok {
		t.Fatalf("signaturetest: unexpected TSA type")
	}
	tsaChain := append(append([]*x509.Certificate{tsa.Leaf}, tsa.Intermediates...), tsa.Root)
	return map[string]any{
		"apiVersion": "policy.sigstore.dev/v1alpha1",
		"kind":       "TrustRoot",
		"metadata":   map[string]any{"name": name},
		"spec": map[string]any{
			"sigstoreKeys": map[string]any{
				"certificateAuthorities": []any{map[string]any{
					"subject":   subject,
					"uri":       s.fulcio.URI,
					"certChain": pemOf(append(append([]*x509.Certificate(nil), s.fulcio.Intermediates...), s.fulcio.Root)...),
				}},
				"timestampAuthorities": []any{map[string]any{
					"subject":   subject,
					"uri":       tsa.URI,
					"certChain": pemOf(tsaChain...),
				}},
				"tLogs":  logsOf(s.root.RekorLogs()),
				"ctLogs": logsOf(s.root.CTLogs()),
			},
		},
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TUFRepository makes a TUF repository (one Ed25519 key for every role,
// consistent snapshots, metadata valid for a day) whose target
// trusted_root.json is this Sigstore's trusted root. It returns the
// initial root metadata (root.json) and the repository's files by path:
// "1.root.json", "timestamp.json", "1.snapshot.json", "1.targets.json" and
// "targets/<sha256>.trusted_root.json".
func (s *Sigstore) TUFRepository(t testing.TB) (rootJSON []byte, files map[string][]byte) {
	t.Helper()
	expires := time.Now().Add(24 * time.Hour)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("signaturetest: TUF key: %v", err)
	}
	key, err := metadata.KeyFromPublicKey(pub)
	if err != nil {
		t.Fatalf("signaturetest: TUF key: %v", err)
	}
	signer, err := sigsig.LoadSigner(priv, crypto.Hash(0))
	if err != nil {
		t.Fatalf("signaturetest: TUF signer: %v", err)
	}

	rootMeta := metadata.Root(expires)
	for _, role := range []string{"root", "targets", "snapshot", "timestamp"} {
		if err := rootMeta.Signed.AddKey(key, role); err != nil {
			t.Fatalf("signaturetest: TUF root: %v", err)
		}
	}
	targets := metadata.Targets(expires)
	tf, err := metadata.TargetFile().FromBytes("trusted_root.json", s.rootJSON, "sha256")
	if err != nil {
		t.Fatalf("signaturetest: TUF target: %v", err)
	}
	targets.Signed.Targets["trusted_root.json"] = tf
	snapshot := metadata.Snapshot(expires)
	timestamp := metadata.Timestamp(expires)

	files = map[string][]byte{}
	sign := func(name string, sign func() error, bytes func() ([]byte, error)) []byte {
		if err := sign(); err != nil {
			t.Fatalf("signaturetest: sign %s: %v", name, err)
		}
		b, err := bytes()
		if err != nil {
			t.Fatalf("signaturetest: %s: %v", name, err)
		}
		files[name] = b
		return b
	}
	rootJSON = sign("1.root.json", func() error { _, err := rootMeta.Sign(signer); return err }, func() ([]byte, error) { return rootMeta.ToBytes(false) })
	tb := sign("1.targets.json", func() error { _, err := targets.Sign(signer); return err }, func() ([]byte, error) { return targets.ToBytes(false) })
	snapshot.Signed.Meta["targets.json"] = metaFile(1, tb)
	sb := sign("1.snapshot.json", func() error { _, err := snapshot.Sign(signer); return err }, func() ([]byte, error) { return snapshot.ToBytes(false) })
	timestamp.Signed.Meta["snapshot.json"] = metaFile(1, sb)
	sign("timestamp.json", func() error { _, err := timestamp.Sign(signer); return err }, func() ([]byte, error) { return timestamp.ToBytes(false) })
	sum := sha256.Sum256(s.rootJSON)
	files[fmt.Sprintf("targets/%s.trusted_root.json", hex.EncodeToString(sum[:]))] = append([]byte(nil), s.rootJSON...)
	return rootJSON, files
}

func metaFile(version int64, data []byte) *metadata.MetaFiles {
	m := metadata.MetaFile(version)
	sum := sha256.Sum256(data)
	m.Length = int64(len(data))
	m.Hashes = metadata.Hashes{"sha256": sum[:]}
	return m
}

// MirrorFS packs a TUF repository's files as a TrustRoot's
// spec.repository.mirrorFS: a gzipped tar with the files under
// "repository/", as policy-controller's tooling makes it.
func MirrorFS(t testing.TB, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, name := range slices.Sorted(mapKeys(files)) {
		data := files[name]
		if err := tw.WriteHeader(&tar.Header{Name: "repository/" + name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatalf("signaturetest: tar: %v", err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatalf("signaturetest: tar: %v", err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatalf("signaturetest: tar: %v", err)
	}
	if err := zw.Close(); err != nil {
		t.Fatalf("signaturetest: gzip: %v", err)
	}
	return buf.Bytes()
}
