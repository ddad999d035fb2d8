package jmespath

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"regexp/syntax"
	"strings"
	"time"
)

// Bounds of random().
const (
	randomMaxRepeat = 16
	randomMaxLength = 64 << 10
)

// jpRandom is random(pattern): a random string matching the regular
// expression, like github.com/zach-klippenstein/goregen (which Kyverno uses)
// except that unbounded repetitions repeat at most randomMaxRepeat times.
func jpRandom(_ *evaluator, x []any) (any, error) {
	pattern := x[0].(string)
	if pattern == "" {
		return "", errors.New("no pattern provided")
	}
	re, err := syntax.Parse(pattern, 0)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	if err := generate(&b, re.Simplify()); err != nil {
		return nil, err
	}
	return b.String(), nil
}

func generate(b *strings.Builder, re *syntax.Regexp) error {
	if b.Len() > randomMaxLength {
		return fmt.Errorf("JMESPath function 'random': result longer than %d bytes", randomMaxLength)
	}
	switch re.Op {
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			b.WriteRune(r)
		}
	case syntax.OpCharClass:
		var total int64
		for i := 0; i+1 < len(re.Rune); i += 2 {
			total += int64(re.Rune[i+1]-re.Rune[i]) + 1
		}
		if total == 0 {
			return nil
		}
		pick := rand.Int64N(total)
		for i := 0; i+1 < len(re.Rune); i += 2 {
			size := int64(re.Rune[i+1]-re.Rune[i]) + 1
			if pick < size {
				b.WriteRune(re.Rune[i] + rune(pick))
				break
			}
			pick -= size
		}
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		b.WriteRune(rune(' ' + rand.IntN('~'-' '+1)))
	case syntax.OpCapture:
		return generate(b, re.Sub[0])
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if err := generate(b, sub); err != nil {
				return err
			}
		}
	case syntax.OpAlternate:
		return generate(b, re.Sub[rand.IntN(len(re.Sub))])
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		lo, hi := 0, randomMaxRepeat
		switch re.Op {
		case syntax.OpPlus:
			lo = 1
		case syntax.OpQuest:
			hi = 1
		case syntax.OpRepeat:
			lo = re.Min
			if re.Max >= 0 {
				hi = re.Max
			} else {
				hi = max(lo, randomMaxRepeat)
			}
		}
		count := lo
		if hi > lo {
			count += rand.IntN(hi - lo + 1)
		}
		for range count {
			if err := generate(b, re.Sub[0]); err != nil {
				return err
			}
		}
	}
	// Anchors, word boundaries and empty matches generate nothing.
	return nil
}

// x509PublicKey replaces the public key in x509_decode's output.
type x509PublicKey struct {
	N string
	E int
}

// jpX509Decode is x509_decode(pem): the Go x509.Certificate or
// x509.CertificateRequest as a JSON object. Only RSA keys are supported, as
// in Kyverno.
func jpX509Decode(_ *evaluator, x []any) (any, error) {
	block, _ := pem.Decode([]byte(x[0].(string)))
	if block == nil {
		return nil, errors.New("failed to decode PEM block")
	}
	switch block.Type {
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		if cert.PublicKeyAlgorithm != x509.RSA {
			return nil, errors.New("certificate should use rsa algorithm")
		}
		pk, ok := cert.PublicKey.(*rsa.PublicKey)
		if !ok {
			return nil, errors.New("failed to parse subject public key info")
		}
		cert.PublicKey = x509PublicKey{N: pk.N.String(), E: pk.E}
		return encodeJSON(cert)
	case "CERTIFICATE REQUEST":
		csr, err := x509.ParseCertificateRequest(block.Bytes)
		if err != nil {
			return nil, err
		}
		if csr.PublicKeyAlgorithm != x509.RSA {
			return nil, errors.New("certificate should use rsa algorithm")
		}
		pk, ok := csr.PublicKey.(*rsa.PublicKey)
		if !ok {
			return nil, errors.New("failed to parse subject public key info")
		}
		csr.PublicKey = x509PublicKey{N: pk.N.String(), E: pk.E}
		return encodeJSON(csr)
	default:
		return nil, errors.New("PEM block neither contains a CERTIFICATE or CERTIFICATE REQUEST")
	}
}

func encodeJSON(v any) (any, error) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		return nil, err
	}
	out := map[string]any{}
	if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
		return nil, err
	}
	return out, nil
}

// jpIsExternalURL is is_external_url(url): false when the host is a
// loopback or private address (or resolves to one), true otherwise.
func jpIsExternalURL(e *evaluator, x []any) (any, error) {
	u, err := url.Parse(x[0].(string))
	if err != nil {
		return false, err
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); ip != nil {
		return !(ip.IsLoopback() || ip.IsPrivate()), nil
	}
	if e.in.cfg.resolver == nil {
		return nil, &net.DNSError{Err: "host name resolution is disabled", Name: host}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addrs, err := e.in.cfg.resolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if a.IP.IsLoopback() || a.IP.IsPrivate() {
			return false, nil
		}
	}
	return true, nil
}
