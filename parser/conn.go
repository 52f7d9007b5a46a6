package parser

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/tlssniff/tlssniff/budget"
)

// Direction says who sent something.
type Direction uint8

const (
	FromClient Direction = iota
	FromServer
)

func (d Direction) String() string {
	if d == FromClient {
		return "client"
	}
	return "server"
}

// Limits on what one connection keeps.
const (
	// connCost is what a Conn keeps until it is decided, besides buffers
	// and certificate chains: its state, its hellos and its messages
	// (TestConnCost measures it).
	connCost = 4096
	// maxHandshakeBuffer caps the handshake bytes buffered per direction
	// while a message is incomplete; a certificate chain fits many times.
	maxHandshakeBuffer = 1 << 20
	// maxMessages caps the messages recorded per connection.
	maxMessages = 512
	// maxIssues caps the issues recorded per connection.
	maxIssues = 64
	// maxAfterHandshake caps the records awaited after the handshake for
	// each side's first application data.
	maxAfterHandshake = 16
)

// Message is one TLS message in the reconstructed sequence.
type Message struct {
	Time      time.Time
	From      Direction
	Type      string // docs/CONTRACT.md names: ClientHello, ServerHello, …, ApplicationData
	Length    int    // handshake body length, or record length when encrypted
	Encrypted bool   // inferred from encrypted records rather than read
}

// Alert is an alert read in the clear.
type Alert struct {
	Time        time.Time
	From        Direction
	Level       uint8
	Description uint8
	msg         int // index of its message
}

// Issue is a problem met while reading a connection: lost bytes, a malformed
// record or message. Malformed traffic is output, not failure.
type Issue struct {
	Time time.Time
	From Direction
	// Kind is gap, memory_budget, malformed_record, malformed_message,
	// not_tls, preamble, overlap_conflict, unknown_version or undecided (a
	// field the capture cannot decide; its detail names it).
	Kind   string
	Detail string
}

// Connection is everything read about one TLS connection.
type Connection struct {
	Transport      string // "tcp"
	Tunnel         string // tunnels the connection came through ("gre/erspan"), outermost first
	Client, Server netip.AddrPort
	Start          time.Time

	ClientHello        *ClientHello // the first ClientHello
	RetryClientHello   *ClientHello // the ClientHello that answered a HelloRetryRequest or a DTLS HelloVerifyRequest
	ServerHello        *ServerHello // the ServerHello (not a HelloRetryRequest)
	HelloRetryRequest  *ServerHello
	ServerKeyExchange  *ServerKeyExchange
	CertificateRequest *CertificateRequest
	CertificateStatus  *CertificateStatus
	SessionTickets     []NewSessionTicket
	Certificates       []Certificate // server chain as sent
	ClientCertificates []Certificate
	// Validation and ClientValidation judge the chains at capture time,
	// when a Validator was given.
	Validation       *Validation
	ClientValidation *Validation

	// QUIC is what was seen of a QUIC connection's packets; nil over TCP.
	QUIC *QUICInfo

	// ServerFlight and ClientFlight summarise the encrypted flights of a
	// TLS 1.3 handshake, inferred from their records.
	ServerFlight *Flight
	ClientFlight *Flight
	EarlyData    EarlyData

	Version     uint16 // negotiated; 0 if no ServerHello was seen
	CipherSuite uint16
	Group       uint16
	HasGroup    bool
	Resumed     bool
	Established bool
	// Outcome is one of the Outcome constants; OutcomeDetail says who did
	// what, after which message.
	Outcome       string
	OutcomeDetail string
	Quality       Quality
	Alerts        []Alert
	Messages      []Message
	Issues        []Issue
	// MessagesDropped counts messages beyond maxMessages.
	MessagesDropped int

	// Timing is derived from the landmarks below when the connection is
	// emitted.
	Timing Timing

	// Times of the handshake's landmarks; zero when not seen.
	SYNTime, SYNACKTime, ACKTime time.Time // the TCP handshake
	ClientHelloTime              time.Time
	SecondClientHelloTime        time.Time // the answer to a HelloRetryRequest
	ServerHelloTime              time.Time
	ClientFinishedTime           time.Time
	ServerFinishedTime           time.Time
	// The first application data record of each side (0-RTT data counts).
	ClientDataTime, ServerDataTime time.Time
}

