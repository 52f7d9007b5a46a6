package parser

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"testing"
	"time"
)

// issue makes a certificate for name valid from notBefore for a year, signed
// by parent (itself when parent is nil).
func issue(t *testing.T, name string, notBefore time.Time, ca bool, parent *x509.Certificate, parentKey any, key any) (*x509.Certificate, any) {
	t.Helper()
	if key == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		key = k
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: notBefore, NotAfter: notBefore.AddDate(1, 0, 0), DNSNames: []string{name},
		IsCA: ca, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	pub := key.(crypto.Signer).Public()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, key
}

func TestValidate(t *testing.T) {
	jan := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ca, caKey := issue(t, "Private CA", jan, true, nil, nil, nil)
	other, otherKey := issue(t, "Other CA", jan, true, nil, nil, nil)
	leaf, _ := issue(t, "www.example.test", jan, false, ca, caKey, nil)
	stranger, _ := issue(t, "www.example.test", jan, false, other, otherKey, nil)
	self, _ := issue(t, "self.example.test", jan, false, nil, nil, nil)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	weak, _ := issue(t, "weak.example.test", jan, false, ca, caKey, rsaKey)

	roots := x509.NewCertPool()
	roots.AddCert(ca)
	v := NewValidator(roots)
	chain := func(certs ...*x509.Certificate) []Certificate {
		var out []Certificate
		for _, c := range certs {
			out = append(out, newCertificate(c.Raw))
		}
		return out
	}
	march := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		chain  []Certificate
		at     time.Time
		status string
		check  func(*Validation) bool
	}{
		{"ok", chain(leaf, ca), march, "ok", func(r *Validation) bool { return r.Trusted && !r.Expired }},
		{"ok without the root sent", chain(leaf), march, "ok", func(r *Validation) bool { return r.Trusted }},
		{"expired at capture time", chain(leaf, ca), jan.AddDate(2, 0, 0), "certificate has expired", func(r *Validation) bool { return r.Expired && r.Trusted }},
		{"not yet valid", chain(leaf, ca), jan.AddDate(0, -1, 0), "certificate is not yet valid", func(r *Validation) bool { return r.NotYetValid }},
		{"unknown issuer", chain(stranger), march, "unable to get local issuer certificate", func(r *Validation) bool { return !r.Trusted }},
		{"unknown issuer, its root sent", chain(stranger, other), march, "self signed certificate in certificate chain", nil},
		{"self-signed", chain(self), march, "self signed certificate", func(r *Validation) bool { return r.SelfSigned && !r.Trusted }},
		{"weak key", chain(weak, ca), march, "ok", func(r *Validation) bool { return r.WeakKey }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := v.Validate(tc.chain, tc.at, nil, 0)
			if r.Status != tc.status || (tc.check != nil && !tc.check(r)) {
				t.Errorf("%+v, want status %q", r, tc.status)
			}
		})
	}
	// The leaf covers www.example.test, not another name.
	c := &Connection{ClientHello: &ClientHello{HasServerName: true, ServerName: "mail.example.test"}, Certificates: chain(leaf, ca)}
	if m, ok := c.SNIMatchesCert(); !ok || m {
		t.Errorf("wrong name: match %v ok %v", m, ok)
	}
	c.ClientHello.ServerName = "www.example.test"
	if m, ok := c.SNIMatchesCert(); !ok || !m {
		t.Errorf("right name: match %v ok %v", m, ok)
	}
}

// The verdicts kept are bounded: distinct chains past maxVerdicts do not
// grow the cache.
func TestValidatorCacheBounded(t *testing.T) {
	v := NewValidator(nil)
	c, s := testPKI(t).Configs("www.example.test", tls.VersionTLS12, tls.VersionTLS12)
	conn := oneSide(t, nil, session(t, c, s)[1].Data)
	chain := conn.Certificates
	for i := range maxVerdicts + 10 {
		chain[0].SHA256 = fmt.Sprint(i) // a chain never seen: verified and kept
		v.verify(chain)
		if len(v.cache) > maxVerdicts {
			t.Fatalf("%d verdicts kept", len(v.cache))
		}
	}
}
