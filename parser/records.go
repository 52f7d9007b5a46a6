package parser

import (
	"bytes"
	"errors"
	"fmt"
	"time"
)

// The core's narrow API, through which the transport adapters feed it:
//
//   - record: a TLS or DTLS record, in the clear or protected;
//   - handshakeBytes, handshakeMessage (handshake.go): handshake bytes in
//     the clear (TLS records, QUIC CRYPTO frames), or a whole message (DTLS
//     fragments put together);
//   - sealedHandshake, sealedData, handshakeDone, earlyData: protected
//     records whose place the transport knows (QUIC packet types, DTLS 1.3
//     records);
//   - helloFrames, stop, issue, issueOnce, clientIs, message: what the
//     transport saw of the hello's framing, the end of a side's frames,
//     problems, the client's identity, and a message it only lists (a DTLS
//     retransmission).
//
// No adapter touches the connection's messages or another side's state.
// Decryption plugs in at protected: with a record's keys, it opens the
// record and passes the plaintext to handshakeBytes, or reads the alert,
// instead of inferring what the record held from its size.

// sealedRecord is a side's last protected record known to hold handshake
// messages.
type sealedRecord struct {
	seen bool
	msg  int // its message index, -1 past maxMessages
	time time.Time
}

// record handles one TLS or DTLS record from side. r.Body is valid only
// during the call.
func (c *Conn) record(side int, r Record) {
	if !c.tls {
		c.headless[side]++
		c.headlessVersion = r.Version
	}
	c.keysCame()
	if c.hold(side, r) {
		return
	}
	c.unit(func() {
		h := &c.sides[side]
		switch r.Type {
		case recordSSLv2:
			if len(r.Body) == 0 {
				c.issue(r.Time, side, IssueMemoryBudget, fmt.Sprintf("an SSL 2.0 ClientHello of %d bytes dropped to stay within the memory budget", r.Length))
				return
			}
			c.clientHello(side, r.Time, r.Body[1:], true)
		case recordChangeCipherSpec:
			c.message(r.Time, side, MsgChangeCipherSpec, r.Length, false)
			// RFC 5246, section 7.1: records after ChangeCipherSpec are protected.
			// In TLS 1.3 it is a compatibility no-op (RFC 8446, appendix D.4),
			// sent even before the ServerHello when a HelloRetryRequest came first.
			if c.c.ServerHello != nil && !c.c.TLS13() {
				if c.role(side) == FromServer && !h.fullHS && !h.encrypted {
					c.abbreviated(r.Time, side) // once: a storm of ChangeCipherSpecs is not read again
				}
				if !h.encrypted {
					c.startDecryption12(side)
				} else {
					c.renegotiationKeys(side)
				}
				h.encrypted = true
			} else if c.c.ServerHello == nil && !h.encrypted {
				// The other direction is not (yet) in the capture: this
				// side's records are protected from here all the same,
				// unless it is TLS 1.3's compatibility ChangeCipherSpec
				// after a HelloRetryRequest, before the client's second
				// ClientHello or the server's ServerHello (below).
				h.encrypted, h.unsure = true, true
			}
		case recordAlert:
			if len(r.Body) == 2 && !h.encrypted {
				c.alert(side, r.Time, r.Length, r.Body)
			} else {
				c.protected(side, r)
			}
		case recordHandshake:
			switch {
			case r.Cut:
				c.issue(r.Time, side, IssueMemoryBudget, fmt.Sprintf("a handshake record of %d bytes dropped to stay within the memory budget", r.Length))
				c.dropHS(side) // the next record is read as starting a message
				h.skip = 0
			case h.unsure && isWholeHello(r.Body):
				h.encrypted, h.unsure = false, false
				c.handshakeBytes(side, r.Time, r.Body)
			case r.Body == nil || h.encrypted:
				h.unsure = false
				c.protected(side, r)
			default:
				c.handshakeBytes(side, r.Time, r.Body)
			}
		case recordApplicationData:
			c.protected(side, r)
		case recordHeartbeat:
			c.message(r.Time, side, MsgHeartbeat, r.Length, h.encrypted)
		}
	})
}

// protected handles a protected record: an alert or a handshake record
// sent after ChangeCipherSpec, or an application_data record, which in TLS
// 1.3 carries the handshake after the ServerHello. With keys (decrypt.go)
// a TLS 1.3 record is opened and what it holds read; without, what it held
// is inferred from its type, size and place.
func (c *Conn) protected(side int, r Record) {
	h := &c.sides[side]
	if r.Body != nil && c.decrypting(side) && c.decrypt(side, r) {
		return
	}
	if r.Type == recordApplicationData && c.dec != nil {
		ds := &c.dec.sides[side]
		if !c.c.TLS13() {
			// TLS 1.2: application data is counted, not opened; the keys
			// stay for the alerts and renegotiation after it.
			if k, ok := ds.keys.(*recordKeys12); !ok || !k.skip() {
				ds.keys = nil
			}
		} else if ds.done {
			c.message(r.Time, side, MsgApplicationData, r.Length, true) // after the handshake records opened
			return
		}
	}
	switch r.Type {
	case recordAlert:
		h.alerted = true
		c.message(r.Time, side, MsgAlert, r.Length, true)
	case recordHandshake:
		// TLS 1.2 and earlier: a side's first handshake record after its
		// ChangeCipherSpec is its Finished.
		if h.finished {
			c.message(r.Time, side, MsgEncryptedHandshake, r.Length, true)
			return
		}
		c.message(r.Time, side, MsgFinished, r.Length, true)
		c.setFinished(side, r.Time)
	case recordApplicationData:
		if c.c.TLS13() || (c.c.ServerHello == nil && c.c.ClientHello != nil && c.c.ClientHello.EarlyData) {
			c.applicationData13(side, r) // tls13.go
			return
		}
		c.message(r.Time, side, MsgApplicationData, r.Length, true)
	}
}

