package kyverno_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/image"
	"github.com/portcullis-dev/portcullis/internal/image/imagetest"
	"github.com/portcullis-dev/portcullis/internal/image/registry"
	"github.com/portcullis-dev/portcullis/internal/image/signature"
	"github.com/portcullis-dev/portcullis/internal/image/signature/signaturetest"
	"github.com/portcullis-dev/portcullis/internal/manifest"
	"github.com/portcullis-dev/portcullis/internal/policy/kyverno"
)

// The seed's image, its signer and the identity its policy trusts.
const (
	seedImage   = "ghcr.io/kloudvin/api:v1"
	seedSubject = "https://github.com/kloudvin/api/.github/workflows/build-sign.yml@refs/heads/main"
	seedIssuer  = "https://token.actions.githubusercontent.com"
)

// imageFixture is an in-process registry that answers for ghcr.io, an
// in-process Sigstore, and the Kyverno dialect trusting that Sigstore.
type imageFixture struct {
	reg    *imagetest.Registry
	ss     *signaturetest.Sigstore
	client image.Registry
}

func newImageFixture(t testing.TB, opts ...imagetest.Option) *imageFixture {
	t.Helper()
	reg := imagetest.NewRegistry(t, opts...)
	c, err := registry.New(registry.Options{Insecure: []string{reg.Host()}, Transport: reg.Transport()})
	if err != nil {
		t.Fatalf("registry client: %v", err)
	}
	return &imageFixture{reg: reg, ss: signaturetest.NewSigstore(t), client: hostAlias{Registry: c, from: "ghcr.io", to: reg.Host()}}
}

// hostAlias serves the references of one registry host from another, as
// a registry mirror does: the tests' ghcr.io is the in-process registry.
type hostAlias struct {
	image.Registry
	from, to string
}

func (h hostAlias) fix(r image.Ref) image.Ref {
	if r.Registry == h.from {
		r.Registry = h.to
	}
	return r
}

func (h hostAlias) Resolve(ctx context.Context, ref image.Ref, pull image.Pull) (v1.Descriptor, error) {
	return h.Registry.Resolve(ctx, h.fix(ref), pull)
}

func (h hostAlias) Manifest(ctx context.Context, ref image.Ref, pull image.Pull) ([]byte, v1.Descriptor, error) {
	return h.Registry.Manifest(ctx, h.fix(ref), pull)
}

func (h hostAlias) Blob(ctx context.Context, ref image.Ref, d v1.Hash, pull image.Pull) ([]byte, error) {
	return h.Registry.Blob(ctx, h.fix(ref), d, pull)
}

func (h hostAlias) Referrers(ctx context.Context, ref image.Ref, artifactType string, pull image.Pull) ([]v1.Descriptor, error) {
	return h.Registry.Referrers(ctx, h.fix(ref), artifactType, pull)
}

// push pushes a random image as ghcr.io/<repo>:<tag> and returns its
// reference in the in-process registry (with its digest).
func (f *imageFixture) push(t testing.TB, repo, tag string) image.Ref {
	t.Helper()
	return f.reg.PushRandom(t, repo, tag)
}

