// Package externaldata calls Gatekeeper external data providers
// (externaldata.gatekeeper.sh Provider objects) with the ProviderRequest /
// ProviderResponse protocol, for the external_data builtin of Gatekeeper
// policies. Client implements engine.ExternalDataProvider.
//
// Calls go over HTTPS only, verified against each provider's caBundle, with
// the provider's timeout, a response size limit, a bound on concurrent calls
// per provider, a per-key answer cache and coalescing of identical concurrent
// calls.
package externaldata

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portcullis-dev/portcullis/internal/engine"
)

// The protocol's identifiers.
const (
	APIVersion           = "externaldata.gatekeeper.sh/v1beta1"
	ProviderRequestKind  = "ProviderRequest"
	ProviderResponseKind = "ProviderResponse"
)

// Defaults of the options.
const (
	DefaultCacheTTL         = 3 * time.Minute // Gatekeeper's default response cache TTL
	DefaultErrorCacheTTL    = 10 * time.Second
	DefaultMaxResponseBytes = 4 << 20
	DefaultMaxConcurrency   = 16
	DefaultMaxCacheEntries  = 100_000
	// MaxKeys bounds the keys of one call.
	MaxKeys = 10_000
)

// ErrUnknownProvider is returned, wrapped with the provider's name, for a
// provider that is not configured.
var ErrUnknownProvider = errors.New("external data provider is not configured")

// StatusError reports a provider answer that is not a ProviderResponse and
// whose HTTP status is not 200.
type StatusError struct {
	Provider   string
	StatusCode int
}

// Error describes the status.
func (e *StatusError) Error() string {
	return fmt.Sprintf("external data provider %q answered HTTP %d %s", e.Provider, e.StatusCode, http.StatusText(e.StatusCode))
}

// config holds the options.
type config struct {
	cacheTTL, errorCacheTTL time.Duration
	maxResponseBytes        int64
	maxConcurrency          int
	maxCacheEntries         int
	clientCert              func() (*tls.Certificate, error)
	now                     func() time.Time
}

// Option configures a Client. An invalid option makes New fail.
type Option func(*config) error

// WithCacheTTL sets how long an answer for a key is reused, from responses
// that say they are idempotent. Zero disables the cache.
func WithCacheTTL(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("cache TTL %v is negative", d)
		}
		c.cacheTTL = d
		return nil
	}
}

// WithErrorCacheTTL sets how long an error the provider reported for a key
// is reused. It must not exceed the cache TTL; zero disables it.
func WithErrorCacheTTL(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("error cache TTL %v is negative", d)
		}
		c.errorCacheTTL = d
		return nil
	}
}

// WithMaxResponseBytes bounds the size of a provider's answer.
func WithMaxResponseBytes(n int64) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("response size limit %d is not positive", n)
		}
		c.maxResponseBytes = n
		return nil
	}
}

// WithMaxConcurrency bounds the calls in flight to one provider; further
// calls wait for a slot until their context ends.
func WithMaxConcurrency(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("concurrency limit %d is not positive", n)
		}
		c.maxConcurrency = n
		return nil
	}
}

// WithMaxCacheEntries bounds the number of cached answers.
func WithMaxCacheEntries(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("cache size limit %d is not positive", n)
		}
		c.maxCacheEntries = n
		return nil
	}
}

// WithClientCertificate presents a client certificate to providers that ask
// for one (mutual TLS). get is called for each TLS handshake, so it may
// return a rotated certificate; it must be safe for concurrent use.
func WithClientCertificate(get func() (*tls.Certificate, error)) Option {
	return func(c *config) error {
		if get == nil {
			return errors.New("client certificate source is nil")
		}
		c.clientCert = get
		return nil
	}
}

// WithClock sets the clock the cache reads; for tests.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return errors.New("clock is nil")
		}
		c.now = now
		return nil
	}
}

// Client calls external data providers. It is safe for concurrent use.
//
// Callers must still check what the answers mean: Client verifies the
// provider's identity and bounds the call, but the values are whatever the
// provider returned.
type Client struct {
	cfg       config
	providers atomic.Pointer[providerSet]
	cache     *cache
	flights   flightGroup
	mu        sync.Mutex // serializes SetProviders

	requests, cacheHits, cacheMisses atomic.Int64
}

var _ engine.ExternalDataProvider = (*Client)(nil)

// providerSet is an immutable snapshot of the configured providers.
type providerSet struct {
	byName map[string]*endpoint
}

// endpoint is a configured provider with its HTTP client.
type endpoint struct {
	*provider
	client *http.Client
	// slots bounds the calls in flight.
	slots chan struct{}
}

