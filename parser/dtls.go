package parser

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/tlssniff/tlssniff/reorder"
)

// DTLS (RFC 6347, RFC 9147) carries TLS records in datagrams: each record
// has an epoch and a sequence number, and handshake messages are cut into
// fragments that carry their message sequence number and offset, and may
// be retransmitted, reordered or lost.

const (
	dtlsHeaderLen     = 13 // type, version, epoch, sequence number, length
	dtlsHandshakeLen  = 12 // type, length, message_seq, fragment_offset, fragment_length
	maxDTLSMessageLen = 1 << 16
	maxDTLSPending    = 16 // messages held ahead of the next expected
)

// dtlsMessage is a handshake message being reassembled from fragments:
// nothing is sized from the length its fragments claim.
type dtlsMessage struct {
	typ    uint8
	length int
	asm    reorder.Assembly
}

// dtlsMessageCost is what a message in reassembly costs besides its bytes:
// the struct and its map entry.
const dtlsMessageCost = 256

// drop frees the message and returns the bytes it held.
func (m *dtlsMessage) drop(c *Conn) int {
	c.mem.Release(dtlsMessageCost)
	return m.asm.Clear()
}

// dtlsSide is one side's handshake message reassembly.
type dtlsSide struct {
	next    uint16 // message_seq expected next
	pending map[uint16]*dtlsMessage
}

// dtlsState is a Conn's DTLS state.
type dtlsState struct {
	sides     [2]dtlsSide
	encrypted [2]int // DTLS 1.3 protected records seen per role after the ServerHello
	lastSrv   time.Time
}

// isDTLSRecord reports whether a datagram starts with a DTLS record: a
// known content type and a DTLS version, or a DTLS 1.3 unified header.
func isDTLSRecord(b []byte) bool {
	if len(b) >= dtlsHeaderLen && b[0] >= recordChangeCipherSpec && b[0] <= 26 && b[1] == 0xfe {
		return true
	}
	return false
}

// isSTUN reports whether a datagram is a STUN message (RFC 8489), which
// WebRTC interleaves with DTLS on the same 5-tuple.
func isSTUN(b []byte) bool {
	return len(b) >= 20 && b[0]&0xc0 == 0 && binary.BigEndian.Uint32(b[4:8]) == 0x2112A442
}

// dtlsDatagram handles the records of one datagram.
func (c *Conn) dtlsDatagram(side int, data []byte, ts time.Time) bool {
	h := &c.halves[side]
	for len(data) > 0 && !c.emitted && !h.dead {
		if data[0]&0xe0 == 0x20 {
			// A DTLS 1.3 unified header (RFC 9147, section 4): protected.
			// Its connection ID and length may be absent; the rest of the
			// datagram is taken as this record.
			c.dtls13Protected(side, ts, len(data))
			return !c.emitted
		}
		if len(data) < dtlsHeaderLen {
			c.issue(ts, side, "malformed_record", "a DTLS record header cut short")
			return !c.emitted
		}
		typ, version, epoch := data[0], binary.BigEndian.Uint16(data[1:3]), binary.BigEndian.Uint16(data[3:5])
		n := int(binary.BigEndian.Uint16(data[11:13]))
		if len(data) < dtlsHeaderLen+n {
			c.issue(ts, side, "malformed_record", "a DTLS record longer than its datagram")
			return !c.emitted
		}
		body := data[dtlsHeaderLen : dtlsHeaderLen+n]
		data = data[dtlsHeaderLen+n:]
		r := Record{Type: typ, Version: version, Length: n, Time: ts}
		if epoch == 0 {
			r.Body = body
		}
		switch {
		case typ == recordHandshake && epoch == 0:
			c.dtlsHandshake(side, body, ts)
		case typ == recordHandshake || typ == recordChangeCipherSpec || typ == recordAlert || typ == recordApplicationData:
			h.Record(r)
		}
	}
	return !c.emitted && !h.dead
}