// SNI returns the server_name of the first ClientHello.
func (c *Connection) SNI() (string, bool) {
	if c.ClientHello == nil || !c.ClientHello.HasServerName {
		return "", false
	}
	return c.ClientHello.ServerName, true
}

// ALPN returns the protocol the server selected.
func (c *Connection) ALPN() (string, bool) {
	if c.ServerHello == nil || !c.ServerHello.HasALPN {
		return "", false
	}
	return c.ServerHello.ALPN, true
}

// SNIMatchesCert reports whether the leaf certificate covers the SNI; ok is
// false when there is no SNI or no parsable leaf certificate.
func (c *Connection) SNIMatchesCert() (match, ok bool) {
	sni, has := c.SNI()
	if !has || len(c.Certificates) == 0 || c.Certificates[0].x509 == nil {
		return false, false
	}
	return c.Certificates[0].coversName(sni), true
}

// TLS13 reports whether TLS 1.3 (or one of its drafts) was negotiated.
func (c *Connection) TLS13() bool { return isTLS13(c.Version) }

// isTLS13 includes the RFC 8446 drafts (0x7fXX) and Google's experiment
// variants of them (0x7eXX, Chrome 62–64), which encrypt the same way.
func isTLS13(v uint16) bool {
	return v == 0x0304 || v>>8 == 0x7f || v>>8 == 0x7e
}

// half is the state of one wire side of a connection.
type half struct {
	conn      *Conn
	side      int
	rec       RecordLayer
	hs        []byte    // handshake bytes of an incomplete message, charged to the budget
	skip      int       // bytes left of a handshake message dropped for memory
	copied    int       // bytes copied into hs: tests pin linear time on it
	lost      bool      // bytes of this side were lost or cut
	lastTime  time.Time // of the last bytes fed
	encrypted bool      // records from this side are now encrypted
	finished  bool      // this side's Finished was seen or inferred
	helloSeen bool      // a ClientHello or ServerHello came from this side
	dead      bool      // not TLS, or malformed beyond repair
	alerted   bool      // this side sent an alert
	calls     int       // Data calls that carried bytes of the first hello so far
	broken    bool      // this side's records turned malformed after TLS started
	brokenAt  int       // how many messages there were then
	fullHS    bool      // the server sent Certificate, ServerKeyExchange or ServerHelloDone
}

// Conn reconstructs one connection from the byte streams of its two sides.
// Side 0 is the side the caller believes is the client (the SYN sender);
// the side that sends the ClientHello becomes the client.
type Conn struct {
	c           Connection
	halves      [2]half
	client      int // which side is the client
	emit        func(*Connection)
	transport   func() TransportStats
	validator   *Validator
	mem         *budget.Account
	emitted     bool
	tls         bool // a hello was seen: this is a TLS connection
	postRecords int  // records seen since the handshake completed
	t13         tls13
	q           quicState
	d           dtlsState
	dtls        bool // the datagrams are DTLS, not QUIC
	helloVerify bool // a DTLS HelloVerifyRequest came
}

// TransportStats is what the layer below saw of a connection's packets, by the
// sides passed to Data (not yet by role).
type TransportStats struct {
	SYNSeen bool // the connection's opening (SYN or SYN/ACK) was captured
	// Capture times of the SYN, the SYN/ACK and the ACK that completes the
	// TCP handshake; zero when not seen.
	SYN, SYNACK, ACK time.Time
	Packets          [2]uint64
	Retransmits      uint64
	OutOfOrder       uint64
	Truncated        uint64 // packets cut short by the snapshot length
	Overlaps         uint64 // segments partly over bytes already taken
	Conflicts        uint64 // of which, or of buffered ones, with other bytes
	ConflictTime     time.Time
	ConflictSide     int
	FIN              [2]bool
	Reset            bool
	ResetSide        int
	ResetTime        time.Time
	Marks            []TransportMark
	Tunnel           string // the tunnels the packets came through, if any
}

// TransportMark is a retransmitted or out-of-order segment, by side.
type TransportMark struct {
	Time       time.Time
	Side       int
	Retransmit bool // else it came ahead of a hole
}

