package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/tlssniff/tlssniff/internal/testenv"
)

var (
	src = netip.MustParseAddrPort("192.0.2.1:40000")
	dst = netip.MustParseAddrPort("192.0.2.2:443")
	t0  = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
)

// ipTCP serializes the IP and TCP layers of one segment, after the link
// layers given.
func frame(t testing.TB, link []gopacket.SerializableLayer, ip6 bool, payload string) []byte {
	t.Helper()
	s, d := src, dst
	tcp := &layers.TCP{SrcPort: layers.TCPPort(s.Port()), DstPort: layers.TCPPort(d.Port()), Seq: 1000, Ack: 2000,
		ACK: true, PSH: true, Window: 512}
	var ip gopacket.SerializableLayer
	if ip6 {
		s = netip.AddrPortFrom(netip.MustParseAddr("2001:db8::1"), s.Port())
		d = netip.AddrPortFrom(netip.MustParseAddr("2001:db8::2"), d.Port())
		l := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolIPv6HopByHop,
			SrcIP: s.Addr().AsSlice(), DstIP: d.Addr().AsSlice(),
			HopByHop: &layers.IPv6HopByHop{Options: []*layers.IPv6HopByHopOption{{OptionType: 1, OptionData: []byte{0, 0, 0, 0}}}}}
		l.HopByHop.NextHeader = layers.IPProtocolTCP
		tcp.SetNetworkLayerForChecksum(l)
		ip = l
	} else {
		l := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: s.Addr().AsSlice(), DstIP: d.Addr().AsSlice()}
		tcp.SetNetworkLayerForChecksum(l)
		ip = l
	}
	buf := gopacket.NewSerializeBuffer()
	all := append(append(link, ip), tcp, gopacket.Payload(payload))
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, all...); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(buf.Bytes())
}

func eth(typ layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: typ}
}

// pcapFile writes frames of one link type as a pcap file.
func pcapFile(t testing.TB, lt layers.LinkType, frames ...[]byte) []byte {
	var b bytes.Buffer
	w := pcapgo.NewWriterNanos(&b)
	if err := w.WriteFileHeader(65535, lt); err != nil {
		t.Fatal(err)
	}
	for i, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(f), Length: len(f)}
		if err := w.WritePacket(ci, f); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func openBytes(t testing.TB, b []byte) (*File, error) {
	t.Helper()
	return newFile("test", io.NopCloser(bytes.NewReader(b)))
}

func readAll(t testing.TB, f *File) []Packet {
	t.Helper()
	var out []Packet
	for {
		var p Packet
		err := f.Next(&p)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		p.Payload = bytes.Clone(p.Payload)
		out = append(out, p)
	}
}

func TestLinkTypes(t *testing.T) {
	ipv4 := func(link ...gopacket.SerializableLayer) []byte { return frame(t, link, false, "hello") }
	loop := func(family layers.ProtocolFamily) []byte {
		b := frame(t, nil, false, "hello")
		hdr := make([]byte, 4)
		binary.LittleEndian.PutUint32(hdr, uint32(family))
		return append(hdr, b...)
	}
	for _, tc := range []struct {
		name  string
		link  layers.LinkType
		frame []byte
		ip6   bool
	}{
		{"Ethernet", layers.LinkTypeEthernet, ipv4(eth(layers.EthernetTypeIPv4)), false},
		{"802.1Q VLAN", layers.LinkTypeEthernet, ipv4(eth(layers.EthernetTypeDot1Q),
			&layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeIPv4}), false},
		{"QinQ", layers.LinkTypeEthernet, ipv4(eth(layers.EthernetTypeQinQ),
			&layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeIPv4}), false},
		{"Linux SLL", layers.LinkTypeLinuxSLL, append([]byte{ // packet type, ARPHRD_ETHER, address, protocol
			0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00}, ipv4()...), false},
		{"raw IPv4", layers.LinkTypeRaw, ipv4(), false},
		{"raw IPv6 with a hop-by-hop header", layers.LinkTypeRaw, frame(t, nil, true, "hello"), true},
		{"IPv6 over Ethernet", layers.LinkTypeEthernet, frame(t, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv6)}, true, "hello"), true},
		{"BSD loopback", layers.LinkTypeNull, loop(layers.ProtocolFamilyIPv4), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := openBytes(t, pcapFile(t, tc.link, tc.frame))
			if err != nil {
				t.Fatal(err)
			}
			pkts := readAll(t, f)
			if len(pkts) != 1 {
				t.Fatalf("%d packets, stats %+v", len(pkts), f.Stats())
			}
			p := pkts[0]
			wantSrc := src
			if tc.ip6 {
				wantSrc = netip.MustParseAddrPort("[2001:db8::1]:40000")
			}
			if p.Src != wantSrc || p.Dst.Port() != 443 || p.Seq != 1000 || p.Ack != 2000 || p.Flags != FlagACK ||
				string(p.Payload) != "hello" || !p.Time.Equal(t0) {
				t.Errorf("packet %+v", p)
			}
		})
	}
}

