package parser

import (
	"crypto/tls"
	"encoding/binary"
	"reflect"
	"testing"
	"unsafe"
)

// firstMessage returns the body of the first handshake message in a write
// that starts with a handshake record.
func firstMessage(t *testing.T, write []byte) (typ uint8, body []byte) {
	t.Helper()
	rec := write[recordHeaderLen:]
	n := int(rec[1])<<16 | int(rec[2])<<8 | int(rec[3])
	return rec[0], rec[4 : 4+n]
}

func realHellos(t *testing.T) (clientHello, serverHello, certificate []byte) {
	c, s := testPKI(t).Configs("www.example.test", tls.VersionTLS12, tls.VersionTLS13)
	c.MaxVersion = tls.VersionTLS12
	writes := session(t, c, s)
	_, clientHello = firstMessage(t, writes[0].Data)
	_, serverHello = firstMessage(t, writes[1].Data)
	// The certificate message is the second record of the server's flight.
	flight := writes[1].Data
	next := recordHeaderLen + int(binary.BigEndian.Uint16(flight[3:5]))
	typ, cert := firstMessage(t, flight[next:])
	if typ != uint8(MsgCertificate) {
		t.Fatalf("second record holds message type %d", typ)
	}
	return clientHello, serverHello, cert
}

func TestDecodeClientHello(t *testing.T) {
	ch, _, _ := realHellos(t)
	m, ok := decodeClientHello(ch)
	if !ok {
		t.Fatal("real ClientHello rejected")
	}
	if m.ServerName != "www.example.test" || len(m.ALPN) != 2 || m.ALPN[0] != "h2" || len(m.CipherSuites) == 0 ||
		len(m.SignatureAlgorithms) == 0 || len(m.SupportedGroups) == 0 || m.Version != tls.VersionTLS12 {
		t.Errorf("decoded %+v", m)
	}
	// Every strict prefix is rejected, but the one that ends with the
	// compression methods: extensions are optional (RFC 5246, 7.4.1.2).
	noExts := len(ch) - extensionsLen(m, ch) - 2
	for n := 0; n < len(ch); n++ {
		if _, ok := decodeClientHello(ch[:n]); ok != (n == noExts) {
			t.Fatalf("prefix of %d/%d bytes accepted", n, len(ch))
		}
	}
	hostile := map[string][]byte{
		"trailing byte":      append(append([]byte(nil), ch...), 0),
		"empty":              nil,
		"random only":        make([]byte, 34),
		"suites overrun":     withUint16(ch, 2+32+1+len(m.SessionID), 0xffff),
		"extensions overrun": withUint16(ch, len(ch)-extensionsLen(m, ch)-2, 0xffff),
	}
	for name, b := range hostile {
		if _, ok := decodeClientHello(b); ok {
			t.Errorf("%s: accepted", name)
		}
	}
}

// extensionsLen is the length of the extensions block of a ClientHello.
func extensionsLen(m *ClientHello, ch []byte) int {
	off := 2 + 32 + 1 + len(m.SessionID) + 2 + 2*len(m.CipherSuites) + 1 + len(m.CompressionMethods)
	return int(binary.BigEndian.Uint16(ch[off:]))
}

func withUint16(b []byte, off int, v uint16) []byte {
	out := append([]byte(nil), b...)
	binary.BigEndian.PutUint16(out[off:], v)
	return out
}

func TestDecodeServerHello(t *testing.T) {
	_, sh, _ := realHellos(t)
	m, ok := decodeServerHello(sh)
	if !ok || m.Version != tls.VersionTLS12 || m.CipherSuite == 0 || !m.HasALPN || m.ALPN != "h2" {
		t.Fatalf("decoded %+v %v", m, ok)
	}
	noExts := 2 + 32 + 1 + len(m.SessionID) + 2 + 1
	for n := 0; n < len(sh); n++ {
		if _, ok := decodeServerHello(sh[:n]); ok != (n == noExts) {
			t.Fatalf("prefix of %d/%d bytes accepted", n, len(sh))
		}
	}
	if _, ok := decodeServerHello(append(append([]byte(nil), sh...), 0)); ok {
		t.Error("trailing byte accepted")
	}
}

