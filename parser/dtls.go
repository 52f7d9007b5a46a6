package parser

import (
	"fmt"
	"time"
)

// dtls is the adapter of DTLS (RFC 6347, RFC 9147) over UDP: each datagram
// holds records (dtlswire.go); handshake fragments of epoch 0 are put back
// together into messages for the core, other records go to it whole, and
// DTLS 1.3 protected records are placed by their order.
type dtls struct {
	unframed
	c     *Conn
	sides [2]dtlsMessages
}

func (d *dtls) data(side int, data []byte, ts time.Time) bool {
	c := d.c
	h := &c.sides[side]
	for len(data) > 0 && !c.emitted && !h.dead {
		if isDTLS13Unified(data) {
			// Its connection ID and length may be absent; the rest of the
			// datagram is taken as this record.
			d.protected13(side, ts, len(data))
			return !c.emitted
		}
		r, rest, err := readDTLSRecord(data)
		if err != nil {
			c.issue(ts, side, IssueMalformedRecord, err.Error())
			return !c.emitted
		}
		data = rest
		rec := Record{Type: r.typ, Version: r.version, Length: len(r.body), Time: ts, Seq: r.seq}
		if r.epoch == 0 || c.wantBody(side, r.typ) { // protected, but to be opened with keys
			rec.Body = r.body
		}
		switch {
		case r.typ == recordHandshake && r.epoch == 0:
			d.handshake(side, r.body, ts)
		case r.typ == recordHandshake || r.typ == recordChangeCipherSpec || r.typ == recordAlert || r.typ == recordApplicationData:
			c.record(side, rec)
		}
	}
	return !c.emitted && !h.dead
}

// handshake reassembles the handshake fragments of one record and hands
// each message, in message_seq order and once, to the core.
func (d *dtls) handshake(side int, b []byte, ts time.Time) {
	c := d.c
	msgs := &d.sides[side]
	for len(b) >= dtlsHandshakeLen {
		f, rest, ok := readDTLSFragment(b)
		if !ok {
			c.issue(ts, side, IssueMalformedMessage, "a DTLS handshake fragment out of its bounds")
			return
		}
		b = rest
		if !msgs.started {
			msgs.started = true
			if c.c.ClientHello == nil && (f.typ == MsgServerHello || c.c.ServerHello != nil) {
				// The capture started after the ClientHello: the server is
				// read from its ServerHello, the client from its first
				// message after it, whatever their message_seq.
				msgs.next = f.seq
			}
		}
		switch msgs.add(f, ts, c.mem) {
		case fragmentRetransmitted:
			// A retransmitted flight: listed, as Zeek does, not decoded again.
			if f.off == 0 && len(f.data) == f.length {
				c.message(ts, side, f.typ, f.length, false)
			}
			continue
		case fragmentIgnored:
			continue
		case fragmentRefused:
			c.issue(ts, side, IssueMemoryBudget, "a DTLS handshake fragment dropped to stay within the memory budget")
			continue
		case messageRefused:
			c.issue(ts, side, IssueMemoryBudget, fmt.Sprintf("a DTLS %s message of %d bytes dropped to stay within the memory budget",
				f.typ, f.length))
			continue
		}
		msgs.deliver(c.mem, func(typ MessageType, body []byte) { c.handshakeMessage(side, ts, typ, body) })
	}
}

// protected13 places a DTLS 1.3 protected record. The client's first one
// after the server's protected flight carries its Finished: the handshake
// is done, as Zeek also concludes.
func (d *dtls) protected13(side int, ts time.Time, n int) {
	c := d.c
	if c.c.Established {
		c.sealedData(side, ts, n)
		return
	}
	c.sealedHandshake(side, ts, n)
	if c.role(side) == FromClient && c.sealedSeen(FromServer) && c.c.ServerHello != nil {
		c.handshakeDone()
	}
}

func (d *dtls) shed(side int) int { return d.sides[side].clear(d.c.mem) }

// openedHandshake reads handshake fragments opened with keys.
func (d *dtls) openedHandshake(side int, ts time.Time, b []byte) {
	d.c.opened = true
	d.handshake(side, b, ts)
	d.c.opened = false
}