// tunnelCase is a TCP segment inside a tunnel, built around frame().
type tunnelCase struct {
	name, tunnel string
	frame        []byte
	ip6          bool
}

func tunnelCases(t testing.TB) []tunnelCase {
	outer := func(proto layers.IPProtocol) *layers.IPv4 {
		return &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: net.IP{198, 51, 100, 1}, DstIP: net.IP{198, 51, 100, 2}}
	}
	udpTo := func(port layers.UDPPort) []gopacket.SerializableLayer {
		ip := outer(layers.IPProtocolUDP)
		udp := &layers.UDP{SrcPort: 5000, DstPort: port}
		udp.SetNetworkLayerForChecksum(ip)
		return []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), ip, udp}
	}
	raw := func(b ...byte) gopacket.SerializableLayer { return gopacket.Payload(b) }
	// Headers gopacket cannot write are raw bytes.
	mpls := raw(0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40)  // two labels, the second bottom of stack
	pppoe := raw(0x11, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x21) // session 1, PPP protocol IPv4
	erspan3 := raw(0x20, 0x01, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0)
	geneve := raw(0x00, 0x00, 0x65, 0x58, 0x00, 0x00, 0x2a, 0x00) // no options, Ethernet inside, VNI 42
	var cases []tunnelCase
	for _, tc := range []struct {
		name, tunnel string
		link         []gopacket.SerializableLayer
		ip6          bool
	}{
		{"GRE", "gre", []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), outer(layers.IPProtocolGRE), &layers.GRE{Protocol: layers.EthernetTypeIPv4}}, false},
		{"GRE with ERSPAN II", "gre/erspan", []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), outer(layers.IPProtocolGRE),
			&layers.GRE{Protocol: layers.EthernetTypeERSPAN, SeqPresent: true}, &layers.ERSPANII{Version: 1, SessionID: 7}, eth(layers.EthernetTypeIPv4)}, false},
		{"GRE with ERSPAN III", "gre/erspan", []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), outer(layers.IPProtocolGRE),
			&layers.GRE{Protocol: layers.EthernetType(0x22EB), SeqPresent: true}, erspan3, eth(layers.EthernetTypeIPv4)}, false},
		{"VXLAN", "vxlan", append(udpTo(4789), &layers.VXLAN{ValidIDFlag: true, VNI: 42}, eth(layers.EthernetTypeIPv4)), false},
		{"Geneve", "geneve", append(udpTo(6081), geneve, eth(layers.EthernetTypeIPv4)), false},
		{"IP in IP", "ip-in-ip", []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), outer(layers.IPProtocolIPv4)}, false},
		{"IPv6 in IPv4", "ip-in-ip", []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), outer(layers.IPProtocolIPv6)}, true},
		{"MPLS", "mpls", []gopacket.SerializableLayer{eth(layers.EthernetType(0x8847)), mpls}, false},
		{"MPLS with IPv6", "mpls", []gopacket.SerializableLayer{eth(layers.EthernetType(0x8847)), mpls}, true},
		{"PPPoE", "pppoe", []gopacket.SerializableLayer{eth(layers.EthernetType(0x8864)), pppoe}, false},
		{"VLAN, then MPLS", "mpls", []gopacket.SerializableLayer{eth(layers.EthernetTypeDot1Q),
			&layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetType(0x8847)}, mpls}, false},
	} {
		cases = append(cases, tunnelCase{tc.name, tc.tunnel, frame(t, tc.link, tc.ip6, "inner"), tc.ip6})
	}
	return cases
}

