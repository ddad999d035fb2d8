// Package registry implements image.Registry over the OCI distribution
// protocol with go-containerregistry: credentials from a docker config file
// and from imagePullSecrets, plain HTTP only for registries listed as
// insecure, mirrors, per-operation timeouts, size limits on every answer,
// digest checks on every answer about a digest, caches (immutable content by
// digest, tags and referrers for a short TTL, failures for a shorter one) and
// singleflight for concurrent identical requests.
package registry

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/singleflight"

	"github.com/portcullis-dev/portcullis/internal/image"
)

// Defaults of Options.
const (
	DefaultTimeout          = 10 * time.Second
	DefaultMaxManifestBytes = 4 << 20
	DefaultMaxBlobBytes     = 16 << 20
	DefaultMaxCacheBytes    = 64 << 20
	DefaultTTL              = 30 * time.Second
	DefaultFailureTTL       = 5 * time.Second
)

// Bounds of the Client's bookkeeping.
const (
	maxTTLEntries = 10000
	maxPullers    = 256
	pullerMaxAge  = 10 * time.Minute
	userAgent     = "portcullis"
)

// Options configures a Client. The zero value is valid: anonymous access,
// HTTPS only, no mirrors, default limits.
type Options struct {
	// Keychain supplies the Client's own credentials, tried after those of
	// the imagePullSecrets. It must not be set together with DockerConfig.
	// When both are empty the Client's own access is anonymous: the
	// process's ambient docker configuration is never read implicitly.
	Keychain authn.Keychain
	// DockerConfig is the path of a docker config.json whose "auths" are
	// the Client's own credentials (credential helpers are not run). It is
	// read once, by New.
	DockerConfig string
	// Secrets reads the imagePullSecrets named by image.Pull. When nil,
	// those names are ignored.
	Secrets SecretGetter
	// Insecure lists the registries (host[:port], e.g. "127.0.0.1:5000")
	// that may be reached over plain HTTP. Every other registry, including
	// localhost, is reached over HTTPS only, also after redirects.
	Insecure []string
	// AllowInsecureUnsafe lets every registry be reached over plain HTTP
	// and without verifying its TLS certificate, as cosign's
	// --allow-insecure-registry does. For tests and air-gapped labs only.
	AllowInsecureUnsafe bool
	// Mirrors maps a registry host to the host that is read instead, e.g.
	// {"docker.io": "mirror.example.com"}. Credentials are those for the
	// mirror; a mirror reached over plain HTTP must be in Insecure.
	Mirrors map[string]string
	// Timeout bounds each operation (Resolve, Manifest, Blob, Referrers),
	// including its pings, token requests and retries. Default 10 s.
	Timeout time.Duration
	// MaxManifestBytes bounds manifests and referrers indexes. Default
	// 4 MiB.
	MaxManifestBytes int64
	// MaxBlobBytes bounds blobs. Default 16 MiB.
	MaxBlobBytes int64
	// MaxCacheBytes bounds the cache of immutable content (manifests by
	// digest and blobs). Default 64 MiB.
	MaxCacheBytes int64
	// TTL is how long tag digests and referrers lists are cached. Default
	// 30 s.
	TTL time.Duration
	// FailureTTL is how long failures are cached. Default 5 s.
	FailureTTL time.Duration
	// Transport sends the HTTP requests; default a clone of
	// http.DefaultTransport. Tests pass the in-process registry's.
	Transport http.RoundTripper
	// Now is the clock of the caches; default time.Now.
	Now func() time.Time
}

// Client reads images from OCI registries. It implements image.Registry and
// is safe for concurrent use.
//
// Content returned by Manifest and Blob is shared with the cache: callers
// must not modify it.
type Client struct {
	keychain authn.Keychain
	secrets  SecretGetter
	insecure map[string]bool
	// allowInsecure is Options.AllowInsecureUnsafe.
	allowInsecure bool
	mirrors       map[string]string
	timeout       time.Duration
	maxManifest   int64
	maxBlob       int64
	tagTTL        time.Duration
	failureTTL    time.Duration
	now           func() time.Time
	transport     http.RoundTripper

	auths     *ttlCache[credSet]
	tags      *ttlCache[v1.Descriptor]
	referrers *ttlCache[[]v1.Descriptor]
	failures  *ttlCache[error]
	content   *lru

	pullersMu sync.Mutex
	pullers   map[string]pullerEntry

	group singleflight.Group

	roundTrips atomic.Int64
	hits       atomic.Int64
	misses     atomic.Int64
	shared     atomic.Int64
}

