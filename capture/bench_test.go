package capture

import (
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/tlssniff/tlssniff/internal/benchfile"
)

// BenchmarkReadLoop is the floor every analyzer stands on: pcapgo reading
// the file and one DecodingLayerParser decoding Ethernet, IP and TCP, and
// nothing else.
func BenchmarkReadLoop(b *testing.B) { readLoop(b) }

func readLoop(b *testing.B) {
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

// BenchmarkCoreRoundTrip is how long a cache line written on one core
// takes to be read on another and answered: what a pipeline pays whenever
// what one core wrote is read on the other, as the reader's packets are by
// the workers. make bench prints it beside each capture's figures: on a
// virtual machine it changes as the host moves the virtual CPUs (100 ns
// where the two share a cache, 450 where they do not, in the same hour on
// the machine of make bench's figures in the README), and with it the
// pipeline's CPU per connection, not the read loop's.
func BenchmarkCoreRoundTrip(b *testing.B) {
	if runtime.GOMAXPROCS(0) < 2 {
		b.Skip("one CPU")
	}
	const trips = 100_000 // round trips an op
	var line atomic.Int64
	done := make(chan struct{})
	// Each side waits for the other's last number and writes the next.
	volley := func(first int64) {
		for i := first; i < 2*trips*int64(b.N); i += 2 {
			for line.Load() != i {
			}
			line.Store(i + 1)
		}
	}
	go func() {
		runtime.LockOSThread() // its own thread, which the kernel gives the other CPU
		volley(1)
		close(done)
	}()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	volley(0)
	<-done
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(trips*b.N), "ns/roundtrip")
}
