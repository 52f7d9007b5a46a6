package capture

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"path/filepath"
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
	links := []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2, layers.LinkTypeRaw, layers.LinkTypeNull,
		layers.LinkTypePPP}
	// CAPWAP with an IEEE 802.11 QoS frame, and PPP, around IPv4 and TCP.
	inner := frame(f, nil, false, "x")
	capwap := append([]byte{0, 2 << 3, 3, 0, 0, 0, 0, 0, 0x88, 1, 0, 0, 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x10, 0, 0, 0,
		0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00}, inner...)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, eth(layers.EthernetTypeIPv4),
		&layers.IPv4{Version: 4, TTL: 1, Protocol: layers.IPProtocolUDP, SrcIP: []byte{1, 1, 1, 1}, DstIP: []byte{2, 2, 2, 2}},
		&layers.UDP{SrcPort: 1, DstPort: 5247}, gopacket.Payload(capwap)); err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(0), buf.Bytes())
	f.Add(uint8(5), append([]byte{0xff, 0x03, 0x00, 0x21}, inner...))
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

// FuzzPlainTCP: a frame plainTCP decodes by hand gives the packet
// gopacket's walk gives. The seeds are every Ethernet frame of the samples
// that carries TCP, and frames with options, fragments, short lengths.
func FuzzPlainTCP(f *testing.F) {
	paths, _ := filepath.Glob("../samples/*.pcap")
	for _, path := range paths {
		r, err := Open(path)
		if err != nil {
			f.Fatal(err)
		}
		for n := 0; n < 40; n++ {
			var p Packet
			if r.Next(&p) != nil {
				break
			}
			if p.LinkType == layers.LinkTypeEthernet {
				f.Add(bytes.Clone(p.Frame))
			}
		}
		r.Close()
	}
	plain := frame(f, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, false, "x")
	if p := new(Packet); !plainTCP(plain, p) || string(p.Payload) != "x" {
		f.Fatalf("plainTCP does not take Ethernet, IPv4 and TCP: %+v", p)
	}
	f.Add(plain)
	f.Add(frame(f, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv6)}, true, "x"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var fast, slow Packet
		if !plainTCP(data, &fast) {
			return
		}
		if got := newDecoder().decodeLayers(layers.LinkTypeEthernet, data, &slow); got != resultTCP {
			t.Fatalf("plainTCP took a frame gopacket's walk makes %d of", got)
		}
		if fast.Src != slow.Src || fast.Dst != slow.Dst || fast.Seq != slow.Seq || fast.Ack != slow.Ack || fast.Flags != slow.Flags ||
			fast.Truncated != slow.Truncated || fast.Tunnel != slow.Tunnel || fast.UDP != slow.UDP ||
			!bytes.Equal(fast.Payload, slow.Payload) || len(fast.Payload) > 0 && &fast.Payload[0] != &slow.Payload[0] {
			t.Fatalf("plainTCP %+v\nwalk     %+v", fast, slow)
		}
	})
}
