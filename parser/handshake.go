package parser

import (
	"fmt"
	"time"
)

// The core's handshake messages: bytes gathered across records (or CRYPTO
// frames) and cut at their 4-byte headers, each message decoded and its
// facts put on the connection.

// messageLen is the length of the handshake message whose header starts b.
func messageLen(b []byte) int { return 4 + (int(b[1])<<16 | int(b[2])<<8 | int(b[3])) }

// dropHS drops the handshake bytes of side's incomplete message.
func (c *Conn) dropHS(side int) {
	h := &c.sides[side]
	c.mem.Release(cap(h.hs))
	h.hs = nil
}

// handshakeBytes takes handshake bytes in the clear from side and cuts
// messages: a 1-byte type and a 3-byte length (RFC 8446, section 4). Whole
// messages within b are read in place; only a message cut across records
// is copied, each byte once, so that a message sent in records of one byte
// costs time linear in its length. b is not retained.
func (c *Conn) handshakeBytes(side int, ts time.Time, b []byte) {
	h := &c.sides[side]
	h.resync = false
	for len(b) > 0 && !h.dead && !c.emitted && !h.resync {
		if h.skip > 0 {
			n := min(h.skip, len(b))
			h.skip -= n
			b = b[n:]
			continue
		}
		if len(h.hs) == 0 {
			b = c.cutMessages(side, ts, b) // the common case: no copy
			if len(b) == 0 || h.dead || c.emitted {
				return
			}
		}
		// Complete the header, then the message, from b.
		want := 4
		if len(h.hs) >= 4 {
			want = messageLen(h.hs)
		}
		n := min(want-len(h.hs), len(b))
		if !c.keep(side, ts, b[:n]) {
			return
		}
		b = b[n:]
		if len(h.hs) == 4 || len(h.hs) == want {
			// A header just completed (the limit is checked there) or a
			// whole message: cutMessages reads it, or keeps it whole.
			if rest := c.cutMessages(side, ts, h.hs); len(rest) == 0 {
				c.dropHS(side)
			}
		}
	}
}

// keep appends b to side's incomplete message, charging the memory budget
// for what the buffer grows by. When the budget refuses, the message is
// dropped (its remaining bytes skipped when its length is known) and the
// connection says so.
func (c *Conn) keep(side int, ts time.Time, b []byte) bool {
	h := &c.sides[side]
	h.copied += len(b)
	if len(h.hs)+len(b) <= cap(h.hs) {
		h.hs = append(h.hs, b...)
		return true
	}
	grown := append(h.hs[:len(h.hs):len(h.hs)], b...)
	if c.mem.Charge(cap(grown) - cap(h.hs)) {
		h.hs = grown
		return true
	}
	c.issue(ts, side, IssueMemoryBudget, fmt.Sprintf("%d bytes of a handshake message dropped to stay within the memory budget", len(grown)))
	if len(grown) >= 4 {
		h.skip = messageLen(grown) - len(grown)
	} else {
		h.dead = true // no length to skip by
	}
	c.dropHS(side)
	return false
}

// cutMessages handles every complete message in b and returns the rest.
func (c *Conn) cutMessages(side int, ts time.Time, b []byte) []byte {
	h := &c.sides[side]
	for len(b) >= 4 && !h.dead && !c.emitted {
		n := messageLen(b) - 4
		if n > maxHandshakeBuffer {
			c.issue(ts, side, IssueMalformedMessage,
				fmt.Sprintf("%s message of %d bytes exceeds the %d-byte limit", MessageType(b[0]), n, maxHandshakeBuffer))
			if c.c.Transport == TCP {
				// The record layer is intact: the side's messages are
				// read again from its next handshake record.
				h.resync = true
			} else {
				h.dead = true // a QUIC crypto stream has no boundary to start again from
			}
			return nil
		}
		if len(b) < 4+n {
			break
		}
		c.handshakeMessage(side, ts, MessageType(b[0]), b[4:4+n])
		b = b[4+n:]
	}
	return b
}

