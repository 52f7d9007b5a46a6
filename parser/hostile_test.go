package parser

import (
	"bytes"
	"compress/zlib"
	"crypto/tls"
	"encoding/binary"
	"io"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"github.com/tlssniff/tlssniff/budget"
	"golang.org/x/crypto/cryptobyte"
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
	c := NewConn(TCP, clientAddr, serverAddr, t0, Options{Emit: func(conn *Connection) { got = conn }})
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
		k = append(k, i.Kind.String()+": "+i.Detail)
	}
	return strings.Join(k, "; ")
}

// Record lengths: the largest TLS allows is read; one more is malformed.
func TestRecordLengthLimits(t *testing.T) {
	ch, _, _ := realHellos(t)
	hello := handshakeRecords(uint8(MsgClientHello), ch)
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
	rec := []byte{recordHandshake, 3, 3, 0, 4, uint8(MsgCertificate), 0xff, 0xff, 0xff}
	c := oneSide(t, handshakeRecords(uint8(MsgClientHello), ch), append(handshakeRecords(uint8(MsgServerHello), sh), rec...))
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
	c := oneSide(t, handshakeRecords(uint8(MsgClientHello), ch), append(handshakeRecords(uint8(MsgServerHello), sh), handshakeRecords(uint8(MsgCertificate), body)...))
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
	c := oneSide(t, handshakeRecords(uint8(MsgClientHello), body), nil)
	if c.ClientHello == nil || c.ClientHello.JA4 != big.JA4 {
		t.Errorf("through a connection: %+v", c.ClientHello)
	}
}

// oneByteRecords sends a ClientHello of n bytes in handshake records of
// one byte each and returns the bytes copied to gather it.
func oneByteRecords(t *testing.T, n int) int {
	c := NewConn(TCP, clientAddr, serverAddr, t0, Options{Emit: func(*Connection) {}})
	msg := append([]byte{uint8(MsgClientHello), byte(n >> 16), byte(n >> 8), byte(n)}, make([]byte, n)...)
	stream := make([]byte, 0, 6*len(msg))
	for _, b := range msg {
		stream = append(stream, recordHandshake, 3, 1, 0, 1, b)
	}
	for len(stream) > 0 {
		k := min(1460, len(stream))
		c.Data(0, stream[:k], t0)
		stream = stream[k:]
	}
	if len(c.c.Messages) != 1 || c.c.Messages[0].Type.String() != "ClientHello" || c.c.Messages[0].Length != n {
		t.Fatalf("messages %+v", c.c.Messages)
	}
	return c.sides[0].copied
}

// A handshake message in records of one byte each is copied once: four
// times the bytes copy four times as much (every record copied the whole
// buffer again before: quadratic).
func TestOneByteRecordsAreLinear(t *testing.T) {
	small, large := oneByteRecords(t, 64<<10), oneByteRecords(t, 256<<10)
	t.Logf("copied %d bytes for 64 KiB, %d for 256 KiB", small, large)
	if small > 64<<10+4 || large > 256<<10+4 {
		t.Errorf("copied %d and %d bytes: each byte should be copied once", small, large)
	}
}

