package sigstore

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestGlob checks policy-controller's glob rules against normalized image
// names.
func TestGlob(t *testing.T) {
	d := "@sha256:" + strings.Repeat("a", 64)
	tests := []struct {
		glob  string
		image string
		want  bool
	}{
		{"**", "index.docker.io/library/nginx" + d, true},
		{"**", "ghcr.io/org/team/app" + d, true},
		// "*" alone is Docker Hub's official images, "*/*" Docker Hub's.
		{"*", "index.docker.io/library/nginx" + d, true},
		{"*", "ghcr.io/app" + d, false},
		{"*/*", "index.docker.io/someone/app" + d, true},
		{"*/*", "index.docker.io/library/nginx" + d, true},
		{"*/*", "ghcr.io/org/app" + d, false},
		// "*" stays within a path segment, and takes the digest along.
		{"ghcr.io/org/*", "ghcr.io/org/app" + d, true},
		{"ghcr.io/org/*", "ghcr.io/org/team/app" + d, false},
		{"ghcr.io/org/**", "ghcr.io/org/team/app" + d, true},
		{"ghcr.io/*/app*", "ghcr.io/org/app" + d, true},
		// The glob must match the whole name, digest included.
		{"ghcr.io/org/app", "ghcr.io/org/app" + d, false},
		{"ghcr.io/org/app*", "ghcr.io/org/app" + d, true},
		{"ghcr.io/org/app:*", "ghcr.io/org/app" + d, false},
		{"ghcr.io/org/app:*", "ghcr.io/org/app:v1", true},
		{"ghcr.io/org/app:**", "ghcr.io/org/app:v1", true},
		// Docker Hub images are matched by their normalized name only.
		{"index.docker.io/library/nginx*", "index.docker.io/library/nginx" + d, true},
		{"docker.io/library/nginx*", "index.docker.io/library/nginx" + d, false},
		{"nginx*", "index.docker.io/library/nginx" + d, false},
		// Dots are literal.
		{"ghcr.io/org/a.p*", "ghcr.io/org/axp" + d, false},
		{"ghcr.io/org/a.p*", "ghcr.io/org/a.p" + d, true},
		{"cgr.dev/chainguard/**", "cgr.dev/chainguard/static" + d, true},
		{"cgr.dev/chainguard/**", "cgr.dev/chainguardx/static" + d, false},
		{"registry.local:5000/**", "registry.local:5000/app" + d, true},
	}
	for _, tc := range tests {
		t.Run(tc.glob+" "+tc.image, func(t *testing.T) {
			re, err := compileGlob(tc.glob)
			if err != nil {
				t.Fatal(err)
			}
			if got := re.MatchString(tc.image); got != tc.want {
				t.Errorf("match = %v, want %v (regexp %s)", got, tc.want, re)
			}
		})
	}
}

func TestInvalidGlob(t *testing.T) {
	tests := map[string]string{
		"ghcr.io/app@sha256:x":               `invalid glob "ghcr.io/app@sha256:x"`,
		"ghcr.io/a+b":                        `invalid glob "ghcr.io/a+b"`,
		"ghcr.io/[ab]":                       `invalid glob "ghcr.io/[ab]"`,
		"ghcr.io/app?":                       `invalid glob "ghcr.io/app?"`,
		"[":                                  "syntax error in pattern",
		strings.Repeat("a", maxGlobLength+1): "glob of 1025 bytes is longer than 1024",
	}
	for glob, want := range tests {
		t.Run(glob, func(t *testing.T) {
			_, err := compileGlob(glob)
			if err == nil || err.Error() != want {
				t.Errorf("error = %v, want %q", err, want)
			}
		})
	}
}

// TestImageName checks the normalized names images are matched by: the
// fully qualified digest reference, the tag of a reference with both
// dropped, a resolved tag replaced by its digest.
func TestImageName(t *testing.T) {
	d := "sha256:" + strings.Repeat("b", 64)
	tests := []struct{ image, want string }{
		{"nginx@" + d, "index.docker.io/library/nginx@" + d},
		{"docker.io/library/nginx@" + d, "index.docker.io/library/nginx@" + d},
		{"someone/app@" + d, "index.docker.io/someone/app@" + d},
		{"ghcr.io/org/app:v1@" + d, "ghcr.io/org/app@" + d},
		{"localhost:5000/app@" + d, "localhost:5000/app@" + d},
		{"nginx", "index.docker.io/library/nginx@" + d},
		{"ghcr.io/org/app:v1", "ghcr.io/org/app@" + d},
	}
	var got, want []string
	for _, tc := range tests {
		c := newContainer("spec", "containers", 0, tc.image)
		if c.parseErr != nil {
			t.Fatalf("%s: %v", tc.image, c.parseErr)
		}
		if c.digest == "" {
			c.setDigest(d)
		}
		got = append(got, c.name)
		want = append(want, tc.want)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
}
