package main

import (
	"fmt"
	"io"
	"runtime"
	"strconv"
	"testing"

	"github.com/tlssniff/tlssniff/capture"
	"github.com/tlssniff/tlssniff/internal/benchfile"
)

// BenchmarkPipeline runs the whole analysis with NDJSON output over the
// capture make bench generates, to compare with capture's BenchmarkReadLoop:
// with one worker, then with one per CPU.
func BenchmarkPipeline(b *testing.B) {
	for _, workers := range []int{1, max(2, runtime.NumCPU())} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) { benchPipeline(b, workers) })
	}
}

func benchPipeline(b *testing.B, workers int) {
	path := benchfile.Path(b)
	f, err := capture.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	var p capture.Packet
	for f.Next(&p) == nil {
	}
	packets := f.Stats().Packets
	f.Close()

	var ms runtime.MemStats
	var mallocs uint64
	for i := 0; i < b.N; i++ {
		runtime.ReadMemStats(&ms)
		before := ms.Mallocs
		if code := run([]string{"-r", path, "--json", "--workers", strconv.Itoa(workers)}, io.Discard, io.Discard); code != 0 {
			b.Fatalf("exit %d", code)
		}
		runtime.ReadMemStats(&ms)
		mallocs += ms.Mallocs - before
	}
	b.ReportMetric(float64(mallocs)/float64(b.N)/float64(packets), "allocs/pkt")
}
