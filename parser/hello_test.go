package parser

import (
	"crypto/tls"
	"encoding/binary"
	"testing"
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
	if typ != typeCertificate {
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
	chain, ok := decodeCertificate(cert, false)
	if !ok || len(chain) != 2 || chain[0].ParseError != "" {
		t.Fatalf("chain %+v %v", chain, ok)
	}
	if _, ok := decodeCertificate(cert, true); ok {
		t.Error("TLS 1.2 layout accepted as TLS 1.3")
	}
	for n := 0; n < len(cert); n += 7 {
		if _, ok := decodeCertificate(cert[:n], false); ok {
			t.Fatalf("prefix of %d/%d bytes accepted", n, len(cert))
		}
	}
	// A certificate that is not DER still has its fingerprint reported.
	junk, ok := decodeCertificate([]byte{0, 0, 6, 0, 0, 3, 1, 2, 3}, false)
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
	if _, ok := decodeServerKeyExchange([]byte{3, 0}, 0xc02f); ok {
		t.Error("short ECDHE parameters accepted")
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
