package reassembly

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/tlssniff/tlssniff/budget"
	"github.com/tlssniff/tlssniff/capture"
	"github.com/tlssniff/tlssniff/flowstats"
	"github.com/tlssniff/tlssniff/reorder"
)

// flowStats runs segments through an assembler and returns the one flow's
// stats and what its stream was given.
func flowStats(t *testing.T, segs []seg) (*flowstats.Stats, []string) {
	fs, log, _ := flowStatsStop(t, nil, segs)
	return fs, log
}

// flowStatsStop is flowStats with a stream that stops wanting a side after
// the bytes stop gives, and returns the assembler's stats too.
func flowStatsStop(t *testing.T, stop map[int]int, segs []seg) (*flowstats.Stats, []string, Stats) {
	t.Helper()
	var log []string
	var stats *flowstats.Stats
	a := New(DefaultConfig, func(client, server netip.AddrPort, start time.Time, fs *flowstats.Stats, _ *budget.Account) Stream {
		if stats != nil {
			t.Fatalf("a second flow for %v", client)
		}
		stats = new(flowstats.Stats)
		return &recorder{log: &log, client: client, stop: stop, stats: stats, fs: fs}
	})
	for _, s := range segs {
		src, dst := cli, srv
		if s.server {
			src, dst = dst, src
		}
		p := capture.Packet{Time: t0.Add(s.at), Src: src, Dst: dst, Seq: s.seq, Ack: s.ack, Flags: s.flags, Payload: []byte(s.data),
			Missing: s.missing}
		a.Add(&p)
	}
	a.Flush()
	return stats, log, a.Stats()
}

// Retransmitted and out-of-order segments are counted apart and marked in
// order, up to flowstats.MaxMarks; the first conflict's time and side are kept; both
// directions of a connection are one flow whichever speaks first.
func TestFlowStats(t *testing.T) {
	ms := time.Millisecond
	fs, log, st := flowStatsStop(t, nil, []seg{
		{flags: S, seq: 100, at: 0},
		{server: true, flags: S | A, seq: 999, ack: 101, at: 0},
		{flags: A, seq: 101, ack: 1000, at: ms},
		{flags: A, seq: 104, data: "def", at: 2 * ms},                 // ahead of a hole
		{flags: A, seq: 101, data: "abc", at: 3 * ms},                 // fills it
		{flags: A, seq: 101, data: "abc", at: 4 * ms},                 // a retransmission
		{flags: A, seq: 104, data: "def", at: 4 * ms},                 // one that ends where the stream is
		{server: true, flags: A, seq: 1003, data: "XYZ", at: 5 * ms},  // server, ahead
		{server: true, flags: A, seq: 1003, data: "XQZ", at: 6 * ms},  // held already, and conflicting
		{server: true, flags: A, seq: 1000, data: "uvw", at: 7 * ms},  // fills the hole
		{server: true, flags: A, seq: 1003, data: "XYZ", at: 8 * ms},  // a retransmission
		{flags: A, seq: 103, data: "cDe", at: 9 * ms},                 // delivered already: the first copy won
		{server: true, flags: A, seq: 1000, data: "uvw", at: 10 * ms}, // a retransmission
		{server: true, flags: A, seq: 1009, data: "mno", at: 11 * ms}, // ahead of another hole
		{server: true, flags: A, seq: 1009, data: "mNo", at: 12 * ms}, // the second conflict
		{flags: A, seq: 106, ack: 1006, at: 13 * ms},                  // a keep-alive: no data, not a retransmission
		{flags: A, seq: 107, data: "gh", missing: 5, at: 14 * ms},     // cut short by the snapshot length
	})
	// A segment ahead of a hole whose bytes are all held already is a
	// retransmission, not out of order as well.
	want := []flowstats.Mark{{Time: t0.Add(2 * ms), Side: 0, Retransmit: false}, {Time: t0.Add(4 * ms), Side: 0, Retransmit: true}, {Time: t0.Add(4 * ms), Side: 0, Retransmit: true}, {Time: t0.Add(5 * ms), Side: 1, Retransmit: false},
		{Time: t0.Add(6 * ms), Side: 1, Retransmit: true}, {Time: t0.Add(8 * ms), Side: 1, Retransmit: true}, {Time: t0.Add(9 * ms), Side: 0, Retransmit: true}, {Time: t0.Add(10 * ms), Side: 1, Retransmit: true},
		{Time: t0.Add(11 * ms), Side: 1, Retransmit: false}, {Time: t0.Add(12 * ms), Side: 1, Retransmit: true}}
	if fs.Retransmits != 7 || fs.OutOfOrder != 3 || !reflect.DeepEqual(fs.Marks, want) {
		t.Errorf("%d retransmits, %d out of order, marks %+v\nlog %q", fs.Retransmits, fs.OutOfOrder, fs.Marks, log)
	}
	if fs.Overlaps != 0 {
		t.Errorf("%d overlaps", fs.Overlaps)
	}
	if fs.Conflicts != 2 || fs.ConflictSide != 1 || !fs.ConflictTime.Equal(t0.Add(6*ms)) {
		t.Errorf("%d conflicts, first at %v from side %d", fs.Conflicts, fs.ConflictTime.Sub(t0), fs.ConflictSide)
	}
	if st.Flows != 1 || st.Retransmits != 7 || st.OutOfOrder != 3 || st.Gaps != 2 || st.GapBytes != 8 || st.Cuts != 0 {
		t.Errorf("assembler stats %+v", st)
	}
	if fs.Packets != [2]uint64{9, 8} || fs.Truncated != 1 || !fs.SYNACK || !fs.SYN {
		t.Errorf("packets %v, %d truncated, SYN %v, SYN/ACK %v", fs.Packets, fs.Truncated, fs.SYN, fs.SYNACK)
	}

	// Marks stop at flowstats.MaxMarks; the counts go on.
	segs := []seg{{flags: S, seq: 100}, {flags: A, seq: 101, data: "abc"}}
	for i := range flowstats.MaxMarks + 5 {
		segs = append(segs, seg{flags: A, seq: 101, data: "abc", at: time.Duration(i+1) * ms})
	}
	fs, _ = flowStats(t, segs)
	if fs.Retransmits != flowstats.MaxMarks+5 || len(fs.Marks) != flowstats.MaxMarks || !fs.Marks[flowstats.MaxMarks-1].Time.Equal(t0.Add(flowstats.MaxMarks*ms)) {
		t.Errorf("%d retransmits, %d marks", fs.Retransmits, len(fs.Marks))
	}
}

