package reassembly

import (
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	gpr "github.com/gopacket/gopacket/reassembly"

	"github.com/tlssniff/tlssniff/budget"
	"github.com/tlssniff/tlssniff/capture"
	"github.com/tlssniff/tlssniff/flowstats"
	"github.com/tlssniff/tlssniff/internal/benchfile"
)

// These two benchmarks put every byte of every stream in order, over the
// capture make bench generates, once with this package and once with
// gopacket/reassembly; doc.go gives the figures.

func BenchmarkAssembler(b *testing.B) {
	path := benchfile.Path(b)
	for i := 0; i < b.N; i++ {
		f, err := capture.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		a := New(DefaultConfig, func(client, server netip.AddrPort, start time.Time, _ *flowstats.Stats, _ *budget.Account) Stream {
			return discard{}
		})
		var p capture.Packet
		for f.Next(&p) == nil {
			a.Add(&p)
		}
		a.Flush()
		f.Close()
	}
}

type gpStream struct{}

func (gpStream) Accept(*layers.TCP, gopacket.CaptureInfo, gpr.TCPFlowDirection, gpr.Sequence, *bool, gpr.AssemblerContext) bool {
	return true
}
func (gpStream) ReassembledSG(sg gpr.ScatterGather, ac gpr.AssemblerContext) { sg.Lengths() }
func (gpStream) ReassemblyComplete(gpr.AssemblerContext) bool                { return true }

type gpFactory struct{}

func (gpFactory) New(netFlow, tcpFlow gopacket.Flow, tcp *layers.TCP, ac gpr.AssemblerContext) gpr.Stream {
	return gpStream{}
}

type gpContext struct{ ci gopacket.CaptureInfo }

func (c *gpContext) GetCaptureInfo() gopacket.CaptureInfo { return c.ci }

func BenchmarkGopacketAssembler(b *testing.B) {
	path := benchfile.Path(b)
	var eth layers.Ethernet
	var ip4 layers.IPv4
	var tcp layers.TCP
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &ip4, &tcp)
	parser.IgnoreUnsupported = true
	decoded := make([]gopacket.LayerType, 0, 8)
	for i := 0; i < b.N; i++ {
		a := gpr.NewAssembler(gpr.NewStreamPool(gpFactory{}))
		ctx := &gpContext{}
		benchfile.Frames(b, path, func(data []byte, ci gopacket.CaptureInfo) {
			if parser.DecodeLayers(data, &decoded); len(decoded) < 3 || decoded[2] != layers.LayerTypeTCP {
				return
			}
			ctx.ci = ci
			a.AssembleWithContext(ip4.NetworkFlow(), &tcp, ctx)
		})
		a.FlushAll()
	}
}
