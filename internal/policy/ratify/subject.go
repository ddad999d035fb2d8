package ratify

import (
	"fmt"
	"strings"

	"github.com/portcullis-dev/portcullis/internal/image"
)

// dockerHubName is how Docker's reference normalization, which Ratify uses,
// names Docker Hub in references; go-containerregistry and the registry
// client address it as image.DockerHub.
const dockerHubName = "docker.io"

// subject is an image reference as Ratify parses a request key: normalized
// the Docker way ("nginx:1" is docker.io/library/nginx:1, a reference with
// both a tag and a digest keeps only the digest).
type subject struct {
	// ref is the parsed reference, for registry calls.
	ref image.Ref
	// path is the repository's full name, e.g. docker.io/library/nginx.
	path string
	// original is the normalized reference: path:tag or path@digest. Trust
	// policy scopes match it and verifier reports name it.
	original string
	// namespace is the namespace of a "[namespace]reference" key.
	namespace string
}

// parseKey parses an external data key: an image reference, optionally
// prefixed with "[namespace]" as Gatekeeper's Ratify templates send it for
// namespaced verifiers.
func parseKey(key string) (subject, error) {
	ns := ""
	rest := key
	if strings.HasPrefix(key, "[") {
		end := strings.IndexByte(key, ']')
		if end < 0 {
			return subject{}, fmt.Errorf("invalid request key: %s", key)
		}
		ns, rest = key[1:end], key[end+1:]
	}
	s, err := parseSubject(rest)
	if err != nil {
		return subject{}, err
	}
	s.namespace = ns
	return s, nil
}

// parseSubject parses an image reference the way Ratify does.
func parseSubject(s string) (subject, error) {
	if s == "" {
		return subject{}, fmt.Errorf("failed to parse subject reference: repository name must have at least one component")
	}
	ref, err := image.Parse(s)
	if err != nil {
		return subject{}, fmt.Errorf("failed to parse subject reference: %w", err)
	}
	if ref.Digest != "" {
		ref.Tag = ""
	}
	host := ref.Registry
	if host == image.DockerHub {
		host = dockerHubName
	}
	out := subject{ref: ref, path: host + "/" + ref.Repository}
	if ref.Digest != "" {
		out.original = out.path + "@" + ref.Digest
	} else {
		out.original = out.path + ":" + ref.Tag
	}
	return out, nil
}