// Tunnels: the inner connection is reported, by its inner addresses, with
// the tunnel named.
func TestTunnels(t *testing.T) {
	for _, tc := range tunnelCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			f, err := openBytes(t, pcapFile(t, layers.LinkTypeEthernet, tc.frame))
			if err != nil {
				t.Fatal(err)
			}
			pkts := readAll(t, f)
			want := src
			if tc.ip6 {
				want = netip.MustParseAddrPort("[2001:db8::1]:40000")
			}
			if len(pkts) != 1 || pkts[0].Src != want || string(pkts[0].Payload) != "inner" || pkts[0].Tunnel != tc.tunnel {
				t.Fatalf("packets %+v, stats %+v", pkts, f.Stats())
			}
		})
	}
}

// TestFragments: IPv4 and IPv6 fragments, in any order and overlapping,
// give back the TCP segment; a datagram never completed gives nothing.
func TestFragments(t *testing.T) {
	payload := strings.Repeat("0123456789abcdef", 40) // 640 bytes of TCP payload
	for _, ip6 := range []bool{false, true} {
		whole := frame(t, nil, ip6, payload)
		hdr := 20
		if ip6 {
			hdr = 40 + 8 // the hop-by-hop header stays in the unfragmentable part
		}
		body := whole[hdr:]                                                        // TCP header and payload
		pieces := []struct{ off, end int }{{0, 264}, {256, 512}, {512, len(body)}} // 8-byte units, one overlap
		frag := func(i int) []byte {
			pc := pieces[i]
			more := pc.end < len(body)
			if ip6 {
				h := bytes.Clone(whole[:hdr])
				h[40] = 44 // the hop-by-hop header's next header: Fragment
				binary.BigEndian.PutUint16(h[4:], uint16(8+8+pc.end-pc.off))
				fh := []byte{6, 0, 0, 0, 0, 0, 0x12, 0x34}
				binary.BigEndian.PutUint16(fh[2:], uint16(pc.off/8)<<3)
				if more {
					fh[3] |= 1
				}
				binary.BigEndian.PutUint32(fh[4:], 0xbeef)
				return append(append(h, fh...), body[pc.off:pc.end]...)
			}
			h := bytes.Clone(whole[:hdr])
			binary.BigEndian.PutUint16(h[2:], uint16(hdr+pc.end-pc.off))
			binary.BigEndian.PutUint16(h[4:], 0xbeef)
			flags := uint16(pc.off / 8)
			if more {
				flags |= 0x2000
			}
			binary.BigEndian.PutUint16(h[6:], flags)
			return append(h, body[pc.off:pc.end]...)
		}
		for name, order := range map[string][]int{"in order": {0, 1, 2}, "reversed": {2, 1, 0}, "last first": {2, 0, 1}, "one lost": {0, 2}} {
			t.Run(fmt.Sprintf("IPv6 %v, %s", ip6, name), func(t *testing.T) {
				var frames [][]byte
				for _, i := range order {
					frames = append(frames, frag(i))
				}
				f, err := openBytes(t, pcapFile(t, layers.LinkTypeRaw, frames...))
				if err != nil {
					t.Fatal(err)
				}
				pkts := readAll(t, f)
				if name == "one lost" {
					if len(pkts) != 0 || f.Stats().Fragments != 2 {
						t.Errorf("packets %d, stats %+v", len(pkts), f.Stats())
					}
					return
				}
				if len(pkts) != 1 || string(pkts[0].Payload) != payload || pkts[0].Seq != 1000 || pkts[0].Dst.Port() != 443 {
					t.Fatalf("packets %d, stats %+v", len(pkts), f.Stats())
				}
			})
		}
	}
}

// TestFragmentMemory: a flood of datagrams that never complete keeps at
// most maxDatagrams pending.
func TestFragmentMemory(t *testing.T) {
	var d defragmenter
	a := netip.MustParseAddr("192.0.2.1")
	for i := range 100000 {
		d.add(fragKey{a, a, uint32(i), 6}, 0, true, make([]byte, 1480))
	}
	if len(d.pending) != maxDatagrams || d.dropped != 100000-maxDatagrams {
		t.Errorf("%d pending, %d dropped", len(d.pending), d.dropped)
	}
}

