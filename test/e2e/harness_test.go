package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-dev/portcullis/internal/localcluster"
)

var (
	repo   = filepath.Join("..", "..")
	shared = filepath.Join(repo, "..", "shared")
)

// env is the shared state of the suite: one control plane and one
// portcullis binary; servers come and go.
type env struct {
	cluster *localcluster.Cluster
	bin     string
	workDir string
}

var suite *env

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		code = 1
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	if _, err := exec.LookPath("kubectl"); err != nil {
		return 1, fmt.Errorf("kubectl must be on the PATH: %w", err)
	}
	work, err := os.MkdirTemp("", "portcullis-e2e-")
	if err != nil {
		return 1, err
	}
	defer os.RemoveAll(work)
	bin := filepath.Join(work, "portcullis")
	build := exec.Command("go", "build", "-o", bin, "./cmd/portcullis")
	build.Dir = repo
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return 1, fmt.Errorf("building portcullis: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := localcluster.Start(ctx, localcluster.Options{Log: os.Stderr})
	if err != nil {
		return 1, err
	}
	defer c.Stop()
	suite = &env{cluster: c, bin: bin, workDir: work}
	if out, err := suite.kubectl("", "create", "namespace", "portcullis"); err != nil {
		return 1, fmt.Errorf("create namespace: %v: %s", err, out)
	}
	return m.Run(), nil
}

// kubectl runs kubectl against the cluster and returns its combined output.
func (e *env) kubectl(stdin string, args ...string) (string, error) {
	cmd := exec.Command("kubectl", append([]string{"--kubeconfig", e.cluster.Kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return strings.TrimSpace(out.String()), err
}

// mustKubectl fails the test when kubectl fails.
func mustKubectl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := suite.kubectl(stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// eventually retries f until it reports done or the timeout passes, and
// returns its last output.
func eventually(t *testing.T, timeout time.Duration, what string, f func() (string, bool)) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out, done := f()
		if done {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last output:\n%s", what, timeout, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// server is a running `portcullis serve` process.
type server struct {
	cmd  *exec.Cmd
	addr string
	log  *syncBuffer
	done chan struct{}
}

// startServer runs `portcullis serve --kubeconfig` in URL mode on a free
// loopback port and waits until it is ready.
func startServer(t *testing.T, addr string, extra ...string) *server {
	t.Helper()
	if addr == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = ln.Addr().String()
		ln.Close()
	}
	args := append([]string{"serve", "--kubeconfig", suite.cluster.Kubeconfig, "--addr", addr,
		"--webhook-url", "https://" + addr, "--namespace", "portcullis", "--leader-elect=false", "--log-format", "json"}, extra...)
	s := &server{cmd: exec.Command(suite.bin, args...), addr: addr, log: &syncBuffer{}, done: make(chan struct{})}
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	eventually(t, 60*time.Second, "portcullis ready", func() (string, bool) {
		select {
		case <-s.done:
			t.Fatalf("portcullis exited:\n%s", s.log.String())
		default:
		}
		resp, err := client.Get("https://" + addr + "/readyz")
		if err != nil {
			return err.Error(), false
		}
		resp.Body.Close()
		return resp.Status, resp.StatusCode == http.StatusOK
	})
	return s
}

// stop terminates the server and waits for it.
func (s *server) stop(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// logLines returns the server's log lines that contain s.
func (s *server) logLines(sub string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s.log.String()))
	for sc.Scan() {
		if strings.Contains(sc.Text(), sub) {
			out = append(out, sc.Text())
		}
	}
	return out
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
