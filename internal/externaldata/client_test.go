package externaldata_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/externaldata"
)

// testCA is a throwaway certificate authority.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a leaf certificate for the loopback address (server) or a
// client.
func (ca *testCA) issue(t *testing.T, client bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "leaf"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func (ca *testCA) bundle() string { return base64.StdEncoding.EncodeToString(ca.pem) }

// quietLog drops the handshake errors the failure tests provoke.
var quietLog = log.New(io.Discard, "", 0)

// server is a provider on the loopback interface.
type server struct {
	*httptest.Server
	ca       *testCA
	requests atomic.Int64
	// keys records the keys of each request.
	mu   sync.Mutex
	keys [][]string
}

// newServer starts a TLS provider whose certificate ca signs. handle answers
// the keys of a ProviderRequest.
func newServer(t *testing.T, ca *testCA, handle func(w http.ResponseWriter, keys []string)) *server {
	t.Helper()
	s := &server{ca: ca}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		var req struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Request    struct {
				Keys []string `json:"keys"`
			} `json:"request"`
		}
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.APIVersion != externaldata.APIVersion || req.Kind != "ProviderRequest" {
			http.Error(w, "not a ProviderRequest", http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.keys = append(s.keys, req.Request.Keys)
		s.mu.Unlock()
		handle(w, req.Request.Keys)
	}))
	s.TLS = &tls.Config{Certificates: []tls.Certificate{ca.issue(t, false)}}
	s.Config.ErrorLog = quietLog
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

// lastKeys returns the keys of the last request.
func (s *server) lastKeys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.keys) == 0 {
		return nil
	}
	return s.keys[len(s.keys)-1]
}

func (s *server) provider(name string, timeout any) map[string]any {
	spec := map[string]any{"url": s.URL + "/validate", "caBundle": s.ca.bundle()}
	if timeout != nil {
		spec["timeout"] = timeout
	}
	return map[string]any{
		"apiVersion": "externaldata.gatekeeper.sh/v1beta1", "kind": "Provider",
		"metadata": map[string]any{"name": name}, "spec": spec,
	}
}

// answer writes a ProviderResponse.
func answer(w http.ResponseWriter, status int, idempotent bool, systemError string, items ...map[string]any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	resp := map[string]any{"idempotent": idempotent}
	if systemError != "" {
		resp["systemError"] = systemError
	}
	if len(items) > 0 {
		resp["items"] = items
	}
	_ = json.NewEncoder(w).Encode(map[string]any{
		"apiVersion": externaldata.APIVersion, "kind": "ProviderResponse", "response": resp,
	})
}

// echo answers every key with its upper case, or an error for keys
// starting with "bad".
func echo(w http.ResponseWriter, keys []string) {
	var items []map[string]any
	for _, k := range keys {
		if strings.HasPrefix(k, "bad") {
			items = append(items, map[string]any{"key": k, "error": "no such image: " + k})
			continue
		}
		items = append(items, map[string]any{"key": k, "value": strings.ToUpper(k)})
	}
	answer(w, http.StatusOK, true, "", items...)
}

func newClient(t *testing.T, providers []map[string]any, opts ...externaldata.Option) *externaldata.Client {
	t.Helper()
	c, err := externaldata.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	if errs := c.SetProviders(providers); len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	t.Cleanup(c.Close)
	return c
}