// dtlsHeaders sends n DTLS flows, each one datagram of 16 one-byte
// fragments of messages that claim 64 KiB, and returns the bytes they
// charged and the heap they grew.
func TestDTLSFragmentHeadersCostWhatCame(t *testing.T) {
	const flows = 500
	b := budget.New(1 << 40)
	var conns []*Conn
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range flows {
		var rec []byte
		for seq := range 16 {
			rec = append(rec, 1, 0, 0xff, 0xff, 0, byte(seq), 0, 0x10, 0, 0, 0, 1, 0x42)
		}
		d := append([]byte{22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, byte(len(rec) >> 8), byte(len(rec))}, rec...)
		c := NewConn(UDP, clientAddr, serverAddr, t0, Options{Emit: func(*Connection) {}, Memory: b.Open(nil)})
		c.Data(0, d, t0)
		conns = append(conns, c)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / flows
	charged := b.Used() / flows
	t.Logf("per flow: %d bytes on the heap, %d charged (16 messages claiming 64 KiB)", heap, charged)
	if heap > 16<<10 || charged > 16<<10 {
		t.Errorf("per flow: %d bytes on the heap, %d charged: sized from the headers", heap, charged)
	}
	runtime.KeepAlive(conns)
}

// certificateCut returns a real TLS 1.2 server flight and an offset inside
// its Certificate record.
func certificateCut(t *testing.T) (client, server []byte, cut int) {
	c, s := testPKI(t).Configs("www.example.test", tls.VersionTLS12, tls.VersionTLS12)
	flights := session(t, c, s)
	server = flights[1].Data
	next := recordHeaderLen + (int(server[3])<<8 | int(server[4])) // past the ServerHello record
	if server[next+recordHeaderLen] != uint8(MsgCertificate) {
		t.Fatalf("the second record holds handshake type %d", server[next+recordHeaderLen])
	}
	return flights[0].Data, server, next + 100
}

// When the budget refuses to buffer a record cut across segments, the
// record is dropped and said so, and the records after it are read.
func TestMemoryBudgetRefusal(t *testing.T) {
	client, server, cut := certificateCut(t)
	var got *Connection
	mem := budget.New(connCost + 64).Open(nil) // room for a small record tail, not a certificate
	c := NewConn(TCP, clientAddr, serverAddr, t0, Options{Emit: func(conn *Connection) { got = conn }, Memory: mem})
	c.Data(0, client, t0)
	c.Data(1, server[:cut], t0)
	c.Data(1, server[cut:], t0)
	c.Close()
	if got == nil || got.Certificates != nil || !slices.ContainsFunc(got.Messages, func(m Message) bool { return m.Type.String() == "ServerHelloDone" }) ||
		!strings.Contains(issueKinds(got), "memory_budget") {
		t.Fatalf("connection %+v", got)
	}
}

// Shed drops what a connection buffers, says so, and reading goes on
// after it: the Certificate cut in two is lost, the messages after it are
// not, and nothing stays charged.
func TestShed(t *testing.T) {
	client, server, cut := certificateCut(t)
	var got *Connection
	mem := budget.New(1 << 30).Open(nil)
	c := NewConn(TCP, clientAddr, serverAddr, t0, Options{Emit: func(conn *Connection) { got = conn }, Memory: mem})
	c.Data(0, client, t0)
	c.Data(1, server[:cut], t0)
	if mem.Buffered() == 0 {
		t.Fatal("nothing buffered of the Certificate record")
	}
	c.Shed()
	if mem.Buffered() != 0 {
		t.Errorf("%d bytes still charged after Shed", mem.Buffered())
	}
	c.Data(1, server[cut:], t0)
	c.Close()
	if got == nil || got.Certificates != nil || !slices.ContainsFunc(got.Messages, func(m Message) bool { return m.Type.String() == "ServerHelloDone" }) {
		t.Fatalf("connection %+v", got)
	}
	if n := strings.Count(issueKinds(got), "memory_budget"); n != 2 {
		t.Errorf("issues %s: want the shed bytes and the record they cut", issueKinds(got))
	}
}

// TestAlertStorm: a side that sends alerts without end before the
// handshake is decided is kept to maxMessages of them, the first (which
// the outcome names) among them.
func TestAlertStorm(t *testing.T) {
	f := tls12Flights(t)
	var got *Connection
	c := NewConn(TCP, clientAddr, serverAddr, t0, Options{Emit: func(x *Connection) { got = x }})
	c.Data(0, f.clientHello.data, t0)
	storm := bytes.Repeat(alertRecord(false, 1, 0).data, 3*maxMessages)
	c.Data(1, append(alertRecord(false, 2, 40).data, storm...), t0)
	c.Close()
	if len(got.Alerts) != maxMessages || got.Alerts[0].Description != 40 || got.MessagesDropped != 2*maxMessages+2 {
		t.Errorf("%d alerts, first %+v, %d messages dropped", len(got.Alerts), got.Alerts[0], got.MessagesDropped)
	}
	if got.AlertAt(1) != &got.Alerts[0] || got.AlertAt(0) != nil || got.AlertAt(maxMessages-1) != &got.Alerts[maxMessages-2] {
		t.Error("AlertAt does not find the alerts by their messages")
	}
}

// TestCompressedCertificate reads a real chain compressed with zlib,
// brotli and zstd (RFC 8879), and refuses what lies about its length or
// would grow past the handshake buffer; an unknown algorithm is named, not
// read.
func TestCompressedCertificate(t *testing.T) {
	pki := testPKI(t)
	var b cryptobyte.Builder
	b.AddUint8(0) // certificate_request_context
	b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, der := range pki.Server.Certificate {
			b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(der) })
			b.AddUint16(0) // no extensions
		}
	})
	plain := b.BytesOrPanic()
	compress := func(algorithm uint16, data []byte, claim int) []byte {
		var out bytes.Buffer
		var w io.WriteCloser
		switch algorithm {
		case compressZlib:
			w = zlib.NewWriter(&out)
		case compressBrotli:
			w = brotli.NewWriter(&out)
		case compressZstd:
			w, _ = zstd.NewWriter(&out)
		default:
			w = nopCloser{&out}
		}
		w.Write(data)
		w.Close()
		var m cryptobyte.Builder
		m.AddUint16(algorithm)
		m.AddUint24(uint32(claim))
		m.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(out.Bytes()) })
		return m.BytesOrPanic()
	}
	for _, alg := range []uint16{compressZlib, compressBrotli, compressZstd} {
		out, a, ok := decompressCertificate(compress(alg, plain, len(plain)))
		if !ok || a != alg || !bytes.Equal(out, plain) {
			t.Errorf("algorithm %d: %v, %d bytes", alg, ok, len(out))
		}
		if _, _, ok := decompressCertificate(compress(alg, plain, len(plain)+1)); ok {
			t.Errorf("algorithm %d: a length one too long was taken", alg)
		}
		bomb := bytes.Repeat([]byte{0}, maxHandshakeBuffer+1)
		if _, _, ok := decompressCertificate(compress(alg, bomb, len(bomb))); ok {
			t.Errorf("algorithm %d: %d bytes past the handshake buffer were taken", alg, len(bomb))
		}
	}
	if out, a, ok := decompressCertificate(compress(4, plain, len(plain))); !ok || a != 4 || out != nil {
		t.Errorf("an unknown algorithm: %v %d %d", ok, a, len(out))
	}
	if _, _, ok := decompressCertificate([]byte{0, 2, 0}); ok {
		t.Error("a message cut short was taken")
	}
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
