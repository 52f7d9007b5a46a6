package capture

import (
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// TCP flags kept on a Packet.
const (
	FlagFIN uint8 = 1 << iota
	FlagSYN
	FlagRST
	FlagACK
)

// decoder turns link-layer frames into Packets with one reused
// DecodingLayerParser per link type; all of them share the same layer
// structs, so decoding allocates nothing per packet.
type decoder struct {
	eth    layers.Ethernet
	dot1q  layers.Dot1Q
	sll    layers.LinuxSLL
	sll2   layers.LinuxSLL2
	lo     layers.Loopback
	ip4    layers.IPv4
	ip6    layers.IPv6
	ip6ext layers.IPv6ExtensionSkipper
	ip6fr  layers.IPv6Fragment
	tcp    layers.TCP
	udp    layers.UDP
	gre    layers.GRE
	erspan layers.ERSPANII
	vxlan  layers.VXLAN
	geneve layers.Geneve

	parsers map[layers.LinkType]*gopacket.DecodingLayerParser
	raw4    *gopacket.DecodingLayerParser // raw IP links start at IPv4 or IPv6
	raw6    *gopacket.DecodingLayerParser
	decoded []gopacket.LayerType
}

// Link types a capture may use; raw IP has several numbers across platforms.
var linkFirstLayer = map[layers.LinkType]gopacket.LayerType{
	layers.LinkTypeEthernet:  layers.LayerTypeEthernet,
	layers.LinkTypeLinuxSLL:  layers.LayerTypeLinuxSLL,
	layers.LinkTypeLinuxSLL2: layers.LayerTypeLinuxSLL2,
	layers.LinkTypeNull:      layers.LayerTypeLoopback,
	layers.LinkTypeLoop:      layers.LayerTypeLoopback,
}

func isRawIP(lt layers.LinkType) bool {
	return lt == layers.LinkTypeRaw || lt == layers.LinkTypeIPv4 || lt == layers.LinkTypeIPv6 || lt == 12 || lt == 14
}

// supported reports whether frames of link type lt can be decoded.
func supported(lt layers.LinkType) bool {
	_, ok := linkFirstLayer[lt]
	return ok || isRawIP(lt)
}

func newDecoder() *decoder {
	d := &decoder{parsers: map[layers.LinkType]*gopacket.DecodingLayerParser{}}
	mk := func(first gopacket.LayerType) *gopacket.DecodingLayerParser {
		p := gopacket.NewDecodingLayerParser(first,
			&d.eth, &d.dot1q, &d.sll, &d.sll2, &d.lo, &d.ip4, &d.ip6, &d.ip6ext, &d.ip6fr,
			&d.tcp, &d.udp, &d.gre, &d.erspan, &d.vxlan, &d.geneve)
		p.IgnoreUnsupported = true // payloads of other protocols end the walk
		return p
	}
	for lt, first := range linkFirstLayer {
		d.parsers[lt] = mk(first)
	}
	d.raw4, d.raw6 = mk(layers.LayerTypeIPv4), mk(layers.LayerTypeIPv6)
	d.decoded = make([]gopacket.LayerType, 0, 16)
	return d
}

// result says what decode made of a frame.
type result uint8

const (
	resultTCP result = iota
	resultNotTCP
	resultFragment
	resultError
)

// decode fills p from one frame. p.Payload aliases data.
func (d *decoder) decode(lt layers.LinkType, data []byte, p *Packet) result {
	var parser *gopacket.DecodingLayerParser
	if isRawIP(lt) {
		if len(data) == 0 {
			return resultError
		}
		parser = d.raw4
		if data[0]>>4 == 6 {
			parser = d.raw6
		}
	} else if parser = d.parsers[lt]; parser == nil {
		return resultError
	}
	parser.Truncated = false
	err := parser.DecodeLayers(data, &d.decoded)
	// The innermost IP layer before TCP names the endpoints: tunnels decode
	// their inner headers into the same structs, overwriting the outer ones.
	var ip gopacket.LayerType
	for _, t := range d.decoded {
		switch t {
		case layers.LayerTypeIPv4, layers.LayerTypeIPv6:
			ip = t
		case layers.LayerTypeIPv6Fragment:
			return resultFragment
		case layers.LayerTypeTCP:
			return d.fill(ip, parser.Truncated, p)
		}
	}
	if ip == layers.LayerTypeIPv4 && (d.ip4.Flags&layers.IPv4MoreFragments != 0 || d.ip4.FragOffset != 0) {
		return resultFragment
	}
	if err != nil {
		return resultError
	}
	return resultNotTCP
}

func (d *decoder) fill(ip gopacket.LayerType, truncated bool, p *Packet) result {
	var src, dst netip.Addr
	switch ip {
	case layers.LayerTypeIPv4:
		src, _ = netip.AddrFromSlice(d.ip4.SrcIP.To4())
		dst, _ = netip.AddrFromSlice(d.ip4.DstIP.To4())
	case layers.LayerTypeIPv6:
		src, _ = netip.AddrFromSlice(d.ip6.SrcIP)
		dst, _ = netip.AddrFromSlice(d.ip6.DstIP)
	default:
		return resultError
	}
	t := &d.tcp
	p.Src = netip.AddrPortFrom(src, uint16(t.SrcPort))
	p.Dst = netip.AddrPortFrom(dst, uint16(t.DstPort))
	p.Seq, p.Ack = t.Seq, t.Ack
	p.Flags = 0
	if t.FIN {
		p.Flags |= FlagFIN
	}
	if t.SYN {
		p.Flags |= FlagSYN
	}
	if t.RST {
		p.Flags |= FlagRST
	}
	if t.ACK {
		p.Flags |= FlagACK
	}
	p.Payload = t.Payload
	p.Truncated = truncated
	return resultTCP
}
