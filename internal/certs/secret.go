package certs

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Rotation defaults of a SecretCA.
const (
	// CARenewBefore is how long before the CA expires a successor is
	// created.
	CARenewBefore = 365 * 24 * time.Hour
	// CAPromoteAfter is how long a successor CA is only trusted (listed in
	// the bundle) before it starts signing: long enough for every webhook
	// configuration to carry the new bundle.
	CAPromoteAfter = 15 * time.Minute
	// DefaultSecretName is the Secret that holds the CA.
	DefaultSecretName = "portcullis-ca"
)

// Keys of the CA Secret.
const (
	SecretCACert     = "ca.crt"
	SecretCAKey      = "ca.key"
	SecretNextCert   = "next.crt"
	SecretNextKey    = "next.key"
	SecretBundle     = "ca-bundle.crt"
	nextSinceAnnoKey = "portcullis.dev/next-ca-since"
)

// Authority is the state of a CA kept in a Secret.
type Authority struct {
	// CA signs serving certificates.
	CA *CA
	// Bundle is the PEM of every CA the webhook configurations must trust:
	// the signing CA, its successor during a rotation, and retired CAs until
	// they expire, so that certificates issued by any of them verify.
	Bundle []byte
	// next is the successor CA during a rotation, and since when it exists.
	next      *CA
	nextSince time.Time
}

// SecretCA keeps a self-signed CA in a Secret, so that every replica issues
// serving certificates from the same CA and the webhook configurations
// trust all of them. Load creates the Secret when it is absent (whichever
// replica is first wins; the others read it); Rotate, run by the leader
// only, replaces the CA before it expires without a moment in which a
// serving certificate would not verify.
//
// The Secret is a credential: whoever reads it can impersonate the webhook.
// Callers must keep it in portcullis's own namespace and restrict access to
// it with RBAC.
type SecretCA struct {
	Client    kubernetes.Interface
	Namespace string
	// Name is the Secret's name; empty means DefaultSecretName.
	Name string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// RenewBefore and PromoteAfter override CARenewBefore and
	// CAPromoteAfter when not zero.
	RenewBefore, PromoteAfter time.Duration
}

func (s *SecretCA) name() string {
	if s.Name == "" {
		return DefaultSecretName
	}
	return s.Name
}

func (s *SecretCA) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// Load returns the CA in the Secret, creating the Secret with a new CA when
// it does not exist.
func (s *SecretCA) Load(ctx context.Context) (*Authority, error) {
	secret, err := s.secret(ctx)
	if err != nil {
		return nil, err
	}
	a, err := parseSecret(secret)
	if err != nil {
		return nil, fmt.Errorf("invalid CA secret %s/%s: %w", s.Namespace, s.name(), err)
	}
	return a, nil
}

// secret reads the Secret, creating it when it does not exist.
func (s *SecretCA) secret(ctx context.Context) (*corev1.Secret, error) {
	secrets := s.Client.CoreV1().Secrets(s.Namespace)
	secret, err := secrets.Get(ctx, s.name(), metav1.GetOptions{})
	if err == nil {
		return secret, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("failed to read the CA secret %s/%s: %w", s.Namespace, s.name(), err)
	}
	ca, err := NewCA("portcullis-ca", s.now())
	if err != nil {
		return nil, err
	}
	a := &Authority{CA: ca}
	a.Bundle = bundle(s.now(), a.CA.Cert, nil, nil)
	secret, err = secrets.Create(ctx, a.secret(s.Namespace, s.name()), metav1.CreateOptions{FieldManager: "portcullis"})
	if apierrors.IsAlreadyExists(err) {
		secret, err = secrets.Get(ctx, s.name(), metav1.GetOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("failed to create the CA secret %s/%s: %w", s.Namespace, s.name(), err)
	}
	return secret, nil
}

// Rotate loads the CA and moves its rotation one step when one is due: it
// creates a successor when the CA expires within RenewBefore (trusted from
// then on, not yet signing), promotes the successor to signing CA once it
// has been trusted for PromoteAfter (the old CA stays trusted until it
// expires), and drops expired CAs from the bundle. It reports whether it
// changed the Secret. Only one replica (the leader) may call it.
func (s *SecretCA) Rotate(ctx context.Context) (*Authority, bool, error) {
	secret, err := s.secret(ctx)
	if err != nil {
		return nil, false, err
	}
	a, err := parseSecret(secret)
	if err != nil {
		return nil, false, fmt.Errorf("invalid CA secret %s/%s: %w", s.Namespace, s.name(), err)
	}
	now := s.now()
	renewBefore, promoteAfter := s.RenewBefore, s.PromoteAfter
	if renewBefore == 0 {
		renewBefore = CARenewBefore
	}
	if promoteAfter == 0 {
		promoteAfter = CAPromoteAfter
	}
	retired := certsOf(a.Bundle)
	switch {
	case a.next != nil && now.Sub(a.nextSince) >= promoteAfter:
		a.CA, a.next, a.nextSince = a.next, nil, time.Time{}
	case a.next == nil && now.Add(renewBefore).After(a.CA.Cert.NotAfter):
		next, err := NewCA("portcullis-ca", now)
		if err != nil {
			return nil, false, err
		}
		a.next, a.nextSince = next, now
	}
	var nextCert *x509.Certificate
	if a.next != nil {
		nextCert = a.next.Cert
	}
	a.Bundle = bundle(now, a.CA.Cert, nextCert, retired)
	want := a.secret(s.Namespace, s.name())
	if bytes.Equal(want.Data[SecretCACert], secret.Data[SecretCACert]) &&
		bytes.Equal(want.Data[SecretNextCert], secret.Data[SecretNextCert]) &&
		bytes.Equal(want.Data[SecretBundle], secret.Data[SecretBundle]) {
		return a, false, nil
	}
	update := secret.DeepCopy()
	update.Data = want.Data
	if update.Annotations == nil {
		update.Annotations = map[string]string{}
	}
	delete(update.Annotations, nextSinceAnnoKey)
	for k, v := range want.Annotations {
		update.Annotations[k] = v
	}
	if _, err := s.Client.CoreV1().Secrets(s.Namespace).Update(ctx, update, metav1.UpdateOptions{FieldManager: "portcullis"}); err != nil {
		return nil, false, fmt.Errorf("failed to update the CA secret %s/%s: %w", s.Namespace, s.name(), err)
	}
	return a, true, nil
}

func (a *Authority) secret(namespace, name string) *corev1.Secret {
	data := map[string][]byte{
		SecretCACert: a.CA.CertPEM,
		SecretCAKey:  a.CA.KeyPEM,
		SecretBundle: a.Bundle,
	}
	annotations := map[string]string{}
	if a.next != nil {
		data[SecretNextCert] = a.next.CertPEM
		data[SecretNextKey] = a.next.KeyPEM
		annotations[nextSinceAnnoKey] = a.nextSince.UTC().Format(time.RFC3339)
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: namespace, Annotations: annotations,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "portcullis", "app.kubernetes.io/component": "webhook-ca"},
		},
		Type: corev1.SecretTypeOpaque,
		Data: data,
	}
}

