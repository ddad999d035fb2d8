package localcluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// probeTimeout bounds one readiness request.
const probeTimeout = 5 * time.Second

// maxProbeBody bounds how much of a probe's response is read.
const maxProbeBody = 4 << 10

// prober asks etcd and the apiserver whether they are ready. It never uses
// a proxy: the cluster is on loopback.
type prober struct {
	transport *http.Transport
	client    *http.Client
	token     string
}

func newProber(caCert []byte, token string) (*prober, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caCert) {
		return nil, errors.New("failed to load the generated CA certificate")
	}
	transport := &http.Transport{
		Proxy:           nil,
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	}
	return &prober{
		transport: transport,
		client:    &http.Client{Transport: transport, Timeout: probeTimeout},
		token:     token,
	}, nil
}

// close releases the prober's idle connections.
func (p *prober) close() { p.transport.CloseIdleConnections() }

// etcdHealthy checks etcd's /health endpoint.
func (p *prober) etcdHealthy(ctx context.Context, etcdURL string) error {
	body, err := p.get(ctx, etcdURL+"/health", false)
	if err != nil {
		return err
	}
	if !bytes.Contains(body, []byte(`"health":"true"`)) {
		return fmt.Errorf("etcd is unhealthy: %s", body)
	}
	return nil
}

// apiserverReady checks the apiserver's /readyz endpoint with the token.
func (p *prober) apiserverReady(ctx context.Context, server string) error {
	_, err := p.get(ctx, server+"/readyz", true)
	return err
}

// get returns the body of a 200 response to GET url.
func (p *prober) get(ctx context.Context, url string, withToken bool) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if withToken {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxProbeBody))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(body))
	}
	return body, nil
}

// readyPollInterval is how often waitReady probes.
const readyPollInterval = 250 * time.Millisecond

// waitReady polls check until it succeeds, p exits, ctx is done or timeout
// passes.
func waitReady(ctx context.Context, timeout time.Duration, p *process, check func(context.Context) error) error {
	deadline, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ticker := time.NewTicker(readyPollInterval)
	defer ticker.Stop()
	for {
		last := check(deadline)
		if last == nil {
			return nil
		}
		select {
		case <-p.exited:
			return p.exitError()
		case <-deadline.Done():
			if ctx.Err() != nil {
				return fmt.Errorf("%s did not become ready: %w", p.name, ctx.Err())
			}
			return fmt.Errorf("%s not ready after %v (last probe: %v); last lines of %s:\n%s",
				p.name, timeout, last, p.logPath, logTail(p.logPath, 20))
		case <-ticker.C:
		}
	}
}
