package parser

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/hex"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tlssniff/tlssniff/keylog"
)

// quicFlights runs a QUIC handshake between crypto/tls's QUIC client and
// server in memory and returns the CRYPTO data each sent: the client's
// Initial (ClientHello) and Handshake (Finished), the server's Initial
// (ServerHello) and Handshake (EncryptedExtensions to Finished).
func quicFlights(t *testing.T) (clientInitial, clientHandshake, serverInitial, serverHandshake []byte) {
	r := quicRun(t)
	return r.clientInitial, r.clientHandshake, r.serverInitial, r.serverHandshake
}

// quicSession is what a crypto/tls QUIC handshake sent, with the secrets
// of its Handshake level as a key log would give them.
type quicSession struct {
	clientInitial, clientHandshake, serverInitial, serverHandshake []byte
	clientSecret, serverSecret                                     []byte // of the Handshake level
	suite                                                          uint16
}

func quicRun(t *testing.T) quicSession {
	c, s := testPKI(t).Configs("h3.example.test", tls.VersionTLS13, tls.VersionTLS13)
	c.NextProtos, s.NextProtos = []string{"h3"}, []string{"h3"}
	params := []byte{0x01, 0x02, 0x40, 0x64} // max_idle_timeout 100
	client := tls.QUICClient(&tls.QUICConfig{TLSConfig: c})
	server := tls.QUICServer(&tls.QUICConfig{TLSConfig: s})
	client.SetTransportParameters(params)
	var r quicSession
	drain := func(q *tls.QUICConn) (initial, handshake []byte) {
		for e := q.NextEvent(); e.Kind != tls.QUICNoEvent; e = q.NextEvent() {
			switch {
			case e.Kind == tls.QUICTransportParametersRequired:
				q.SetTransportParameters(params)
			case e.Kind == tls.QUICSetWriteSecret && e.Level == tls.QUICEncryptionLevelHandshake && q == client:
				r.clientSecret, r.suite = bytes.Clone(e.Data), e.Suite
			case e.Kind == tls.QUICSetWriteSecret && e.Level == tls.QUICEncryptionLevelHandshake:
				r.serverSecret = bytes.Clone(e.Data)
			case e.Kind == tls.QUICWriteData && e.Level == tls.QUICEncryptionLevelInitial:
				initial = append(initial, e.Data...)
			case e.Kind == tls.QUICWriteData && e.Level == tls.QUICEncryptionLevelHandshake:
				handshake = append(handshake, e.Data...)
			}
		}
		return initial, handshake
	}
	ctx := context.Background()
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := server.Start(ctx); err != nil {
		t.Fatal(err)
	}
	r.clientInitial, _ = drain(client)
	if err := server.HandleData(tls.QUICEncryptionLevelInitial, r.clientInitial); err != nil {
		t.Fatal(err)
	}
	r.serverInitial, r.serverHandshake = drain(server)
	if err := client.HandleData(tls.QUICEncryptionLevelInitial, r.serverInitial); err != nil {
		t.Fatal(err)
	}
	if err := client.HandleData(tls.QUICEncryptionLevelHandshake, r.serverHandshake); err != nil {
		t.Fatal(err)
	}
	_, r.clientHandshake = drain(client)
	if len(r.clientInitial) == 0 || len(r.serverInitial) == 0 || len(r.serverHandshake) == 0 || len(r.clientHandshake) == 0 ||
		r.clientSecret == nil || r.serverSecret == nil {
		t.Fatal("the QUIC handshake did not complete")
	}
	return r
}

// handshakePacket is a QUIC v1 Handshake packet of n protected bytes (its
// keys are not known to the parser, which reads only its size).
func handshakePacket(dcid, scid []byte, n int) []byte {
	b := []byte{0xe3, 0, 0, 0, 1, byte(len(dcid))}
	b = append(b, dcid...)
	b = append(b, byte(len(scid)))
	b = append(b, scid...)
	b = append(b, 0x40|byte(n>>8), byte(n))
	return append(b, make([]byte, n)...)
}

// shortPacket is a 1-RTT packet.
func shortPacket(dcid []byte, n int) []byte {
	return append(append([]byte{0x43}, dcid...), make([]byte, n)...)
}

