package externaldata

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The Provider kind, as Gatekeeper serves it.
const (
	group = "externaldata.gatekeeper.sh"
	kind  = "Provider"
)

// Provider timeouts. Gatekeeper gives spec.timeout in seconds.
const (
	// DefaultTimeout applies when spec.timeout is absent or zero.
	DefaultTimeout = 3 * time.Second
	// MaxTimeout is the longest spec.timeout accepted.
	MaxTimeout = 30 * time.Second
)

// provider is a validated Provider.
type provider struct {
	name    string
	url     string
	timeout time.Duration
	// roots are the CAs of spec.caBundle, the only roots its server's
	// certificate may chain to.
	roots *x509.CertPool
	// spec identifies the configuration, to keep the HTTP client of a
	// provider whose spec did not change.
	spec string
}

// parseProviders validates unstructured Provider objects. It returns the
// valid ones and an error for every problem of the others.
func parseProviders(objs []map[string]any) ([]*provider, field.ErrorList) {
	var errs field.ErrorList
	var out []*provider
	seen := map[string]bool{}
	for i, obj := range objs {
		md, _ := obj["metadata"].(map[string]any)
		name, _ := md["name"].(string)
		root := field.NewPath("providers").Index(i)
		if name != "" {
			root = field.NewPath(kind).Key(name)
		}
		p, perrs := parseProvider(obj, name, root)
		if name != "" && seen[name] {
			perrs = append(perrs, field.Duplicate(root.Child("metadata", "name"), name))
		}
		seen[name] = true
		if len(perrs) > 0 {
			errs = append(errs, perrs...)
			continue
		}
		out = append(out, p)
	}
	return out, errs
}

func parseProvider(obj map[string]any, name string, root *field.Path) (*provider, field.ErrorList) {
	var errs field.ErrorList
	apiVersion, _ := obj["apiVersion"].(string)
	if g, v, _ := strings.Cut(apiVersion, "/"); g != group || (v != "v1beta1" && v != "v1alpha1") {
		errs = append(errs, field.NotSupported(root.Child("apiVersion"), apiVersion, []string{group + "/v1beta1", group + "/v1alpha1"}))
	}
	if k, _ := obj["kind"].(string); k != kind {
		errs = append(errs, field.NotSupported(root.Child("kind"), obj["kind"], []string{kind}))
	}
	if name == "" {
		errs = append(errs, field.Required(root.Child("metadata", "name"), ""))
	}
	specPath := root.Child("spec")
	spec, ok := obj["spec"].(map[string]any)
	if !ok {
		return nil, append(errs, field.Required(specPath, ""))
	}
	p := &provider{name: name}

	rawURL, _ := spec["url"].(string)
	urlPath := specPath.Child("url")
	if rawURL == "" {
		errs = append(errs, field.Required(urlPath, "the provider's HTTPS endpoint"))
	} else if u, err := url.Parse(rawURL); err != nil {
		errs = append(errs, field.Invalid(urlPath, rawURL, err.Error()))
	} else if u.Scheme != "https" {
		errs = append(errs, field.Invalid(urlPath, rawURL, "only the https scheme is supported"))
	} else if u.Host == "" {
		errs = append(errs, field.Invalid(urlPath, rawURL, "must name a host"))
	} else if u.User != nil {
		errs = append(errs, field.Invalid(urlPath, "<redacted>", "must not carry credentials"))
	} else {
		p.url = rawURL
	}

	p.timeout = DefaultTimeout
	timeoutPath := specPath.Child("timeout")
	switch t := spec["timeout"].(type) {
	case nil:
	case int64, float64, int:
		secs := toFloat(t)
		switch {
		case secs != math.Trunc(secs):
			errs = append(errs, field.Invalid(timeoutPath, t, "must be a whole number of seconds"))
		case secs < 0:
			errs = append(errs, field.Invalid(timeoutPath, t, "must not be negative"))
		case secs > MaxTimeout.Seconds():
			errs = append(errs, field.Invalid(timeoutPath, t, fmt.Sprintf("must be at most %d seconds", int(MaxTimeout.Seconds()))))
		case secs > 0:
			p.timeout = time.Duration(secs) * time.Second
		}
	default:
		errs = append(errs, field.TypeInvalid(timeoutPath, t, "must be a number of seconds"))
	}

	if skip, _ := spec["insecureTLSSkipVerify"].(bool); skip {
		errs = append(errs, field.Forbidden(specPath.Child("insecureTLSSkipVerify"), "certificate verification cannot be disabled"))
	}

	caPath := specPath.Child("caBundle")
	ca, _ := spec["caBundle"].(string)
	if ca == "" {
		errs = append(errs, field.Required(caPath, "the base64-encoded PEM certificates of the CAs that sign the provider's certificate"))
	} else if roots, err := parseCABundle(ca); err != nil {
		errs = append(errs, field.Invalid(caPath, "<caBundle>", err.Error()))
	} else {
		p.roots = roots
	}
	p.spec = fmt.Sprintf("%s\x00%s\x00%s", p.url, p.timeout, ca)
	return p, errs
}

func toFloat(v any) float64 {
	switch v := v.(type) {
	case int64:
		return float64(v)
	case int:
		return float64(v)
	case float64:
		return v
	}
	return math.NaN()
}

// parseCABundle decodes a base64-encoded PEM bundle into a pool holding
// every certificate in it.
func parseCABundle(b64 string) (*x509.CertPool, error) {
	data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return nil, fmt.Errorf("is not valid base64: %w", err)
	}
	pool := x509.NewCertPool()
	n := 0
	for len(data) > 0 {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("holds a certificate that does not parse: %w", err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("holds no PEM certificate")
	}
	return pool, nil
}
