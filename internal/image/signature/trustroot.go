package signature

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tuf"
	"github.com/theupdateframework/go-tuf/v2/metadata"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Bounds of trust material.
const (
	maxTrustedRootBytes = 4 << 20
	maxMirrorBytes      = 32 << 20 // a TUF mirror, compressed or not
	maxMirrorFiles      = 4096
	trustedRootTarget   = "trusted_root.json"
)

// LoadTrustedRoot parses a trusted_root.json (media type
// application/vnd.dev.sigstore.trustedroot+json;version=0.1): Sigstore's
// CAs, transparency logs, CT logs and timestamp authorities.
func LoadTrustedRoot(data []byte) (root.TrustedMaterial, error) {
	if len(data) > maxTrustedRootBytes {
		return nil, fmt.Errorf("trusted root of %d bytes is larger than %d bytes", len(data), maxTrustedRootBytes)
	}
	tr, err := root.NewTrustedRootFromJSON(data)
	if err != nil {
		return nil, fmt.Errorf("invalid trusted root: %w", err)
	}
	return tr, nil
}

// TrustRootOption configures TrustRootFromObject.
type TrustRootOption func(*trustRootConfig)

type trustRootConfig struct {
	network bool
	fetcher func(url string, maxLength int64) ([]byte, error)
	now     func() time.Time
}

// WithNetworkUnsafe lets spec.remote TrustRoots fetch their TUF repository
// with fetch, which returns the content at a URL, up to maxLength bytes
// (go-tuf's fetcher.DefaultFetcher.DownloadFile does, over HTTPS). The
// fetch happens on first use, never in TrustRootFromObject; until it
// succeeds the trust root trusts nothing, and a failed fetch is retried
// after a minute. The package itself never reaches the network.
func WithNetworkUnsafe(fetch func(url string, maxLength int64) ([]byte, error)) TrustRootOption {
	return func(c *trustRootConfig) { c.network, c.fetcher = fetch != nil, fetch }
}

// TrustRootFromObject builds trust material from a policy.sigstore.dev
// v1alpha1 TrustRoot object (obj is the whole object; path is its field
// path, nil for the root). It supports:
//   - spec.sigstoreKeys: certificateAuthorities and timestampAuthorities
//     (subject, uri, certChain: PEM, leaf first, root last), tLogs and
//     ctLogs (baseURL, hashAlgorithm, publicKey: PEM); the byte fields are
//     base64-encoded in the object, as the CRD stores []byte, and raw PEM
//     is accepted too;
//   - spec.repository: an air-gapped TUF repository (root: root.json,
//     mirrorFS: a gzipped tar of the repository, targets: the targets
//     directory), read from memory; its trusted_root.json target is used;
//   - spec.remote (root, mirror): only with WithNetworkUnsafe;
//   - spec.trustedRootJSON: a trusted_root.json document.
//
// Every problem is reported with its field path.
func TrustRootFromObject(obj map[string]any, p *field.Path, opts ...TrustRootOption) (root.TrustedMaterial, field.ErrorList) {
	cfg := trustRootConfig{now: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	var errs field.ErrorList
	if k, ok := obj["kind"].(string); ok && k != "TrustRoot" {
		errs = append(errs, field.Invalid(child(p, "kind"), k, "must be TrustRoot"))
		return nil, errs
	}
	sp := child(p, "spec")
	spec, ok := obj["spec"].(map[string]any)
	if !ok {
		return nil, append(errs, field.Required(sp, "a TrustRoot needs a spec"))
	}
	var set []string
	for _, k := range []string{"repository", "remote", "sigstoreKeys", "trustedRootJSON"} {
		if v, ok := spec[k]; ok && v != nil {
			set = append(set, k)
		}
	}
	if len(set) != 1 {
		msg := "exactly one of repository, remote, sigstoreKeys or trustedRootJSON must be set"
		if len(set) == 0 {
			return nil, append(errs, field.Required(sp, msg))
		}
		return nil, append(errs, field.Invalid(sp, strings.Join(set, ", "), msg))
	}
	switch set[0] {
	case "sigstoreKeys":
		return sigstoreKeys(spec["sigstoreKeys"], sp.Child("sigstoreKeys"))
	case "repository":
		return repository(spec["repository"], sp.Child("repository"), cfg)
	case "remote":
		return remote(spec["remote"], sp.Child("remote"), cfg)
	default:
		fp := sp.Child("trustedRootJSON")
		data, err := bytesField(spec["trustedRootJSON"], true)
		if err != nil {
			return nil, field.ErrorList{field.Invalid(fp, "", err.Error())}
		}
		tm, err := LoadTrustedRoot(data)
		if err != nil {
			return nil, field.ErrorList{field.Invalid(fp, "", err.Error())}
		}
		return tm, nil
	}
}

func child(p *field.Path, name string) *field.Path {
	if p == nil {
		return field.NewPath(name)
	}
	return p.Child(name)
}

// bytesField decodes a []byte field of a CR: base64 text, or the content
// itself when it is visibly PEM (or JSON, when json is set).
func bytesField(v any, json bool) ([]byte, error) {
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("must be a string, not %T", v)
	}
	t := strings.TrimSpace(s)
	if t == "" {
		return nil, errors.New("must not be empty")
	}
	if strings.HasPrefix(t, "-----BEGIN") || (json && strings.HasPrefix(t, "{")) {
		return []byte(t), nil
	}
	b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(t), ""))
	if err != nil {
		return nil, fmt.Errorf("must be base64: %v", err)
	}
	return b, nil
}

