package jmespath

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// The grammar of image references, as in github.com/distribution/reference.
const (
	refAlphanumeric        = `[a-z0-9]+`
	refSeparator           = `(?:[._]|__|[-]+)`
	refDomainNameComponent = `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
	refOptionalPort        = `(?::[0-9]+)?`
	refTag                 = `[\w][\w.-]{0,127}`
	refDigest              = `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][[:xdigit:]]{32,}`
	refIPv6Address         = `\[(?:[a-fA-F0-9:]+)\]`
	refDomainName          = refDomainNameComponent + `(?:\.` + refDomainNameComponent + `)*`
	refDomainAndPort       = `(?:` + refDomainName + `|` + refIPv6Address + `)` + refOptionalPort
	refPathComponent       = refAlphanumeric + `(?:` + refSeparator + refAlphanumeric + `)*`
	refRemoteName          = refPathComponent + `(?:/` + refPathComponent + `)*`
	refName                = `(?:` + refDomainAndPort + `/)?` + refRemoteName
)

var (
	referenceRegexp    = regexp.MustCompile(`^(` + refName + `)(?::(` + refTag + `))?(?:@(` + refDigest + `))?$`)
	anchoredNameRegexp = regexp.MustCompile(`^(?:(` + refDomainAndPort + `)/)?(` + refRemoteName + `)$`)
	digestAnyRegexp    = regexp.MustCompile(`^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$`)
	hexDigestRegexp    = regexp.MustCompile(`^[a-f0-9]+$`)
)

// The errors of github.com/distribution/reference and go-digest.
var (
	errReferenceInvalidFormat = errors.New("invalid reference format")
	errNameContainsUppercase  = errors.New("repository name must be lowercase")
	errNameEmpty              = errors.New("repository name must have at least one component")
	errNameTooLong            = errors.New("repository name must not be more than 255 characters")
	errDigestInvalidFormat    = errors.New("invalid checksum digest format")
	errDigestInvalidLength    = errors.New("invalid checksum digest length")
	errDigestUnsupported      = errors.New("unsupported digest algorithm")
)

// imageInfo mirrors Kyverno's pkg/utils/image.ImageInfo.
type imageInfo struct {
	registry, name, path, tag, digest, reference, referenceWithTag string
}

// String is Kyverno's normalised form of the reference, as image_normalize
// returns it.
func (i imageInfo) String() string {
	image := i.path
	if i.registry != "" {
		image = i.registry + "/" + i.path
	}
	if i.digest != "" {
		return image + "@" + i.digest
	}
	return image + ":" + i.tag
}

// ImageInfo parses an image reference the way Kyverno builds its "images"
// context variable (pkg/utils/image.GetImageInfo) with the default settings
// (defaultRegistry "docker.io", enableDefaultRegistryMutation true). The
// result has the fields of Kyverno's ImageInfo JSON: "registry", "name",
// "path", "tag", "digest", "reference" and "referenceWithTag"; like Kyverno's
// omitempty tags, empty registry, tag, digest and reference fields are left
// out, while name and path are always present.
//
// Docker Hub images get the registry "docker.io" but, unlike docker's own
// normalisation, no "library/" path prefix: "nginx" has path "nginx". A
// reference without tag or digest gets the tag "latest". Kyverno's images
// variable adds "jsonPointer" and "imagePullSecrets" to each entry; callers
// building it must add them.
func ImageInfo(ref string) (map[string]any, error) {
	info, err := parseImage(ref, "docker.io", true)
	if err != nil {
		return nil, err
	}
	return info.toMap(), nil
}

// ImageInfo is the package-level ImageInfo with the Interpreter's
// WithDefaultRegistry settings.
func (i *Interpreter) ImageInfo(ref string) (map[string]any, error) {
	info, err := parseImage(ref, i.cfg.defaultRegistry, i.cfg.registryMutate)
	if err != nil {
		return nil, err
	}
	return info.toMap(), nil
}

func (i imageInfo) toMap() map[string]any {
	m := map[string]any{"name": i.name, "path": i.path}
	for k, v := range map[string]string{
		"registry":         i.registry,
		"tag":              i.tag,
		"digest":           i.digest,
		"reference":        i.reference,
		"referenceWithTag": i.referenceWithTag,
	} {
		if v != "" {
			m[k] = v
		}
	}
	return m
}

func parseImage(image, defaultRegistry string, mutate bool) (imageInfo, error) {
	full := addDefaultRegistry(image, defaultRegistry)
	domain, path, tag, digest, err := parseReference(full)
	if err != nil {
		return imageInfo{}, fmt.Errorf("bad image: %s, defaultRegistry: %s, enableDefaultRegistryMutation: %t: %w", full, defaultRegistry, mutate, err)
	}
	info := imageInfo{registry: domain, path: path, tag: tag, digest: digest}
	info.name = path[strings.LastIndex(path, "/")+1:]
	if digest == "" && tag == "" {
		info.tag = "latest"
	}
	if full != image && !mutate {
		info.registry = ""
	}
	if info.registry != "" {
		info.referenceWithTag = info.registry + "/" + path + ":" + info.tag
	} else {
		info.referenceWithTag = path + ":" + info.tag
	}
	info.reference = info.String()
	parts := strings.Split(path, "/")
	if len(parts) > 1 && info.registry == "" && strings.Contains(parts[0], "_") {
		info.registry = parts[0]
		info.path = strings.Join(parts[1:], "/")
	}
	return info, nil
}

// addDefaultRegistry prefixes the registry unless the first path component
// looks like a host (has a '.' or ':', is "localhost", or has upper case).
func addDefaultRegistry(name, registry string) string {
	i := strings.IndexRune(name, '/')
	if i == -1 || (!strings.ContainsAny(name[:i], ".:") && name[:i] != "localhost" && strings.ToLower(name[:i]) == name[:i]) {
		return registry + "/" + name
	}
	return name
}

// parseReference is reference.Parse of github.com/distribution/reference.
func parseReference(s string) (domain, path, tag, digest string, err error) {
	m := referenceRegexp.FindStringSubmatch(s)
	if m == nil {
		if s == "" {
			return "", "", "", "", errNameEmpty
		}
		if referenceRegexp.MatchString(strings.ToLower(s)) {
			return "", "", "", "", errNameContainsUppercase
		}
		return "", "", "", "", errReferenceInvalidFormat
	}
	if nm := anchoredNameRegexp.FindStringSubmatch(m[1]); len(nm) == 3 {
		domain, path = nm[1], nm[2]
	} else {
		path = m[1]
	}
	if len(path) > 255 {
		return "", "", "", "", errNameTooLong
	}
	if m[3] != "" {
		if err := validateDigest(m[3]); err != nil {
			return "", "", "", "", err
		}
	}
	return domain, path, m[2], m[3], nil
}

// validateDigest is go-digest's Digest.Validate for the algorithms it
// registers (sha256, sha384, sha512).
func validateDigest(d string) error {
	i := strings.Index(d, ":")
	if i <= 0 || i+1 == len(d) {
		return errDigestInvalidFormat
	}
	size := map[string]int{"sha256": 64, "sha384": 96, "sha512": 128}[d[:i]]
	if size == 0 {
		if !digestAnyRegexp.MatchString(d) {
			return errDigestInvalidFormat
		}
		return errDigestUnsupported
	}
	encoded := d[i+1:]
	if len(encoded) != size {
		return errDigestInvalidLength
	}
	if !hexDigestRegexp.MatchString(encoded) {
		return errDigestInvalidFormat
	}
	return nil
}