// New returns a Client with no providers.
func New(opts ...Option) (*Client, error) {
	cfg := config{
		cacheTTL:         DefaultCacheTTL,
		errorCacheTTL:    DefaultErrorCacheTTL,
		maxResponseBytes: DefaultMaxResponseBytes,
		maxConcurrency:   DefaultMaxConcurrency,
		maxCacheEntries:  DefaultMaxCacheEntries,
		now:              time.Now,
	}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("failed to configure the external data client: %w", err)
		}
	}
	if cfg.errorCacheTTL > cfg.cacheTTL {
		cfg.errorCacheTTL = cfg.cacheTTL
	}
	c := &Client{cfg: cfg, cache: newCache(cfg.maxCacheEntries)}
	c.providers.Store(&providerSet{byName: map[string]*endpoint{}})
	return c, nil
}

// SetProviders replaces the configured providers with the valid ones among
// objs (unstructured externaldata.gatekeeper.sh Provider objects) and returns
// the problems of the others, which are left out. A provider whose spec did
// not change keeps its connections and cached answers.
func (c *Client) SetProviders(objs []map[string]any) field.ErrorList {
	parsed, errs := parseProviders(objs)
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.providers.Load()
	next := &providerSet{byName: make(map[string]*endpoint, len(parsed))}
	for _, p := range parsed {
		if e, ok := old.byName[p.name]; ok && e.spec == p.spec {
			next.byName[p.name] = e
			continue
		}
		next.byName[p.name] = c.newEndpoint(p)
	}
	c.providers.Store(next)
	for name, e := range old.byName {
		if next.byName[name] != e {
			e.client.CloseIdleConnections()
		}
	}
	return errs
}

// Providers returns the names of the configured providers.
func (c *Client) Providers() []string {
	set := c.providers.Load()
	names := make([]string, 0, len(set.byName))
	for n := range set.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Close closes idle connections to every provider.
func (c *Client) Close() {
	for _, e := range c.providers.Load().byName {
		e.client.CloseIdleConnections()
	}
}

func (c *Client) newEndpoint(p *provider) *endpoint {
	tlsConfig := &tls.Config{
		MinVersion: tls.VersionTLS13,
		RootCAs:    p.roots,
	}
	if get := c.cfg.clientCert; get != nil {
		tlsConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			cert, err := get()
			if err != nil {
				return nil, fmt.Errorf("failed to load the client certificate: %w", err)
			}
			if cert == nil {
				return &tls.Certificate{}, nil
			}
			return cert, nil
		}
	}
	transport := &http.Transport{
		// Providers are reached directly, never through a proxy from the
		// environment.
		Proxy:                 nil,
		TLSClientConfig:       tlsConfig,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   c.cfg.maxConcurrency,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   p.timeout,
		ResponseHeaderTimeout: p.timeout,
	}
	return &endpoint{
		provider: p,
		client: &http.Client{
			Transport: transport,
			Timeout:   p.timeout,
			// A provider answers itself: following a redirect would reach
			// a host the Provider object does not name.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		slots: make(chan struct{}, c.cfg.maxConcurrency),
	}
}

// Stats are counters of a Client's activity.
type Stats struct {
	// Requests is the number of HTTP requests sent to providers.
	Requests int64
	// CacheHits and CacheMisses count keys answered from the cache and
	// keys that had to be asked.
	CacheHits, CacheMisses int64
}

// Stats returns the counters.
func (c *Client) Stats() Stats {
	return Stats{Requests: c.requests.Load(), CacheHits: c.cacheHits.Load(), CacheMisses: c.cacheMisses.Load()}
}

// ExternalData sends keys to the named provider and returns its answer, one
// item per distinct key it answered, in the order of keys (items for keys it
// was not asked follow in its order). Keys answered recently by an
// idempotent response come from the cache. StatusCode is the HTTP status of
// the provider's answer, 200 when every key came from the cache.
//
// A provider that is not configured, cannot be reached, times out, answers
// too much or does not answer a ProviderResponse with a non-200 status is an
// error. A ProviderResponse with a non-200 status is returned as it is, as
// Gatekeeper does.
func (c *Client) ExternalData(ctx context.Context, name string, keys []string) (engine.ExternalDataResponse, error) {
	e, ok := c.providers.Load().byName[name]
	if !ok {
		return engine.ExternalDataResponse{}, fmt.Errorf("%w: %q", ErrUnknownProvider, name)
	}
	if len(keys) > MaxKeys {
		return engine.ExternalDataResponse{}, fmt.Errorf("external data provider %q: %d keys, more than the limit of %d", name, len(keys), MaxKeys)
	}
	now := c.cfg.now()
	answered := make(map[string]engine.ExternalDataItem, len(keys))
	var missing []string
	asked := make(map[string]bool, len(keys))
	for _, k := range keys {
		if asked[k] {
			continue
		}
		asked[k] = true
		if item, ok := c.cache.get(e, k, now); ok {
			answered[k] = item
			c.cacheHits.Add(1)
			continue
		}
		missing = append(missing, k)
	}
	resp := engine.ExternalDataResponse{StatusCode: http.StatusOK}
	var extra []engine.ExternalDataItem
	if len(missing) > 0 {
		c.cacheMisses.Add(int64(len(missing)))
		fetched, err := c.fetchShared(ctx, e, missing)
		if err != nil {
			return engine.ExternalDataResponse{}, err
		}
		resp.StatusCode = fetched.status
		resp.SystemError = fetched.body.Response.SystemError
		for _, it := range fetched.items {
			if asked[it.Key] {
				if _, dup := answered[it.Key]; !dup {
					answered[it.Key] = it
				}
				continue
			}
			extra = append(extra, it)
		}
	}
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if it, ok := answered[k]; ok && !seen[k] {
			seen[k] = true
			resp.Items = append(resp.Items, it)
		}
	}
	resp.Items = append(resp.Items, extra...)
	return resp, nil
}

