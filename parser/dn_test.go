package parser

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlssniff/tlssniff/internal/testenv"
)

// TestDistinguishedNamesAsOpenSSL: certificates made by openssl with the
// attributes real certificates carry (emailAddress, serialNumber,
// businessCategory, jurisdictionC of EV certificates, street, DC, UID, a
// multi-valued name, UTF-8, characters RFC 4514 escapes), served by
// crypto/tls, are named as openssl x509 -nameopt RFC2253 names them, not
// with dotted OIDs and hex.
func TestDistinguishedNamesAsOpenSSL(t *testing.T) {
	openssl := testenv.Tool(t, "openssl")
	dir := t.TempDir()
	for i, subj := range []string{
		"/C=US/ST=Delaware/L=Wilmington/O=Example, Inc./OU=Web+CN=www.example.test/emailAddress=admin@example.test",
		"/jurisdictionC=US/jurisdictionST=Delaware/businessCategory=Private Organization/serialNumber=5157550/street=1 Main St/postalCode=19801/CN=ev.example.test",
		"/DC=test/DC=example/UID=u1/CN=Zoë Müller/O=#1 \"quoted\" <shop>; a\\b",
		"/CN=www.example.test/1.2.3.4=custom",
	} {
		cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		out, err := exec.Command(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
			"-utf8", "-multivalue-rdn", "-subj", subj, "-days", "30", "-keyout", key, "-out", cert).CombinedOutput()
		if err != nil {
			t.Fatalf("openssl req %s: %v\n%s", subj, err, out)
		}
		want, err := exec.Command(openssl, "x509", "-in", cert, "-noout", "-subject", "-nameopt", "RFC2253,-esc_msb").Output()
		if err != nil {
			t.Fatal(err)
		}
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			t.Fatal(err)
		}
		c, s := testPKI(t).Configs("www.example.test", tls.VersionTLS12, tls.VersionTLS12)
		s.Certificates = []tls.Certificate{pair}
		c.InsecureSkipVerify = true
		conn := play(t, session(t, c, s), whole, 0)[0]
		if len(conn.Certificates) != 1 {
			t.Fatalf("%d: %d certificates", i, len(conn.Certificates))
		}
		name := strings.TrimSuffix(strings.TrimPrefix(string(want), "subject="), "\n")
		if got := conn.Certificates[0]; got.Subject != name || got.Issuer != name {
			t.Errorf("%s:\n subject %s\n issuer  %s\n openssl %s", subj, got.Subject, got.Issuer, name)
		}
	}
}

// FuzzDistinguishedName: any bytes give a name or "", never a panic; a
// name written has the attributes encoding/asn1 reads, last to first,
// each under OpenSSL's short name for its type or its dotted OID ("" is
// for what crypto/x509 would not parse, stricter than encoding/asn1).
func FuzzDistinguishedName(f *testing.F) {
	_, s := testPKI(f).Configs("www.example.test", tls.VersionTLS12, tls.VersionTLS12)
	leaf, err := x509.ParseCertificate(s.Certificates[0].Certificate[0])
	if err != nil {
		f.Fatal(err)
	}
	f.Add(leaf.RawSubject)
	f.Add(leaf.RawIssuer)
	f.Add([]byte{0x30, 0x0b, 0x31, 0x09, 0x30, 0x07, 0x06, 0x03, 0x2a, 0x03, 0x04, 0x13, 0x00}) // 1.2.3.4 = ""
	f.Fuzz(func(t *testing.T, der []byte) {
		got := distinguishedName(der)
		var rdns pkix.RDNSequence
		if rest, err := asn1.Unmarshal(der, &rdns); err != nil || len(rest) > 0 || got == "" {
			return
		}
		at := 0
		for i := len(rdns) - 1; i >= 0; i-- {
			for j := len(rdns[i]) - 1; j >= 0; j-- {
				oid := rdns[i][j].Type.String()
				name, known := attributeNames[oid]
				if !known {
					name = oid
				}
				k := strings.Index(got[at:], name+"=")
				if k < 0 {
					t.Fatalf("%x: %q lacks %s= after byte %d", der, got, name, at)
				}
				at += k + len(name) + 1
			}
		}
	})
}
