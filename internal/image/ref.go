package image

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// DockerHub is the registry host that references without one name, as the
// OCI distribution protocol addresses it.
const DockerHub = name.DefaultRegistry

// Ref is a parsed image reference. Registry and Repository are normalized:
// "nginx" is index.docker.io/library/nginx, and registry hosts are lower
// case. Tag is empty when the reference has none; Digest ("sha256:...") is
// empty for a tag reference.
type Ref struct {
	Registry   string
	Repository string
	Tag        string
	Digest     string
}

// Parse parses an image reference as a container runtime does: without a
// registry it is on Docker Hub, without a tag or digest its tag is "latest".
// Digests must be well formed.
func Parse(s string) (Ref, error) {
	if len(s) > 4096 {
		return Ref{}, fmt.Errorf("image reference of %d bytes is too long", len(s))
	}
	orig := s
	s = lowerRegistry(s)
	repoPart := s
	digest := ""
	if i := strings.IndexByte(s, '@'); i >= 0 {
		repoPart, digest = s[:i], s[i+1:]
		if _, err := name.NewDigest(s); err != nil {
			return Ref{}, fmt.Errorf("invalid image reference %q: %w", orig, err)
		}
	}
	tagged, err := name.NewTag(repoPart)
	if err != nil {
		return Ref{}, fmt.Errorf("invalid image reference %q: %w", orig, err)
	}
	if t := tagged.TagStr(); t != "" && !isWordChar(t[0]) {
		return Ref{}, fmt.Errorf("invalid image reference %q: tag %q must start with a letter, digit or underscore", orig, t)
	}
	r := Ref{
		Registry:   strings.ToLower(tagged.RegistryStr()),
		Repository: tagged.RepositoryStr(),
		Digest:     digest,
	}
	if digest == "" || strings.Contains(repoPart[strings.LastIndexByte(repoPart, '/')+1:], ":") {
		r.Tag = tagged.TagStr()
	}
	return r, nil
}

// lowerRegistry lower-cases the registry host of a reference, so that
// "Docker.IO/nginx" normalizes like "docker.io/nginx". As in the
// distribution reference grammar, the first component is a registry when it
// has a "." or ":" or is localhost.
func lowerRegistry(s string) string {
	i := strings.IndexByte(s, '/')
	if i <= 0 {
		return s
	}
	first := s[:i]
	if strings.ContainsAny(first, "@") || !(strings.ContainsAny(first, ".:") || strings.EqualFold(first, "localhost")) {
		return s
	}
	return strings.ToLower(first) + s[i:]
}

func isWordChar(c byte) bool {
	return c == '_' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

// Context is registry/repository.
func (r Ref) Context() string { return r.Registry + "/" + r.Repository }

// String renders the normalized reference: registry/repository, then
// ":tag" when it has one, then "@digest" when it has one.
func (r Ref) String() string {
	s := r.Context()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// ByDigest returns the reference to digest in r's repository, without a tag.
func (r Ref) ByDigest(digest string) Ref {
	return Ref{Registry: r.Registry, Repository: r.Repository, Digest: digest}
}

// Name returns the reference in go-containerregistry's form: by digest when
// r has one, else by tag.
func (r Ref) Name(opts ...name.Option) (name.Reference, error) {
	if r.Digest != "" {
		return name.NewDigest(r.Context()+"@"+r.Digest, opts...)
	}
	tag := r.Tag
	if tag == "" {
		tag = name.DefaultTag
	}
	return name.NewTag(r.Context()+":"+tag, opts...)
}
