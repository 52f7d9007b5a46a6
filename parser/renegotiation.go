package parser

import (
	"slices"
	"time"
)

// Renegotiation (RFC 5246, section 7.4.1; RFC 5746): a TLS 1.0-1.2
// handshake inside an established session, its messages protected with
// the session's keys. It is read when those records are opened with keys
// and comes before the connection is decided: a server that renegotiates
// for a client certificate does so before its first application data.
// Its messages are listed among the connection's; the first handshake's
// parameters stand, except that a chain sent only in the renegotiation (a
// client certificate) fills the empty one. Its records after each side's
// ChangeCipherSpec are opened with the keys of its own master secret: the
// key log's line for its ClientHello random, or, when it resumed the
// session (its server changed ciphers first: an abbreviated handshake),
// the session's.

// maxRenegotiations bounds the renegotiations a connection keeps; later
// ones are listed as messages only.
const maxRenegotiations = 4

// alertNoRenegotiation refuses a renegotiation (RFC 5246, section 7.2.2).
const alertNoRenegotiation = 100

// maxAfterRenegotiation caps the records awaited after the handshake while
// a renegotiation is under way.
const maxAfterRenegotiation = 4 * maxAfterHandshake

// Renegotiation is one handshake inside an established TLS 1.0-1.2
// session, read from records opened with keys.
type Renegotiation struct {
	Time        time.Time // its HelloRequest, else its ClientHello
	By          Direction // the server asks with a HelloRequest; a client starts with its ClientHello
	Version     uint16    // of its ServerHello; 0 when none was read
	CipherSuite uint16
	Resumed     bool // abbreviated: the server's ChangeCipherSpec came first
	Established bool // both its Finished were read
	Refused     bool // answered with a no_renegotiation alert

	clientHello *ClientHello
	helloMsg    int // its ClientHello's message index
	serverHello *ServerHello
	finished    [2]bool // by wire side
	changed     [2]bool // by wire side: its ChangeCipherSpec came
}

// renegotiating returns the renegotiation under way, if any.
func (c *Conn) renegotiating() *Renegotiation {
	if n := len(c.c.Renegotiations); n > 0 && !c.c.Renegotiations[n-1].Established && !c.c.Renegotiations[n-1].Refused {
		return &c.c.Renegotiations[n-1]
	}
	return nil
}

// renegotiation returns the renegotiation a HelloRequest or ClientHello
// of side belongs to, starting one when it starts one; nil when the
// message is not part of a renegotiation, or past maxRenegotiations.
func (c *Conn) renegotiation(side int, ts time.Time, typ MessageType) *Renegotiation {
	cc := c.c
	if !cc.Established || cc.TLS13() || cc.QUIC != nil {
		return nil
	}
	r := c.renegotiating()
	if r != nil && (typ == MsgHelloRequest || r.clientHello == nil) {
		return r // a HelloRequest again, or the ClientHello it asked for
	}
	if len(cc.Renegotiations) == maxRenegotiations {
		return nil
	}
	cc.Renegotiations = append(cc.Renegotiations, Renegotiation{Time: ts, By: c.role(side)})
	return &cc.Renegotiations[len(cc.Renegotiations)-1]
}

// renegotiationKeys takes up side's keys for the renegotiated handshake at
// its ChangeCipherSpec: the side's records from there on are opened with
// them, or not at all when the key log has no master secret for it.
func (c *Conn) renegotiationKeys(side int) {
	r := c.renegotiating()
	if r == nil || c.dec == nil || r.changed[side] {
		return
	}
	if !r.changed[1-side] {
		r.Resumed = c.role(side) == FromServer // RFC 5246, section 7.3
	}
	r.changed[side] = true
	ds := &c.dec.sides[side]
	ds.keys = nil
	ch, sh := r.clientHello, r.serverHello
	if ch == nil || sh == nil {
		return
	}
	s, _ := c.keys.Lookup(ch.Random)
	master := s.MasterSecret
	if master == nil && r.Resumed {
		master = c.dec.secrets.MasterSecret // the session's, resumed
	}
	if master == nil {
		c.c.Decryption.Detail = "no CLIENT_RANDOM line for the renegotiated handshake"
		return
	}
	etm := slices.Contains(ch.Extensions, extEncryptThenMAC) && slices.Contains(sh.Extensions, extEncryptThenMAC)
	ck, sk, ok := keys12(r.Version, r.CipherSuite, etm, master, ch.Random, sh.Random)
	switch {
	case !ok:
		c.c.Decryption.Detail = "the renegotiated handshake's " + CipherSuiteName(r.CipherSuite) + " records are not decrypted"
	case c.role(side) == FromClient:
		ds.keys = ck
	default:
		ds.keys = sk
	}
	c.dec.secrets.MasterSecret = master // the session is now the renegotiated one
}