// fetchResult is one provider answer.
type fetchResult struct {
	status int
	body   providerResponse
	items  []engine.ExternalDataItem
}

// fetchShared asks the provider for keys, sharing one call among identical
// concurrent requests. The call runs under its own deadline (the provider's
// timeout), so one caller giving up does not fail the others; each caller
// stops waiting when its own context ends.
func (c *Client) fetchShared(ctx context.Context, e *endpoint, keys []string) (*fetchResult, error) {
	flightKey := e.name + "\x00" + e.spec + "\x00" + strings.Join(keys, "\x00")
	ch := c.flights.do(flightKey, func() (any, error) {
		callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.timeout)
		defer cancel()
		return c.fetch(callCtx, e, keys)
	})
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, r.err
		}
		return r.val.(*fetchResult), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("external data provider %q: %w", e.name, ctx.Err())
	}
}

// providerRequest and providerResponse are the protocol's messages.
type providerRequest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Request    struct {
		Keys []string `json:"keys"`
	} `json:"request"`
}

type providerResponse struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Response   struct {
		Idempotent  bool   `json:"idempotent"`
		SystemError string `json:"systemError"`
		Items       []struct {
			Key   any    `json:"key"`
			Value any    `json:"value"`
			Error string `json:"error"`
		} `json:"items"`
	} `json:"response"`
}

// decodeResponse decodes a ProviderResponse. Numbers in values decode as
// int64 or float64, as in Kubernetes objects; keys that are not strings are
// printed.
func decodeResponse(data []byte) (*fetchResult, error) {
	r := &fetchResult{}
	if err := utiljson.Unmarshal(data, &r.body); err != nil {
		return nil, err
	}
	for _, it := range r.body.Response.Items {
		key, ok := it.Key.(string)
		if !ok {
			key = fmt.Sprint(it.Key)
		}
		r.items = append(r.items, engine.ExternalDataItem{Key: key, Value: it.Value, Error: it.Error})
	}
	return r, nil
}

// fetch sends one ProviderRequest, within a slot of the provider.
func (c *Client) fetch(ctx context.Context, e *endpoint, keys []string) (*fetchResult, error) {
	select {
	case e.slots <- struct{}{}:
		defer func() { <-e.slots }()
	case <-ctx.Done():
		return nil, fmt.Errorf("external data provider %q: no free connection slot: %w", e.name, ctx.Err())
	}

	var reqBody providerRequest
	reqBody.APIVersion, reqBody.Kind, reqBody.Request.Keys = APIVersion, ProviderRequestKind, keys
	body, err := json.Marshal(reqBody)
	if err != nil {
		return nil, fmt.Errorf("failed to encode the request to external data provider %q: %w", e.name, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("failed to build the request to external data provider %q: %w", e.name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")

	c.requests.Add(1)
	httpResp, err := e.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("failed to call external data provider %q: %w", e.name, err)
	}
	defer httpResp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(httpResp.Body, c.cfg.maxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read the answer of external data provider %q: %w", e.name, err)
	}
	if int64(len(data)) > c.cfg.maxResponseBytes {
		return nil, fmt.Errorf("the answer of external data provider %q is larger than %d bytes", e.name, c.cfg.maxResponseBytes)
	}

	r, err := decodeResponse(data)
	if err != nil {
		if httpResp.StatusCode != http.StatusOK {
			return nil, &StatusError{Provider: e.name, StatusCode: httpResp.StatusCode}
		}
		return nil, fmt.Errorf("the answer of external data provider %q is not a ProviderResponse: %w", e.name, err)
	}
	r.status = httpResp.StatusCode
	if r.status == http.StatusOK && r.body.Response.SystemError == "" && r.body.Response.Idempotent {
		now := c.cfg.now()
		asked := make(map[string]bool, len(keys))
		for _, k := range keys {
			asked[k] = true
		}
		for _, it := range r.items {
			if !asked[it.Key] {
				continue
			}
			ttl := c.cfg.cacheTTL
			if it.Error != "" {
				ttl = c.cfg.errorCacheTTL
			}
			if ttl > 0 {
				c.cache.put(e, it, now, now.Add(ttl))
			}
		}
	}
	return r, nil
}
