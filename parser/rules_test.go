package parser

import (
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tlssniff/tlssniff/flowstats"

	"github.com/tlssniff/tlssniff/budget"
)

// ClientHello.Segments counts the TCP segments (Data calls) the
// ClientHello took, up to the one that completed it; the server's segments
// and a preamble's do not count.
func TestClientHelloSegments(t *testing.T) {
	f := tls12Flights(t)
	ch := f.clientHello.data
	for _, size := range []int{len(ch), len(ch) - 1, 100, 7} {
		c := NewConn(TCP, clientAddr, serverAddr, t0, Options{Emit: func(*Connection) {}})
		c.Data(0, []byte("\x05\x01\x00"), t0) // a SOCKS greeting: a preamble
		for _, p := range every(size, 0)(ch) {
			c.Data(0, p, t0)
		}
		for _, p := range every(10, 0)(f.serverFlight.data) {
			c.Data(1, p, t0)
		}
		want := (len(ch) + size - 1) / size
		if got := c.c.ClientHello.Segments; got != want {
			t.Errorf("ClientHello of %d bytes in pieces of %d: %d segments, want %d", len(ch), size, got, want)
		}
	}
}

// A gap is an issue once TLS started, naming the message it cut into; it
// is counted in Quality either way.
func TestGapIssues(t *testing.T) {
	f := tls12Flights(t)
	sf := f.serverFlight.data
	recs := records(sf)
	shLen := len(recs[0])
	for _, tc := range []struct {
		name   string
		feed   func(c *Conn)
		issues string
		gaps   int
		bytes  int
	}{
		{"before TLS started", func(c *Conn) {
			c.Gap(0, 10, t0)
			c.Data(0, f.clientHello.data, t0)
		}, "", 1, 10},
		{"inside the Certificate", func(c *Conn) {
			c.Data(0, f.clientHello.data, t0)
			c.Data(1, sf[:shLen+100], t0)
			c.Gap(1, 50, t0)
		}, "gap: 50 bytes lost inside a Certificate message", 1, 50},
		{"between records", func(c *Conn) {
			c.Data(0, f.clientHello.data, t0)
			c.Data(1, sf[:shLen], t0)
			c.Gap(1, len(recs[1]), t0)
			c.Gap(1, 3, t0)
		}, "gap: " + fmt.Sprint(len(recs[1])) + " bytes lost; gap: 3 bytes lost", 2, len(recs[1]) + 3},
		{"a record header then a gap", func(c *Conn) {
			c.Data(0, f.clientHello.data, t0)
			c.Data(1, sf[:shLen+recordHeaderLen+4], t0)
			c.Gap(1, 9, t0)
		}, "gap: 9 bytes lost inside a Certificate message", 1, 9},
		{"after a whole message in a record", func(c *Conn) {
			c.Data(0, f.clientHello.data, t0)
			// The ServerHello's record with one more message header
			// byte: the record is incomplete, its messages are not.
			c.Data(1, sf[:shLen-1], t0)
			c.Gap(1, 1, t0)
		}, "gap: 1 bytes lost inside a ServerHello message", 1, 1},
	} {
		var got *Connection
		c := NewConn(TCP, clientAddr, serverAddr, t0, Options{Emit: func(x *Connection) { got = x }})
		tc.feed(c)
		c.Close()
		if k := issueKinds(got); k != tc.issues || got.Quality.Gaps != tc.gaps || got.Quality.GapBytes != tc.bytes {
			t.Errorf("%s: issues %q, %d gaps of %d bytes; want %q, %d gaps of %d bytes", tc.name, k, got.Quality.Gaps,
				got.Quality.GapBytes, tc.issues, tc.gaps, tc.bytes)
		}
	}
}

// The lists a hostile peer can grow stop at their caps, exactly, and
// count what they dropped.
func TestCaps(t *testing.T) {
	f := tls12Flights(t)
	var got *Connection
	c := NewConn(TCP, clientAddr, serverAddr, t0, Options{Emit: func(x *Connection) { got = x }})
	c.Data(0, f.clientHello.data, t0)
	c.Data(1, f.serverFlight.data, t0)
	for range maxIssues + 5 {
		c.Gap(1, 1, t0)
	}
	heartbeat := []byte{recordHeartbeat, 3, 3, 0, 3, 1, 0, 0}
	for range maxMessages + 7 {
		c.Data(0, heartbeat, t0)
	}
	c.Close()
	// The ClientHello, the server's four messages and the heartbeats
	// overflow the list by 5 + 7.
	if len(got.Issues) != maxIssues || len(got.Messages) != maxMessages || got.MessagesDropped != 12 {
		t.Errorf("%d issues, %d messages, %d dropped; want %d, %d, 12", len(got.Issues), len(got.Messages),
			got.MessagesDropped, maxIssues, maxMessages)
	}
}