// TestQUICHandshake: a QUIC handshake by crypto/tls, its Initials sealed as
// on the wire and its Handshake packets sized as they are: the ClientHello
// and ServerHello are read, each side's last Handshake packet is its
// Finished once the client sends 1-RTT, and the connection is decided
// when both sides sent data. A 1-RTT packet before both sides' Handshake
// packets, or the server's first, completes nothing.
func TestQUICHandshake(t *testing.T) {
	ci, chs, si, shs := quicFlights(t)
	dcid, serverCID := unhex(t, "8394c8f03e515708"), unhex(t, "f067a5502a4262b5")
	ck, sk, _ := deriveInitialKeys(quicV1, dcid)
	clientInitial := sealInitial(t, ck, dcid, 0, cryptoFrameBytes(0, ci))
	// The server's Initial also carries an ACK of the client's (largest 2,
	// delay 0, one more range: first 0, gap 0, length 0), a PING and
	// PADDING.
	serverInitial := sealInitial(t, sk, dcid, 0, append(append([]byte{0x02, 2, 0, 1, 0, 0, 0}, cryptoFrameBytes(0, si)...), 0x01, 0x00))
	server1 := handshakePacket(dcid, serverCID, len(shs)/2+20)
	server2 := handshakePacket(dcid, serverCID, len(shs)-len(shs)/2+20)
	clientFin := handshakePacket(serverCID, dcid, len(chs)+20)
	clientData, serverData := piece{true, shortPacket(serverCID, 60)}, piece{false, shortPacket(dcid, 80)}
	handshake := []piece{{true, clientInitial}, {false, serverInitial}, {false, server1}, {false, server2}, {true, clientFin}}
	clientOnly := func(n int) []piece {
		p := append([]piece(nil), handshake...)
		for range n {
			p = append(p, clientData)
		}
		return p
	}
	const finished = "ClientHello ServerHello EncryptedHandshake Finished Finished"
	for _, tc := range []struct {
		name     string
		packets  []piece
		messages string
		decided  bool
	}{
		// Without the server's data, the handshake is decided after
		// maxAfterHandshake packets (the one that completed it counts).
		{"the client's data only", clientOnly(maxAfterHandshake - 1),
			finished + strings.Repeat(" ApplicationData", maxAfterHandshake-1), false},
		{"the client's data only, one more", clientOnly(maxAfterHandshake),
			finished + strings.Repeat(" ApplicationData", maxAfterHandshake), true},
		{"handshake", []piece{{true, clientInitial}, {false, serverInitial}, {false, server1}, {false, server2},
			{true, clientFin}, clientData, clientData, serverData},
			"ClientHello ServerHello EncryptedHandshake Finished Finished ApplicationData ApplicationData ApplicationData", true},
		{"1-RTT before the Handshake packets", []piece{{true, clientInitial}, {false, serverInitial}, clientData,
			{false, server1}, {false, server2}},
			"ClientHello ServerHello EncryptedHandshake EncryptedHandshake", false},
		{"1-RTT before the client's Handshake packet", []piece{{true, clientInitial}, {false, serverInitial},
			{false, server1}, clientData, {true, clientFin}},
			"ClientHello ServerHello EncryptedHandshake EncryptedHandshake", false},
		{"the server's 1-RTT first", []piece{{true, clientInitial}, {false, serverInitial}, {false, server1},
			{false, server2}, {true, clientFin}, serverData},
			"ClientHello ServerHello EncryptedHandshake EncryptedHandshake EncryptedHandshake", false},
	} {
		// The client on side 1 (the caller guessed wrong) changes nothing.
		var got, flipped *Connection
		c := NewConn(UDP, clientAddr, serverAddr, t0, Options{Emit: func(x *Connection) { got = x }})
		f := NewConn(UDP, serverAddr, clientAddr, t0, Options{Emit: func(x *Connection) { flipped = x }})
		for i, p := range tc.packets {
			ts := t0.Add(time.Duration(i) * time.Millisecond)
			c.Data(map[bool]int{true: 0, false: 1}[p.fromClient], p.data, ts)
			f.Data(map[bool]int{true: 1, false: 0}[p.fromClient], p.data, ts)
		}
		decided := got != nil
		c.Close()
		f.Close()
		if !reflect.DeepEqual(got.Messages, flipped.Messages) || flipped.Client != clientAddr || flipped.Server != serverAddr || got.ClientFinishedTime != flipped.ClientFinishedTime ||
			got.ServerFinishedTime != flipped.ServerFinishedTime || got.QUIC.ClientPackets != flipped.QUIC.ClientPackets {
			t.Errorf("%s: the client on side 1 gives another connection: %+v", tc.name, flipped)
		}
		for _, m := range got.Messages {
			if m.Type.String() == "Finished" && !map[Direction]time.Time{FromClient: got.ClientFinishedTime,
				FromServer: got.ServerFinishedTime}[m.From].Equal(m.Time) {
				t.Errorf("%s: the %s's Finished at %v, its finished time %v %v", tc.name, m.From, m.Time,
					got.ClientFinishedTime, got.ServerFinishedTime)
			}
		}
		q := got.QUIC
		established := strings.Contains(tc.messages, "Finished")
		if decided != tc.decided || messageTypes(got) != tc.messages || got.Established != established || len(got.Issues) > 0 {
			t.Errorf("%s: decided %v, established %v, messages %s, issues %s; want %v, %s", tc.name, decided,
				got.Established, messageTypes(got), issueKinds(got), tc.decided, tc.messages)
		}
		if sni, _ := got.SNI(); sni != "h3.example.test" || got.ClientHello.JA4[:4] != "q13d" || CipherSuiteName(got.CipherSuite) != "TLS_AES_128_GCM_SHA256" ||
			q == nil || string(q.ServerSCID) != string(serverCID) || string(q.DCID) != string(dcid) || got.Resumed {
			t.Errorf("%s: SNI %s, JA4 %s, suite %#04x, QUIC %+v", tc.name, sni, got.ClientHello.JA4, got.CipherSuite, q)
		}
		if tc.name == "handshake" && (q.ClientPackets != [4]int{1, 0, 1, 2} || q.ServerPackets != [4]int{1, 0, 2, 1}) {
			t.Errorf("packets: client %v, server %v", q.ClientPackets, q.ServerPackets)
		}
	}
}