func TestExternalData(t *testing.T) {
	ca := newCA(t, "provider-ca")
	tests := []struct {
		name    string
		handle  func(http.ResponseWriter, []string)
		keys    []string
		want    engine.ExternalDataResponse
		wantErr string
	}{{
		name:   "values",
		handle: echo,
		keys:   []string{"nginx", "redis", "nginx"},
		want: engine.ExternalDataResponse{StatusCode: 200, Items: []engine.ExternalDataItem{
			{Key: "nginx", Value: "NGINX"}, {Key: "redis", Value: "REDIS"},
		}},
	}, {
		name:   "per-key errors",
		handle: echo,
		keys:   []string{"bad1", "ok"},
		want: engine.ExternalDataResponse{StatusCode: 200, Items: []engine.ExternalDataItem{
			{Key: "bad1", Error: "no such image: bad1"}, {Key: "ok", Value: "OK"},
		}},
	}, {
		name: "structured values keep JSON numbers as int64",
		handle: func(w http.ResponseWriter, keys []string) {
			answer(w, 200, true, "", map[string]any{"key": keys[0], "value": map[string]any{"size": 3, "ratio": 0.5}})
		},
		keys: []string{"img"},
		want: engine.ExternalDataResponse{StatusCode: 200, Items: []engine.ExternalDataItem{
			{Key: "img", Value: map[string]any{"size": int64(3), "ratio": 0.5}},
		}},
	}, {
		name: "items in the order of the keys, extra items last",
		handle: func(w http.ResponseWriter, keys []string) {
			answer(w, 200, true, "", map[string]any{"key": "b", "value": "B"}, map[string]any{"key": "zzz", "value": "?"}, map[string]any{"key": "a", "value": "A"})
		},
		keys: []string{"a", "b", "c"},
		want: engine.ExternalDataResponse{StatusCode: 200, Items: []engine.ExternalDataItem{
			{Key: "a", Value: "A"}, {Key: "b", Value: "B"}, {Key: "zzz", Value: "?"},
		}},
	}, {
		name: "system error",
		handle: func(w http.ResponseWriter, keys []string) {
			answer(w, 200, true, "registry unreachable")
		},
		keys: []string{"a"},
		want: engine.ExternalDataResponse{StatusCode: 200, SystemError: "registry unreachable"},
	}, {
		name: "non-200 ProviderResponse",
		handle: func(w http.ResponseWriter, keys []string) {
			answer(w, http.StatusServiceUnavailable, false, "overloaded")
		},
		keys: []string{"a"},
		want: engine.ExternalDataResponse{StatusCode: 503, SystemError: "overloaded"},
	}, {
		name: "non-200 without a ProviderResponse",
		handle: func(w http.ResponseWriter, keys []string) {
			http.Error(w, "internal error", http.StatusInternalServerError)
		},
		keys:    []string{"a"},
		wantErr: `external data provider "p" answered HTTP 500 Internal Server Error`,
	}, {
		name: "200 without a ProviderResponse",
		handle: func(w http.ResponseWriter, keys []string) {
			_, _ = io.WriteString(w, "<html>")
		},
		keys:    []string{"a"},
		wantErr: `the answer of external data provider "p" is not a ProviderResponse`,
	}, {
		name: "oversized answer",
		handle: func(w http.ResponseWriter, keys []string) {
			answer(w, 200, true, "", map[string]any{"key": "a", "value": strings.Repeat("x", 5<<20)})
		},
		keys:    []string{"a"},
		wantErr: `the answer of external data provider "p" is larger than 4194304 bytes`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, ca, tt.handle)
			c := newClient(t, []map[string]any{srv.provider("p", nil)})
			got, err := c.ExternalData(context.Background(), "p", tt.keys)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStatusError(t *testing.T) {
	srv := newServer(t, newCA(t, "ca"), func(w http.ResponseWriter, _ []string) {
		http.Error(w, "nope", http.StatusForbidden)
	})
	c := newClient(t, []map[string]any{srv.provider("p", nil)})
	_, err := c.ExternalData(context.Background(), "p", []string{"a"})
	var se *externaldata.StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusForbidden || se.Provider != "p" {
		t.Fatalf("err = %v, want a StatusError with 403", err)
	}
}

func TestUnknownProvider(t *testing.T) {
	c := newClient(t, nil)
	_, err := c.ExternalData(context.Background(), "missing", []string{"a"})
	if !errors.Is(err, externaldata.ErrUnknownProvider) || !strings.Contains(err.Error(), `"missing"`) {
		t.Fatalf("err = %v, want ErrUnknownProvider naming the provider", err)
	}
}

func TestWrongCA(t *testing.T) {
	srv := newServer(t, newCA(t, "real"), echo)
	p := srv.provider("p", nil)
	p["spec"].(map[string]any)["caBundle"] = newCA(t, "other").bundle()
	c := newClient(t, []map[string]any{p})
	_, err := c.ExternalData(context.Background(), "p", []string{"a"})
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("err = %v, want an unknown authority error", err)
	}
}

func TestMutualTLS(t *testing.T) {
	serverCA, clientCA := newCA(t, "server"), newCA(t, "clients")
	srv := &server{ca: serverCA}
	srv.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		echo(w, []string{"a"})
	}))
	pool := x509.NewCertPool()
	pool.AddCert(clientCA.cert)
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{serverCA.issue(t, false)},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}
	srv.Config.ErrorLog = quietLog
	srv.StartTLS()
	defer srv.Close()

	without := newClient(t, []map[string]any{srv.provider("p", nil)})
	if _, err := without.ExternalData(context.Background(), "p", []string{"a"}); err == nil {
		t.Error("a call without a client certificate succeeded")
	}
	cert := clientCA.issue(t, true)
	with := newClient(t, []map[string]any{srv.provider("p", nil)},
		externaldata.WithClientCertificate(func() (*tls.Certificate, error) { return &cert, nil }))
	got, err := with.ExternalData(context.Background(), "p", []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]engine.ExternalDataItem{{Key: "a", Value: "A"}}, got.Items); diff != "" {
		t.Error(diff)
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := newServer(t, newCA(t, "ca"), func(w http.ResponseWriter, keys []string) {
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
		echo(w, keys)
	})
	defer close(release)

	t.Run("context deadline", func(t *testing.T) {
		c := newClient(t, []map[string]any{srv.provider("p", int64(10))})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.ExternalData(ctx, "p", []string{"a"})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want the context's deadline", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("returned after %v", d)
		}
	})
	t.Run("provider timeout", func(t *testing.T) {
		c := newClient(t, []map[string]any{srv.provider("p", int64(1))})
		start := time.Now()
		_, err := c.ExternalData(context.Background(), "p", []string{"b"})
		if err == nil {
			t.Fatal("no error")
		}
		if d := time.Since(start); d < 900*time.Millisecond || d > 5*time.Second {
			t.Errorf("returned after %v, want about the provider's 1s timeout", d)
		}
	})
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestCache(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_000_000, 0)}
	var idempotent atomic.Bool
	idempotent.Store(true)
	srv := newServer(t, newCA(t, "ca"), func(w http.ResponseWriter, keys []string) {
		var items []map[string]any
		for _, k := range keys {
			if strings.HasPrefix(k, "bad") {
				items = append(items, map[string]any{"key": k, "error": "broken"})
			} else {
				items = append(items, map[string]any{"key": k, "value": strings.ToUpper(k)})
			}
		}
		answer(w, 200, idempotent.Load(), "", items...)
	})
	c := newClient(t, []map[string]any{srv.provider("p", nil)},
		externaldata.WithClock(clock.Now), externaldata.WithCacheTTL(time.Minute), externaldata.WithErrorCacheTTL(5*time.Second))
	ctx := context.Background()
	call := func(keys ...string) engine.ExternalDataResponse {
		t.Helper()
		r, err := c.ExternalData(ctx, "p", keys)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	call("a", "bad")
	call("a", "bad")
	if got := srv.requests.Load(); got != 1 {
		t.Errorf("requests after a repeated call = %d, want 1", got)
	}
	if diff := cmp.Diff(externaldata.Stats{Requests: 1, CacheHits: 2, CacheMisses: 2}, c.Stats()); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}

	// Only the missing key is asked; cached and fetched items merge.
	got := call("a", "b")
	if diff := cmp.Diff([]engine.ExternalDataItem{{Key: "a", Value: "A"}, {Key: "b", Value: "B"}}, got.Items); diff != "" {
		t.Error(diff)
	}
	if diff := cmp.Diff([]string{"b"}, srv.lastKeys()); diff != "" {
		t.Errorf("keys asked (-want +got):\n%s", diff)
	}

	// Errors expire sooner than values.
	clock.Add(10 * time.Second)
	call("a", "bad")
	if diff := cmp.Diff([]string{"bad"}, srv.lastKeys()); diff != "" {
		t.Errorf("keys asked after the error TTL (-want +got):\n%s", diff)
	}
	clock.Add(2 * time.Minute)
	call("a")
	if diff := cmp.Diff([]string{"a"}, srv.lastKeys()); diff != "" {
		t.Errorf("keys asked after the TTL (-want +got):\n%s", diff)
	}

	// Answers that are not idempotent are not cached.
	idempotent.Store(false)
	before := srv.requests.Load()
	call("x")
	call("x")
	if got := srv.requests.Load() - before; got != 2 {
		t.Errorf("requests for a non-idempotent answer = %d, want 2", got)
	}

	// A changed provider does not serve the old provider's answers.
	idempotent.Store(true)
	call("y")
	p := srv.provider("p", int64(5))
	if errs := c.SetProviders([]map[string]any{p}); len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	before = srv.requests.Load()
	call("y")
	if got := srv.requests.Load() - before; got != 1 {
		t.Errorf("requests after the provider changed = %d, want 1", got)
	}
}

