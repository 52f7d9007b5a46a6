package pipeline

import (
	"container/heap"
	"time"

	"github.com/tlssniff/tlssniff/parser"
)

// Rows in the order connections started (Config.StartOrder, the default
// for files). A connection is decided (written by the parser) when its
// handshake ends, so a slow handshake is decided after quicker ones that
// started later. Each worker keeps its flows in the order they started
// and says, with every batch, the earliest start a connection it decides
// later may have (its mark); merge holds decided connections in a heap and
// writes those that started before every worker's mark.
//
// Bounds, so that memory stays flat whatever the traffic: a flow holds the
// mark back while it is open and undecided, for at most holdFor after its
// start, and only for helloWithin unless it shows TLS (a flow that is not
// TLS is never decided); at most maxHeld connections wait, the
// earliest going first when there are more; a worker tracks at most
// maxTracked flows. A connection decided later than that (a handshake
// still pending after holdFor, such as one whose server never answers and
// that is decided when it times out) comes after connections that started
// after it.
const (
	holdFor     = 30 * time.Second
	helloWithin = 3 * time.Second
	maxHeld     = 1024
	maxTracked  = 1 << 16
	maxFree     = 1024 // tracked shells kept for reuse
)

// tracked is a worker's flow, with its start, for its mark. Close lets go
// of the connection: the queue keeps only this small shell.
type tracked struct {
	*parser.Conn
	start time.Time
}

func (t *tracked) Close() {
	t.Conn.Close()
	t.Conn = nil
}

// starts is a worker's flows in the order they started.
type starts struct {
	q    []*tracked
	head int
	// free is shells let go of by their flows and by the queue, to
	// reuse: one was allocated for every connection.
	free []*tracked
}

// shell returns a tracked to fill, reused when one is free.
func (s *starts) shell() *tracked {
	if n := len(s.free); n > 0 {
		t := s.free[n-1]
		s.free = s.free[:n-1]
		return t
	}
	return new(tracked)
}

func (s *starts) add(t *tracked) {
	if s.head > 1024 && s.head > len(s.q)/2 { // most was popped: let the slice shrink
		s.q = append(s.q[:0], s.q[s.head:]...)
		s.head = 0
	}
	s.q = append(s.q, t)
}

// mark is the earliest start that a connection the worker decides from
// now on may have, now being the capture time of its last packet.
func (s *starts) mark(now time.Time) time.Time {
	floor := now.Add(-holdFor)
	for ; s.head < len(s.q); s.head++ {
		f := s.q[s.head]
		waited := f.Conn != nil && !f.Decided() && f.start.After(floor) && (f.TLS() || now.Sub(f.start) < helloWithin)
		if waited && len(s.q)-s.head <= maxTracked {
			if f.start.Before(now) {
				return f.start
			}
			return now
		}
		if f.Conn == nil && len(s.free) < maxFree {
			// Closed, so the assembler has let go of it too.
			s.free = append(s.free, f)
		}
		s.q[s.head] = nil
	}
	s.q, s.head = s.q[:0], 0
	return now
}

// held is the decided connections waiting for those that started before
// them, as a heap in the order they are written. Each keeps its start
// beside it, so that ordering them reads the heap and not the
// connections: comparing their starts through the pointers was 2% of a
// run (bench/mix-1024.pcap, NDJSON, held on one CPU).
type held []heldConn

type heldConn struct {
	sec  int64 // the start, as Unix seconds and nanoseconds: compared as Time.Compare would
	nsec int
	c    *parser.Connection
}

func (h held) Len() int { return len(h) }
func (h held) Less(i, j int) bool {
	a, b := &h[i], &h[j]
	if a.sec != b.sec {
		return a.sec < b.sec
	}
	if a.nsec != b.nsec {
		return a.nsec < b.nsec
	}
	return parser.CompareStart(a.c, b.c) < 0
}
func (h held) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *held) Push(x any) {
	c := x.(*parser.Connection)
	*h = append(*h, heldConn{c.Start.Unix(), c.Start.Nanosecond(), c})
}
func (h *held) Pop() any {
	old := *h
	c := old[len(old)-1].c
	old[len(old)-1] = heldConn{}
	*h = old[:len(old)-1]
	return c
}

// release writes the held connections that started before mark, and the
// earliest beyond maxHeld.
func (h *held) release(mark time.Time, write func(*parser.Connection)) {
	for h.Len() > 0 && ((*h)[0].c.Start.Before(mark) || h.Len() > maxHeld) {
		write(heap.Pop(h).(*parser.Connection))
	}
}

// orderer writes the connections of merge: in the order one worker
// decides them, or, with StartOrder, in the order they started.
type orderer struct {
	on    bool
	marks []time.Time // each worker's last mark; the end of time once it is done
	h     held
	write func(*parser.Connection)
}

// endOfTime is the mark of a worker that is done.
var endOfTime = time.Unix(1<<62, 0)

func newOrderer(on bool, workers int, write func(*parser.Connection)) *orderer {
	return &orderer{on: on, marks: make([]time.Time, workers), write: write}
}

// mark takes worker i's mark.
func (o *orderer) mark(i int, m time.Time) { o.marks[i] = m }

// done says worker i sent everything.
func (o *orderer) done(i int) { o.marks[i] = endOfTime }

// take writes, or holds, the connections decided at one packet.
func (o *orderer) take(conns []*parser.Connection) {
	if !o.on {
		Order(conns)
		for _, c := range conns {
			o.write(c)
		}
		return
	}
	for _, c := range conns {
		heap.Push(&o.h, c)
	}
	least := endOfTime
	for _, m := range o.marks {
		if m.Before(least) {
			least = m
		}
	}
	o.h.release(least, o.write)
}
