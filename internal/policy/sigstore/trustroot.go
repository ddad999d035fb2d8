package sigstore

import (
	"github.com/sigstore/sigstore-go/pkg/root"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/image/signature"
)

// trustRoot is a compiled TrustRoot: the trust material authorities
// reference by its name.
type trustRoot struct {
	name   string
	source string
	// material is nil when the TrustRoot failed to compile; authorities
	// that reference it then fail to compile too.
	material root.TrustedMaterial
}

// compileTrustRoot reads a policy.sigstore.dev/v1alpha1 TrustRoot with the
// signature package.
func (d *Dialect) compileTrustRoot(doc engine.Document) (trustRoot, field.ErrorList) {
	_, name := doc.Name()
	tr := trustRoot{name: name, source: doc.String()}
	var errs field.ErrorList
	if name == "" {
		errs = append(errs, field.Required(doc.Root().Child("metadata", "name"), ""))
	}
	if v := doc.GVK().Version; v != "v1alpha1" {
		return tr, append(errs, field.NotSupported(doc.Root().Child("apiVersion"), Group+"/"+v, []string{Group + "/v1alpha1"}))
	}
	material, merrs := signature.TrustRootFromObject(doc.Object, doc.Root(), d.trOpts...)
	errs = append(errs, merrs...)
	if len(merrs) == 0 {
		tr.material = material
	}
	return tr, errs
}

// mixedRoot takes each kind of trust material from its own source, as an
// authority may take its certificate authorities, its transparency log and
// its timestamp authorities from different TrustRoots (keyless.trustRootRef,
// ctlog.trustRootRef, rfc3161timestamp.trustRootRef). CT logs come with the
// certificate authorities, as policy-controller reads them.
type mixedRoot struct {
	ca, tlog, tsa root.TrustedMaterial
}

var _ root.TrustedMaterial = mixedRoot{}

func (m mixedRoot) TimestampingAuthorities() []root.TimestampingAuthority {
	return m.tsa.TimestampingAuthorities()
}

func (m mixedRoot) FulcioCertificateAuthorities() []root.CertificateAuthority {
	return m.ca.FulcioCertificateAuthorities()
}

func (m mixedRoot) RekorLogs() map[string]*root.TransparencyLog { return m.tlog.RekorLogs() }

func (m mixedRoot) CTLogs() map[string]*root.TransparencyLog { return m.ca.CTLogs() }

func (m mixedRoot) PublicKeyVerifier(keyID string) (root.TimeConstrainedVerifier, error) {
	return m.ca.PublicKeyVerifier(keyID)
}