// A completed handshake is decided when each side has sent data, or after
// maxAfterHandshake records without it: one record less is not enough.
func TestSettle(t *testing.T) {
	c12, s12 := testPKI(t).Configs("www.example.test", tls.VersionTLS12, tls.VersionTLS12)
	writes := session(t, c12, s12)
	var hs []piece
	for _, w := range writes {
		for _, rec := range records(w.Data) {
			if rec[0] != recordApplicationData && rec[0] != recordAlert {
				hs = append(hs, piece{w.FromClient, rec})
			}
		}
	}
	for _, extra := range []int{maxAfterHandshake - 1, maxAfterHandshake} {
		var got *Connection
		c := NewConn(TCP, clientAddr, serverAddr, t0, Options{Emit: func(x *Connection) { got = x }})
		for _, p := range hs {
			c.Data(map[bool]int{true: 0, false: 1}[p.fromClient], p.data, t0)
		}
		for range extra {
			c.Data(1, encrypted(false, recordApplicationData, 40).data, t0)
		}
		if decided := got != nil; decided != (extra == maxAfterHandshake) {
			t.Errorf("%d server records after the handshake: decided %v", extra, decided)
		}
	}
	// Data from both sides decides it at once.
	var got *Connection
	c := NewConn(TCP, clientAddr, serverAddr, t0, Options{Emit: func(x *Connection) { got = x }})
	for _, p := range hs {
		c.Data(map[bool]int{true: 0, false: 1}[p.fromClient], p.data, t0)
	}
	c.Data(0, encrypted(true, recordApplicationData, 40).data, t0)
	if got != nil {
		t.Fatal("decided before the server's data")
	}
	c.Data(1, encrypted(false, recordApplicationData, 40).data, t0)
	if got == nil || got.ClientDataTime.IsZero() || got.ServerDataTime.IsZero() {
		t.Fatalf("not decided by both sides' data: %+v", got)
	}
	if n := strings.Count(fmt.Sprint(got.Messages), "ApplicationData"); n != 2 {
		t.Errorf("%d ApplicationData messages", n)
	}
}

// A TLS 1.3 ClientHello that resumes offers its PSK identities, counted;
// the ServerHello that accepts one makes the session resumed.
func TestPSKIdentities(t *testing.T) {
	c, s := testPKI(t).Configs("resume.example.test", tls.VersionTLS13, tls.VersionTLS13)
	c.ClientSessionCache = tls.NewLRUClientSessionCache(1)
	for i, want := range []int{0, 1} {
		got := play(t, session(t, c, s), whole, 0)[0]
		if got.ClientHello.PSKIdentities != want || got.Resumed != (want > 0) {
			t.Errorf("session %d: %d PSK identities, resumed %v; want %d", i, got.ClientHello.PSKIdentities, got.Resumed, want)
		}
	}
}

// A handshake message of exactly maxHandshakeBuffer bytes is read; one
// byte more is refused at its header.
func TestHandshakeLimitEdge(t *testing.T) {
	ch, sh, _ := realHellos(t)
	for _, n := range []int{maxHandshakeBuffer, maxHandshakeBuffer + 1} {
		rec := []byte{recordHandshake, 3, 3, 0, 4, uint8(MsgCertificate), byte(n >> 16), byte(n >> 8), byte(n)}
		c := oneSide(t, handshakeRecords(uint8(MsgClientHello), ch), append(handshakeRecords(uint8(MsgServerHello), sh), rec...))
		if refused := strings.Contains(issueKinds(c), "exceeds"); refused != (n > maxHandshakeBuffer) {
			t.Errorf("a Certificate of %d bytes: issues %s", n, issueKinds(c))
		}
	}
}

