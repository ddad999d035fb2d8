// Package imagetest provides in-process OCI registries and image fixtures
// for tests of the image layer. It is imported only by tests: every
// registry it starts listens on the loopback interface, is closed by
// t.Cleanup, and never reaches the network.
//
// A typical test:
//
//	reg := imagetest.NewRegistry(t)
//	ref := reg.PushRandom(t, "team/app", "v1") // digest reference, Tag "v1"
//	reg.ResetRequests()
//	// ... exercise the code under test against reg.Host() ...
//	if got := reg.Requests(); got != 1 { ... }
//
// Requests made by the fixture's own helpers (PushRandom, PushImage, ...)
// bypass the WithHandler wrappers and are not counted, so Requests and
// RequestLog see only the traffic of the code under test.
package imagetest

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/portcullis-dev/portcullis/internal/image"
)

// fixtureHeader marks requests made by the fixture's own helpers. Its value
// is a random token per registry, so the code under test cannot send it by
// accident.
const fixtureHeader = "X-Imagetest-Fixture"

// Option configures a Registry made by NewRegistry.
type Option func(*config)

type config struct {
	referrers bool
	wrappers  []func(http.Handler) http.Handler
}

// WithoutReferrers makes the registry answer the OCI 1.1 referrers API with
// 404, like registries that predate it. Clients must then fall back to the
// sha256-<hex> tag index, which remote.Write maintains when pushing a
// manifest with a subject.
func WithoutReferrers() Option {
	return func(c *config) { c.referrers = false }
}

// WithHandler wraps the registry's handler, for fault injection in negative
// tests: demand an Authorization header, delay answers, rewrite
// Docker-Content-Digest or the body, answer 500. Wrappers apply in the order
// given, the first one outermost. They see only the requests of the code
// under test, not those of the fixture's push helpers.
func WithHandler(wrap func(http.Handler) http.Handler) Option {
	return func(c *config) { c.wrappers = append(c.wrappers, wrap) }
}

// WithBasicAuth makes the registry demand HTTP basic authentication with
// user and password, answering 401 with a Basic challenge and an
// UNAUTHORIZED error otherwise, like a private registry.
func WithBasicAuth(user, password string) Option {
	return WithHandler(func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, p, ok := r.BasicAuth()
			if !ok || u != user || p != password {
				w.Header().Set("WWW-Authenticate", `Basic realm="imagetest"`)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
				return
			}
			h.ServeHTTP(w, r)
		})
	})
}

// Registry is an in-process OCI registry (go-containerregistry's
// pkg/registry) served over plain HTTP on 127.0.0.1. It is safe for
// concurrent use.
type Registry struct {
	srv   *httptest.Server
	token string

	requests atomic.Int64
	mu       sync.Mutex
	log      []string
}

// NewRegistry starts a registry that t.Cleanup closes.
func NewRegistry(t testing.TB, opts ...Option) *Registry {
	t.Helper()
	c := config{referrers: true}
	for _, o := range opts {
		o(&c)
	}
	inner := ggcrregistry.New(
		ggcrregistry.WithReferrersSupport(c.referrers),
		ggcrregistry.Logger(discardLogger()),
	)
	var outer http.Handler = inner
	for i := len(c.wrappers) - 1; i >= 0; i-- {
		outer = c.wrappers[i](outer)
	}
	var tok [16]byte
	if _, err := rand.Read(tok[:]); err != nil {
		t.Fatalf("imagetest: random token: %v", err)
	}
	r := &Registry{token: hex.EncodeToString(tok[:])}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get(fixtureHeader) == r.token {
			req.Header.Del(fixtureHeader)
			inner.ServeHTTP(w, req)
			return
		}
		r.requests.Add(1)
		r.mu.Lock()
		r.log = append(r.log, req.Method+" "+req.URL.RequestURI())
		r.mu.Unlock()
		outer.ServeHTTP(w, req)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// Host returns the registry's host:port, e.g. "127.0.0.1:34567".
func (r *Registry) Host() string {
	return strings.TrimPrefix(r.srv.URL, "http://")
}

// URL returns the registry's base URL, e.g. "http://127.0.0.1:34567".
func (r *Registry) URL() string { return r.srv.URL }

// Transport returns an HTTP transport that reaches the registry. Requests
// sent through it are counted and pass the WithHandler wrappers like any
// other client's.
func (r *Registry) Transport() http.RoundTripper { return r.srv.Client().Transport }

// Requests returns the number of HTTP requests the registry has served to
// clients other than the fixture's helpers since it started or since the
// last ResetRequests.
func (r *Registry) Requests() int64 { return r.requests.Load() }

// ResetRequests sets the request count to zero and empties the request log.
func (r *Registry) ResetRequests() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests.Store(0)
	r.log = nil
}

// RequestLog returns the requests counted by Requests, in arrival order, as
// "METHOD path?query", e.g. "HEAD /v2/team/app/manifests/v1".
func (r *Registry) RequestLog() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log...)
}