func sigstoreKeys(v any, p *field.Path) (root.TrustedMaterial, field.ErrorList) {
	keys, ok := v.(map[string]any)
	if !ok {
		return nil, field.ErrorList{field.Invalid(p, v, "must be an object")}
	}
	var errs field.ErrorList
	list := func(name string) []any {
		l, ok := keys[name].([]any)
		if !ok && keys[name] != nil {
			errs = append(errs, field.Invalid(p.Child(name), keys[name], "must be a list"))
		}
		return l
	}
	cas, tsas := list("certificateAuthorities"), list("timestampAuthorities")
	tlogs, ctlogs := list("tLogs"), list("ctLogs")
	if len(cas) == 0 && len(tsas) == 0 {
		errs = append(errs, field.Required(p, "one of certificateAuthorities or timestampAuthorities must be set"))
	}
	var fulcio []root.CertificateAuthority
	for i, c := range cas {
		ip := p.Child("certificateAuthorities").Index(i)
		chain, uri, ok := authority(c, ip, &errs)
		if !ok {
			continue
		}
		var inter []*x509.Certificate
		if len(chain) > 1 {
			inter = chain[:len(chain)-1]
		}
		fulcio = append(fulcio, &root.FulcioCertificateAuthority{Root: chain[len(chain)-1], Intermediates: inter, URI: uri})
	}
	var timestamping []root.TimestampingAuthority
	for i, c := range tsas {
		ip := p.Child("timestampAuthorities").Index(i)
		chain, uri, ok := authority(c, ip, &errs)
		if !ok {
			continue
		}
		tsa := &root.SigstoreTimestampingAuthority{Root: chain[len(chain)-1], URI: uri}
		leaves := 0
		for _, c := range chain[:len(chain)-1] {
			if c.IsCA {
				tsa.Intermediates = append(tsa.Intermediates, c)
			} else {
				tsa.Leaf = c
				leaves++
			}
		}
		if leaves > 1 {
			errs = append(errs, field.Invalid(ip.Child("certChain"), "", "certificate chain must contain at most one TSA certificate"))
			continue
		}
		timestamping = append(timestamping, tsa)
	}
	rekor := logs(tlogs, p.Child("tLogs"), &errs)
	ct := logs(ctlogs, p.Child("ctLogs"), &errs)
	if len(errs) > 0 {
		return nil, errs
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, fulcio, ct, timestamping, rekor)
	if err != nil {
		return nil, field.ErrorList{field.Invalid(p, "", err.Error())}
	}
	return tr, nil
}

