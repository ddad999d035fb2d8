package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/portcullis-dev/portcullis/internal/image"
)

// SecretGetter returns the data of a Kubernetes Secret, for the
// imagePullSecrets an image.Pull names. The server reads Secrets from an
// informer; the CLI from files. A Secret that does not exist returns nil data
// and a nil error: like the kubelet, the Client then goes on without it.
type SecretGetter interface {
	Secret(ctx context.Context, namespace, name string) (map[string][]byte, error)
}

// Keys of the Secret types that hold registry credentials.
const (
	// DockerConfigJSONKey is the data key of kubernetes.io/dockerconfigjson
	// Secrets: {"auths": {"<registry>": {...}}}.
	DockerConfigJSONKey = ".dockerconfigjson"
	// DockerConfigKey is the data key of the older kubernetes.io/dockercfg
	// Secrets: {"<registry>": {...}}.
	DockerConfigKey = ".dockercfg"
)

// maxConfigBytes bounds a docker config file or Secret value.
const maxConfigBytes = 1 << 20

// authEntry is one registry key of a docker config with its credentials,
// parsed into the form credentials are matched in.
type authEntry struct {
	key   string // as written, for ordering
	host  string // lower-case host glob, Docker Hub aliases normalized
	port  string
	path  string // repository path prefix, without leading or trailing "/"
	cfg   authn.AuthConfig
	order int // position of the source (Secret) it came from
}

// parseDockerConfig parses a docker config.json or .dockerconfigjson
// ({"auths": {...}}), or with legacy set a .dockercfg ({...}), with
// go-containerregistry's authn.AuthConfig (which decodes the "auth" field).
// Credential helpers (credsStore, credHelpers) are not consulted.
func parseDockerConfig(b []byte, legacy bool, order int) ([]authEntry, error) {
	if len(b) > maxConfigBytes {
		return nil, fmt.Errorf("docker config of %d bytes is larger than %d bytes", len(b), maxConfigBytes)
	}
	var auths map[string]authn.AuthConfig
	if legacy {
		if err := json.Unmarshal(b, &auths); err != nil {
			return nil, err
		}
	} else {
		var cfg struct {
			Auths map[string]authn.AuthConfig `json:"auths"`
		}
		if err := json.Unmarshal(b, &cfg); err != nil {
			return nil, err
		}
		auths = cfg.Auths
	}
	entries := make([]authEntry, 0, len(auths))
	for key, cfg := range auths {
		e, ok := parseAuthKey(key)
		if !ok {
			continue // as the kubelet does, ignore keys that are not registries
		}
		e.cfg = cfg
		e.order = order
		entries = append(entries, e)
	}
	return entries, nil
}

// parseAuthKey parses a docker config key the way the kubelet's credential
// keyring does: an optional scheme, a host (label globs like *.example.com
// allowed) with optional port, an optional repository path prefix; a
// leading /v1/ or /v2/ path is the API version, not a prefix.
func parseAuthKey(key string) (authEntry, bool) {
	v := key
	if !strings.Contains(v, "://") {
		v = "https://" + v
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		return authEntry{}, false
	}
	p := u.Path
	if strings.HasPrefix(p, "/v1/") || strings.HasPrefix(p, "/v2/") || p == "/v1" || p == "/v2" {
		p = p[3:]
	}
	host, port := u.Host, ""
	if h, pt, err := net.SplitHostPort(u.Host); err == nil {
		host, port = h, pt
	}
	return authEntry{
		key:  key,
		host: hubAlias(strings.ToLower(host)),
		port: port,
		path: strings.Trim(p, "/"),
	}, true
}

// hubAlias maps the names Docker Hub is known by to the one image.Ref uses.
func hubAlias(host string) string {
	switch host {
	case "docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		return image.DockerHub
	}
	return host
}

// matches reports whether e applies to repository repo of registry
// (host[:port]): each host label matches its glob, the ports are equal and
// the repository is within e's path.
func (e authEntry) matches(registry, repo string) bool {
	host, port := registry, ""
	if h, pt, err := net.SplitHostPort(registry); err == nil {
		host, port = h, pt
	}
	if port != e.port {
		return false
	}
	hl, gl := strings.Split(hubAlias(strings.ToLower(host)), "."), strings.Split(e.host, ".")
	if len(hl) != len(gl) {
		return false
	}
	for i := range gl {
		if ok, err := path.Match(gl[i], hl[i]); err != nil || !ok {
			return false
		}
	}
	return e.path == "" || repo == e.path || strings.HasPrefix(repo, e.path+"/")
}