func TestSystemErrorNotCached(t *testing.T) {
	srv := newServer(t, newCA(t, "ca"), func(w http.ResponseWriter, keys []string) {
		answer(w, 200, true, "down", map[string]any{"key": keys[0], "value": "v"})
	})
	c := newClient(t, []map[string]any{srv.provider("p", nil)})
	for range 2 {
		if _, err := c.ExternalData(context.Background(), "p", []string{"a"}); err != nil {
			t.Fatal(err)
		}
	}
	if got := srv.requests.Load(); got != 2 {
		t.Errorf("requests = %d, want 2", got)
	}
}

func TestSingleflight(t *testing.T) {
	release := make(chan struct{})
	srv := newServer(t, newCA(t, "ca"), func(w http.ResponseWriter, keys []string) {
		<-release
		echo(w, keys)
	})
	c := newClient(t, []map[string]any{srv.provider("p", nil)})
	const callers = 20
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := c.ExternalData(context.Background(), "p", []string{"same", "keys"})
			if err == nil && len(r.Items) != 2 {
				err = fmt.Errorf("items = %v", r.Items)
			}
			errs <- err
		}()
	}
	// Let the callers join the first call before it completes.
	waitFor(t, func() bool { return srv.requests.Load() >= 1 })
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := srv.requests.Load(); got != 1 {
		t.Errorf("requests = %d, want 1", got)
	}
}