// compileImages compiles policies with the fixture's Sigstore as the
// default trust root and returns the set and the compile errors.
func (f *imageFixture) compileImages(t testing.TB, policies string) (*engine.Set, field.ErrorList) {
	t.Helper()
	var docs []engine.Document
	err := manifest.Decode(strings.NewReader(policies), "policy.yaml", func(o manifest.Object) error {
		docs = append(docs, engine.Document{Source: o.Source, Object: o.Object})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	d := kyverno.New(kyverno.WithSignatureOptions(signature.Options{DefaultRoot: f.ss.TrustedRoot()}))
	return engine.New(d).Compile(docs)
}

func (f *imageFixture) mustCompile(t testing.TB, policies string) *engine.Set {
	t.Helper()
	set, errs := f.compileImages(t, policies)
	if len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	return set
}

func (f *imageFixture) cluster() engine.Cluster { return engine.Cluster{Registry: f.client} }

// podWith returns a Pod in namespace apps with one container per image.
func podWith(t testing.TB, images ...string) map[string]any {
	t.Helper()
	var cs []string
	for i, img := range images {
		cs = append(cs, fmt.Sprintf("{name: c%d, image: %q}", i, img))
	}
	obj, err := manifest.DecodeDocument([]byte(fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: apps}\nspec: {containers: [%s]}", strings.Join(cs, ", "))))
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

// seedPolicy returns the seed's policy with textual replacements applied.
func seedImagePolicy(t testing.TB, replacements ...string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/kyverno-verify-images.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i+1 < len(replacements); i += 2 {
		if !strings.Contains(s, replacements[i]) {
			t.Fatalf("seed policy has no %q", replacements[i])
		}
		s = strings.ReplaceAll(s, replacements[i], replacements[i+1])
	}
	return s
}

// The seed's policy as Kyverno accepts it: step 7's Enforce, with
// ctlog.ignoreSCT (TestVerifyImagesSeedScenarios covers the seed's own
// SCT requirement, with and without an embedded SCT).
func seedEnforce(t testing.TB) string {
	return seedImagePolicy(t,
		"failureAction: Audit", "failureAction: Enforce",
		"url: https://rekor.sigstore.dev", "url: https://rekor.sigstore.dev\n            ctlog:\n              ignoreSCT: true")
}

// seedEnforceType is seedEnforce for another verification type, with the
// exact subject a SigstoreBundle identity needs.
func seedEnforceType(t testing.TB, typ string) string {
	return seedImagePolicy(t,
		"failureAction: Audit", "failureAction: Enforce\n      type: "+typ,
		`subject: "https://github.com/kloudvin/*"`, fmt.Sprintf("subject: %q", seedSubject),
		"url: https://rekor.sigstore.dev", "url: https://rekor.sigstore.dev\n            ctlog:\n              ignoreSCT: true")
}

// seedAudit is the seed's Audit policy with the one change Kyverno
// requires for Audit (mutateDigest: false), and ctlog.ignoreSCT.
func seedAudit(t testing.TB, extra ...string) string {
	return seedImagePolicy(t, append([]string{
		"mutateDigest: true", "mutateDigest: false",
		"url: https://rekor.sigstore.dev", "url: https://rekor.sigstore.dev\n            ctlog:\n              ignoreSCT: true",
	}, extra...)...)
}

func TestVerifyImagesSeedPolicyCompile(t *testing.T) {
	f := newImageFixture(t)
	tests := []struct {
		name   string
		policy string
		want   []string
	}{
		{
			// Kyverno 1.19 refuses the seed's policy as written: Audit with
			// mutateDigest (pkg/validation/policy, ImageVerification.Validate).
			name:   "seed policy unchanged",
			policy: seedImagePolicy(t),
			want:   []string{"policy.yaml[ClusterPolicy/require-signed-images].spec.rules[0].verifyImages[0].mutateDigest: Invalid value: true: mutateDigest must be set to false for ‘Audit’ failure action"},
		},
		{
			name:   "step 7: policy-level Enforce keeps the rule's own Audit",
			policy: seedImagePolicy(t, "validationFailureAction: Audit", "validationFailureAction: Enforce"),
			want:   []string{"policy.yaml[ClusterPolicy/require-signed-images].spec.rules[0].verifyImages[0].mutateDigest: Invalid value: true: mutateDigest must be set to false for ‘Audit’ failure action"},
		},
		{name: "step 7: the rule's failureAction Enforce", policy: seedImagePolicy(t, "failureAction: Audit", "failureAction: Enforce")},
		{name: "Audit with mutateDigest false", policy: seedImagePolicy(t, "mutateDigest: true", "mutateDigest: false")},
		{
			name:   "Notary is not supported",
			policy: seedImagePolicy(t, "failureAction: Audit\n", "failureAction: Enforce\n      type: Notary\n"),
			want:   []string{"policy.yaml[ClusterPolicy/require-signed-images].spec.rules[0].verifyImages[0].type: Invalid value: \"Notary\": Notary signatures are not supported: use Cosign or SigstoreBundle"},
		},
		{
			name:   "count above the entries",
			policy: seedImagePolicy(t, "failureAction: Audit", "failureAction: Enforce", "count: 1", "count: 2"),
			want:   []string{"policy.yaml[ClusterPolicy/require-signed-images].spec.rules[0].verifyImages[0].attestors[0]: Invalid value: null: Count cannot exceed length of entries"},
		},
		{
			name:   "keyless without rekor url",
			policy: seedImagePolicy(t, "failureAction: Audit", "failureAction: Enforce", "url: https://rekor.sigstore.dev", "ignoreTlog: false"),
			want:   []string{"policy.yaml[ClusterPolicy/require-signed-images].spec.rules[0].verifyImages[0].attestors[0].entries[0].keyless: Invalid value: null: An URL is required"},
		},
		{
			name:   "variables in image references",
			policy: seedImagePolicy(t, "failureAction: Audit", "failureAction: Enforce", `"ghcr.io/kloudvin/*"`, `"{{ request.object.metadata.name }}"`),
			want:   []string{`policy.yaml[ClusterPolicy/require-signed-images].spec.rules[0].verifyImages[0].imageReferences[0]: Invalid value: "{{ request.object.metadata.name }}": variables are not allowed in image reference`},
		},
		{
			name:   "unknown field",
			policy: seedImagePolicy(t, "failureAction: Audit", "failureAction: Enforce", "required: true", "requird: true"),
			want:   []string{`policy.yaml[ClusterPolicy/require-signed-images].spec.rules[0].verifyImages[0].requird: Forbidden: unknown field`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := f.compileImages(t, tc.policy)
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("compile errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVerifyImagesSeedScenarios(t *testing.T) {
	f := newImageFixture(t)
	signed := f.push(t, "kloudvin/api", "v1")
	f.ss.SignLegacy(t, f.reg, signed, seedSubject, seedIssuer)
	unsigned := f.push(t, "kloudvin/worker", "v1")
	other := f.push(t, "kloudvin/other", "v1")
	f.ss.SignLegacy(t, f.reg, other, "https://github.com/evil/x/.github/workflows/a.yml@refs/heads/main", seedIssuer)
	bundled := f.push(t, "kloudvin/bundled", "v1")
	f.ss.SignBundle(t, f.reg, bundled, seedSubject, seedIssuer)
	otherBundled := f.push(t, "kloudvin/other-bundled", "v1")
	f.ss.SignBundle(t, f.reg, otherBundled, "https://github.com/kloudvin/other", seedIssuer)
	noSCT := f.push(t, "kloudvin/nosct", "v1")
	f.ss.SignLegacy(t, f.reg, noSCT, seedSubject, seedIssuer, signaturetest.WithoutSCT())
	noSCTBundled := f.push(t, "kloudvin/nosct-bundled", "v1")
	f.ss.SignBundle(t, f.reg, noSCTBundled, seedSubject, seedIssuer, signaturetest.WithoutSCT())

	const rule = "verify-ghcr-cosign-keyless"
	tests := []struct {
		name   string
		policy string
		image  string
		want   []verdict
		// wantImage is the container's image after admission (empty when
		// it is the request's).
		wantImage string
		denied    bool
	}{
		{
			name:      "Enforce: signed image is admitted and pinned to its digest",
			policy:    seedEnforce(t),
			image:     seedImage,
			wantImage: seedImage + "@" + signed.Digest,
			want: []verdict{
				{rule, engine.Pass, "", "verified image signatures for " + seedImage},
				{rule, engine.Pass, "", "image verified"},
			},
		},
		{
			name:   "Enforce: unsigned image is denied with Kyverno's message",
			policy: seedEnforce(t),
			image:  "ghcr.io/kloudvin/worker:v1",
			denied: true,
			want: []verdict{
				{rule, engine.Fail, engine.ActionDeny, "failed to verify image ghcr.io/kloudvin/worker:v1: .attestors[0].entries[0].keyless: no signatures found"},
				{rule, engine.Fail, engine.ActionDeny, "unverified image ghcr.io/kloudvin/worker@" + unsigned.Digest},
			},
			wantImage: "ghcr.io/kloudvin/worker:v1@" + unsigned.Digest,
		},
		{
			name:   "Enforce: another signer's image is denied",
			policy: seedEnforce(t),
			image:  "ghcr.io/kloudvin/other:v1",
			denied: true,
			want: []verdict{
				{rule, engine.Fail, engine.ActionDeny, "failed to verify image ghcr.io/kloudvin/other:v1: .attestors[0].entries[0].keyless: subject mismatch: expected https://github.com/kloudvin/*, received https://github.com/evil/x/.github/workflows/a.yml@refs/heads/main"},
				{rule, engine.Fail, engine.ActionDeny, "unverified image ghcr.io/kloudvin/other@" + other.Digest},
			},
			wantImage: "ghcr.io/kloudvin/other:v1@" + other.Digest,
		},
		{
			// Without a ctlog block Kyverno requires an SCT; the in-process
			// Sigstore's certificates embed one, as Fulcio's do.
			name:   "Enforce without ctlog: a certificate with an embedded SCT passes",
			policy: seedImagePolicy(t, "failureAction: Audit", "failureAction: Enforce"),
			image:  seedImage,
			want: []verdict{
				{rule, engine.Pass, "", "verified image signatures for " + seedImage},
				{rule, engine.Pass, "", "image verified"},
			},
			wantImage: seedImage + "@" + signed.Digest,
		},
		{
			name:   "Enforce without ctlog: a certificate without SCT is rejected",
			policy: seedImagePolicy(t, "failureAction: Audit", "failureAction: Enforce"),
			image:  "ghcr.io/kloudvin/nosct:v1",
			denied: true,
			want: []verdict{
				{rule, engine.Fail, engine.ActionDeny, "failed to verify image ghcr.io/kloudvin/nosct:v1: .attestors[0].entries[0].keyless: no matching signatures: failed to verify signed certificate timestamp: only able to verify 0 SCT entries; unable to meet threshold of 1"},
				{rule, engine.Fail, engine.ActionDeny, "unverified image ghcr.io/kloudvin/nosct@" + noSCT.Digest},
			},
			wantImage: "ghcr.io/kloudvin/nosct:v1@" + noSCT.Digest,
		},
		{
			name:   "Enforce with ctlog.ignoreSCT: a certificate without SCT passes",
			policy: seedEnforce(t),
			image:  "ghcr.io/kloudvin/nosct:v1",
			want: []verdict{
				{rule, engine.Pass, "", "verified image signatures for ghcr.io/kloudvin/nosct:v1"},
				{rule, engine.Pass, "", "image verified"},
			},
			wantImage: "ghcr.io/kloudvin/nosct:v1@" + noSCT.Digest,
		},
		{
			name: "SigstoreBundle without ctlog: a certificate with an embedded SCT passes",
			policy: seedImagePolicy(t, "failureAction: Audit", "failureAction: Enforce\n      type: SigstoreBundle",
				`subject: "https://github.com/kloudvin/*"`, fmt.Sprintf("subject: %q", seedSubject)),
			image: "ghcr.io/kloudvin/bundled:v1",
			want: []verdict{
				{rule, engine.Pass, "", "verified image signatures for ghcr.io/kloudvin/bundled:v1"},
				{rule, engine.Pass, "", "image verified"},
			},
			wantImage: "ghcr.io/kloudvin/bundled:v1@" + bundled.Digest,
		},
		{
			// Kyverno 1.19's SigstoreBundle verifier turns "SCT not ignored"
			// into sigstore-go's WithObserverTimestamps(1), never into an SCT
			// threshold (pkg/image/verifiers/cpol/cosign/sigstore.go,
			// buildVerifyOptions): a bundle's certificate needs no SCT.
			name: "SigstoreBundle without ctlog: a certificate without SCT still passes",
			policy: seedImagePolicy(t, "failureAction: Audit", "failureAction: Enforce\n      type: SigstoreBundle",
				`subject: "https://github.com/kloudvin/*"`, fmt.Sprintf("subject: %q", seedSubject)),
			image: "ghcr.io/kloudvin/nosct-bundled:v1",
			want: []verdict{
				{rule, engine.Pass, "", "verified image signatures for ghcr.io/kloudvin/nosct-bundled:v1"},
				{rule, engine.Pass, "", "image verified"},
			},
			wantImage: "ghcr.io/kloudvin/nosct-bundled:v1@" + noSCTBundled.Digest,
		},
		{
			name:   "SigstoreBundle: a keyless bundle referrer",
			policy: seedEnforceType(t, "SigstoreBundle"),
			image:  "ghcr.io/kloudvin/bundled:v1",
			want: []verdict{
				{rule, engine.Pass, "", "verified image signatures for ghcr.io/kloudvin/bundled:v1"},
				{rule, engine.Pass, "", "image verified"},
			},
			wantImage: "ghcr.io/kloudvin/bundled:v1@" + bundled.Digest,
		},
		{
			name:   "SigstoreBundle: exact identities, as sigstore-go compares them",
			policy: seedEnforceType(t, "SigstoreBundle"),
			image:  "ghcr.io/kloudvin/other-bundled:v1",
			denied: true,
			want: []verdict{
				{rule, engine.Fail, engine.ActionDeny, "failed to verify image ghcr.io/kloudvin/other-bundled:v1: .attestors[0].entries[0].keyless: sigstore bundle verification failed: no matching signatures found"},
				{rule, engine.Fail, engine.ActionDeny, "unverified image ghcr.io/kloudvin/other-bundled@" + otherBundled.Digest},
			},
			wantImage: "ghcr.io/kloudvin/other-bundled:v1@" + otherBundled.Digest,
		},
		{
			name:   "Audit: unsigned image is admitted with failing audit results",
			policy: seedAudit(t),
			image:  "ghcr.io/kloudvin/worker:v1",
			want: []verdict{
				{rule, engine.Fail, engine.ActionAudit, "failed to verify image ghcr.io/kloudvin/worker:v1: .attestors[0].entries[0].keyless: no signatures found"},
				{rule, engine.Fail, engine.ActionAudit, "missing digest for ghcr.io/kloudvin/worker:v1"},
			},
		},
		{
			name:   "Audit without verifyDigest: the validating webhook finds the image unverified",
			policy: seedAudit(t, "required: true", "required: true\n      verifyDigest: false"),
			image:  "ghcr.io/kloudvin/worker:v1",
			want: []verdict{
				{rule, engine.Fail, engine.ActionAudit, "failed to verify image ghcr.io/kloudvin/worker:v1: .attestors[0].entries[0].keyless: no signatures found"},
				{rule, engine.Fail, engine.ActionAudit, "unverified image ghcr.io/kloudvin/worker:v1"},
			},
		},
		{
			name:   "Audit without verifyDigest: signed image passes",
			policy: seedAudit(t, "required: true", "required: true\n      verifyDigest: false"),
			image:  seedImage,
			want: []verdict{
				{rule, engine.Pass, "", "verified image signatures for " + seedImage},
				{rule, engine.Pass, "", "image verified"},
			},
		},
		{
			name:   "images outside imageReferences are not checked",
			policy: seedEnforce(t),
			image:  "docker.io/library/nginx:latest",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := f.mustCompile(t, tc.policy)
			req := admission(podWith(t, tc.image), engine.Create)
			res := set.Evaluate(context.Background(), req, f.cluster())
			if diff := cmp.Diff(tc.want, verdicts(res)); diff != "" {
				t.Errorf("verdicts (-want +got):\n%s", diff)
			}
			if got := len(res.Denied()) > 0; got != tc.denied {
				t.Errorf("denied = %v, want %v", got, tc.denied)
			}
			gotImage, wantImage := tc.image, tc.wantImage
			if res.Object != nil {
				gotImage = containerImage(res.Object, 0)
			}
			if wantImage == "" {
				wantImage = tc.image
			}
			if gotImage != wantImage {
				t.Errorf("image after admission = %q, want %q", gotImage, wantImage)
			}
		})
	}
}

func containerImage(obj map[string]any, i int) string {
	spec, _ := obj["spec"].(map[string]any)
	cs, _ := spec["containers"].([]any)
	c, _ := cs[i].(map[string]any)
	s, _ := c["image"].(string)
	return s
}

func annotations(obj map[string]any) map[string]string {
	md, _ := obj["metadata"].(map[string]any)
	ann, _ := md["annotations"].(map[string]any)
	out := map[string]string{}
	for k, v := range ann {
		out[k], _ = v.(string)
	}
	return out
}

// TestVerifyImagesMutateDigestPatch checks the mutating webhook's answer:
// the JSON patch pins the tag to the verified digest and records the
// result in Kyverno's annotations, without touching the request's object.
func TestVerifyImagesMutateDigestPatch(t *testing.T) {
	f := newImageFixture(t)
	signed := f.push(t, "kloudvin/api", "v1")
	f.ss.SignLegacy(t, f.reg, signed, seedSubject, seedIssuer)
	set := f.mustCompile(t, seedEnforce(t))
	obj := podWith(t, seedImage)
	req := admission(obj, engine.Create)
	req.Phase = engine.PhaseMutate
	res := set.Evaluate(context.Background(), req, f.cluster())
	if got := containerImage(obj, 0); got != seedImage {
		t.Fatalf("the request's object was modified: %q", got)
	}
	pinned := "ghcr.io/kloudvin/api@" + signed.Digest
	want := []engine.PatchOperation{
		{Op: "add", Path: "/metadata/annotations", Value: map[string]any{
			"kyverno.io/verify-images":        fmt.Sprintf(`{%q:"pass"}`, pinned),
			"kyverno.io/verify-images-scoped": fmt.Sprintf(`{"version":1,"policies":{"/require-signed-images":{"verify-ghcr-cosign-keyless":{%q:"pass"}}}}`, pinned),
		}},
		{Op: "replace", Path: "/spec/containers/0/image", Value: seedImage + "@" + signed.Digest},
	}
	patch, err := res.Patch()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, patch); diff != "" {
		t.Errorf("patch (-want +got):\n%s", diff)
	}

	// The validating webhook sees the mutated object.
	vreq := admission(res.Object, engine.Create)
	vreq.Phase = engine.PhaseValidate
	vres := set.Evaluate(context.Background(), vreq, engine.Cluster{})
	if diff := cmp.Diff([]verdict{{"verify-ghcr-cosign-keyless", engine.Pass, "", "image verified"}}, verdicts(vres)); diff != "" {
		t.Errorf("validate verdicts (-want +got):\n%s", diff)
	}

	// An UPDATE that keeps the verified image is not verified again.
	f.reg.ResetRequests()
	ureq := admission(res.Object, engine.Update)
	ureq.OldObject = res.Object
	ureq.Phase = engine.PhaseMutate
	ures := set.Evaluate(context.Background(), ureq, f.cluster())
	if len(ures.Rules) != 0 || f.reg.Requests() != 0 {
		t.Errorf("unchanged image re-verified: %v, %d registry requests", verdicts(ures), f.reg.Requests())
	}

	// A forged annotation does not survive the mutating webhook.
	forged := podWith(t, "ghcr.io/kloudvin/worker:v1")
	forged["metadata"].(map[string]any)["annotations"] = map[string]any{
		"kyverno.io/verify-images-scoped": `{"version":1,"policies":{"/require-signed-images":{"verify-ghcr-cosign-keyless":{"ghcr.io/kloudvin/worker:v1":"pass"}}}}`,
	}
	f.push(t, "kloudvin/worker", "v1")
	fres := set.Evaluate(context.Background(), admission(forged, engine.Create), f.cluster())
	if len(fres.Denied()) == 0 {
		t.Errorf("forged annotation admitted an unsigned image: %v", verdicts(fres))
	}
}

func TestVerifyImagesSkipAndCount(t *testing.T) {
	f := newImageFixture(t)
	signed := f.push(t, "kloudvin/api", "v1")
	f.ss.SignLegacy(t, f.reg, signed, seedSubject, seedIssuer)
	debugRef := f.push(t, "kloudvin/debug", "v1")

	const policy = `
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: signed}
spec:
  rules:
  - name: r
    match: {any: [{resources: {kinds: [Pod]}}]}
    verifyImages:
    - imageReferences: ["ghcr.io/kloudvin/*"]
      skipImageReferences: ["ghcr.io/kloudvin/debug*"]
      failureAction: Enforce
      attestors:
      - %s
        entries:
        - keyless:
            subject: "invalid subject"
            issuer: %q
            rekor: {url: https://rekor.sigstore.dev}
            ctlog: {ignoreSCT: true}
        - keyless:
            subjectRegExp: "^https://github\\.com/kloudvin/.+@refs/heads/main$"
            issuerRegExp: "actions\\.githubusercontent"
            rekor: {url: https://rekor.sigstore.dev}
            ctlog: {ignoreSCT: true}
`
	api := "ghcr.io/kloudvin/api:v1"
	debug := "ghcr.io/kloudvin/debug:v1"
	tests := []struct {
		name     string
		count    string
		images   []string
		want     []verdict
		warnings []string
	}{
		{
			name:   "count 1: one of two attestors suffices",
			count:  "count: 1",
			images: []string{api},
			want: []verdict{
				{"r", engine.Pass, "", "verified image signatures for " + api},
				{"r", engine.Pass, "", "image verified"},
			},
		},
		{
			name:   "no count: every attestor must verify",
			count:  "count: null",
			images: []string{api},
			want: []verdict{
				{"r", engine.Fail, engine.ActionDeny, "failed to verify image " + api + ": .attestors[0].entries[0].keyless: subject mismatch: expected invalid subject, received " + seedSubject},
				{"r", engine.Fail, engine.ActionDeny, "unverified image ghcr.io/kloudvin/api@" + signed.Digest},
			},
		},
		{
			name:   "skipImageReferences: skipped with a warning, then recorded as skipped",
			count:  "count: 1",
			images: []string{debug, api},
			want: []verdict{
				{"r", engine.Skip, "", "skipping image reference image " + debug + ", policy signed ruleName r"},
				{"r", engine.Pass, "", "verified image signatures for " + api},
				{"r", engine.Pass, "", "image verified, skipped images: ghcr.io/kloudvin/debug@" + debugRef.Digest},
			},
			warnings: []string{"policy signed.r: skipping image reference image " + debug + ", policy signed ruleName r"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := f.mustCompile(t, fmt.Sprintf(policy, tc.count, seedIssuer))
			req := admission(podWith(t, tc.images...), engine.Create)
			res := set.Evaluate(context.Background(), req, f.cluster())
			if diff := cmp.Diff(tc.want, verdicts(res)); diff != "" {
				t.Errorf("verdicts (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.warnings, res.Warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVerifyImagesKeyBased(t *testing.T) {
	f := newImageFixture(t)
	key := signaturetest.GenerateKeyPair(t)
	other := signaturetest.GenerateKeyPair(t)
	signed := f.push(t, "team/app", "v1")
	signaturetest.CosignSign(t, signed, key)
	signedBundle := f.push(t, "team/bundle", "v1")
	signaturetest.CosignSign(t, signedBundle, key, "--new-bundle-format")

	policy := func(typ string, keys ...string) string {
		return fmt.Sprintf(`
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: keyed}
spec:
  validationFailureAction: Enforce
  rules:
  - name: r
    match: {any: [{resources: {kinds: [Pod]}}]}
    verifyImages:
    - imageReferences: ["ghcr.io/team/*"]
      type: %s
      attestors:
      - count: 1
        entries:
        - keys:
            publicKeys: %q
            rekor: {url: https://rekor.sigstore.dev, ignoreTlog: true}
            ctlog: {ignoreSCT: true}
`, typ, strings.Join(keys, ""))
	}
	app := "ghcr.io/team/app:v1"
	bundle := "ghcr.io/team/bundle:v1"
	tests := []struct {
		name   string
		policy string
		image  string
		want   []verdict
	}{
		{
			name:   "cosign key signature",
			policy: policy("Cosign", key.PublicKeyPEM),
			image:  app,
			want: []verdict{
				{"r", engine.Pass, "", "verified image signatures for " + app},
				{"r", engine.Pass, "", "image verified"},
			},
		},
		{
			name:   "one of several keys, counted across them",
			policy: policy("Cosign", other.PublicKeyPEM, key.PublicKeyPEM),
			image:  app,
			want: []verdict{
				{"r", engine.Pass, "", "verified image signatures for " + app},
				{"r", engine.Pass, "", "image verified"},
			},
		},
		{
			name:   "wrong key",
			policy: policy("Cosign", other.PublicKeyPEM),
			image:  app,
			want: []verdict{
				{"r", engine.Fail, engine.ActionDeny, "failed to verify image " + app + ": .attestors[0].entries[0].keys: no matching signatures: "},
				{"r", engine.Fail, engine.ActionDeny, "unverified image ghcr.io/team/app@" + signed.Digest},
			},
		},
		{
			name:   "SigstoreBundle: cosign --new-bundle-format signature",
			policy: policy("SigstoreBundle", key.PublicKeyPEM),
			image:  bundle,
			want: []verdict{
				{"r", engine.Pass, "", "verified image signatures for " + bundle},
				{"r", engine.Pass, "", "image verified"},
			},
		},
		{
			name:   "SigstoreBundle: a legacy signature is not a bundle",
			policy: policy("SigstoreBundle", key.PublicKeyPEM),
			image:  app,
			want: []verdict{
				{"r", engine.Fail, engine.ActionDeny, "failed to verify image " + app + ": .attestors[0].entries[0].keys: sigstore bundle verification failed: no matching signatures found"},
				{"r", engine.Fail, engine.ActionDeny, "unverified image ghcr.io/team/app@" + signed.Digest},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := f.mustCompile(t, tc.policy)
			res := set.Evaluate(context.Background(), admission(podWith(t, tc.image), engine.Create), f.cluster())
			got := verdicts(res)
			// The verifier's reasons for rejecting a signature follow
			// "no matching signatures: "; the tests compare up to there.
			for i := range got {
				if j := strings.Index(got[i].Message, "no matching signatures: "); j >= 0 {
					got[i].Message = got[i].Message[:j+len("no matching signatures: ")]
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("verdicts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVerifyImagesAttestations(t *testing.T) {
	f := newImageFixture(t)
	ref := f.push(t, "kloudvin/api", "v1")
	f.ss.SignLegacy(t, f.reg, ref, seedSubject, seedIssuer)
	const provenance = "https://slsa.dev/provenance/v0.2"
	f.ss.AttestLegacy(t, f.reg, ref, seedSubject, seedIssuer, provenance, map[string]any{
		"builder":   map[string]any{"id": "https://github.com/actions/runner"},
		"buildType": "https://github.com/slsa-framework/slsa-github-generator/generic@v1",
	})
	policy := func(conditions string) string {
		return fmt.Sprintf(`
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: provenance}
spec:
  rules:
  - name: r
    match: {any: [{resources: {kinds: [Pod]}}]}
    verifyImages:
    - imageReferences: ["ghcr.io/kloudvin/*"]
      failureAction: Enforce
      attestations:
      - type: %s
        attestors:
        - entries:
          - keyless:
              subject: "https://github.com/kloudvin/*"
              issuer: %s
              rekor: {url: https://rekor.sigstore.dev}
              ctlog: {ignoreSCT: true}
        conditions:
        - all:
%s
`, provenance, seedIssuer, conditions)
	}
	image := "ghcr.io/kloudvin/api:v1"
	pinned := "ghcr.io/kloudvin/api@" + ref.Digest
	tests := []struct {
		name       string
		conditions string
		want       []verdict
	}{
		{
			name: "conditions over the predicate hold",
			conditions: `          - key: "{{ builder.id }}"
            operator: Equals
            value: "https://github.com/actions/runner"
          - key: "{{ image.registry }}"
            operator: Equals
            value: ghcr.io`,
			want: []verdict{
				{"r", engine.Pass, "", "verified image attestations for " + pinned},
				{"r", engine.Pass, "", "image verified"},
			},
		},
		{
			name: "a condition fails with its message",
			conditions: `          - key: "{{ buildType }}"
            operator: Equals
            value: "https://example.com/other"
            message: "unexpected build type {{ buildType }}"`,
			want: []verdict{
				{"r", engine.Fail, engine.ActionDeny, "image attestations verification failed, verifiedCount: 0, requiredCount: 1, error: .attestations[0].attestors[0].entries[0].keyless: attestation checks failed for " + pinned + " and predicate " + provenance + ": unexpected build type https://github.com/slsa-framework/slsa-github-generator/generic@v1"},
				{"r", engine.Fail, engine.ActionDeny, "unverified image " + pinned},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := f.mustCompile(t, policy(tc.conditions))
			res := set.Evaluate(context.Background(), admission(podWith(t, image), engine.Create), f.cluster())
			if diff := cmp.Diff(tc.want, verdicts(res)); diff != "" {
				t.Errorf("verdicts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVerifyImagesRegistryErrors(t *testing.T) {
	down := func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
		})
	}
	f := newImageFixture(t, imagetest.WithHandler(down))
	tests := []struct {
		name          string
		failurePolicy string
		action        engine.Action
	}{
		{"failurePolicy Fail denies", "Fail", engine.ActionDeny},
		{"failurePolicy Ignore admits", "Ignore", engine.ActionAudit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := f.mustCompile(t, seedImagePolicy(t, "failureAction: Audit", "failureAction: Enforce", "failurePolicy: Fail", "failurePolicy: "+tc.failurePolicy))
			req := admission(podWith(t, seedImage), engine.Create)
			req.Phase = engine.PhaseMutate
			res := set.Evaluate(context.Background(), req, f.cluster())
			if len(res.Rules) == 0 {
				t.Fatal("no results")
			}
			for _, r := range res.Rules {
				if r.Verdict != engine.Error || r.Action != tc.action || !strings.HasPrefix(r.Message, "failed to verify image "+seedImage+": .attestors[0].entries[0].keyless: ") && !strings.HasPrefix(r.Message, "failed to update digest: ") {
					t.Errorf("result %+v, want an error with action %s", r, tc.action)
				}
			}
		})
	}

	// Without a registry client, every image read is an error too.
	set := f.mustCompile(t, seedEnforce(t))
	res := set.Evaluate(context.Background(), admission(podWith(t, seedImage), engine.Create), engine.Cluster{})
	want := []verdict{
		// Kyverno reports the digest error before the verification's.
		{"verify-ghcr-cosign-keyless", engine.Error, engine.ActionDeny, "failed to update digest: images cannot be read: no image registry is configured"},
		{"verify-ghcr-cosign-keyless", engine.Error, engine.ActionDeny, "failed to verify image " + seedImage + ": .attestors[0].entries[0].keyless: images cannot be read: no image registry is configured"},
		{"verify-ghcr-cosign-keyless", engine.Fail, engine.ActionDeny, "missing digest for " + seedImage},
	}
	if diff := cmp.Diff(want, verdicts(res)); diff != "" {
		t.Errorf("verdicts (-want +got):\n%s", diff)
	}
}

func TestVerifyImagesBackgroundSkipped(t *testing.T) {
	f := newImageFixture(t)
	set := f.mustCompile(t, seedEnforce(t))
	req := admission(podWith(t, seedImage), engine.Create)
	req.Background = true
	res := set.Evaluate(context.Background(), req, f.cluster())
	if len(res.Rules) != 0 || res.Object != nil || f.reg.Requests() != 0 {
		t.Errorf("background evaluation ran verifyImages: %v", verdicts(res))
	}
}

func TestImageRegistryContext(t *testing.T) {
	f := newImageFixture(t)
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Config.User = "0"
	cfg.Config.Labels = map[string]string{"org.opencontainers.image.source": "https://github.com/kloudvin/api"}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ref := f.reg.PushImage(t, "kloudvin/api", "v1", img)

	const policy = `
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: image-data}
spec:
  validationFailureAction: Enforce
  rules:
  - name: no-root
    match: {any: [{resources: {kinds: [Pod]}}]}
    context:
    - name: imageData
      imageRegistry:
        reference: "{{ request.object.spec.containers[0].image }}"
    - name: user
      imageRegistry:
        reference: "{{ request.object.spec.containers[0].image }}"
        jmesPath: "configData.config.User"
    validate:
      message: "{{ imageData.resolvedImage }} ({{ imageData.identifier }}, {{ imageData.configData.config.Labels.\"org.opencontainers.image.source\" }}) runs as user {{ user }}"
      deny:
        conditions:
          all:
          - key: "{{ user }}"
            operator: Equals
            value: "0"
          - key: "{{ imageData.manifest.config.digest }}"
            operator: Equals
            value: "{{ imageData.manifest.config.digest }}"
          - key: "{{ imageData.manifestList || 'none' }}"
            operator: Equals
            value: none
`
	set := f.mustCompile(t, policy)
	res := set.Evaluate(context.Background(), admission(podWith(t, seedImage), engine.Create), f.cluster())
	want := []verdict{{"no-root", engine.Fail, engine.ActionDeny, fmt.Sprintf("ghcr.io/kloudvin/api@%s (v1, https://github.com/kloudvin/api) runs as user 0", ref.Digest)}}
	if diff := cmp.Diff(want, verdicts(res)); diff != "" {
		t.Errorf("verdicts (-want +got):\n%s", diff)
	}

	// A missing image is an error that names the reference.
	res = set.Evaluate(context.Background(), admission(podWith(t, "ghcr.io/kloudvin/missing:v1"), engine.Create), f.cluster())
	if len(res.Rules) != 1 || res.Rules[0].Verdict != engine.Error || !strings.HasPrefix(res.Rules[0].Message, "failed to load context: failed to fetch image descriptor: ghcr.io/kloudvin/missing:v1, error: ") {
		t.Errorf("missing image: %v", verdicts(res))
	}
}

// TestImageRegistryContextDocument compares the document of the
// imageRegistry entry with the image's own manifest and config, for an
// image and for an index (whose linux/amd64 image it describes).
func TestImageRegistryContextDocument(t *testing.T) {
	f := newImageFixture(t)
	imageWith := func(arch string) v1.Image {
		img, err := random.Image(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		img, err = mutate.ConfigFile(img, &v1.ConfigFile{OS: "linux", Architecture: arch})
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	single := f.reg.PushImage(t, "kloudvin/api", "v1", imageWith("arm64"))
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: imageWith("arm64"), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: imageWith("amd64"), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
	)
	multi := f.reg.PushIndex(t, "kloudvin/multi", "v2", idx)
	mediaType := func(ref image.Ref) any {
		raw, _, err := f.client.Manifest(context.Background(), ref, image.Pull{})
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		return m["mediaType"]
	}
	const policy = `
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: image-doc}
spec:
  validationFailureAction: Enforce
  rules:
  - name: doc
    match: {any: [{resources: {kinds: [Pod]}}]}
    context:
    - name: imageData
      imageRegistry:
        reference: "{{ request.object.spec.containers[0].image }}"
        jmesPath: "{image: image, resolvedImage: resolvedImage, registry: registry, repository: repository, identifier: identifier, manifests: length(manifestList.manifests || ''), mediaType: manifest.mediaType, layers: length(manifest.layers), architecture: configData.architecture}"
    validate:
      message: "{{ to_string(imageData) }}"
      deny: {conditions: {all: [{key: true, operator: Equals, value: true}]}}
`
	set := f.mustCompile(t, policy)
	tests := []struct {
		name  string
		image string
		want  map[string]any
	}{
		{
			name:  "image by tag and digest",
			image: seedImage + "@" + single.Digest,
			want: map[string]any{
				"image":         seedImage + "@" + single.Digest,
				"resolvedImage": "ghcr.io/kloudvin/api@" + single.Digest,
				"registry":      "ghcr.io",
				"repository":    "kloudvin/api",
				"identifier":    "v1@" + single.Digest,
				"manifests":     float64(0),
				"mediaType":     mediaType(single),
				"layers":        float64(1),
				"architecture":  "arm64",
			},
		},
		{
			name:  "index by tag",
			image: "ghcr.io/kloudvin/multi:v2",
			want: map[string]any{
				"image":         "ghcr.io/kloudvin/multi:v2",
				"resolvedImage": "ghcr.io/kloudvin/multi@" + multi.Digest,
				"registry":      "ghcr.io",
				"repository":    "kloudvin/multi",
				"identifier":    "v2",
				"manifests":     float64(2),
				"mediaType":     mediaType(single),
				"layers":        float64(1),
				"architecture":  "amd64",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := set.Evaluate(context.Background(), admission(podWith(t, tc.image), engine.Create), f.cluster())
			if len(res.Rules) != 1 {
				t.Fatalf("results: %v", verdicts(res))
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(res.Rules[0].Message), &got); err != nil {
				t.Fatalf("%v: %s", err, res.Rules[0].Message)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("document (-want +got):\n%s", diff)
			}
		})
	}
}

// configMaps is an in-memory engine.ConfigMapGetter.
type configMaps map[string]map[string]any

func (c configMaps) ConfigMap(_ context.Context, namespace, name string) (map[string]any, error) {
	cm, ok := c[namespace+"/"+name]
	if !ok {
		return nil, engine.ErrNotFound
	}
	return cm, nil
}

// TestVerifyImagesVariablesAndValidate covers attestors with variables
// (compiled per distinct value), named attestations and the validate block.
func TestVerifyImagesVariablesAndValidate(t *testing.T) {
	f := newImageFixture(t)
	ref := f.push(t, "kloudvin/api", "v1")
	f.ss.SignLegacy(t, f.reg, ref, seedSubject, seedIssuer)
	const provenance = "https://slsa.dev/provenance/v0.2"
	f.ss.AttestLegacy(t, f.reg, ref, seedSubject, seedIssuer, provenance, map[string]any{
		"builder": map[string]any{"id": "https://github.com/actions/runner"},
	})
	const policy = `
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: roots-from-configmap}
spec:
  rules:
  - name: r
    match: {any: [{resources: {kinds: [Pod]}}]}
    context:
    - name: trust
      configMap: {name: trust, namespace: kyverno}
    verifyImages:
    - imageReferences: ["ghcr.io/kloudvin/*"]
      failureAction: Enforce
      attestors:
      - entries:
        - keyless:
            subject: "{{ trust.data.subject }}"
            roots: "{{ trust.data.roots }}"
            ctlog: {ignoreSCT: true}
      attestations:
      - name: prov
        type: https://slsa.dev/provenance/v0.2
        attestors:
        - entries:
          - keyless:
              subject: "{{ trust.data.subject }}"
              roots: "{{ trust.data.roots }}"
              ctlog: {ignoreSCT: true}
      validate:
        message: "built by {{ prov.builder.id }}"
        deny:
          conditions:
            any:
            - key: "{{ prov.builder.id }}"
              operator: NotEquals
              value: "{{ trust.data.builder }}"
`
	set := f.mustCompile(t, policy)
	pinned := "ghcr.io/kloudvin/api@" + ref.Digest
	tests := []struct {
		name    string
		subject string
		builder string
		want    []verdict
	}{
		{
			name:    "values from the ConfigMap verify and validate",
			subject: "https://github.com/kloudvin/*",
			builder: "https://github.com/actions/runner",
			want: []verdict{
				{"r", engine.Pass, "", "verifyImages validation is passed in r rule"},
				{"r", engine.Pass, "", "image verified"},
			},
		},
		{
			name:    "the validate block denies with its message",
			subject: "https://github.com/kloudvin/*",
			builder: "https://example.com/other",
			want: []verdict{
				{"r", engine.Fail, engine.ActionDeny, "validation in verifyImages failed: built by https://github.com/actions/runner"},
				{"r", engine.Fail, engine.ActionDeny, "unverified image " + pinned},
			},
		},
		{
			name:    "another subject from the ConfigMap",
			subject: "someone@example.com",
			builder: "https://github.com/actions/runner",
			want: []verdict{
				{"r", engine.Fail, engine.ActionDeny, "failed to verify image " + seedImage + ": .attestors[0].entries[0].keyless: subject mismatch: expected someone@example.com, received " + seedSubject},
				{"r", engine.Fail, engine.ActionDeny, "unverified image " + pinned},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cluster := f.cluster()
			cluster.ConfigMaps = configMaps{"kyverno/trust": {"data": map[string]any{
				"subject": tc.subject,
				"roots":   f.ss.CAPEM(t),
				"builder": tc.builder,
			}}}
			res := set.Evaluate(context.Background(), admission(podWith(t, seedImage), engine.Create), cluster)
			if diff := cmp.Diff(tc.want, verdicts(res)); diff != "" {
				t.Errorf("verdicts (-want +got):\n%s", diff)
			}
		})
	}
}

// TestVerifyImagesImageExtractors pins an image found by a rule's own
// imageExtractors in a custom resource.
func TestVerifyImagesImageExtractors(t *testing.T) {
	f := newImageFixture(t)
	ref := f.push(t, "kloudvin/step", "v1")
	f.ss.SignLegacy(t, f.reg, ref, seedSubject, seedIssuer)
	const policy = `
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: tasks}
spec:
  rules:
  - name: r
    match: {any: [{resources: {kinds: [tekton.dev/v1/Task]}}]}
    imageExtractors:
      Task:
      - path: /spec/steps/*/image
    verifyImages:
    - imageReferences: ["ghcr.io/kloudvin/*"]
      failureAction: Enforce
      attestors:
      - entries:
        - keyless:
            subject: "https://github.com/kloudvin/*"
            issuer: https://token.actions.githubusercontent.com
            rekor: {url: https://rekor.sigstore.dev}
            ctlog: {ignoreSCT: true}
`
	set := f.mustCompile(t, policy)
	task := object(t, "apiVersion: tekton.dev/v1\nkind: Task\nmetadata: {name: build, namespace: ci}\nspec: {steps: [{name: s, image: ghcr.io/kloudvin/step:v1}]}")
	req := admission(task, engine.Create)
	req.Phase = engine.PhaseMutate
	res := set.Evaluate(context.Background(), req, f.cluster())
	want := []verdict{{"r", engine.Pass, "", "verified image signatures for ghcr.io/kloudvin/step:v1"}}
	if diff := cmp.Diff(want, verdicts(res)); diff != "" {
		t.Errorf("verdicts (-want +got):\n%s", diff)
	}
	patch, err := res.Patch()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, op := range patch {
		got = append(got, op.Op+" "+op.Path)
	}
	if diff := cmp.Diff([]string{"add /metadata/annotations", "replace /spec/steps/0/image"}, got); diff != "" {
		t.Errorf("patch (-want +got):\n%s", diff)
	}
}

// BenchmarkVerifyImagesCached measures an admission of a Pod whose signed
// image the verifier has already verified (its result cache is warm): the
// work of the dialect on top of the cached verification.
func BenchmarkVerifyImagesCached(b *testing.B) {
	f := newImageFixture(b)
	ref := f.reg.PushRandom(b, "kloudvin/api", "v1")
	f.ss.SignLegacy(b, f.reg, ref, seedSubject, seedIssuer)
	set := f.mustCompile(b, seedImagePolicy(b, "failureAction: Audit", "failureAction: Enforce",
		"url: https://rekor.sigstore.dev", "url: https://rekor.sigstore.dev\n            ctlog:\n              ignoreSCT: true"))
	pod := podWith(b, "ghcr.io/kloudvin/api:v1@"+ref.Digest)
	if res := set.Evaluate(context.Background(), admission(pod, engine.Create), f.cluster()); len(res.Denied()) > 0 {
		b.Fatalf("denied: %v", verdicts(res))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res := set.Evaluate(context.Background(), admission(pod, engine.Create), f.cluster())
		if len(res.Rules) != 2 {
			b.Fatalf("results: %v", verdicts(res))
		}
	}
}

// TestVerifyImagesAutogen checks the generated rule of a pod controller:
// its images are in the pod template, and so is the digest patch.
func TestVerifyImagesAutogen(t *testing.T) {
	f := newImageFixture(t)
	signed := f.push(t, "kloudvin/api", "v1")
	f.ss.SignLegacy(t, f.reg, signed, seedSubject, seedIssuer)
	set := f.mustCompile(t, seedEnforce(t))
	deploy := object(t, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api, namespace: apps}\nspec:\n  template:\n    spec:\n      containers: [{name: api, image: "+seedImage+"}]")
	res := set.Evaluate(context.Background(), admission(deploy, engine.Create), f.cluster())
	want := []verdict{
		{"autogen-verify-ghcr-cosign-keyless", engine.Pass, "", "verified image signatures for " + seedImage},
		{"autogen-verify-ghcr-cosign-keyless", engine.Pass, "", "image verified"},
	}
	if diff := cmp.Diff(want, verdicts(res)); diff != "" {
		t.Errorf("verdicts (-want +got):\n%s", diff)
	}
	patch, err := res.Patch()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, op := range patch {
		got = append(got, op.Op+" "+op.Path)
	}
	if diff := cmp.Diff([]string{"add /metadata/annotations", "replace /spec/template/spec/containers/0/image"}, got); diff != "" {
		t.Errorf("patch (-want +got):\n%s", diff)
	}
}

// TestVerifyImagesConcurrentAdmissions admits the same new image 100 times
// at once: the registry sees the requests of one verification.
func TestVerifyImagesConcurrentAdmissions(t *testing.T) {
	requests := func(n int) int64 {
		f := newImageFixture(t)
		signed := f.push(t, "kloudvin/api", "v1")
		f.ss.SignLegacy(t, f.reg, signed, seedSubject, seedIssuer)
		set := f.mustCompile(t, seedEnforce(t))
		f.reg.ResetRequests()
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res := set.Evaluate(context.Background(), admission(podWith(t, seedImage), engine.Create), f.cluster())
				if len(res.Denied()) > 0 {
					t.Errorf("denied: %v", verdicts(res))
				}
			}()
		}
		wg.Wait()
		return f.reg.Requests()
	}
	one, hundred := requests(1), requests(100)
	t.Logf("registry requests: %d for one admission, %d for 100 concurrent ones", one, hundred)
	if one == 0 || hundred != one {
		t.Errorf("registry requests: %d for one admission, %d for 100 concurrent ones", one, hundred)
	}
}