// lookup returns the credentials of entries that apply to repo in
// registry, most specific key first (the kubelet's order: keys in reverse
// lexical order), then in source order.
func lookup(entries []authEntry, registry, repo string) []authn.AuthConfig {
	var m []authEntry
	for _, e := range entries {
		if e.matches(registry, repo) {
			m = append(m, e)
		}
	}
	sort.SliceStable(m, func(i, j int) bool {
		if m[i].key != m[j].key {
			return m[i].key > m[j].key
		}
		return m[i].order < m[j].order
	})
	out := make([]authn.AuthConfig, len(m))
	for i, e := range m {
		out[i] = e.cfg
	}
	return out
}

// fileKeychain is the default keychain: the auths of one docker config file
// read at construction.
type fileKeychain struct {
	entries []authEntry
}

var _ authn.Keychain = (*fileKeychain)(nil)

func newFileKeychain(file string) (*fileKeychain, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return nil, err
	}
	entries, err := parseDockerConfig(b, false, 0)
	if err != nil {
		return nil, err
	}
	return &fileKeychain{entries: entries}, nil
}

// Resolve implements authn.Keychain.
func (k *fileKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	reg := r.RegistryStr()
	repo := strings.TrimPrefix(r.String(), reg+"/")
	if repo == r.String() {
		repo = ""
	}
	if cfgs := lookup(k.entries, reg, repo); len(cfgs) > 0 {
		return authn.FromConfig(cfgs[0]), nil
	}
	return authn.Anonymous, nil
}

// cred is one set of credentials to try, with an identity that says which
// credentials they are without containing them.
type cred struct {
	auth authn.Authenticator
	id   string
}

// credSet is the credentials to try, in order, for one repository and pull
// context; id identifies the whole list and keys caches and singleflight.
type credSet struct {
	creds []cred
	id    string
}

var anonymous = cred{auth: authn.Anonymous, id: "anonymous"}

// credentials returns the credentials for repo (the repository actually
// contacted, after mirroring): the matching ones of pull's imagePullSecrets,
// then the default keychain's, else anonymous.
func (c *Client) credentials(ctx context.Context, repo name.Repository, pull image.Pull) (credSet, error) {
	key := repo.Name() + "\x00" + pull.Namespace + "\x00" + strings.Join(pull.Secrets, "\x00")
	now := c.now()
	if cs, ok := c.auths.get(key, now); ok {
		return cs, nil
	}
	var cfgs []authn.AuthConfig
	if c.secrets != nil && len(pull.Secrets) > 0 {
		var entries []authEntry
		for i, sn := range pull.Secrets {
			data, err := c.secrets.Secret(ctx, pull.Namespace, sn)
			if err != nil {
				return credSet{}, fmt.Errorf("imagePullSecrets[%d] (%s/%s): %w", i, pull.Namespace, sn, err)
			}
			var es []authEntry
			switch {
			case len(data[DockerConfigJSONKey]) > 0:
				es, err = parseDockerConfig(data[DockerConfigJSONKey], false, i)
				if err != nil {
					return credSet{}, fmt.Errorf("imagePullSecrets[%d] (%s/%s): data[%s]: %w", i, pull.Namespace, sn, DockerConfigJSONKey, err)
				}
			case len(data[DockerConfigKey]) > 0:
				es, err = parseDockerConfig(data[DockerConfigKey], true, i)
				if err != nil {
					return credSet{}, fmt.Errorf("imagePullSecrets[%d] (%s/%s): data[%s]: %w", i, pull.Namespace, sn, DockerConfigKey, err)
				}
			}
			entries = append(entries, es...)
		}
		cfgs = lookup(entries, repo.RegistryStr(), repo.RepositoryStr())
	}
	var cs credSet
	for _, cfg := range cfgs {
		cs.creds = append(cs.creds, cred{auth: authn.FromConfig(cfg), id: credID(cfg)})
	}
	if c.keychain != nil {
		a, err := authn.Resolve(ctx, c.keychain, repo)
		if err != nil {
			return credSet{}, fmt.Errorf("default keychain for %s: %w", repo.Name(), err)
		}
		if a != nil && a != authn.Anonymous {
			cfg, err := authn.Authorization(ctx, a)
			if err != nil {
				return credSet{}, fmt.Errorf("default keychain for %s: %w", repo.Name(), err)
			}
			if *cfg != (authn.AuthConfig{}) {
				cs.creds = append(cs.creds, cred{auth: a, id: credID(*cfg)})
			}
		}
	}
	if len(cs.creds) == 0 {
		cs.creds = []cred{anonymous}
	}
	ids := make([]string, len(cs.creds))
	for i, cr := range cs.creds {
		ids[i] = cr.id
	}
	cs.id = strings.Join(ids, ",")
	c.auths.put(key, cs, now, c.tagTTL)
	return cs, nil
}

// credID identifies credentials by a hash of them.
func credID(cfg authn.AuthConfig) string {
	h := sha256.New()
	for _, s := range []string{cfg.Username, cfg.Password, cfg.Auth, cfg.IdentityToken, cfg.RegistryToken} {
		fmt.Fprintf(h, "%d:%s;", len(s), s)
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}