// The ClientHello that answers a HelloRetryRequest is kept apart from the
// first; a later one replaces neither.
func TestRetryClientHello(t *testing.T) {
	c, s := testPKI(t).Configs("hrr.example.test", tls.VersionTLS13, tls.VersionTLS13)
	c.CurvePreferences = []tls.CurveID{tls.X25519, tls.CurveP256}
	s.CurvePreferences = []tls.CurveID{tls.CurveP256}
	writes := session(t, c, s)
	got := play(t, writes, whole, 0)[0]
	first, retry := got.ClientHello, got.RetryClientHello
	if first == nil || retry == nil || first == retry || first.KeyShares[0] != uint16(tls.X25519) ||
		retry.KeyShares[0] != uint16(tls.CurveP256) || got.HelloRetryRequest == nil {
		t.Fatalf("ClientHello %+v, retry %+v", first, retry)
	}
	// Without a HelloRetryRequest, a second ClientHello in the clear is no
	// retry.
	f := tls12Flights(t)
	plain := decide(t, flowstats.Stats{}, f.clientHello, f.clientHello)
	if plain.RetryClientHello != nil {
		t.Error("a repeated ClientHello taken for the retry")
	}
}

// Shed drops a handshake message buffered across records and skips the
// rest of it, whatever is buffered: its 4-byte header alone, or 16 kB of
// it; the messages after it are read, and a connection holding nothing
// records nothing.
func TestShedSkipsTheRestOfTheMessage(t *testing.T) {
	ch, sh, _ := realHellos(t)
	body := make([]byte, 20000)
	msg := append([]byte{uint8(MsgCertificate), 0, byte(len(body) >> 8), byte(len(body))}, body...)
	record := func(b []byte) []byte { // in records of at most 16 kB
		var out []byte
		for len(b) > 0 {
			n := min(len(b), 1<<14)
			out = append(append(out, recordHandshake, 3, 3, byte(n>>8), byte(n)), b[:n]...)
			b = b[n:]
		}
		return out
	}
	done := handshakeRecords(uint8(MsgServerHelloDone), nil)
	for _, held := range []int{0, 4, 16384} {
		var got *Connection
		c := NewConn(TCP, clientAddr, serverAddr, t0, Options{Emit: func(x *Connection) { got = x }})
		c.Data(0, handshakeRecords(uint8(MsgClientHello), ch), t0)
		c.Data(1, handshakeRecords(uint8(MsgServerHello), sh), t0)
		if held > 0 {
			c.Data(1, record(msg[:held]), t0)
		}
		c.Shed()
		if held > 0 {
			c.Data(1, record(msg[held:]), t0)
		}
		c.Data(1, done, t0)
		c.Close()
		want := ""
		if held > 0 {
			want = fmt.Sprintf("memory_budget: %d buffered bytes dropped inside a Certificate message: the memory budget "+
				"was spent and this connection held the most", held)
		}
		if issueKinds(got) != want || !strings.HasSuffix(messageTypes(got), "ServerHello ServerHelloDone") {
			t.Errorf("%d bytes held: issues %q, messages %s", held, issueKinds(got), messageTypes(got))
		}
	}
}

// What a message cut across records keeps is charged: the account never
// holds less than the buffer's capacity, and gives it all back.
func TestHandshakeBufferCharged(t *testing.T) {
	ch, sh, _ := realHellos(t)
	body := make([]byte, 12000)
	msg := append([]byte{uint8(MsgCertificate), 0, byte(len(body) >> 8), byte(len(body))}, body...)
	mem := budget.New(1 << 30).Open(nil)
	c := NewConn(TCP, clientAddr, serverAddr, t0, Options{Emit: func(*Connection) {}, Memory: mem})
	c.Data(0, handshakeRecords(uint8(MsgClientHello), ch), t0)
	c.Data(1, handshakeRecords(uint8(MsgServerHello), sh), t0)
	for len(msg) > 0 {
		n := min(len(msg), 700)
		c.Data(1, append([]byte{recordHandshake, 3, 3, byte(n >> 8), byte(n)}, msg[:n]...), t0)
		msg = msg[n:]
		if held := cap(c.sides[1].hs); mem.Buffered() < int64(held) {
			t.Fatalf("%d bytes charged for a buffer of %d", mem.Buffered(), held)
		}
	}
	if len(c.sides[1].hs) != 0 || mem.Buffered() != 0 {
		t.Errorf("after the message: %d bytes buffered, %d charged", len(c.sides[1].hs), mem.Buffered())
	}
}