func TestDecodeCertificate(t *testing.T) {
	_, _, cert := realHellos(t)
	chain, ok := decodeCertificate(cert, false, nil)
	if !ok || len(chain) != 2 || chain[0].ParseError != "" {
		t.Fatalf("chain %+v %v", chain, ok)
	}
	if _, ok := decodeCertificate(cert, true, nil); ok {
		t.Error("TLS 1.2 layout accepted as TLS 1.3")
	}
	for n := 0; n < len(cert); n += 7 {
		if _, ok := decodeCertificate(cert[:n], false, nil); ok {
			t.Fatalf("prefix of %d/%d bytes accepted", n, len(cert))
		}
	}
	// A certificate that is not DER still has its fingerprint reported.
	junk, ok := decodeCertificate([]byte{0, 0, 6, 0, 0, 3, 1, 2, 3}, false, nil)
	if !ok || len(junk) != 1 || junk[0].ParseError == "" || junk[0].SHA256 != "039058c6f2c0cb492c533b0a4d14ef77cc0f78abccced5287d84a1a2011cfb81" {
		t.Errorf("junk certificate: %+v", junk)
	}
}

func TestDecodeServerKeyExchange(t *testing.T) {
	ecdhe := []byte{3, 0x00, 0x1d, 2, 0xaa, 0xbb, 0xde, 0xad}
	m, ok := decodeServerKeyExchange(ecdhe, 0xc02f)
	if !ok || !m.HasGroup || GroupName(m.Group) != "x25519" {
		t.Errorf("ECDHE: %+v", m)
	}
	dhe := []byte{0x00, 0x03, 0x00, 0x81, 0x00, 0x00, 0x01, 0x02} // p = 0x8100: 16 bits
	m, ok = decodeServerKeyExchange(dhe, 0x009e)
	if !ok || m.HasGroup || m.DHBits != 16 {
		t.Errorf("DHE: %+v", m)
	}
	// Leading zero bytes of the prime do not count; a prime of zeros has
	// no size.
	for p, bits := range map[string]int{"\x00\x00\x81": 8, "\x00\x00": 0, "\x01\xff": 9} {
		dhe := append([]byte{0, byte(len(p))}, p...)
		if m, ok := decodeServerKeyExchange(append(dhe, 0, 1, 2, 0, 0), 0x009e); !ok || m.DHBits != bits {
			t.Errorf("DHE prime %x: %+v, want %d bits", p, m, bits)
		}
	}
	if _, ok := decodeServerKeyExchange([]byte{3, 0}, 0xc02f); ok {
		t.Error("short ECDHE parameters accepted")
	}
	// ECCPWD (RFC 8492, section 4.2): a salt, then the curve, the element
	// and the scalar.
	eccpwd := []byte{4, 's', 'a', 'l', 't', 3, 0x00, 0x1a, 2, 0xaa, 0xbb, 1, 0xcc}
	if m, ok := decodeServerKeyExchange(eccpwd, 0xc0b0); !ok || !m.HasGroup || GroupName(m.Group) != "brainpoolP256r1" {
		t.Errorf("ECCPWD: %+v", m)
	}
}