// Connection IDs are at most 20 bytes (RFC 9000, section 17.2): an Initial
// with one of 20 is read, one of 21 is not QUIC. A long header cut short
// after the connection started is an issue, not the end of it.
func TestQUICHeaderBounds(t *testing.T) {
	ci, _, _, _ := quicFlights(t)
	for _, n := range []int{20, 21} {
		dcid := make([]byte, n)
		dcid[0] = 7
		ck, _, _ := deriveInitialKeys(quicV1, dcid)
		got, _ := udpConn(t, piece{true, sealInitial(t, ck, dcid, 0, cryptoFrameBytes(0, ci))})
		if (got != nil && got.ClientHello != nil) != (n <= 20) {
			t.Errorf("a connection ID of %d bytes: %+v", n, got)
		}
	}
	dcid := unhex(t, "8394c8f03e515708")
	ck, _, _ := deriveInitialKeys(quicV1, dcid)
	initial := sealInitial(t, ck, dcid, 0, cryptoFrameBytes(0, ci))
	got, _ := udpConn(t, piece{true, initial}, piece{true, initial[:12]}, piece{true, initial})
	if got == nil || issueKinds(got) != "malformed_record: a QUIC long header packet cut short" || got.QUIC.ClientPackets[0] != 2 {
		t.Errorf("a long header cut short: %+v, issues %s", got, issueKinds(got))
	}
}

// sealedQUIC lays a crypto/tls QUIC handshake out as packets sealed with
// its real secrets (the server's Initial and first Handshake packet in one
// datagram, then the rest, the client's Finished, a 1-RTT packet), and
// returns them with the key log lines of its handshake secrets, client's
// and server's (swapped when swap is set).
func sealedQUIC(t *testing.T, r quicSession, swap bool) ([]piece, string) {
	dcid, serverCID := unhex(t, "8394c8f03e515708"), unhex(t, "f067a5502a4262b5")
	ck, sk, _ := deriveInitialKeys(quicV1, dcid)
	chk, _ := quicKeys(quicV1, r.suite, r.clientSecret)
	shk, _ := quicKeys(quicV1, r.suite, r.serverSecret)
	half := len(r.serverHandshake) / 2
	packets := []piece{
		{true, sealInitial(t, ck, dcid, 0, cryptoFrameBytes(0, r.clientInitial))},
		{false, append(sealInitial(t, sk, dcid, 0, cryptoFrameBytes(0, r.serverInitial)),
			sealHandshake(shk, dcid, serverCID, 0, cryptoFrameBytes(0, r.serverHandshake[:half]))...)},
		{false, sealHandshake(shk, dcid, serverCID, 1, cryptoFrameBytes(half, r.serverHandshake[half:]))},
		{true, sealHandshake(chk, serverCID, dcid, 0, cryptoFrameBytes(0, r.clientHandshake))},
		{true, shortPacket(serverCID, 60)},
	}
	client, server := r.clientSecret, r.serverSecret
	if swap {
		client, server = server, client
	}
	random := hex.EncodeToString(r.clientInitial[6:38])
	return packets, "CLIENT_HANDSHAKE_TRAFFIC_SECRET " + random + " " + hex.EncodeToString(client) + "\n" +
		"SERVER_HANDSHAKE_TRAFFIC_SECRET " + random + " " + hex.EncodeToString(server) + "\n"
}

