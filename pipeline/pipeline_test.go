package pipeline

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/tlssniff/tlssniff/capture"
	"github.com/tlssniff/tlssniff/parser"
	"github.com/tlssniff/tlssniff/reassembly"
)

// samples opens every bundled sample, merged by time.
func samples(t *testing.T) capture.Source {
	t.Helper()
	names, _ := filepath.Glob("../samples/*.pcap*")
	var files []*capture.File
	for _, n := range names {
		f, err := capture.Open(n)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if len(files) < 10 {
		t.Fatalf("%d samples", len(files))
	}
	return capture.NewMerge(files...)
}

// summary names a connection by what the merge orders by and what was
// decided about it.
func summary(c *parser.Connection) string {
	return fmt.Sprintf("%s %s %s %s %d", c.Start.Format("15:04:05.000000"), c.Client, c.Server, c.Outcome, len(c.Messages))
}

// TestRunAnyWorkers: Run writes the same connections in the same order
// with one worker, with several (the flows sharded and merged), and as
// Read does.
func TestRunAnyWorkers(t *testing.T) {
	read, err := Read(samples(t), reassembly.DefaultConfig, nil)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, c := range read {
		want = append(want, summary(c))
	}
	for _, n := range []int{1, 2, 5} {
		var got []string
		var stop atomic.Bool
		res := Run(samples(t), Config{Reassembly: reassembly.DefaultConfig, Workers: n, StartOrder: true}, &stop,
			func(c *parser.Connection) { got = append(got, summary(c)) })
		if res.ReadErr != nil || !slices.Equal(got, want) {
			t.Errorf("%d workers (%v): %d connections\n%q\nwant %d\n%q", n, res.ReadErr, len(got), got, len(want), want)
		}
		if res.Reassembly.Flows < uint64(len(want)) {
			t.Errorf("%d workers: %d flows counted for %d connections", n, res.Reassembly.Flows, len(want))
		}
	}
}

// stopAfter is a source that sets stop once it has given n packets, as a
// signal would in the middle of a file.
type stopAfter struct {
	capture.Source
	n, read int
	stop    *atomic.Bool
}

func (s *stopAfter) Next(p *capture.Packet) error {
	if s.read++; s.read == s.n {
		s.stop.Store(true)
	}
	return s.Source.Next(p)
}

// TestRunStops: once stop is set the source is read no further, with one
// worker or several, and what was decided is still written.
func TestRunStops(t *testing.T) {
	for _, n := range []int{1, 3} {
		var stop atomic.Bool
		src := &stopAfter{Source: samples(t), n: 100, stop: &stop}
		written := 0
		Run(src, Config{Reassembly: reassembly.DefaultConfig, Workers: n}, &stop, func(*parser.Connection) { written++ })
		if src.read != 100 || written == 0 {
			t.Errorf("%d workers: %d packets read after a stop at the 100th, %d connections written", n, src.read, written)
		}
	}
}

// TestShardOf: a flow's two directions go to one worker, and flows that
// differ only in the client's port, or only in its address (IPv4, IPv6 or
// IPv4 in IPv6), spread evenly over the workers.
func TestShardOf(t *testing.T) {
	server4, server6 := netip.MustParseAddrPort("192.0.2.1:443"), netip.MustParseAddrPort("[2001:db8::1]:443")
	const flows = 4096
	for _, vary := range []struct {
		name   string
		client func(i int) netip.AddrPort
		server netip.AddrPort
	}{
		{"IPv4 port", func(i int) netip.AddrPort {
			return netip.AddrPortFrom(netip.MustParseAddr("198.51.100.7"), uint16(32768+i))
		}, server4},
		{"IPv4 address", func(i int) netip.AddrPort {
			return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1}), 50000)
		}, server4},
		{"IPv6 port", func(i int) netip.AddrPort {
			return netip.AddrPortFrom(netip.MustParseAddr("2001:db8::7"), uint16(32768+i))
		}, server6},
		{"IPv6 address", func(i int) netip.AddrPort {
			return netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)}), 50000)
		}, server6},
		{"IPv4 in IPv6 port", func(i int) netip.AddrPort {
			return netip.AddrPortFrom(netip.MustParseAddr("::ffff:198.51.100.7"), uint16(32768+i))
		}, netip.MustParseAddrPort("[::ffff:192.0.2.1]:443")},
	} {
		for _, n := range []int{2, 3, 8} {
			counts := make([]int, n)
			for i := range flows {
				c := vary.client(i)
				s := shardOf(c, vary.server, n)
				if back := shardOf(vary.server, c, n); back != s {
					t.Fatalf("%s, %d workers: %v to %v on worker %d, back on %d", vary.name, n, c, vary.server, s, back)
				}
				if s < 0 || s >= n {
					t.Fatalf("%s: worker %d of %d", vary.name, s, n)
				}
				counts[s]++
			}
			for w, k := range counts {
				if fair := flows / n; k < fair*8/10 || k > fair*12/10 {
					t.Errorf("%s, %d workers: worker %d has %d flows of %d (%v)", vary.name, n, w, k, flows, counts)
				}
			}
		}
	}
}
