package registry_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/portcullis-dev/portcullis/internal/image"
	"github.com/portcullis-dev/portcullis/internal/image/imagetest"
	"github.com/portcullis-dev/portcullis/internal/image/registry"
)

// newClient returns a Client for reg, with reg listed as insecure.
func newClient(t *testing.T, reg *imagetest.Registry, opts registry.Options) *registry.Client {
	t.Helper()
	opts.Insecure = append(opts.Insecure, reg.Host())
	if opts.Transport == nil {
		opts.Transport = reg.Transport()
	}
	c, err := registry.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// clock is a settable clock for cache TTL tests.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
func digestOf(t *testing.T, ref image.Ref) v1.Hash {
	t.Helper()
	h, err := v1.NewHash(ref.Digest)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestResolve(t *testing.T) {
	reg := imagetest.NewRegistry(t)
	pushed := reg.PushRandom(t, "team/app", "v1")
	other := reg.PushRandom(t, "team/app", "v2")
	c := newClient(t, reg, registry.Options{})

	for _, tc := range []struct {
		name       string
		ref        image.Ref
		wantDigest string
		wantErr    string
		notFound   bool
	}{
		{name: "tag", ref: reg.Ref(t, "team/app", "v1"), wantDigest: pushed.Digest},
		{name: "digest", ref: pushed.ByDigest(pushed.Digest), wantDigest: pushed.Digest},
		{name: "tag and digest", ref: pushed, wantDigest: pushed.Digest},
		{name: "other tag", ref: reg.Ref(t, "team/app", "v2"), wantDigest: other.Digest},
		{name: "unknown tag", ref: reg.Ref(t, "team/app", "nope"), notFound: true,
			wantErr: "resolve " + reg.Host() + "/team/app:nope: HTTP 404"},
		{name: "unknown repository", ref: reg.Ref(t, "team/none", "v1"), notFound: true},
		{name: "unknown digest", ref: pushed.ByDigest("sha256:" + strings.Repeat("0", 64)), notFound: true},
		{name: "no repository", ref: image.Ref{Registry: reg.Host()}, wantErr: "has no registry or repository"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := c.Resolve(context.Background(), tc.ref, image.Pull{})
			if tc.wantErr != "" || tc.notFound {
				if err == nil {
					t.Fatalf("Resolve(%s) = %v, want an error", tc.ref, d.Digest)
				}
				if got := errors.Is(err, image.ErrNotFound); got != tc.notFound {
					t.Errorf("errors.Is(%v, ErrNotFound) = %v, want %v", err, got, tc.notFound)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %q does not contain %q", err, tc.wantErr)
				}
				var re *registry.Error
				if !errors.As(err, &re) || re.Op != registry.OpResolve {
					t.Errorf("error %v is not a *registry.Error of resolve", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve(%s): %v", tc.ref, err)
			}
			if d.Digest.String() != tc.wantDigest {
				t.Errorf("digest = %s, want %s", d.Digest, tc.wantDigest)
			}
			if d.MediaType == "" || d.Size <= 0 {
				t.Errorf("descriptor %+v lacks media type or size", d)
			}
		})
	}
}

func TestResolveFallsBackToGet(t *testing.T) {
	noHead := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodHead {
				http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	reg := imagetest.NewRegistry(t, imagetest.WithHandler(noHead))
	pushed := reg.PushRandom(t, "app", "v1")
	c := newClient(t, reg, registry.Options{})
	d, err := c.Resolve(context.Background(), reg.Ref(t, "app", "v1"), image.Pull{})
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if d.Digest.String() != pushed.Digest {
		t.Errorf("digest = %s, want %s", d.Digest, pushed.Digest)
	}
	want := []string{"GET /v2/", "HEAD /v2/app/manifests/v1", "GET /v2/app/manifests/v1"}
	if diff := cmp.Diff(want, reg.RequestLog()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	// The GET fetched the manifest: reading it by digest costs nothing.
	reg.ResetRequests()
	if _, _, err := c.Manifest(context.Background(), pushed.ByDigest(pushed.Digest), image.Pull{}); err != nil {
		t.Fatalf("Manifest: %v", err)
	}
	if n := reg.Requests(); n != 0 {
		t.Errorf("Manifest after GET fallback made %d requests, want 0", n)
	}
}

// substitute serves the manifest of digest `to` whenever `from` is asked
// for. With keepHeader the Docker-Content-Digest header still claims
// `from`, so only the body betrays the substitution.
func substitute(from, to *string, keepHeader bool) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if *from != "" && strings.HasSuffix(r.URL.Path, "/"+*from) {
				r.URL.Path = strings.TrimSuffix(r.URL.Path, *from) + *to
				if keepHeader {
					w = &headerRewriter{ResponseWriter: w, key: "Docker-Content-Digest", value: *from}
				}
			}
			h.ServeHTTP(w, r)
		})
	}
}

type headerRewriter struct {
	http.ResponseWriter
	key, value string
}

func (h *headerRewriter) WriteHeader(code int) {
	if h.ResponseWriter.Header().Get(h.key) != "" {
		h.ResponseWriter.Header().Set(h.key, h.value)
	}
	h.ResponseWriter.WriteHeader(code)
}

func (h *headerRewriter) Write(b []byte) (int, error) {
	if h.ResponseWriter.Header().Get(h.key) != "" {
		h.ResponseWriter.Header().Set(h.key, h.value)
	}
	return h.ResponseWriter.Write(b)
}

func TestRegistryAnswersAnotherDigest(t *testing.T) {
	for _, tc := range []struct {
		name       string
		keepHeader bool
		call       func(c *registry.Client, ref image.Ref) error
	}{
		{name: "resolve, header says so", call: func(c *registry.Client, ref image.Ref) error {
			_, err := c.Resolve(context.Background(), ref, image.Pull{})
			return err
		}},
		{name: "manifest, header says so", call: func(c *registry.Client, ref image.Ref) error {
			_, _, err := c.Manifest(context.Background(), ref, image.Pull{})
			return err
		}},
		{name: "manifest, only the body differs", keepHeader: true, call: func(c *registry.Client, ref image.Ref) error {
			_, _, err := c.Manifest(context.Background(), ref, image.Pull{})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var from, to string
			reg := imagetest.NewRegistry(t, imagetest.WithHandler(substitute(&from, &to, tc.keepHeader)))
			asked := reg.PushRandom(t, "app", "v1")
			served := reg.PushRandom(t, "app", "v2")
			from, to = asked.Digest, served.Digest
			c := newClient(t, reg, registry.Options{})
			err := tc.call(c, asked.ByDigest(asked.Digest))
			var dm *registry.DigestMismatchError
			if !errors.As(err, &dm) {
				t.Fatalf("error = %v, want a DigestMismatchError", err)
			}
			if dm.Want != asked.Digest {
				t.Errorf("Want = %s, want %s", dm.Want, asked.Digest)
			}
			if !tc.keepHeader && dm.Got != served.Digest {
				t.Errorf("Got = %s, want %s", dm.Got, served.Digest)
			}
			want := "registry answered with digest " + dm.Got + " for " + asked.Digest
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
			if errors.Is(err, image.ErrNotFound) {
				t.Errorf("a substituted answer must not be ErrNotFound")
			}
		})
	}
}

func TestManifest(t *testing.T) {
	reg := imagetest.NewRegistry(t)
	img, err := random.Image(128, 2)
	if err != nil {
		t.Fatal(err)
	}
	pushed := reg.PushImage(t, "app", "v1", img)
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, reg, registry.Options{})
	for _, ref := range []image.Ref{reg.Ref(t, "app", "v1"), pushed.ByDigest(pushed.Digest)} {
		t.Run(ref.String(), func(t *testing.T) {
			got, d, err := c.Manifest(context.Background(), ref, image.Pull{})
			if err != nil {
				t.Fatalf("Manifest: %v", err)
			}
			if !bytes.Equal(got, raw) {
				t.Errorf("manifest differs from the pushed one")
			}
			want := v1.Descriptor{MediaType: types.DockerManifestSchema2, Size: int64(len(raw)), Digest: digestOf(t, pushed)}
			if diff := cmp.Diff(want, d); diff != "" {
				t.Errorf("descriptor (-want +got):\n%s", diff)
			}
		})
	}
	// The tag read above cached the tag's digest: Resolve needs no request.
	reg.ResetRequests()
	if _, err := c.Resolve(context.Background(), reg.Ref(t, "app", "v1"), image.Pull{}); err != nil {
		t.Fatal(err)
	}
	if n := reg.Requests(); n != 0 {
		t.Errorf("Resolve after Manifest made %d requests, want 0", n)
	}
}

