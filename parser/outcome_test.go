package parser

import (
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/tlssniff/tlssniff/flowstats"

	"github.com/tlssniff/tlssniff/internal/tlstest"
)

// piece is a run of bytes one side sent.
type piece struct {
	fromClient bool
	data       []byte
}

// flights cuts a real TLS 1.2 session into the pieces the outcome rules
// look at: the ClientHello, the server's first flight (ServerHello to
// ServerHelloDone), the client's keys, ChangeCipherSpec and Finished, the
// server's ChangeCipherSpec and Finished, and the client's first
// application data record.
type flights struct {
	clientHello, serverFlight, clientFinish, serverFinish, clientData piece
}

func tls12Flights(t *testing.T) flights {
	c, s := testPKI(t).Configs("www.example.test", tls.VersionTLS12, tls.VersionTLS12)
	var f flights
	f.clientHello.fromClient, f.clientFinish.fromClient, f.clientData.fromClient = true, true, true
	serverCCS := false
	for _, w := range session(t, c, s) {
		for _, rec := range records(w.Data) {
			var p *piece
			switch {
			case w.FromClient && rec[0] == recordApplicationData:
				if f.clientData.data != nil {
					continue
				}
				p = &f.clientData
			case rec[0] == recordApplicationData || rec[0] == recordAlert:
				continue
			case w.FromClient && rec[0] == recordHandshake && rec[recordHeaderLen] == uint8(MsgClientHello):
				p = &f.clientHello
			case w.FromClient:
				p = &f.clientFinish
			case rec[0] == recordChangeCipherSpec || serverCCS:
				serverCCS = true
				p = &f.serverFinish
			case rec[0] == recordHandshake && rec[recordHeaderLen] != uint8(MsgNewSessionTicket):
				p = &f.serverFlight
			default:
				p = &f.serverFinish
			}
			p.data = append(p.data, rec...)
		}
	}
	if f.serverFlight.data == nil || f.clientFinish.data == nil || f.serverFinish.data == nil || f.clientData.data == nil {
		t.Fatalf("a TLS 1.2 session without the expected flights: %+v", f)
	}
	return f
}

func alertRecord(fromClient bool, level, desc uint8) piece {
	return piece{fromClient, []byte{recordAlert, 3, 3, 0, 2, level, desc}}
}

// encrypted is a record of type typ and n random-looking bytes, as a side
// sends once it encrypts.
func encrypted(fromClient bool, typ uint8, n int) piece {
	b := []byte{typ, 3, 3, byte(n >> 8), byte(n)}
	for i := range n {
		b = append(b, byte(i*131+7))
	}
	return piece{fromClient, b}
}

// decide feeds the pieces, a millisecond apart, into a connection whose
// transport reports stats (both sides sent packets unless stats says
// otherwise), and returns what it emitted.
func decide(t *testing.T, stats flowstats.Stats, pieces ...piece) *Connection {
	t.Helper()
	if stats.Packets == [2]uint64{} {
		stats.Packets = [2]uint64{5, 5}
	}
	var got *Connection
	c := NewConn(TCP, clientAddr, serverAddr, t0, Options{Emit: func(conn *Connection) { got = conn },
		Transport: &stats})
	for i, p := range pieces {
		side := 1
		if p.fromClient {
			side = 0
		}
		c.Data(side, p.data, t0.Add(time.Duration(i)*time.Millisecond))
	}
	c.Close()
	if got == nil {
		t.Fatal("no connection emitted")
	}
	return got
}