// authority reads a certificate authority (subject, uri, certChain).
func authority(v any, p *field.Path, errs *field.ErrorList) ([]*x509.Certificate, string, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		*errs = append(*errs, field.Invalid(p, v, "must be an object"))
		return nil, "", false
	}
	n := len(*errs)
	subject, _ := m["subject"].(map[string]any)
	for _, k := range []string{"organization", "commonName"} {
		if s, _ := subject[k].(string); s == "" {
			*errs = append(*errs, field.Required(p.Child("subject", k), ""))
		}
	}
	uri, _ := m["uri"].(string)
	if uri == "" {
		*errs = append(*errs, field.Required(p.Child("uri"), ""))
	}
	var chain []*x509.Certificate
	if m["certChain"] == nil {
		*errs = append(*errs, field.Required(p.Child("certChain"), ""))
	} else if b, err := bytesField(m["certChain"], false); err != nil {
		*errs = append(*errs, field.Invalid(p.Child("certChain"), "", err.Error()))
	} else if chain, err = parseCertificates(string(b)); err != nil {
		*errs = append(*errs, field.Invalid(p.Child("certChain"), "", err.Error()))
	}
	return chain, uri, len(*errs) == n
}

// logs reads transparency or CT log instances (baseURL, hashAlgorithm,
// publicKey).
func logs(items []any, p *field.Path, errs *field.ErrorList) map[string]*root.TransparencyLog {
	out := map[string]*root.TransparencyLog{}
	for i, v := range items {
		ip := p.Index(i)
		m, ok := v.(map[string]any)
		if !ok {
			*errs = append(*errs, field.Invalid(ip, v, "must be an object"))
			continue
		}
		baseURL, _ := m["baseURL"].(string)
		if baseURL == "" {
			*errs = append(*errs, field.Required(ip.Child("baseURL"), ""))
		}
		h, _ := m["hashAlgorithm"].(string)
		hash, ok := hashByName(h)
		if h == "" {
			*errs = append(*errs, field.Required(ip.Child("hashAlgorithm"), ""))
		} else if !ok {
			*errs = append(*errs, field.NotSupported(ip.Child("hashAlgorithm"), h, []string{"sha256", "sha384", "sha512"}))
		}
		if m["publicKey"] == nil {
			*errs = append(*errs, field.Required(ip.Child("publicKey"), ""))
			continue
		}
		b, err := bytesField(m["publicKey"], false)
		if err != nil {
			*errs = append(*errs, field.Invalid(ip.Child("publicKey"), "", err.Error()))
			continue
		}
		keys, err := parsePublicKeys(string(b))
		if err != nil || len(keys) != 1 {
			*errs = append(*errs, field.Invalid(ip.Child("publicKey"), "", fmt.Sprintf("must be one PEM public key: %v", err)))
			continue
		}
		tl, err := transparencyLog(baseURL, keys[0], hash)
		if err != nil {
			*errs = append(*errs, field.Invalid(ip.Child("publicKey"), "", err.Error()))
			continue
		}
		out[fmt.Sprintf("%x", tl.ID)] = tl
	}
	return out
}

// hashByName accepts the spellings of policy-controller ("sha-256"),
// the protobuf specs ("SHA2_256") and Go ("SHA-256").
func hashByName(s string) (crypto.Hash, bool) {
	n := strings.NewReplacer("-", "", "_", "").Replace(strings.ToLower(s))
	switch n {
	case "sha256", "sha2256":
		return crypto.SHA256, true
	case "sha384", "sha2384":
		return crypto.SHA384, true
	case "sha512", "sha2512":
		return crypto.SHA512, true
	}
	return 0, false
}