func TestBlob(t *testing.T) {
	var from, to string
	reg := imagetest.NewRegistry(t, imagetest.WithHandler(substitute(&from, &to, true)))
	img, err := mutate.CreatedAt(mustRandom(t), v1.Time{Time: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	pushed := reg.PushImage(t, "app", "v1", img)
	cfgName, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	rawCfg, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	layerDigest, err := layers[0].Digest()
	if err != nil {
		t.Fatal(err)
	}
	layerSize, err := layers[0].Size()
	if err != nil {
		t.Fatal(err)
	}
	other := reg.PushRandom(t, "app", "v2")
	otherImg, _, err := newClient(t, reg, registry.Options{}).Manifest(context.Background(), other, image.Pull{})
	if err != nil {
		t.Fatal(err)
	}
	otherMf, err := v1.ParseManifest(bytes.NewReader(otherImg))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("config", func(t *testing.T) {
		c := newClient(t, reg, registry.Options{})
		got, err := c.Blob(context.Background(), pushed, cfgName, image.Pull{})
		if err != nil {
			t.Fatalf("Blob: %v", err)
		}
		if !bytes.Equal(got, rawCfg) {
			t.Errorf("config blob differs")
		}
		if !strings.Contains(string(got), `"created":"2024-05-01T00:00:00Z"`) {
			t.Errorf("config %s lacks its created time", got)
		}
		reg.ResetRequests()
		if _, err := c.Blob(context.Background(), pushed, cfgName, image.Pull{}); err != nil {
			t.Fatal(err)
		}
		if n := reg.Requests(); n != 0 {
			t.Errorf("cached Blob made %d requests, want 0", n)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		c := newClient(t, reg, registry.Options{})
		_, err := c.Blob(context.Background(), pushed, v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("1", 64)}, image.Pull{})
		if !errors.Is(err, image.ErrNotFound) {
			t.Errorf("error = %v, want ErrNotFound", err)
		}
	})
	t.Run("too large", func(t *testing.T) {
		c := newClient(t, reg, registry.Options{MaxBlobBytes: layerSize - 1})
		_, err := c.Blob(context.Background(), pushed, layerDigest, image.Pull{})
		var tl *registry.TooLargeError
		if !errors.As(err, &tl) || tl.What != "blob" {
			t.Fatalf("error = %v, want a blob TooLargeError", err)
		}
		if !strings.Contains(err.Error(), "Options.MaxBlobBytes") {
			t.Errorf("error %q does not name the option", err)
		}
	})
	t.Run("substituted", func(t *testing.T) {
		from, to = cfgName.String(), otherMf.Config.Digest.String()
		defer func() { from, to = "", "" }()
		c := newClient(t, reg, registry.Options{})
		_, err := c.Blob(context.Background(), pushed, cfgName, image.Pull{})
		var dm *registry.DigestMismatchError
		if !errors.As(err, &dm) || dm.Want != cfgName.String() || dm.Got != to {
			t.Fatalf("error = %v, want a DigestMismatchError for %s", err, cfgName)
		}
	})
	t.Run("invalid digest", func(t *testing.T) {
		c := newClient(t, reg, registry.Options{})
		if _, err := c.Blob(context.Background(), pushed, v1.Hash{}, image.Pull{}); err == nil || !strings.Contains(err.Error(), "invalid blob digest") {
			t.Errorf("error = %v, want invalid blob digest", err)
		}
	})
}

func mustRandom(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// fakeSecrets is a SecretGetter over a map of namespace/name.
type fakeSecrets map[string]map[string][]byte

func (f fakeSecrets) Secret(_ context.Context, namespace, name string) (map[string][]byte, error) {
	if namespace == "broken" {
		return nil, errors.New("informer not synced")
	}
	return f[namespace+"/"+name], nil
}

func dockerConfigJSON(host, user, pass string) []byte {
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	return []byte(fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, host, auth))
}

func TestPullSecrets(t *testing.T) {
	reg := imagetest.NewRegistry(t, imagetest.WithBasicAuth("robot", "s3cret"))
	pushed := reg.PushRandom(t, "private/app", "v1")
	host := reg.Host()
	_, port, _ := strings.Cut(host, ":")
	secrets := fakeSecrets{
		"team/json":      {registry.DockerConfigJSONKey: dockerConfigJSON(host, "robot", "s3cret")},
		"team/cfg":       {registry.DockerConfigKey: []byte(fmt.Sprintf(`{%q:{"username":"robot","password":"s3cret"}}`, "https://"+host+"/v1/"))},
		"team/wrong":     {registry.DockerConfigJSONKey: dockerConfigJSON(host, "robot", "wrong")},
		"team/elsewhere": {registry.DockerConfigJSONKey: dockerConfigJSON("ghcr.io", "robot", "s3cret")},
		"team/glob":      {registry.DockerConfigJSONKey: dockerConfigJSON("*.0.0.1:"+port, "robot", "s3cret")},
		"team/prefix":    {registry.DockerConfigJSONKey: dockerConfigJSON(host+"/private", "robot", "s3cret")},
		"team/otherpath": {registry.DockerConfigJSONKey: dockerConfigJSON(host+"/public", "robot", "s3cret")},
		"team/garbage":   {registry.DockerConfigJSONKey: []byte(`{"auths": [}`)},
		"team/badauth":   {registry.DockerConfigJSONKey: []byte(`{"auths":{"x.io":{"auth":"%%%"}}}`)},
	}
	configFile := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(configFile, dockerConfigJSON(host, "robot", "s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		pull       image.Pull
		opts       registry.Options
		wantErr    string
		wantStatus int
	}{
		{name: "no credentials", wantErr: "HTTP 401", wantStatus: 401},
		{name: "dockerconfigjson", pull: image.Pull{Namespace: "team", Secrets: []string{"json"}}},
		{name: "dockercfg", pull: image.Pull{Namespace: "team", Secrets: []string{"cfg"}}},
		{name: "host glob", pull: image.Pull{Namespace: "team", Secrets: []string{"glob"}}},
		{name: "repository prefix", pull: image.Pull{Namespace: "team", Secrets: []string{"prefix"}}},
		{name: "other repository prefix", pull: image.Pull{Namespace: "team", Secrets: []string{"otherpath"}}, wantStatus: 401},
		{name: "secret for another registry", pull: image.Pull{Namespace: "team", Secrets: []string{"elsewhere"}}, wantStatus: 401},
		{name: "missing secret is skipped", pull: image.Pull{Namespace: "team", Secrets: []string{"missing", "json"}}},
		{name: "wrong secret, then right secret", pull: image.Pull{Namespace: "team", Secrets: []string{"wrong", "json"}}},
		{name: "wrong secret, then docker config file", pull: image.Pull{Namespace: "team", Secrets: []string{"wrong"}},
			opts: registry.Options{DockerConfig: configFile}},
		{name: "docker config file alone", opts: registry.Options{DockerConfig: configFile}},
		{name: "wrong secret alone", pull: image.Pull{Namespace: "team", Secrets: []string{"wrong"}}, wantStatus: 401},
		{name: "malformed secret", pull: image.Pull{Namespace: "team", Secrets: []string{"json", "garbage"}},
			wantErr: "credentials: imagePullSecrets[1] (team/garbage): data[.dockerconfigjson]: "},
		{name: "malformed auth field", pull: image.Pull{Namespace: "team", Secrets: []string{"badauth"}},
			wantErr: "imagePullSecrets[0] (team/badauth): data[.dockerconfigjson]: unable to decode auth field"},
		{name: "secret getter fails", pull: image.Pull{Namespace: "broken", Secrets: []string{"json"}},
			wantErr: "imagePullSecrets[0] (broken/json): informer not synced"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Secrets = secrets
			c := newClient(t, reg, tc.opts)
			d, err := c.Resolve(context.Background(), reg.Ref(t, "private/app", "v1"), tc.pull)
			if tc.wantErr == "" && tc.wantStatus == 0 {
				if err != nil {
					t.Fatalf("Resolve: %v", err)
				}
				if d.Digest.String() != pushed.Digest {
					t.Errorf("digest = %s, want %s", d.Digest, pushed.Digest)
				}
				return
			}
			if err == nil {
				t.Fatalf("Resolve succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not contain %q", err, tc.wantErr)
			}
			var re *registry.Error
			if !errors.As(err, &re) {
				t.Fatalf("error %v is not a *registry.Error", err)
			}
			if re.StatusCode != tc.wantStatus {
				t.Errorf("StatusCode = %d, want %d (%v)", re.StatusCode, tc.wantStatus, err)
			}
		})
	}
}

func TestInsecureRequired(t *testing.T) {
	reg := imagetest.NewRegistry(t)
	reg.PushRandom(t, "app", "v1")
	c, err := registry.New(registry.Options{Transport: reg.Transport()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Resolve(context.Background(), reg.Ref(t, "app", "v1"), image.Pull{})
	var ie *registry.InsecureError
	if !errors.As(err, &ie) || ie.Host != reg.Host() {
		t.Fatalf("error = %v, want an InsecureError for %s", err, reg.Host())
	}
	want := "refusing plain HTTP to registry " + reg.Host() + ": it is not listed in Options.Insecure"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	if n := reg.Requests(); n != 0 {
		t.Errorf("the registry served %d plain HTTP requests, want 0", n)
	}

	// Listed as insecure, the same registry works.
	c = newClient(t, reg, registry.Options{})
	if _, err := c.Resolve(context.Background(), reg.Ref(t, "app", "v1"), image.Pull{}); err != nil {
		t.Fatalf("Resolve with Insecure: %v", err)
	}

	// AllowInsecureUnsafe lets every registry be reached over plain HTTP.
	c, err = registry.New(registry.Options{Transport: reg.Transport(), AllowInsecureUnsafe: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Resolve(context.Background(), reg.Ref(t, "app", "v1"), image.Pull{}); err != nil {
		t.Fatalf("Resolve with AllowInsecureUnsafe: %v", err)
	}
}

func TestOversizedManifest(t *testing.T) {
	chunked := func(h http.Handler) http.Handler {
		// Drop Content-Length, so only the body's length betrays the size.
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(&noLength{ResponseWriter: w}, r)
		})
	}
	for _, tc := range []struct {
		name string
		opts []imagetest.Option
		size int64
	}{
		{name: "announced", size: -2},
		{name: "streamed", opts: []imagetest.Option{imagetest.WithHandler(chunked)}, size: -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := imagetest.NewRegistry(t, tc.opts...)
			pushed := reg.PushRandom(t, "app", "v1")
			c := newClient(t, reg, registry.Options{MaxManifestBytes: 100})
			_, _, err := c.Manifest(context.Background(), pushed.ByDigest(pushed.Digest), image.Pull{})
			var tl *registry.TooLargeError
			if !errors.As(err, &tl) {
				t.Fatalf("error = %v, want a TooLargeError", err)
			}
			if tl.What != "manifest" || tl.Limit != 100 || (tc.size == -1) != (tl.Size == -1) {
				t.Errorf("TooLargeError = %+v", tl)
			}
			if !strings.Contains(err.Error(), "is larger than the limit of 100 bytes (Options.MaxManifestBytes)") {
				t.Errorf("error %q does not say the limit", err)
			}
		})
	}
}

type noLength struct{ http.ResponseWriter }

func (n *noLength) WriteHeader(code int) {
	n.ResponseWriter.Header().Del("Content-Length")
	n.ResponseWriter.WriteHeader(code)
	if f, ok := n.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (n *noLength) Write(b []byte) (int, error) {
	n.ResponseWriter.Header().Del("Content-Length")
	return n.ResponseWriter.Write(b)
}

func TestSlowRegistry(t *testing.T) {
	release := make(chan struct{})
	slow := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/manifests/") {
				select {
				case <-release:
				case <-r.Context().Done():
					return
				}
			}
			h.ServeHTTP(w, r)
		})
	}
	reg := imagetest.NewRegistry(t, imagetest.WithHandler(slow))
	t.Cleanup(func() { close(release) })
	reg.PushRandom(t, "app", "v1")

	t.Run("client timeout", func(t *testing.T) {
		c := newClient(t, reg, registry.Options{Timeout: 200 * time.Millisecond})
		start := time.Now()
		_, err := c.Resolve(context.Background(), reg.Ref(t, "app", "v1"), image.Pull{})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error = %v, want DeadlineExceeded", err)
		}
		want := "resolve " + reg.Host() + "/app:v1: registry did not answer within 200ms (Options.Timeout)"
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
		if el := time.Since(start); el > 2*time.Second {
			t.Errorf("Resolve took %v", el)
		}
	})
	t.Run("caller deadline", func(t *testing.T) {
		c := newClient(t, reg, registry.Options{Timeout: 5 * time.Second})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.Resolve(ctx, reg.Ref(t, "app", "v1"), image.Pull{})
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "gave up waiting for the registry") {
			t.Fatalf("error = %v, want the caller's deadline", err)
		}
		if el := time.Since(start); el > time.Second {
			t.Errorf("Resolve took %v after the caller's deadline of 100ms", el)
		}
	})
}

