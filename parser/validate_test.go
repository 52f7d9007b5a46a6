package parser

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/tlssniff/tlssniff/internal/testenv"
)

// issue makes a certificate for name valid from notBefore for a year, signed
// by parent (itself when parent is nil); tweak, when given, changes the
// template.
func issue(t *testing.T, name string, notBefore time.Time, ca bool, parent *x509.Certificate, parentKey any, key any,
	tweak ...func(*x509.Certificate)) (*x509.Certificate, any) {
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
	for _, f := range tweak {
		f(tmpl)
	}
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
	// An intermediate that expires half a year before its leaf.
	inter, interKey := issue(t, "Intermediate CA", jan, true, ca, caKey, nil)
	underInter, _ := issue(t, "www.example.test", jan.AddDate(0, 6, 0), false, inter, interKey, nil)
	// A leaf valid before its intermediate: trusted from the later start.
	lateInter, lateInterKey := issue(t, "Late CA", jan.AddDate(0, 2, 0), true, ca, caKey, nil)
	early, _ := issue(t, "www.example.test", jan, false, lateInter, lateInterKey, nil)
	// A SHA-1 signature, below an RSA root signed with SHA-1 itself (a
	// root's own signature is never checked).
	rsaRoot, rsaRootKey := issue(t, "RSA CA", jan, true, nil, nil, rsaKey, sigAlg(x509.SHA1WithRSA))
	sha1Leaf, _ := issue(t, "sha1.example.test", jan, false, rsaRoot, rsaRootKey, nil, sigAlg(x509.SHA1WithRSA))
	sha256Leaf, _ := issue(t, "sha256.example.test", jan, false, rsaRoot, rsaRootKey, nil, sigAlg(x509.SHA256WithRSA))
	// The same under a root no one trusts, sent with the chain.
	strangeRoot, strangeRootKey := issue(t, "Strange RSA CA", jan, true, nil, nil, rsaKey, sigAlg(x509.SHA1WithRSA))
	strangeSHA1Leaf, _ := issue(t, "sha1.strange.test", jan, false, strangeRoot, strangeRootKey, nil, sigAlg(x509.SHA1WithRSA))
	// An intermediate that may sign for other names only.
	constrained, constrainedKey := issue(t, "Constrained CA", jan, true, ca, caKey, nil,
		func(c *x509.Certificate) { c.PermittedDNSDomains = []string{"other.test"} })
	underConstrained, _ := issue(t, "www.example.test", jan, false, constrained, constrainedKey, nil)
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	roots.AddCert(rsaRoot)
	v := NewValidator(func() *x509.CertPool { return roots })
	chain := func(certs ...*x509.Certificate) []Certificate {
		var out []Certificate
		for _, c := range certs {
			out = append(out, parsed(c.Raw))
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
		{"strong keys", chain(leaf, ca), march, "ok", func(r *Validation) bool { return !r.WeakKey && !r.WeakSignature }},
		{"intermediate valid", chain(underInter, inter, ca), jan.AddDate(0, 9, 0), "ok",
			func(r *Validation) bool { return r.Trusted && !r.Expired }},
		{"leaf older than its intermediate", chain(early, lateInter, ca), jan.AddDate(0, 3, 0), "ok",
			func(r *Validation) bool { return r.Trusted }},
		{"intermediate expired, leaf valid", chain(underInter, inter, ca), jan.AddDate(1, 3, 0), "certificate has expired",
			func(r *Validation) bool { return r.Trusted && r.Expired }},
		{"intermediate not yet valid, leaf valid", chain(leaf, inter, ca), jan.AddDate(0, 0, -1), "certificate is not yet valid",
			func(r *Validation) bool { return r.NotYetValid }},
		{"SHA-1 signed leaf", chain(sha1Leaf, rsaRoot), march, "signature algorithm not accepted (SHA-1 or MD5)",
			func(r *Validation) bool { return r.WeakSignature && !r.Trusted }},
		{"SHA-1 signed leaf under an unknown root sent with it", chain(strangeSHA1Leaf, strangeRoot), march,
			"signature algorithm not accepted (SHA-1 or MD5)", func(r *Validation) bool { return r.WeakSignature && !r.Trusted }},
		{"SHA-256 signed leaf under a SHA-1 self-signed root", chain(sha256Leaf, rsaRoot), march, "ok",
			func(r *Validation) bool { return !r.WeakSignature && r.Trusted }},
		{"a name its intermediate may not sign for", chain(underConstrained, constrained, ca), march,
			`a root or intermediate certificate is not authorized to sign for this name: DNS name "www.example.test" is not permitted by any constraint`,
			func(r *Validation) bool { return !r.Trusted }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := v.Validate(tc.chain, tc.at, nil, 0)
			if r.Status != tc.status || (tc.check != nil && !tc.check(r)) {
				t.Errorf("%+v, want status %q", r, tc.status)
			}
			// The verdict is crypto/x509's with every certificate sent
			// among the intermediates.
			inter := x509.NewCertPool()
			when := tc.chain[0].x509.NotBefore
			for i, c := range tc.chain {
				if i > 0 {
					inter.AddCert(c.x509)
				}
				if c.x509.NotBefore.After(when) {
					when = c.x509.NotBefore
				}
			}
			_, err := tc.chain[0].x509.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: when,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
			if got := v.verify(tc.chain); got.trusted != (err == nil) || got.status != verifyStatus(err, tc.chain) {
				t.Errorf("verdict %+v, crypto/x509 with every certificate: %v", got, err)
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

// A chain that reaches no trusted root by its issuers' names gets OpenSSL's
// verdict (Zeek's validation_status), which says so before it checks
// signatures, basic constraints, path lengths or name constraints:
// openssl verify, trusting nothing, is the oracle.
func TestUntrustedChainsAsOpenSSL(t *testing.T) {
	if NewValidator(nil).trust().rootNames == nil {
		testenv.Unavailable(t, "every chain is verified where crypto/x509 may ask the platform (NewValidator)")
	}
	openssl := testenv.Tool(t, "openssl")
	jan := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	root, rootKey := issue(t, "Untrusted Root", jan, true, nil, nil, nil)
	inter, interKey := issue(t, "Untrusted CA", jan, true, root, rootKey, nil)
	leaf, _ := issue(t, "www.example.test", jan, false, inter, interKey, nil)
	notCA, notCAKey := issue(t, "Not a CA", jan, false, root, rootKey, nil)
	underNotCA, _ := issue(t, "www.example.test", jan, false, notCA, notCAKey, nil)
	forgedDER := bytes.Clone(leaf.Raw)
	forgedDER[len(forgedDER)-1] ^= 1 // the signature's last byte
	forged, err := x509.ParseCertificate(forgedDER)
	if err != nil {
		t.Fatal(err)
	}
	noChildCA, noChildKey := issue(t, "Leaves Only CA", jan, true, root, rootKey, nil,
		func(c *x509.Certificate) { c.MaxPathLen, c.MaxPathLenZero = 0, true })
	subCA, subKey := issue(t, "Sub CA", jan, true, noChildCA, noChildKey, nil)
	tooDeep, _ := issue(t, "www.example.test", jan, false, subCA, subKey, nil)
	constrained, constrainedKey := issue(t, "Constrained CA", jan, true, root, rootKey, nil,
		func(c *x509.Certificate) { c.PermittedDNSDomains = []string{"other.test"} })
	outside, _ := issue(t, "www.example.test", jan, false, constrained, constrainedKey, nil)
	self, _ := issue(t, "self.example.test", jan, false, nil, nil, nil)
	// OpenSSL's words for its codes, as Zeek (OpenSSL 1.1) writes them.
	words := map[string]string{"18": "self signed certificate", "19": "self signed certificate in certificate chain",
		"20": "unable to get local issuer certificate"}
	v := NewValidator(nil)
	at := jan.AddDate(0, 3, 0)
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		chain []*x509.Certificate
	}{
		{"intermediate", []*x509.Certificate{leaf, inter}},
		{"intermediate and root", []*x509.Certificate{leaf, inter, root}},
		{"leaf alone", []*x509.Certificate{leaf}},
		{"issuer not a CA", []*x509.Certificate{underNotCA, notCA}},
		{"leaf signature wrong", []*x509.Certificate{forged, inter}},
		{"path too long, root sent", []*x509.Certificate{tooDeep, subCA, noChildCA, root}},
		{"name outside the issuer's constraints", []*x509.Certificate{outside, constrained}},
		{"self-signed", []*x509.Certificate{self}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var chain []Certificate
			var untrusted []byte
			for i, c := range tc.chain {
				chain = append(chain, parsed(c.Raw))
				if i > 0 {
					untrusted = append(untrusted, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
				}
			}
			leafFile, untrustedFile := filepath.Join(dir, "leaf.pem"), filepath.Join(dir, "untrusted.pem")
			if err := os.WriteFile(leafFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tc.chain[0].Raw}), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"verify", "-no-CAfile", "-no-CApath", "-no-CAstore", "-attime", strconv.FormatInt(at.Unix(), 10)}
			if len(untrusted) > 0 {
				if err := os.WriteFile(untrustedFile, untrusted, 0o600); err != nil {
					t.Fatal(err)
				}
				args = append(args, "-untrusted", untrustedFile)
			}
			out, _ := exec.Command(openssl, append(args, leafFile)...).CombinedOutput()
			m := regexp.MustCompile(`error (\d+) at`).FindSubmatch(out)
			if m == nil || words[string(m[1])] == "" {
				t.Fatalf("openssl verify: %s", out)
			}
			if r := v.Validate(chain, at, nil, 0); r.Status != words[string(m[1])] || r.Trusted {
				t.Errorf("status %q trusted %v, openssl verify: %s", r.Status, r.Trusted, out)
			}
		})
	}
}

func sigAlg(a x509.SignatureAlgorithm) func(*x509.Certificate) {
	return func(c *x509.Certificate) { c.SignatureAlgorithm = a }
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
		if len(v.verdicts.m) > maxVerdicts {
			t.Fatalf("%d verdicts kept", len(v.verdicts.m))
		}
	}
}

// A stapled OCSP response is read against the leaf and its issuer: good,
// revoked, unknown or unparsable; without one there is no status. Keys of
// 2048-bit RSA and P-224 are the smallest not weak.
func TestOCSPAndKeySizes(t *testing.T) {
	jan := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca, _ := issue(t, "OCSP CA", jan, true, nil, nil, caKey)
	leaf, _ := issue(t, "www.example.test", jan, false, ca, caKey, nil)
	v := NewValidator(nil)
	chain := []Certificate{parsed(leaf.Raw), parsed(ca.Raw)}
	at := jan.AddDate(0, 2, 0)
	for status, want := range map[int]string{ocsp.Good: "good", ocsp.Revoked: "revoked", ocsp.Unknown: "unknown"} {
		resp, err := ocsp.CreateResponse(ca, ca, ocsp.Response{Status: status, SerialNumber: leaf.SerialNumber,
			ThisUpdate: jan, NextUpdate: at.AddDate(0, 1, 0), RevokedAt: jan}, caKey)
		if err != nil {
			t.Fatal(err)
		}
		if got := v.Validate(chain, at, resp, 0).OCSPStatus; got != want {
			t.Errorf("OCSP %s: status %q", want, got)
		}
	}
	// One signed by another key than the issuer's is not believed.
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	forged, err := ocsp.CreateResponse(ca, ca, ocsp.Response{Status: ocsp.Good, SerialNumber: leaf.SerialNumber,
		ThisUpdate: jan, NextUpdate: at.AddDate(0, 1, 0)}, otherKey)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Validate(chain, at, forged, 0).OCSPStatus; got != "unparsable" {
		t.Errorf("a forged OCSP response: %q", got)
	}
	if got := v.Validate(chain, at, []byte("junk"), 0).OCSPStatus; got != "unparsable" {
		t.Errorf("junk OCSP: %q", got)
	}
	if got := v.Validate(chain, at, nil, 0).OCSPStatus; got != "" {
		t.Errorf("no OCSP: %q", got)
	}

	rsa2048, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	for name, key := range map[string]any{"RSA 2048": rsa2048, "P-224": p224} {
		c, _ := issue(t, "www.example.test", jan, false, ca, caKey, key)
		if v.Validate([]Certificate{parsed(c.Raw)}, at, nil, 0).WeakKey {
			t.Errorf("%s taken for a weak key", name)
		}
	}
}

// TestCertificateCache: a chain seen again is not parsed again, its
// certificates are those parsed the first time, the hits are counted; the
// parsed certificates kept are bounded by their cost.
func TestCertificateCache(t *testing.T) {
	v := NewValidator(nil)
	c, s := testPKI(t).Configs("www.example.test", tls.VersionTLS12, tls.VersionTLS12)
	flight := session(t, c, s)[1].Data
	first := oneSide(t, nil, flight).Certificates
	if st := v.Stats(); st.CertificateHits != 0 || st.CertificateMisses != 0 {
		t.Fatalf("without the Validator: %+v", st)
	}
	var got [3][]Certificate
	for i := range got {
		conn := NewConn(TCP, clientAddr, serverAddr, t0, Options{Validator: v, Emit: func(c *Connection) {
			v.Judge(c)
			got[i] = c.Certificates
		}})
		conn.Data(1, flight, t0)
		conn.Close()
	}
	st := v.Stats()
	if len(first) != 2 || st.CertificateMisses != len(first) || st.CertificateHits != 2*len(first) || st.VerdictMisses != 1 || st.VerdictHits != 2 {
		t.Fatalf("%d certificates: %+v", len(first), st)
	}
	for i := range got {
		for k := range got[i] {
			if got[i][k].x509 != got[0][k].x509 || got[i][k].SHA256 != first[k].SHA256 || got[i][k].Subject != first[k].Subject {
				t.Errorf("connection %d, certificate %d: %+v", i, k, got[i][k])
			}
		}
	}
	bound := maxCertificateCache / chainCost(first[:1])
	for i := range bound + 10 {
		der := bytes.Clone(first[0].x509.Raw)
		der[len(der)-1] ^= byte(i) // another signature: another certificate
		der[len(der)-2] ^= byte(i >> 8)
		v.certificate(der)
	}
	if v.certs.size > maxCertificateCache || len(v.certs.m) > bound {
		t.Errorf("%d certificates kept, %d bytes", len(v.certs.m), v.certs.size)
	}
}

// parsed describes a DER certificate, without a Validator's cache.
func parsed(der []byte) Certificate { return (*Validator)(nil).certificate(der) }