// repository reads an air-gapped TUF repository from memory.
func repository(v any, p *field.Path, cfg trustRootConfig) (root.TrustedMaterial, field.ErrorList) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, field.ErrorList{field.Invalid(p, v, "must be an object")}
	}
	var errs field.ErrorList
	rootJSON, err := bytesField(m["root"], true)
	if err != nil {
		errs = append(errs, field.Invalid(p.Child("root"), "", err.Error()))
	}
	targets, _ := m["targets"].(string)
	if targets == "" {
		targets = "targets"
	}
	var files map[string][]byte
	if m["mirrorFS"] == nil {
		errs = append(errs, field.Required(p.Child("mirrorFS"), ""))
	} else if data, err := bytesField(m["mirrorFS"], false); err != nil {
		errs = append(errs, field.Invalid(p.Child("mirrorFS"), "", err.Error()))
	} else if files, err = untar(data); err != nil {
		errs = append(errs, field.Invalid(p.Child("mirrorFS"), "", err.Error()))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	const base = "https://tuf.mirror.invalid"
	fetch := func(u string, maxLength int64) ([]byte, error) {
		name := strings.TrimPrefix(strings.TrimPrefix(u, base), "/")
		if rest, ok := strings.CutPrefix(name, "targets/"); ok {
			name = path.Join(targets, rest)
		}
		data, ok := files[name]
		if !ok {
			return nil, &metadata.ErrDownloadHTTP{StatusCode: 404, URL: u}
		}
		if int64(len(data)) > maxLength {
			return nil, &metadata.ErrDownloadLengthMismatch{Msg: fmt.Sprintf("%s is larger than %d bytes", name, maxLength)}
		}
		return data, nil
	}
	tm, err := fetchTrustedRoot(base, rootJSON, fetch)
	if err != nil {
		return nil, field.ErrorList{field.Invalid(p.Child("mirrorFS"), "", err.Error())}
	}
	return tm, nil
}

// untar reads a gzipped tar of a TUF repository into memory, without the
// leading "repository/" directory policy-controller's archives have.
func untar(data []byte) (map[string][]byte, error) {
	if len(data) > maxMirrorBytes {
		return nil, fmt.Errorf("repository of %d bytes is larger than %d bytes", len(data), maxMirrorBytes)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("not a gzipped tar: %w", err)
	}
	defer zr.Close()
	tr := tar.NewReader(io.LimitReader(zr, maxMirrorBytes))
	files := map[string][]byte{}
	total := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the tar: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		if len(files) >= maxMirrorFiles {
			return nil, fmt.Errorf("more than %d files", maxMirrorFiles)
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "/"))
		if strings.HasPrefix(name, "..") {
			return nil, fmt.Errorf("invalid file name %q", h.Name)
		}
		name = strings.TrimPrefix(name, "repository/")
		b, err := io.ReadAll(io.LimitReader(tr, maxMirrorBytes-int64(total)+1))
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", h.Name, err)
		}
		total += len(b)
		if total > maxMirrorBytes {
			return nil, fmt.Errorf("repository is larger than %d bytes uncompressed", maxMirrorBytes)
		}
		files[name] = b
	}
	if len(files) == 0 {
		return nil, errors.New("the repository is empty")
	}
	return files, nil
}

// fetchTrustedRoot runs a TUF update from rootJSON against the mirror at
// baseURL (read through fetch, without a local cache) and returns its
// trusted_root.json target.
func fetchTrustedRoot(baseURL string, rootJSON []byte, fetch func(string, int64) ([]byte, error)) (root.TrustedMaterial, error) {
	opts := &tuf.Options{
		Root:              rootJSON,
		RepositoryBaseURL: baseURL,
		DisableLocalCache: true,
		Fetcher:           fetcherFunc(fetch),
	}
	c, err := tuf.New(opts)
	if err != nil {
		return nil, fmt.Errorf("TUF update failed: %w", err)
	}
	data, err := c.GetTarget(trustedRootTarget)
	if err != nil {
		return nil, fmt.Errorf("TUF target %s: %w", trustedRootTarget, err)
	}
	return LoadTrustedRoot(data)
}