func TestCache(t *testing.T) {
	reg := imagetest.NewRegistry(t)
	reg.PushRandom(t, "app", "v1")
	clk := newClock()
	c := newClient(t, reg, registry.Options{Now: clk.Now})
	tag := reg.Ref(t, "app", "v1")
	missing := reg.Ref(t, "app", "missing")
	ctx := context.Background()

	steps := []struct {
		name    string
		advance time.Duration
		ref     image.Ref
		want    []string
	}{
		{name: "cold", ref: tag, want: []string{"GET /v2/", "HEAD /v2/app/manifests/v1"}},
		{name: "within TTL", advance: 29 * time.Second, ref: tag, want: nil},
		{name: "after TTL", advance: 2 * time.Second, ref: tag, want: []string{"HEAD /v2/app/manifests/v1"}},
		{name: "missing", ref: missing, want: []string{"HEAD /v2/app/manifests/missing", "GET /v2/app/manifests/missing"}},
		{name: "missing within failure TTL", advance: 4 * time.Second, ref: missing, want: nil},
		{name: "missing after failure TTL", advance: 2 * time.Second, ref: missing, want: []string{"HEAD /v2/app/manifests/missing", "GET /v2/app/manifests/missing"}},
	}
	for _, s := range steps {
		clk.Advance(s.advance)
		reg.ResetRequests()
		_, err := c.Resolve(ctx, s.ref, image.Pull{})
		if (err != nil) != (s.ref == missing) {
			t.Fatalf("%s: Resolve error = %v", s.name, err)
		}
		if diff := cmp.Diff(s.want, reg.RequestLog()); diff != "" {
			t.Errorf("%s: requests (-want +got):\n%s", s.name, diff)
		}
	}
	st := c.Stats()
	if st.Hits != 2 || st.Misses != 4 {
		t.Errorf("Stats = %+v, want 2 hits and 4 misses", st)
	}
}

