package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/v1/types"
)

// opState travels in the context of one registry operation to the guard
// transport: the size limit of the answers, and what the guard refused.
type opState struct {
	limit  int64
	what   string // "manifest" or "blob"
	option string // the Options field that sets limit

	mu      sync.Mutex
	refused *InsecureError
}

type opStateKey struct{}

func withOpState(ctx context.Context, s *opState) context.Context {
	return context.WithValue(ctx, opStateKey{}, s)
}

func opStateFrom(ctx context.Context) *opState {
	s, _ := ctx.Value(opStateKey{}).(*opState)
	return s
}

func (s *opState) refusedHost() *InsecureError {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

// guard is the innermost transport of every request the Client sends. It
// refuses plain HTTP to registries not listed as insecure (also after
// redirects), counts round trips, bounds the size of every answer, and checks
// answers about a digest (manifests and blobs by digest) against that digest,
// so go-containerregistry never sees unbounded or substituted content.
type guard struct {
	base       http.RoundTripper
	insecure   map[string]bool
	allowAll   bool
	roundTrips *atomic.Int64
	// defaultState applies to requests without an opState (none in
	// practice: every operation sets one).
	defaultState *opState
}

func (g *guard) RoundTrip(req *http.Request) (*http.Response, error) {
	st := opStateFrom(req.Context())
	if st == nil {
		st = g.defaultState
	}
	host := strings.ToLower(req.URL.Host)
	if req.URL.Scheme != "https" && !g.allowAll && !g.insecure[host] {
		err := &InsecureError{Host: host}
		st.mu.Lock()
		st.refused = err
		st.mu.Unlock()
		return nil, err
	}
	g.roundTrips.Add(1)
	resp, err := g.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > st.limit {
		resp.Body.Close()
		return nil, &TooLargeError{What: st.what, Limit: st.limit, Option: st.option, Size: resp.ContentLength}
	}
	body := &boundedBody{rc: resp.Body, left: st.limit, st: st}
	resp.Body = body
	if resp.StatusCode != http.StatusOK || (req.Method != http.MethodGet && req.Method != http.MethodHead) {
		return resp, nil
	}

	kind, ident := target(req)
	if kind == "" {
		return resp, nil
	}
	claimed := resp.Header.Get("Docker-Content-Digest")
	want := ""
	switch {
	case isDigest(ident):
		want = ident
		if claimed != "" && claimed != want {
			resp.Body.Close()
			return nil, &DigestMismatchError{Want: want, Got: claimed}
		}
	case kind == "manifests" && isDigest(claimed) && !isSchema1(resp.Header.Get("Content-Type")):
		// A manifest by tag must hash to the digest the registry claims
		// for it.
		want = claimed
	}
	if want != "" && req.Method == http.MethodGet && strings.HasPrefix(want, "sha256:") {
		body.verify = &digestCheck{want: want, h: sha256.New()}
	}
	return resp, nil
}

// target returns "manifests" or "blobs" and the tag or digest of a registry
// API request, following redirects back to the request the client made.
func target(req *http.Request) (kind, ident string) {
	orig := req
	for orig.Response != nil && orig.Response.Request != nil {
		orig = orig.Response.Request
	}
	p := orig.URL.Path
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "", ""
	}
	j := strings.LastIndexByte(p[:i], '/')
	switch k := p[j+1 : i]; k {
	case "manifests", "blobs":
		return k, p[i+1:]
	}
	return "", ""
}

func isDigest(s string) bool {
	alg, hexPart, ok := strings.Cut(s, ":")
	if !ok || alg == "" || hexPart == "" {
		return false
	}
	_, err := hex.DecodeString(hexPart)
	return err == nil
}

func isSchema1(mediaType string) bool {
	mt := types.MediaType(strings.TrimSpace(strings.Split(mediaType, ";")[0]))
	return mt == types.DockerManifestSchema1 || mt == types.DockerManifestSchema1Signed
}

// boundedBody fails a read past the operation's size limit and, when set,
// checks the body's digest at its end.
type boundedBody struct {
	rc     io.ReadCloser
	left   int64
	st     *opState
	verify *digestCheck
}

type digestCheck struct {
	want string
	h    hash.Hash
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	if int64(n) > b.left {
		return 0, &TooLargeError{What: b.st.what, Limit: b.st.limit, Option: b.st.option, Size: -1}
	}
	b.left -= int64(n)
	if b.verify != nil {
		b.verify.h.Write(p[:n])
		if err == io.EOF {
			got := "sha256:" + hex.EncodeToString(b.verify.h.Sum(nil))
			if got != b.verify.want {
				return n, &DigestMismatchError{Want: b.verify.want, Got: got}
			}
		}
	}
	return n, err
}

func (b *boundedBody) Close() error { return b.rc.Close() }