// TestOutcomeRules puts each outcome rule of judge to work on both sides of
// its guards, on the records of a real Go crypto/tls TLS 1.2 session, cut
// short or followed by what a failing peer sends.
func TestOutcomeRules(t *testing.T) {
	f := tls12Flights(t)
	ch, sf, cf, sfin, data := f.clientHello, f.serverFlight, f.clientFinish, f.serverFinish, f.clientData
	clientFIN := flowstats.Stats{FIN: [2]bool{true, false}}
	serverFIN := flowstats.Stats{FIN: [2]bool{false, true}}
	resetBy := func(side int) flowstats.Stats { // after every piece
		return flowstats.Stats{Reset: true, ResetSide: side, ResetTime: t0.Add(time.Hour)}
	}
	cases := []struct {
		name    string
		stats   flowstats.Stats
		pieces  []piece
		outcome Outcome
		detail  string
	}{
		{"complete", flowstats.Stats{}, []piece{ch, sf, cf, sfin, data}, OutcomeEstablished, ""},
		{"complete, then reset", resetBy(1), []piece{ch, sf, cf, sfin, data}, OutcomeEstablished, ""},
		// A refusal is one of four alerts, from the server, before any
		// ServerHello.
		{"handshake_failure refuses", flowstats.Stats{}, []piece{ch, alertRecord(false, 2, 40)}, OutcomeMismatch,
			"the server refused the ClientHello with handshake_failure"},
		{"protocol_version refuses", flowstats.Stats{}, []piece{ch, alertRecord(false, 2, 70)}, OutcomeMismatch,
			"with protocol_version"},
		{"insufficient_security refuses", flowstats.Stats{}, []piece{ch, alertRecord(false, 2, 71)}, OutcomeMismatch,
			"with insufficient_security"},
		{"inappropriate_fallback refuses", flowstats.Stats{}, []piece{ch, alertRecord(false, 2, 86)}, OutcomeMismatch,
			"with inappropriate_fallback"},
		{"another alert is no refusal", flowstats.Stats{}, []piece{ch, alertRecord(false, 2, 10)}, OutcomeAlert,
			"fatal unexpected_message from server after ClientHello from client, in the clear"},
		{"the client's handshake_failure is no refusal", flowstats.Stats{}, []piece{ch, alertRecord(true, 2, 40)},
			OutcomeAlert, "fatal handshake_failure from client"},
		{"handshake_failure after a ServerHello is no refusal", flowstats.Stats{}, []piece{ch, sf, alertRecord(false, 2, 40)},
			OutcomeAlert, "fatal handshake_failure from server after ServerHelloDone from server"},
		{"the first alert decides, not a later reset", resetBy(0), []piece{ch, alertRecord(false, 2, 40)}, OutcomeMismatch, ""},
		// The client walks away after the server's flight without its
		// Finished.
		{"client FIN after the server's flight", clientFIN, []piece{ch, sf}, OutcomeClientAborted,
			"the client closed the connection after the server's flight, without its Finished"},
		{"client RST after the server's flight", resetBy(0), []piece{ch, sf}, OutcomeClientAborted,
			"the client reset the connection after the server's flight"},
		{"server FIN after its flight is no abort", serverFIN, []piece{ch, sf}, OutcomeIncomplete,
			"the capture ended or went idle after ServerHelloDone from server"},
		{"server RST after its flight is a reset", resetBy(1), []piece{ch, sf}, OutcomeReset,
			"reset by the server after ServerHelloDone from server"},
		{"client FIN before the server's flight is no abort", clientFIN, []piece{ch}, OutcomeNoServerHello, ""},
		{"client RST before the server's flight is a reset", resetBy(0), []piece{ch}, OutcomeReset,
			"reset by the client after ClientHello from client"},
		{"client FIN after its Finished is no abort", clientFIN, []piece{ch, sf, cf}, OutcomeIncomplete,
			"after Finished from client"},
		// Encrypted alerts: a failure unless the side sent data first
		// (then it is the close_notify that ends a session).
		{"encrypted alert before data", flowstats.Stats{}, []piece{ch, sf, cf, encrypted(true, recordAlert, 26)},
			OutcomeAlert, "encrypted alert from client after Finished from client"},
		{"encrypted alert after data", flowstats.Stats{}, []piece{ch, sf, cf, data, encrypted(true, recordAlert, 26)},
			OutcomeIncomplete, ""},
		{"not TLS after the start", flowstats.Stats{}, []piece{ch, sf, {false, []byte("HTTP/1.1 400 Bad Request\r\n\r\n")}},
			OutcomeNotTLSAfter, "the server stopped sending TLS records after ServerHelloDone from server"},
		{"client's packets only", flowstats.Stats{Packets: [2]uint64{3, 0}}, []piece{ch}, OutcomeOneSided,
			"only the client's packets were captured"},
		{"server's packets only", flowstats.Stats{Packets: [2]uint64{0, 3}}, []piece{sf}, OutcomeOneSided,
			"only the server's packets were captured"},
		{"no answer", flowstats.Stats{}, []piece{ch}, OutcomeNoServerHello, "the server did not answer the ClientHello"},
	}
	for _, tc := range cases {
		got := decide(t, tc.stats, tc.pieces...)
		if got.Outcome != tc.outcome || !strings.Contains(got.OutcomeDetail, tc.detail) {
			t.Errorf("%s: outcome %s (%s), want %s (%s)", tc.name, got.Outcome, got.OutcomeDetail, tc.outcome, tc.detail)
		}
	}
}