func parseSecret(secret *corev1.Secret) (*Authority, error) {
	ca, err := ParseCA(secret.Data[SecretCACert], secret.Data[SecretCAKey])
	if err != nil {
		return nil, err
	}
	a := &Authority{CA: ca, Bundle: secret.Data[SecretBundle]}
	if len(secret.Data[SecretNextCert]) > 0 {
		if a.next, err = ParseCA(secret.Data[SecretNextCert], secret.Data[SecretNextKey]); err != nil {
			return nil, fmt.Errorf("%s: %w", SecretNextCert, err)
		}
		if a.nextSince, err = time.Parse(time.RFC3339, secret.Annotations[nextSinceAnnoKey]); err != nil {
			// Without a start, the rotation starts over from now.
			a.nextSince = time.Now()
		}
	}
	if len(a.Bundle) == 0 {
		a.Bundle = ca.CertPEM
	}
	return a, nil
}

// bundle returns the PEM of the signing CA, its successor and the other
// CAs that have not expired, each once.
func bundle(now time.Time, signing, next *x509.Certificate, others []*x509.Certificate) []byte {
	var out bytes.Buffer
	seen := map[string]bool{}
	add := func(c *x509.Certificate) {
		if c == nil || seen[string(c.Raw)] || now.After(c.NotAfter) {
			return
		}
		seen[string(c.Raw)] = true
		pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	add(signing)
	add(next)
	for _, c := range others {
		add(c)
	}
	return out.Bytes()
}

// certsOf parses every certificate of a PEM bundle, skipping what does not
// parse.
func certsOf(bundlePEM []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for rest := bundlePEM; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return out
		}
		if c, err := x509.ParseCertificate(block.Bytes); err == nil {
			out = append(out, c)
		}
	}
}

// Serving keeps a Store's serving certificate issued by an Authority's CA
// for a fixed list of hosts. It is not safe for concurrent use: one loop
// calls Sync.
type Serving struct {
	Store *Store
	// Hosts are the DNS names and IP addresses the certificate is for, e.g.
	// the Service's names or 127.0.0.1.
	Hosts  []string
	cert   []byte
	issuer []byte
}

// Sync issues and installs a new serving certificate when there is none,
// when the signing CA changed, or when the current one NeedsRenewal. It
// reports whether it installed one.
func (s *Serving) Sync(a *Authority, now time.Time) (bool, error) {
	if a == nil || a.CA == nil {
		return false, errors.New("no certificate authority")
	}
	if s.cert != nil && bytes.Equal(s.issuer, a.CA.CertPEM) && !NeedsRenewal(s.cert, now) {
		return false, nil
	}
	certPEM, keyPEM, err := a.CA.Issue(s.Hosts, now)
	if err != nil {
		return false, err
	}
	if err := s.Store.Replace(certPEM, keyPEM); err != nil {
		return false, err
	}
	s.cert, s.issuer = certPEM, a.CA.CertPEM
	return true, nil
}

// ServiceHosts returns the DNS names of a Service that the API server may
// use to reach it.
func ServiceHosts(name, namespace string) []string {
	return []string{
		name,
		name + "." + namespace,
		name + "." + namespace + ".svc",
		name + "." + namespace + ".svc.cluster.local",
	}
}
