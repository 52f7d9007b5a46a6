package capture

import (
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Limits of IP reassembly: at most maxDatagrams datagrams of at most
// maxDatagramLen bytes are pending (16 MiB), whatever the traffic; a new
// datagram beyond them drops the oldest.
const (
	maxDatagrams   = 256
	maxDatagramLen = 65535
)

// fragKey identifies the fragments of one datagram (RFC 791, RFC 8200
// section 4.5).
type fragKey struct {
	src, dst netip.Addr
	id       uint32
	proto    uint8
}

// datagram is one datagram being put back together.
type datagram struct {
	data   []byte
	have   []span // received byte ranges, sorted and merged
	total  int    // length, known once the last fragment came; else -1
	serial uint64 // arrival order, to drop the oldest
}

type span struct{ from, to int }

// defragmenter reassembles IPv4 and IPv6 fragments with bounded memory.
type defragmenter struct {
	pending map[fragKey]*datagram
	serial  uint64
	dropped uint64 // datagrams given up to stay under the limits
}

// add takes one fragment: offset and payload of the fragment, more is set
// on all but the last. It returns the whole datagram's payload once every
// byte has come.
func (f *defragmenter) add(k fragKey, offset int, more bool, payload []byte) ([]byte, bool) {
	end := offset + len(payload)
	if end > maxDatagramLen {
		return nil, false
	}
	if f.pending == nil {
		f.pending = map[fragKey]*datagram{}
	}
	g := f.pending[k]
	if g == nil {
		for len(f.pending) >= maxDatagrams {
			f.dropOldest()
		}
		f.serial++
		g = &datagram{total: -1, serial: f.serial}
		f.pending[k] = g
	}
	if end > len(g.data) {
		g.data = append(g.data, make([]byte, end-len(g.data))...)
	}
	// Overlapping bytes: the first copy received wins (RFC 5722 forbids
	// overlaps in IPv6; keeping what came first is what most stacks do).
	copyGaps(g, offset, payload)
	if !more {
		g.total = end
	}
	if g.total < 0 || len(g.have) != 1 || g.have[0].from != 0 || g.have[0].to < g.total {
		return nil, false
	}
	delete(f.pending, k)
	return g.data[:g.total], true
}

// copyGaps copies the parts of payload at offset that no earlier fragment
// held, and records them.
func copyGaps(g *datagram, offset int, payload []byte) {
	end := offset + len(payload)
	pos := offset
	for _, s := range g.have {
		if s.to <= pos || s.from >= end {
			continue
		}
		if s.from > pos {
			copy(g.data[pos:s.from], payload[pos-offset:s.from-offset])
		}
		pos = max(pos, s.to)
	}
	if pos < end {
		copy(g.data[pos:end], payload[pos-offset:])
	}
	g.have = append(g.have, span{offset, end})
	// Merge: few spans per datagram, so a simple pass suffices.
	spans := g.have
	for i := 1; i < len(spans); i++ {
		for j := i; j > 0 && spans[j].from < spans[j-1].from; j-- {
			spans[j], spans[j-1] = spans[j-1], spans[j]
		}
	}
	merged := spans[:1]
	for _, s := range spans[1:] {
		last := &merged[len(merged)-1]
		if s.from <= last.to {
			last.to = max(last.to, s.to)
		} else {
			merged = append(merged, s)
		}
	}
	g.have = merged
}

func (f *defragmenter) dropOldest() {
	var oldest fragKey
	var o *datagram
	for k, g := range f.pending {
		if o == nil || g.serial < o.serial {
			oldest, o = k, g
		}
	}
	delete(f.pending, oldest)
	f.dropped++
}

// fragment4 takes the IPv4 fragment just decoded.
func (d *decoder) fragment4(p *Packet) result {
	ip := &d.ip4
	src, _ := netip.AddrFromSlice(ip.SrcIP.To4())
	dst, _ := netip.AddrFromSlice(ip.DstIP.To4())
	whole, ok := d.defrag.add(fragKey{src, dst, uint32(ip.Id), uint8(ip.Protocol)}, int(ip.FragOffset)*8,
		ip.Flags&layers.IPv4MoreFragments != 0, ip.Payload)
	if !ok {
		return resultFragment
	}
	return d.reassembled(layers.LayerTypeIPv4, ip.Protocol, whole, p)
}

// fragment6 takes the IPv6 fragment just decoded.
func (d *decoder) fragment6(p *Packet) result {
	fr := &d.ip6fr
	src, _ := netip.AddrFromSlice(d.ip6.SrcIP)
	dst, _ := netip.AddrFromSlice(d.ip6.DstIP)
	whole, ok := d.defrag.add(fragKey{src, dst, fr.Identification, uint8(fr.NextHeader)}, int(fr.FragmentOffset)*8,
		fr.MoreFragments, fr.Payload)
	if !ok {
		return resultFragment
	}
	return d.reassembled(layers.LayerTypeIPv6, fr.NextHeader, whole, p)
}

// reassembled decodes the TCP segment or UDP datagram of a whole
// datagram; the IP header of its last fragment names the endpoints.
func (d *decoder) reassembled(ip gopacket.LayerType, proto layers.IPProtocol, whole []byte, p *Packet) result {
	var err error
	switch proto {
	case layers.IPProtocolTCP:
		err = d.tcp.DecodeFromBytes(whole, gopacket.NilDecodeFeedback)
	case layers.IPProtocolUDP:
		err = d.udp.DecodeFromBytes(whole, gopacket.NilDecodeFeedback)
	default:
		return resultNotTCP
	}
	if err != nil {
		return resultError
	}
	return d.fill(ip, false, p, proto == layers.IPProtocolUDP)
}
