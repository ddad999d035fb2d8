package ratify

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/image"
	"github.com/portcullis-dev/portcullis/internal/image/imagetest"
	"github.com/portcullis-dev/portcullis/internal/image/signature"
	"github.com/portcullis-dev/portcullis/internal/image/signature/signaturetest"
)

const (
	devSubject = "dev@example.com"
	devIssuer  = "https://issuer.example.com"
)

// providerOf compiles the Ratify documents y with the Sigstore's trust root
// and returns the verification provider.
func providerOf(t *testing.T, ss *signaturetest.Sigstore, y string, opts ...Option) *provider {
	t.Helper()
	d := New(append([]Option{WithSignatureOptions(signature.Options{DefaultRoot: ss.TrustedRoot()})}, opts...)...)
	policies, errs := d.Compile(docs(t, "ratify.yaml", y))
	if len(errs) > 0 {
		t.Fatalf("compile errors: %v", errs)
	}
	for _, p := range policies {
		if pr, ok := p.(*provider); ok {
			return pr
		}
	}
	t.Fatal("no provider")
	return nil
}

// ratifyConfig is a KeyManagementProvider with key, a Verifier with a
// keyless trust policy for host/team/* (ctLogVerify as given) and a key
// trust policy for host/keyed/*, and the Policy.
func ratifyConfig(host, key string, ctLogVerify bool, policyParams string) string {
	ct := "false"
	if ctLogVerify {
		ct = "true"
	}
	return `apiVersion: config.ratify.deislabs.io/v1beta1
kind: KeyManagementProvider
metadata: {name: team-key}
spec:
  type: inline
  parameters:
    contentType: key
    value: |
` + indent(key, "      ") + `---
apiVersion: config.ratify.deislabs.io/v1beta1
kind: Verifier
metadata: {name: verifier-cosign}
spec:
  name: cosign
  artifactTypes: application/vnd.dev.cosign.artifact.sig.v1+json,application/vnd.dev.sigstore.bundle.v0.3+json
  parameters:
    trustPolicies:
    - name: keyless
      scopes: ["` + host + `/team/*"]
      tLogVerify: true
      keyless:
        ctLogVerify: ` + ct + `
        certificateOIDCIssuer: ` + devIssuer + `
        certificateIdentity: ` + devSubject + `
    - name: keyed
      scopes: ["` + host + `/keyed/*"]
      tLogVerify: false
      keys: [{provider: team-key}]
---
apiVersion: config.ratify.deislabs.io/v1beta1
kind: Policy
metadata: {name: ratify-policy}
spec:
  type: config-policy
  parameters: ` + policyParams + `
`
}

// summary is the part of a result the tests compare: the decision and,
// per report, what the verifier said.
type summary struct {
	IsSuccess bool
	Reports   []reportSummary
}

type reportSummary struct {
	Subject, Verifier, ArtifactType, Message, TrustPolicy string
	IsSuccess                                             bool
	// Reason is the start of errorReason.
	Reason string
	// Checks are the isSuccess values of the per-signature checks.
	Checks []bool
}

func summarize(t *testing.T, v any) summary {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("value %T is not an object", v)
	}
	if m["version"] != VerificationResultVersion {
		t.Errorf("version %v", m["version"])
	}
	s := summary{IsSuccess: m["isSuccess"].(bool)}
	reports, _ := m["verifierReports"].([]any)
	for _, r := range reports {
		rm := r.(map[string]any)
		str := func(k string) string { v, _ := rm[k].(string); return v }
		if str("name") != str("verifierName") || str("type") != str("verifierType") {
			t.Errorf("name/verifierName or type/verifierType differ in %v", rm)
		}
		rs := reportSummary{
			Subject: str("subject"), Verifier: str("name"), ArtifactType: str("artifactType"),
			Message: str("message"), IsSuccess: rm["isSuccess"].(bool),
		}
		if reason := str("errorReason"); reason != "" {
			rs.Reason, _, _ = strings.Cut(reason, ":")
		}
		if ext, ok := rm["extensions"].(map[string]any); ok {
			rs.TrustPolicy, _ = ext["trustPolicy"].(string)
			sigs, _ := ext["signatures"].([]any)
			for _, sg := range sigs {
				for _, c := range sg.(map[string]any)["verifications"].([]any) {
					rs.Checks = append(rs.Checks, c.(map[string]any)["isSuccess"].(bool))
				}
			}
		}
		s.Reports = append(s.Reports, rs)
	}
	return s
}