// TestQUICDecrypt: a crypto/tls QUIC handshake whose Handshake packets are
// sealed with their real secrets is read with the key log lines those
// secrets make: the server's EncryptedExtensions (with the ALPN),
// Certificate, CertificateVerify and Finished and the client's Finished,
// instead of packets placed by their order. Secrets that do not fit leave
// the packets placed as without keys.
func TestQUICDecrypt(t *testing.T) {
	r := quicRun(t)
	packets, _ := sealedQUIC(t, r, false)
	keyLog := func(swap bool) *keylog.Log {
		_, lines := sealedQUIC(t, r, swap)
		l := keylog.New()
		l.Read(strings.NewReader(lines), "quic.keys", func(e *keylog.LineError) { t.Error(e) })
		return l
	}
	play := func(keys *keylog.Log) *Connection {
		var got *Connection
		c := NewConn(UDP, clientAddr, serverAddr, t0, Options{Emit: func(x *Connection) { got = x }, Keys: keys})
		for i, p := range packets {
			c.Data(map[bool]int{true: 0, false: 1}[p.fromClient], p.data, t0.Add(time.Duration(i)*time.Millisecond))
		}
		c.Close()
		return got
	}
	got := play(keyLog(false))
	alpn, _ := got.ALPN()
	if seq := sequence(got); seq != "cClientHello sServerHello s+EncryptedExtensions s+Certificate s+CertificateVerify s+Finished c+Finished c~ApplicationData" ||
		got.Decryption.Keys != "decrypted" || alpn != "h3" || len(got.Certificates) != 2 || !got.Established || len(got.Issues) > 0 {
		t.Errorf("with keys: %s\ndecryption %+v, ALPN %q, %d certificates, established %v, issues %s", seq, got.Decryption, alpn,
			len(got.Certificates), got.Established, issueKinds(got))
	}
	wrong := play(keyLog(true))
	if seq := sequence(wrong); seq != "cClientHello sServerHello s~EncryptedHandshake s~Finished c~Finished c~ApplicationData" ||
		wrong.Decryption.Keys != "mismatch" {
		t.Errorf("with the secrets swapped: %s, %+v", seq, wrong.Decryption)
	}
}

// TestQUICKeysThatCome: with a key log still being followed, a QUIC
// connection whose secrets come after its first Handshake packets holds
// them and reads them once they come; when they never come, it reads as
// without keys.
func TestQUICKeysThatCome(t *testing.T) {
	packets, lines := sealedQUIC(t, quicRun(t), false)
	play := func(after int) string {
		keys := keylog.New()
		var got *Connection
		c := NewConn(UDP, clientAddr, serverAddr, t0, Options{Keys: keys, KeysFollowed: true, Emit: func(x *Connection) { got = x }})
		for i, p := range packets {
			c.Data(map[bool]int{true: 0, false: 1}[p.fromClient], p.data, t0.Add(time.Duration(i)*time.Millisecond))
			if i == after {
				keys.Read(strings.NewReader(lines), "live.keys", func(e *keylog.LineError) { t.Error(e) })
			}
		}
		c.Close()
		return sequence(got)
	}
	const decrypted = "cClientHello sServerHello s+EncryptedExtensions s+Certificate s+CertificateVerify s+Finished c+Finished c~ApplicationData"
	for after, want := range map[int]string{1: decrypted, 3: decrypted, len(packets) - 1: decrypted,
		-1: "cClientHello sServerHello s~EncryptedHandshake s~Finished c~Finished c~ApplicationData"} {
		if got := play(after); got != want {
			t.Errorf("secrets after packet %d:\n got  %s\n want %s", after, got, want)
		}
	}
}
