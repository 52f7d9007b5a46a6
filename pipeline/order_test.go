package pipeline

import (
	"container/heap"
	"net/netip"
	"slices"
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

// Connections that started at the same time are written by client, then
// server, as Order sorts them; and a start is ordered by its seconds and
// nanoseconds together, whatever the time zone it was read in.
func TestHeldOrder(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 999_999_999)
	ap := netip.MustParseAddrPort
	conns := []*parser.Connection{
		{Start: t0, Client: ap("10.0.0.2:1000"), Server: ap("10.0.0.9:443")},
		{Start: t0.Add(time.Nanosecond).In(time.FixedZone("east", 3600)), Client: ap("10.0.0.1:1000"), Server: ap("10.0.0.9:443")},
		{Start: t0, Client: ap("10.0.0.1:1000"), Server: ap("10.0.0.9:444")},
		{Start: t0, Client: ap("10.0.0.1:1000"), Server: ap("10.0.0.9:443")},
		{Start: t0.Add(-time.Nanosecond), Client: ap("10.0.0.3:1000"), Server: ap("10.0.0.9:443")},
		{Start: t0.Add(-time.Second), Client: ap("10.0.0.3:1000"), Server: ap("10.0.0.9:443")},
	}
	var h held
	for _, c := range conns {
		heap.Push(&h, c)
	}
	var got []*parser.Connection
	h.release(t0.Add(time.Hour), func(c *parser.Connection) { got = append(got, c) })
	want := slices.Clone(conns)
	Order(want)
	if !slices.Equal(got, want) {
		for i := range got {
			t.Errorf("%d: %v %v %v, want %v %v %v", i, got[i].Start, got[i].Client, got[i].Server, want[i].Start, want[i].Client, want[i].Server)
		}
	}
}
