package pipeline

import (
	"container/heap"
	"net/netip"
	"testing"
	"time"

	"github.com/tlssniff/tlssniff/parser"
)

// A flow holds the mark back while it may still be written, and no longer
// than the bounds: helloWithin without a hello, until it is decided or
// closed; at most maxHeld connections wait.
func TestStartOrderBounds(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	a, b := netip.MustParseAddrPort("10.0.0.1:1000"), netip.MustParseAddrPort("10.0.0.2:443")
	conn := func(start time.Time) *tracked {
		return &tracked{Conn: parser.NewConn(parser.TCP, a, b, start, parser.Options{Emit: func(*parser.Connection) {}}), start: start}
	}
	var s starts
	quiet, closed := conn(t0), conn(t0.Add(time.Second))
	s.add(quiet)
	s.add(closed)
	if m := s.mark(t0.Add(2 * time.Second)); !m.Equal(t0) {
		t.Errorf("a young flow does not hold the mark: %v", m)
	}
	closed.Close()
	if m := s.mark(t0.Add(helloWithin + time.Second)); !m.Equal(t0.Add(helloWithin + time.Second)) {
		t.Errorf("a flow without a hello after %v, and a closed one, still hold the mark: %v", helloWithin, m)
	}

	var h held
	var written []*parser.Connection
	for i := range maxHeld + 10 {
		heap.Push(&h, &parser.Connection{Start: t0.Add(time.Duration(maxHeld+10-i) * time.Millisecond)})
	}
	h.release(t0, func(c *parser.Connection) { written = append(written, c) })
	if len(written) != 10 || h.Len() != maxHeld {
		t.Fatalf("%d written, %d held", len(written), h.Len())
	}
	for i, c := range written {
		if want := t0.Add(time.Duration(i+1) * time.Millisecond); !c.Start.Equal(want) {
			t.Errorf("written %d started %v, want %v (the earliest first)", i, c.Start, want)
		}
	}
	h.release(t0.Add(time.Hour), func(c *parser.Connection) { written = append(written, c) })
	if h.Len() != 0 || len(written) != maxHeld+10 {
		t.Errorf("%d held after the end", h.Len())
	}
}
