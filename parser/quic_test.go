package parser

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
)

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
