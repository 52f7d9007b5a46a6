package pipeline

import (
	"fmt"
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
		res := Run(samples(t), Config{Reassembly: reassembly.DefaultConfig, Workers: n}, &stop,
			func(c *parser.Connection) { got = append(got, summary(c)) })
		if res.ReadErr != nil || !slices.Equal(got, want) {
			t.Errorf("%d workers (%v): %d connections\n%q\nwant %d\n%q", n, res.ReadErr, len(got), got, len(want), want)
		}
		if res.Reassembly.Flows < uint64(len(want)) {
			t.Errorf("%d workers: %d flows counted for %d connections", n, res.Reassembly.Flows, len(want))
		}
	}
}

// TestRunStops: a write that sets stop ends the run early, as --count does.
func TestRunStops(t *testing.T) {
	var stop atomic.Bool
	n := 0
	Run(samples(t), Config{Reassembly: reassembly.DefaultConfig, Workers: 1}, &stop, func(*parser.Connection) {
		if n++; n == 2 {
			stop.Store(true)
		}
	})
	if all, _ := Read(samples(t), reassembly.DefaultConfig, nil); n >= len(all) {
		t.Errorf("%d connections written after the stop, of %d", n, len(all))
	}
}
