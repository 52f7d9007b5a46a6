package parser

import (
	"crypto/rsa"
	"fmt"
	"net/netip"
	"time"

	"github.com/tlssniff/tlssniff/budget"
	"github.com/tlssniff/tlssniff/flowstats"
	"github.com/tlssniff/tlssniff/keylog"
)

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

// Conn reconstructs one connection from the byte streams of its two sides:
// the handshake core (this file, handshake.go, records.go, tls13.go,
// outcome.go) fed by the adapter of its transport (stream.go, udp.go with
// dtls.go and quic.go). Side 0 is the side the caller believes is the client (the SYN
// sender); the side that sends the ClientHello becomes the client.
type Conn struct {
	c         *Connection // what is emitted: apart, as the Conn is recycled once closed
	sides     [2]side
	client    int // which side is the client
	tr        adapter
	ja4       byte // FoxIO's transport letter: t, q or d
	emit      func(*Connection)
	transport *flowstats.Stats
	validator *Validator
	mem       *budget.Account
	emitted   bool
	tls       bool // a hello was seen: this is a TLS connection
	// Records read before any hello, by side, and the version of the
	// last: a connection picked up after its hellos is TLS when there
	// are at least two.
	headless        [2]int
	headlessVersion uint16
	postRecords     int // records seen since the handshake completed
	t13             tls13
	sealed          [2]sealedRecord // by role: the last protected record known to hold handshake messages
	helloVerify     bool            // a DTLS HelloVerifyRequest came
	keys            *keylog.Log
	dec             *decryption // TLS 1.3 records opened with keys (decrypt.go)
	decTried        bool        // the secrets were looked up
	opened          bool        // what is being read came out of a record opened with keys
	wait            bool        // protected records are held while the secrets may still come
	held            held[heldRecord]
	rsaKeys         []*rsa.PrivateKey
	transcript      []byte // the handshake messages so far, kept with RSAKeys for the extended master secret
	rsaExchange     []byte // the ClientKeyExchange's encrypted premaster secret
	sessionHash     int    // how much of transcript the extended master secret covers
}

// side is the core's state of one wire side of a connection.
type side struct {
	hs        []byte    // handshake bytes of an incomplete message, charged to the budget
	skip      int       // bytes left of a handshake message dropped for memory
	copied    int       // bytes copied into hs: tests pin linear time on it
	lost      bool      // bytes of this side were lost or cut
	lastTime  time.Time // of the last bytes fed
	encrypted bool      // records from this side are now encrypted
	// unsure is set when encrypted was set by a ChangeCipherSpec before any
	// ServerHello, until the next handshake record says which it was.
	unsure bool
	// resync is set when a handshake message's length was impossible: the
	// rest of the record is skipped.
	resync    bool
	finished  bool // this side's Finished was seen or inferred
	helloSeen bool // a ClientHello or ServerHello came from this side
	dead      bool // not TLS, or malformed beyond repair
	alerted   bool // this side sent an alert
	broken    bool // this side's records turned malformed after TLS started
	brokenAt  int  // how many messages there were then
	fullHS    bool // the server sent Certificate, ServerKeyExchange, ServerHelloDone or EncryptedExtensions
}

// adapter reads one transport's framing of a connection (TLS records over
// TCP, DTLS records or QUIC packets over UDP) and feeds the core through
// its narrow API (records.go). The core calls back only to let it drop
// what it buffers.
type adapter interface {
	// data handles the bytes of side captured at ts: a TCP segment's
	// in-order bytes or one datagram. It reports whether more are wanted.
	data(side int, b []byte, ts time.Time) bool
	// lose drops side's frame in progress: n bytes of it were lost.
	lose(side, n int)
	// shed drops what side buffers and returns how many bytes it held.
	shed(side int) int
	// pending returns the content type and the bytes so far of side's
	// record in progress, if any.
	pending(side int) (typ uint8, body []byte, ok bool)
	// started reports whether side's records have started.
	started(side int) bool
	// preamble is how many bytes side sent before its first record.
	preamble(side int) int64
	// openedHandshake reads the handshake content of a record opened with
	// keys, as the transport frames it (DTLS: fragments).
	openedHandshake(side int, ts time.Time, b []byte)
	// release reads what the adapter held while the secrets might come.
	release()
}