func TestConcurrentResolve(t *testing.T) {
	gate := make(chan struct{})
	hold := func(h http.Handler) http.Handler {
		// Hold the first HEAD until all callers have started.
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodHead {
				<-gate
			}
			h.ServeHTTP(w, r)
		})
	}
	reg := imagetest.NewRegistry(t, imagetest.WithHandler(hold))
	pushed := reg.PushRandom(t, "app", "v1")
	c := newClient(t, reg, registry.Options{})

	const n = 100
	var wg, started sync.WaitGroup
	errs := make([]error, n)
	digests := make([]string, n)
	started.Add(n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			d, err := c.Resolve(context.Background(), reg.Ref(t, "app", "v1"), image.Pull{})
			errs[i], digests[i] = err, d.Digest.String()
		}()
	}
	started.Wait()
	time.Sleep(50 * time.Millisecond)
	close(gate)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || digests[i] != pushed.Digest {
			t.Fatalf("caller %d: %s, %v", i, digests[i], errs[i])
		}
	}
	heads := 0
	for _, l := range reg.RequestLog() {
		if strings.HasPrefix(l, "HEAD ") {
			heads++
		}
	}
	if heads != 1 {
		t.Errorf("%d concurrent Resolve calls made %d HEAD requests, want 1: %v", n, heads, reg.RequestLog())
	}
	if st := c.Stats(); st.Misses != 1 || st.Shared+st.Hits != n-1 {
		t.Errorf("Stats = %+v, want 1 miss and %d shared or hits", st, n-1)
	}
}