var _ image.Registry = (*Client)(nil)

// Stats counts what a Client has done since New.
type Stats struct {
	// RoundTrips is the number of HTTP requests sent, including pings,
	// token requests, retries and redirects.
	RoundTrips int64
	// Hits is the number of answers served from a cache (failures
	// included).
	Hits int64
	// Misses is the number of operations that went to a registry; callers
	// that shared one in-flight operation count once.
	Misses int64
	// Shared is the number of calls answered by another caller's
	// identical in-flight operation.
	Shared int64
}

// Stats returns the Client's counters.
func (c *Client) Stats() Stats {
	return Stats{
		RoundTrips: c.roundTrips.Load(),
		Hits:       c.hits.Load(),
		Misses:     c.misses.Load(),
		Shared:     c.shared.Load(),
	}
}

// New validates opts and returns a Client. Every invalid option is
// reported, each naming its field.
func New(opts Options) (*Client, error) {
	var errs []error
	c := &Client{
		keychain:    opts.Keychain,
		secrets:     opts.Secrets,
		insecure:    map[string]bool{},
		mirrors:     map[string]string{},
		timeout:     orDefault(opts.Timeout, DefaultTimeout),
		maxManifest: orDefault(opts.MaxManifestBytes, DefaultMaxManifestBytes),
		maxBlob:     orDefault(opts.MaxBlobBytes, DefaultMaxBlobBytes),
		tagTTL:      orDefault(opts.TTL, DefaultTTL),
		failureTTL:  orDefault(opts.FailureTTL, DefaultFailureTTL),
		now:         opts.Now,
		auths:       newTTLCache[credSet](maxTTLEntries),
		tags:        newTTLCache[v1.Descriptor](maxTTLEntries),
		referrers:   newTTLCache[[]v1.Descriptor](maxTTLEntries),
		failures:    newTTLCache[error](maxTTLEntries),
		content:     newLRU(orDefault(opts.MaxCacheBytes, DefaultMaxCacheBytes)),
		pullers:     map[string]pullerEntry{},
	}
	if c.now == nil {
		c.now = time.Now
	}
	for field, v := range map[string]int64{
		"Options.Timeout":          int64(opts.Timeout),
		"Options.MaxManifestBytes": opts.MaxManifestBytes,
		"Options.MaxBlobBytes":     opts.MaxBlobBytes,
		"Options.MaxCacheBytes":    opts.MaxCacheBytes,
		"Options.TTL":              int64(opts.TTL),
		"Options.FailureTTL":       int64(opts.FailureTTL),
	} {
		if v < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative, got %d", field, v))
		}
	}
	switch {
	case opts.Keychain != nil && opts.DockerConfig != "":
		errs = append(errs, errors.New("Options.Keychain and Options.DockerConfig: set at most one"))
	case opts.DockerConfig != "":
		kc, err := newFileKeychain(opts.DockerConfig)
		if err != nil {
			errs = append(errs, fmt.Errorf("Options.DockerConfig: %w", err))
		} else {
			c.keychain = kc
		}
	}
	for i, h := range opts.Insecure {
		host, err := registryHost(h)
		if err != nil {
			errs = append(errs, fmt.Errorf("Options.Insecure[%d]: %w", i, err))
			continue
		}
		c.insecure[host] = true
	}
	for from, to := range opts.Mirrors {
		f, err := registryHost(from)
		if err != nil {
			errs = append(errs, fmt.Errorf("Options.Mirrors[%q]: %w", from, err))
			continue
		}
		t, err := registryHost(to)
		if err != nil {
			errs = append(errs, fmt.Errorf("Options.Mirrors[%q]: %w", from, err))
			continue
		}
		c.mirrors[f] = t
	}
	if len(errs) > 0 {
		sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
		return nil, fmt.Errorf("invalid registry client options: %w", errors.Join(errs...))
	}
	base := opts.Transport
	if base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		if opts.AllowInsecureUnsafe {
			t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the caller asked for it by name
		}
		base = t
	}
	c.allowInsecure = opts.AllowInsecureUnsafe
	c.transport = &guard{
		base:         base,
		insecure:     c.insecure,
		allowAll:     opts.AllowInsecureUnsafe,
		roundTrips:   &c.roundTrips,
		defaultState: &opState{limit: c.maxManifest, what: "manifest", option: "Options.MaxManifestBytes"},
	}
	return c, nil
}

