// Package benchfile gives benchmarks the capture make bench generates
// (samples/gen -bulk), named by TLSSNIFF_BENCH_FILE.
package benchfile

import (
	"bufio"
	"io"
	"os"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/tlssniff/tlssniff/internal/testenv"
)

// Path returns the capture's path, after setting the benchmark's bytes per
// operation to its size and asking for allocation counts; without the file
// it skips the benchmark.
func Path(b *testing.B) string {
	path := testenv.OptIn(b, "TLSSNIFF_BENCH_FILE") // make bench sets it
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	b.ReportAllocs()
	return path
}

// Frames reads the pcap at path with a bare pcapgo loop and calls fn with
// each frame, valid until fn returns. It returns the number of frames.
func Frames(b *testing.B, path string, fn func(data []byte, ci gopacket.CaptureInfo)) int {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(bufio.NewReaderSize(f, 1<<16))
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for {
		data, ci, err := r.ZeroCopyReadPacketData()
		if err == io.EOF {
			return n
		}
		if err != nil {
			b.Fatal(err)
		}
		fn(data, ci)
		n++
	}
}