func TestReferrers(t *testing.T) {
	const sigType = "application/vnd.dev.cosign.artifact.sig.v1+json"
	const attType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	for _, tc := range []struct {
		name string
		opts []imagetest.Option
	}{
		{name: "referrers API"},
		{name: "tag fallback", opts: []imagetest.Option{imagetest.WithoutReferrers()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := imagetest.NewRegistry(t, tc.opts...)
			subject := reg.PushRandom(t, "app", "v1")
			sig := reg.PushReferrer(t, subject, sigType, "application/octet-stream", []byte("sig"))
			att := reg.PushReferrer(t, subject, attType, "application/vnd.dev.sigstore.bundle.v0.3+json", []byte("{}"))
			lonely := reg.PushRandom(t, "app", "v2")
			c := newClient(t, reg, registry.Options{})
			ctx := context.Background()

			for _, q := range []struct {
				name         string
				ref          image.Ref
				artifactType string
				want         []string
			}{
				{name: "signatures", ref: subject, artifactType: sigType, want: []string{sig.Digest}},
				{name: "bundles", ref: subject, artifactType: attType, want: []string{att.Digest}},
				{name: "all", ref: subject, want: sorted(sig.Digest, att.Digest)},
				{name: "other type", ref: subject, artifactType: "application/x-none", want: []string{}},
				{name: "none", ref: lonely, want: []string{}},
				{name: "unknown repository", ref: image.Ref{Registry: reg.Host(), Repository: "nope", Digest: subject.Digest}, want: []string{}},
			} {
				t.Run(q.name, func(t *testing.T) {
					descs, err := c.Referrers(ctx, q.ref, q.artifactType, image.Pull{})
					if err != nil {
						t.Fatalf("Referrers: %v", err)
					}
					got := []string{}
					for _, d := range descs {
						got = append(got, d.Digest.String())
						if q.artifactType != "" && d.ArtifactType != q.artifactType {
							t.Errorf("descriptor %s has artifactType %q", d.Digest, d.ArtifactType)
						}
					}
					if diff := cmp.Diff(q.want, got); diff != "" {
						t.Errorf("referrers (-want +got):\n%s", diff)
					}
				})
			}
			reg.ResetRequests()
			if _, err := c.Referrers(ctx, subject, sigType, image.Pull{}); err != nil {
				t.Fatal(err)
			}
			if n := reg.Requests(); n != 0 {
				t.Errorf("cached Referrers made %d requests", n)
			}
			if _, err := c.Referrers(ctx, reg.Ref(t, "app", "v1"), sigType, image.Pull{}); err == nil || !strings.Contains(err.Error(), "referrers need a digest reference") {
				t.Errorf("Referrers of a tag: error = %v", err)
			}
		})
	}
}

