package parser

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tlssniff/tlssniff/budget"
)

// seedSessions adds the two directions of real TLS 1.2 and 1.3 sessions.
func seedSessions(f *testing.F, add func(client, server []byte)) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		c, s := testPKI(f).Configs("www.example.test", v, v)
		var client, server []byte
		for _, w := range session(f, c, s) {
			if w.FromClient {
				client = append(client, w.Data...)
			} else {
				server = append(server, w.Data...)
			}
		}
		add(client, server)
	}
}

// rerecord cuts the handshake records of a stream into records of size
// bytes of handshake data each. Other records stay as they are, and so
// does the rest of the stream from the first bytes that are not a whole
// record the parser takes: cutting those would give it other input.
func rerecord(stream []byte, size int) []byte {
	var out, hs []byte
	flush := func() {
		for len(hs) > 0 {
			n := min(size, len(hs))
			out = append(out, recordHandshake, 3, 3, byte(n>>8), byte(n))
			out = append(out, hs[:n]...)
			hs = hs[n:]
		}
	}
	for len(stream) >= recordHeaderLen && validRecordHeader(stream) {
		n := int(stream[3])<<8 | int(stream[4])
		if len(stream) < recordHeaderLen+n {
			break
		}
		if stream[0] == recordHandshake {
			hs = append(hs, stream[recordHeaderLen:recordHeaderLen+n]...)
		} else {
			flush()
			out = append(out, stream[:recordHeaderLen+n]...)
		}
		stream = stream[recordHeaderLen+n:]
	}
	flush()
	return append(out, stream...)
}

// FuzzRecordStorm re-cuts a real session's handshake into records of any
// size, one byte included, with a memory budget: the same messages are
// read, in the same order, and everything charged is given back. A message
// claiming more than maxHandshakeBuffer has its side read again from its
// next handshake record (cutMessages), so where the bytes as sent have one
// the records' boundaries count, and only the budget is checked.
func FuzzRecordStorm(f *testing.F) {
	seedSessions(f, func(client, server []byte) { f.Add(client, server, uint16(1)); f.Add(client, server, uint16(7)) })
	tooLong := fmt.Sprintf("exceeds the %d-byte limit", maxHandshakeBuffer)
	f.Fuzz(func(t *testing.T, client, server []byte, size uint16) {
		read := func(client, server []byte, mem *budget.Account) (types []string, resynced bool) {
			var got *Connection
			c := NewConn(TCP, clientAddr, serverAddr, t0, Options{Emit: func(conn *Connection) { got = conn }, Memory: mem})
			c.Data(0, client, t0)
			c.Data(1, server, t0)
			c.Close()
			if got == nil {
				return nil, false
			}
			for _, m := range got.Messages {
				if !m.Encrypted {
					types = append(types, m.Type.String())
				}
			}
			resynced = len(got.Issues) == maxIssues // the issue may not have been kept
			for _, i := range got.Issues {
				resynced = resynced || i.Kind == IssueMalformedMessage && strings.HasSuffix(i.Detail, tooLong)
			}
			return types, resynced
		}
		mem := budget.New(1 << 30).Open(nil)
		want, resynced := read(client, server, nil)
		got, _ := read(rerecord(client, int(size)+1), rerecord(server, int(size)+1), mem)
		if !resynced && !reflect.DeepEqual(want, got) && len(want) > 0 && want[0] == "ClientHello" {
			t.Fatalf("in records of %d bytes: %v; as sent: %v", size+1, got, want)
		}
		if got != nil && mem.Buffered() != 0 {
			t.Fatalf("%d buffered bytes still charged after the connection was decided", mem.Buffered())
		}
	})
}

var (
	md5Hex = regexp.MustCompile(`^[0-9a-f]{32}$`)
	ja4Re  = regexp.MustCompile(`^t(1[0-3]|s[23]|d[123]|00)[di](\d\d)(\d\d)[0-9A-Za-z]{2}_([0-9a-f]{12})_([0-9a-f]{12})$`)
)

// checkFingerprints holds a decoded ClientHello's JA3 and JA4 to their
// formats: JA3 an MD5 of five comma-separated fields, JA4 FoxIO's layout
// with the counts of the suites and extensions without GREASE (at most
// 99), and JA4_r the same prefix.
func checkFingerprints(t *testing.T, m *ClientHello) {
	t.Helper()
	if !md5Hex.MatchString(m.JA3) || strings.Count(m.JA3String, ",") != 4 {
		t.Fatalf("JA3 %q of %q", m.JA3, m.JA3String)
	}
	f := ja4Re.FindStringSubmatch(m.JA4)
	if f == nil || !strings.HasPrefix(m.JA4R, m.JA4[:10]) {
		t.Fatalf("JA4 %q, JA4_r %q", m.JA4, m.JA4R)
	}
	count := func(vs []uint16) string {
		n := 0
		for _, v := range vs {
			if !IsGREASE(v) {
				n++
			}
		}
		return fmt.Sprintf("%02d", min(n, 99))
	}
	if f[2] != count(m.CipherSuites) || f[3] != count(m.Extensions) {
		t.Fatalf("JA4 %q counts %s suites and %s extensions, the hello has %s and %s", m.JA4, f[2], f[3], count(m.CipherSuites), count(m.Extensions))
	}
}