func orDefault[T int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// registryHost validates and normalizes a registry host[:port].
func registryHost(h string) (string, error) {
	if h == "" || strings.ContainsAny(h, "/@") {
		return "", fmt.Errorf("%q is not a registry host[:port]", h)
	}
	r, err := name.NewRegistry(h)
	if err != nil {
		return "", fmt.Errorf("%q is not a registry host[:port]: %w", h, err)
	}
	return hubAlias(strings.ToLower(r.RegistryStr())), nil
}

// reference returns the go-containerregistry reference the Client reads for
// ref: on the mirror when there is one, marked insecure when the host is.
func (c *Client) reference(ref image.Ref) (name.Reference, error) {
	if ref.Registry == "" || ref.Repository == "" {
		return nil, fmt.Errorf("reference %q has no registry or repository", ref.String())
	}
	r := ref
	if m, ok := c.mirrors[hubAlias(strings.ToLower(ref.Registry))]; ok {
		r.Registry = m
	}
	var opts []name.Option
	if c.allowInsecure || c.insecure[hubAlias(strings.ToLower(r.Registry))] {
		opts = append(opts, name.Insecure)
	}
	n, err := r.Name(opts...)
	if err != nil {
		return nil, fmt.Errorf("invalid reference %q: %w", ref.String(), err)
	}
	return n, nil
}

// pullerEntry is a puller and when it was made.
type pullerEntry struct {
	p       *remote.Puller
	created time.Time
}

// puller returns the go-containerregistry puller of one set of credentials;
// it reuses authenticated transports (and bearer tokens) per repository.
// Pullers are replaced after pullerMaxAge, which also bounds the number of
// repositories each one remembers, and at most maxPullers are kept.
func (c *Client) puller(cr cred) (*remote.Puller, error) {
	now := c.now()
	c.pullersMu.Lock()
	defer c.pullersMu.Unlock()
	if e, ok := c.pullers[cr.id]; ok && now.Sub(e.created) < pullerMaxAge {
		return e.p, nil
	}
	if len(c.pullers) >= maxPullers {
		clear(c.pullers)
	}
	p, err := remote.NewPuller(
		remote.WithAuth(cr.auth),
		remote.WithTransport(c.transport),
		remote.WithRetryBackoff(remote.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 2}),
		remote.WithRetryPredicate(retryable),
		remote.WithUserAgent(userAgent),
	)
	if err != nil {
		return nil, err
	}
	c.pullers[cr.id] = pullerEntry{p: p, created: now}
	return p, nil
}