// Options configure a Conn.
type Options struct {
	// Emit receives the connection, once, when its handshake is decided or
	// at Close. Required.
	Emit func(*Connection)
	// Transport, when set, reports the packets seen so far; it is read when
	// the connection is emitted.
	Transport func() TransportStats
	// Validator, when set, judges the certificate chains at capture time.
	Validator *Validator
	// Memory, when set, is charged for what the connection buffers and
	// keeps until it is decided; its shed is the Conn's Shed.
	Memory *budget.Account
}

// NewConn starts a connection between side 0 (a) and side 1 (b), first seen
// at start.
func NewConn(transport string, a, b netip.AddrPort, start time.Time, opts Options) *Conn {
	c := &Conn{emit: opts.Emit, transport: opts.Transport, validator: opts.Validator, mem: opts.Memory}
	c.mem.Fixed(connCost)
	c.c = Connection{Transport: transport, Client: a, Server: b, Start: start}
	for i := range c.halves {
		c.halves[i] = half{conn: c, side: i, rec: RecordLayer{Memory: opts.Memory}}
		c.q.crypto[i].held.Account = opts.Memory
	}
	return c
}

func (c *Conn) role(side int) Direction {
	if side == c.client {
		return FromClient
	}
	return FromServer
}

// Data passes in-order bytes sent by side (0 or 1) and captured at ts.
// data is not retained. It reports whether more bytes from that side are
// wanted; once it says no, the caller may stop buffering that side.
func (c *Conn) Data(side int, data []byte, ts time.Time) bool {
	h := &c.halves[side]
	if h.dead || c.emitted {
		return false
	}
	h.lastTime = ts // when Shed drops buffers, its issue is dated by it
	if c.c.Transport == "udp" {
		return c.datagram(side, data, ts)
	}
	counting := !h.helloSeen
	err := h.rec.Feed(data, ts, h)
	if counting && h.rec.started {
		// Each call is one TCP segment's in-order bytes; those that held
		// only a preamble do not count.
		h.calls++
		if ch := c.c.ClientHello; ch != nil && ch.Segments == 0 && h.helloSeen && c.role(side) == FromClient {
			ch.Segments = h.calls
		}
	}
	if err != nil {
		h.dead = true
		if !errors.Is(err, ErrNotTLS) {
			h.broken, h.brokenAt = true, len(c.c.Messages)
			c.issue(ts, side, "malformed_record", err.Error())
		} else if c.tls {
			c.issue(ts, side, "not_tls", "the stream does not carry TLS records")
		}
	}
	return !h.dead && !c.emitted
}

// Gap tells the connection that n bytes sent by side were lost before ts.
func (c *Conn) Gap(side int, n int, ts time.Time) {
	c.lose(side, n, ts, "gap", fmt.Sprintf("%d bytes lost", n))
}

// Cut tells the connection that n bytes sent by side were dropped before
// ts to stay within the memory budget or a buffer limit.
func (c *Conn) Cut(side int, n int, ts time.Time) {
	c.lose(side, n, ts, "memory_budget", fmt.Sprintf("%d bytes dropped to stay within the memory budget", n))
}

func (c *Conn) lose(side int, n int, ts time.Time, kind, detail string) {
	h := &c.halves[side]
	if h.dead || c.emitted {
		return
	}
	if h.rec.started || kind == "memory_budget" { // a gap before TLS started is no news; a cut always is
		c.issue(ts, side, kind, detail+h.lostMessage())
	}
	c.c.Quality.Gaps++
	c.c.Quality.GapBytes += n
	h.lost = true
	h.dropHS()
	h.rec.Gap(n)
}

// Shed frees what the connection buffers because the memory budget needs
// it: partial records and handshake messages, DTLS fragments and QUIC
// CRYPTO data held out of order. Each side that lost bytes records a
// memory_budget issue; reading goes on after what was dropped.
func (c *Conn) Shed() {
	for side := range c.halves {
		h := &c.halves[side]
		lost := h.lostMessage()
		n := len(h.hs) + h.rec.Shed() + c.shedDatagrams(side)
		if n == 0 || c.emitted {
			continue
		}
		c.issue(h.lastTime, side, "memory_budget",
			fmt.Sprintf("%d buffered bytes dropped%s: the memory budget was spent and this connection held the most", n, lost))
		if len(h.hs) >= 4 {
			h.skip = messageLen(h.hs) - len(h.hs)
		}
		h.dropHS()
	}
}

