package parser

import (
	"errors"
	"fmt"
	"math/bits"
	"sync"
	"time"

	"github.com/tlssniff/tlssniff/budget"
)

// Record content types (RFC 8446, section 5.1).
const (
	recordChangeCipherSpec uint8 = 20
	recordAlert            uint8 = 21
	recordHandshake        uint8 = 22
	recordApplicationData  uint8 = 23
	recordHeartbeat        uint8 = 24
	// recordSSLv2 marks an SSL 2.0 CLIENT-HELLO record; it is no TLS content type.
	recordSSLv2 uint8 = 0x80
)

const (
	// maxPreamble is how far into a stream the layer looks for a first
	// ClientHello or ServerHello when the stream does not start with TLS: a
	// SOCKS or HTTP CONNECT exchange, or a STARTTLS dialogue, comes first.
	// A hello that starts at most this many bytes in is read, however the
	// stream was cut.
	maxPreamble = 64 << 10

	recordHeaderLen = 5
	// maxRecordLen is the largest record body accepted: 2^14 plus the
	// 2048-byte expansion TLS 1.2 allows for ciphertext (RFC 5246, section 6.2.3).
	maxRecordLen = 1<<14 + 2048
)

// ErrNotTLS is returned when a stream does not start with a TLS record.
var ErrNotTLS = errors.New("not TLS")

// RecordError is a malformed record header met in the middle of a stream.
type RecordError struct {
	Offset int64 // stream offset of the header
	Header [recordHeaderLen]byte
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("malformed record header % x at stream offset %d", e.Header, e.Offset)
}

// Record is one TLS record. Body is nil when the record's body was skipped;
// otherwise it is valid only until the RecordHandler returns.
type Record struct {
	Type    uint8
	Version uint16
	Length  int
	Offset  int64     // stream offset of the record header
	Time    time.Time // capture time of the bytes that completed the record
	Body    []byte
	// Cut says the body was wanted but dropped: the memory budget refused
	// to buffer it.
	Cut bool
	// Seq is a DTLS record's epoch and sequence number (RFC 6347, section
	// 4.1); TLS records count theirs.
	Seq uint64
}

// RecordHandler receives records from a RecordLayer.
type RecordHandler interface {
	// WantBody reports whether the body of a record of this type should be
	// buffered and passed on; skipped bodies are never copied.
	WantBody(typ uint8) bool
	// Record handles one complete record.
	Record(r Record)
}

// RecordLayer cuts one direction's byte stream into TLS records. It takes
// bytes from any source: reassembled TCP payload or decrypted plaintext.
// The zero value is ready for the start of a stream.
//
// A body that comes whole within one Feed is passed on without a copy;
// one cut across Feeds is gathered in a buffer that grows with the bytes
// that came (never sized from the header's length), is charged to Memory,
// and is freed once the record is delivered.
type RecordLayer struct {
	Memory    *budget.Account
	offset    int64 // stream offset of the next byte fed
	hdr       [recordHeaderLen]byte
	hdrLen    int
	cur       Record
	body      []byte // buffered body of cur, when wanted and cut across Feeds
	direct    []byte // the body of cur, when it came whole in one Feed
	need      int    // body bytes of cur still to come
	want      bool
	cut       bool // the budget refused cur's body
	started   bool
	searching bool  // looking for the first record past a preamble or a cut
	preamble  int64 // stream bytes before the first record
	resync    bool
	err       error
}

// Preamble returns how many bytes preceded the first record of the stream.
func (l *RecordLayer) Preamble() int64 { return l.preamble }

// pending returns the type and the buffered body bytes of a record still
// being read, if any.
func (l *RecordLayer) pending() (typ uint8, body []byte, ok bool) {
	if l.need == 0 {
		return 0, nil, false
	}
	return l.cur.Type, l.body, true
}

// Err returns the sticky error that stopped the layer, if any.
func (l *RecordLayer) Err() error { return l.err }

// Gap tells the layer that n bytes of the stream were lost. The record in
// progress is dropped and the layer searches the following bytes for the
// next plausible record header.
func (l *RecordLayer) Gap(n int) {
	l.offset += int64(n)
	l.hdrLen, l.need = 0, 0
	l.free()
	l.resync = l.started && l.err == nil
}

// Shed drops the body gathered so far of the record being read, which
// will be delivered as Cut, and returns how many bytes it held.
func (l *RecordLayer) Shed() int {
	n := len(l.body)
	if n > 0 {
		l.free()
		l.want, l.cut = false, true
	}
	return n
}

