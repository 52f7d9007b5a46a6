package parser

import (
	"slices"
	"strings"
	"testing"

	"github.com/tlssniff/tlssniff/budget"
	"github.com/tlssniff/tlssniff/reorder"
)

// dtlsServerHello is a DTLS 1.2 ServerHello body choosing
// TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256.
func dtlsServerHello() []byte {
	b := append([]byte{0xfe, 0xfd}, make([]byte, 32)...)
	return append(b, 0, 0xc0, 0x2b, 0, 0, 0)
}

// udpConn feeds datagrams, each from the side given, and returns the
// connection (nil when none was emitted) and what it held before Close.
func udpConn(t *testing.T, datagrams ...piece) (*Connection, int64) {
	t.Helper()
	var got *Connection
	mem := budget.New(1 << 30).Open(nil)
	c := NewConn(UDP, clientAddr, serverAddr, t0, Options{Emit: func(x *Connection) { got = x }, Memory: mem})
	for _, d := range datagrams {
		side := 1
		if d.fromClient {
			side = 0
		}
		c.Data(side, d.data, t0)
	}
	held := mem.Buffered()
	c.Close()
	return got, held
}

func messageTypes(c *Connection) string {
	var out []string
	for _, m := range c.Messages {
		out = append(out, m.Type.String())
	}
	return strings.Join(out, " ")
}

// TestDTLSBounds puts the DTLS record and fragment rules to work on each
// side of their bounds.
func TestDTLSBounds(t *testing.T) {
	ch := dtlsClientHello()
	chRecord := dtlsRecordBytes(recordHandshake, 0, dtlsFragmentBytes(uint8(MsgClientHello), len(ch), 0, 0, ch))
	client := func(b ...[]byte) piece {
		var d []byte
		for _, x := range b {
			d = append(d, x...)
		}
		return piece{true, d}
	}
	stun := make([]byte, 20)
	copy(stun[4:], []byte{0x21, 0x12, 0xa4, 0x42})
	for _, tc := range []struct {
		name      string
		datagrams []piece
		messages  string // "" when no connection is reported
		issues    string
	}{
		{"a ClientHello", []piece{client(chRecord)}, "ClientHello", ""},
		// What opens a DTLS flow: a record header of a known type.
		{"an empty record first", []piece{client(dtlsRecordBytes(recordHandshake, 0, nil)), client(chRecord)}, "ClientHello", ""},
		{"ChangeCipherSpec first", []piece{client(dtlsRecordBytes(recordChangeCipherSpec, 0, nil)), client(chRecord)},
			"ChangeCipherSpec ClientHello", ""},
		{"type 26 first", []piece{client(dtlsRecordBytes(26, 0, nil)), client(chRecord)}, "ClientHello", ""},
		{"type 19 is not DTLS", []piece{client(dtlsRecordBytes(19, 0, nil)), client(chRecord)}, "", ""},
		{"type 27 is not DTLS", []piece{client(dtlsRecordBytes(27, 0, nil)), client(chRecord)}, "", ""},
		{"12 bytes are not DTLS", []piece{client(dtlsRecordBytes(recordHandshake, 0, nil)[:12]), client(chRecord)}, "", ""},
		{"TLS's version is not DTLS", []piece{client([]byte{22, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}), client(chRecord)}, "", ""},
		// WebRTC's STUN beside DTLS is skipped; what only looks like it is not.
		{"STUN first", []piece{client(stun), client(chRecord)}, "ClientHello", ""},
		{"19 bytes are not STUN", []piece{client(stun[:19]), client(chRecord)}, "", ""},
		{"not STUN with the top bits set", []piece{client(append([]byte{0x40}, stun[1:]...)), client(chRecord)}, "", ""},
		// Records within their datagram.
		{"a header cut short after a record", []piece{client(chRecord, []byte{22, 0xfe, 0xfd, 0, 0})}, "ClientHello",
			"malformed_record: a DTLS record header cut short"},
		{"a record longer than its datagram", []piece{client(chRecord[:len(chRecord)-1]), client(chRecord)}, "ClientHello",
			"malformed_record: a DTLS record longer than its datagram"},
		// Fragments within their message.
		{"a fragment ending at the message's end", []piece{client(dtlsRecordBytes(recordHandshake, 0,
			append(dtlsFragmentBytes(uint8(MsgClientHello), len(ch), 0, 0, ch[:10]), dtlsFragmentBytes(uint8(MsgClientHello), len(ch), 0, 10, ch[10:])...)))},
			"ClientHello", ""},
		{"a fragment past the message's end", []piece{client(dtlsRecordBytes(recordHandshake, 0,
			dtlsFragmentBytes(uint8(MsgClientHello), len(ch)-1, 0, 0, ch))), client(chRecord)}, "ClientHello",
			"malformed_message: a DTLS handshake fragment out of its bounds"},
		{"a fragment past its record", []piece{client(dtlsRecordBytes(recordHandshake, 0,
			dtlsFragmentBytes(uint8(MsgClientHello), len(ch), 0, 0, ch)[:len(ch)+11])), client(chRecord)}, "ClientHello",
			"malformed_message: a DTLS handshake fragment out of its bounds"},
		{"a message of 64 KiB + 1", []piece{client(dtlsRecordBytes(recordHandshake, 0,
			dtlsFragmentBytes(uint8(MsgClientHello), maxDTLSMessageLen+1, 0, 0, ch))), client(chRecord)}, "ClientHello",
			"malformed_message: a DTLS handshake fragment out of its bounds"},
		// A retransmitted flight is listed, not decoded again; a piece of
		// one is not listed.
		{"a retransmitted ClientHello", []piece{client(chRecord), client(chRecord)}, "ClientHello ClientHello", ""},
		{"a retransmitted fragment", []piece{client(chRecord), client(dtlsRecordBytes(recordHandshake, 0,
			dtlsFragmentBytes(uint8(MsgClientHello), len(ch), 0, 0, ch[:10])))}, "ClientHello", ""},
		// The server's messages in message_seq order, whatever the order
		// of the datagrams; an encrypted handshake record is its Finished.
		{"the server's flight out of order", []piece{client(chRecord),
			{false, dtlsRecordBytes(recordHandshake, 0, dtlsFragmentBytes(uint8(MsgServerHelloDone), 0, 1, 0, nil))},
			{false, dtlsRecordBytes(recordHandshake, 0, dtlsFragmentBytes(uint8(MsgServerHello), len(dtlsServerHello()), 0, 0, dtlsServerHello()))},
			{false, dtlsRecordBytes(recordChangeCipherSpec, 0, []byte{1})},
			{false, dtlsRecordBytes(recordHandshake, 1, make([]byte, 40))}},
			"ClientHello ServerHello ServerHelloDone ChangeCipherSpec Finished", ""},
	} {
		got, _ := udpConn(t, tc.datagrams...)
		var msgs, issues string
		if got != nil {
			msgs, issues = messageTypes(got), issueKinds(got)
		}
		if msgs != tc.messages || issues != tc.issues {
			t.Errorf("%s: messages %q issues %q, want %q and %q", tc.name, msgs, issues, tc.messages, tc.issues)
		}
	}
}

