package signature_test

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tuf"
	"github.com/theupdateframework/go-tuf/v2/metadata/fetcher"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portcullis-dev/portcullis/internal/image"
	"github.com/portcullis-dev/portcullis/internal/image/imagetest"
	"github.com/portcullis-dev/portcullis/internal/image/signature"
	"github.com/portcullis-dev/portcullis/internal/image/signature/signaturetest"
)

// verifyWith signs an image with ss (legacy, with tlog and timestamp) and
// verifies it with trust material tm, requiring the tlog and a timestamp.
func verifyWith(t *testing.T, ss *signaturetest.Sigstore, tm root.TrustedMaterial) {
	t.Helper()
	reg := imagetest.NewRegistry(t)
	ref := reg.PushRandom(t, "team/app", "v1")
	ss.SignLegacy(t, reg, ref, testSubject, testIssuer, signaturetest.WithTimestamp())
	v := newVerifier(t, signature.Spec{
		Identities:       []signature.Identity{{Subject: testSubject, Issuer: testIssuer}},
		TrustedRoot:      tm,
		RequireTLog:      true,
		RequireTimestamp: true,
	})
	if _, err := v.Signatures(ctx(t), newClient(t, reg), ref, image.Pull{}); err != nil {
		t.Fatalf("verification with the loaded trust root: %v", err)
	}
}

func TestLoadTrustedRoot(t *testing.T) {
	ss := signaturetest.NewSigstore(t)
	tm, err := signature.LoadTrustedRoot(ss.TrustedRootJSON())
	if err != nil {
		t.Fatal(err)
	}
	verifyWith(t, ss, tm)

	for _, bad := range []string{``, `{}`, `{"mediaType": "application/json"}`, `not json`} {
		if _, err := signature.LoadTrustedRoot([]byte(bad)); err == nil {
			t.Errorf("LoadTrustedRoot(%q) succeeded", bad)
		}
	}
}

func TestTrustRootSigstoreKeys(t *testing.T) {
	ss := signaturetest.NewSigstore(t)
	obj := ss.TrustRootObject(t, "private")
	tm, errs := signature.TrustRootFromObject(obj, nil)
	if len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	verifyWith(t, ss, tm)

	// The same keys as raw PEM instead of base64.
	keys := obj["spec"].(map[string]any)["sigstoreKeys"].(map[string]any)
	for _, k := range []string{"certificateAuthorities", "timestampAuthorities"} {
		for _, ca := range keys[k].([]any) {
			m := ca.(map[string]any)
			b, _ := base64.StdEncoding.DecodeString(m["certChain"].(string))
			m["certChain"] = string(b)
		}
	}
	tm, errs = signature.TrustRootFromObject(obj, nil)
	if len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	verifyWith(t, ss, tm)
}

func TestTrustRootRepository(t *testing.T) {
	ss := signaturetest.NewSigstore(t)
	rootJSON, files := ss.TUFRepository(t)
	obj := map[string]any{
		"kind": "TrustRoot",
		"spec": map[string]any{"repository": map[string]any{
			"root":     base64.StdEncoding.EncodeToString(rootJSON),
			"mirrorFS": base64.StdEncoding.EncodeToString(signaturetest.MirrorFS(t, files)),
			"targets":  "targets",
		}},
	}
	tm, errs := signature.TrustRootFromObject(obj, nil)
	if len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	verifyWith(t, ss, tm)

	// A repository whose target does not match its metadata is refused.
	for name := range files {
		if strings.HasPrefix(name, "targets/") {
			files[name] = []byte(`{"mediaType": "tampered"}`)
		}
	}
	obj["spec"].(map[string]any)["repository"].(map[string]any)["mirrorFS"] = base64.StdEncoding.EncodeToString(signaturetest.MirrorFS(t, files))
	if _, errs := signature.TrustRootFromObject(obj, nil); len(errs) == 0 || errs[0].Field != "spec.repository.mirrorFS" {
		t.Errorf("tampered repository: errors %v, want one on spec.repository.mirrorFS", errs)
	}
}

func TestTrustRootRemote(t *testing.T) {
	ss := signaturetest.NewSigstore(t)
	rootJSON, files := ss.TUFRepository(t)
	var requests int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests++
		data, ok := files[strings.TrimPrefix(r.URL.Path, "/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(data)
	}))
	t.Cleanup(srv.Close)
	obj := map[string]any{
		"kind": "TrustRoot",
		"spec": map[string]any{"remote": map[string]any{
			"root":   base64.StdEncoding.EncodeToString(rootJSON),
			"mirror": srv.URL,
		}},
	}

	_, errs := signature.TrustRootFromObject(obj, field.NewPath("trustRoots").Index(0))
	want := []string{"trustRoots[0].spec.remote: Forbidden: fetching the TUF repository " + srv.URL + " needs network access, which is not enabled"}
	if diff := cmp.Diff(want, errorStrings(errs)); diff != "" {
		t.Errorf("without network (-want +got):\n%s", diff)
	}

	tm, errs := signature.TrustRootFromObject(obj, nil, signature.WithNetworkUnsafe(func(u string, max int64) ([]byte, error) {
		return fetcher.NewDefaultFetcher().DownloadFile(u, max, 0)
	}))
	if len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	if requests != 0 {
		t.Errorf("TrustRootFromObject made %d requests; the fetch must wait for the first use", requests)
	}
	verifyWith(t, ss, tm)
	if requests == 0 {
		t.Errorf("the remote repository was never read")
	}
}