// gather appends part of a body to the buffer, charging what it grows by;
// when the budget refuses, the body is dropped and the record will be
// delivered as Cut.
func (l *RecordLayer) gather(b []byte) {
	if n := len(l.body) + len(b); n > cap(l.body) {
		grown := bodies.get(n)
		if !l.Memory.Charge(cap(grown) - cap(l.body)) {
			bodies.put(grown)
			l.free()
			l.want, l.cut = false, true
			return
		}
		grown = append(grown, l.body...)
		bodies.put(l.body)
		l.body = grown
	}
	l.body = append(l.body, b...)
}

// free drops the body buffer and gives its memory back.
func (l *RecordLayer) free() {
	l.Memory.Release(cap(l.body))
	bodies.put(l.body)
	l.body = nil
}

// bodies recycles the buffers of bodies cut across Feeds, which a
// connection's certificate records nearly always are: allocated afresh as
// they grew, they were a seventh of the bytes a run allocated on
// bench/mix-1024.pcap, and the collector's work follows those bytes.
// A buffer is put back when its record was delivered: a RecordHandler
// keeps nothing of a Body.
var bodies bufferPool

// poisonBuffers overwrites each buffer put back, so that a test reading
// what was put back reads garbage.
var poisonBuffers bool

// bufferPool holds free buffers by capacity, powers of two from
// minBuffer: each Get at least doubles a growing buffer, as append would.
type bufferPool struct {
	classes [bufferClasses]sync.Pool // of *[]byte
}

const (
	minBufferShift = 11 // 2 KiB: a segment's worth, the least a cut body needs
	minBuffer      = 1 << minBufferShift
	// bufferClasses reach the longest body: an SSL 2.0 record, up to 32 KiB.
	bufferClasses = 16 - minBufferShift
)

// get returns an empty buffer of at least n bytes.
func (p *bufferPool) get(n int) []byte {
	k := max(bits.Len(uint(n-1)), minBufferShift) - minBufferShift
	if k >= bufferClasses {
		return make([]byte, 0, n) // longer than any body: not pooled
	}
	if b, ok := p.classes[k].Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, minBuffer<<k)
}

// put gives back a buffer that get returned; its bytes must no longer be
// read.
func (p *bufferPool) put(b []byte) {
	k := bits.Len(uint(cap(b))) - 1 - minBufferShift
	if k < 0 || k >= bufferClasses || cap(b) != minBuffer<<k {
		return // nil, or not one of get's
	}
	if poisonBuffers {
		b = b[:cap(b)]
		for i := range b {
			b[i] = 0xa5
		}
	}
	box := new([]byte) // here, not at every call, as &b would
	*box = b
	p.classes[k].Put(box)
}

// Feed consumes data captured at ts and passes every completed record to h.
// data is not retained. Once Feed returns an error, the layer ignores all
// further input and returns the same error.
func (l *RecordLayer) Feed(data []byte, ts time.Time, h RecordHandler) error {
	for len(data) > 0 && l.err == nil {
		if l.need > 0 {
			n := min(l.need, len(data))
			if l.want && len(l.body) == 0 && n == l.need {
				l.direct = data[:n] // the whole body is here: no copy
			} else if l.want {
				l.gather(data[:n])
			}
			data = data[n:]
			l.offset += int64(n)
			l.need -= n
			if l.need == 0 {
				l.deliver(ts, h)
			}
			continue
		}
		if l.searching {
			data = l.search(data)
			continue
		}
		if l.resync {
			i := findRecordHeader(data)
			if i < 0 {
				l.offset += int64(len(data))
				return nil
			}
			l.resync = false
			data = data[i:]
			l.offset += int64(i)
		}
		n := copy(l.hdr[l.hdrLen:], data)
		l.hdrLen += n
		data = data[n:]
		l.offset += int64(n)
		if l.hdrLen < recordHeaderLen {
			return nil
		}
		l.startRecord(ts, h)
	}
	return l.err
}

// search looks for the first record of a stream that did not start with
// one: a hello after a preamble, or, picked up mid-stream, the first whole
// record.
// The last bytes seen are kept in hdr, so a hello whose first six bytes are
// cut across calls is found as if the stream came in one piece. It returns
// the data left to read as records.
func (l *RecordLayer) search(data []byte) []byte {
	const need = recordHeaderLen + 1 // a header and a byte after it
	carry := l.hdr[:l.hdrLen]
	at := func(k int) byte {
		if k < len(carry) {
			return carry[k]
		}
		return data[k-len(carry)]
	}
	var window [need]byte
	for i := 0; i+need <= len(carry)+len(data); i++ {
		if i >= len(carry) && i+need <= len(carry)+len(data) {
			// Past the carried bytes: scan data directly.
			if j := findStart(data[i-len(carry):]); j >= 0 {
				i += j
				l.hdrLen, l.searching = 0, false
				l.offset += int64(i - len(carry))
				l.preamble = l.offset
				return l.checkPreamble(data[i-len(carry):])
			}
			break
		}
		for k := range window {
			window[k] = at(i + k)
		}
		if validRecordHeader(window[:]) {
			n := copy(l.hdr[:], carry[i:])
			l.hdrLen, l.searching = n, false
			l.preamble = l.offset - int64(n)
			return l.checkPreamble(data)
		}
	}
	l.offset += int64(len(data))
	// Keep the last bytes: a hello may start in them.
	total := len(carry) + len(data)
	keep := min(total, recordHeaderLen)
	for k := 0; k < keep; k++ {
		window[k] = at(total - keep + k)
	}
	l.hdrLen = copy(l.hdr[:], window[:keep])
	if l.offset-int64(keep) > maxPreamble { // the bytes before any hello to come
		l.err = ErrNotTLS
	}
	return nil
}