// Messages ahead of the next expected are held up to maxDTLSPending, and
// messages up to maxDTLSMessageLen long.
func TestDTLSPending(t *testing.T) {
	ch := dtlsClientHello()
	for _, tc := range []struct{ seq, length int }{{maxDTLSPending - 1, len(ch)}, {maxDTLSPending, len(ch)},
		{0, maxDTLSMessageLen}, {0, maxDTLSMessageLen + 1}} {
		_, held := udpConn(t, piece{true, dtlsRecordBytes(recordHandshake, 0, dtlsFragmentBytes(uint8(MsgClientHello), tc.length, tc.seq, 0, ch[:10]))})
		if (held > 0) != (tc.seq < maxDTLSPending && tc.length <= maxDTLSMessageLen) {
			t.Errorf("message_seq %d of %d bytes ahead: %d bytes held", tc.seq, tc.length, held)
		}
	}
	// The window follows the next message expected: after the ClientHello
	// (0), message 16 is 15 ahead.
	chRecord := dtlsRecordBytes(recordHandshake, 0, dtlsFragmentBytes(uint8(MsgClientHello), len(ch), 0, 0, ch))
	for _, seq := range []int{maxDTLSPending, maxDTLSPending + 1} {
		_, held := udpConn(t, piece{true, chRecord}, piece{true, dtlsRecordBytes(recordHandshake, 0,
			dtlsFragmentBytes(uint8(MsgClientKeyExchange), 40, seq, 0, ch[:10]))})
		if (held > 0) != (seq == maxDTLSPending) {
			t.Errorf("message_seq %d after the ClientHello: %d bytes held", seq, held)
		}
	}
}

