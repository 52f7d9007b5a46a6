package reassembly

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tlssniff/tlssniff/budget"
	"github.com/tlssniff/tlssniff/capture"
	"github.com/tlssniff/tlssniff/flowstats"
	"github.com/tlssniff/tlssniff/reorder"
)

var (
	cli = netip.MustParseAddrPort("10.0.0.1:40000")
	srv = netip.MustParseAddrPort("10.0.0.2:443")
	t0  = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

// recorder is a Stream that logs what it is given, as readable lines.
type recorder struct {
	log    *[]string
	client netip.AddrPort
	stop   map[int]int // side: stop wanting after this many bytes
	got    [2]int
	// stats, when set, is given the flow's stats at Close, the last the
	// stream may read them: the assembler reuses a closed flow.
	stats, fs *flowstats.Stats
}

func (r *recorder) Data(side int, data []byte, ts time.Time) bool {
	*r.log = append(*r.log, fmt.Sprintf("data %d %q", side, data))
	r.got[side] += len(data)
	limit, ok := r.stop[side]
	return !ok || r.got[side] < limit
}

func (r *recorder) Gap(side int, n int, ts time.Time) {
	*r.log = append(*r.log, fmt.Sprintf("gap %d %d", side, n))
}

func (r *recorder) Cut(side int, n int, ts time.Time) {
	*r.log = append(*r.log, fmt.Sprintf("cut %d %d", side, n))
}

func (r *recorder) Shed() { *r.log = append(*r.log, "shed") }

func (r *recorder) Close() {
	*r.log = append(*r.log, "close "+r.client.String())
	if r.stats != nil {
		*r.stats = *r.fs
	}
}

// seg is a segment in a step table: from the client unless server is set.
type seg struct {
	server  bool
	flags   uint8
	seq     uint32
	ack     uint32
	data    string
	missing int
	at      time.Duration
	src     netip.AddrPort // another flow's client, when set
}

const (
	S = capture.FlagSYN
	A = capture.FlagACK
	F = capture.FlagFIN
	R = capture.FlagRST
)

func run(cfg Config, stop map[int]int, segs []seg) ([]string, Stats) {
	var log []string
	a := New(cfg, func(client, server netip.AddrPort, start time.Time, _ *flowstats.Stats, _ *budget.Account) Stream {
		log = append(log, "open "+client.String())
		return &recorder{log: &log, client: client, stop: stop}
	})
	for _, s := range segs {
		src, dst := cli, srv
		if s.src.IsValid() {
			src = s.src
		}
		if s.server {
			src, dst = dst, src
		}
		p := capture.Packet{Time: t0.Add(s.at), Src: src, Dst: dst, Seq: s.seq, Ack: s.ack, Flags: s.flags,
			Payload: []byte(s.data), Missing: s.missing}
		a.Add(&p)
	}
	a.Flush()
	return log, a.Stats()
}

func TestAssembler(t *testing.T) {
	const c, s = 1000, 5000 // initial sequence numbers
	handshake := []seg{{flags: S, seq: c - 1}, {server: true, flags: S | A, seq: s - 1, ack: c}, {flags: A, seq: c, ack: s}}
	with := func(more ...seg) []seg { return append(append([]seg(nil), handshake...), more...) }
	for _, tc := range []struct {
		name  string
		cfg   func(*Config)
		stop  map[int]int
		segs  []seg
		want  []string
		stats func(Stats) string
	}{
		{name: "in order, closed by FIN", segs: with(
			seg{flags: A, seq: c, ack: s, data: "hello"},
			seg{server: true, flags: A, seq: s, ack: c + 5, data: "world"},
			seg{flags: F | A, seq: c + 5, ack: s + 5},
			seg{server: true, flags: F | A, seq: s + 5, ack: c + 6}),
			want: []string{"open 10.0.0.1:40000", `data 0 "hello"`, `data 1 "world"`, "close 10.0.0.1:40000"}},
		{name: "out of order", segs: with(
			seg{flags: A, seq: c + 3, data: "def"},
			seg{flags: A, seq: c, data: "abc"}),
			want:  []string{"open 10.0.0.1:40000", `data 0 "abc"`, `data 0 "def"`, "close 10.0.0.1:40000"},
			stats: func(s Stats) string { return fmt.Sprint(s.OutOfOrder) }},
		{name: "retransmission and overlap", segs: with(
			seg{flags: A, seq: c, data: "abcd"},
			seg{flags: A, seq: c, data: "abcd"},
			seg{flags: A, seq: c + 2, data: "cdef"}),
			want: []string{"open 10.0.0.1:40000", `data 0 "abcd"`, `data 0 "ef"`, "close 10.0.0.1:40000"}},
		{name: "sequence numbers wrap", segs: []seg{
			{flags: S, seq: 0xfffffffd},
			{flags: A, seq: 0x00000002, data: "cd"},
			{flags: A, seq: 0xfffffffe, data: "xyab"}},
			want: []string{"open 10.0.0.1:40000", `data 0 "xyab"`, `data 0 "cd"`, "close 10.0.0.1:40000"}},
		{name: "hole declared when the peer acknowledges past it", segs: with(
			seg{flags: A, seq: c, data: "aaaa"},
			seg{flags: A, seq: c + 8, data: "cccc"},
			seg{server: true, flags: A, seq: s, ack: c + 12}),
			want: []string{"open 10.0.0.1:40000", `data 0 "aaaa"`, "gap 0 4", `data 0 "cccc"`, "close 10.0.0.1:40000"}},
		{name: "hole given up at close", segs: with(
			seg{flags: A, seq: c, data: "aaaa"},
			seg{flags: A, seq: c + 8, data: "cccc"},
			seg{flags: R, seq: c + 12}),
			want: []string{"open 10.0.0.1:40000", `data 0 "aaaa"`, "gap 0 4", `data 0 "cccc"`, "close 10.0.0.1:40000"}},
		{name: "bytes cut by the snapshot length", segs: with(
			seg{flags: A, seq: c, data: "abc", missing: 97},
			seg{flags: A, seq: c + 100, data: "next"}),
			want: []string{"open 10.0.0.1:40000", `data 0 "abc"`, "gap 0 97", `data 0 "next"`, "close 10.0.0.1:40000"}},
		{name: "picked up mid-stream: the TLS port is the server", segs: []seg{
			{server: true, flags: A, seq: 77, data: "from server"},
			{flags: A, seq: 500, data: "from client"}},
			want: []string{"open 10.0.0.1:40000", `data 1 "from server"`, `data 0 "from client"`, "close 10.0.0.1:40000"}},
		{name: "SYN lost, SYN/ACK seen", segs: []seg{
			{server: true, flags: S | A, seq: s - 1, ack: c},
			{flags: A, seq: c, data: "hi"}},
			want: []string{"open 10.0.0.1:40000", `data 0 "hi"`, "close 10.0.0.1:40000"}},
		{name: "a side wanting no more is skipped", stop: map[int]int{0: 3}, segs: with(
			seg{flags: A, seq: c, data: "abc"},
			seg{flags: A, seq: c + 6, data: "ghi"},
			seg{flags: A, seq: c + 3, data: "def"},
			seg{server: true, flags: A, seq: s, data: "srv"}),
			want:  []string{"open 10.0.0.1:40000", `data 0 "abc"`, `data 1 "srv"`, "close 10.0.0.1:40000"},
			stats: func(s Stats) string { return fmt.Sprint(s.SkippedBytes) }},
		{name: "flow buffer full (room for one small segment): the hole is given up", cfg: func(c *Config) { c.MaxFlowBuffer = reorder.PieceCost + 8 }, segs: with(
			seg{flags: A, seq: c + 2, data: "cd"},
			seg{flags: A, seq: c + 4, data: "efgh"}),
			want: []string{"open 10.0.0.1:40000", "cut 0 2", `data 0 "cd"`, `data 0 "efgh"`, "close 10.0.0.1:40000"}},
		{name: "least recently active flow evicted", cfg: func(c *Config) { c.MaxFlows = 1 }, segs: []seg{
			{flags: S, seq: 1},
			{src: netip.MustParseAddrPort("10.0.0.3:40001"), flags: S, seq: 1}},
			want:  []string{"open 10.0.0.1:40000", "close 10.0.0.1:40000", "open 10.0.0.3:40001", "close 10.0.0.3:40001"},
			stats: func(s Stats) string { return fmt.Sprint(s.Evicted) }},
		{name: "idle flow closed by capture time", cfg: func(c *Config) { c.IdleTimeout = time.Minute }, segs: []seg{
			{flags: S, seq: 1},
			{src: netip.MustParseAddrPort("10.0.0.3:40001"), flags: S, seq: 1, at: 2 * time.Minute}},
			want:  []string{"open 10.0.0.1:40000", "close 10.0.0.1:40000", "open 10.0.0.3:40001", "close 10.0.0.3:40001"},
			stats: func(s Stats) string { return fmt.Sprint(s.IdleClosed) }},
		{name: "a stalled stream is ended at MaxAge, its flow kept", cfg: func(c *Config) { c.MaxAge = 30 * time.Second }, segs: []seg{
			{flags: S, seq: 1},
			{flags: A, seq: 2, data: "a", at: 20 * time.Second},
			{flags: A, seq: 3, data: "b", at: 40 * time.Second}, // ended before this one
			{flags: A, seq: 4, data: "c", at: 50 * time.Second}},
			want:  []string{"open 10.0.0.1:40000", `data 0 "a"`, "close 10.0.0.1:40000"},
			stats: func(s Stats) string { return fmt.Sprint(s.Aged) }},
		{name: "a bare ACK opens nothing", segs: []seg{{flags: A, seq: 1, ack: 1}}, want: nil},
		// The reset flow's struct is reused for the new one on the same
		// ports while the list of lingering flows still names it: the
		// sweep at 3s must not close the new flow, idle for less than
		// IdleTimeout.
		{name: "ports reused after a RST: the new flow outlives the old one's lingering", segs: []seg{
			{flags: S, seq: 1},
			{flags: R, seq: 2},
			{flags: S, seq: 100, at: 100 * time.Millisecond},
			{flags: A, seq: 101, data: "x", at: 200 * time.Millisecond},
			{src: netip.MustParseAddrPort("10.0.0.3:40001"), flags: S, seq: 1, at: 3 * time.Second}},
			want: []string{"open 10.0.0.1:40000", "close 10.0.0.1:40000", "open 10.0.0.1:40000", `data 0 "x"`,
				"open 10.0.0.3:40001", "close 10.0.0.1:40000", "close 10.0.0.3:40001"}},
		// Two clients on the same port share a slot of the recent flows:
		// each packet still goes to its own flow.
		{name: "two flows on the same ports, their packets interleaved", segs: []seg{
			{flags: S, seq: 1},
			{src: netip.MustParseAddrPort("10.0.0.3:40000"), flags: S, seq: 1000},
			{flags: A, seq: 2, data: "aa"},
			{src: netip.MustParseAddrPort("10.0.0.3:40000"), flags: A, seq: 1001, data: "bb"},
			{flags: A, seq: 4, data: "cc"},
			{src: netip.MustParseAddrPort("10.0.0.3:40000"), flags: A, seq: 1003, data: "dd"}},
			want: []string{"open 10.0.0.1:40000", "open 10.0.0.3:40000", `data 0 "aa"`, `data 0 "bb"`, `data 0 "cc"`, `data 0 "dd"`,
				"close 10.0.0.1:40000", "close 10.0.0.3:40000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			got, stats := run(cfg, tc.stop, tc.segs)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
			if tc.stats != nil && tc.stats(stats) == "0" {
				t.Errorf("the counter for this case stayed 0: %+v", stats)
			}
		})
	}
}

// A stream that wants nothing more (its handshake is decided) is not aged.
func TestAssemblerDecidedStreamsDoNotAge(t *testing.T) {
	cfg := DefaultConfig
	cfg.MaxAge = 30 * time.Second
	log, stats := run(cfg, map[int]int{0: 1, 1: 1}, []seg{
		{flags: S, seq: 1},
		{flags: A, seq: 2, data: "a"},
		{server: true, flags: A, seq: 1, data: "b"},
		{flags: A, seq: 3, data: "c", at: 40 * time.Second}})
	if stats.Aged != 0 || len(log) != 4 {
		t.Errorf("aged %d, log %q", stats.Aged, log)
	}
}

// Delivering in-order data copies nothing and allocates nothing.
func TestAssemblerInOrderAllocs(t *testing.T) {
	a := New(DefaultConfig, func(client, server netip.AddrPort, start time.Time, _ *flowstats.Stats, _ *budget.Account) Stream {
		return discard{}
	})
	p := capture.Packet{Time: t0, Src: cli, Dst: srv, Flags: S, Seq: 0}
	a.Add(&p)
	payload := make([]byte, 1400)
	p.Flags, p.Seq, p.Payload = A, 1, payload
	allocs := testing.AllocsPerRun(1000, func() {
		a.Add(&p)
		p.Seq += uint32(len(payload))
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per in-order segment", allocs)
	}
}

type discard struct{}

func (discard) Data(int, []byte, time.Time) bool { return true }
func (discard) Gap(int, int, time.Time)          {}
func (discard) Cut(int, int, time.Time)          {}
func (discard) Shed()                            {}
func (discard) Close()                           {}

// A retransmitted out-of-order segment is kept once: twice would spend the
// buffer budget and give up a hole that was about to fill.
func TestAssemblerBuffersOneCopy(t *testing.T) {
	cfg := DefaultConfig
	cfg.MaxFlowBuffer = reorder.PieceCost + 8 // one segment of up to 8 bytes
	got, stats := run(cfg, nil, []seg{
		{flags: S, seq: 99},
		{flags: A, seq: 103, data: "def"},
		{flags: A, seq: 103, data: "def"},
		{flags: A, seq: 104, data: "ef"},
		{flags: A, seq: 100, data: "abc"},
	})
	want := []string{"open 10.0.0.1:40000", `data 0 "abc"`, `data 0 "def"`, "close 10.0.0.1:40000"}
	if !reflect.DeepEqual(got, want) || stats.Retransmits != 2 || stats.Gaps != 0 {
		t.Errorf("got %q, stats %+v", got, stats)
	}
}