type fetcherFunc func(string, int64) ([]byte, error)

func (f fetcherFunc) DownloadFile(u string, maxLength int64, _ time.Duration) ([]byte, error) {
	return f(u, maxLength)
}

// remote is a TUF repository fetched over the network on first use.
func remote(v any, p *field.Path, cfg trustRootConfig) (root.TrustedMaterial, field.ErrorList) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, field.ErrorList{field.Invalid(p, v, "must be an object")}
	}
	var errs field.ErrorList
	mirror, _ := m["mirror"].(string)
	if u, err := url.Parse(mirror); mirror == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		errs = append(errs, field.Invalid(p.Child("mirror"), mirror, "must be an http(s) URL"))
	}
	rootJSON, err := bytesField(m["root"], true)
	if err != nil {
		errs = append(errs, field.Invalid(p.Child("root"), "", err.Error()))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if !cfg.network {
		return nil, field.ErrorList{field.Forbidden(p, fmt.Sprintf("fetching the TUF repository %s needs network access, which is not enabled", mirror))}
	}
	return RemoteTrustedRoot(mirror, rootJSON, cfg.fetcher, cfg.now), nil
}

// RemoteTrustedRoot returns trust material that a TUF update from rootJSON
// against mirror fetches on first use (never here), through fetch: the
// trusted_root.json target. Until a fetch succeeds it trusts nothing, and a
// failed fetch is retried after a minute. The CLI uses it, when told to go
// online, for the Sigstore public-good root (sigstore-go's tuf.DefaultRoot
// at tuf.DefaultMirror).
func RemoteTrustedRoot(mirror string, rootJSON []byte, fetch func(url string, maxLength int64) ([]byte, error), now func() time.Time) root.TrustedMaterial {
	if now == nil {
		now = time.Now
	}
	return &lazyRoot{mirror: strings.TrimSuffix(mirror, "/"), rootJSON: rootJSON, fetch: fetch, now: now}
}

// lazyRoot is trust material fetched from a TUF mirror on first use.
type lazyRoot struct {
	mirror   string
	rootJSON []byte
	fetch    func(string, int64) ([]byte, error)
	now      func() time.Time

	mu       sync.Mutex
	tm       root.TrustedMaterial
	failedAt time.Time
}

var _ root.TrustedMaterial = (*lazyRoot)(nil)

func (l *lazyRoot) get() root.TrustedMaterial {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tm != nil {
		return l.tm
	}
	if !l.failedAt.IsZero() && l.now().Sub(l.failedAt) < time.Minute {
		return &root.BaseTrustedMaterial{}
	}
	tm, err := fetchTrustedRoot(l.mirror, l.rootJSON, l.fetch)
	if err != nil { // verifications fail until a later fetch succeeds
		l.failedAt = l.now()
		return &root.BaseTrustedMaterial{}
	}
	l.tm = tm
	return tm
}

func (l *lazyRoot) TimestampingAuthorities() []root.TimestampingAuthority {
	return l.get().TimestampingAuthorities()
}
func (l *lazyRoot) FulcioCertificateAuthorities() []root.CertificateAuthority {
	return l.get().FulcioCertificateAuthorities()
}
func (l *lazyRoot) RekorLogs() map[string]*root.TransparencyLog { return l.get().RekorLogs() }
func (l *lazyRoot) CTLogs() map[string]*root.TransparencyLog    { return l.get().CTLogs() }
func (l *lazyRoot) PublicKeyVerifier(hint string) (root.TimeConstrainedVerifier, error) {
	return l.get().PublicKeyVerifier(hint)
}
