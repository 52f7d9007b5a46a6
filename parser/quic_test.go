package parser

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/hkdf"

	"github.com/tlssniff/tlssniff/budget"
	"github.com/tlssniff/tlssniff/reorder"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestInitialKeys derives the Initial keys of RFC 9001 appendix A.1 and
// the header protection mask of A.2.
func TestInitialKeys(t *testing.T) {
	dcid := unhex(t, "8394c8f03e515708")
	salt, _ := initialSalt(quicV1)
	secret := hkdfExpandLabel(hkdf.Extract(sha256.New, dcid, salt), "client in", 32)
	for _, tc := range []struct{ label, want string }{
		{"", "c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea"},
		{"quic key", "1f369613dd76d5467730efcbe3b1a22d"},
		{"quic iv", "fa044b2f42a3fd3b46fb255c"},
		{"quic hp", "9f50449e04a0e810283a1e9933adedd2"},
	} {
		got := secret
		if tc.label != "" {
			got = hkdfExpandLabel(secret, tc.label, len(tc.want)/2)
		}
		if hex.EncodeToString(got) != tc.want {
			t.Errorf("%q: %x, want %s", tc.label, got, tc.want)
		}
	}
	client, _, ok := deriveInitialKeys(quicV1, dcid)
	if !ok {
		t.Fatal("no keys for QUIC v1")
	}
	mask := make([]byte, 16)
	client.hp.Encrypt(mask, unhex(t, "d1b1c98dd7689fb8ec11d242b123dc9b"))
	if !bytes.HasPrefix(mask, unhex(t, "437b9aec36")) {
		t.Errorf("header protection mask %x", mask)
	}
}

// TestCryptoStream puts CRYPTO frames back in order: out of order,
// overlapping, retransmitted.
func TestCryptoStream(t *testing.T) {
	msg := []byte("a ClientHello too large for one Initial packet")
	var c cryptoStream
	var got []byte
	for _, f := range []cryptoFrame{{20, msg[20:30]}, {0, msg[0:12]}, {10, msg[10:25]}, {0, msg[0:5]}, {30, msg[30:]}} {
		out, _ := c.add(f, time.Time{})
		got = append(got, out...)
	}
	if !bytes.Equal(got, msg) || c.held.Len() != 0 {
		t.Errorf("got %q, %d held", got, c.held.Len())
	}
}

// sealInitial builds a client Initial packet around frames, as a QUIC
// stack would: long header, 4-byte packet number, AEAD, header protection.
func sealInitial(t testing.TB, k *initialKeys, dcid []byte, pn uint32, frames []byte) []byte {
	t.Helper()
	payload := append([]byte{}, frames...)
	for len(payload) < 1100 {
		payload = append(payload, 0) // PADDING
	}
	n := 4 + len(payload) + 16
	hdr := []byte{0xc3, 0, 0, 0, 1, byte(len(dcid))}
	hdr = append(hdr, dcid...)
	hdr = append(hdr, 0, 0, 0x40|byte(n>>8), byte(n))
	pnOffset := len(hdr)
	hdr = binary.BigEndian.AppendUint32(hdr, pn)
	nonce := append([]byte{}, k.iv...)
	for i := range 4 {
		nonce[len(nonce)-1-i] ^= byte(pn >> (8 * i))
	}
	pkt := k.aead.Seal(append([]byte{}, hdr...), nonce, payload, hdr)
	var mask [16]byte
	k.hp.Encrypt(mask[:], pkt[pnOffset+4:pnOffset+20])
	pkt[0] ^= mask[0] & 0x0f
	for i := range 4 {
		pkt[pnOffset+i] ^= mask[1+i]
	}
	return pkt
}

func cryptoFrameBytes(offset int, data []byte) []byte {
	b := []byte{0x06, 0x80 | byte(offset>>24), byte(offset >> 16), byte(offset >> 8), byte(offset), 0x40 | byte(len(data)>>8), byte(len(data))}
	return append(b, data...)
}