func TestFormats(t *testing.T) {
	le := pcapFile(t, layers.LinkTypeEthernet, frame(t, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, false, "x"))
	var us bytes.Buffer // microsecond resolution
	w := pcapgo.NewWriter(&us)
	w.WriteFileHeader(65535, layers.LinkTypeEthernet)
	fr := frame(t, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, false, "x")
	w.WritePacket(gopacket.CaptureInfo{Timestamp: t0, CaptureLength: len(fr), Length: len(fr)}, fr)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(le)
	zw.Close()
	var ng bytes.Buffer
	nw, _ := pcapgo.NewNgWriter(&ng, layers.LinkTypeRaw)
	nw.AddInterface(pcapgo.NgInterface{LinkType: layers.LinkTypeEthernet})
	raw := frame(t, nil, false, "x")
	nw.WritePacket(gopacket.CaptureInfo{Timestamp: t0, CaptureLength: len(raw), Length: len(raw), InterfaceIndex: 0}, raw)
	nw.WritePacket(gopacket.CaptureInfo{Timestamp: t0.Add(time.Millisecond), CaptureLength: len(fr), Length: len(fr), InterfaceIndex: 1}, fr)
	nw.Flush()

	for _, tc := range []struct {
		name  string
		data  []byte
		n     int
		micro bool
	}{
		{"pcap, nanoseconds, little-endian", le, 1, false},
		{"pcap, nanoseconds, big-endian", bigEndian(t, le), 1, false},
		{"pcap, microseconds, little-endian", us.Bytes(), 1, true},
		{"pcap, microseconds, big-endian", bigEndian(t, us.Bytes()), 1, true},
		{"gzip", gz.Bytes(), 1, false},
		{"pcapng with raw IP and Ethernet interfaces", ng.Bytes(), 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := openBytes(t, tc.data)
			if err != nil {
				t.Fatal(err)
			}
			pkts := readAll(t, f)
			want := t0
			if tc.micro {
				want = t0.Truncate(time.Microsecond)
			}
			if len(pkts) != tc.n || !pkts[0].Time.Equal(want) || pkts[0].Src != src {
				t.Errorf("packets %+v", pkts)
			}
		})
	}
}

// bigEndian rewrites a little-endian pcap file in big-endian byte order.
func bigEndian(t *testing.T, le []byte) []byte {
	out := bytes.Clone(le)
	swap32 := func(b []byte) { binary.BigEndian.PutUint32(b, binary.LittleEndian.Uint32(b)) }
	swap16 := func(b []byte) { binary.BigEndian.PutUint16(b, binary.LittleEndian.Uint16(b)) }
	swap32(out[0:])
	swap16(out[4:])
	swap16(out[6:])
	for off := 8; off < 24; off += 4 {
		swap32(out[off:])
	}
	for off := 24; off < len(out); {
		n := int(binary.LittleEndian.Uint32(le[off+8:]))
		for k := 0; k < 16; k += 4 {
			swap32(out[off+k:])
		}
		off += 16 + n
	}
	return out
}

