package reassembly

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/tlssniff/tlssniff/budget"
	"github.com/tlssniff/tlssniff/capture"
	"github.com/tlssniff/tlssniff/flowstats"
)

// sink is a Stream that keeps what it is given.
type sink struct {
	data   [2][]byte
	gaps   int
	closed *int
	want   bool // wants bytes for ever
}

func (s *sink) Data(side int, data []byte, ts time.Time) bool {
	s.data[side] = append(s.data[side], data...)
	return s.want
}
func (s *sink) Gap(side int, n int, ts time.Time) { s.gaps++ }
func (s *sink) Cut(side int, n int, ts time.Time) { s.gaps++ }
func (s *sink) Shed()                             {}
func (s *sink) Close()                            { *s.closed++ }

// hostile returns an assembler whose streams want every byte, and counts
// of what it opened and closed.
func hostile(cfg Config) (*Assembler, *[]*sink, *int) {
	var streams []*sink
	closed := new(int)
	a := New(cfg, func(client, server netip.AddrPort, start time.Time, _ *flowstats.Stats, _ *budget.Account) Stream {
		s := &sink{closed: closed, want: true}
		streams = append(streams, s)
		return s
	})
	return a, &streams, closed
}

// addrOf spreads n over source addresses and ports.
func addrOf(n int) netip.AddrPort {
	var ip [4]byte
	binary.BigEndian.PutUint32(ip[:], 0x0a000000|uint32(n>>14))
	return netip.AddrPortFrom(netip.AddrFrom4(ip), uint16(1024+n&0x3fff))
}

// A SYN flood of a million flows keeps at most MaxFlows, evicting the
// least recently active, and closes every stream it opened.
func TestSYNFlood(t *testing.T) {
	cfg := DefaultConfig
	cfg.MaxFlows = 1 << 16
	a, streams, closed := hostile(cfg)
	const n = 1_000_000
	p := capture.Packet{Dst: srv, Flags: capture.FlagSYN}
	for i := range n {
		p.Src, p.Seq, p.Time = addrOf(i), uint32(i), t0.Add(time.Duration(i)*time.Microsecond)
		a.Add(&p)
		if len(a.flows) > cfg.MaxFlows {
			t.Fatalf("%d flows after %d SYNs", len(a.flows), i+1)
		}
	}
	a.Flush()
	if st := a.Stats(); st.Flows != n || st.Evicted != n-uint64(cfg.MaxFlows) || *closed != n || len(*streams) != n {
		t.Errorf("stats %+v, %d closed", st, *closed)
	}
}

// 100,000 handshakes left half open, each with data buffered behind a
// hole, stay within the memory budget and are all closed at the end.
func TestHalfOpenHandshakes(t *testing.T) {
	cfg := DefaultConfig
	cfg.Memory = 64 << 20
	a, streams, closed := hostile(cfg)
	const n = 100_000
	for i := range n {
		c := addrOf(i)
		ts := t0.Add(time.Duration(i) * time.Microsecond)
		a.Add(&capture.Packet{Time: ts, Src: c, Dst: srv, Seq: 100, Flags: capture.FlagSYN})
		a.Add(&capture.Packet{Time: ts, Src: srv, Dst: c, Seq: 500, Ack: 101, Flags: capture.FlagSYN | capture.FlagACK})
		// 100 bytes after a 100-byte hole: buffered, never completed.
		a.Add(&capture.Packet{Time: ts, Src: c, Dst: srv, Seq: 201, Flags: capture.FlagACK, Payload: make([]byte, 100)})
		if a.mem.Used() > cfg.Memory {
			t.Fatalf("%d bytes charged", a.mem.Used())
		}
	}
	a.Flush()
	if *closed != n || len(*streams) != n || a.mem.Used() != 0 || len(a.flows) != 0 {
		t.Errorf("%d closed, %d bytes charged, %d flows", *closed, a.mem.Used(), len(a.flows))
	}
}