// TestQUICClientHelloAcrossInitials: a ClientHello made by crypto/tls's QUIC
// client (with its post-quantum key share, too large for one packet) sent
// in two Initial packets, the second first, is read whole.
func TestQUICClientHelloAcrossInitials(t *testing.T) {
	qc := tls.QUICClient(&tls.QUICConfig{TLSConfig: &tls.Config{ServerName: "h3.example.test", NextProtos: []string{"h3"},
		MinVersion: tls.VersionTLS13}})
	qc.SetTransportParameters([]byte{0x01, 0x02, 0x40, 0x64}) // max_idle_timeout 100
	if err := qc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var hello []byte
	for e := qc.NextEvent(); e.Kind != tls.QUICNoEvent; e = qc.NextEvent() {
		if e.Kind == tls.QUICWriteData && e.Level == tls.QUICEncryptionLevelInitial {
			hello = append(hello, e.Data...)
		}
	}
	if len(hello) < 1100 {
		t.Fatalf("a ClientHello of %d bytes fits one packet", len(hello))
	}
	dcid := unhex(t, "0102030405060708")
	client, _, _ := deriveInitialKeys(quicV1, dcid)
	cut := len(hello) / 2
	first := sealInitial(t, client, dcid, 0, cryptoFrameBytes(0, hello[:cut]))
	second := sealInitial(t, client, dcid, 1, cryptoFrameBytes(cut, hello[cut:]))

	var got *Connection
	c := NewConn(UDP, clientAddr, serverAddr, t0, Options{Emit: func(conn *Connection) { got = conn }})
	c.Data(0, first[:0:0], t0) // nothing yet: an empty datagram
	c.Data(0, second, t0)      // the second half first: held
	c.Data(0, first, t0)
	c.Close()
	if got == nil || got.ClientHello == nil {
		t.Fatalf("no ClientHello: %+v", got)
	}
	ch := got.ClientHello
	if sni, _ := got.SNI(); sni != "h3.example.test" || ch.Segments != 2 || !strings.HasPrefix(ch.JA4, "q13d") ||
		got.QUIC == nil || got.QUIC.ClientPackets[0] != 2 || ch.KeyShares[0] != 0x11ec {
		t.Errorf("SNI %q, %d packets, JA4 %s, key shares %v, QUIC %+v", sni, ch.Segments, ch.JA4, ch.KeyShares, got.QUIC)
	}
}

// FuzzQUICDatagrams feeds datagrams to a QUIC connection: nothing may
// panic, whatever the bytes. The seeds are real Initial packets.
func FuzzQUICDatagrams(f *testing.F) {
	dcid := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	client, _, _ := deriveInitialKeys(quicV1, dcid)
	hello := append([]byte{uint8(MsgClientHello), 0, 0, 4}, 3, 3, 0, 0)
	f.Add(sealInitial(f, client, dcid, 0, cryptoFrameBytes(0, hello)), []byte{0xc0, 0, 0, 0, 1, 0, 0})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		emitted := 0
		var got *Connection
		c := NewConn(UDP, clientAddr, serverAddr, t0, Options{Emit: func(conn *Connection) { emitted++; got = conn }})
		c.Data(0, a, t0)
		c.Data(1, b, t0)
		c.Data(0, b, t0)
		c.Close()
		if emitted > 1 {
			t.Fatalf("emitted %d times", emitted)
		}
		if got != nil && got.ClientHello != nil && got.QUIC != nil && got.ClientHello.JA4[0] != 'q' {
			t.Fatalf("a QUIC ClientHello with JA4 %s", got.ClientHello.JA4)
		}
	})
}

// FuzzCryptoStream cuts a handshake into CRYPTO frames at fuzzed offsets,
// overlapping and reordered: what comes out must be what went in, in
// order, once.
func FuzzCryptoStream(f *testing.F) {
	f.Add([]byte("a ClientHello in CRYPTO frames"), []byte{10, 5, 0, 12, 3, 30})
	f.Fuzz(func(t *testing.T, msg, ops []byte) {
		if len(msg) == 0 || len(ops) > 2048 { // storms of small frames too
			return
		}
		var c cryptoStream
		var got []byte
		for i := 0; i+1 < len(ops); i += 2 {
			off := int(ops[i]) % len(msg)
			end := min(off+int(ops[i+1])+1, len(msg))
			out, _ := c.add(cryptoFrame{uint64(off), msg[off:end]}, time.Time{})
			got = append(got, out...)
			if !bytes.HasPrefix(msg, got) {
				t.Fatalf("read %q of %q", got, msg)
			}
		}
		out, _ := c.add(cryptoFrame{0, msg}, time.Time{})
		got = append(got, out...)
		if !bytes.Equal(got, msg) {
			t.Fatalf("read %q of %q", got, msg)
		}
	})
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
