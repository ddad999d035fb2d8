package ratify

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"sigs.k8s.io/yaml"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/image/signature"
)

// FuzzCompile checks that no document makes Compile panic, and that every
// document yields its policy or a compile error.
func FuzzCompile(f *testing.F) {
	for _, name := range []string{"ratify-verifier-cosign-chainguard.yaml", "ratify-policy.yaml"} {
		data, err := os.ReadFile(filepath.Join(seeds, name))
		if err != nil {
			f.Fatal(err)
		}
		js, err := yaml.YAMLToJSON(data)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(js)
	}
	f.Add([]byte(`{"apiVersion":"config.ratify.deislabs.io/v1beta1","kind":"Verifier","metadata":{"name":"v"},"spec":{"name":"cosign","artifactTypes":"*","parameters":{"trustPolicies":[{"name":"a","scopes":["*"],"keys":[{"provider":"k"}]}]}}}`))
	f.Add([]byte(`{"apiVersion":"config.ratify.deislabs.io/v1beta1","kind":"KeyManagementProvider","metadata":{"name":"k"},"spec":{"type":"inline","parameters":{"contentType":"key","value":"-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----\n"}}}`))
	f.Add([]byte(`{"apiVersion":"config.ratify.deislabs.io/v1alpha1","kind":"Policy","metadata":{"name":"configpolicy"},"spec":{"parameters":{"artifactVerificationPolicies":{"default":"all"}}}}`))
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		f.Fatal(err)
	}
	d := New(WithSignatureOptions(signature.Options{DefaultRoot: vs}))
	f.Fuzz(func(t *testing.T, data []byte) {
		var doc engine.Document
		doc.Source = "fuzz.yaml"
		objs := docsOrNil(data)
		if objs == nil {
			return
		}
		doc.Object = objs
		policies, errs := d.Compile([]engine.Document{doc})
		if len(policies) == 0 && len(errs) == 0 {
			t.Fatalf("no policy and no error for %s", data)
		}
	})
}

// docsOrNil decodes JSON or YAML into an object of the dialect's group, or
// returns nil.
func docsOrNil(data []byte) map[string]any {
	var obj map[string]any
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil
	}
	apiVersion, _ := obj["apiVersion"].(string)
	if len(apiVersion) < len(Group) || apiVersion[:len(Group)] != Group {
		return nil
	}
	return obj
}

// FuzzParseKey checks that no key makes parsing panic and that a parsed
// key's normalized form parses to itself.
func FuzzParseKey(f *testing.F) {
	for _, k := range []string{"nginx", "nginx:1.27", "[ns]ghcr.io/a/b:v1", "localhost:5000/x:y", "docker.io/library/nginx:latest@sha256:7150b3a39203cb5bee612ff4a9d18774f8c7caf6399d6e8985e97e28eb751c18"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		s, err := parseKey(key)
		if err != nil {
			return
		}
		again, err := parseSubject(s.original)
		if err != nil {
			t.Fatalf("%q normalizes to %q, which does not parse: %v", key, s.original, err)
		}
		if again.original != s.original {
			t.Fatalf("%q normalizes to %q, then to %q", key, s.original, again.original)
		}
	})
}