func TestProvider(t *testing.T) {
	reg := imagetest.NewRegistry(t)
	host := reg.Host()
	ss := signaturetest.NewSigstore(t)
	key := signaturetest.GenerateKeyPair(t)

	legacy := reg.PushRandom(t, "team/legacy", "v1")
	ss.SignLegacy(t, reg, legacy, devSubject, devIssuer)
	bundled := reg.PushRandom(t, "team/bundled", "v1")
	ss.SignBundle(t, reg, bundled, devSubject, devIssuer)
	stranger := reg.PushRandom(t, "team/stranger", "v1")
	ss.SignLegacy(t, reg, stranger, "mallory@example.com", devIssuer)
	otherDigest := reg.PushRandom(t, "team/other-digest", "v1")
	ss.SignLegacy(t, reg, otherDigest, devSubject, devIssuer, signaturetest.ClaimDigest(legacy.Digest))
	noSCT := reg.PushRandom(t, "team/nosct", "v1")
	ss.SignLegacy(t, reg, noSCT, devSubject, devIssuer, signaturetest.WithoutSCT())
	unsigned := reg.PushRandom(t, "team/unsigned", "v1")
	outside := reg.PushRandom(t, "elsewhere/app", "v1")
	ss.SignLegacy(t, reg, outside, devSubject, devIssuer)
	keyed := reg.PushRandom(t, "keyed/app", "v1")
	signaturetest.CosignSign(t, keyed, key)
	wrongKey := reg.PushRandom(t, "keyed/wrong", "v1")
	signaturetest.CosignSign(t, wrongKey, signaturetest.GenerateKeyPair(t))

	p := providerOf(t, ss, ratifyConfig(host, key.PublicKeyPEM, false, `{artifactVerificationPolicies: {"application/vnd.dev.cosign.artifact.sig.v1+json": any}, default: any}`))
	cluster := engine.Cluster{Registry: newClient(t, reg)}

	tag := func(r image.Ref) string { return r.Context() + ":" + r.Tag }
	dig := func(r image.Ref) string { return r.Context() + "@" + r.Digest }
	const sig, bundle = ArtifactTypeCosignSignature, ArtifactTypeSigstoreBundle
	ok := func(subject, at string) reportSummary {
		return reportSummary{Subject: subject, Verifier: "verifier-cosign", ArtifactType: at, Message: msgSuccess,
			TrustPolicy: "keyless", IsSuccess: true, Checks: []bool{true}}
	}
	failed := func(subject, reason string) summary {
		return summary{Reports: []reportSummary{{Subject: subject, Message: "failed to verify artifact: " + subject, Reason: reason}}}
	}
	tests := []struct {
		key  string
		want summary
		err  string
	}{
		{key: tag(legacy), want: summary{IsSuccess: true, Reports: []reportSummary{ok(tag(legacy), sig)}}},
		{key: dig(legacy), want: summary{IsSuccess: true, Reports: []reportSummary{ok(dig(legacy), sig)}}},
		// The bundle verifies, but the policy names the cosign signature
		// type, of which the image has none.
		{key: dig(bundled), want: summary{Reports: []reportSummary{ok(dig(bundled), bundle)}}},
		{key: tag(stranger), want: summary{Reports: []reportSummary{{Subject: tag(stranger), Verifier: "verifier-cosign",
			ArtifactType: sig, Message: msgNoValid, TrustPolicy: "keyless", Checks: []bool{false}}}}},
		{key: tag(otherDigest), want: summary{Reports: []reportSummary{{Subject: tag(otherDigest), Verifier: "verifier-cosign",
			ArtifactType: sig, Message: msgNoValid, TrustPolicy: "keyless", Checks: []bool{false}}}}},
		{key: tag(unsigned), want: failed(tag(unsigned), "NO_VERIFIER_REPORT")},
		{key: tag(outside), want: summary{Reports: []reportSummary{{Subject: tag(outside), Verifier: "verifier-cosign", ArtifactType: sig,
			Message: "cosign verification failed: CONFIG_INVALID: failed to get trust policy: no policy found for reference " + tag(outside)}}}},
		{key: tag(keyed), want: summary{IsSuccess: true, Reports: []reportSummary{{Subject: tag(keyed), Verifier: "verifier-cosign",
			ArtifactType: sig, Message: msgSuccess, TrustPolicy: "keyed", IsSuccess: true, Checks: []bool{true}}}}},
		{key: tag(wrongKey), want: summary{Reports: []reportSummary{{Subject: tag(wrongKey), Verifier: "verifier-cosign",
			ArtifactType: sig, Message: msgNoValid, TrustPolicy: "keyed", Checks: []bool{false}}}}},
		{key: host + "/team/legacy:missing", want: failed(host+"/team/legacy:missing", "GET_SUBJECT_DESCRIPTOR_FAILURE")},
		{key: "[team-a]" + tag(legacy), want: summary{IsSuccess: true, Reports: []reportSummary{ok(tag(legacy), sig)}}},
		{key: "Not/A/Reference", err: "failed to parse subject reference: "},
	}
	keys := make([]string, len(tests))
	for i, tt := range tests {
		keys[i] = tt.key
	}
	// One call with every key, and a duplicate: one item per distinct key,
	// in the order of the keys.
	resp, err := p.ExternalData(context.Background(), append(keys, keys[0]), cluster)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.SystemError != "" || len(resp.Items) != len(tests) {
		t.Fatalf("response: status %d, system error %q, %d items", resp.StatusCode, resp.SystemError, len(resp.Items))
	}
	for i, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			item := resp.Items[i]
			if item.Key != tt.key {
				t.Fatalf("item %d is for key %q", i, item.Key)
			}
			if tt.err != "" {
				if !strings.HasPrefix(item.Error, tt.err) || item.Value != nil {
					t.Errorf("item %+v, want error %q", item, tt.err)
				}
				return
			}
			if item.Error != "" {
				t.Fatalf("error %s", item.Error)
			}
			if diff := cmp.Diff(tt.want, summarize(t, item.Value)); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("ctLogVerify", func(t *testing.T) {
		// The in-process CA embeds an SCT in its certificates, as Fulcio
		// does; a certificate without one fails ctLogVerify, and passes
		// without it (the legacy case of the table above).
		p := providerOf(t, ss, ratifyConfig(host, key.PublicKeyPEM, true, `{artifactVerificationPolicies: {default: any}}`))
		for _, tt := range []struct {
			key  string
			want summary
		}{
			{key: tag(legacy), want: summary{IsSuccess: true, Reports: []reportSummary{ok(tag(legacy), sig)}}},
			{key: tag(noSCT), want: summary{Reports: []reportSummary{{Subject: tag(noSCT), Verifier: "verifier-cosign", ArtifactType: sig,
				Message: msgNoValid, TrustPolicy: "keyless", Checks: []bool{false}}}}},
		} {
			resp, err := p.ExternalData(context.Background(), []string{tt.key}, cluster)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, summarize(t, resp.Items[0].Value)); diff != "" {
				t.Errorf("%s: result (-want +got):\n%s", tt.key, diff)
			}
		}
	})

	t.Run("ctLogVerify false, certificate without SCT", func(t *testing.T) {
		resp, err := p.ExternalData(context.Background(), []string{tag(noSCT)}, cluster)
		if err != nil {
			t.Fatal(err)
		}
		want := summary{IsSuccess: true, Reports: []reportSummary{ok(tag(noSCT), sig)}}
		if diff := cmp.Diff(want, summarize(t, resp.Items[0].Value)); diff != "" {
			t.Errorf("result (-want +got):\n%s", diff)
		}
	})

	t.Run("policy requires a bundle too", func(t *testing.T) {
		p := providerOf(t, ss, ratifyConfig(host, key.PublicKeyPEM, false,
			`{artifactVerificationPolicies: {"application/vnd.dev.cosign.artifact.sig.v1+json": any, "application/vnd.dev.sigstore.bundle.v0.3+json": any}}`))
		resp, err := p.ExternalData(context.Background(), []string{tag(legacy)}, cluster)
		if err != nil {
			t.Fatal(err)
		}
		got := summarize(t, resp.Items[0].Value)
		want := summary{Reports: []reportSummary{ok(tag(legacy), sig)}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("result (-want +got):\n%s", diff)
		}
	})

	t.Run("no policy", func(t *testing.T) {
		y := ratifyConfig(host, key.PublicKeyPEM, false, "{}")
		y = y[:strings.LastIndex(y, "---\n")]
		p := providerOf(t, ss, y)
		resp, err := p.ExternalData(context.Background(), []string{tag(legacy)}, cluster)
		if err != nil {
			t.Fatal(err)
		}
		want := []engine.ExternalDataItem{{Key: tag(legacy), Error: "EXECUTOR_FAILURE: POLICY_PROVIDER_NOT_FOUND: no Policy named ratify-policy is loaded"}}
		if diff := cmp.Diff(want, resp.Items); diff != "" {
			t.Errorf("items (-want +got):\n%s", diff)
		}
	})

	t.Run("no registry", func(t *testing.T) {
		if _, err := p.ExternalData(context.Background(), []string{tag(legacy)}, engine.Cluster{}); err == nil {
			t.Error("no error without a registry")
		}
	})

	t.Run("caller's context ends", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := p.ExternalData(ctx, []string{tag(unsigned)}, cluster); err == nil {
			t.Error("no error with a cancelled context")
		}
	})
}

func TestProviderTimeout(t *testing.T) {
	slow := imagetest.NewRegistry(t, imagetest.WithHandler(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
				return
			}
			next.ServeHTTP(w, r)
		})
	}))
	img := slow.PushRandom(t, "team/app", "v1")
	ss := signaturetest.NewSigstore(t)
	p := providerOf(t, ss, ratifyConfig(slow.Host(), publicKeyPEM(t), false, "{}"), WithTimeouts(100*time.Millisecond, 0))
	start := time.Now()
	resp, err := p.ExternalData(context.Background(), []string{img.String()}, engine.Cluster{Registry: newClient(t, slow)})
	if err != nil {
		t.Fatal(err)
	}
	want := engine.ExternalDataResponse{StatusCode: http.StatusInternalServerError,
		SystemError: "operation failed with error operation timed out after duration 100ms"}
	if diff := cmp.Diff(want, resp); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the call took %v", d)
	}
}
