package parser

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlssniff/tlssniff/internal/testenv"
	"github.com/tlssniff/tlssniff/internal/tlstest"
)

// Tests of what captures from the wild hold: one direction only, messages
// the parser cannot read, flights coalesced or padded.

// fromClient keeps the client's writes: a SPAN port that sees one
// direction.
func fromClient(writes []tlstest.Write) []tlstest.Write {
	var out []tlstest.Write
	for _, w := range writes {
		if w.FromClient {
			out = append(out, w)
		}
	}
	return out
}

// messageList is the connection's messages as "from:type", encrypted ones
// marked with '*'.
func messageList(c *Connection) string {
	var parts []string
	for _, m := range c.Messages {
		s := m.From.String() + ":" + m.Type.String()
		if m.Encrypted {
			s += "*"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

// TestOneSidedClientFollowsItsOwnChangeCipherSpec: with only the client's
// direction captured, the records after its ChangeCipherSpec are protected
// though no ServerHello said which version was chosen: its encrypted
// Finished is not read as clear messages (it was two HelloRequests and a
// malformed message). A TLS 1.3 client's compatibility ChangeCipherSpec
// before its second ClientHello (after a HelloRetryRequest) still leaves
// that ClientHello readable.
func TestOneSidedClientFollowsItsOwnChangeCipherSpec(t *testing.T) {
	c, s := testPKI(t).Configs("www.example.test", tls.VersionTLS12, tls.VersionTLS12)
	conn := play(t, fromClient(session(t, c, s)), whole, 0)[0]
	if got, want := messageList(conn), "client:ClientHello client:ClientKeyExchange client:ChangeCipherSpec client:Finished* client:ApplicationData* client:Alert*"; got != want {
		t.Errorf("TLS 1.2, client only:\n got  %s\n want %s", got, want)
	}
	if len(conn.Issues) != 0 {
		t.Errorf("issues: %+v", conn.Issues)
	}

	c, s = testPKI(t).Configs("www.example.test", tls.VersionTLS13, tls.VersionTLS13)
	c.CurvePreferences = []tls.CurveID{tls.X25519, tls.CurveP256}
	s.CurvePreferences = []tls.CurveID{tls.CurveP256}
	conn = play(t, fromClient(session(t, c, s)), whole, 0)[0]
	if got, want := messageList(conn), "client:ClientHello client:ChangeCipherSpec client:ClientHello "; !strings.HasPrefix(got, want) {
		t.Errorf("TLS 1.3 after a HelloRetryRequest, client only:\n got  %s\n want %s", got, want)
	}
	if len(conn.Issues) != 0 {
		t.Errorf("issues: %+v", conn.Issues)
	}
}

// tlsRecords splits the bytes of a write into its TLS records (the last
// one cut short if the write is).
func tlsRecords(b []byte) [][]byte {
	var out [][]byte
	for len(b) >= recordHeaderLen {
		n := min(recordHeaderLen+(int(b[3])<<8|int(b[4])), len(b))
		out, b = append(out, b[:n]), b[n:]
	}
	return out
}

// withCertificateLength returns the writes with the length of the server's
// Certificate message set to n, its record left as it was.
func withCertificateLength(t *testing.T, writes []tlstest.Write, n int) []tlstest.Write {
	t.Helper()
	out := make([]tlstest.Write, len(writes))
	done := false
	for i, w := range writes {
		out[i] = tlstest.Write{FromClient: w.FromClient, Data: bytes.Clone(w.Data)}
		for _, r := range tlsRecords(out[i].Data) {
			if !w.FromClient && !done && len(r) >= 9 && r[0] == recordHandshake && MessageType(r[5]) == MsgCertificate {
				r[6], r[7], r[8] = byte(n>>16), byte(n>>8), byte(n)
				done = true
			}
		}
	}
	if !done {
		t.Fatal("no Certificate record from the server")
	}
	return out
}

// TestRecordsReadAfterMalformedMessage: a server Certificate whose length
// is impossible (16 MiB, past the limit) is reported, and the rest of its
// record skipped; the server's later records are still read, its
// ServerKeyExchange, ServerHelloDone and ChangeCipherSpec among them (the
// side was given up at the bad length before).
func TestRecordsReadAfterMalformedMessage(t *testing.T) {
	c, s := testPKI(t).Configs("www.example.test", tls.VersionTLS12, tls.VersionTLS12)
	conn := play(t, withCertificateLength(t, session(t, c, s), 0xffffff), whole, 0)[0]
	if got, want := history(conn), "CsknGIi"; got != want {
		t.Errorf("history %s, want %s", got, want)
	}
	if !conn.HasGroup || !conn.Established {
		t.Errorf("group %v, established %v", conn.HasGroup, conn.Established)
	}
	if len(conn.Issues) != 1 || conn.Issues[0].Kind != IssueMalformedMessage || conn.Issues[0].From != FromServer {
		t.Errorf("issues: %+v", conn.Issues)
	}
}

// coalescedFlight rebuilds a TLS 1.3 session as servers that pack their
// encrypted flight into one record send it (BoringSSL's, large sites'):
// the server's application_data records up to the client's first are
// joined into one, their ciphertexts end to end, which without keys
// differs from such a record in nothing. It keeps the writes up to the
// server's first record after the client's second, as a capture that
// ends while the connection goes on.
func coalescedFlight(t *testing.T, writes []tlstest.Write) []tlstest.Write {
	t.Helper()
	var out []tlstest.Write
	var flight []byte
	clientRecords := 0
	for _, w := range writes {
		var kept []byte
		for _, rec := range tlsRecords(w.Data) {
			switch {
			case rec[0] != recordApplicationData:
				kept = append(kept, rec...)
			case w.FromClient:
				clientRecords++
				kept = append(kept, rec...)
			case clientRecords == 0:
				flight = append(flight, rec[5:]...)
				continue
			case clientRecords >= 2:
				return append(out, tlstest.Write{FromClient: w.FromClient, Data: append(kept, rec...)})
			default:
				kept = append(kept, rec...)
			}
		}
		if !w.FromClient && flight != nil && clientRecords == 0 {
			kept = append(kept, recordApplicationData, 3, 3, byte(len(flight)>>8), byte(len(flight)))
			kept = append(kept, flight...)
			flight = nil
		}
		if len(kept) > 0 {
			out = append(out, tlstest.Write{FromClient: w.FromClient, Data: kept})
		}
	}
	t.Fatal("the session ended before the server answered the client's second record")
	return nil
}

// TestTLS13PaddedFinishedAfterCoalescedFlight: a server sends
// EncryptedExtensions through Finished in one record (coalescedFlight),
// OpenSSL's client pads every record to a multiple of 64 bytes
// (-record_padding, RFC 8446, section 5.4), so no record has a Finished's
// size, and the capture ends after the server's answer; the server's
// tickets after the client's first record show that the client finished.
// Without keys the handshake is established, the client's first record is
// its Finished and the next its request (it was incomplete: "the capture
// ended after ApplicationData from server").
func TestTLS13PaddedFinishedAfterCoalescedFlight(t *testing.T) {
	testenv.Tool(t, "openssl")
	writes, err := testPKI(t).OpenSSL([]string{"-tls1_3"}, []string{"-tls1_3", "-record_padding", "64"})
	if err != nil {
		t.Fatal(err)
	}
	conn := play(t, coalescedFlight(t, writes), whole, 0)[0]
	msgs := messageList(conn)
	if !conn.Established || conn.ClientFlight == nil || conn.ClientFlight.Records != 1 {
		t.Fatalf("established %v, client flight %+v: %s", conn.Established, conn.ClientFlight, msgs)
	}
	if conn.ServerFlight == nil || conn.ServerFlight.Records != 1 {
		t.Errorf("server flight %+v, want one record", conn.ServerFlight)
	}
	// The client's request and the server's tickets cross: each side's
	// messages are checked in its own order.
	var client, server []string
	for _, m := range strings.Fields(msgs) {
		if strings.HasPrefix(m, "client:") {
			client = append(client, m)
		} else {
			server = append(server, m)
		}
	}
	if got, want := strings.Join(client, " "), "client:ClientHello client:ChangeCipherSpec client:Finished* client:ApplicationData*"; got != want {
		t.Errorf("client's messages:\n %s\nwant\n %s", got, want)
	}
	if got, want := strings.Join(server, " "), "server:ServerHello server:ChangeCipherSpec server:EncryptedHandshake* server:NewSessionTicket*"; !strings.HasPrefix(got, want) {
		t.Errorf("server's messages:\n %s\nwant first\n %s", got, want)
	}
}

// asDTLSBad rewrites a DTLS 1.0 session's versions, in every record header
// and in the hellos and HelloVerifyRequest, to 0x0100: OpenSSL's DTLS
// before RFC 4347 (DTLS1_BAD_VER), as VPN clients still send it.
func asDTLSBad(t *testing.T, writes []tlstest.Write) []tlstest.Write {
	t.Helper()
	var out []tlstest.Write
	for _, w := range writes {
		b := bytes.Clone(w.Data)
		for r := b; len(r) >= dtlsHeaderLen; {
			if r[1] != 0xfe || r[2] != 0xff {
				t.Fatalf("a record of version %x, not DTLS 1.0", r[1:3])
			}
			r[1], r[2] = 0x01, 0x00
			n := dtlsHeaderLen + (int(r[11])<<8 | int(r[12]))
			if r[0] == recordHandshake && r[3] == 0 && r[4] == 0 { // epoch 0: hellos in the clear
				switch MessageType(r[dtlsHeaderLen]) {
				case MsgClientHello, MsgServerHello, MsgHelloVerifyRequest:
					r[dtlsHeaderLen+dtlsHandshakeLen], r[dtlsHeaderLen+dtlsHandshakeLen+1] = 0x01, 0x00
				}
			}
			r = r[min(n, len(r)):]
		}
		out = append(out, tlstest.Write{FromClient: w.FromClient, Data: b})
	}
	return out
}

// TestDTLSBadVersion: an OpenSSL DTLS 1.0 session rewritten to version
// 0x0100 is read as DTLS, "DTLS 1.0 (OpenSSL pre 0.9.8f)" as Wireshark
// names it, with its hellos, suite and outcome (it was not recognised: no
// connection at all).
func TestDTLSBadVersion(t *testing.T) {
	testenv.Tool(t, "openssl")
	all, err := testPKI(t).Clients([]string{"-dtls1", "-cipher", "DEFAULT:@SECLEVEL=0"}, func(ctx context.Context, port int, expand func([]string) []string) *exec.Cmd {
		c := exec.CommandContext(ctx, "openssl", append([]string{"s_client", "-dtls1", "-cipher", "DEFAULT:@SECLEVEL=0", "-connect",
			fmt.Sprintf("127.0.0.1:%d", port)}, expand([]string{"-CAfile", "{ca}"})...)...)
		c.Stdin = tlstest.Typed("hello")
		return c
	})
	if err != nil {
		t.Fatal(err)
	}
	var pieces []piece
	for _, w := range asDTLSBad(t, all[0]) {
		pieces = append(pieces, piece{w.FromClient, w.Data})
	}
	got, _ := udpConn(t, pieces...)
	if got == nil {
		t.Fatal("no connection")
	}
	if VersionName(got.Version) != "DTLS 1.0 (OpenSSL pre 0.9.8f)" || got.ClientHello == nil || got.Outcome != OutcomeEstablished ||
		!strings.HasPrefix(CipherSuiteName(got.CipherSuite), "TLS_ECDHE_") {
		t.Errorf("%s %s, %s: %s", VersionName(got.Version), CipherSuiteName(got.CipherSuite), got.Outcome, messageList(got))
	}
}

// zeroRTTPacket is a QUIC v1 0-RTT packet of n protected bytes.
func zeroRTTPacket(dcid []byte, n int) []byte {
	b := handshakePacket(dcid, nil, n)
	b[0] = 0xd3 // long header, type 0-RTT
	return b
}

// retryPacket is a QUIC v1 Retry giving the client scid, with a token and
// an integrity tag (not checked here).
func retryPacket(dcid, scid []byte) []byte {
	b := append([]byte{0xf0, 0, 0, 0, 1, byte(len(dcid))}, dcid...)
	b = append(append(b, byte(len(scid))), scid...)
	return append(append(b, []byte("token")...), make([]byte, 16)...)
}

// TestQUICPacketsInAnyOrder: a QUIC handshake by crypto/tls whose client
// 0-RTT packet was captured before its Initial is read whole, the 0-RTT
// packet counted once the Initial came (the connection vanished); after a
// Retry, a second Retry, which the client ignores (RFC 9000, section
// 17.2.5.2), leaves the version, suite and group of the handshake (they
// were wiped: it threw the Initial keys away).
func TestQUICPacketsInAnyOrder(t *testing.T) {
	ci, _, si, shs := quicFlights(t)
	dcid, retryCID, serverCID := unhex(t, "8394c8f03e515708"), unhex(t, "5a5a5a5a5a5a5a5a"), unhex(t, "f067a5502a4262b5")
	hello := func(dcid []byte) []piece {
		ck, sk, _ := deriveInitialKeys(quicV1, dcid)
		return []piece{{true, sealInitial(t, ck, dcid, 0, cryptoFrameBytes(0, ci))},
			{false, sealInitial(t, sk, dcid, 0, cryptoFrameBytes(0, si))},
			{false, handshakePacket(dcid, serverCID, len(shs)+20)}}
	}
	h := hello(dcid)
	early := append([]piece{{true, zeroRTTPacket(dcid, 200)}}, h...)
	got, _ := udpConn(t, early...)
	if got == nil || got.ClientHello == nil || got.ServerHello == nil || got.EarlyData.Records != 1 {
		t.Fatalf("0-RTT before the Initial: %+v", got)
	}

	h = hello(retryCID)
	retries := []piece{{true, sealInitial(t, func() *packetKeys { k, _, _ := deriveInitialKeys(quicV1, dcid); return k }(), dcid, 0, cryptoFrameBytes(0, ci))},
		{false, retryPacket(nil, retryCID)}, h[0], {false, retryPacket(nil, unhex(t, "6b6b6b6b6b6b6b6b"))}, h[1], h[2]}
	got, _ = udpConn(t, retries...)
	if got == nil || got.QUIC == nil || !got.QUIC.Retry || VersionName(got.Version) != "TLS 1.3" || !got.HasGroup || got.CipherSuite == 0 {
		t.Fatalf("a second Retry: %+v", got)
	}
}

// rawUDPCapture is a pcap of raw IPv4 (link type 101) holding each
// datagram from 10.0.0.1 to 10.0.0.2:443, the i-th from port 40000+i,
// checksums left out.
func rawUDPCapture(datagrams [][]byte) []byte {
	out := []byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 101, 0, 0, 0}
	for i, d := range datagrams {
		n := 20 + 8 + len(d)
		pkt := []byte{0x45, 0, byte(n >> 8), byte(n), 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
			byte((40000 + i) >> 8), byte(40000 + i), 0x01, 0xbb, byte((n - 20) >> 8), byte(n - 20), 0, 0}
		pkt = append(pkt, d...)
		out = binary.LittleEndian.AppendUint32(out, uint32(1700000000+i))
		out = binary.LittleEndian.AppendUint32(out, 0)
		out = binary.LittleEndian.AppendUint32(out, uint32(len(pkt)))
		out = binary.LittleEndian.AppendUint32(out, uint32(len(pkt)))
		out = append(out, pkt...)
	}
	return out
}

// TestQUICDraftVersions: a crypto/tls ClientHello in an Initial of each
// version that took its keys from a draft of RFC 9001 — drafts 27 to 34,
// Facebook's mvfst — is decrypted with the salt of its draft, the one
// Wireshark uses: tshark reads the same server name from the same packets.
// They were left undecrypted ("unknown_version").
func TestQUICDraftVersions(t *testing.T) {
	tshark := testenv.Tool(t, "tshark")
	ci, _, _, _ := quicFlights(t)
	versions := []uint32{0xff00001b, 0xff00001c, 0xff00001d, 0xff000020, 0xff000021, 0xff000022, quicMvfst27, quicMvfstExp}
	var datagrams [][]byte
	for i, v := range versions {
		dcid := []byte{0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, byte(i)} // one connection each, for tshark too
		ck, _, ok := deriveInitialKeys(v, dcid)
		if !ok {
			t.Fatalf("0x%08x: no Initial keys", v)
		}
		d := sealInitialVersion(t, v, ck, dcid, 0, cryptoFrameBytes(0, ci))
		datagrams = append(datagrams, d)
		got, _ := udpConn(t, piece{true, d})
		if sni, _ := got.SNI(); got == nil || sni != "h3.example.test" || QUICVersionName(v)[:2] == "0x" {
			t.Errorf("0x%08x (%s): %+v", v, QUICVersionName(v), got)
		}
	}
	path := filepath.Join(t.TempDir(), "drafts.pcap")
	if err := os.WriteFile(path, rawUDPCapture(datagrams), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tshark, "-r", path, "-d", "udp.port==443,quic", "-T", "fields", "-e", "quic.version", "-e", "tls.handshake.extensions_server_name").Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for i, v := range versions {
		if i >= len(lines) || !strings.HasSuffix(lines[i], "\th3.example.test") {
			t.Errorf("0x%08x: tshark reads %q", v, lines[min(i, len(lines)-1)])
		}
	}
}