// alert records an alert read from side: a level and a description, or
// anything else (listed as an Alert that could not be read).
func (c *Conn) alert(side int, ts time.Time, length int, body []byte) {
	c.sides[side].alerted = true
	if len(body) != 2 {
		c.message(ts, side, MsgAlert, length, true)
		return
	}
	i := c.message(ts, side, MsgAlert, length, false)
	if r := c.renegotiating(); r != nil && body[1] == alertNoRenegotiation {
		r.Refused = true
	}
	if len(c.c.Alerts) < maxMessages { // a storm of alerts is counted in MessagesDropped
		c.c.Alerts = append(c.c.Alerts, Alert{Time: ts, From: c.role(side), Level: body[0], Description: body[1],
			Decrypted: c.opened, msg: i})
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
func (c *Conn) abbreviated(ts time.Time, server int) {
	ch, sh := c.c.ClientHello, c.c.ServerHello
	for _, m := range c.c.Messages {
		if m.From == FromClient && (m.Type == MsgClientKeyExchange || m.Type == MsgChangeCipherSpec) {
			return // the client's keys came first: a full handshake
		}
	}
	echo := ch != nil && len(ch.SessionID) > 0 && bytes.Equal(ch.SessionID, sh.SessionID)
	ticket := ch != nil && ch.SessionTicketLen > 0
	if echo || ticket || !c.sides[server].lost {
		c.c.Resumed = true
		return
	}
	c.issue(ts, server, IssueUndecided, "resumed: the server's flight lost bytes that could hold its Certificate, "+
		"and neither a session id echo nor a ticket shows a resumption")
}

// earlyData lists a record of 0-RTT data of n bytes from side.
func (c *Conn) earlyData(side int, ts time.Time, n int) {
	if c.role(side) == FromClient {
		c.c.EarlyData.Records++
	}
	c.message(ts, side, MsgApplicationData, n, true)
}

// sealedHandshake lists a protected record of n bytes that the transport
// knows carries handshake messages: a QUIC Handshake packet, a DTLS 1.3
// record before the handshake is done.
func (c *Conn) sealedHandshake(side int, ts time.Time, n int) {
	c.sealed[c.role(side)] = sealedRecord{seen: true, msg: c.message(ts, side, MsgEncryptedHandshake, n, true), time: ts}
}

// sealedSeen reports whether d sent a sealed handshake record.
func (c *Conn) sealedSeen(d Direction) bool { return c.sealed[d].seen }

// handshakeDone says the transport knows that both handshakes are over:
// each side's last sealed handshake record carried its Finished.
func (c *Conn) handshakeDone() {
	for _, d := range []Direction{FromServer, FromClient} {
		s := c.sealed[d]
		if s.msg >= 0 {
			c.c.Messages[s.msg].Type = MsgFinished
		}
		c.setFinished(c.sideOf(d), s.time)
	}
}

// sealedData lists a protected record of n bytes of application data that
// the transport knows comes after the handshake.
func (c *Conn) sealedData(side int, ts time.Time, n int) {
	c.unit(func() { c.message(ts, side, MsgApplicationData, n, true) })
}

// helloFrames says the client's first ClientHello took n frames of its
// transport (TCP segments, QUIC Initial packets); the first count given
// once the hello is read is kept.
func (c *Conn) helloFrames(side, n int) {
	if ch := c.c.ClientHello; ch != nil && ch.Segments == 0 && c.sides[side].helloSeen && c.role(side) == FromClient {
		ch.Segments = n
	}
}

// stop says side sends nothing more the adapter can frame: err is
// ErrNotTLS when its bytes are not TLS (news only once TLS was seen), or
// what broke its records after they started.
func (c *Conn) stop(side int, ts time.Time, err error) {
	h := &c.sides[side]
	h.dead = true
	switch {
	case !errors.Is(err, ErrNotTLS):
		h.broken, h.brokenAt = true, len(c.c.Messages)
		c.issue(ts, side, IssueMalformedRecord, err.Error())
	case c.tls:
		c.issue(ts, side, IssueNotTLS, "the stream does not carry TLS records")
	}
}

// isWholeHello reports whether a record holds exactly one ClientHello or
// ServerHello, as TLS 1.3 sends them, which a protected record does by
// chance with odds of one in 2^31.
func isWholeHello(b []byte) bool {
	return len(b) >= 4 && (MessageType(b[0]) == MsgClientHello || MessageType(b[0]) == MsgServerHello) && messageLen(b) == len(b)
}