// checkPreamble gives up on a stream whose hello comes after more than
// maxPreamble bytes, however they were cut, and returns rest otherwise.
func (l *RecordLayer) checkPreamble(rest []byte) []byte {
	if l.preamble > maxPreamble {
		l.err, l.preamble = ErrNotTLS, 0
		return nil
	}
	return rest
}

// startRecord validates a complete header and sets up its body.
func (l *RecordLayer) startRecord(ts time.Time, h RecordHandler) {
	hdrOffset := l.offset - recordHeaderLen
	if !l.started && isSSLv2ClientHello(l.hdr[:]) {
		// SSL 2.0 header: 2-byte length with the top bit set (RFC 6101, appendix E).
		l.cur = Record{Type: recordSSLv2, Version: uint16(l.hdr[3])<<8 | uint16(l.hdr[4]), Offset: hdrOffset,
			Length: int(l.hdr[0]&0x7f)<<8 | int(l.hdr[1])}
		l.started, l.want, l.cut = true, true, false
		l.gather(l.hdr[2:])
		l.need = l.cur.Length - 3
		if l.need <= 0 {
			l.err = ErrNotTLS
		}
		return
	}
	if !validRecordHeader(l.hdr[:]) {
		if !l.started {
			// Not TLS from the first byte: look further for a hello,
			// which may start in the header bytes after the first.
			l.searching = true
			copy(l.hdr[:], l.hdr[1:])
			l.hdrLen = recordHeaderLen - 1
		} else {
			l.err = &RecordError{Offset: hdrOffset, Header: l.hdr}
		}
		return
	}
	l.started = true
	l.cur = Record{Type: l.hdr[0], Version: uint16(l.hdr[1])<<8 | uint16(l.hdr[2]),
		Length: int(l.hdr[3])<<8 | int(l.hdr[4]), Offset: hdrOffset}
	l.want, l.cut = h.WantBody(l.cur.Type), false
	l.need = l.cur.Length
	if l.need == 0 {
		l.deliver(ts, h)
	}
}

func (l *RecordLayer) deliver(ts time.Time, h RecordHandler) {
	r := l.cur
	r.Time, r.Cut = ts, l.cut
	switch {
	case l.direct != nil:
		r.Body = l.direct
	case l.want:
		r.Body = l.body
		if r.Body == nil {
			r.Body = []byte{} // an empty record read in the clear
		}
	}
	l.hdrLen = 0
	h.Record(r)
	l.direct = nil
	l.free()
}

// validRecordHeader reports whether b starts like a TLS record header: a
// known content type, major version 3, and a length within the limit.
func validRecordHeader(b []byte) bool {
	return b[0] >= recordChangeCipherSpec && b[0] <= recordHeartbeat &&
		b[1] == 3 && b[2] <= 4 && int(b[3])<<8|int(b[4]) <= maxRecordLen
}

// isSSLv2ClientHello reports whether b starts an SSL 2.0-compatible
// CLIENT-HELLO offering SSL 3.0 or later (RFC 5246, appendix E.2).
func isSSLv2ClientHello(b []byte) bool {
	return b[0]&0x80 != 0 && b[2] == 1 && (b[3] == 3 || (b[3] == 0 && b[4] == 2))
}

// findStart returns the index of the first plausible record header in b
// with a byte after it (so that the search does not depend on how the
// stream was cut), or -1.
func findStart(b []byte) int {
	for i := 0; i+recordHeaderLen < len(b); i++ {
		if validRecordHeader(b[i:]) {
			return i
		}
	}
	return -1
}

// findRecordHeader returns the index of the first plausible record header in
// b whose following record, when b holds it, starts with a plausible header
// too; -1 if there is none.
func findRecordHeader(b []byte) int {
	for i := 0; i+recordHeaderLen <= len(b); i++ {
		if !validRecordHeader(b[i:]) {
			continue
		}
		next := i + recordHeaderLen + (int(b[i+3])<<8 | int(b[i+4]))
		if next+recordHeaderLen <= len(b) && !validRecordHeader(b[next:]) {
			continue
		}
		return i
	}
	return -1
}