// Shed drops the DTLS fragments a connection holds, counts them, and
// charges nothing after.
func TestDTLSShed(t *testing.T) {
	ch := dtlsClientHello()
	var got *Connection
	mem := budget.New(1 << 30).Open(nil)
	c := NewConn(UDP, clientAddr, serverAddr, t0, Options{Emit: func(x *Connection) { got = x }, Memory: mem})
	c.Data(0, dtlsRecordBytes(recordHandshake, 0, dtlsFragmentBytes(uint8(MsgClientHello), len(ch), 0, 0, ch)), t0)
	c.Data(0, dtlsRecordBytes(recordHandshake, 0, dtlsFragmentBytes(uint8(MsgClientKeyExchange), 40, 1, 0, make([]byte, 30))), t0)
	if mem.Buffered() == 0 {
		t.Fatal("nothing held of the fragment")
	}
	c.Shed()
	c.Close()
	if k := issueKinds(got); !strings.HasPrefix(k, "memory_budget: 30 buffered bytes dropped") || mem.Buffered() != 0 {
		t.Errorf("issues %q, %d bytes charged", k, mem.Buffered())
	}
}

// FuzzDTLSFragments cuts a real ClientHello into DTLS handshake fragments
// at fuzzed offsets, reordered and repeated, in records of fuzzed
// datagrams: it is decoded once, whole, when its last byte is in.
func FuzzDTLSFragments(f *testing.F) {
	f.Add([]byte{0, 40, 30, 50, 10, 200, 0, 255})
	f.Add([]byte{0, 40, 30, 50, 10, 200, 0, 255, 0xff})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 64 {
			return
		}
		// An odd last byte says which fragments come with a lying one.
		var lies byte
		if len(ops)%2 == 1 {
			lies = ops[len(ops)-1]
		}
		body := dtlsClientHello()
		var got *Connection
		mem := budget.New(1 << 30).Open(nil)
		c := NewConn(UDP, clientAddr, serverAddr, t0, Options{Emit: func(conn *Connection) { got = conn }, Memory: mem})
		fed := 0
		covered := make([]bool, len(body))
		for i := 0; i+1 < len(ops); i += 2 {
			off := int(ops[i]) * len(body) / 256
			end := min(off+int(ops[i+1])+1, len(body))
			for j := off; j < end; j++ {
				covered[j] = true
			}
			frag := body[off:end]
			hs := []byte{uint8(MsgClientHello), 0, byte(len(body) >> 8), byte(len(body)), 0, 0,
				0, byte(off >> 8), byte(off), 0, byte(len(frag) >> 8), byte(len(frag))}
			hs = append(hs, frag...)
			if lies&(1<<(i/2%8)) != 0 {
				// A fragment of a later message whose header claims 64 KiB:
				// it costs what came, not what it claims.
				hs = append(hs, 1, 0, 0xff, 0xff, 0, byte(1+i/2%15), 0, byte(ops[i]), byte(ops[i+1]), 0, 0, 1, 0x42)
			}
			fed += len(hs)
			rec := append([]byte{recordHandshake, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, byte(i), byte(len(hs) >> 8), byte(len(hs))}, hs...)
			c.Data(0, rec, t0)
			// Each byte fed costs at most a piece of its own; 16 claims
			// of 64 KiB sized from their headers would cost 1 MiB.
			if limit := int64(16*dtlsMessageCost + (reorder.PieceCost+16)*fed); mem.Buffered() > limit {
				t.Fatalf("%d bytes charged for %d fed", mem.Buffered(), fed)
			}
		}
		c.Close()
		if got != nil && mem.Buffered() != 0 {
			t.Fatalf("%d buffered bytes still charged after the connection was decided", mem.Buffered())
		}
		complete := !slices.Contains(covered, false)
		if (got != nil && got.ClientHello != nil) != complete {
			t.Fatalf("ClientHello decoded: %v, all bytes sent: %v", got != nil && got.ClientHello != nil, complete)
		}
		if complete && (got.ClientHello.JA4[:3] != "dd2" || len(got.Messages) < 1) {
			t.Fatalf("JA4 %s, messages %+v", got.ClientHello.JA4, got.Messages)
		}
	})
}

// dtlsClientHello is a DTLS 1.2 ClientHello body with an empty cookie.
func dtlsClientHello() []byte {
	b := []byte{0xfe, 0xfd}
	b = append(b, make([]byte, 32)...)             // random
	b = append(b, 0, 0)                            // session ID, cookie
	b = append(b, 0, 4, 0xc0, 0x2b, 0xc0, 0x2f)    // two suites
	b = append(b, 1, 0)                            // null compression
	ext := []byte{0x00, 0x0a, 0, 4, 0, 2, 0, 0x17} // supported_groups: secp256r1
	b = append(b, 0, byte(len(ext)))
	return append(b, ext...)
}
