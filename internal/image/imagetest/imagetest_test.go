package imagetest_test

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/portcullis-dev/portcullis/internal/image/imagetest"
)

func TestRegistry(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []imagetest.Option
	}{
		{name: "referrers API"},
		{name: "tag fallback", opts: []imagetest.Option{imagetest.WithoutReferrers()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wrapped := 0
			opts := append(tc.opts, imagetest.WithHandler(func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					wrapped++
					h.ServeHTTP(w, r)
				})
			}))
			reg := imagetest.NewRegistry(t, opts...)
			ref := reg.PushRandom(t, "team/app", "v1")
			if ref.Tag != "v1" || ref.Digest == "" || ref.Registry != reg.Host() || ref.Repository != "team/app" {
				t.Fatalf("PushRandom returned %+v", ref)
			}
			sig := reg.PushReferrer(t, ref, "application/vnd.test.sig", "application/octet-stream", []byte("payload"))
			if reg.Requests() != 0 || wrapped != 0 {
				t.Fatalf("fixture requests were counted: %d, wrapped %d", reg.Requests(), wrapped)
			}

			tag, err := name.NewTag(reg.Host()+"/team/app:v1", name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			desc, err := remote.Head(tag, remote.WithTransport(reg.Transport()))
			if err != nil {
				t.Fatalf("HEAD: %v", err)
			}
			if desc.Digest.String() != ref.Digest {
				t.Errorf("HEAD digest %s, want %s", desc.Digest, ref.Digest)
			}
			if diff := cmp.Diff([]string{"GET /v2/", "HEAD /v2/team/app/manifests/v1"}, reg.RequestLog()); diff != "" {
				t.Errorf("RequestLog (-want +got):\n%s", diff)
			}
			if reg.Requests() != 2 || wrapped != 2 {
				t.Errorf("Requests() = %d, wrapped %d, want 2", reg.Requests(), wrapped)
			}
			reg.ResetRequests()
			if reg.Requests() != 0 || len(reg.RequestLog()) != 0 {
				t.Errorf("ResetRequests left %d requests, log %v", reg.Requests(), reg.RequestLog())
			}

			d, err := name.NewDigest(ref.Context()+"@"+ref.Digest, name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			idx, err := remote.Referrers(d, reg.RemoteOptions()...)
			if err != nil {
				t.Fatalf("Referrers: %v", err)
			}
			im, err := idx.IndexManifest()
			if err != nil {
				t.Fatal(err)
			}
			if len(im.Manifests) != 1 || im.Manifests[0].Digest.String() != sig.Digest ||
				im.Manifests[0].ArtifactType != "application/vnd.test.sig" || im.Manifests[0].MediaType != types.OCIManifestSchema1 {
				t.Errorf("referrers = %+v, want one %s", im.Manifests, sig.Digest)
			}
		})
	}
}
