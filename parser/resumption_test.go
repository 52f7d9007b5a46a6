package parser

import (
	"bytes"
	"crypto/tls"
	"strings"
	"testing"

	"github.com/tlssniff/tlssniff/internal/tlstest"
)

// records cuts a stream into its TLS records.
func records(b []byte) [][]byte {
	var out [][]byte
	for len(b) >= recordHeaderLen {
		n := recordHeaderLen + (int(b[3])<<8 | int(b[4]))
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

// TestResumptionRule: a TLS 1.2 server's ChangeCipherSpec without a
// Certificate before it resumes a session only when nothing says
// otherwise: on each side of the rule, from real Go crypto/tls sessions.
func TestResumptionRule(t *testing.T) {
	feed := func(writes []tlstest.Write, lose func(fromClient bool, rec []byte) bool) *Connection {
		var got *Connection
		c := NewConn(TCP, clientAddr, serverAddr, t0, Options{Emit: func(conn *Connection) { got = conn }})
		for _, w := range writes {
			side := 1
			if w.FromClient {
				side = 0
			}
			for _, rec := range records(w.Data) {
				if lose(w.FromClient, rec) {
					c.Gap(side, len(rec), t0)
					continue
				}
				c.Data(side, rec, t0)
			}
		}
		c.Close()
		return got
	}
	handshake := func(typ uint8) func(bool, []byte) bool {
		return func(_ bool, rec []byte) bool { return rec[0] == recordHandshake && rec[recordHeaderLen] == typ }
	}
	undecided := func(c *Connection) bool { return strings.Contains(issueKinds(c), "undecided") }

	c, s := testPKI(t).Configs("resume.example.test", tls.VersionTLS12, tls.VersionTLS12)
	c.ClientSessionCache = tls.NewLRUClientSessionCache(1)
	full := session(t, c, s)
	resumed := session(t, c, s)

	// Resumed by a ticket: so even when the NewSessionTicket before the
	// server's ChangeCipherSpec is lost.
	for _, lost := range []uint8{0, uint8(MsgNewSessionTicket)} {
		if got := feed(resumed, handshake(lost)); !got.Resumed || undecided(got) {
			t.Errorf("resumed by a ticket, %d lost: resumed %v, issues %s", lost, got.Resumed, issueKinds(got))
		}
	}
	// A server that does not echo the session id: the ticket the client
	// offered decides it.
	var noEcho []tlstest.Write
	for _, w := range resumed {
		w.Data = bytes.Clone(w.Data)
		if !w.FromClient && w.Data[recordHeaderLen] == uint8(MsgServerHello) && w.Data[recordHeaderLen+4+2+32] > 0 {
			w.Data[recordHeaderLen+4+2+32+1] ^= 0xff
		}
		noEcho = append(noEcho, w)
	}
	if got := feed(noEcho, handshake(uint8(MsgNewSessionTicket))); !got.Resumed || undecided(got) {
		t.Errorf("resumed by a ticket without the session id echoed, its NewSessionTicket lost: resumed %v, issues %s",
			got.Resumed, issueKinds(got))
	}
	// A full handshake whose Certificate was lost: the client's keys came
	// before the server's ChangeCipherSpec (samples/impaired.pcap 50065).
	if got := feed(full, handshake(uint8(MsgCertificate))); got.Resumed || undecided(got) {
		t.Errorf("full, Certificate lost: resumed %v, issues %s", got.Resumed, issueKinds(got))
	}
	// The server's whole flight after its ServerHello and the client's
	// second flight lost: nothing decides it, so resumed stays false and
	// an issue says so.
	serverFlight := map[uint8]bool{uint8(MsgCertificate): true, uint8(MsgServerKeyExchange): true, uint8(MsgServerHelloDone): true}
	lostBoth := func(fromClient bool, rec []byte) bool {
		if !fromClient {
			return rec[0] == recordHandshake && serverFlight[rec[recordHeaderLen]]
		}
		return rec[0] == recordChangeCipherSpec || rec[0] == recordHandshake && rec[recordHeaderLen] != uint8(MsgClientHello)
	}
	if got := feed(full, lostBoth); got.Resumed || !undecided(got) {
		t.Errorf("full, Certificate and the client's keys lost: resumed %v, issues %s", got.Resumed, issueKinds(got))
	}
	// Nothing lost: the flow decides it either way.
	if got := feed(full, handshake(0)); got.Resumed {
		t.Error("a full handshake taken as resumed")
	}
}