// Bytes the receiver acknowledged past a hole are lost: the gap is given
// up on at that ACK (after the data the ACK carries), and what was held
// after it is delivered then, before anything that follows.
func TestAckPastHole(t *testing.T) {
	_, log := flowStats(t, []seg{
		{flags: S, seq: 100},
		{server: true, flags: S | A, seq: 999, ack: 101},
		{flags: A, seq: 104, data: "def"},
		{server: true, flags: A, seq: 1000, ack: 107, data: "ok"},
		{server: true, flags: A, seq: 1002, data: "!"},
	})
	want := []string{`data 1 "ok"`, `gap 0 3`, `data 0 "def"`, `data 1 "!"`, "close 10.0.0.1:40000"}
	if !reflect.DeepEqual(log, want) {
		t.Errorf("log %q, want %q", log, want)
	}
	// An ACK of exactly the bytes before the held segment acknowledges the
	// hole too; one short of it does not.
	for ack, want := range map[uint32][]string{
		104: {`gap 0 3`, `data 0 "def"`, `data 1 "!"`, "close 10.0.0.1:40000"},
		103: {`data 1 "!"`, `gap 0 3`, `data 0 "def"`, "close 10.0.0.1:40000"},
	} {
		_, log := flowStats(t, []seg{{flags: S, seq: 100}, {server: true, flags: S | A, seq: 999, ack: 101},
			{flags: A, seq: 104, data: "def"}, {server: true, flags: A, ack: ack, seq: 1000},
			{server: true, flags: A, seq: 1000, data: "!"}})
		if !reflect.DeepEqual(log, want) {
			t.Errorf("ACK %d: log %q, want %q", ack, log, want)
		}
	}
}

