package capture

import (
	"io"
	"testing"

	"github.com/tlssniff/tlssniff/internal/benchfile"
)

// BenchmarkFile reads the file as tlssniff does, its packets decoded in
// place (File.Next), and nothing else: the reader's share of a run, beside
// BenchmarkReadLoop, over the capture TLSSNIFF_BENCH_FILE names (make
// bench's: bench/mix-1024.pcap, 21,800 connections a GB, or the bulk one).
func BenchmarkFile(b *testing.B) {
	path := benchfile.Path(b)
	for b.Loop() {
		f, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		var p Packet
		for {
			if err := f.Next(&p); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
		f.Close()
	}
}