// dropHS drops the handshake bytes of an incomplete message.
func (h *half) dropHS() {
	h.conn.mem.Release(cap(h.hs))
	h.hs = nil
}

// lostMessage says which handshake message a gap cut into: the one still
// incomplete across the buffered handshake bytes and the record in progress.
func (h *half) lostMessage() string {
	b := h.hs
	if typ, body, ok := h.rec.pending(); ok {
		if typ != recordHandshake || h.encrypted {
			return ""
		}
		b = append(b[:len(b):len(b)], body...)
	} else if len(b) == 0 {
		return "" // between records
	}
	for len(b) >= 4 {
		n := int(b[1])<<16 | int(b[2])<<8 | int(b[3])
		if len(b) < 4+n {
			break
		}
		b = b[4+n:]
	}
	if len(b) == 0 {
		return " between handshake messages"
	}
	return fmt.Sprintf(" inside a %s message", handshakeTypeName(b[0]))
}

// Close ends the connection; a TLS connection not yet emitted is emitted now.
func (c *Conn) Close() {
	if c.tls && !c.emitted {
		c.decide()
	}
}

// decide emits the connection, once: records cut from the same bytes may
// still arrive after it.
func (c *Conn) decide() {
	if c.emitted {
		return
	}
	c.emitted = true
	for i := range c.halves {
		c.halves[i].dropHS()
		c.halves[i].rec.Gap(0)
	}
	c.shedDatagrams(0)
	c.shedDatagrams(1)
	c.judge()
	c.emit(&c.c)
}

func (c *Conn) issue(ts time.Time, side int, kind, detail string) {
	if len(c.c.Issues) < maxIssues {
		c.c.Issues = append(c.c.Issues, Issue{Time: ts, From: c.role(side), Kind: kind, Detail: detail})
	}
}

// message records a message and returns its index, or -1 past maxMessages.
func (c *Conn) message(ts time.Time, side int, typ string, length int, encrypted bool) int {
	// Records that look like data before the handshake completed are data
	// only as 0-RTT; otherwise they are a handshake the capture did not see.
	if typ == "ApplicationData" && (c.c.Established || (c.c.ServerHello == nil && c.c.EarlyData.Offered)) {
		c.sentData(c.role(side), ts)
	}
	if len(c.c.Messages) >= maxMessages {
		c.c.MessagesDropped++
		return -1
	}
	c.c.Messages = append(c.c.Messages, Message{Time: ts, From: c.role(side), Type: typ, Length: length, Encrypted: encrypted})
	return len(c.c.Messages) - 1
}

// sentData notes application data sent by from at ts.
func (c *Conn) sentData(from Direction, ts time.Time) {
	t := &c.c.ClientDataTime
	if from == FromServer {
		t = &c.c.ServerDataTime
	}
	if t.IsZero() {
		*t = ts
	}
}

// settle decides an established connection once each side has sent its
// first application data, or maxAfterHandshake records went by without it
// (a server that never answers). Waiting costs a few segments and gives the
// time to first data, TLS 1.3 tickets, and alerts sent right after.
func (c *Conn) settle() {
	cc := &c.c
	if cc.Established && ((!cc.ClientDataTime.IsZero() && !cc.ServerDataTime.IsZero()) || c.postRecords >= maxAfterHandshake) {
		c.decide()
	}
}

// WantBody implements RecordHandler: bodies are read until a side encrypts
// or the connection is decided; application data is never buffered.
func (h *half) WantBody(typ uint8) bool {
	return typ != recordApplicationData && !h.encrypted && !h.conn.emitted
}