// retryable says which failures go-containerregistry retries (once, after
// 100 ms): transient network errors, never verification, size or policy
// errors, nor an expired context.
func retryable(err error) bool {
	if err == nil || isOwnError(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var t interface{ Temporary() bool }
	if errors.As(err, &t) && t.Temporary() {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}

// result is what an operation produces.
type result struct {
	desc  v1.Descriptor
	data  []byte
	descs []v1.Descriptor
}

// op describes one registry operation for run.
type op struct {
	kind    Op
	key     string // singleflight and failure-cache key
	display string // the reference in errors
	blob    bool   // size limit of blobs, else of manifests
	creds   credSet
	// fn does the work with one set of credentials. It is called again
	// with the next credentials when the registry refuses them.
	fn func(ctx context.Context, p *remote.Puller) (result, error)
}

// run executes o once for all identical concurrent callers, detached from
// the callers' cancellation and bounded by Options.Timeout, and caches its
// failure for Options.FailureTTL. A caller whose ctx ends first returns
// early; the work goes on for the others and the caches.
func (c *Client) run(ctx context.Context, o op) (result, error) {
	if err, ok := c.failures.get(o.key, c.now()); ok {
		c.hits.Add(1)
		return result{}, err
	}
	executed := false
	ch := c.group.DoChan(o.key, func() (any, error) {
		executed = true
		c.misses.Add(1)
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
		defer cancel()
		st := &opState{limit: c.maxManifest, what: "manifest", option: "Options.MaxManifestBytes"}
		if o.blob {
			st = &opState{limit: c.maxBlob, what: "blob", option: "Options.MaxBlobBytes"}
		}
		wctx = withOpState(wctx, st)
		var (
			res result
			err error
		)
		for i, cr := range o.creds.creds {
			var p *remote.Puller
			if p, err = c.puller(cr); err != nil {
				break
			}
			res, err = o.fn(wctx, p)
			if err == nil || !isAuthError(err) || i == len(o.creds.creds)-1 {
				break
			}
		}
		if err == nil {
			return res, nil
		}
		e := classify(o.kind, o.display, err)
		if ins := st.refusedHost(); ins != nil && !isOwnError(err) {
			e.Err, e.StatusCode, e.NotFound = ins, 0, false
		}
		if errors.Is(wctx.Err(), context.DeadlineExceeded) {
			e.Err = fmt.Errorf("registry did not answer within %s (Options.Timeout): %w", c.timeout, context.DeadlineExceeded)
			e.StatusCode, e.NotFound = 0, false
		}
		c.failures.put(o.key, e, c.now(), c.failureTTL)
		return nil, e
	})
	select {
	case r := <-ch:
		if !executed {
			c.shared.Add(1)
		}
		if r.Err != nil {
			return result{}, r.Err
		}
		return r.Val.(result), nil
	case <-ctx.Done():
		return result{}, &Error{Op: o.kind, Ref: o.display, Err: fmt.Errorf("gave up waiting for the registry: %w", ctx.Err())}
	}
}

func tagKey(id string, n name.Reference) string { return id + "\x00" + n.String() }

func contentKey(kind, id string, repo name.Repository, digest string) string {
	return kind + "\x00" + id + "\x00" + repo.Name() + "@" + digest
}

// Resolve implements image.Registry: a HEAD request for the manifest,
// falling back to GET when HEAD fails. For a digest reference the answer
// must carry that digest.
func (c *Client) Resolve(ctx context.Context, ref image.Ref, pull image.Pull) (v1.Descriptor, error) {
	n, cs, err := c.prepare(ctx, OpResolve, ref, pull)
	if err != nil {
		return v1.Descriptor{}, err
	}
	repo := n.Context()
	tk := tagKey(cs.id, n)
	cached := func() (v1.Descriptor, bool) {
		if ref.Digest != "" {
			if ct, ok := c.content.get(contentKey("manifest", cs.id, repo, ref.Digest)); ok {
				return ct.desc, true
			}
		}
		return c.tags.get(tk, c.now())
	}
	if d, ok := cached(); ok {
		c.hits.Add(1)
		return d, nil
	}
	res, err := c.run(ctx, op{
		kind: OpResolve, key: "resolve\x00" + tk, display: ref.String(), creds: cs,
		fn: func(ctx context.Context, p *remote.Puller) (result, error) {
			if d, ok := cached(); ok {
				return result{desc: d}, nil
			}
			var d v1.Descriptor
			hd, err := p.Head(ctx, n)
			if err == nil {
				d = v1.Descriptor{MediaType: hd.MediaType, Size: hd.Size, Digest: hd.Digest}
			} else {
				if isOwnError(err) || ctx.Err() != nil {
					return result{}, err
				}
				ct, gerr := c.getManifest(ctx, p, n, ref, cs.id)
				if gerr != nil {
					return result{}, gerr
				}
				d = ct.desc
			}
			if ref.Digest != "" && d.Digest.String() != ref.Digest {
				return result{}, &DigestMismatchError{Want: ref.Digest, Got: d.Digest.String()}
			}
			if d.Size > c.maxManifest {
				return result{}, &TooLargeError{What: "manifest", Limit: c.maxManifest, Option: "Options.MaxManifestBytes", Size: d.Size}
			}
			c.tags.put(tk, d, c.now(), c.tagTTL)
			return result{desc: d}, nil
		},
	})
	return res.desc, err
}

// Manifest implements image.Registry: the raw manifest by tag or digest,
// checked to hash to the digest asked for; for a tag, the tag's digest is
// cached like Resolve's.
func (c *Client) Manifest(ctx context.Context, ref image.Ref, pull image.Pull) ([]byte, v1.Descriptor, error) {
	n, cs, err := c.prepare(ctx, OpManifest, ref, pull)
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	repo := n.Context()
	tk := tagKey(cs.id, n)
	cached := func() (content, bool) {
		digest := ref.Digest
		if digest == "" {
			d, ok := c.tags.get(tk, c.now())
			if !ok {
				return content{}, false
			}
			digest = d.Digest.String()
		}
		return c.content.get(contentKey("manifest", cs.id, repo, digest))
	}
	if ct, ok := cached(); ok {
		c.hits.Add(1)
		return ct.data, ct.desc, nil
	}
	res, err := c.run(ctx, op{
		kind: OpManifest, key: "manifest\x00" + tk, display: ref.String(), creds: cs,
		fn: func(ctx context.Context, p *remote.Puller) (result, error) {
			if ct, ok := cached(); ok {
				return result{data: ct.data, desc: ct.desc}, nil
			}
			ct, err := c.getManifest(ctx, p, n, ref, cs.id)
			if err != nil {
				return result{}, err
			}
			if ref.Digest == "" {
				c.tags.put(tk, ct.desc, c.now(), c.tagTTL)
			}
			return result{data: ct.data, desc: ct.desc}, nil
		},
	})
	return res.data, res.desc, err
}

// getManifest GETs a manifest, checks its size and digest, and caches it by
// digest.
func (c *Client) getManifest(ctx context.Context, p *remote.Puller, n name.Reference, ref image.Ref, id string) (content, error) {
	rd, err := p.Get(ctx, n)
	if err != nil {
		return content{}, err
	}
	data := rd.Manifest
	if int64(len(data)) > c.maxManifest {
		return content{}, &TooLargeError{What: "manifest", Limit: c.maxManifest, Option: "Options.MaxManifestBytes", Size: int64(len(data))}
	}
	algo := "sha256"
	if ref.Digest != "" {
		h, err := v1.NewHash(ref.Digest)
		if err != nil {
			return content{}, err
		}
		algo = h.Algorithm
	}
	got, err := hashOf(algo, data)
	if err != nil {
		return content{}, err
	}
	if ref.Digest != "" && got.String() != ref.Digest {
		return content{}, &DigestMismatchError{Want: ref.Digest, Got: got.String()}
	}
	mt := rd.MediaType
	if mt == "" {
		mt = mediaTypeOf(data)
	}
	ct := content{data: data, desc: v1.Descriptor{MediaType: mt, Size: int64(len(data)), Digest: got}}
	c.content.put(contentKey("manifest", id, n.Context(), got.String()), ct)
	return ct, nil
}

func hashOf(algo string, data []byte) (v1.Hash, error) {
	h, err := v1.Hasher(algo)
	if err != nil {
		return v1.Hash{}, err
	}
	h.Write(data)
	return v1.NewHash(fmt.Sprintf("%s:%x", algo, h.Sum(nil)))
}

// mediaTypeOf reads the mediaType field of a manifest, for registries that
// send no Content-Type.
func mediaTypeOf(data []byte) types.MediaType {
	var m struct {
		MediaType types.MediaType `json:"mediaType"`
	}
	_ = json.Unmarshal(data, &m)
	return m.MediaType
}

// Blob implements image.Registry: the blob with digest in ref's repository,
// bounded by Options.MaxBlobBytes and checked against digest.
func (c *Client) Blob(ctx context.Context, ref image.Ref, digest v1.Hash, pull image.Pull) ([]byte, error) {
	display := ref.Context() + "@" + digest.String()
	if digest.Algorithm == "" || digest.Hex == "" {
		return nil, &Error{Op: OpBlob, Ref: display, Err: fmt.Errorf("invalid blob digest %q", digest.String())}
	}
	n, cs, err := c.prepare(ctx, OpBlob, ref, pull)
	if err != nil {
		return nil, err
	}
	repo := n.Context()
	ck := contentKey("blob", cs.id, repo, digest.String())
	if ct, ok := c.content.get(ck); ok {
		c.hits.Add(1)
		return ct.data, nil
	}
	res, err := c.run(ctx, op{
		kind: OpBlob, key: ck, display: display, blob: true, creds: cs,
		fn: func(ctx context.Context, p *remote.Puller) (result, error) {
			if ct, ok := c.content.get(ck); ok {
				return result{data: ct.data}, nil
			}
			l, err := p.Layer(ctx, repo.Digest(digest.String()))
			if err != nil {
				return result{}, err
			}
			rc, err := l.Compressed()
			if err != nil {
				return result{}, err
			}
			defer rc.Close()
			data, err := io.ReadAll(io.LimitReader(rc, c.maxBlob+1))
			if err != nil {
				return result{}, err
			}
			if int64(len(data)) > c.maxBlob {
				return result{}, &TooLargeError{What: "blob", Limit: c.maxBlob, Option: "Options.MaxBlobBytes", Size: -1}
			}
			got, err := hashOf(digest.Algorithm, data)
			if err != nil {
				return result{}, err
			}
			if got != digest {
				return result{}, &DigestMismatchError{Want: digest.String(), Got: got.String()}
			}
			c.content.put(ck, content{data: data, desc: v1.Descriptor{Size: int64(len(data)), Digest: digest}})
			return result{data: data}, nil
		},
	})
	return res.data, err
}

// Referrers implements image.Registry: the OCI 1.1 referrers API, or the
// sha256-<hex> tag index when the registry has none, filtered by
// artifactType when it is not empty, sorted by digest. No referrers (or no
// such repository) is an empty list, not an error.
func (c *Client) Referrers(ctx context.Context, ref image.Ref, artifactType string, pull image.Pull) ([]v1.Descriptor, error) {
	if ref.Digest == "" {
		return nil, &Error{Op: OpReferrers, Ref: ref.String(), Err: errors.New("referrers need a digest reference")}
	}
	n, cs, err := c.prepare(ctx, OpReferrers, ref, pull)
	if err != nil {
		return nil, err
	}
	d, ok := n.(name.Digest)
	if !ok {
		return nil, &Error{Op: OpReferrers, Ref: ref.String(), Err: errors.New("referrers need a digest reference")}
	}
	rk := tagKey(cs.id, n) + "\x00" + artifactType
	if descs, ok := c.referrers.get(rk, c.now()); ok {
		c.hits.Add(1)
		return append([]v1.Descriptor(nil), descs...), nil
	}
	res, err := c.run(ctx, op{
		kind: OpReferrers, key: "referrers\x00" + rk, display: ref.String(), creds: cs,
		fn: func(ctx context.Context, p *remote.Puller) (result, error) {
			if descs, ok := c.referrers.get(rk, c.now()); ok {
				return result{descs: descs}, nil
			}
			opts := []remote.Option{remote.Reuse(p), remote.WithContext(ctx)}
			if artifactType != "" {
				opts = append(opts, remote.WithFilter("artifactType", artifactType))
			}
			descs := []v1.Descriptor{}
			idx, err := remote.Referrers(d, opts...)
			if err != nil {
				if !classify(OpReferrers, "", err).NotFound {
					return result{}, err
				}
			} else {
				im, err := idx.IndexManifest()
				if err != nil {
					return result{}, err
				}
				for _, m := range im.Manifests {
					if artifactType == "" || m.ArtifactType == artifactType {
						descs = append(descs, m)
					}
				}
			}
			sort.SliceStable(descs, func(i, j int) bool { return descs[i].Digest.String() < descs[j].Digest.String() })
			c.referrers.put(rk, descs, c.now(), c.tagTTL)
			return result{descs: descs}, nil
		},
	})
	if err != nil {
		return nil, err
	}
	return append([]v1.Descriptor(nil), res.descs...), nil
}

// prepare validates ref and resolves the credentials for it.
func (c *Client) prepare(ctx context.Context, kind Op, ref image.Ref, pull image.Pull) (name.Reference, credSet, error) {
	n, err := c.reference(ref)
	if err != nil {
		return nil, credSet{}, &Error{Op: kind, Ref: ref.String(), Err: err}
	}
	cs, err := c.credentials(ctx, n.Context(), pull)
	if err != nil {
		return nil, credSet{}, &Error{Op: kind, Ref: ref.String(), Err: fmt.Errorf("credentials: %w", err)}
	}
	return n, cs, nil
}