// When the budget has no room for a flow's out-of-order bytes and nothing
// can be cut, the least recently active flow is evicted, never the one
// being read.
func TestBudgetEvictsAnother(t *testing.T) {
	var log []string
	cfg := DefaultConfig
	cfg.Memory = 2*flowCost + 200
	a := New(cfg, func(client, server netip.AddrPort, start time.Time, _ *flowstats.Stats, _ *budget.Account) Stream {
		log = append(log, "open "+client.String())
		return &recorder{log: &log, client: client}
	})
	other := netip.MustParseAddrPort("10.0.0.3:40001")
	for _, p := range []capture.Packet{
		{Time: t0, Src: other, Dst: srv, Flags: S, Seq: 500},
		{Time: t0, Src: cli, Dst: srv, Flags: S, Seq: 100},
		{Time: t0, Src: cli, Dst: srv, Flags: A, Seq: 111, Payload: make([]byte, 100)}, // ahead of a hole
		{Time: t0, Src: cli, Dst: srv, Flags: A, Seq: 101, Payload: []byte("0123456789")},
	} {
		a.Add(&p)
	}
	if st := a.Stats(); st.Evicted != 1 || len(log) != 5 || log[2] != "close "+other.String() || log[3] != `data 0 "0123456789"` ||
		len(log[4]) != len(`data 0 ""`)+100*4 {
		t.Fatalf("evicted %d, log %q", st.Evicted, log)
	}
}

// A new SYN without data (the client retrying with another initial
// sequence number) starts the side over: its data is in order.
func TestSYNRestartsSide(t *testing.T) {
	_, log := flowStats(t, []seg{{flags: S, seq: 100}, {flags: S, seq: 5000, at: time.Second},
		{flags: A, seq: 5001, data: "hello", at: 2 * time.Second}})
	if want := []string{`data 0 "hello"`, "close 10.0.0.1:40000"}; !reflect.DeepEqual(log, want) {
		t.Errorf("log %q, want %q", log, want)
	}
}

// A segment that overlaps delivered bytes and was cut short by the
// snapshot length gives up only the bytes it holds past them.
func TestOverlapIntoTruncated(t *testing.T) {
	fs, log := flowStats(t, []seg{{flags: S, seq: 100}, {flags: A, seq: 101, data: "abcdef"},
		{flags: A, seq: 104, data: "d", missing: 4}, {flags: A, seq: 109, data: "z"},
		{server: true, flags: A, seq: 1000, data: "ok"}})
	want := []string{`data 0 "abcdef"`, "gap 0 2", `data 0 "z"`, `data 1 "ok"`, "close 10.0.0.1:40000"}
	if !reflect.DeepEqual(log, want) || fs.Overlaps != 1 || fs.Retransmits != 0 {
		t.Errorf("log %q, %d overlaps, %d retransmits; want %q, 1 overlap", log, fs.Overlaps, fs.Retransmits, want)
	}
}

// MaxFlowBuffer bounds what both sides of a flow hold together: with the
// server holding one piece, the client's second piece does not fit and
// the hole before it is given up on (a cut).
func TestFlowBufferSharedBySides(t *testing.T) {
	cfg := DefaultConfig
	cfg.MaxFlowBuffer = 2 * (reorder.PieceCost + 10)
	var log []string
	a := New(cfg, func(client, server netip.AddrPort, start time.Time, _ *flowstats.Stats, _ *budget.Account) Stream {
		return &recorder{log: &log, client: client}
	})
	for _, s := range []seg{{flags: S, seq: 100}, {server: true, flags: S | A, seq: 999, ack: 101},
		{server: true, flags: A, seq: 1010, data: "server...."},
		{flags: A, seq: 111, data: "client...."}, {flags: A, seq: 131, data: "client...."}} {
		src, dst := cli, srv
		if s.server {
			src, dst = dst, src
		}
		a.Add(&capture.Packet{Time: t0, Src: src, Dst: dst, Seq: s.seq, Ack: s.ack, Flags: s.flags, Payload: []byte(s.data)})
	}
	want := []string{"cut 0 10", `data 0 "client...."`, "cut 0 10", `data 0 "client...."`}
	if !reflect.DeepEqual(log, want) {
		t.Errorf("log %q, want %q", log, want)
	}
}

// A held segment that in-order bytes partly covered while it waited is an
// overlap: only its new bytes are delivered. One that starts where the
// stream is, is not.
func TestDrainOverlap(t *testing.T) {
	fs, log := flowStats(t, []seg{{flags: S, seq: 100}, {flags: A, seq: 104, data: "def"}, {flags: A, seq: 101, data: "abcde"}})
	if want := []string{`data 0 "abcde"`, `data 0 "f"`, "close 10.0.0.1:40000"}; !reflect.DeepEqual(log, want) || fs.Overlaps != 1 {
		t.Errorf("log %q, %d overlaps; want %q, 1", log, fs.Overlaps, want)
	}
	fs, _ = flowStats(t, []seg{{flags: S, seq: 100}, {flags: A, seq: 104, data: "def"}, {flags: A, seq: 101, data: "abc"}})
	if fs.Overlaps != 0 {
		t.Errorf("%d overlaps for segments that meet", fs.Overlaps)
	}
}