// handshakeMessage handles one complete handshake message read in the
// clear; body is not retained.
func (c *Conn) handshakeMessage(side int, ts time.Time, typ MessageType, body []byte) {
	h := &c.sides[side]
	cc := c.c
	c.transcribe(typ, body)
	malformed := func() {
		c.issue(ts, side, IssueMalformedMessage, fmt.Sprintf("malformed %s of %d bytes", typ, len(body)))
	}
	switch typ {
	case MsgClientHello:
		c.clientHello(side, ts, body, false)
		return
	case MsgServerHello:
		c.serverHello(side, ts, body)
		return
	case MsgCertificate, MsgCompressedCertificate:
		c.certificate(side, ts, typ, body)
		h.fullHS = true
	case MsgServerKeyExchange:
		m, ok := decodeServerKeyExchange(body, cc.CipherSuite)
		switch {
		case !ok:
			malformed()
		case c.renegotiating() != nil: // the first handshake's group stands
		default:
			cc.ServerKeyExchange = m
			if m.HasGroup {
				cc.Group, cc.HasGroup = m.Group, true
			}
		}
		h.fullHS = true
	case MsgServerHelloDone:
		h.fullHS = true // also marks the server's flight as sent
	case MsgHelloVerifyRequest:
		c.helloVerify = true // the client answers with its ClientHello again
	case MsgCertificateRequest:
		if m, ok := decodeCertificateRequest(body, cc.Version); ok {
			cc.CertificateRequest = m
		} else {
			malformed()
		}
	case MsgCertificateStatus:
		if m, ok := decodeCertificateStatus(body); ok {
			cc.CertificateStatus = m
		} else {
			malformed()
		}
	case MsgNewSessionTicket:
		if m, ok := decodeNewSessionTicket(body, cc.TLS13()); ok {
			cc.SessionTickets = append(cc.SessionTickets, *m)
		} else {
			malformed()
		}
	case MsgEncryptedExtensions:
		if m, ok := decodeEncryptedExtensions(body); ok && cc.EncryptedExtensions == nil {
			cc.EncryptedExtensions = m
			cc.EarlyData.Accepted = m.EarlyData
		} else if !ok {
			malformed()
		}
		h.fullHS = true
	case MsgHelloRequest:
		c.renegotiation(side, ts, typ)
	case MsgKeyUpdate:
		if c.opened {
			c.keyUpdate(side) // its next records are protected with the next secret
		}
	case MsgFinished:
		c.message(ts, side, MsgFinished, len(body), false)
		if r := c.renegotiating(); r != nil {
			r.finished[side] = true
			r.Established = r.finished[0] && r.finished[1]
			return
		}
		c.setFinished(side, ts)
		if c.opened {
			c.nextKeys(side)
		}
		return
	}
	c.message(ts, side, typ, len(body), false)
}

// certificate reads a Certificate, or a CompressedCertificate (RFC 8879)
// holding one, and keeps each side's first chain.
func (c *Conn) certificate(side int, ts time.Time, typ MessageType, body []byte) {
	cc := c.c
	n := len(body)
	if typ == MsgCompressedCertificate {
		plain, algorithm, ok := decompressCertificate(body)
		switch {
		case !ok:
			c.issue(ts, side, IssueMalformedMessage, fmt.Sprintf("malformed %s of %d bytes", typ, n))
			return
		case plain == nil:
			c.issue(ts, side, IssueUndecided, fmt.Sprintf("certificates: compressed with algorithm %d, not read here", algorithm))
			return
		case !c.mem.Charge(len(plain)):
			c.issue(ts, side, IssueMemoryBudget, fmt.Sprintf("a %s of %d bytes dropped to stay within the memory budget", typ, len(plain)))
			return
		}
		defer c.mem.Release(len(plain)) // the chain decoded from it is charged apart
		body = plain
	}
	chain, ok := decodeCertificate(body, cc.TLS13(), c.validator)
	switch {
	case !ok:
		c.issue(ts, side, IssueMalformedMessage, fmt.Sprintf("malformed %s of %d bytes", typ, n))
	case c.role(side) == FromServer && cc.Certificates == nil:
		cc.Certificates = chain
		c.mem.Fixed(chainCost(chain)) // kept until decided; too many such flows evict the oldest
	case c.role(side) == FromClient && cc.ClientCertificates == nil:
		cc.ClientCertificates = chain
		c.mem.Fixed(chainCost(chain))
	}
}