func TestConcurrencyBound(t *testing.T) {
	const limit = 3
	var inFlight, peak atomic.Int64
	release := make(chan struct{})
	srv := newServer(t, newCA(t, "ca"), func(w http.ResponseWriter, keys []string) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		inFlight.Add(-1)
		echo(w, keys)
	})
	c := newClient(t, []map[string]any{srv.provider("p", nil)}, externaldata.WithMaxConcurrency(limit))
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.ExternalData(context.Background(), "p", []string{fmt.Sprint("key", i)}); err != nil {
				t.Error(err)
			}
		}()
	}
	waitFor(t, func() bool { return inFlight.Load() == limit })
	time.Sleep(100 * time.Millisecond) // give excess calls the chance to start
	if got := inFlight.Load(); got != limit {
		t.Errorf("in flight = %d, want %d", got, limit)
	}
	close(release)
	wg.Wait()
	if got := peak.Load(); got != limit {
		t.Errorf("peak in flight = %d, want %d", got, limit)
	}
	if got := srv.requests.Load(); got != 10 {
		t.Errorf("requests = %d, want 10", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSetProviders(t *testing.T) {
	ca := newCA(t, "ca")
	good := func(name string) map[string]any {
		return map[string]any{
			"apiVersion": "externaldata.gatekeeper.sh/v1beta1", "kind": "Provider",
			"metadata": map[string]any{"name": name},
			"spec":     map[string]any{"url": "https://provider.svc:8443/x", "timeout": int64(5), "caBundle": ca.bundle()},
		}
	}
	with := func(name string, f func(spec map[string]any)) map[string]any {
		p := good(name)
		f(p["spec"].(map[string]any))
		return p
	}
	objs := []map[string]any{
		good("ok"),
		with("http", func(s map[string]any) { s["url"] = "http://provider.svc/x" }),
		with("nourl", func(s map[string]any) { delete(s, "url") }),
		with("slow", func(s map[string]any) { s["timeout"] = int64(31) }),
		with("negative", func(s map[string]any) { s["timeout"] = int64(-1) }),
		with("fraction", func(s map[string]any) { s["timeout"] = 1.5 }),
		with("notbase64", func(s map[string]any) { s["caBundle"] = "%%%" }),
		with("nopem", func(s map[string]any) { s["caBundle"] = base64.StdEncoding.EncodeToString([]byte("hello")) }),
		with("noca", func(s map[string]any) { delete(s, "caBundle") }),
		with("insecure", func(s map[string]any) { s["insecureTLSSkipVerify"] = true }),
		{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{}, "spec": map[string]any{}},
		good("ok"),
		with("defaulted", func(s map[string]any) { delete(s, "timeout") }),
	}
	c, err := externaldata.New()
	if err != nil {
		t.Fatal(err)
	}
	errs := c.SetProviders(objs)
	root := func(name string) *field.Path { return field.NewPath("Provider").Key(name).Child("spec") }
	want := field.ErrorList{
		field.Invalid(root("http").Child("url"), "http://provider.svc/x", "only the https scheme is supported"),
		field.Required(root("nourl").Child("url"), "the provider's HTTPS endpoint"),
		field.Invalid(root("slow").Child("timeout"), int64(31), "must be at most 30 seconds"),
		field.Invalid(root("negative").Child("timeout"), int64(-1), "must not be negative"),
		field.Invalid(root("fraction").Child("timeout"), 1.5, "must be a whole number of seconds"),
		field.Invalid(root("notbase64").Child("caBundle"), "<caBundle>", "is not valid base64: illegal base64 data at input byte 0"),
		field.Invalid(root("nopem").Child("caBundle"), "<caBundle>", "holds no PEM certificate"),
		field.Required(root("noca").Child("caBundle"), "the base64-encoded PEM certificates of the CAs that sign the provider's certificate"),
		field.Forbidden(root("insecure").Child("insecureTLSSkipVerify"), "certificate verification cannot be disabled"),
		field.NotSupported(field.NewPath("providers").Index(10).Child("apiVersion"), "v1", []string{"externaldata.gatekeeper.sh/v1beta1", "externaldata.gatekeeper.sh/v1alpha1"}),
		field.NotSupported(field.NewPath("providers").Index(10).Child("kind"), "ConfigMap", []string{"Provider"}),
		field.Required(field.NewPath("providers").Index(10).Child("metadata", "name"), ""),
		field.Required(field.NewPath("providers").Index(10).Child("spec", "url"), "the provider's HTTPS endpoint"),
		field.Required(field.NewPath("providers").Index(10).Child("spec", "caBundle"), "the base64-encoded PEM certificates of the CAs that sign the provider's certificate"),
		field.Duplicate(field.NewPath("Provider").Key("ok").Child("metadata", "name"), "ok"),
	}
	if diff := cmp.Diff(want, errs); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"defaulted", "ok"}, c.Providers()); diff != "" {
		t.Errorf("providers (-want +got):\n%s", diff)
	}
}

func TestOptions(t *testing.T) {
	for name, opt := range map[string]externaldata.Option{
		"negative TTL":        externaldata.WithCacheTTL(-1),
		"negative error TTL":  externaldata.WithErrorCacheTTL(-1),
		"zero response limit": externaldata.WithMaxResponseBytes(0),
		"zero concurrency":    externaldata.WithMaxConcurrency(0),
		"zero cache size":     externaldata.WithMaxCacheEntries(0),
		"nil certificate":     externaldata.WithClientCertificate(nil),
		"nil clock":           externaldata.WithClock(nil),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := externaldata.New(opt); err == nil {
				t.Error("New accepted an invalid option")
			}
		})
	}
}

func TestTooManyKeys(t *testing.T) {
	srv := newServer(t, newCA(t, "ca"), echo)
	c := newClient(t, []map[string]any{srv.provider("p", nil)})
	if _, err := c.ExternalData(context.Background(), "p", make([]string, externaldata.MaxKeys+1)); err == nil {
		t.Error("no error for too many keys")
	}
}
