package externaldata

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	utiljson "k8s.io/apimachinery/pkg/util/json"
)

// FuzzDecodeResponse checks that decoding a provider's answer never panics
// and that what decodes survives a round trip.
func FuzzDecodeResponse(f *testing.F) {
	for _, s := range []string{
		`{"apiVersion":"externaldata.gatekeeper.sh/v1beta1","kind":"ProviderResponse","response":{"idempotent":true,"items":[{"key":"a","value":"A"},{"key":"b","error":"no"}]}}`,
		`{"response":{"systemError":"down"}}`,
		`{"response":{"items":[{"key":7,"value":{"n":1,"f":0.5,"l":[true,null]}}]}}`,
		`{"response":{"items":null}}`,
		`[]`, `null`, `{"response":{"items":[{}]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeResponse(data)
		if err != nil {
			return
		}
		again, err := json.Marshal(r.body)
		if err != nil {
			t.Fatalf("decoded answer does not encode: %v", err)
		}
		r2, err := decodeResponse(again)
		if err != nil {
			t.Fatalf("re-encoded answer does not decode: %v", err)
		}
		if diff := cmp.Diff(r.items, r2.items); diff != "" {
			t.Fatalf("items changed in a round trip (-first +second):\n%s", diff)
		}
	})
}

// FuzzParseProviders checks that validating Provider objects never panics
// and that a provider is either accepted or reported.
func FuzzParseProviders(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"externaldata.gatekeeper.sh/v1beta1","kind":"Provider","metadata":{"name":"p"},"spec":{"url":"https://p.svc","timeout":3,"caBundle":"AAAA"}}`))
	f.Add([]byte(`{"metadata":{"name":7},"spec":{"url":"https://u:p@h","timeout":"x","caBundle":7,"insecureTLSSkipVerify":true}}`))
	f.Add([]byte(`{"spec":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var obj map[string]any
		if err := utiljson.Unmarshal(data, &obj); err != nil || obj == nil {
			return
		}
		ok, errs := parseProviders([]map[string]any{obj})
		if (len(ok) == 1) == (len(errs) > 0) {
			t.Fatalf("accepted %d providers with %d errors", len(ok), len(errs))
		}
	})
}
