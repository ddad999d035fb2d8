package sigstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/image/signature"
	"github.com/portcullis-dev/portcullis/internal/image/signature/signaturetest"
	"github.com/portcullis-dev/portcullis/internal/policy/sigstore"
)

func cuePolicy(body string) string {
	var b strings.Builder
	b.WriteString("apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata:\n  name: cue\nspec:\n")
	b.WriteString("  images: [{glob: \"ghcr.io/**\"}]\n  authorities: [{static: {action: pass}}]\n")
	b.WriteString("  policy:\n    type: cue\n    data: |\n")
	for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
		b.WriteString("      " + line + "\n")
	}
	return b.String()
}

// TestCue checks ClusterImagePolicy-level and attestation CUE policies:
// the input must unify with the policy.
func TestCue(t *testing.T) {
	e := newEnv(t)
	img := "ghcr.io/team/app@" + digestOf('a')
	head := "validation failed: " + img +
		" failed evaluating cue policy for ClusterImagePolicy: failed to evaluate the policy with error: "
	tests := []struct {
		name, body, want string
	}{
		{name: "unifies", body: `authorityMatches: "authority-0": static: true`},
		{name: "conflict", body: `authorityMatches: "authority-0": static: false`,
			want: head + `authorityMatches."authority-0".static: conflicting values true and false`},
		// Like policy-controller, values need not be concrete.
		{name: "incomplete", body: "authorityMatches: \"authority-0\": static: true\nconfig: string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, res := evaluate(t, compile(t, cuePolicy(tc.body)), request(pod(img)), e.cluster())
			assertFailures(t, res)
			var wantWhere []string
			if tc.want != "" {
				wantWhere = []string{"cue spec.containers[0].image"}
			}
			if diff := cmp.Diff(wantWhere, where(res)); diff != "" {
				t.Errorf("failing policies and paths (-want +got):\n%s", diff)
			}
			switch {
			case tc.want == "" && got.Denial != "":
				t.Errorf("denied: %q", got.Denial)
			case tc.want != "" && !strings.HasPrefix(got.Denial, tc.want):
				t.Errorf("denial = %q, want prefix %q", got.Denial, tc.want)
			}
		})
	}

	// CUE cannot be interrupted: an evaluation past its deadline is
	// abandoned, and the result is an error for the failure policy to
	// decide on, not a verdict. (This list comprehension is quadratic in
	// CUE: 40,000 elements take seconds.)
	t.Run("past its deadline", func(t *testing.T) {
		slow := cuePolicy(`import "list"
authorityMatches: "authority-0": static: bool
_n: [if authorityMatches["authority-0"].static {40000}, 0][0]
x: [for i in list.Range(0, _n, 1) {i}]`)
		set := compile(t, slow)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		req := request(pod(img))
		req.Phase = engine.PhaseValidate
		res := set.Evaluate(ctx, req, e.cluster())
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("evaluation took %s, past its 200ms deadline", took)
		}
		if len(res.Rules) == 0 {
			t.Fatal("no results")
		}
		r := res.Rules[0]
		want := img + " failed evaluating cue policy for ClusterImagePolicy: the cue policy did not finish: context deadline exceeded"
		if r.Policy.Name != "cue" || r.Verdict != engine.Error || r.Message != want {
			t.Errorf("result %s %s %q, want an error %q", r.Policy, r.Verdict, r.Message, want)
		}
	})

	// CUE evaluates as it compiles: a policy that computes for too long
	// does not compile (after DefaultEvalTimeout, 5 s; 200 ms here).
	t.Run("too slow to compile", func(t *testing.T) {
		defer sigstore.SetCueCompileTimeout(200 * time.Millisecond)()
		_, errs := compileErrs(t, cuePolicy(`import "list"
x: [for i in list.Range(0, 40000, 1) {i}]`))
		if len(errs) != 1 || !strings.HasSuffix(errs[0], "spec.policy.data: Invalid value: the cue policy did not finish: context deadline exceeded") {
			t.Errorf("errors = %q", errs)
		}
	})

	t.Run("bad policy", func(t *testing.T) {
		_, errs := compileErrs(t, cuePolicy("authorityMatches: {"))
		if len(errs) != 1 || !strings.HasPrefix(errs[0], "test.yaml[ClusterImagePolicy/cue].spec.policy.data: Invalid value: failed to compile the cue policy with error: ") {
			t.Errorf("errors = %q", errs)
		}
	})

	t.Run("attestation", func(t *testing.T) {
		ss := signaturetest.NewSigstore(t)
		good := e.reg.PushRandom(t, "team/sbom", "v1")
		ss.AttestLegacy(t, e.reg, good, "ci@example.com", "https://issuer.example.com", "https://spdx.dev/Document", map[string]any{"spdxVersion": "SPDX-2.3"})
		old := e.reg.PushRandom(t, "team/oldsbom", "v1")
		ss.AttestLegacy(t, e.reg, old, "ci@example.com", "https://issuer.example.com", "https://spdx.dev/Document", map[string]any{"spdxVersion": "SPDX-2.2"})
		set := compile(t, `apiVersion: policy.sigstore.dev/v1alpha1
kind: ClusterImagePolicy
metadata:
  name: sbom
spec:
  images: [{glob: "ghcr.io/team/**"}]
  authorities:
  - keyless:
      url: https://fulcio.example.com
      insecureIgnoreSCT: true
      identities: [{issuer: "https://issuer.example.com", subject: "ci@example.com"}]
    attestations:
    - name: must-have-spdxjson
      predicateType: spdxjson
      policy:
        type: cue
        data: |
          predicateType: "https://spdx.dev/Document"
          predicate: spdxVersion: "SPDX-2.3"
`, sigstore.WithSignatureOptions(signature.Options{DefaultRoot: ss.TrustedRoot()}))
		name := "ghcr.io/team/sbom@" + good.Digest
		if got, _ := evaluate(t, set, request(pod(name)), e.cluster()); got.Denial != "" {
			t.Errorf("denied: %q", got.Denial)
		}
		name = "ghcr.io/team/oldsbom@" + old.Digest
		want := "validation failed: " + name +
			" failed evaluating cue policy for must-have-spdxjson: failed to evaluate the policy with error: predicate.spdxVersion: conflicting values \"SPDX-2.2\" and \"SPDX-2.3\""
		got, res := evaluate(t, set, request(pod(name)), e.cluster())
		if !strings.HasPrefix(got.Denial, want) {
			t.Errorf("denial = %q, want prefix %q", got.Denial, want)
		}
		if diff := cmp.Diff([]string{"sbom spec.containers[0].image"}, where(res)); diff != "" {
			t.Errorf("failing policies and paths (-want +got):\n%s", diff)
		}
	})
}