// The server's flight runs from its ServerHello to its ServerHelloDone up
// to TLS 1.2 (its Finished when abbreviated), to its Finished in TLS 1.3,
// whatever the client sends meanwhile.
func TestServerFlightTime(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	f := tls12Flights(t)
	var pieces []piece
	pieces = append(pieces, f.clientHello)
	for _, rec := range records(f.serverFlight.data) {
		pieces = append(pieces, piece{false, rec})
	}
	pieces = append(pieces, f.clientFinish)
	got := decide(t, flowstats.Stats{}, pieces...) // a millisecond apart: the flight takes one per record after the first
	if want := ms(len(records(f.serverFlight.data)) - 1); got.Timing.ServerFlight == nil || *got.Timing.ServerFlight != want {
		t.Errorf("TLS 1.2 server flight %v, want %v", got.Timing.ServerFlight, want)
	}
	c, s := testPKI(t).Configs("www.example.test", tls.VersionTLS13, tls.VersionTLS13)
	pieces = nil
	for _, w := range session(t, c, s) {
		for _, rec := range records(w.Data) {
			pieces = append(pieces, piece{w.FromClient, rec})
		}
	}
	got = decide(t, flowstats.Stats{}, pieces...)
	var sh, fin time.Time
	for _, m := range got.Messages {
		switch {
		case m.Type.String() == "ServerHello":
			sh = m.Time
		case m.Type.String() == "Finished" && m.From == FromServer:
			fin = m.Time
		}
	}
	if got.Timing.ServerFlight == nil || *got.Timing.ServerFlight != fin.Sub(sh) || fin.Sub(sh) < ms(3) {
		t.Errorf("TLS 1.3 server flight %v, ServerHello to Finished %v", got.Timing.ServerFlight, fin.Sub(sh))
	}
}

// After the server's Finished, its first record of at least 80 bytes is a
// NewSessionTicket and so is each next one of the same length; anything
// else starts the application data, after which no ticket is recognised.
func TestTicketRule(t *testing.T) {
	c, s := testPKI(t).Configs("www.example.test", tls.VersionTLS13, tls.VersionTLS13)
	s.SessionTicketsDisabled = true
	// The records up to the client's Finished: its first application_data
	// record of a Finished's size. Go's server sends no ticket here.
	var upToFinished []piece
	finished := false
	for _, w := range session(t, c, s) {
		for _, rec := range records(w.Data) {
			if !finished {
				upToFinished = append(upToFinished, piece{w.FromClient, rec})
			}
			finished = finished || w.FromClient && rec[0] == recordApplicationData && len(rec) == recordHeaderLen+finishedLen(0x1301)
		}
	}
	for _, tc := range []struct {
		lengths []int
		want    string
	}{
		{[]int{80, 80, 79, 200}, "NewSessionTicket NewSessionTicket ApplicationData ApplicationData"},
		{[]int{79, 80}, "ApplicationData ApplicationData"},
		{[]int{200, 120, 200}, "NewSessionTicket ApplicationData ApplicationData"},
		{[]int{120, 120, 120}, "NewSessionTicket NewSessionTicket NewSessionTicket"},
	} {
		pieces := append([]piece(nil), upToFinished...)
		for _, n := range tc.lengths {
			pieces = append(pieces, encrypted(false, recordApplicationData, n))
		}
		got := decide(t, flowstats.Stats{}, pieces...)
		var after []string
		for _, m := range got.Messages[len(got.Messages)-len(tc.lengths):] {
			after = append(after, m.Type.String())
		}
		if strings.Join(after, " ") != tc.want {
			t.Errorf("server records of %v after the handshake: %v, want %s", tc.lengths, after, tc.want)
		}
	}
}

// Shed counts the record body it drops: a Certificate record cut in the
// middle held 95 bytes of it.
func TestShedCountsThePartialRecord(t *testing.T) {
	f := tls12Flights(t)
	recs := records(f.serverFlight.data)
	var got *Connection
	c := NewConn(TCP, clientAddr, serverAddr, t0, Options{Emit: func(x *Connection) { got = x }})
	c.Data(0, f.clientHello.data, t0)
	c.Data(1, recs[0], t0)
	c.Data(1, recs[1][:recordHeaderLen+95], t0)
	c.Shed()
	c.Close()
	want := "memory_budget: 95 buffered bytes dropped inside a Certificate message: the memory budget was spent and this connection held the most"
	if k := issueKinds(got); k != want {
		t.Errorf("issues %q, want %q", k, want)
	}
}

