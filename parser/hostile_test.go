package parser

import (
	"encoding/binary"
	"runtime"
	"strings"
	"testing"
)

// handshakeRecords wraps a handshake message in as many records as it
// needs.
func handshakeRecords(typ uint8, body []byte) []byte {
	msg := append([]byte{typ, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
	var out []byte
	for len(msg) > 0 {
		n := min(len(msg), 1<<14)
		out = append(out, recordHandshake, 3, 3, byte(n>>8), byte(n))
		out = append(out, msg[:n]...)
		msg = msg[n:]
	}
	return out
}

// oneSide feeds the client's bytes of a connection and returns it.
func oneSide(t *testing.T, client []byte, server []byte) *Connection {
	t.Helper()
	var got *Connection
	c := NewConn("tcp", clientAddr, serverAddr, t0, Options{Emit: func(conn *Connection) { got = conn }})
	c.Data(0, client, t0)
	if server != nil {
		c.Data(1, server, t0)
	}
	c.Close()
	if got == nil {
		t.Fatal("no connection")
	}
	return got
}

func issueKinds(c *Connection) string {
	var k []string
	for _, i := range c.Issues {
		k = append(k, i.Kind+": "+i.Detail)
	}
	return strings.Join(k, "; ")
}

// Record lengths: the largest TLS allows is read; one more is malformed.
func TestRecordLengthLimits(t *testing.T) {
	ch, _, _ := realHellos(t)
	hello := handshakeRecords(typeClientHello, ch)
	big := make([]byte, recordHeaderLen+maxRecordLen)
	copy(big, []byte{recordApplicationData, 3, 3, byte(maxRecordLen >> 8), byte(maxRecordLen & 0xff)})
	c := oneSide(t, append(append([]byte{}, hello...), big...), nil)
	if len(c.Issues) != 0 || c.Messages[len(c.Messages)-1].Length != maxRecordLen {
		t.Errorf("a record of the largest length: issues %s, messages %+v", issueKinds(c), c.Messages)
	}
	over := []byte{recordApplicationData, 3, 3, byte((maxRecordLen + 1) >> 8), byte((maxRecordLen + 1) & 0xff)}
	c = oneSide(t, append(append([]byte{}, hello...), over...), nil)
	if !strings.Contains(issueKinds(c), "malformed_record: malformed record header 17 03 03 48 01") {
		t.Errorf("a record one byte too long: %s", issueKinds(c))
	}
}

// A handshake message claiming 2^24-1 bytes is refused at its header,
// before anything is buffered for it.
func TestHandshakeLengthLimit(t *testing.T) {
	ch, sh, _ := realHellos(t)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	rec := []byte{recordHandshake, 3, 3, 0, 4, typeCertificate, 0xff, 0xff, 0xff}
	c := oneSide(t, handshakeRecords(typeClientHello, ch), append(handshakeRecords(typeServerHello, sh), rec...))
	runtime.ReadMemStats(&after)
	if !strings.Contains(issueKinds(c), "malformed_message: Certificate message of 16777215 bytes exceeds the 1048576-byte limit") {
		t.Errorf("issues: %s", issueKinds(c))
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
		t.Errorf("%d bytes allocated for a message that never came", grew)
	}
}

// A certificate chain of absurd size: 60,000 entries in one message keep
// the first maxChainLen, each parsed once.
func TestAbsurdCertificateChain(t *testing.T) {
	var list []byte
	for range 60000 {
		list = append(list, 0, 0, 10, 0x30, 8, 1, 2, 3, 4, 5, 6, 7, 8)
	}
	body := append([]byte{byte(len(list) >> 16), byte(len(list) >> 8), byte(len(list))}, list...)
	ch, sh, _ := realHellos(t)
	c := oneSide(t, handshakeRecords(typeClientHello, ch), append(handshakeRecords(typeServerHello, sh), handshakeRecords(typeCertificate, body)...))
	if len(c.Certificates) != maxChainLen || c.Certificates[0].ParseError == "" {
		t.Errorf("%d certificates kept, issues %s", len(c.Certificates), issueKinds(c))
	}
}

// A ClientHello with 5,000 extensions decodes, and its fingerprints stay
// in their formats (JA4 caps the count at 99).
func TestClientHelloThousandsOfExtensions(t *testing.T) {
	ch, _, _ := realHellos(t)
	m, ok := decodeClientHello(ch)
	if !ok {
		t.Fatal("real ClientHello")
	}
	// Rebuild it with 5,000 more empty extensions of unassigned types.
	head := ch[:2+32+1+len(m.SessionID)]
	rest := ch[len(head):]
	suites := rest[:2+int(binary.BigEndian.Uint16(rest))]
	rest = rest[len(suites):]
	comp := rest[:1+int(rest[0])]
	exts := rest[len(comp)+2:]
	for i := range 5000 {
		exts = append(exts, byte(0x40+i>>8), byte(i), 0, 0)
	}
	body := append(append(append(append([]byte{}, head...), suites...), comp...), byte(len(exts)>>8), byte(len(exts)))
	body = append(body, exts...)
	big, ok := decodeClientHello(body)
	if !ok {
		t.Fatal("the ClientHello with 5,000 extensions did not decode")
	}
	big.ja3()
	big.ja4('t')
	if len(big.Extensions) != len(m.Extensions)+5000 || !strings.HasPrefix(big.JA4, "t12d10") || big.JA4[6:8] != "99" {
		t.Errorf("%d extensions, JA4 %s", len(big.Extensions), big.JA4)
	}
	c := oneSide(t, handshakeRecords(typeClientHello, body), nil)
	if c.ClientHello == nil || c.ClientHello.JA4 != big.JA4 {
		t.Errorf("through a connection: %+v", c.ClientHello)
	}
}