func TestBadFiles(t *testing.T) {
	for name, data := range map[string][]byte{
		"empty":  nil,
		"text":   []byte("this is a text file, not a capture\n"),
		"random": {0x9e, 0x12, 0x77, 0x01, 0xff, 0x00, 0x42, 0x42},
		"gzip of text": func() []byte {
			var b bytes.Buffer
			w := gzip.NewWriter(&b)
			w.Write([]byte("hello"))
			w.Close()
			return b.Bytes()
		}(),
	} {
		if _, err := openBytes(t, data); !errors.Is(err, ErrNotCapture) {
			t.Errorf("%s: %v", name, err)
		}
	}
	_, err := openBytes(t, pcapFile(t, layers.LinkType(147)))
	if err == nil || !strings.Contains(err.Error(), "unsupported link type 147") {
		t.Errorf("link type 147: %v", err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.pcap")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestTruncatedFile(t *testing.T) {
	fr := frame(t, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, false, "payload")
	data := pcapFile(t, layers.LinkTypeEthernet, fr, fr, fr)
	f, err := openBytes(t, data[:len(data)-10])
	if err != nil {
		t.Fatal(err)
	}
	var p Packet
	for i := 0; i < 2; i++ {
		if err := f.Next(&p); err != nil {
			t.Fatalf("packet %d: %v", i+1, err)
		}
	}
	err = f.Next(&p)
	var re *ReadError
	if !errors.As(err, &re) || re.Packet != 3 || err.Error() != "test: stopped at packet 3: file is truncated" {
		t.Errorf("error %v", err)
	}
}

func TestSnaplenTruncation(t *testing.T) {
	fr := frame(t, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, false, strings.Repeat("p", 100))
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	w.WriteFileHeader(80, layers.LinkTypeEthernet)
	w.WritePacket(gopacket.CaptureInfo{Timestamp: t0, CaptureLength: 80, Length: len(fr)}, fr[:80])
	f, _ := openBytes(t, b.Bytes())
	pkts := readAll(t, f)
	if len(pkts) != 1 || !pkts[0].Truncated || len(pkts[0].Payload)+pkts[0].Missing != 100 {
		t.Errorf("packets %+v", pkts)
	}
}

func TestMergeOrdersByTime(t *testing.T) {
	fr := frame(t, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, false, "x")
	mk := func(offsets ...time.Duration) *File {
		var b bytes.Buffer
		w := pcapgo.NewWriterNanos(&b)
		w.WriteFileHeader(65535, layers.LinkTypeEthernet)
		for _, o := range offsets {
			w.WritePacket(gopacket.CaptureInfo{Timestamp: t0.Add(o), CaptureLength: len(fr), Length: len(fr)}, fr)
		}
		f, err := openBytes(t, b.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	m := NewMerge(mk(1, 4, 5), mk(2, 3, 6))
	var got []time.Duration
	var p Packet
	for m.Next(&p) == nil {
		got = append(got, p.Time.Sub(t0))
	}
	for i := range got {
		if got[i] != time.Duration(i+1) {
			t.Fatalf("order %v", got)
		}
	}
	if m.Err() != nil || m.Stats().TCP != 6 {
		t.Errorf("err %v stats %+v", m.Err(), m.Stats())
	}
}

// A file that fails while others go on: its packets up to the damage are
// merged with the others', and Err names it.
func TestMergeWithADamagedFile(t *testing.T) {
	fr := frame(t, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, false, "payload")
	good, err := openBytes(t, pcapFile(t, layers.LinkTypeEthernet, fr, fr))
	if err != nil {
		t.Fatal(err)
	}
	data := pcapFile(t, layers.LinkTypeEthernet, fr, fr, fr)
	damaged, err := openBytes(t, data[:len(data)-10])
	if err != nil {
		t.Fatal(err)
	}
	m := NewMerge(good, damaged)
	n := 0
	var p Packet
	for m.Next(&p) == nil {
		n++
	}
	if n != 4 || m.Err() == nil || !strings.Contains(m.Err().Error(), "file is truncated") {
		t.Errorf("%d packets, error %v", n, m.Err())
	}
}

// Decoding a packet allocates nothing.
func TestDecodeAllocs(t *testing.T) {
	d := newDecoder()
	fr := frame(t, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, false, "payload")
	var p Packet
	if allocs := testing.AllocsPerRun(1000, func() { d.decode(layers.LinkTypeEthernet, fr, &p) }); allocs != 0 {
		t.Errorf("%.1f allocations per packet", allocs)
	}
}

// The samples read without error and hold TCP; SLL2 comes from tcpdump -i any.
func TestSamples(t *testing.T) {
	paths, _ := filepath.Glob("../samples/*.pcap*")
	if len(paths) == 0 {
		t.Fatal("no samples")
	}
	for _, path := range paths {
		f, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		n := len(readAll(t, f))
		if n == 0 || f.Stats().Undecoded != 0 {
			t.Errorf("%s: %d TCP packets, stats %+v", path, n, f.Stats())
		}
		f.Close()
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(uint8(0), frame(f, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, false, "x"))
	f.Add(uint8(3), frame(f, nil, true, "x"))
	for _, tc := range tunnelCases(f) {
		f.Add(uint8(0), tc.frame)
	}
	links := []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2, layers.LinkTypeRaw, layers.LinkTypeNull}
	f.Fuzz(func(t *testing.T, link uint8, data []byte) {
		var p Packet
		// A fresh decoder: a frame must not complete fragments of another.
		if newDecoder().decode(links[int(link)%len(links)], data, &p) == resultTCP && len(p.Payload) > len(data) {
			t.Fatalf("payload of %d bytes from a frame of %d", len(p.Payload), len(data))
		}
	})
}

// TestCorpusTunnels reads the GRE and Geneve captures of the shared corpus
// (they carry SSH, no TLS): every TCP segment comes out with the inner
// addresses and the tunnel named.
func TestCorpusTunnels(t *testing.T) {
	dir := testenv.Corpus(t, "ja4/pcap")
	for name, tunnel := range map[string]string{"gre-sample.pcap": "gre", "tcpdump-geneve.pcap": "geneve"} {
		f, err := Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		pkts := readAll(t, f)
		f.Close()
		ssh, tcp, udp := 0, 0, 0
		for _, p := range pkts {
			if p.Tunnel != tunnel {
				t.Errorf("%s: a segment through %q", name, p.Tunnel)
			}
			if p.UDP {
				udp++
				continue
			}
			tcp++
			if p.Src.Port() == 22 || p.Dst.Port() == 22 {
				ssh++
			}
		}
		// tshark: 22 TCP and 8 UDP frames inside GRE, 33 TCP inside Geneve.
		want := map[string][2]int{"gre-sample.pcap": {22, 8}, "tcpdump-geneve.pcap": {33, 0}}[name]
		if tcp != want[0] || ssh != want[0] || udp != want[1] {
			t.Errorf("%s: %d TCP segments (%d of SSH), %d UDP datagrams; tshark sees %v", name, tcp, ssh, udp, want)
		}
	}
}

// TestLyingLengths: a record whose length field lies (beyond the snapshot
// length, beyond the file, or a pcapng block claiming gigabytes) stops the
// file with a ReadError after the good packets, without a huge allocation.
func TestLyingLengths(t *testing.T) {
	good := pcapFile(t, layers.LinkTypeEthernet, frame(t, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, false, "ok"))
	record := func(caplen, length uint32, data []byte) []byte {
		h := make([]byte, 16)
		binary.LittleEndian.PutUint32(h[8:], caplen)
		binary.LittleEndian.PutUint32(h[12:], length)
		return append(h, data...)
	}
	var ng bytes.Buffer
	nw, _ := pcapgo.NewNgWriter(&ng, layers.LinkTypeEthernet)
	fr := frame(t, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, false, "ok")
	nw.WritePacket(gopacket.CaptureInfo{Timestamp: t0, CaptureLength: len(fr), Length: len(fr)}, fr)
	nw.Flush()
	epb := []byte{6, 0, 0, 0, 0xf0, 0xff, 0xff, 0xff} // an Enhanced Packet Block of 4 GiB
	for name, data := range map[string][]byte{
		"caplen over the snaplen":  append(bytes.Clone(good), record(0x7fffffff, 0x7fffffff, []byte("short"))...),
		"caplen past the file end": append(bytes.Clone(good), record(60000, 60000, []byte("short"))...),
		"pcapng block of 4 GiB":    append(ng.Bytes(), epb...),
	} {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			f, err := openBytes(t, data)
			if err != nil {
				t.Fatal(err)
			}
			var p Packet
			n := 0
			for err = f.Next(&p); err == nil; err = f.Next(&p) {
				n++
			}
			runtime.ReadMemStats(&after)
			var re *ReadError
			if n != 1 || !errors.As(err, &re) || re.Packet != 2 {
				t.Errorf("%d packets, then %v", n, err)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
				t.Errorf("%d bytes allocated", grew)
			}
		})
	}
}

// FuzzDefrag cuts a datagram into fragments at fuzzed offsets, overlapping
// and in a fuzzed order: what comes out must be what went in, once, when
// the last byte is in, and never before.
func FuzzDefrag(f *testing.F) {
	f.Add([]byte("0123456789abcdef0123456789abcdef"), []byte{8, 3, 16, 1, 0, 2})
	f.Fuzz(func(t *testing.T, payload, ops []byte) {
		if len(payload) == 0 || len(payload) > 4096 || len(ops) > 64 {
			return
		}
		var d defragmenter
		k := fragKey{id: 1, proto: 6}
		covered := make([]bool, len(payload))
		remaining := len(payload)
		for i := 0; i+1 < len(ops); i += 2 {
			off := int(ops[i]) * 8 % len(payload) &^ 7
			end := min(off+int(ops[i+1])*8+8, len(payload))
			for j := off; j < end; j++ {
				if !covered[j] {
					covered[j] = true
					remaining--
				}
			}
			whole, ok := d.add(k, off, end < len(payload), payload[off:end])
			if ok != (remaining == 0) {
				t.Fatalf("complete %v with %d bytes missing", ok, remaining)
			}
			if ok {
				if !bytes.Equal(whole, payload) {
					t.Fatalf("reassembled %q, sent %q", whole, payload)
				}
				return
			}
		}
	})
}

// ngBlock builds a little-endian pcapng block around body (padded).
func ngBlock(typ uint32, body []byte) []byte {
	body = append(body, make([]byte, -len(body)&3)...)
	n := uint32(12 + len(body))
	b := binary.LittleEndian.AppendUint32(nil, typ)
	b = binary.LittleEndian.AppendUint32(b, n)
	b = append(b, body...)
	return binary.LittleEndian.AppendUint32(b, n)
}

func ngSection() []byte {
	return ngBlock(ngSectionHeader, []byte{0x4D, 0x3C, 0x2B, 0x1A, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
}

func ngIDB() []byte { return ngBlock(ngInterface, []byte{1, 0, 0, 0, 0, 0, 4, 0}) } // Ethernet, snaplen 262144

func ngEPB(iface uint32, f []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, iface)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0) // timestamp
	b = binary.LittleEndian.AppendUint32(b, uint32(len(f)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(f)))
	return ngBlock(ngEnhancedPacket, append(b, f...))
}

// payloads reads every segment of a capture file and returns the
// payloads.
func payloads(t testing.TB, b []byte) ([]string, Stats) {
	f, err := openBytes(t, b)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range readAll(t, f) {
		got = append(got, string(p.Payload))
	}
	return got, f.Stats()
}

// A pcapng packet that names an interface its section never described is
// skipped and counted; the packets after it are read (pcapgo's error for
// it ended the file).
func TestPcapngUnknownInterface(t *testing.T) {
	fr := func(s string) []byte {
		return frame(t, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, false, s)
	}
	spb := func(f []byte) []byte {
		return ngBlock(ngSimplePacket, append(binary.LittleEndian.AppendUint32(nil, uint32(len(f))), f...))
	}
	file := slicesConcat(ngSection(), ngIDB(), ngEPB(0, fr("one")), ngEPB(7, fr("bad")), ngEPB(0, fr("two")),
		spb(fr("simple")), // interface 0 exists
		ngSection(), spb(fr("none")), ngIDB(), ngEPB(0, fr("three")))
	got, st := payloads(t, file)
	if strings.Join(got, ",") != "one,two,simple,three" || st.UnknownInterface != 2 {
		t.Errorf("read %q, %d skipped", got, st.UnknownInterface)
	}
}

// A million interface descriptions keep MaxInterfaces: the rest are left
// out without being kept, and the packet after them is read.
func TestPcapngMillionInterfaces(t *testing.T) {
	idb := ngIDB()
	file := ngSection()
	for range 1_000_000 {
		file = append(file, idb...)
	}
	file = append(file, ngEPB(3, frame(t, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, false, "after"))...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got, st := payloads(t, file)
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d bytes of capture, %d allocated", len(file), allocated)
	if len(got) != 1 || st.InterfacesDropped != 1_000_000-MaxInterfaces || allocated > 16<<20 {
		t.Errorf("read %q, %d dropped, %d bytes allocated", got, st.InterfacesDropped, allocated)
	}
}

func slicesConcat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

// The counts say what the packets were: TCP and UDP segments handed on,
// the rest counted apart.
func TestStatsCounts(t *testing.T) {
	tcp := frame(t, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, false, "t")
	buf := gopacket.NewSerializeBuffer()
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	udp := &layers.UDP{SrcPort: 40000, DstPort: 443}
	udp.SetNetworkLayerForChecksum(ip)
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth(layers.EthernetTypeIPv4), ip, udp, gopacket.Payload("u")); err != nil {
		t.Fatal(err)
	}
	udpFrame := append([]byte(nil), buf.Bytes()...)
	buf = gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, opts, eth(layers.EthernetTypeARP), gopacket.Payload(make([]byte, 28))); err != nil {
		t.Fatal(err)
	}
	arp := append([]byte(nil), buf.Bytes()...)
	f, err := openBytes(t, pcapFile(t, layers.LinkTypeEthernet, tcp, udpFrame, udpFrame, arp, tcp, arp, arp))
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, f)
	if st := f.Stats(); st.Packets != 7 || st.TCP != 2 || st.UDP != 2 || st.Other != 3 {
		t.Errorf("stats %+v", st)
	}
}