// Options configure a Conn.
type Options struct {
	// Emit receives the connection, once, when its handshake is decided or
	// at Close. Required.
	Emit func(*Connection)
	// Transport, when set, is what the layer below saw of the packets so
	// far, by side; it is read when the connection is emitted.
	Transport *flowstats.Stats
	// Validator, when set, parses certificates once while they are in its
	// cache; its Judge judges the chains of a decided connection.
	Validator *Validator
	// Memory, when set, is charged for what the connection buffers and
	// keeps until it is decided; its shed is the Conn's Shed.
	Memory *budget.Account
	// Keys, when set, holds secrets to open TLS 1.3 records with, looked
	// up by the ClientHello random.
	Keys *keylog.Log
	// RSAKeys are servers' private keys, to decrypt TLS 1.0-1.2 RSA key
	// exchanges with when a connection's certificate has one's public key.
	RSAKeys []*rsa.PrivateKey
	// KeysFollowed says Keys is still being filled (a key log followed
	// live, whose line for a handshake may come after its first records):
	// a TLS 1.3 connection without its secrets yet holds its protected
	// records, bounded, until they come.
	KeysFollowed bool
}

// NewConn starts a connection between side 0 (a) and side 1 (b), first seen
// at start.
func NewConn(transport Transport, a, b netip.AddrPort, start time.Time, opts Options) *Conn {
	var c *Conn
	if transport == UDP {
		c = &Conn{}
		c.tr = &datagrams{c: c}
	} else {
		c = newStreamConn(opts.Memory) // one allocation for the Conn and its adapter
	}
	c.emit, c.transport, c.validator, c.mem, c.keys = opts.Emit, opts.Transport, opts.Validator, opts.Memory, opts.Keys
	c.wait = opts.KeysFollowed && opts.Keys != nil
	c.rsaKeys = opts.RSAKeys
	c.mem.Fixed(connCost)
	c.c = &Connection{Transport: transport, Client: a, Server: b, Start: start}
	return c
}

func (c *Conn) role(side int) Direction {
	if side == c.client {
		return FromClient
	}
	return FromServer
}

// sideOf is the wire side of a role.
func (c *Conn) sideOf(d Direction) int {
	if d == FromClient {
		return c.client
	}
	return 1 - c.client
}

// Decided reports whether the connection was emitted.
func (c *Conn) Decided() bool { return c.emitted }

// TLS reports whether the flow shows TLS: a hello was seen, or (picked up
// after its hellos) two records that hold together. Such a flow is
// emitted when it is decided or closed.
func (c *Conn) TLS() bool { return c.tls || c.headless[0]+c.headless[1] >= 2 }

// Data passes in-order bytes sent by side (0 or 1) and captured at ts.
// data is not retained. It reports whether more bytes from that side are
// wanted; once it says no, the caller may stop buffering that side.
func (c *Conn) Data(side int, data []byte, ts time.Time) bool {
	h := &c.sides[side]
	if h.dead || c.emitted {
		return false
	}
	h.lastTime = ts // when Shed drops buffers, its issue is dated by it
	return c.tr.data(side, data, ts)
}

// Gap tells the connection that n bytes sent by side were lost before ts.
func (c *Conn) Gap(side int, n int, ts time.Time) {
	c.lose(side, n, ts, IssueGap, fmt.Sprintf("%d bytes lost", n))
}

// Cut tells the connection that n bytes sent by side were dropped before
// ts to stay within the memory budget or a buffer limit.
func (c *Conn) Cut(side int, n int, ts time.Time) {
	c.lose(side, n, ts, IssueMemoryBudget, fmt.Sprintf("%d bytes dropped to stay within the memory budget", n))
}

func (c *Conn) lose(side int, n int, ts time.Time, kind IssueKind, detail string) {
	h := &c.sides[side]
	if h.dead || c.emitted {
		return
	}
	if c.tr.started(side) || kind == IssueMemoryBudget { // a gap before TLS started is no news; a cut always is
		c.issue(ts, side, kind, detail+c.lostMessage(side))
	}
	c.c.Quality.Gaps++
	c.c.Quality.GapBytes += n
	h.lost = true
	c.dropHS(side)
	c.tr.lose(side, n)
}

// Shed frees what the connection buffers because the memory budget needs
// it: partial records and handshake messages, DTLS fragments and QUIC
// CRYPTO data held out of order. Each side that lost bytes records a
// memory_budget issue; reading goes on after what was dropped.
func (c *Conn) Shed() {
	c.release() // records held for secrets still to come: inferred from now
	for side := range c.sides {
		h := &c.sides[side]
		lost := c.lostMessage(side)
		n := len(h.hs) + c.tr.shed(side)
		if n == 0 || c.emitted {
			continue
		}
		c.issue(h.lastTime, side, IssueMemoryBudget,
			fmt.Sprintf("%d buffered bytes dropped%s: the memory budget was spent and this connection held the most", n, lost))
		if len(h.hs) >= 4 {
			h.skip = messageLen(h.hs) - len(h.hs)
		}
		c.dropHS(side)
	}
}