// Record implements RecordHandler.
func (h *half) Record(r Record) {
	c := h.conn
	if c.emitted {
		return // decided: what follows is not part of the handshake
	}
	if c.c.Established {
		c.postRecords++
	}
	defer c.settle()
	switch r.Type {
	case recordSSLv2:
		if len(r.Body) == 0 {
			c.issue(r.Time, h.side, "memory_budget", fmt.Sprintf("an SSL 2.0 ClientHello of %d bytes dropped to stay within the memory budget", r.Length))
			return
		}
		h.clientHello(r.Time, r.Body[1:], true)
	case recordChangeCipherSpec:
		c.message(r.Time, h.side, "ChangeCipherSpec", r.Length, false)
		// RFC 5246, section 7.1: records after ChangeCipherSpec are protected.
		// In TLS 1.3 it is a compatibility no-op (RFC 8446, appendix D.4),
		// sent even before the ServerHello when a HelloRetryRequest came first.
		if c.c.ServerHello != nil && !c.c.TLS13() {
			if c.role(h.side) == FromServer && !h.fullHS && !h.encrypted {
				c.abbreviated(r.Time, h) // once: a storm of ChangeCipherSpecs is not read again
			}
			h.encrypted = true
		}
	case recordAlert:
		h.alerted = true
		if len(r.Body) == 2 {
			i := c.message(r.Time, h.side, "Alert", r.Length, false)
			c.c.Alerts = append(c.c.Alerts, Alert{Time: r.Time, From: c.role(h.side), Level: r.Body[0], Description: r.Body[1], msg: i})
		} else {
			c.message(r.Time, h.side, "Alert", r.Length, true)
		}
	case recordHandshake:
		switch {
		case r.Cut:
			c.issue(r.Time, h.side, "memory_budget", fmt.Sprintf("a handshake record of %d bytes dropped to stay within the memory budget", r.Length))
			h.dropHS() // the next record is read as starting a message
			h.skip = 0
		case r.Body == nil:
			h.encryptedHandshake(r)
		default:
			h.handshakeBytes(r.Time, r.Body)
		}
	case recordApplicationData:
		h.applicationData(r)
	case recordHeartbeat:
		c.message(r.Time, h.side, "Heartbeat", r.Length, h.encrypted)
	}
}

// abbreviated decides whether a server's ChangeCipherSpec with no
// Certificate, ServerKeyExchange or ServerHelloDone before it ends an
// abbreviated handshake (RFC 5246, section 7.3). A client that already
// sent its keys did a full handshake; a ServerHello echoing the client's
// session id (RFC 5246, 7.4.1.3) or a ticket the client offered (RFC 5077,
// 3.4) resumes it; with neither, the flow alone decides it unless bytes
// of the server's flight were lost, which could hold the Certificate:
// then resumed stays false and an issue says it is undecided.
func (c *Conn) abbreviated(ts time.Time, server *half) {
	ch, sh := c.c.ClientHello, c.c.ServerHello
	for _, m := range c.c.Messages {
		if m.From == FromClient && (m.Type == "ClientKeyExchange" || m.Type == "ChangeCipherSpec") {
			return // the client's keys came first: a full handshake
		}
	}
	echo := ch != nil && len(ch.SessionID) > 0 && bytes.Equal(ch.SessionID, sh.SessionID)
	ticket := ch != nil && ch.SessionTicketLen > 0
	if echo || ticket || !server.lost {
		c.c.Resumed = true
		return
	}
	c.issue(ts, server.side, "undecided", "resumed: the server's flight lost bytes that could hold its Certificate, "+
		"and neither a session id echo nor a ticket shows a resumption")
}

// encryptedHandshake handles a handshake record sent after ChangeCipherSpec
// (TLS 1.2 and earlier): the first is that side's Finished.
func (h *half) encryptedHandshake(r Record) {
	c := h.conn
	if h.finished {
		c.message(r.Time, h.side, "EncryptedHandshake", r.Length, true)
		return
	}
	c.message(r.Time, h.side, "Finished", r.Length, true)
	h.setFinished(r.Time)
}

// applicationData handles an application_data record: in TLS 1.3 the
// handshake after ServerHello travels in such records (tls13.go).
func (h *half) applicationData(r Record) {
	if h.conn.c.TLS13() || (h.conn.c.ServerHello == nil && h.conn.c.ClientHello != nil && h.conn.c.ClientHello.EarlyData) {
		h.applicationData13(r)
		return
	}
	h.conn.message(r.Time, h.side, "ApplicationData", r.Length, true)
}

func (h *half) setFinished(ts time.Time) {
	c := h.conn
	h.finished = true
	if c.role(h.side) == FromClient {
		c.c.ClientFinishedTime = ts
	} else {
		c.c.ServerFinishedTime = ts
	}
	if c.halves[0].finished && c.halves[1].finished {
		c.c.Established = true // decided by settle
	}
}

