package capture

import (
	"bufio"
	"io"
	"os"
	"runtime"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// benchFile is the capture make bench generates (samples/gen -bulk).
func benchFile(b *testing.B) (string, int64) {
	path := os.Getenv("TLSSNIFF_BENCH_FILE")
	if path == "" {
		b.Skip("set TLSSNIFF_BENCH_FILE to a capture (make bench does)")
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return path, st.Size()
}

// BenchmarkReadLoop is the floor every analyzer stands on: pcapgo reading
// the file and one DecodingLayerParser decoding Ethernet, IP and TCP, and
// nothing else.
func BenchmarkReadLoop(b *testing.B) {
	path, size := benchFile(b)
	b.SetBytes(size)
	b.ReportAllocs()
	var eth layers.Ethernet
	var ip4 layers.IPv4
	var ip6 layers.IPv6
	var tcp layers.TCP
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &ip4, &ip6, &tcp)
	parser.IgnoreUnsupported = true
	decoded := make([]gopacket.LayerType, 0, 8)
	var ms runtime.MemStats
	packets, mallocs := 0, uint64(0)
	for i := 0; i < b.N; i++ {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		r, err := pcapgo.NewReader(bufio.NewReaderSize(f, 1<<16))
		if err != nil {
			b.Fatal(err)
		}
		runtime.ReadMemStats(&ms)
		before := ms.Mallocs
		packets = 0
		for {
			data, _, err := r.ZeroCopyReadPacketData()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			parser.DecodeLayers(data, &decoded)
			packets++
		}
		runtime.ReadMemStats(&ms)
		mallocs += ms.Mallocs - before
		f.Close()
	}
	b.ReportMetric(float64(mallocs)/float64(b.N)/float64(packets), "allocs/pkt")
}