// When the budget takes a flow's buffers for another, the flow's stream
// sheds and is told the bytes up to the end of what it held are cut;
// later bytes come in order.
func TestShedCutsUpToWhatWasHeld(t *testing.T) {
	var log []string
	cfg := DefaultConfig
	cfg.Memory = 2*flowCost + 3*(reorder.PieceCost+50) - 10
	a := New(cfg, func(client, server netip.AddrPort, start time.Time, _ *flowstats.Stats, _ *budget.Account) Stream {
		return &recorder{log: &log, client: client}
	})
	other := netip.MustParseAddrPort("10.0.0.3:40001")
	for _, p := range []capture.Packet{
		{Time: t0, Src: cli, Dst: srv, Flags: S, Seq: 100},
		{Time: t0, Src: cli, Dst: srv, Flags: A, Seq: 111, Payload: make([]byte, 50)},
		{Time: t0, Src: cli, Dst: srv, Flags: A, Seq: 171, Payload: make([]byte, 50)},
		{Time: t0, Src: other, Dst: srv, Flags: S, Seq: 500},
		{Time: t0, Src: other, Dst: srv, Flags: A, Seq: 511, Payload: make([]byte, 50)},
		{Time: t0, Src: cli, Dst: srv, Flags: A, Seq: 221, Payload: []byte("next")},
	} {
		a.Add(&p)
	}
	if want := []string{"shed", "cut 0 120", `data 0 "next"`}; !reflect.DeepEqual(log, want) {
		t.Errorf("log %q, want %q", log, want)
	}
	if st := a.Stats(); st.Cuts != 1 || st.CutBytes != 120 || st.Gaps != 0 {
		t.Errorf("stats %+v", st)
	}
}

// A connection that reuses the endpoints of one an RST closed is a new
// flow.
func TestFlowAfterReset(t *testing.T) {
	var log []string
	a := New(DefaultConfig, func(client, server netip.AddrPort, start time.Time, _ *flowstats.Stats, _ *budget.Account) Stream {
		log = append(log, "open")
		return &recorder{log: &log, client: client}
	})
	for _, p := range []capture.Packet{
		{Time: t0, Src: cli, Dst: srv, Flags: S, Seq: 100},
		{Time: t0, Src: cli, Dst: srv, Flags: A, Seq: 101, Payload: []byte("a")},
		{Time: t0, Src: cli, Dst: srv, Flags: R, Seq: 102},
		{Time: t0, Src: cli, Dst: srv, Flags: S, Seq: 7000},
		{Time: t0, Src: cli, Dst: srv, Flags: A, Seq: 7001, Payload: []byte("b")},
	} {
		a.Add(&p)
	}
	if want := []string{"open", `data 0 "a"`, "close 10.0.0.1:40000", "open", `data 0 "b"`}; !reflect.DeepEqual(log, want) {
		t.Errorf("log %q, want %q", log, want)
	}
}