// handshakeBytes gathers handshake bytes across records and cuts messages:
// a 1-byte type and a 3-byte length (RFC 8446, section 4). Whole messages
// within b are read in place; only a message cut across records is copied,
// each byte once, so that a message sent in records of one byte costs time
// linear in its length.
func (h *half) handshakeBytes(ts time.Time, b []byte) {
	for len(b) > 0 && !h.dead && !h.conn.emitted {
		if h.skip > 0 {
			n := min(h.skip, len(b))
			h.skip -= n
			b = b[n:]
			continue
		}
		if len(h.hs) == 0 {
			b = h.cutMessages(ts, b) // the common case: no copy
			if len(b) == 0 || h.dead || h.conn.emitted {
				return
			}
		}
		// Complete the header, then the message, from b.
		want := 4
		if len(h.hs) >= 4 {
			want = messageLen(h.hs)
		}
		n := min(want-len(h.hs), len(b))
		if !h.keep(ts, b[:n]) {
			return
		}
		b = b[n:]
		if len(h.hs) == 4 || len(h.hs) == want {
			// A header just completed (the limit is checked there) or a
			// whole message: cutMessages reads it, or keeps it whole.
			if rest := h.cutMessages(ts, h.hs); len(rest) == 0 {
				h.dropHS()
			}
		}
	}
}

// messageLen is the length of the handshake message whose header starts b.
func messageLen(b []byte) int { return 4 + (int(b[1])<<16 | int(b[2])<<8 | int(b[3])) }

// keep appends b to the incomplete message, charging the memory budget
// for what the buffer grows by. When the budget refuses, the message is
// dropped (its remaining bytes skipped when its length is known) and the
// connection says so.
func (h *half) keep(ts time.Time, b []byte) bool {
	h.copied += len(b)
	if len(h.hs)+len(b) <= cap(h.hs) {
		h.hs = append(h.hs, b...)
		return true
	}
	grown := append(h.hs[:len(h.hs):len(h.hs)], b...)
	if h.conn.mem.Charge(cap(grown) - cap(h.hs)) {
		h.hs = grown
		return true
	}
	h.conn.issue(ts, h.side, "memory_budget", fmt.Sprintf("%d bytes of a handshake message dropped to stay within the memory budget", len(grown)))
	if len(grown) >= 4 {
		h.skip = messageLen(grown) - len(grown)
	} else {
		h.dead = true // no length to skip by
	}
	h.dropHS()
	return false
}

// cutMessages handles every complete message in b and returns the rest.
func (h *half) cutMessages(ts time.Time, b []byte) []byte {
	for len(b) >= 4 && !h.dead && !h.conn.emitted {
		n := int(b[1])<<16 | int(b[2])<<8 | int(b[3])
		if n > maxHandshakeBuffer {
			h.conn.issue(ts, h.side, "malformed_message",
				fmt.Sprintf("%s message of %d bytes exceeds the %d-byte limit", handshakeTypeName(b[0]), n, maxHandshakeBuffer))
			h.dead = true
			return nil
		}
		if len(b) < 4+n {
			break
		}
		h.handshake(ts, b[0], b[4:4+n])
		b = b[4+n:]
	}
	return b
}

// handshake handles one complete handshake message read in the clear.
func (h *half) handshake(ts time.Time, typ uint8, body []byte) {
	c := h.conn
	cc := &c.c
	malformed := func() {
		c.issue(ts, h.side, "malformed_message", fmt.Sprintf("malformed %s of %d bytes", handshakeTypeName(typ), len(body)))
	}
	switch typ {
	case typeClientHello:
		h.clientHello(ts, body, false)
		return
	case typeServerHello:
		h.serverHello(ts, body)
		return
	case typeCertificate:
		chain, ok := decodeCertificate(body, cc.TLS13())
		if !ok {
			malformed()
		} else if c.role(h.side) == FromServer && cc.Certificates == nil {
			cc.Certificates = chain
			c.mem.Fixed(chainCost(chain)) // kept until decided; too many such flows evict the oldest
		} else if c.role(h.side) == FromClient && cc.ClientCertificates == nil {
			cc.ClientCertificates = chain
			c.mem.Fixed(chainCost(chain))
		}
		h.fullHS = true
	case typeServerKeyExchange:
		m, ok := decodeServerKeyExchange(body, cc.CipherSuite)
		if !ok {
			malformed()
		} else {
			cc.ServerKeyExchange = m
			if m.HasGroup {
				cc.Group, cc.HasGroup = m.Group, true
			}
		}
		h.fullHS = true
	case typeServerHelloDone:
		h.fullHS = true // also marks the server's flight as sent
	case typeHelloVerifyRequest:
		c.helloVerify = true // the client answers with its ClientHello again
	case typeCertificateRequest:
		if m, ok := decodeCertificateRequest(body, cc.Version); ok {
			cc.CertificateRequest = m
		} else {
			malformed()
		}
	case typeCertificateStatus:
		if m, ok := decodeCertificateStatus(body); ok {
			cc.CertificateStatus = m
		} else {
			malformed()
		}
	case typeNewSessionTicket:
		if m, ok := decodeNewSessionTicket(body, cc.TLS13()); ok {
			cc.SessionTickets = append(cc.SessionTickets, *m)
		} else {
			malformed()
		}
	case typeFinished:
		c.message(ts, h.side, "Finished", len(body), false)
		h.setFinished(ts)
		return
	}
	c.message(ts, h.side, handshakeTypeName(typ), len(body), false)
}