// clientIs makes side the client, with its address.
func (c *Conn) clientIs(side int) {
	if side != c.client {
		c.client = side
		c.c.Client, c.c.Server = c.c.Server, c.c.Client
		c.c.Flipped = side != 0
	}
}

// clientHello decodes a ClientHello (or an SSL 2.0 one) from side.
func (c *Conn) clientHello(side int, ts time.Time, body []byte, sslv2 bool) {
	if !c.sides[c.client].helloSeen {
		c.clientIs(side) // the side that sends the ClientHello is the client
	}
	c.hello(side, ts)
	var m *ClientHello
	var ok bool
	if sslv2 {
		m, ok = decodeSSLv2ClientHello(body)
	} else {
		m, ok = decodeClientHello(body)
	}
	i := c.message(ts, side, MsgClientHello, len(body), false)
	if !ok {
		c.issue(ts, side, IssueMalformedMessage, fmt.Sprintf("malformed ClientHello of %d bytes", len(body)))
		return
	}
	m.keep()
	if r := c.renegotiation(side, ts, MsgClientHello); r != nil {
		r.clientHello, r.helloMsg = m, i
		c.mem.Fixed(len(body)) // kept until decided, as the first hello is within connCost
	} else if c.c.ClientHello == nil {
		if c.validator != nil {
			// Its Judge makes them, on another core than this
			// (pipeline.Run): they were a twentieth of the worker's time.
			m.unprinted = c.ja4
		} else {
			m.fingerprint(c.ja4)
		}
		c.c.EarlyData.Offered = m.EarlyData
		c.c.ClientHello = m
		c.c.ClientHelloTime = ts
	} else if (c.c.HelloRetryRequest != nil || c.helloVerify) && c.c.RetryClientHello == nil {
		c.c.RetryClientHello = m
		c.c.SecondClientHelloTime = ts
	}
}

// hello marks side as TLS on its first hello, noting any bytes that came
// before TLS started.
func (c *Conn) hello(side int, ts time.Time) {
	h := &c.sides[side]
	c.tls = true
	if h.helloSeen {
		return
	}
	h.helloSeen = true
	if n := c.tr.preamble(side); n > 0 {
		c.issue(ts, side, IssuePreamble, fmt.Sprintf("%d bytes before the first TLS record (a proxy or STARTTLS exchange)", n))
	}
}

// serverHello decodes a ServerHello or HelloRetryRequest from side.
func (c *Conn) serverHello(side int, ts time.Time, body []byte) {
	cc := c.c
	if cc.ClientHello == nil && !c.sides[1-side].helloSeen {
		c.clientIs(1 - side) // no ClientHello captured: the other side is the client
	}
	c.hello(side, ts)
	m, ok := decodeServerHello(body)
	if !ok {
		c.message(ts, side, MsgServerHello, len(body), false)
		c.issue(ts, side, IssueMalformedMessage, fmt.Sprintf("malformed ServerHello of %d bytes", len(body)))
		return
	}
	m.keep()
	m.ja3s()
	if m.HelloRetry {
		c.message(ts, side, MsgHelloRetryRequest, len(body), false)
		cc.HelloRetryRequest = m
		return
	}
	c.message(ts, side, MsgServerHello, len(body), false)
	if cc.ServerHello != nil {
		if r := c.renegotiating(); r != nil && r.serverHello == nil {
			r.serverHello, r.Version, r.CipherSuite = m, m.Negotiated(), m.CipherSuite
			c.mem.Fixed(len(body))
		}
		return // the first handshake's parameters stand
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
		c.sides[side].encrypted = true // RFC 8446, section 2: everything after ServerHello is encrypted
	}
}

// setFinished marks side's Finished as sent at ts; once both are, the
// handshake is established (and decided by unit).
func (c *Conn) setFinished(side int, ts time.Time) {
	c.sides[side].finished = true
	if c.role(side) == FromClient {
		c.c.ClientFinishedTime = ts
	} else {
		c.c.ServerFinishedTime = ts
	}
	if c.sides[0].finished && c.sides[1].finished {
		c.c.Established = true
	}
}