// A flow idle for exactly IdleTimeout lives on, one idle a second longer
// is closed; a stream exactly MaxAge old goes on, one a second older is
// ended. A stream that was let go (its flow left the age list) and then
// closed leaves the other flows' ages alone.
func TestIdleAndAge(t *testing.T) {
	cfg := DefaultConfig
	cfg.IdleTimeout, cfg.MaxAge = 10*time.Second, 20*time.Second
	var log []string
	a := New(cfg, func(client, server netip.AddrPort, start time.Time, _ *flowstats.Stats, _ *budget.Account) Stream {
		log = append(log, "open "+client.String())
		return &recorder{log: &log, client: client, stop: map[int]int{0: 1, 1: 1}}
	})
	flow := func(port uint16) netip.AddrPort { return netip.AddrPortFrom(cli.Addr(), port) }
	add := func(at time.Duration, src netip.AddrPort, flags uint8, seq uint32, data string) {
		a.Add(&capture.Packet{Time: t0.Add(at), Src: src, Dst: srv, Flags: flags, Seq: seq, Payload: []byte(data)})
	}
	s := time.Second
	add(0, flow(1), S, 100, "")
	add(0, flow(2), S, 100, "")
	add(0, flow(3), S, 100, "")
	// Flow 2's stream wants no more of either side: it is let go, then
	// its FINs close the flow.
	add(s, flow(2), A, 101, "x")
	a.Add(&capture.Packet{Time: t0.Add(s), Src: srv, Dst: flow(2), Flags: S | A, Seq: 900, Ack: 102})
	a.Add(&capture.Packet{Time: t0.Add(s), Src: srv, Dst: flow(2), Flags: A, Seq: 901, Payload: []byte("y")})
	add(s, flow(2), F|A, 102, "")
	a.Add(&capture.Packet{Time: t0.Add(s), Src: srv, Dst: flow(2), Flags: F | A, Seq: 902})
	add(10*s, flow(1), A, 101, "") // flow 1 active, flow 3 idle for 10 s: kept
	if st := a.Stats(); st.IdleClosed != 0 || st.Aged != 0 {
		t.Fatalf("at 10 s: %d idle closed, %d aged", st.IdleClosed, st.Aged)
	}
	add(11*s, flow(1), A, 101, "") // flow 3 idle for 11 s: closed
	if st := a.Stats(); st.IdleClosed != 1 {
		t.Fatalf("at 11 s: %d idle closed", st.IdleClosed)
	}
	add(20*s, flow(1), A, 101, "") // flow 1's stream is 20 s old: goes on
	if st := a.Stats(); st.IdleClosed != 1 || st.Aged != 0 {
		t.Fatalf("at 20 s: %d idle closed, %d aged", st.IdleClosed, st.Aged)
	}
	add(21*s, flow(1), A, 101, "") // 21 s old: ended
	if st := a.Stats(); st.IdleClosed != 1 || st.Aged != 1 {
		t.Fatalf("at 21 s: %d idle closed, %d aged; log %q", st.IdleClosed, st.Aged, log)
	}
}

// Once a stream wants no more of a side, that side's bytes are skipped and
// counted, and its sequence space followed.
func TestSkippedBytes(t *testing.T) {
	_, log, st := flowStatsStop(t, map[int]int{0: 3}, []seg{{flags: S, seq: 100}, {flags: A, seq: 101, data: "abc"},
		{flags: A, seq: 104, data: "defg"}, {flags: A, seq: 108, data: "hi", missing: 3}, {flags: A, seq: 104, data: "d"}})
	if want := []string{`data 0 "abc"`, "close 10.0.0.1:40000"}; !reflect.DeepEqual(log, want) || st.SkippedBytes != 7 {
		t.Errorf("log %q, %d bytes skipped; want %q and 7", log, st.SkippedBytes, want)
	}
}

// TestRoles: the client of a flow picked up without its SYN or SYN/ACK:
// the side not on a well-known TLS port, then the side not on a port below
// 1024, else the first sender (reassembly/doc.go).
func TestRoles(t *testing.T) {
	ip := func(port uint16) netip.AddrPort { return netip.AddrPortFrom(cli.Addr(), port) }
	for _, tc := range []struct{ from, to, client uint16 }{
		{40000, 443, 40000}, {443, 40000, 40000}, {40000, 8443, 40000}, {8443, 40000, 40000},
		{40000, 25, 40000}, {25, 40000, 40000}, {8080, 40000, 8080}, {40000, 8080, 40000},
		{443, 993, 443}, {5061, 993, 5061}, {993, 5061, 5061}, {22, 25, 22}, {1023, 40000, 40000}, {1024, 40000, 1024}, {1024, 80, 1024}, {80, 1024, 1024},
	} {
		var client netip.AddrPort
		a := New(DefaultConfig, func(c, _ netip.AddrPort, _ time.Time, _ *flowstats.Stats, _ *budget.Account) Stream {
			client = c
			return &recorder{log: new([]string), client: c}
		})
		a.Add(&capture.Packet{Time: t0, Src: ip(tc.from), Dst: ip(tc.to), Flags: A, Seq: 1, Payload: []byte("x")})
		if client.Port() != tc.client {
			t.Errorf("%d to %d: client %d, want %d", tc.from, tc.to, client.Port(), tc.client)
		}
	}
}