// Overlapping segments with other bytes: the copy delivered first is read,
// and the conflict is counted.
func TestOverlapConflicts(t *testing.T) {
	for _, tc := range []struct {
		name      string
		segs      []seg
		want      string
		conflicts uint64
	}{
		{"a retransmission with other bytes", []seg{
			{flags: A, seq: 1, data: "GET /index"},
			{flags: A, seq: 5, data: "/evil.html"}}, "GET /indexhtml", 0}, // delivered bytes are gone: overlap only
		{"two buffered copies disagree", []seg{
			{flags: A, seq: 5, data: "/index"},
			{flags: A, seq: 5, data: "/evil!"},
			{flags: A, seq: 1, data: "GET "}}, "GET /index", 1},
		{"an in-order segment runs into a buffered one", []seg{
			{flags: A, seq: 5, data: "/index"},
			{flags: A, seq: 1, data: "GET /ev"}}, "GET /evdex", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, streams, _ := hostile(DefaultConfig)
			var fs *flowstats.Stats
			a.factory = func(client, server netip.AddrPort, start time.Time, st *flowstats.Stats, _ *budget.Account) Stream {
				fs = st
				s := &sink{closed: new(int), want: true}
				*streams = append(*streams, s)
				return s
			}
			for _, s := range append([]seg{{flags: S, seq: 0}}, tc.segs...) {
				a.Add(&capture.Packet{Time: t0, Src: cli, Dst: srv, Seq: s.seq, Flags: s.flags, Payload: []byte(s.data)})
			}
			if got := string((*streams)[0].data[0]); got != tc.want || fs.Conflicts != tc.conflicts || fs.Overlaps+fs.Retransmits == 0 {
				t.Errorf("read %q, %d conflicts, %d overlaps", got, fs.Conflicts, fs.Overlaps)
			}
		})
	}
}

// Sequence numbers that wrap past 2^32 in the middle of a handshake, with
// segments out of order across the wrap, come out in order.
func TestSequenceWraparound(t *testing.T) {
	a, streams, _ := hostile(DefaultConfig)
	isn := uint32(0xFFFFFFF0)
	msg := []byte("ClientHello across the wrap of the sequence space")
	add := func(off int, n int) {
		a.Add(&capture.Packet{Time: t0, Src: cli, Dst: srv, Seq: isn + 1 + uint32(off), Flags: capture.FlagACK, Payload: msg[off : off+n]})
	}
	a.Add(&capture.Packet{Time: t0, Src: cli, Dst: srv, Seq: isn, Flags: capture.FlagSYN})
	add(20, 10) // past the wrap, ahead of a hole
	add(0, 12)  // up to 0xFFFFFFFD..
	add(12, 8)  // crosses 2^32
	add(30, len(msg)-30)
	if got := (*streams)[0].data[0]; !bytes.Equal(got, msg) || (*streams)[0].gaps != 0 {
		t.Errorf("read %q, %d gaps", got, (*streams)[0].gaps)
	}
}

// Zero-window probes (one byte, again and again, then the full segment)
// and keep-alives (the byte before the window) change nothing.
func TestZeroWindowProbes(t *testing.T) {
	a, streams, _ := hostile(DefaultConfig)
	a.Add(&capture.Packet{Time: t0, Src: srv, Dst: cli, Seq: 999, Flags: capture.FlagSYN | capture.FlagACK})
	msg := []byte("ServerHello, Certificate, ServerHelloDone")
	a.Add(&capture.Packet{Time: t0, Src: srv, Dst: cli, Seq: 1000, Flags: capture.FlagACK, Payload: msg[:10]})
	for range 50 {
		a.Add(&capture.Packet{Time: t0, Src: srv, Dst: cli, Seq: 1010, Flags: capture.FlagACK, Payload: msg[10:11]}) // probe
		a.Add(&capture.Packet{Time: t0, Src: srv, Dst: cli, Seq: 1009, Flags: capture.FlagACK, Payload: msg[9:10]})  // keep-alive
	}
	a.Add(&capture.Packet{Time: t0, Src: srv, Dst: cli, Seq: 1010, Flags: capture.FlagACK, Payload: msg[10:]})
	if got := (*streams)[0].data[1]; !bytes.Equal(got, msg) {
		t.Errorf("read %q", got)
	}
}