// FuzzRecordLayer checks that a stream cut anywhere gives the same records
// and the same error as the stream in one piece.
func FuzzRecordLayer(f *testing.F) {
	seedSessions(f, func(client, server []byte) {
		f.Add(client, uint8(3))
		f.Add(server, uint8(0))
	})
	f.Add([]byte("\x05\x01\x00\x16\x03\x01\x00\x04\x01\x00\x00\x00"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		run := func(size int) ([]Record, error) {
			var l RecordLayer
			h := &collect{}
			var err error
			for b := data; len(b) > 0 && err == nil; {
				n := min(size, len(b))
				err = l.Feed(b[:n], time.Time{}, h)
				b = b[n:]
			}
			return h.records, err
		}
		whole, werr := run(len(data) + 1)
		cut, cerr := run(int(step) + 1)
		if !reflect.DeepEqual(whole, cut) || (werr == nil) != (cerr == nil) || werr != nil && werr.Error() != cerr.Error() {
			t.Fatalf("in one piece: %d records, %v; in pieces of %d: %d records, %v", len(whole), werr, step+1, len(cut), cerr)
		}
	})
}

// FuzzConn feeds both directions of a connection in alternating pieces: no
// panic, at most one emitted connection, bounded lists.
func FuzzConn(f *testing.F) {
	seedSessions(f, func(client, server []byte) { f.Add(client, server, uint8(200)) })
	f.Fuzz(func(t *testing.T, client, server []byte, step uint8) {
		emitted := 0
		var last *Connection
		c := NewConn(TCP, clientAddr, serverAddr, t0, Options{Emit: func(conn *Connection) { emitted++; last = conn }})
		size := int(step) + 1
		for len(client) > 0 || len(server) > 0 {
			n := min(size, len(client))
			c.Data(0, client[:n], t0)
			client = client[n:]
			n = min(size, len(server))
			c.Data(1, server[:n], t0)
			server = server[n:]
		}
		c.Close()
		if emitted > 1 {
			t.Fatalf("emitted %d times", emitted)
		}
		if last != nil && (len(last.Messages) > maxMessages || len(last.Issues) > maxIssues) {
			t.Fatalf("%d messages, %d issues", len(last.Messages), len(last.Issues))
		}
	})
}

func seedHellos(f *testing.F, pick func(client, server []byte) []byte) {
	seedSessions(f, func(client, server []byte) {
		b := pick(client, server)
		n := int(b[6])<<16 | int(b[7])<<8 | int(b[8])
		f.Add(bytes.Clone(b[9 : 9+n]))
	})
}

func FuzzDecodeClientHello(f *testing.F) {
	seedHellos(f, func(client, _ []byte) []byte { return client })
	f.Fuzz(func(t *testing.T, body []byte) {
		if m, ok := decodeClientHello(body); ok {
			m.ja3()
			m.ja4('t')
			checkFingerprints(t, m)
		}
		if m, ok := decodeSSLv2ClientHello(body); ok {
			m.ja3()
			m.ja4('t')
			checkFingerprints(t, m)
		}
	})
}

func FuzzDecodeServerHello(f *testing.F) {
	seedHellos(f, func(_, server []byte) []byte { return server })
	f.Fuzz(func(t *testing.T, body []byte) {
		if m, ok := decodeServerHello(body); ok {
			m.ja3s()
			if !md5Hex.MatchString(m.JA3S) || strings.Count(m.JA3SString, ",") != 2 {
				t.Fatalf("JA3S %q of %q", m.JA3S, m.JA3SString)
			}
		}
	})
}

func FuzzDecodeCertificate(f *testing.F) {
	c, s := testPKI(f).Configs("www.example.test", tls.VersionTLS12, tls.VersionTLS12)
	flight := session(f, c, s)[1].Data
	next := recordHeaderLen + (int(flight[3])<<8 | int(flight[4]))
	f.Add(bytes.Clone(flight[next+recordHeaderLen+4:]), false)
	f.Fuzz(func(t *testing.T, body []byte, tls13 bool) {
		chain, ok := decodeCertificate(body, tls13, nil)
		if ok && len(chain) > maxChainLen {
			t.Fatalf("%d certificates kept", len(chain))
		}
	})
}