// lostMessage says which handshake message a gap cut into: the one still
// incomplete across the buffered handshake bytes and the record in progress.
func (c *Conn) lostMessage(side int) string {
	b := c.sides[side].hs
	if typ, body, ok := c.tr.pending(side); ok {
		if typ != recordHandshake || c.sides[side].encrypted {
			return ""
		}
		b = append(b[:len(b):len(b)], body...)
	} else if len(b) == 0 {
		return "" // between records
	}
	for len(b) >= 4 && len(b) >= messageLen(b) {
		b = b[messageLen(b):]
	}
	if len(b) == 0 {
		return " between handshake messages"
	}
	return fmt.Sprintf(" inside a %s message", MessageType(b[0]))
}

// Close ends the connection; a TLS connection not yet emitted is emitted
// now, and so is one picked up after its hellos whose records held
// together (two at least, and none broken). The Conn must not be used
// after: a TCP connection's is recycled.
func (c *Conn) Close() {
	if !c.tls && c.headless[0]+c.headless[1] >= 2 && !c.sides[0].broken && !c.sides[1].broken {
		c.tls = true
	}
	if c.tls && !c.emitted {
		c.decide()
	}
	if s, ok := c.tr.(*stream); ok {
		s.recycle()
	}
}

// decide emits the connection, once: records cut from the same bytes may
// still arrive after it.
func (c *Conn) decide() {
	if c.emitted {
		return
	}
	if c.wait {
		c.release() // the secrets did not come in time: what was held is read as it is
		if c.emitted {
			return // reading it decided the connection
		}
	}
	c.emitted = true
	for side := range c.sides {
		c.dropHS(side)
		c.tr.lose(side, 0)
		c.tr.shed(side)
	}
	c.judge()
	c.emit(c.c)
}

func (c *Conn) issue(ts time.Time, side int, kind IssueKind, detail string) {
	if len(c.c.Issues) < maxIssues {
		c.c.Issues = append(c.c.Issues, Issue{Time: ts, From: c.role(side), Kind: kind, Detail: detail})
	}
}

// issueOnce records an issue of a kind not yet recorded.
func (c *Conn) issueOnce(ts time.Time, side int, kind IssueKind, detail string) {
	for _, i := range c.c.Issues {
		if i.Kind == kind {
			return
		}
	}
	c.issue(ts, side, kind, detail)
}

// message records a message and returns its index, or -1 past maxMessages.
func (c *Conn) message(ts time.Time, side int, typ MessageType, length int, encrypted bool) int {
	// Records that look like data before the handshake completed are data
	// only as 0-RTT; otherwise they are a handshake the capture did not see.
	if typ == MsgApplicationData && (c.c.Established || (c.c.ServerHello == nil && c.c.EarlyData.Offered)) {
		c.sentData(c.role(side), ts)
	}
	if len(c.c.Messages) >= maxMessages {
		c.c.MessagesDropped++
		return -1
	}
	if c.c.Messages == nil {
		c.c.Messages = make([]Message, 0, 16) // a handshake's, in one allocation (connCost)
	}
	c.c.Messages = append(c.c.Messages, Message{Time: ts, From: c.role(side), Type: typ, Length: length,
		Encrypted: encrypted && !c.opened, Decrypted: c.opened})
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

// unit handles one record or packet with handle, then does what follows
// every one of them, whatever the transport: counts it when the handshake
// is done, and decides an established connection once each side has sent
// its first application data, or maxAfterHandshake records went by without
// it (a server that never answers). Waiting costs a few segments and gives
// the time to first data, TLS 1.3 tickets, and alerts sent right after.
func (c *Conn) unit(handle func()) {
	if c.emitted {
		return // decided: what follows is not part of the handshake
	}
	cc := c.c
	if cc.Established {
		c.postRecords++
	}
	handle()
	if !cc.Established {
		return
	}
	data := !cc.ClientDataTime.IsZero() && !cc.ServerDataTime.IsZero()
	if (c.renegotiating() == nil && (data || c.postRecords >= maxAfterHandshake)) || c.postRecords >= maxAfterRenegotiation {
		c.decide()
	}
}
