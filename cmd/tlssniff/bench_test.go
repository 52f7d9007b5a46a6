package main

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/tlssniff/tlssniff/internal/benchfile"
)

// BenchmarkPipeline runs the whole analysis over the capture make bench
// names, to compare with capture's BenchmarkReadLoop: NDJSON, the summary
// and the table, each with one worker, then with one per CPU. Besides the
// time it reports per connection the allocations, the CPU time (user and
// system, every thread) and the wall time.
func BenchmarkPipeline(b *testing.B) {
	for _, view := range []string{"json", "summary", "table"} {
		for _, workers := range []int{1, max(2, runtime.NumCPU())} {
			b.Run(fmt.Sprintf("%s/workers=%d", view, workers), func(b *testing.B) { benchPipeline(b, view, workers) })
		}
	}
}

func benchPipeline(b *testing.B, view string, workers int) {
	path := benchfile.Path(b)
	var lines countingWriter
	if code := run([]string{"-r", path, "--json"}, &lines, io.Discard); code != 0 {
		b.Fatalf("exit %d", code)
	}
	conns := float64(lines.n)
	b.ResetTimer()

	var ms runtime.MemStats
	var mallocs uint64
	var cpu time.Duration
	for i := 0; i < b.N; i++ {
		runtime.ReadMemStats(&ms)
		before, cpuBefore := ms.Mallocs, cpuTime(b)
		if code := run([]string{"-r", path, "--format", view, "--workers", strconv.Itoa(workers)}, io.Discard, io.Discard); code != 0 {
			b.Fatalf("exit %d", code)
		}
		cpu += cpuTime(b) - cpuBefore
		runtime.ReadMemStats(&ms)
		mallocs += ms.Mallocs - before
	}
	b.ReportMetric(float64(mallocs)/float64(b.N)/conns, "allocs/conn")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N)/conns, "cpu-µs/conn")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/conns, "µs/conn")
}

// countingWriter counts the lines written to it.
type countingWriter struct{ n int }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += bytes.Count(p, []byte("\n"))
	return len(p), nil
}

// cpuTime is the CPU time the process used so far, all threads.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