func TestNames(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{VersionName(0x0303), "TLS 1.2"},
		{VersionName(0x7f17), "TLS 1.3 draft-23"},
		{VersionName(0x7e01), "0x7E01"},
		{VersionName(0xfefd), "DTLS 1.2"},
		{CipherSuiteName(0x1301), "TLS_AES_128_GCM_SHA256"},
		{CipherSuiteName(0x1a2b), "0x1A2B"},
		{CipherSuiteName(0x0a0a), "GREASE 0x0A0A"},
		{GroupName(0x11ec), "X25519MLKEM768"},
		{ExtensionName(0xfe0d), "encrypted_client_hello"},
		{AlertName(42), "bad_certificate"},
		{AlertLevelName(2), "fatal"},
		{SignatureSchemeName(0x0804), "rsa_pss_rsae_sha256"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	for v := 0; v < 1<<16; v++ {
		want := v&0x0f0f == 0x0a0a && v>>8 == v&0xff
		if IsGREASE(uint16(v)) != want {
			t.Fatalf("IsGREASE(0x%04x) = %v", v, !want)
		}
	}
}

// Layouts no sample holds, built from the RFCs' structures.
func TestDecodeOtherMessages(t *testing.T) {
	_, _, cert := realHellos(t)
	// TLS 1.3 (RFC 8446, 4.4.2): a request context, then entries that each
	// carry extensions after the certificate.
	chain12, _ := decodeCertificate(cert, false, nil)
	var list []byte
	rest := cert[3:]
	for len(rest) > 0 {
		n := int(rest[0])<<16 | int(rest[1])<<8 | int(rest[2])
		list = append(list, rest[:3+n]...)
		list = append(list, 0, 0) // no extensions
		rest = rest[3+n:]
	}
	body13 := append([]byte{0, byte(len(list) >> 16), byte(len(list) >> 8), byte(len(list))}, list...)
	chain13, ok := decodeCertificate(body13, true, nil)
	if !ok || len(chain13) != len(chain12) || chain13[0].SHA256 != chain12[0].SHA256 {
		t.Errorf("TLS 1.3 certificate: %v %d", ok, len(chain13))
	}

	if m, ok := decodeNewSessionTicket([]byte{0, 0, 0x1c, 0x20, 0, 3, 1, 2, 3}, false); !ok || m.Lifetime != 7200 || m.TicketLen != 3 {
		t.Errorf("TLS 1.2 ticket: %+v %v", m, ok)
	}
	t13 := []byte{0, 0, 0x0e, 0x10, 1, 2, 3, 4, 1, 9, 0, 2, 7, 7, 0, 0}
	if m, ok := decodeNewSessionTicket(t13, true); !ok || m.Lifetime != 3600 || m.TicketLen != 2 {
		t.Errorf("TLS 1.3 ticket: %+v %v", m, ok)
	}
	if _, ok := decodeNewSessionTicket(t13, false); ok {
		t.Error("TLS 1.3 ticket accepted in the TLS 1.2 layout")
	}
	if m, ok := decodeCertificateStatus([]byte{1, 0, 0, 2, 0x30, 0x00}); !ok || m.StatusType != 1 || m.ResponseLen != 2 {
		t.Errorf("certificate status: %+v %v", m, ok)
	}
	req13 := []byte{0, 0, 8, 0, 13, 0, 4, 0, 2, 0x08, 0x04}
	if m, ok := decodeCertificateRequest(req13, 0x0304); !ok || len(m.SignatureAlgorithms) != 1 || m.SignatureAlgorithms[0] != 0x0804 {
		t.Errorf("TLS 1.3 certificate request: %+v %v", m, ok)
	}
	req12 := []byte{1, 1, 0, 2, 4, 1, 0, 5, 0, 3, 0x30, 1, 2}
	if m, ok := decodeCertificateRequest(req12, 0x0303); !ok || m.Authorities != 1 || m.SignatureAlgorithms[0] != 0x0401 {
		t.Errorf("TLS 1.2 certificate request: %+v %v", m, ok)
	}
}

// An SSL 2.0-compatible ClientHello (RFC 5246, appendix E.2) answered with a
// TLS ServerHello.
func TestSSLv2ClientHello(t *testing.T) {
	specs := []byte{0x00, 0x00, 0x2f, 0x07, 0x00, 0xc0, 0x00, 0x00, 0x35} // two TLS suites, one SSL 2.0 kind
	challenge := make([]byte, 16)
	body := []byte{0x01, 0x03, 0x01, 0, byte(len(specs)), 0, 0, 0, byte(len(challenge))}
	body = append(append(body, specs...), challenge...)
	hello := append([]byte{0x80 | byte(len(body)>>8), byte(len(body))}, body...)
	sh := []byte{3, 1}
	sh = append(sh, make([]byte, 32)...)
	sh = append(sh, 0, 0x00, 0x2f, 0)
	server := append([]byte{22, 3, 1, 0, byte(4 + len(sh)), 2, 0, 0, byte(len(sh))}, sh...)

	var got []*Connection
	c := NewConn(TCP, clientAddr, serverAddr, t0, Options{Emit: func(conn *Connection) { got = append(got, conn) }})
	c.Data(0, hello, t0)
	c.Data(1, server, t0)
	c.Close()
	if len(got) != 1 || got[0].ClientHello == nil || !got[0].ClientHello.SSLv2 {
		t.Fatalf("got %+v", got)
	}
	ch := got[0].ClientHello
	if len(ch.CipherSuites) != 2 || ch.CipherSuites[1] != 0x0035 || ch.Version != 0x0301 ||
		got[0].Version != 0x0301 || CipherSuiteName(got[0].CipherSuite) != "TLS_RSA_WITH_AES_128_CBC_SHA" {
		t.Errorf("ClientHello %+v, version %s", ch, VersionName(got[0].Version))
	}
}

// TestHellosKeepNoneOfTheirBody: once kept, no byte slice or string of a
// decoded hello lies in the buffer it was decoded from, which the record
// layer reuses. Every field is looked at, so that a new one kept as a
// slice of the body fails here.
func TestHellosKeepNoneOfTheirBody(t *testing.T) {
	c, s := testPKI(t).Configs("www.example.test", tls.VersionTLS12, tls.VersionTLS13)
	writes := session(t, c, s) // TLS 1.3: a session ID, key shares, PSK modes
	_, ch13 := firstMessage(t, writes[0].Data)
	_, sh13 := firstMessage(t, writes[1].Data)
	ch12, sh12, _ := realHellos(t)
	dtls := []byte{0xfe, 0xfd}
	dtls = append(dtls, make([]byte, 32)...)
	dtls = append(dtls, 0, 4, 1, 2, 3, 4, 0, 2, 0xc0, 0x2b, 1, 0) // no session ID, a cookie, a suite, null compression

	for name, body := range map[string][]byte{"TLS 1.3 ClientHello": ch13, "TLS 1.2 ClientHello": ch12, "DTLS ClientHello": dtls} {
		m, ok := decodeClientHello(body)
		if !ok {
			t.Fatalf("%s rejected", name)
		}
		m.keep()
		if len(m.Random) != 32 || (name == "DTLS ClientHello") != (len(m.Cookie) == 4) || len(m.CompressionMethods) != 1 {
			t.Errorf("%s: %+v", name, m)
		}
		for _, f := range aliases(reflect.ValueOf(m).Elem(), body) {
			t.Errorf("%s: %s lies in the body", name, f)
		}
	}
	for name, body := range map[string][]byte{"TLS 1.3 ServerHello": sh13, "TLS 1.2 ServerHello": sh12} {
		m, ok := decodeServerHello(body)
		if !ok {
			t.Fatalf("%s rejected", name)
		}
		m.keep()
		for _, f := range aliases(reflect.ValueOf(m).Elem(), body) {
			t.Errorf("%s: %s lies in the body", name, f)
		}
	}
}

// aliases names the byte slices and strings reachable from v whose bytes
// lie in buf.
func aliases(v reflect.Value, buf []byte) []string {
	in := func(p unsafe.Pointer, n int) bool {
		lo, hi := uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&buf[len(buf)-1]))
		return n > 0 && uintptr(p) >= lo && uintptr(p) <= hi
	}
	var found []string
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		switch v.Kind() {
		case reflect.Struct:
			for i := range v.NumField() {
				walk(v.Field(i), path+"."+v.Type().Field(i).Name)
			}
		case reflect.Pointer:
			if !v.IsNil() {
				walk(v.Elem(), path)
			}
		case reflect.Slice:
			if v.Type().Elem().Kind() == reflect.Uint8 {
				if in(v.UnsafePointer(), v.Len()) {
					found = append(found, path)
				}
				return
			}
			for i := range v.Len() {
				walk(v.Index(i), path)
			}
		case reflect.String:
			if in(unsafe.Pointer(unsafe.StringData(v.String())), v.Len()) {
				found = append(found, path)
			}
		}
	}
	walk(v, "")
	return found
}
