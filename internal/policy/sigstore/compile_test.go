package sigstore_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/policy/sigstore"
)

// TestCompileErrors checks that bad policies are reported with the full
// path of each problem, every problem at once, and that such a policy
// still exists and evaluates to an error.
func TestCompileErrors(t *testing.T) {
	const root = "test.yaml[ClusterImagePolicy/bad]"
	header := "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata:\n  name: bad\n"
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{
			name: "no images, no authorities, bad mode",
			doc:  header + "spec:\n  mode: audit\n",
			want: []string{
				root + ".spec.images: Required value",
				root + ".spec.authorities: Required value: a policy needs at least one authority",
				root + `.spec.mode: Unsupported value: "audit": supported values: "enforce", "warn"`,
			},
		},
		{
			name: "bad globs",
			doc:  header + "spec:\n  images: [{glob: \"ghcr.io/app@sha256:x\"}, {glob: \"\"}, {glob: \"[\"}]\n  authorities: [{static: {action: pass}}]\n",
			want: []string{
				root + `.spec.images[0].glob: Invalid value: "ghcr.io/app@sha256:x": glob is invalid: invalid glob "ghcr.io/app@sha256:x"`,
				root + ".spec.images[1].glob: Required value",
				root + `.spec.images[2].glob: Invalid value: "[": glob is invalid: syntax error in pattern`,
			},
		},
		{
			name: "authorities",
			doc: header + `spec:
  images: [{glob: "**"}]
  authorities:
  - {}
  - {key: {data: x}, static: {action: pass}}
  - {static: {action: maybe}, ctlog: {url: "https://rekor.example.com"}}
  - {key: {kms: "awskms:///alias/x"}}
  - keyless:
      identities: [{issuer: a, issuerRegExp: b}, {subjectRegExp: "(", issuer: x}]
      trustRootRef: missing
    signatureFormat: v2
  - {keyless: {url: "https://fulcio.example.com"}, source: [{oci: "UPPER/Case", signaturePullSecrets: [{name: ""}]}]}
`,
			want: []string{
				root + ".spec.authorities[0]: Required value: expected exactly one, got neither: key, keyless, rfc3161timestamp, static",
				root + ".spec.authorities[1]: Invalid value: expected exactly one, got both: key, keyless, rfc3161timestamp, static",
				root + `.spec.authorities[2].static.action: Unsupported value: "maybe": supported values: "fail", "pass"`,
				root + ".spec.authorities[2].ctlog: Forbidden: not allowed with static",
				root + `.spec.authorities[3].key.kms: Invalid value: "awskms:///alias/x": KMS keys are not supported: put the public key in data`,
				root + `.spec.authorities[4].signatureFormat: Unsupported value: "v2": supported values: "legacy", "bundle"`,
				root + ".spec.authorities[4].keyless.identities[0]: Invalid value: expected exactly one, got both: issuer, issuerRegExp",
				root + ".spec.authorities[4].keyless.identities[0].subject: Required value: subject or subjectRegExp",
				root + `.spec.authorities[4].keyless.identities[1].subjectRegExp: Invalid value: "(": regex is invalid: error parsing regexp: missing closing ): ` + "`(`",
				root + `.spec.authorities[4].keyless.trustRootRef: Not found: "missing"`,
				root + ".spec.authorities[5].keyless.identities: Required value",
				root + `.spec.authorities[5].source[0].oci: Invalid value: "UPPER/Case": repository can only contain the characters ` + "`abcdefghijklmnopqrstuvwxyz0123456789_-./`: UPPER/Case",
				root + ".spec.authorities[5].source[0].signaturePullSecrets[0].name: Required value",
			},
		},
		{
			name: "policies",
			doc: header + `spec:
  images: [{glob: "**"}]
  authorities:
  - static: {action: pass}
  - keyless:
      url: https://fulcio.example.com
      identities: [{issuer: a, subject: b}]
    attestations:
    - {name: a, predicateType: nonsense, policy: {type: rego, data: "package sigstore", fetchConfigFile: true}}
    - {name: a, predicateType: "https://slsa.dev/provenance/v1", policy: {type: python, data: "x"}}
  policy:
    type: rego
    data: |
      package sigstore
      isCompliant {
`,
			want: []string{
				root + `.spec.authorities[1].attestations[0].predicateType: Invalid value: "nonsense": unsupported predicate type`,
				root + ".spec.authorities[1].attestations[0].policy.fetchConfigFile: Forbidden: only allowed in spec.policy",
				root + ".spec.authorities[1].attestations[1].name: Duplicate value: \"a\"",
				root + `.spec.authorities[1].attestations[1].policy.type: Unsupported value: "python": supported values: "cue", "rego"`,
				root + ".spec.policy.data: Invalid value: sigstore.rego:3: rego_parse_error: unexpected eof token",
			},
		},
		{
			name: "unknown fields and wrong types",
			doc:  header + "spec:\n  images: [{glob: \"**\", regex: \".*\"}]\n  authorities: [{static: {action: pass}}, {name: 7, static: {action: pass}}]\n",
			want: []string{
				root + `.spec.authorities[1].name: Invalid value: must be a string, not number`,
			},
		},
		{
			name: "unknown field",
			doc:  header + "spec:\n  images: [{glob: \"**\", regex: \".*\"}]\n  authorities: [{static: {action: pass}}]\n",
			want: []string{
				root + `.spec.images[0].regex: Forbidden: unknown field`,
			},
		},
		{
			name: "unsupported version",
			doc:  "apiVersion: policy.sigstore.dev/v1\nkind: ClusterImagePolicy\nmetadata:\n  name: bad\nspec: {}\n",
			want: []string{
				`test.yaml[ClusterImagePolicy/bad].apiVersion: Unsupported value: "policy.sigstore.dev/v1": supported values: "policy.sigstore.dev/v1alpha1", "policy.sigstore.dev/v1beta1"`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set, errs := engine.New(sigstore.New()).Compile(docs(t, tc.doc))
			if diff := cmp.Diff(tc.want, errorStrings(errs)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			// The policy still exists (with the controller policy) and
			// fails closed on the images it may match.
			if set.Len() != 2 {
				t.Fatalf("%d policies, want 2", set.Len())
			}
			res := set.Evaluate(t.Context(), request(pod("ghcr.io/app@"+digestOf('a'))), engine.Cluster{})
			var verdicts []engine.Verdict
			for _, r := range res.Rules {
				verdicts = append(verdicts, r.Verdict)
			}
			if diff := cmp.Diff([]engine.Verdict{engine.Error}, verdicts); diff != "" {
				t.Errorf("verdicts (-want +got):\n%s", diff)
			}
		})
	}
}