// A TLS 1.3 client that sent no early data has no EndOfEarlyData, even
// when its first record after the server's flight has that size; and when
// the server's CertificateRequest record was lost, a client certificate
// still says the server asked for one.
func TestTLS13ClientFlightEdges(t *testing.T) {
	c, s := testPKI(t).Configs("www.example.test", tls.VersionTLS13, tls.VersionTLS13)
	s.ClientAuth = tls.RequireAnyClientCert
	c.Certificates = s.Certificates
	var pieces []piece
	serverRecs := 0
	for _, w := range session(t, c, s) {
		for _, rec := range records(w.Data) {
			if !w.FromClient && rec[0] == recordApplicationData {
				if serverRecs++; serverRecs == 2 { // the CertificateRequest
					continue
				}
			}
			pieces = append(pieces, piece{w.FromClient, rec})
		}
	}
	got := decide(t, flowstats.Stats{}, pieces...)
	if got.ServerFlight == nil || flightNames(got.ServerFlight) !=
		"EncryptedExtensions CertificateRequest Certificate CertificateVerify Finished" {
		t.Errorf("server flight %+v", got.ServerFlight)
	}
	if got.ClientFlight == nil || flightNames(got.ClientFlight) != "Certificate CertificateVerify Finished" {
		t.Errorf("client flight %+v", got.ClientFlight)
	}

	c, s = testPKI(t).Configs("www.example.test", tls.VersionTLS13, tls.VersionTLS13)
	pieces = nil
	for _, w := range session(t, c, s) {
		for _, rec := range records(w.Data) {
			if w.FromClient && rec[0] == recordApplicationData && len(rec) == recordHeaderLen+finishedLen(0x1301) {
				pieces = append(pieces, encrypted(true, recordApplicationData, endOfEarlyDataLen(0x1301)))
			}
			pieces = append(pieces, piece{w.FromClient, rec})
		}
	}
	got = decide(t, flowstats.Stats{}, pieces...)
	if got.EarlyData.Accepted || got.ClientFlight == nil || flightNames(got.ClientFlight) != "Certificate Finished" {
		t.Errorf("early data %+v, client flight %+v", got.EarlyData, got.ClientFlight)
	}
}

// A gap inside a record holding several messages names the one it cut,
// past the whole ones before it; one that cut exactly after a whole
// message says so.
func TestGapAfterWholeMessages(t *testing.T) {
	ch, sh, cert := realHellos(t)
	msg := func(typ uint8, body []byte) []byte {
		return append([]byte{typ, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
	}
	flight := append(msg(uint8(MsgServerHello), sh), msg(uint8(MsgCertificate), cert)...)
	rec := append([]byte{recordHandshake, 3, 3, byte(len(flight) >> 8), byte(len(flight))}, flight...)
	shEnd := recordHeaderLen + 4 + len(sh)
	// A record whose bytes so far end with a whole ServerHelloDone (four
	// bytes, no body).
	done := append(msg(uint8(MsgServerHello), sh), uint8(MsgServerHelloDone), 0, 0, 0)
	doneRec := append([]byte{recordHandshake, 3, 3, 0, byte(len(done) + 10)}, done...)
	var got *Connection
	c := NewConn(TCP, clientAddr, serverAddr, t0, Options{Emit: func(x *Connection) { got = x }})
	c.Data(0, handshakeRecords(uint8(MsgClientHello), ch), t0)
	c.Data(1, doneRec, t0)
	c.Gap(1, 10, t0)
	c.Close()
	if k := issueKinds(got); k != "gap: 10 bytes lost between handshake messages" {
		t.Errorf("after a whole ServerHelloDone: issues %q", k)
	}
	for cut, want := range map[int]string{shEnd + 50: "inside a Certificate message", shEnd: "between handshake messages",
		shEnd - 1: "inside a ServerHello message"} {
		var got *Connection
		c := NewConn(TCP, clientAddr, serverAddr, t0, Options{Emit: func(x *Connection) { got = x }})
		c.Data(0, handshakeRecords(uint8(MsgClientHello), ch), t0)
		c.Data(1, rec[:cut], t0)
		c.Gap(1, len(rec)-cut, t0)
		c.Close()
		if k := issueKinds(got); k != fmt.Sprintf("gap: %d bytes lost %s", len(rec)-cut, want) {
			t.Errorf("cut at %d: issues %q, want %q", cut, k, want)
		}
	}
}

// flightNames lists a flight's messages, space-separated.
func flightNames(f *Flight) string {
	var names []string
	for _, m := range f.Messages {
		names = append(names, m.String())
	}
	return strings.Join(names, " ")
}
