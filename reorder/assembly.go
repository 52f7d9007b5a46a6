package reorder

import (
	"time"

	"github.com/tlssniff/tlssniff/budget"
)

// Assembly puts one sequence that starts at offset 0 back together from
// pieces that come in any order, with overlaps and repeats: a DTLS
// handshake message from its fragments, an IP datagram from its fragments.
// The bytes from 0 that came without a hole are kept in one buffer that
// grows with them (never sized from a length on the wire); pieces past a
// hole wait in a Buffer, whose Cost may not pass Limit. Both are charged to
// Account.
type Assembly struct {
	Account *budget.Account
	Limit   int
	body    []byte
	rest    Buffer
}

// Add takes the piece at off, keeping no byte at or past end (the
// sequence's length, or the most it may have). It reports false when the
// memory budget or Limit refused to keep it. data is not retained; for
// overlapping bytes the first copy wins.
func (s *Assembly) Add(off int, data []byte, ts time.Time, end int) bool {
	if s.rest.Account == nil {
		s.rest.Account = s.Account
	}
	data = data[:min(len(data), max(0, end-off))]
	if off > len(s.body) {
		r, _ := s.rest.Insert(uint64(off), data, ts, s.Limit)
		return r != Refused
	}
	if !s.extend(off, data) {
		return false
	}
	for {
		p, ok := s.rest.First()
		if !ok || p.Offset > uint64(len(s.body)) {
			return true
		}
		s.rest.PopFirst()
		if !s.extend(int(p.Offset), p.Data) {
			return false
		}
	}
}

// extend appends the bytes of b, at off, past the end of the body.
func (s *Assembly) extend(off int, b []byte) bool {
	if off+len(b) <= len(s.body) {
		return true
	}
	b = b[len(s.body)-off:]
	if len(s.body)+len(b) <= cap(s.body) {
		s.body = append(s.body, b...)
		return true
	}
	grown := append(s.body[:len(s.body):len(s.body)], b...)
	if !s.Account.Charge(cap(grown) - cap(s.body)) {
		return false
	}
	s.body = grown
	return true
}

// Bytes returns the bytes from offset 0 that came without a hole, valid
// until the next Add (Clear lets the memory go without reusing it).
func (s *Assembly) Bytes() []byte { return s.body }

// Clear drops everything and returns how many bytes were held.
func (s *Assembly) Clear() int {
	n, _ := s.rest.Clear()
	n += len(s.body)
	s.Account.Release(cap(s.body))
	s.body = nil
	return n
}
