package parser

import (
	"sync"
	"time"

	"github.com/tlssniff/tlssniff/budget"
)

// stream is the adapter of TLS over TCP: each side's in-order bytes are cut
// into records (RecordLayer) that go to the core.
type stream struct {
	c     *Conn
	sides [2]streamSide
}

// streamSide is one side's record layer, the RecordHandler it feeds.
type streamSide struct {
	c     *Conn
	side  int
	rec   RecordLayer
	calls int // Data calls that carried bytes of the first hello so far
}

// newStreamConn returns a Conn fed by a stream whose record layers charge
// mem, allocated together, or recycled: Close gives them back.
func newStreamConn(mem *budget.Account) *Conn {
	s, ok := streamConns.Get().(*stream)
	if !ok {
		sc := new(struct {
			Conn
			s stream
		})
		s = &sc.s
		s.c = &sc.Conn
	}
	c := s.c
	c.tr, c.ja4 = s, 't'
	for i := range s.sides {
		s.sides[i] = streamSide{c: c, side: i, rec: RecordLayer{Memory: mem}}
	}
	return c
}

// streamConns holds the streams of closed Conns, each with its Conn, for
// newStreamConn: a TCP connection's Conn and adapter were a quarter of the
// bytes a run allocated on bench/mix-1024.pcap.
var streamConns sync.Pool // of *stream

// recycle puts the closed Conn and its stream in streamConns, cleared:
// what the Conn emitted is apart and stays.
func (s *stream) recycle() {
	c := s.c
	for i := range s.sides {
		s.sides[i].rec.free()
	}
	*c = Conn{}
	*s = stream{c: c}
	streamConns.Put(s)
}

func (s *stream) data(side int, data []byte, ts time.Time) bool {
	c, st := s.c, &s.sides[side]
	counting := !c.sides[side].helloSeen
	err := st.rec.Feed(data, ts, st)
	if counting && st.rec.started {
		// Each call is one TCP segment's in-order bytes; those that held
		// only a preamble do not count.
		st.calls++
		c.helloFrames(side, st.calls)
	}
	if err != nil {
		c.stop(side, ts, err)
	}
	return !c.sides[side].dead && !c.emitted
}

func (s *stream) lose(side, n int)      { s.sides[side].rec.Gap(n) }
func (s *stream) shed(side int) int     { return s.sides[side].rec.Shed() }
func (s *stream) started(side int) bool { return s.sides[side].rec.started }
func (s *stream) preamble(side int) int64 {
	return s.sides[side].rec.Preamble()
}

func (s *stream) pending(side int) (uint8, []byte, bool) { return s.sides[side].rec.pending() }

func (s *stream) openedHandshake(side int, ts time.Time, b []byte) {
	s.c.openedHandshakeBytes(side, ts, b)
}

func (s *stream) release() {} // the core holds TLS records itself

// WantBody implements RecordHandler.
func (st *streamSide) WantBody(typ uint8) bool { return st.c.wantBody(st.side, typ) }

// Record implements RecordHandler.
func (st *streamSide) Record(r Record) { st.c.record(st.side, r) }
