package parser

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/tlssniff/tlssniff/budget"
	"github.com/tlssniff/tlssniff/reorder"
)

// DTLS wire code (RFC 6347, RFC 9147): record headers, and handshake
// messages put back together from fragments that carry their message
// sequence number and offset, and may be retransmitted, reordered or lost.
// dtls.go feeds what it reads to the core.

const (
	dtlsHeaderLen     = 13 // type, version, epoch, sequence number, length
	dtlsHandshakeLen  = 12 // type, length, message_seq, fragment_offset, fragment_length
	maxDTLSMessageLen = 1 << 16
	maxDTLSPending    = 16 // messages held ahead of the next expected
)

// dtlsRecord is a DTLS record with an epoch and a sequence number.
type dtlsRecord struct {
	typ     uint8
	version uint16
	epoch   uint16
	seq     uint64 // the epoch and the sequence number, as a record's nonce and MAC take them
	body    []byte
}

var (
	errDTLSHeader = errors.New("a DTLS record header cut short")
	errDTLSLength = errors.New("a DTLS record longer than its datagram")
)

// readDTLSRecord reads the record at the start of a datagram's bytes and
// returns the rest.
func readDTLSRecord(b []byte) (dtlsRecord, []byte, error) {
	if len(b) < dtlsHeaderLen {
		return dtlsRecord{}, nil, errDTLSHeader
	}
	r := dtlsRecord{typ: b[0], version: binary.BigEndian.Uint16(b[1:3]), epoch: binary.BigEndian.Uint16(b[3:5]),
		seq: binary.BigEndian.Uint64(b[3:11])}
	n := int(binary.BigEndian.Uint16(b[11:13]))
	if len(b) < dtlsHeaderLen+n {
		return dtlsRecord{}, nil, errDTLSLength
	}
	r.body = b[dtlsHeaderLen : dtlsHeaderLen+n]
	return r, b[dtlsHeaderLen+n:], nil
}

// isDTLSRecord reports whether a datagram starts with a DTLS record: a
// known content type and a DTLS version.
func isDTLSRecord(b []byte) bool {
	return len(b) >= dtlsHeaderLen && b[0] >= recordChangeCipherSpec && b[0] <= 26 && isDTLSVersion(binary.BigEndian.Uint16(b[1:]))
}

// versionDTLSBad is DTLS as OpenSSL spoke it before RFC 4347 was final
// (DTLS1_BAD_VER), which Cisco AnyConnect and OpenConnect VPN clients
// still send.
const versionDTLSBad = 0x0100

// isDTLSVersion reports whether v is a DTLS version.
func isDTLSVersion(v uint16) bool { return v>>8 == 0xfe || v == versionDTLSBad }

// isDTLS13Unified reports whether a record starts with a DTLS 1.3 unified
// header (RFC 9147, section 4): a protected record.
func isDTLS13Unified(b []byte) bool { return b[0]&0xe0 == 0x20 }

// isSTUN reports whether a datagram is a STUN message (RFC 8489), which
// WebRTC interleaves with DTLS on the same 5-tuple.
func isSTUN(b []byte) bool {
	return len(b) >= 20 && b[0]&0xc0 == 0 && binary.BigEndian.Uint32(b[4:8]) == 0x2112A442
}

// dtlsFragment is one fragment of a handshake message.
type dtlsFragment struct {
	typ    MessageType
	length int // of the whole message
	seq    uint16
	off    int
	data   []byte
}

// readDTLSFragment reads the fragment at the start of a handshake record's
// body and returns the rest; ok is false when it is out of its bounds.
func readDTLSFragment(b []byte) (f dtlsFragment, rest []byte, ok bool) {
	f = dtlsFragment{typ: MessageType(b[0]), length: int(b[1])<<16 | int(b[2])<<8 | int(b[3]),
		seq: binary.BigEndian.Uint16(b[4:6]), off: int(b[6])<<16 | int(b[7])<<8 | int(b[8])}
	n := int(b[9])<<16 | int(b[10])<<8 | int(b[11])
	if len(b) < dtlsHandshakeLen+n || f.off+n > f.length || f.length > maxDTLSMessageLen {
		return f, nil, false
	}
	f.data = b[dtlsHandshakeLen : dtlsHandshakeLen+n]
	return f, b[dtlsHandshakeLen+n:], true
}

// dtlsMessage is a handshake message being reassembled from fragments:
// nothing is sized from the length its fragments claim.
type dtlsMessage struct {
	typ    MessageType
	length int
	asm    reorder.Assembly
}

// dtlsMessageCost is what a message in reassembly costs besides its bytes:
// the struct and its map entry.
const dtlsMessageCost = 256

// dtlsMessages puts one side's handshake messages back together, in
// message_seq order, each once.
type dtlsMessages struct {
	next    uint16 // message_seq expected next
	pending map[uint16]*dtlsMessage
	started bool // a fragment came
}

// What add did with a fragment.
const (
	fragmentHeld          = iota
	fragmentRetransmitted // of a message already delivered
	fragmentIgnored       // too far ahead, or disagreeing on the length
	fragmentRefused       // the budget refused to hold a new message
	messageRefused        // the budget refused the message's bytes: it is dropped
)

// add holds a fragment captured at ts, charging mem.
func (s *dtlsMessages) add(f dtlsFragment, ts time.Time, mem *budget.Account) int {
	if f.seq < s.next {
		return fragmentRetransmitted
	}
	if int(f.seq-s.next) >= maxDTLSPending {
		return fragmentIgnored
	}
	if s.pending == nil {
		s.pending = map[uint16]*dtlsMessage{}
	}
	m := s.pending[f.seq]
	if m == nil {
		if !mem.Charge(dtlsMessageCost) {
			return fragmentRefused
		}
		m = &dtlsMessage{typ: f.typ, length: f.length, asm: reorder.Assembly{Account: mem, Limit: 2 * maxDTLSMessageLen}}
		s.pending[f.seq] = m
	}
	if m.length != f.length {
		return fragmentIgnored // fragments that disagree on the length: keep the first
	}
	if !m.asm.Add(f.off, f.data, ts, m.length) {
		s.drop(f.seq, mem)
		return messageRefused
	}
	return fragmentHeld
}

// deliver passes each message now complete, in order, to handle; body is
// valid during the call.
func (s *dtlsMessages) deliver(mem *budget.Account, handle func(typ MessageType, body []byte)) {
	for {
		m := s.pending[s.next]
		if m == nil || len(m.asm.Bytes()) < m.length {
			return
		}
		delete(s.pending, s.next) // out before handle, which may clear the rest
		s.next++
		handle(m.typ, m.asm.Bytes())
		m.free(mem)
	}
}

// drop frees message seq and returns the bytes it held.
func (s *dtlsMessages) drop(seq uint16, mem *budget.Account) int {
	m := s.pending[seq]
	delete(s.pending, seq)
	return m.free(mem)
}

// free gives back what m cost and returns the bytes it held.
func (m *dtlsMessage) free(mem *budget.Account) int {
	mem.Release(dtlsMessageCost)
	return m.asm.Clear()
}

// clear frees every message held and returns how many bytes that was.
func (s *dtlsMessages) clear(mem *budget.Account) int {
	n := 0
	for seq := range s.pending {
		n += s.drop(seq, mem)
	}
	return n
}
