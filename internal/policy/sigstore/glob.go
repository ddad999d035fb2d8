package sigstore

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// maxGlobLength bounds an image glob.
const maxGlobLength = 1024

// validGlob is the alphabet of policy-controller's image globs: no regular
// expression syntax, no digest separator.
var validGlob = regexp.MustCompile(`^[a-zA-Z0-9-_:/*.]+$`)

// compileGlob turns an image glob into a regular expression over
// normalized image names, as policy-controller does:
//
//   - "*" alone means "index.docker.io/library/*" and "*/*" alone means
//     "index.docker.io/*/*" (the images Docker Hub names without a host);
//   - "**" matches any characters, "/" included;
//   - "*" matches any characters but "/" (":" and "@" included, so
//     "ghcr.io/org/*" matches "ghcr.io/org/app@sha256:...");
//   - the glob must match the whole name.
//
// Globs with characters outside [a-zA-Z0-9-_:/*.] are rejected.
func compileGlob(glob string) (*regexp.Regexp, error) {
	if len(glob) > maxGlobLength {
		return nil, fmt.Errorf("glob of %d bytes is longer than %d", len(glob), maxGlobLength)
	}
	if _, err := filepath.Match(glob, ""); err != nil {
		return nil, err
	}
	switch glob {
	case "*/*":
		glob = name.DefaultRegistry + "/*/*"
	case "*":
		glob = name.DefaultRegistry + "/library/*"
	}
	if !validGlob.MatchString(glob) {
		return nil, fmt.Errorf("invalid glob %q", glob)
	}
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(glob); i++ {
		switch c := glob[i]; c {
		case '.':
			b.WriteString(`\.`)
		case '*':
			if i+1 < len(glob) && glob[i+1] == '*' {
				b.WriteString(".*")
				i++
				continue
			}
			b.WriteString("[^/]*")
		default:
			b.WriteByte(c)
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}
