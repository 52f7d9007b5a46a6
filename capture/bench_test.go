package capture

import (
	"runtime"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/tlssniff/tlssniff/internal/benchfile"
)

// BenchmarkReadLoop is the floor every analyzer stands on: pcapgo reading
// the file and one DecodingLayerParser decoding Ethernet, IP and TCP, and
// nothing else.
func BenchmarkReadLoop(b *testing.B) {
	path := benchfile.Path(b)
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
		runtime.ReadMemStats(&ms)
		before := ms.Mallocs
		packets = benchfile.Frames(b, path, func(data []byte, _ gopacket.CaptureInfo) {
			parser.DecodeLayers(data, &decoded)
		})
		runtime.ReadMemStats(&ms)
		mallocs += ms.Mallocs - before
	}
	b.ReportMetric(float64(mallocs)/float64(b.N)/float64(packets), "allocs/pkt")
}
