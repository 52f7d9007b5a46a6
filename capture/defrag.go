package capture

import (
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/tlssniff/tlssniff/budget"
	"github.com/tlssniff/tlssniff/reorder"
)

// Limits of IP reassembly: at most maxDatagrams datagrams of at most
// maxDatagramLen bytes are pending, holding at most maxDefragMemory
// (fragments at their real cost, charged as they come); past either, the
// oldest datagram, or the one holding the most, is dropped and counted.
const (
	maxDatagrams    = 256
	maxDatagramLen  = 65535
	maxDefragMemory = 4 << 20
	datagramCost    = 256 // a datagram's struct and map entry
)

// fragKey identifies the fragments of one datagram (RFC 791, RFC 8200
// section 4.5).
type fragKey struct {
	src, dst netip.Addr
	id       uint32
	proto    uint8
}

// datagram is one datagram being put back together, grown from the bytes
// that came, never sized from an offset or a length on the wire.
type datagram struct {
	key        fragKey
	asm        reorder.Assembly
	total      int // length, known once the last fragment came; else -1
	mem        *budget.Account
	prev, next *datagram // arrival order, oldest first
}

// defragmenter reassembles IPv4 and IPv6 fragments with bounded memory.
// Each fragment costs O(log n) in the fragments of its datagram, and
// dropping the oldest datagram O(1), whatever the order and number.
type defragmenter struct {
	pending    map[fragKey]*datagram
	head, tail *datagram
	mem        *budget.Budget
	dropped    uint64 // datagrams given up to stay under the limits
}

// add takes one fragment: offset and payload of the fragment, more is set
// on all but the last. It returns the whole datagram's payload once every
// byte has come; it is valid until the next call.
func (f *defragmenter) add(k fragKey, offset int, more bool, payload []byte) ([]byte, bool) {
	end := offset + len(payload)
	if end > maxDatagramLen {
		return nil, false
	}
	if f.pending == nil {
		f.pending, f.mem = map[fragKey]*datagram{}, budget.New(maxDefragMemory)
	}
	g := f.pending[k]
	if g == nil {
		for len(f.pending) >= maxDatagrams {
			f.drop(f.head)
		}
		g = &datagram{key: k, total: -1}
		g.mem = f.mem.Open(func() { f.drop(g) })
		g.asm = reorder.Assembly{Account: g.mem, Limit: 2 * maxDatagramLen} // the pieces' bytes and bookkeeping
		g.mem.Fixed(datagramCost)
		f.pending[k] = g
		f.push(g)
	}
	// Overlapping bytes: the first copy received wins (RFC 5722 forbids
	// overlaps in IPv6; keeping what came first is what most stacks do).
	if !g.asm.Add(offset, payload, time.Time{}, maxDatagramLen) {
		f.drop(g)
		return nil, false
	}
	if !more && g.total < 0 {
		g.total = end
	}
	if whole := g.asm.Bytes(); g.total >= 0 && len(whole) >= g.total {
		f.remove(g)
		return whole[:g.total], true
	}
	return nil, false
}

// drop gives up on a datagram to stay within the limits.
func (f *defragmenter) drop(g *datagram) {
	f.remove(g)
	f.dropped++
}

// remove forgets a datagram and gives its memory back.
func (f *defragmenter) remove(g *datagram) {
	delete(f.pending, g.key)
	g.asm.Clear()
	g.mem.Close()
	if g.prev != nil {
		g.prev.next = g.next
	} else {
		f.head = g.next
	}
	if g.next != nil {
		g.next.prev = g.prev
	} else {
		f.tail = g.prev
	}
}

func (f *defragmenter) push(g *datagram) {
	g.prev = f.tail
	if f.tail != nil {
		f.tail.next = g
	} else {
		f.head = g
	}
	f.tail = g
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
		return resultOther
	}
	if err != nil {
		return resultError
	}
	return d.fill(ip, false, p, proto == layers.IPProtocolUDP)
}