// dtlsHandshake reassembles the handshake fragments of one record and
// hands each message, in message_seq order and once, to the decoders.
func (c *Conn) dtlsHandshake(side int, b []byte, ts time.Time) {
	st := &c.d.sides[side]
	for len(b) >= dtlsHandshakeLen {
		typ := b[0]
		length := int(b[1])<<16 | int(b[2])<<8 | int(b[3])
		seq := binary.BigEndian.Uint16(b[4:6])
		off := int(b[6])<<16 | int(b[7])<<8 | int(b[8])
		n := int(b[9])<<16 | int(b[10])<<8 | int(b[11])
		if len(b) < dtlsHandshakeLen+n || off+n > length || length > maxDTLSMessageLen {
			c.issue(ts, side, "malformed_message", "a DTLS handshake fragment out of its bounds")
			return
		}
		frag := b[dtlsHandshakeLen : dtlsHandshakeLen+n]
		b = b[dtlsHandshakeLen+n:]
		if seq < st.next {
			// A retransmitted flight: listed, as Zeek does, not decoded again.
			if off == 0 && n == length {
				c.message(ts, side, handshakeTypeName(typ), length, false)
			}
			continue
		}
		if int(seq-st.next) >= maxDTLSPending {
			continue // too far ahead to hold
		}
		if st.pending == nil {
			st.pending = map[uint16]*dtlsMessage{}
		}
		m := st.pending[seq]
		if m == nil {
			if !c.mem.Charge(dtlsMessageCost) {
				c.issue(ts, side, "memory_budget", "a DTLS handshake fragment dropped to stay within the memory budget")
				continue
			}
			m = &dtlsMessage{typ: typ, length: length, asm: reorder.Assembly{Account: c.mem, Limit: 2 * maxDTLSMessageLen}}
			st.pending[seq] = m
		}
		if m.length != length {
			continue // fragments that disagree on the length: keep the first
		}
		if !m.asm.Add(off, frag, ts, m.length) {
			c.issue(ts, side, "memory_budget", fmt.Sprintf("a DTLS %s message of %d bytes dropped to stay within the memory budget",
				handshakeTypeName(typ), length))
			m.drop(c)
			delete(st.pending, seq)
			continue
		}
		// Deliver what is complete, in order.
		for {
			m := st.pending[st.next]
			if m == nil || len(m.asm.Bytes()) < m.length {
				break
			}
			delete(st.pending, st.next)
			st.next++
			c.halves[side].handshake(ts, m.typ, m.asm.Bytes())
			m.drop(c)
		}
	}
}

// shedDatagrams frees what side holds of DTLS messages in reassembly and
// QUIC CRYPTO frames out of order, and returns how many bytes that was.
func (c *Conn) shedDatagrams(side int) int {
	n, _ := c.q.crypto[side].held.Clear()
	st := &c.d.sides[side]
	for seq, m := range st.pending {
		n += m.drop(c)
		delete(st.pending, seq)
	}
	return n
}

// dtls13Protected counts a DTLS 1.3 protected record. The client's first
// one after the server's protected flight carries its Finished: the
// handshake is done, as Zeek also concludes.
func (c *Conn) dtls13Protected(side int, ts time.Time, n int) {
	from := c.role(side)
	d := &c.d
	if c.c.Established {
		c.postRecords++
		c.message(ts, side, "ApplicationData", n, true)
		c.settle()
		return
	}
	i := c.message(ts, side, "EncryptedHandshake", n, true)
	d.encrypted[from]++
	if from == FromServer {
		d.lastSrv = ts
		return
	}
	if d.encrypted[FromServer] > 0 && c.c.ServerHello != nil {
		if i >= 0 {
			c.c.Messages[i].Type = "Finished"
		}
		c.halves[c.sideOf(FromServer)].setFinished(d.lastSrv)
		c.halves[side].setFinished(ts)
	}
}
