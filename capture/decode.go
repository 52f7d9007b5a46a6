package capture

import (
	"encoding/binary"
	"net/netip"
	"strings"

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
	gtp    layers.GTPv1U

	parsers map[layers.LinkType]*gopacket.DecodingLayerParser
	raw4    *gopacket.DecodingLayerParser // raw IP links start at IPv4 or IPv6
	raw6    *gopacket.DecodingLayerParser
	decoded []gopacket.LayerType
	tunnel  uint16            // tunnels of the frame being decoded
	names   map[uint16]string // tunnelName's cache
	defrag  defragmenter
	// The parser of the last link type: files rarely change it.
	lastLink   layers.LinkType
	lastParser *gopacket.DecodingLayerParser
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

// isPPP reports whether lt is PPP, bare or in HDLC-like framing (the
// links of dial-up, mobile data and PPP-over-serial captures).
func isPPP(lt layers.LinkType) bool { return lt == layers.LinkTypePPP || lt == layers.LinkTypePPP_HDLC }

// supported reports whether frames of link type lt can be decoded.
func supported(lt layers.LinkType) bool {
	_, ok := linkFirstLayer[lt]
	return ok || isRawIP(lt) || isPPP(lt)
}

func newDecoder() *decoder {
	d := &decoder{parsers: map[layers.LinkType]*gopacket.DecodingLayerParser{}, names: map[uint16]string{}}
	mk := func(first gopacket.LayerType) *gopacket.DecodingLayerParser {
		p := gopacket.NewDecodingLayerParser(first)
		// An array indexed by layer type: a map lookup per layer was 8% of
		// the whole pipeline's time (pprof, make bench).
		p.SetDecodingLayerContainer(gopacket.DecodingLayerSparse(nil))
		for _, l := range []gopacket.DecodingLayer{&d.eth, &d.dot1q, &d.sll, &d.sll2, &d.lo, &d.ip4, &d.ip6, &d.ip6ext,
			&d.ip6fr, &d.tcp, &d.udp, &d.gre, &d.erspan, &d.vxlan, &d.geneve, &d.gtp} {
			p.AddDecodingLayer(l)
		}
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
	resultUDP
	resultOther
	resultFragment
	resultError
)

// Tunnels and encapsulations a packet came through, as bits of a mask.
const (
	tunMPLS uint16 = 1 << iota
	tunPPPoE
	tunGRE
	tunERSPAN
	tunVXLAN
	tunGeneve
	tunIPinIP // IPv4 or IPv6 directly inside IPv4 or IPv6 (IP-in-IP, 6in4, 4in6)
	tunGTPU   // GTP-U, the user plane of mobile networks (UDP 2152)
	tunCAPWAP // CAPWAP data, wireless controllers' tunnels (UDP 5247)
)

var tunnelNames = []string{"mpls", "pppoe", "gre", "erspan", "vxlan", "geneve", "ip-in-ip", "gtp-u", "capwap"}

// tunnelName names the tunnels of mask, outermost first: "gre/erspan".
// Names are made once per mask, so decoding stays free of allocation.
func (d *decoder) tunnelName(mask uint16) string {
	if mask == 0 {
		return ""
	}
	if n, ok := d.names[mask]; ok {
		return n
	}
	var parts []string
	for i, n := range tunnelNames {
		if mask&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	d.names[mask] = strings.Join(parts, "/")
	return d.names[mask]
}

// maxNesting bounds how many encapsulations decode unwraps by hand (MPLS,
// PPPoE, ERSPAN III), so a crafted frame cannot loop.
const maxNesting = 8

// decode fills p from one frame. p.Payload aliases data, or the
// defragmenter's buffer for a reassembled datagram.
func (d *decoder) decode(lt layers.LinkType, data []byte, p *Packet) result {
	if lt == layers.LinkTypeEthernet && plainTCP(data, p) {
		return resultTCP
	}
	return d.decodeLayers(lt, data, p)
}

// decodeLayers decodes any frame with gopacket's parsers, unwrapping by
// hand what they stop at.
func (d *decoder) decodeLayers(lt layers.LinkType, data []byte, p *Packet) result {
	var parser *gopacket.DecodingLayerParser
	switch {
	case isRawIP(lt):
		parser = d.rawParser(data)
	case isPPP(lt):
		if data, parser = d.ppp(data); parser == nil {
			return resultOther // LCP, IPCP, …
		}
	case lt == d.lastLink && d.lastParser != nil:
		parser = d.lastParser
	default:
		parser = d.parsers[lt]
		d.lastLink, d.lastParser = lt, parser
	}
	if parser == nil {
		return resultError
	}
	d.tunnel = 0
	return d.walk(parser, data, p, 0)
}

// plainTCP decodes the frames most captures are made of by hand: Ethernet,
// then IPv4 without options or IPv6 without extension headers, whole and
// unfragmented, then TCP. Decoding them with gopacket's
// DecodingLayerParser was a third of the worker's time outside reassembly
// on bench/mix-1024.pcap (0.87 s of 8.56 s of CPU in a pprof of make
// bench's BenchmarkPipeline); by hand it is 0.11 s of the same run. It
// reports false for any other frame, which decode then walks with
// gopacket; a frame it takes fills p as the walk would (FuzzPlainTCP
// checks it against the walk).
func plainTCP(data []byte, p *Packet) bool {
	if len(data) < 14 {
		return false
	}
	var ip, seg []byte
	var src, dst netip.Addr
	switch binary.BigEndian.Uint16(data[12:14]) {
	case uint16(layers.EthernetTypeIPv4):
		ip = data[14:]
		// No options (IHL 5), the total length within the frame (0 is
		// TSO's, left to gopacket), no fragment, TCP.
		if len(ip) < 20 || ip[0]&0x0f != 5 || ip[9] != uint8(layers.IPProtocolTCP) || binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0 {
			return false
		}
		n := int(binary.BigEndian.Uint16(ip[2:4]))
		if n < 20 || n > len(ip) {
			return false
		}
		seg = ip[20:n]
		src, dst = netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
	case uint16(layers.EthernetTypeIPv6):
		ip = data[14:]
		// TCP right after the fixed header; a payload length of 0 (a
		// jumbogram) or past the frame is gopacket's.
		if len(ip) < 40 || ip[6] != uint8(layers.IPProtocolTCP) {
			return false
		}
		n := int(binary.BigEndian.Uint16(ip[4:6]))
		if n == 0 || n > len(ip)-40 {
			return false
		}
		seg = ip[40 : 40+n]
		src, dst = netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
	default:
		return false
	}
	if len(seg) < 20 {
		return false
	}
	off := int(seg[12]>>4) * 4
	if off < 20 || off > len(seg) {
		return false
	}
	p.Src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(seg[0:2]))
	p.Dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(seg[2:4]))
	p.Seq, p.Ack = binary.BigEndian.Uint32(seg[4:8]), binary.BigEndian.Uint32(seg[8:12])
	// FIN, SYN and RST are the wire's low bits; ACK is bit 4 there.
	p.Flags = seg[13]&(FlagFIN|FlagSYN|FlagRST) | (seg[13]>>1)&FlagACK
	p.Payload = seg[off:]
	p.Truncated, p.Tunnel, p.UDP = false, "", false
	return true
}

// rawParser is the parser for a raw IP packet, by its version nibble.
func (d *decoder) rawParser(data []byte) *gopacket.DecodingLayerParser {
	switch {
	case len(data) == 0:
		return nil
	case data[0]>>4 == 6:
		return d.raw6
	}
	return d.raw4
}

// walk decodes data with parser, then unwraps by hand what gopacket has no
// decoding layer for.
func (d *decoder) walk(parser *gopacket.DecodingLayerParser, data []byte, p *Packet, depth int) result {
	parser.Truncated = false
	err := parser.DecodeLayers(data, &d.decoded)
	truncated := parser.Truncated
	// The innermost IP layer before TCP names the endpoints: tunnels decode
	// their inner headers into the same structs, overwriting the outer ones.
	var ip, last gopacket.LayerType
	for _, t := range d.decoded {
		switch t {
		case layers.LayerTypeIPv4, layers.LayerTypeIPv6:
			if last == layers.LayerTypeIPv4 || last == layers.LayerTypeIPv6 || last == layers.LayerTypeIPv6Fragment {
				d.tunnel |= tunIPinIP
			}
			ip = t
		case layers.LayerTypeGRE:
			d.tunnel |= tunGRE
		case layers.LayerTypeERSPANII:
			d.tunnel |= tunERSPAN
		case layers.LayerTypeVXLAN:
			d.tunnel |= tunVXLAN
		case layers.LayerTypeGeneve:
			d.tunnel |= tunGeneve
		case layers.LayerTypeGTPv1U:
			d.tunnel |= tunGTPU
		case layers.LayerTypeIPv6Fragment:
			return d.fragment6(p)
		case layers.LayerTypeTCP:
			return d.fill(ip, truncated, p, false)
		}
		if t != layers.LayerTypeIPv6HopByHop && t != gopacket.LayerTypeZero {
			last = t
		}
	}
	if ip == layers.LayerTypeIPv4 && (d.ip4.Flags&layers.IPv4MoreFragments != 0 || d.ip4.FragOffset != 0) {
		return d.fragment4(p)
	}
	if last == layers.LayerTypeUDP {
		if depth < maxNesting && (d.udp.SrcPort == capwapData || d.udp.DstPort == capwapData) {
			if inner, next := d.capwap(d.udp.Payload); next != nil {
				d.tunnel |= tunCAPWAP
				return d.walk(next, inner, p, depth+1)
			}
		}
		// A datagram no tunnel decoder took: QUIC or DTLS, perhaps.
		return d.fill(ip, truncated, p, true)
	}
	if depth < maxNesting && len(d.decoded) > 0 {
		if inner, next, mask := d.unwrap(d.decoded[len(d.decoded)-1]); next != nil {
			d.tunnel |= mask
			return d.walk(next, inner, p, depth+1)
		}
	}
	if err != nil {
		return resultError
	}
	return resultOther
}

// EtherTypes gopacket decodes no further.
const (
	etherMPLS         layers.EthernetType = 0x8847
	etherMPLSMulti    layers.EthernetType = 0x8848
	etherPPPoESession layers.EthernetType = 0x8864
	etherERSPANIII    layers.EthernetType = 0x22EB
)

// unwrap takes the encapsulation that follows the last decoded layer, when
// it is one gopacket stops at: an MPLS label stack (RFC 3032), a PPPoE
// session header and PPP protocol (RFC 2516), an ERSPAN type III header.
// It returns the inner bytes and the parser for them, or a nil parser.
func (d *decoder) unwrap(last gopacket.LayerType) ([]byte, *gopacket.DecodingLayerParser, uint16) {
	var typ layers.EthernetType
	var payload []byte
	switch last {
	case layers.LayerTypeEthernet:
		typ, payload = d.eth.EthernetType, d.eth.Payload
	case layers.LayerTypeDot1Q:
		typ, payload = d.dot1q.Type, d.dot1q.Payload
	case layers.LayerTypeGRE:
		typ, payload = d.gre.Protocol, d.gre.Payload
	default:
		return nil, nil, 0
	}
	switch typ {
	case etherMPLS, etherMPLSMulti:
		for len(payload) >= 4 {
			bottom := payload[2]&1 != 0
			payload = payload[4:]
			if bottom {
				// No protocol field: the first nibble tells IPv4 from IPv6.
				return payload, d.rawParser(payload), tunMPLS
			}
		}
	case etherPPPoESession:
		if len(payload) < 8 {
			return nil, nil, 0
		}
		inner := payload[8:]
		switch binary.BigEndian.Uint16(payload[6:8]) {
		case 0x0021:
			return inner, d.raw4, tunPPPoE
		case 0x0057:
			return inner, d.raw6, tunPPPoE
		}
	case etherERSPANIII:
		// 12 bytes, and an 8-byte platform subheader when the O bit is set.
		if len(payload) < 12 {
			return nil, nil, 0
		}
		n := 12
		if payload[11]&1 != 0 {
			n += 8
		}
		if len(payload) >= n {
			return payload[n:], d.parsers[layers.LinkTypeEthernet], tunGRE | tunERSPAN
		}
	}
	return nil, nil, 0
}

// ppp takes a PPP frame's header off (RFC 1661; the address and control
// bytes of RFC 1662 when present, a protocol field of one byte or two) and
// returns the IP packet it carries with its parser, or a nil parser.
func (d *decoder) ppp(data []byte) ([]byte, *gopacket.DecodingLayerParser) {
	if len(data) >= 2 && data[0] == 0xff && data[1] == 0x03 {
		data = data[2:]
	}
	if len(data) == 0 {
		return nil, nil
	}
	protocol := uint16(data[0])
	if data[0]&1 == 0 { // not compressed to one byte
		if len(data) < 2 {
			return nil, nil
		}
		protocol, data = binary.BigEndian.Uint16(data), data[1:]
	}
	switch data = data[1:]; protocol {
	case 0x21:
		return data, d.raw4
	case 0x57:
		return data, d.raw6
	}
	return nil, nil
}

// capwapData is the UDP port of CAPWAP's data channel (RFC 5415).
const capwapData = 5247

// capwap takes a CAPWAP data packet's header off (RFC 5415, section 4.3)
// and returns the frame it carries, IEEE 802.3 or, natively, an IEEE
// 802.11 data frame (RFC 5416), as an IP packet or Ethernet frame with its
// parser; a nil parser for a packet protected by DTLS, a fragment, or a
// frame without IP.
func (d *decoder) capwap(b []byte) ([]byte, *gopacket.DecodingLayerParser) {
	if len(b) < 8 || b[0] != 0 { // preamble: version 0, type 0 (1 is DTLS)
		return nil, nil
	}
	hlen := int(b[1]>>3) * 4
	wbid, native, fragment := b[2]>>1&0x1f, b[2]&1 != 0, b[3]&0x80 != 0
	if hlen < 8 || len(b) < hlen || fragment {
		return nil, nil
	}
	switch frame := b[hlen:]; {
	case !native:
		return frame, d.parsers[layers.LinkTypeEthernet]
	case wbid == 1:
		return d.dot11(frame)
	}
	return nil, nil
}

// dot11 takes an IEEE 802.11 data frame apart: its header (a fourth
// address between two distribution systems, QoS and HT control fields)
// and the LLC/SNAP header after it. Cisco's controllers send the two bytes
// of the frame control swapped (Wireshark's capwap.swap_fc, on by
// default); they are read in the order that makes a data frame. It returns
// the IP packet with its parser, or a nil parser for another kind of frame
// or a protected one.
func (d *decoder) dot11(f []byte) ([]byte, *gopacket.DecodingLayerParser) {
	if len(f) < 24 {
		return nil, nil
	}
	fc, flags := f[0], f[1]
	if fc>>2&3 != 2 {
		fc, flags = flags, fc
	}
	if fc>>2&3 != 2 || flags&0x40 != 0 { // a data frame, not protected
		return nil, nil
	}
	n := 24
	if flags&3 == 3 { // to and from the distribution system
		n += 6
	}
	if fc&0x80 != 0 { // QoS data
		n += 2
		if flags&0x80 != 0 { // +HTC
			n += 4
		}
	}
	if len(f) < n+8 || f[n] != 0xaa || f[n+1] != 0xaa || f[n+2] != 0x03 {
		return nil, nil
	}
	switch binary.BigEndian.Uint16(f[n+6:]) {
	case uint16(layers.EthernetTypeIPv4):
		return f[n+8:], d.raw4
	case uint16(layers.EthernetTypeIPv6):
		return f[n+8:], d.raw6
	}
	return nil, nil
}

// fill sets p from the decoded IP layer and the TCP (or, when udp, UDP)
// header.
func (d *decoder) fill(ip gopacket.LayerType, truncated bool, p *Packet, udp bool) result {
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
	p.Truncated = truncated
	p.Tunnel = d.tunnelName(d.tunnel)
	p.UDP = udp
	if udp {
		p.Src = netip.AddrPortFrom(src, uint16(d.udp.SrcPort))
		p.Dst = netip.AddrPortFrom(dst, uint16(d.udp.DstPort))
		p.Seq, p.Ack, p.Flags = 0, 0, 0
		p.Payload = d.udp.Payload
		return resultUDP
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
	return resultTCP
}
