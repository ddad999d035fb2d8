package image_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/portcullis-dev/portcullis/internal/image"
)

const (
	hexA = "ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12"
	dgA  = "sha256:" + hexA
)

func TestParse(t *testing.T) {
	hub := func(repo, tag, digest string) image.Ref {
		return image.Ref{Registry: "index.docker.io", Repository: repo, Tag: tag, Digest: digest}
	}
	for _, tc := range []struct {
		in      string
		want    image.Ref
		str     string
		wantErr string
	}{
		// Docker Hub: no registry, docker.io and index.docker.io are one, and
		// single-component names are in library/.
		{in: "nginx", want: hub("library/nginx", "latest", ""), str: "index.docker.io/library/nginx:latest"},
		{in: "nginx:1.27", want: hub("library/nginx", "1.27", "")},
		{in: "library/nginx", want: hub("library/nginx", "latest", "")},
		{in: "docker.io/nginx", want: hub("library/nginx", "latest", "")},
		{in: "docker.io/library/nginx:1.27", want: hub("library/nginx", "1.27", "")},
		{in: "index.docker.io/nginx", want: hub("library/nginx", "latest", "")},
		{in: "bitnami/redis:7", want: hub("bitnami/redis", "7", "")},
		{in: "docker.io/bitnami/redis", want: hub("bitnami/redis", "latest", "")},
		// Host case does not matter; repository case does.
		{in: "Docker.IO/nginx", want: hub("library/nginx", "latest", "")},
		{in: "REGISTRY.Example.com:5000/team/app:V1", want: image.Ref{Registry: "registry.example.com:5000", Repository: "team/app", Tag: "V1"}},
		{in: "LocalHost/app", want: image.Ref{Registry: "localhost", Repository: "app", Tag: "latest"}},
		{in: "registry.example.com/App", wantErr: "repository can only contain the characters"},
		// Ports, paths, IPs.
		{in: "localhost:5000/app:v1", want: image.Ref{Registry: "localhost:5000", Repository: "app", Tag: "v1"}},
		{in: "127.0.0.1:5000/a/b/c:v1", want: image.Ref{Registry: "127.0.0.1:5000", Repository: "a/b/c", Tag: "v1"}},
		{in: "[::1]:5000/app", want: image.Ref{Registry: "[::1]:5000", Repository: "app", Tag: "latest"}},
		{in: "a:5000", want: hub("library/a", "5000", "")},
		// Digests, alone and with a tag.
		{in: "ghcr.io/org/app@" + dgA, want: image.Ref{Registry: "ghcr.io", Repository: "org/app", Digest: dgA}, str: "ghcr.io/org/app@" + dgA},
		{in: "localhost:5000/app@" + dgA, want: image.Ref{Registry: "localhost:5000", Repository: "app", Digest: dgA}},
		{in: "app:v1@" + dgA, want: hub("library/app", "v1", dgA), str: "index.docker.io/library/app:v1@" + dgA},
		{in: "a.io/b@sha512:" + hexA + hexA, want: image.Ref{Registry: "a.io", Repository: "b", Digest: "sha512:" + hexA + hexA}},
		{in: "app@sha256:abc", wantErr: "invalid checksum digest length"},
		{in: "app@sha256:AB12" + hexA[4:], wantErr: "invalid checksum digest format"},
		{in: "app@md5:" + hexA, wantErr: "invalid image reference"},
		// Malformed.
		{in: "", wantErr: "a repository name must be specified"},
		{in: " ", wantErr: "repository can only contain"},
		{in: "app:", wantErr: "must specify a tag name after the colon"},
		{in: "app:-bad", wantErr: `tag "-bad" must start with a letter, digit or underscore`},
		{in: "app:" + strings.Repeat("t", 129), wantErr: "invalid image reference"},
		{in: strings.Repeat("a", 4097), wantErr: "image reference of 4097 bytes is too long"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := image.Parse(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse(%q) = %+v, %v; want error containing %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Parse(%q) (-want +got):\n%s", tc.in, diff)
			}
			if tc.str != "" && got.String() != tc.str {
				t.Errorf("String() = %q, want %q", got.String(), tc.str)
			}
			// The normalized form parses to itself.
			again, err := image.Parse(got.String())
			if err != nil {
				t.Fatalf("Parse(%q) of the normalized form: %v", got.String(), err)
			}
			if diff := cmp.Diff(got, again); diff != "" {
				t.Errorf("normalized form does not round-trip (-first +second):\n%s", diff)
			}
		})
	}
}

func TestRefMethods(t *testing.T) {
	ref, err := image.Parse("ghcr.io/org/app:v1@" + dgA)
	if err != nil {
		t.Fatal(err)
	}
	if got := ref.Context(); got != "ghcr.io/org/app" {
		t.Errorf("Context() = %q", got)
	}
	if diff := cmp.Diff(image.Ref{Registry: "ghcr.io", Repository: "org/app", Digest: "sha256:" + hexA}, ref.ByDigest(dgA)); diff != "" {
		t.Errorf("ByDigest (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		ref  image.Ref
		want string
	}{
		{ref: ref, want: "ghcr.io/org/app@" + dgA},
		{ref: image.Ref{Registry: "ghcr.io", Repository: "org/app", Tag: "v1"}, want: "ghcr.io/org/app:v1"},
		{ref: image.Ref{Registry: "ghcr.io", Repository: "org/app"}, want: "ghcr.io/org/app:latest"},
	} {
		n, err := tc.ref.Name()
		if err != nil {
			t.Fatalf("Name(%+v): %v", tc.ref, err)
		}
		if n.String() != tc.want {
			t.Errorf("Name(%+v) = %q, want %q", tc.ref, n.String(), tc.want)
		}
	}
	n, err := image.Ref{Registry: "127.0.0.1:5000", Repository: "app", Tag: "v1"}.Name(name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if n.Context().Scheme() != "http" {
		t.Errorf("Name(name.Insecure) scheme = %q, want http", n.Context().Scheme())
	}
	if _, err := (image.Ref{Registry: "ghcr.io", Repository: "Bad"}).Name(); err == nil {
		t.Errorf("Name of an invalid repository succeeded")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"nginx", "Docker.IO/nginx:1@" + dgA, "localhost:5000/a/b:c", "[::1]:5/a", "a@b", "A/B", "x.io/@"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := image.Parse(s)
		if err != nil {
			return
		}
		again, err := image.Parse(ref.String())
		if err != nil {
			t.Fatalf("Parse(%q) = %q, which does not parse: %v", s, ref.String(), err)
		}
		if again != ref {
			t.Fatalf("Parse(%q) = %+v, but its String %q parses to %+v", s, ref, ref.String(), again)
		}
	})
}