// clientIs makes side the client, with its address.
func (c *Conn) clientIs(side int) {
	if side != c.client {
		c.client = side
		c.c.Client, c.c.Server = c.c.Server, c.c.Client
	}
}

func (h *half) clientHello(ts time.Time, body []byte, sslv2 bool) {
	c := h.conn
	if !c.halves[c.client].helloSeen {
		c.clientIs(h.side) // the side that sends the ClientHello is the client
	}
	h.hello(ts)
	body = bytes.Clone(body) // the decoded hello keeps slices of it
	var m *ClientHello
	var ok bool
	if sslv2 {
		m, ok = decodeSSLv2ClientHello(body)
	} else {
		m, ok = decodeClientHello(body)
	}
	c.message(ts, h.side, "ClientHello", len(body), false)
	if !ok {
		c.issue(ts, h.side, "malformed_message", fmt.Sprintf("malformed ClientHello of %d bytes", len(body)))
		return
	}
	if c.c.ClientHello == nil {
		m.ja3()
		switch {
		case c.dtls:
			m.ja4('d') // FoxIO's transport letters
		case c.c.Transport == "udp":
			m.ja4('q')
		default:
			m.ja4('t')
		}
		c.c.EarlyData.Offered = m.EarlyData
		c.c.ClientHello = m
		c.c.ClientHelloTime = ts
	} else if (c.c.HelloRetryRequest != nil || c.helloVerify) && c.c.RetryClientHello == nil {
		c.c.RetryClientHello = m
		c.c.SecondClientHelloTime = ts
	}
}

// hello marks this side as TLS on its first hello, noting any bytes that
// came before TLS started.
func (h *half) hello(ts time.Time) {
	c := h.conn
	c.tls = true
	if h.helloSeen {
		return
	}
	h.helloSeen = true
	if n := h.rec.Preamble(); n > 0 {
		c.issue(ts, h.side, "preamble", fmt.Sprintf("%d bytes before the first TLS record (a proxy or STARTTLS exchange)", n))
	}
}

func (h *half) serverHello(ts time.Time, body []byte) {
	c := h.conn
	cc := &c.c
	h.hello(ts)
	m, ok := decodeServerHello(bytes.Clone(body)) // the decoded hello keeps slices of it
	if !ok {
		c.message(ts, h.side, "ServerHello", len(body), false)
		c.issue(ts, h.side, "malformed_message", fmt.Sprintf("malformed ServerHello of %d bytes", len(body)))
		return
	}
	m.ja3s()
	if m.HelloRetry {
		c.message(ts, h.side, "HelloRetryRequest", len(body), false)
		cc.HelloRetryRequest = m
		return
	}
	c.message(ts, h.side, "ServerHello", len(body), false)
	if cc.ServerHello != nil {
		return // renegotiation keeps the first handshake's parameters
	}
	cc.ServerHello = m
	cc.ServerHelloTime = ts
	cc.Version = m.Negotiated()
	cc.CipherSuite = m.CipherSuite
	if cc.TLS13() || cc.Version == 0xfefc { // and DTLS 1.3
		if m.HasKeyShare {
			cc.Group, cc.HasGroup = m.KeyShare, true
		}
		cc.Resumed = m.PSKSelected
		h.encrypted = true // RFC 8446, section 2: everything after ServerHello is encrypted
	}
}