func sorted(s ...string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestMirror(t *testing.T) {
	mirror := imagetest.NewRegistry(t)
	pushed := mirror.PushRandom(t, "library/nginx", "1.27")
	c := newClient(t, mirror, registry.Options{Mirrors: map[string]string{"docker.io": mirror.Host()}})
	ref, err := image.Parse("nginx:1.27")
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.Resolve(context.Background(), ref, image.Pull{})
	if err != nil {
		t.Fatalf("Resolve through mirror: %v", err)
	}
	if d.Digest.String() != pushed.Digest {
		t.Errorf("digest = %s, want %s", d.Digest, pushed.Digest)
	}
	if diff := cmp.Diff([]string{"GET /v2/", "HEAD /v2/library/nginx/manifests/1.27"}, mirror.RequestLog()); diff != "" {
		t.Errorf("mirror requests (-want +got):\n%s", diff)
	}
}

func TestNewValidates(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts registry.Options
		want []string
	}{
		{name: "negative", opts: registry.Options{Timeout: -1, MaxBlobBytes: -5},
			want: []string{"Options.MaxBlobBytes: must not be negative, got -5", "Options.Timeout: must not be negative, got -1"}},
		{name: "insecure", opts: registry.Options{Insecure: []string{"ok.io", "a/b", ""}},
			want: []string{`Options.Insecure[1]: "a/b" is not a registry host[:port]`, `Options.Insecure[2]: "" is not a registry host[:port]`}},
		{name: "mirror", opts: registry.Options{Mirrors: map[string]string{"docker.io": "https://m.io"}},
			want: []string{`Options.Mirrors["docker.io"]: "https://m.io" is not a registry host[:port]`}},
		{name: "docker config", opts: registry.Options{DockerConfig: bad},
			want: []string{"Options.DockerConfig: unexpected end of JSON input"}},
		{name: "missing docker config", opts: registry.Options{DockerConfig: filepath.Join(dir, "none.json")},
			want: []string{"Options.DockerConfig: open " + filepath.Join(dir, "none.json") + ": no such file or directory"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := registry.New(tc.opts)
			if err == nil {
				t.Fatal("New succeeded")
			}
			got := strings.Split(strings.TrimPrefix(err.Error(), "invalid registry client options: "), "\n")
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := registry.New(registry.Options{}); err != nil {
		t.Errorf("New(zero Options): %v", err)
	}
}

func TestServerError(t *testing.T) {
	failing := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/manifests/") {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusInternalServerError)
				fmt.Fprint(w, `{"errors":[{"code":"UNKNOWN","message":"database is down"}]}`)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	reg := imagetest.NewRegistry(t, imagetest.WithHandler(failing))
	c := newClient(t, reg, registry.Options{})
	_, _, err := c.Manifest(context.Background(), reg.Ref(t, "app", "v1"), image.Pull{})
	var re *registry.Error
	if !errors.As(err, &re) || re.StatusCode != http.StatusInternalServerError || re.Op != registry.OpManifest {
		t.Fatalf("error = %v, want a manifest *registry.Error with HTTP 500", err)
	}
	if errors.Is(err, image.ErrNotFound) {
		t.Errorf("HTTP 500 must not be ErrNotFound")
	}
	want := "manifest " + reg.Host() + "/app:v1: HTTP 500: "
	if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "database is down") {
		t.Errorf("error %q, want prefix %q and the registry's message", err, want)
	}
	// One retry, then the failure is cached.
	if diff := cmp.Diff([]string{"GET /v2/", "GET /v2/app/manifests/v1", "GET /v2/app/manifests/v1"}, reg.RequestLog()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	reg.ResetRequests()
	if _, _, err2 := c.Manifest(context.Background(), reg.Ref(t, "app", "v1"), image.Pull{}); err2 == nil || reg.Requests() != 0 {
		t.Errorf("second call: error %v after %d requests, want the cached failure", err2, reg.Requests())
	}
}

func BenchmarkResolveCached(b *testing.B) {
	reg := imagetest.NewRegistry(b)
	reg.PushRandom(b, "app", "v1")
	c, err := registry.New(registry.Options{Insecure: []string{reg.Host()}, Transport: reg.Transport()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		ref  image.Ref
		pull image.Pull
	}{
		{name: "tag", ref: reg.Ref(b, "app", "v1")},
		{name: "tag with secrets", ref: reg.Ref(b, "app", "v1"), pull: image.Pull{Namespace: "ns", Secrets: []string{"a", "b"}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if _, err := c.Resolve(ctx, bc.ref, bc.pull); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := c.Resolve(ctx, bc.ref, bc.pull); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
