package sigstore_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/portcullis-dev/portcullis/internal/admission"
	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/image/imagetest"
	"github.com/portcullis-dev/portcullis/internal/image/registry"
	"github.com/portcullis-dev/portcullis/internal/policy/sigstore"
)

// now is the fixed clock of the tests.
var now = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// mirrored are the public registries the tests' in-process registry stands
// in for, so that the seed policies and messages apply unchanged.
var mirrored = []string{"cgr.dev", "ghcr.io", "docker.io"}

// env is an in-process registry and a client that reaches it for the
// mirrored registries.
type env struct {
	reg    *imagetest.Registry
	client *registry.Client
}

func newEnv(t testing.TB, opts ...imagetest.Option) *env {
	t.Helper()
	reg := imagetest.NewRegistry(t, opts...)
	mirrors := map[string]string{}
	for _, m := range mirrored {
		mirrors[m] = reg.Host()
	}
	client, err := registry.New(registry.Options{
		Insecure:   []string{reg.Host()},
		Mirrors:    mirrors,
		Transport:  reg.Transport(),
		Timeout:    5 * time.Second,
		FailureTTL: time.Nanosecond,
	})
	if err != nil {
		t.Fatalf("registry client: %v", err)
	}
	return &env{reg: reg, client: client}
}

// push pushes a random image created at the given time as repo:tag and
// returns its digest.
func (e *env) push(t testing.TB, repo, tag string, created time.Time) string {
	t.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.CreatedAt(img, v1.Time{Time: created})
	if err != nil {
		t.Fatal(err)
	}
	return e.reg.PushImage(t, repo, tag, img).Digest
}

func (e *env) cluster() engine.Cluster { return engine.Cluster{Registry: e.client} }

// docs decodes YAML documents separated by "---".
func docs(t testing.TB, src string) []engine.Document {
	t.Helper()
	var out []engine.Document
	for i, part := range strings.Split(src, "\n---\n") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(part), &obj); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		out = append(out, engine.Document{Source: "test.yaml", Object: obj})
	}
	return out
}

// seed reads a seed policy unchanged.
func seed(t testing.TB, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "shared", "seeds", "policies", file))
	if err != nil {
		t.Fatalf("seed policy: %v", err)
	}
	return string(b)
}

// compile compiles documents and fails on compile errors.
func compile(t *testing.T, src string, opts ...sigstore.Option) *engine.Set {
	t.Helper()
	set, errs := engine.New(sigstore.New(opts...)).Compile(docs(t, src))
	if len(errs) > 0 {
		t.Fatalf("compile: %v", errs.ToAggregate())
	}
	return set
}

// labelled is a namespace enforced by policy-controller.
var labelled = map[string]any{"apiVersion": "v1", "kind": "Namespace",
	"metadata": map[string]any{"name": "default", "labels": map[string]any{sigstore.IncludeLabel: "true"}}}

// pod returns a Pod with one container per image.
func pod(images ...string) map[string]any {
	var containers []any
	for i, img := range images {
		containers = append(containers, map[string]any{"name": "c" + string(rune('0'+i)), "image": img})
	}
	return map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "p", "namespace": "default"},
		"spec":     map[string]any{"containers": containers},
	}
}

// request is a CREATE of obj in the labelled namespace, through both
// webhooks (mutating, then validating).
func request(obj map[string]any) engine.Request {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	return engine.Request{
		UID: "uid", Kind: schema.FromAPIVersionAndKind(apiVersion, kind), Namespace: "default", Name: "p",
		Operation: engine.Create, Object: obj, NamespaceObject: labelled,
	}
}

// verdict is what kubectl shows for a request: the denial message (empty
// when admitted) and the warnings.
type verdict struct {
	Denial   string
	Warnings []string
}

func evaluate(t *testing.T, set *engine.Set, req engine.Request, cluster engine.Cluster) (verdict, engine.Result) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res := set.Evaluate(ctx, req, cluster)
	f := admission.FormatFor(sigstore.DialectName, engine.PhaseValidate)
	var v verdict
	if denied := res.Denied(); len(denied) > 0 {
		v.Denial = f.Denial(nil, denied, res.Rules).Message
	}
	v.Warnings = append(f.Warnings(res.Rules), res.Warnings...)
	return v, res
}

// digestRef is repo@digest.
func digestRef(repo, digest string) string { return repo + "@" + digest }

// newEngine is an engine with the dialect's defaults.
func newEngine(opts ...sigstore.Option) *engine.Engine { return engine.New(sigstore.New(opts...)) }

// assertFailures checks that every result that is not a pass is a failure
// (a verdict), not an error: the webhook's failure policy must not decide
// on what a policy said.
func assertFailures(t *testing.T, res engine.Result) {
	t.Helper()
	for _, r := range res.Rules {
		if r.Verdict != engine.Pass && r.Verdict != engine.Fail {
			t.Errorf("verdict %s, want fail: %s", r.Verdict, r.Message)
		}
	}
}

// failure is a result that is not a pass, as the tests compare them: the
// policy's name, the rule (for a ClusterImagePolicy, the container paths
// joined by ", "; for the controller policy, the name of its rule) and the
// message kubectl shows.
type failure struct {
	Policy, Rule, Message string
}

// failures returns the results of res that are not passes, sorted by
// policy, rule and message.
func failures(res engine.Result) []failure {
	var out []failure
	for _, r := range res.Rules {
		if r.Verdict != engine.Pass {
			out = append(out, failure{Policy: r.Policy.Name, Rule: r.Rule, Message: r.Message})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Policy != b.Policy {
			return a.Policy < b.Policy
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		return a.Message < b.Message
	})
	return out
}

// where returns "POLICY RULE" for every result of res that is not a pass,
// sorted: which policies failed and where (the message itself is checked
// on the verdict).
func where(res engine.Result) []string {
	var out []string
	for _, f := range failures(res) {
		out = append(out, f.Policy+" "+f.Rule)
	}
	return out
}

// failedImages returns "POLICY RULE IMAGE" for every result of res that is
// not a pass, sorted, IMAGE being the result's "image" property: the
// controller policy's messages do not name the image, its results do.
func failedImages(res engine.Result) []string {
	var out []string
	for _, r := range res.Rules {
		if r.Verdict != engine.Pass {
			out = append(out, r.Policy.Name+" "+r.Rule+" "+r.Properties["image"])
		}
	}
	sort.Strings(out)
	return out
}