// RemoteOptions returns go-containerregistry remote options for the
// fixture's own uncounted, unwrapped access to the registry, for tests that
// push or read content the helpers below do not cover.
func (r *Registry) RemoteOptions() []remote.Option {
	return []remote.Option{remote.WithTransport(fixtureTransport{base: r.srv.Client().Transport, token: r.token})}
}

// Name returns the go-containerregistry reference repo:tag in this
// registry, marked insecure (plain HTTP).
func (r *Registry) Name(t testing.TB, repo, tag string) name.Tag {
	t.Helper()
	tg, err := name.NewTag(r.Host()+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		t.Fatalf("imagetest: reference %s/%s:%s: %v", r.Host(), repo, tag, err)
	}
	return tg
}

// Ref returns the image.Ref of repo:tag in this registry, without a digest.
func (r *Registry) Ref(t testing.TB, repo, tag string) image.Ref {
	t.Helper()
	ref, err := image.Parse(r.Host() + "/" + repo + ":" + tag)
	if err != nil {
		t.Fatalf("imagetest: reference %s/%s:%s: %v", r.Host(), repo, tag, err)
	}
	return ref
}

// PushRandom pushes a small random image (one 256-byte layer) as repo:tag
// and returns its digest reference with Tag set to tag.
func (r *Registry) PushRandom(t testing.TB, repo, tag string) image.Ref {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatalf("imagetest: random image: %v", err)
	}
	return r.PushImage(t, repo, tag, img)
}

// PushImage pushes img as repo:tag and returns its digest reference with
// Tag set to tag. Use mutate.CreatedAt or mutate.ConfigFile on a random
// image for a given config, mutate.Subject for a referrer.
func (r *Registry) PushImage(t testing.TB, repo, tag string, img v1.Image) image.Ref {
	t.Helper()
	tg := r.Name(t, repo, tag)
	if err := remote.Write(tg, img, r.RemoteOptions()...); err != nil {
		t.Fatalf("imagetest: push %s: %v", tg, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatalf("imagetest: digest of %s: %v", tg, err)
	}
	ref := r.Ref(t, repo, tag)
	ref.Digest = d.String()
	return ref
}

// PushIndex pushes idx as repo:tag (with its child manifests) and returns
// its digest reference with Tag set to tag.
func (r *Registry) PushIndex(t testing.TB, repo, tag string, idx v1.ImageIndex) image.Ref {
	t.Helper()
	tg := r.Name(t, repo, tag)
	if err := remote.WriteIndex(tg, idx, r.RemoteOptions()...); err != nil {
		t.Fatalf("imagetest: push index %s: %v", tg, err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatalf("imagetest: digest of %s: %v", tg, err)
	}
	ref := r.Ref(t, repo, tag)
	ref.Digest = d.String()
	return ref
}

// PushReferrer pushes, by digest into subject's repository, an OCI image
// manifest whose subject is subject (which must have a Digest), whose
// config media type is artifactType (the in-process registry reports a
// referrer's artifactType as its config media type) and whose layers are
// the given blobs with media type layerType. It returns the referrer's
// digest reference. With WithoutReferrers, remote.Write also updates the
// sha256-<hex> fallback tag index.
func (r *Registry) PushReferrer(t testing.TB, subject image.Ref, artifactType string, layerType types.MediaType, blobs ...[]byte) image.Ref {
	t.Helper()
	if subject.Digest == "" {
		t.Fatalf("imagetest: referrer subject %s has no digest", subject)
	}
	desc, err := remote.Head(r.digestName(t, subject), r.RemoteOptions()...)
	if err != nil {
		t.Fatalf("imagetest: subject %s: %v", subject, err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.MediaType(artifactType))
	for _, b := range blobs {
		img, err = mutate.AppendLayers(img, static.NewLayer(b, layerType))
		if err != nil {
			t.Fatalf("imagetest: referrer layer: %v", err)
		}
	}
	withSubject, ok := mutate.Subject(img, *desc).(v1.Image)
	if !ok {
		t.Fatalf("imagetest: mutate.Subject did not return an image")
	}
	d, err := withSubject.Digest()
	if err != nil {
		t.Fatalf("imagetest: referrer digest: %v", err)
	}
	ref := subject.ByDigest(d.String())
	if err := remote.Write(r.digestName(t, ref), withSubject, r.RemoteOptions()...); err != nil {
		t.Fatalf("imagetest: push referrer of %s: %v", subject, err)
	}
	return ref
}

func (r *Registry) digestName(t testing.TB, ref image.Ref) name.Digest {
	t.Helper()
	d, err := name.NewDigest(ref.Context()+"@"+ref.Digest, name.Insecure)
	if err != nil {
		t.Fatalf("imagetest: reference %s: %v", ref, err)
	}
	return d
}

// fixtureTransport marks the fixture's own requests so the server neither
// counts nor wraps them.
type fixtureTransport struct {
	base  http.RoundTripper
	token string
}

func (f fixtureTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set(fixtureHeader, f.token)
	return f.base.RoundTrip(req)
}