// TestClientRejectsTLS13Certificate: a Go client that does not trust the
// server's certificate answers its TLS 1.3 flight with an encrypted alert,
// read from its size: the client aborted after the server's flight.
func TestClientRejectsTLS13Certificate(t *testing.T) {
	c, s := testPKI(t).Configs("www.example.test", tls.VersionTLS13, tls.VersionTLS13)
	c.RootCAs = x509.NewCertPool()
	writes, err := tlstest.Session(c, s, 10)
	if err == nil {
		t.Fatal("handshake with an untrusted CA succeeded")
	}
	got := play(t, writes, whole, 0)
	if len(got) != 1 {
		t.Fatalf("emitted %d connections", len(got))
	}
	want := "the client sent an encrypted alert after the server's flight, without its Finished"
	if got[0].Outcome != OutcomeClientAborted || got[0].OutcomeDetail != want {
		t.Errorf("outcome %s (%s), want %s (%s)", got[0].Outcome, got[0].OutcomeDetail, OutcomeClientAborted, want)
	}
}

// The transport's counts become the connection's Quality by role: here
// the client is side 1 (the caller guessed wrong), so side 1's packets are
// the client's.
func TestQualityFromTransport(t *testing.T) {
	f := tls12Flights(t)
	for _, tc := range []struct {
		stats     flowstats.Stats
		transport Transport
		missing   bool
		issues    string
	}{
		{flowstats.Stats{Packets: [2]uint64{7, 3}}, TCP, true, ""},
		{flowstats.Stats{Packets: [2]uint64{7, 3}, SYN: true}, TCP, false, ""},
		{flowstats.Stats{Packets: [2]uint64{7, 3}, UDP: true}, UDP, false, ""},
		{flowstats.Stats{Packets: [2]uint64{7, 3}, SYN: true, Conflicts: 1, ConflictSide: 1}, TCP, false,
			"overlap_conflict: 1 TCP segments carried other bytes than an overlapping copy; the copy delivered " +
				"first was read (an evasion attempt or a broken stack)"},
	} {
		stats := tc.stats
		stats.Marks = []flowstats.Mark{{Time: t0, Side: 1, Retransmit: true}, {Time: t0, Side: 0}}
		var got *Connection
		c := NewConn(tc.transport, serverAddr, clientAddr, t0, Options{Emit: func(x *Connection) { got = x },
			Transport: &stats})
		if tc.transport == UDP {
			ch, sh := dtlsClientHello(), dtlsServerHello()
			c.Data(1, dtlsRecordBytes(recordHandshake, 0, dtlsFragmentBytes(uint8(MsgClientHello), len(ch), 0, 0, ch)), t0)
			c.Data(0, dtlsRecordBytes(recordHandshake, 0, dtlsFragmentBytes(uint8(MsgServerHello), len(sh), 0, 0, sh)), t0)
		} else {
			c.Data(1, f.clientHello.data, t0)
			c.Data(0, f.serverFlight.data, t0)
		}
		c.Close()
		q := got.Quality
		if q.Transport.Packets != [2]uint64{3, 7} || q.OneSided || q.MissingSYN != tc.missing ||
			issueKinds(got) != tc.issues || len(got.Issues) > 0 && got.Issues[0].From != FromClient {
			t.Errorf("%+v over %s: quality %+v, issues %s", tc.stats, tc.transport, q, issueKinds(got))
		}
		if m := q.Transport.Marks; len(m) != 2 || m[0].Side != int(FromClient) || !m[0].Retransmit || m[1].Side != int(FromServer) {
			t.Errorf("marks %+v", m)
		}
	}
}

// An alert past the message cap still decides the outcome, named after
// the last message listed.
func TestAlertPastTheMessageCap(t *testing.T) {
	f := tls12Flights(t)
	var got *Connection
	c := NewConn(TCP, clientAddr, serverAddr, t0, Options{Emit: func(x *Connection) { got = x }})
	c.Data(0, f.clientHello.data, t0)
	for range maxMessages {
		c.Data(0, []byte{recordHeartbeat, 3, 3, 0, 3, 1, 0, 0}, t0)
	}
	c.Data(1, alertRecord(false, 2, 40).data, t0)
	c.Close()
	want := "the server refused the ClientHello with handshake_failure"
	if got.Outcome != OutcomeMismatch || got.OutcomeDetail != want {
		t.Errorf("outcome %s (%s), want %s (%s)", got.Outcome, got.OutcomeDetail, OutcomeMismatch, want)
	}
	c = NewConn(TCP, clientAddr, serverAddr, t0, Options{Emit: func(x *Connection) { got = x }})
	c.Data(0, f.clientHello.data, t0)
	for range maxMessages {
		c.Data(0, []byte{recordHeartbeat, 3, 3, 0, 3, 1, 0, 0}, t0)
	}
	c.Data(1, alertRecord(false, 2, 10).data, t0)
	c.Close()
	want = "fatal unexpected_message from server after Heartbeat from client, in the clear"
	if got.Outcome != OutcomeAlert || got.OutcomeDetail != want {
		t.Errorf("outcome %s (%s), want %s (%s)", got.Outcome, got.OutcomeDetail, OutcomeAlert, want)
	}
}