func errorStrings(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

func TestTrustRootErrors(t *testing.T) {
	spec := func(s map[string]any) map[string]any {
		return map[string]any{"apiVersion": "policy.sigstore.dev/v1alpha1", "kind": "TrustRoot", "spec": s}
	}
	tests := []struct {
		name string
		obj  map[string]any
		want []string
	}{{
		name: "no spec",
		obj:  map[string]any{"kind": "TrustRoot"},
		want: []string{"spec: Required value: a TrustRoot needs a spec"},
	}, {
		name: "wrong kind",
		obj:  map[string]any{"kind": "ClusterImagePolicy", "spec": map[string]any{}},
		want: []string{`kind: Invalid value: "ClusterImagePolicy": must be TrustRoot`},
	}, {
		name: "nothing set",
		obj:  spec(map[string]any{}),
		want: []string{"spec: Required value: exactly one of repository, remote, sigstoreKeys or trustedRootJSON must be set"},
	}, {
		name: "two set",
		obj:  spec(map[string]any{"remote": map[string]any{}, "sigstoreKeys": map[string]any{}}),
		want: []string{`spec: Invalid value: "remote, sigstoreKeys": exactly one of repository, remote, sigstoreKeys or trustedRootJSON must be set`},
	}, {
		name: "empty sigstoreKeys",
		obj:  spec(map[string]any{"sigstoreKeys": map[string]any{}}),
		want: []string{"spec.sigstoreKeys: Required value: one of certificateAuthorities or timestampAuthorities must be set"},
	}, {
		name: "incomplete authorities and logs",
		obj: spec(map[string]any{"sigstoreKeys": map[string]any{
			"certificateAuthorities": []any{map[string]any{"certChain": "not base64!"}},
			"tLogs":                  []any{map[string]any{"hashAlgorithm": "md5", "publicKey": base64.StdEncoding.EncodeToString([]byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"))}},
			"ctLogs":                 []any{map[string]any{}},
		}}),
		want: []string{
			"spec.sigstoreKeys.certificateAuthorities[0].subject.organization: Required value",
			"spec.sigstoreKeys.certificateAuthorities[0].subject.commonName: Required value",
			"spec.sigstoreKeys.certificateAuthorities[0].uri: Required value",
			`spec.sigstoreKeys.certificateAuthorities[0].certChain: Invalid value: "": must be base64: illegal base64 data at input byte `,
			"spec.sigstoreKeys.tLogs[0].baseURL: Required value",
			`spec.sigstoreKeys.tLogs[0].hashAlgorithm: Unsupported value: "md5": supported values: "sha256", "sha384", "sha512"`,
			`spec.sigstoreKeys.tLogs[0].publicKey: Invalid value: "": must be one PEM public key: key 0: asn1: `,
			"spec.sigstoreKeys.ctLogs[0].baseURL: Required value",
			"spec.sigstoreKeys.ctLogs[0].hashAlgorithm: Required value",
			"spec.sigstoreKeys.ctLogs[0].publicKey: Required value",
		},
	}, {
		name: "repository that is not a tar",
		obj:  spec(map[string]any{"repository": map[string]any{"root": "{}", "mirrorFS": base64.StdEncoding.EncodeToString([]byte("nope"))}}),
		want: []string{`spec.repository.mirrorFS: Invalid value: "": not a gzipped tar: unexpected EOF`},
	}, {
		name: "remote without a mirror",
		obj:  spec(map[string]any{"remote": map[string]any{"root": "{}"}}),
		want: []string{`spec.remote.mirror: Invalid value: "": must be an http(s) URL`},
	}, {
		name: "trustedRootJSON that is not one",
		obj:  spec(map[string]any{"trustedRootJSON": "{}"}),
		want: []string{`spec.trustedRootJSON: Invalid value: "": invalid trusted root: unsupported TrustedRoot media type: `},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tm, errs := signature.TrustRootFromObject(tc.obj, nil)
			if tm != nil {
				t.Errorf("got trust material with errors %v", errs)
			}
			got := errorStrings(errs)
			for i := range got {
				// Cut library messages after the part this package writes.
				if i < len(tc.want) && strings.HasPrefix(got[i], tc.want[i]) {
					got[i] = tc.want[i]
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRemoteTrustedRootIsLazy: the public-good root is fetched only when a
// verification first reads it, and a failed fetch is not retried at once.
func TestRemoteTrustedRootIsLazy(t *testing.T) {
	var urls []string
	fetch := func(u string, _ int64) ([]byte, error) {
		urls = append(urls, u)
		return nil, errors.New("offline")
	}
	now := time.Now()
	tm := signature.RemoteTrustedRoot(tuf.DefaultMirror, tuf.DefaultRoot(), fetch, func() time.Time { return now })
	if len(urls) != 0 {
		t.Fatalf("fetched %v before first use", urls)
	}
	if cas := tm.FulcioCertificateAuthorities(); len(cas) != 0 {
		t.Errorf("an unfetched root trusts %d CAs", len(cas))
	}
	if len(urls) == 0 || !strings.HasPrefix(urls[0], tuf.DefaultMirror+"/") {
		t.Fatalf("first use fetched %v, want a file of %s", urls, tuf.DefaultMirror)
	}
	n := len(urls)
	tm.RekorLogs()
	if len(urls) != n {
		t.Errorf("a failed fetch was retried at once: %v", urls[n:])
	}
	now = now.Add(2 * time.Minute)
	tm.CTLogs()
	if len(urls) == n {
		t.Errorf("a failed fetch was not retried after a minute")
	}
}
