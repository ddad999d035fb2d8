package ratify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"sigs.k8s.io/yaml"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/image/signature"
)

var seeds = filepath.Join("..", "..", "..", "..", "shared", "seeds", "policies")

// publicKeyPEM returns a fresh ECDSA P-256 public key in PEM.
func publicKeyPEM(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// newDialect returns a dialect whose default trust root is a fresh
// VirtualSigstore, which it also returns.
func newDialect(t *testing.T, opts ...Option) (*Dialect, *ca.VirtualSigstore) {
	t.Helper()
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	return New(append([]Option{WithSignatureOptions(signature.Options{DefaultRoot: vs})}, opts...)...), vs
}

// docs decodes multi-document YAML into engine documents named source.
func docs(t *testing.T, source, y string) []engine.Document {
	t.Helper()
	var out []engine.Document
	for _, part := range strings.Split(y, "\n---\n") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(part), &obj); err != nil {
			t.Fatalf("%s: %v", source, err)
		}
		out = append(out, engine.Document{Source: source, Object: obj})
	}
	return out
}

func seedDocs(t *testing.T, files ...string) []engine.Document {
	t.Helper()
	var out []engine.Document
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(seeds, f))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, docs(t, f, string(data))...)
	}
	return out
}

func TestCompileSeed(t *testing.T) {
	d, _ := newDialect(t)
	policies, errs := d.Compile(seedDocs(t, "ratify-verifier-cosign-chainguard.yaml", "ratify-policy.yaml"))
	if len(errs) > 0 {
		t.Fatalf("compile errors: %v", errs)
	}
	var refs []string
	for _, p := range policies {
		refs = append(refs, p.Ref().String())
	}
	want := []string{"Verifier/verifier-cosign-chainguard", "Policy/ratify-policy", "Provider/ratify-provider", "MutationProvider/ratify-mutation-provider"}
	if diff := cmp.Diff(want, refs); diff != "" {
		t.Errorf("policies (-want +got):\n%s", diff)
	}
	pr, ok := policies[2].(engine.Provider)
	if !ok || pr.ProviderName() != ProviderName {
		t.Fatalf("policy 2 is not the %s provider", ProviderName)
	}
	p := pr.(*provider)
	if len(p.verifiers) != 1 || p.policy == nil {
		t.Fatalf("provider has %d verifiers and policy %v", len(p.verifiers), p.policy)
	}
	v := p.verifiers[0]
	if diff := cmp.Diff([]string{ArtifactTypeCosignSignature}, v.artifactTypes); diff != "" {
		t.Errorf("artifact types (-want +got):\n%s", diff)
	}
	if tp := v.scoped("cgr.dev/chainguard/nginx:latest"); tp == nil || tp.name != "chainguard-public" {
		t.Errorf("cgr.dev/chainguard/nginx is not in the chainguard-public scope")
	}
	if tp := v.scoped("docker.io/library/nginx:latest"); tp != nil {
		t.Errorf("docker.io/library/nginx is in scope %q", tp.name)
	}
	// Per-document policies and the provider match no request.
	for _, pol := range policies[:3] {
		if ts := pol.(engine.Targeter).Targets(); len(ts) != 0 {
			t.Errorf("%s has targets %v", pol.Ref(), ts)
		}
		if out := pol.Evaluate(context.Background(), &engine.Request{}, engine.Cluster{}); len(out.Rules) != 0 || out.Object != nil {
			t.Errorf("%s evaluated to %+v", pol.Ref(), out)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	const policy = `apiVersion: config.ratify.deislabs.io/v1beta1
kind: Policy
metadata: {name: ratify-policy}
spec: {type: config-policy}
`
	tests := []struct {
		name     string
		yaml     string
		keyFiles bool
		want     []string
	}{{
		name: "wrong type",
		yaml: `apiVersion: config.ratify.deislabs.io/v1beta1
kind: Verifier
metadata: {name: v}
spec:
  name: cosign
  artifactTypes: application/vnd.dev.cosign.artifact.sig.v1+json
  parameters:
    trustPolicies:
    - name: p
      scopes: "*"
      keyless: {certificateIdentity: a, certificateOIDCIssuer: b}`,
		want: []string{`t.yaml[Verifier/v].spec.parameters.trustPolicies.scopes: Invalid value: cannot use a string as []string`},
	}, {
		name: "notation verifier",
		yaml: `apiVersion: config.ratify.deislabs.io/v1beta1
kind: Verifier
metadata: {name: v}
spec: {name: notation, artifactTypes: application/vnd.cncf.notary.signature}`,
		want: []string{`t.yaml[Verifier/v].spec.name: Unsupported value: "notation": supported values: "cosign"`},
	}, {
		name: "trust policy rules",
		yaml: `apiVersion: config.ratify.deislabs.io/v1beta1
kind: Verifier
metadata: {name: v}
spec:
  type: cosign
  artifactTypes: application/vnd.dev.cosign.artifact.sig.v1+json
  parameters:
    trustPolicies:
    - name: a
      version: 2.0.0
      scopes: ["*", "x.io/*"]
      keys: [{provider: nope}]
    - name: b
      scopes: [ghcr.io/org/*, ghcr.io/org/app, "UPPER.io/x", ""]
      keyless: {certificateIdentity: a, certificateIdentityRegExp: b}
    - name: b
      scopes: [z.io]
      keys: [{file: /k.pub}]`,
		want: []string{
			`t.yaml[Verifier/v].spec.parameters.trustPolicies[0].version: Unsupported value: "2.0.0": supported values: "1.0.0"`,
			`t.yaml[Verifier/v].spec.parameters.trustPolicies[0].keys[0].provider: Not found: "nope"`,
			`t.yaml[Verifier/v].spec.parameters.trustPolicies[1].keyless.certificateOIDCIssuer: Required value: certificate OIDC issuer or issuer regex pattern is required`,
			`t.yaml[Verifier/v].spec.parameters.trustPolicies[1].keyless.certificateIdentityRegExp: Forbidden: only one of certificate identity or identity regex pattern should be specified`,
			`t.yaml[Verifier/v].spec.parameters.trustPolicies[2].name: Duplicate value: "b"`,
			`t.yaml[Verifier/v].spec.parameters.trustPolicies[0].scopes: Invalid value: ["*","x.io/*"]: global wildcard character * cannot be used with other scopes within the same trust policy`,
			`t.yaml[Verifier/v].spec.parameters.trustPolicies[1].scopes[1]: Invalid value: "ghcr.io/org/app": overlapping scopes ghcr.io/org/app and ghcr.io/org/*`,
			`t.yaml[Verifier/v].spec.parameters.trustPolicies[1].scopes[2]: Invalid value: "UPPER.io/x": invalid scope: lower-case reference characters with at most one trailing *`,
			`t.yaml[Verifier/v].spec.parameters.trustPolicies[1].scopes[3]: Required value: scope defined is empty`,
		},
	}, {
		name: "key files need permission",
		yaml: `apiVersion: config.ratify.deislabs.io/v1beta1
kind: Verifier
metadata: {name: v}
spec:
  name: cosign
  artifactTypes: application/vnd.dev.cosign.artifact.sig.v1+json
  parameters:
    trustPolicies:
    - {name: a, scopes: ["*"], keys: [{file: /etc/k.pub}]}`,
		want: []string{`t.yaml[Verifier/v].spec.parameters.trustPolicies[0].keys[0].file: Invalid value: "/etc/k.pub": key files are not read here: put the key in an inline KeyManagementProvider`},
	}, {
		name:     "missing key file",
		keyFiles: true,
		yaml: `apiVersion: config.ratify.deislabs.io/v1beta1
kind: Verifier
metadata: {name: v}
spec:
  name: cosign
  artifactTypes: application/vnd.dev.cosign.artifact.sig.v1+json
  parameters: {key: /nonexistent/k.pub}`,
		want: []string{`t.yaml[Verifier/v].spec.parameters.key: Invalid value: "/nonexistent/k.pub": failed to load key from file /nonexistent/k.pub: open /nonexistent/k.pub: no such file or directory`},
	}, {
		name: "legacy and trust policies",
		yaml: `apiVersion: config.ratify.deislabs.io/v1beta1
kind: Verifier
metadata: {name: v}
spec:
  name: cosign
  artifactTypes: application/vnd.dev.cosign.artifact.sig.v1+json
  parameters:
    rekorURL: https://rekor.sigstore.dev
    trustPolicies: [{name: a, scopes: ["*"], keyless: {certificateIdentity: a, certificateOIDCIssuer: b}}]`,
		want: []string{"t.yaml[Verifier/v].spec.parameters.trustPolicies: Forbidden: 'key' and 'rekorURL' are part of cosign legacy configuration and cannot be used with `trustPolicies`"},
	}, {
		name: "key management providers",
		yaml: `apiVersion: config.ratify.deislabs.io/v1beta1
kind: KeyManagementProvider
metadata: {name: akv}
spec: {type: azurekeyvault, parameters: {vaultURI: x}}
---
apiVersion: config.ratify.deislabs.io/v1beta1
kind: KeyManagementProvider
metadata: {name: bad}
spec: {type: inline, parameters: {contentType: key, value: "not a key"}}
---
apiVersion: config.ratify.deislabs.io/v1beta1
kind: Verifier
metadata: {name: v}
spec:
  name: cosign
  artifactTypes: application/vnd.dev.cosign.artifact.sig.v1+json
  parameters:
    trustPolicies: [{name: a, scopes: ["*"], keys: [{provider: bad}, {provider: akv, name: k, version: "1"}]}]`,
		want: []string{
			`t.yaml[KeyManagementProvider/akv].spec.type: Unsupported value: "azurekeyvault": supported values: "inline"`,
			`t.yaml[KeyManagementProvider/bad].spec.parameters.value: Invalid value: "<PEM>": no PEM-encoded public key found`,
			`t.yaml[Verifier/v].spec.parameters.trustPolicies[0].keys[0].provider: Invalid value: "bad": the key management provider failed to load`,
			`t.yaml[Verifier/v].spec.parameters.trustPolicies[0].keys[1].provider: Invalid value: "akv": the key management provider failed to load`,
		},
	}, {
		name: "policies",
		yaml: `apiVersion: config.ratify.deislabs.io/v1beta1
kind: Policy
metadata: {name: other}
spec: {type: config-policy}
---
apiVersion: config.ratify.deislabs.io/v1beta1
kind: Policy
metadata: {name: ratify-policy}
spec:
  type: config-policy
  parameters:
    artifactVerificationPolicies: {"application/spdx+json": some, default: any}
---
apiVersion: config.ratify.deislabs.io/v1alpha1
kind: Policy
metadata: {name: regopolicy}
spec: {}`,
		want: []string{
			`t.yaml[Policy/other].metadata.name: Invalid value: "other": metadata.name must be ratify-policy, got other`,
			`t.yaml[Policy/ratify-policy].spec.parameters.artifactVerificationPolicies[application/spdx+json]: Unsupported value: "some": supported values: "any", "all"`,
			`t.yaml[Policy/regopolicy].metadata.name: Unsupported value: "regopolicy": supported values: "config-policy"`,
		},
	}, {
		name: "duplicate and missing names",
		yaml: policy + "---\n" + policy + `---
apiVersion: config.ratify.deislabs.io/v1beta1
kind: Store
metadata: {}
spec: {name: oras}`,
		want: []string{
			`t.yaml[Policy/ratify-policy].metadata.name: Duplicate value: "ratify-policy (also defined by t.yaml[Policy/ratify-policy])"`,
			`t.yaml[Store/].metadata.name: Required value`,
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []Option
			if tt.keyFiles {
				opts = append(opts, WithOSKeyFiles())
			}
			d, _ := newDialect(t, opts...)
			_, errs := d.Compile(docs(t, "t.yaml", tt.yaml))
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCompileKeys(t *testing.T) {
	testKey := publicKeyPEM(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "cosign.pub")
	if err := os.WriteFile(keyFile, []byte(testKey), 0o600); err != nil {
		t.Fatal(err)
	}
	y := `apiVersion: config.ratify.deislabs.io/v1beta1
kind: KeyManagementProvider
metadata: {name: inline-key}
spec:
  type: inline
  parameters:
    contentType: key
    value: |
` + indent(testKey, "      ") + `---
apiVersion: config.ratify.deislabs.io/v1beta1
kind: Verifier
metadata: {name: by-key}
spec:
  name: cosign
  artifactTypes: application/vnd.dev.cosign.artifact.sig.v1+json,application/vnd.dev.sigstore.bundle.v0.3+json
  parameters:
    trustPolicies:
    - {name: inline, scopes: ["registry.example/app"], keys: [{provider: inline-key}], tLogVerify: false}
    - {name: file, scopes: ["registry.example/team/*"], keys: [{file: ` + keyFile + `}], tLogVerify: false}
`
	d, _ := newDialect(t, WithOSKeyFiles())
	policies, errs := d.Compile(docs(t, "k.yaml", y))
	if len(errs) > 0 {
		t.Fatalf("compile errors: %v", errs)
	}
	p := policies[2].(*provider)
	v := p.verifiers[0]
	if got := len(v.policies); got != 2 {
		t.Fatalf("%d trust policies, want 2", got)
	}
	for _, tp := range v.policies {
		if len(tp.verifiers) != 2 {
			t.Errorf("trust policy %s has %d signature verifiers, want one per artifact type", tp.name, len(tp.verifiers))
		}
	}
	if p.policy != nil {
		t.Errorf("a policy is active without a Policy document")
	}
}

func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "")
}

func TestScopes(t *testing.T) {
	v := &verifier{policies: []*trustPolicy{
		{name: "global", scopes: []string{"*"}},
		{name: "org", scopes: []string{"ghcr.io/org/*", "docker.io/library/nginx:1.27"}},
	}}
	tests := []struct{ ref, want string }{
		{"ghcr.io/org/app@sha256:1", "org"},
		{"ghcr.io/org", "global"},
		{"docker.io/library/nginx:1.27", "org"},
		{"docker.io/library/nginx:1.28", "global"},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			tp := v.scoped(tt.ref)
			if tp == nil || tp.name != tt.want {
				t.Errorf("scoped(%q) = %v, want %s", tt.ref, tp, tt.want)
			}
		})
	}
	if tp := (&verifier{policies: v.policies[1:]}).scoped("quay.io/x"); tp != nil {
		t.Errorf("an out-of-scope reference got trust policy %s", tp.name)
	}
}

func TestOverall(t *testing.T) {
	const sig, sbom = ArtifactTypeCosignSignature, "application/spdx+json"
	r := func(at string, ok bool) Report { return Report{ArtifactType: at, IsSuccess: ok} }
	tests := []struct {
		name    string
		byType  map[string]string
		pass    bool
		reports []Report
		want    bool
	}{
		{"seed: any signature", map[string]string{sig: "any", "default": "any"}, false, []Report{r(sig, false), r(sig, true)}, true},
		{"seed: none valid", map[string]string{sig: "any", "default": "any"}, false, []Report{r(sig, false)}, false},
		{"named type missing", map[string]string{sig: "any", sbom: "any", "default": "any"}, false, []Report{r(sig, true)}, false},
		{"all: one failure", map[string]string{sig: "all", "default": "all"}, false, []Report{r(sig, true), r(sig, false)}, false},
		{"default all applies to other types", map[string]string{sig: "any", "default": "all"}, false, []Report{r(sig, true), r(sbom, false)}, false},
		{"default any", map[string]string{"default": "any"}, false, []Report{r(sbom, false), r(sbom, true)}, true},
		{"no reports", map[string]string{"default": "any"}, false, nil, false},
		{"passthrough", map[string]string{"default": "any"}, true, []Report{r(sig, true)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &configPolicy{byType: tt.byType, passthrough: tt.pass}
			if got := c.overall(tt.reports); got != tt.want {
				t.Errorf("overall = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseKey(t *testing.T) {
	tests := []struct {
		key, original, path, namespace, err string
	}{
		{key: "nginx", original: "docker.io/library/nginx:latest", path: "docker.io/library/nginx"},
		{key: "nginx:1.27", original: "docker.io/library/nginx:1.27", path: "docker.io/library/nginx"},
		{key: "index.docker.io/library/nginx:1.27", original: "docker.io/library/nginx:1.27", path: "docker.io/library/nginx"},
		{key: "docker.io/bitnami/redis@sha256:" + strings.Repeat("a", 64), original: "docker.io/bitnami/redis@sha256:" + strings.Repeat("a", 64), path: "docker.io/bitnami/redis"},
		{key: "cgr.dev/chainguard/nginx:latest@sha256:" + strings.Repeat("b", 64), original: "cgr.dev/chainguard/nginx@sha256:" + strings.Repeat("b", 64), path: "cgr.dev/chainguard/nginx"},
		{key: "localhost:5000/app", original: "localhost:5000/app:latest", path: "localhost:5000/app"},
		{key: "[team-a]ghcr.io/org/app:v1", original: "ghcr.io/org/app:v1", path: "ghcr.io/org/app", namespace: "team-a"},
		{key: "Nginx", err: "failed to parse subject reference: "},
		{key: "[team-a", err: "invalid request key: [team-a"},
		{key: "", err: "failed to parse subject reference: repository name must have at least one component"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			s, err := parseKey(tt.key)
			if tt.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
					t.Fatalf("error %v, want prefix %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := []string{s.original, s.path, s.namespace}
			if diff := cmp.Diff([]string{tt.original, tt.path, tt.namespace}, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
