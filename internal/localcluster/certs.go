package localcluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"
)

// credentials are the secrets Start generates for one cluster.
type credentials struct {
	caCert      []byte // PEM; signs servingCert
	servingCert []byte // PEM; the apiserver's serving certificate
	servingKey  []byte // PEM
	saKey       []byte // PEM; signs service account tokens
	saPublicKey []byte // PEM; verifies them
	token       string // the cluster-admin bearer token
}

// certValidity is how long the generated certificates are valid. A
// playground cluster lives for hours at most; a year leaves room for clock
// skew and long-running work directories.
const certValidity = 365 * 24 * time.Hour

// servingNames are the DNS names in the serving certificate, besides the
// loopback addresses.
var servingNames = []string{
	"localhost",
	"kubernetes",
	"kubernetes.default",
	"kubernetes.default.svc",
	"kubernetes.default.svc.cluster.local",
}

// newCredentials generates a CA, a serving certificate for the loopback
// addresses and servingNames signed by it, a service account key pair and a
// random bearer token. The CA key is not kept.
func newCredentials(now time.Time) (credentials, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return credentials{}, fmt.Errorf("failed to generate the CA key: %w", err)
	}
	caTemplate := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "portcullis-local-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, caKey.Public(), caKey)
	if err != nil {
		return credentials{}, fmt.Errorf("failed to create the CA certificate: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return credentials{}, fmt.Errorf("failed to parse the CA certificate: %w", err)
	}

	servingKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return credentials{}, fmt.Errorf("failed to generate the serving key: %w", err)
	}
	servingTemplate := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     servingNames,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback, serviceIP},
	}
	servingDER, err := x509.CreateCertificate(rand.Reader, servingTemplate, caCert, servingKey.Public(), caKey)
	if err != nil {
		return credentials{}, fmt.Errorf("failed to create the serving certificate: %w", err)
	}
	servingKeyDER, err := x509.MarshalPKCS8PrivateKey(servingKey)
	if err != nil {
		return credentials{}, fmt.Errorf("failed to encode the serving key: %w", err)
	}

	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return credentials{}, fmt.Errorf("failed to generate the service account key: %w", err)
	}
	saKeyDER, err := x509.MarshalPKCS8PrivateKey(saKey)
	if err != nil {
		return credentials{}, fmt.Errorf("failed to encode the service account key: %w", err)
	}
	saPublicDER, err := x509.MarshalPKIXPublicKey(saKey.Public())
	if err != nil {
		return credentials{}, fmt.Errorf("failed to encode the service account public key: %w", err)
	}

	token := make([]byte, 32)
	if _, err := rand.Read(token); err != nil {
		return credentials{}, fmt.Errorf("failed to generate the token: %w", err)
	}
	return credentials{
		caCert:      pemBlock("CERTIFICATE", caDER),
		servingCert: pemBlock("CERTIFICATE", servingDER),
		servingKey:  pemBlock("PRIVATE KEY", servingKeyDER),
		saKey:       pemBlock("PRIVATE KEY", saKeyDER),
		saPublicKey: pemBlock("PUBLIC KEY", saPublicDER),
		token:       hex.EncodeToString(token),
	}, nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// randomSerial returns a random 128-bit certificate serial number.
func randomSerial() *big.Int {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		// crypto/rand.Reader does not fail on supported platforms.
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return serial
}
