package main

import (
	"bytes"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// rewrite writes a copy of a sample whose every Ethernet frame is replaced
// by what wrap makes of it.
func rewrite(t *testing.T, sample string, wrap func(frame []byte) [][]byte) string {
	return rewriteLink(t, sample, layers.LinkTypeEthernet, wrap)
}

// rewriteLink is rewrite to a capture of another link type.
func rewriteLink(t *testing.T, sample string, link layers.LinkType, wrap func(frame []byte) [][]byte) string {
	t.Helper()
	var frames []sampleFrame
	for _, p := range sampleFrames(t, sample) {
		for _, f := range wrap(p.data) {
			frames = append(frames, sampleFrame{f, p.ci})
		}
	}
	return writeFrames(t, link, filepath.Base(sample), frames)
}

// writeFrames writes frames of link type link to a pcap file named name in
// a temporary directory.
func writeFrames(t *testing.T, link layers.LinkType, name string, frames []sampleFrame) string {
	t.Helper()
	var out bytes.Buffer
	w := pcapgo.NewWriterNanos(&out)
	w.WriteFileHeader(65535, link)
	for _, f := range frames {
		ci := f.ci
		ci.CaptureLength, ci.Length = len(f.data), len(f.data)
		w.WritePacket(ci, f.data)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// sampleFrame is one frame of a sample pcap.
type sampleFrame struct {
	data []byte
	ci   gopacket.CaptureInfo
}

// sampleFrames reads every frame of a pcap sample.
func sampleFrames(t testing.TB, sample string) []sampleFrame {
	t.Helper()
	in, err := os.Open(sample)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	r, err := pcapgo.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	var frames []sampleFrame
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			return frames
		}
		frames = append(frames, sampleFrame{data, ci})
	}
}

func serialize(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(buf.Bytes())
}

// TestTunnelsAndFragmentsEndToEnd: a real session carried in VXLAN, and
// over MPLS with every IP packet cut in two fragments sent last first,
// reads exactly as the original, with the tunnel named.
func TestTunnelsAndFragmentsEndToEnd(t *testing.T) {
	sample := "../../samples/tls12.pcap"
	want, _, _ := tlssniff(t, "-r", sample, "--json")
	ethHdr := func(typ layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: typ}
	}
	vxlan := func(frame []byte) [][]byte {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{198, 51, 100, 1}, DstIP: net.IP{198, 51, 100, 2}}
		udp := &layers.UDP{SrcPort: 40000, DstPort: 4789}
		udp.SetNetworkLayerForChecksum(ip)
		return [][]byte{serialize(t, ethHdr(layers.EthernetTypeIPv4), ip, udp, &layers.VXLAN{ValidIDFlag: true, VNI: 7}, gopacket.Payload(frame))}
	}
	mplsFragments := func(frame []byte) [][]byte {
		p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if ip == nil {
			t.Fatal("not IPv4")
		}
		body := ip.Payload
		label := gopacket.Payload{0x00, 0x01, 0x01, 0x40} // one label, bottom of stack
		piece := func(from, to int, more bool) []byte {
			h := *ip
			h.Id, h.FragOffset, h.Flags = 0x4242, uint16(from/8), 0
			if more {
				h.Flags = layers.IPv4MoreFragments
			}
			h.Options, h.Padding = nil, nil
			return serialize(t, ethHdr(layers.EthernetType(0x8847)), label, &h, gopacket.Payload(body[from:to]))
		}
		if len(body) < 64 {
			return [][]byte{piece(0, len(body), false)}
		}
		cut := len(body) / 2 &^ 7
		return [][]byte{piece(cut, len(body), false), piece(0, cut, true)}
	}
	for _, tc := range []struct {
		name, tunnel string
		wrap         func([]byte) [][]byte
	}{
		{"VXLAN", "vxlan", vxlan},
		{"MPLS, fragmented", "mpls", mplsFragments},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, errs, code := tlssniff(t, "-r", rewrite(t, sample, tc.wrap), "--json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			if conns := parseNDJSON(t, got); len(conns) != 1 || conns[0].Tunnel == nil || *conns[0].Tunnel != tc.tunnel {
				t.Fatalf("connections %+v", conns)
			}
			if strings.Replace(got, `"tunnel":"`+tc.tunnel+`"`, `"tunnel":null`, 1) != want {
				t.Errorf("differs from the original:\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// TestMobileAndWirelessLinksEndToEnd: a real session on a PPP link (bare
// and in HDLC-like framing), in GTP-U with a 5G PDU session container, and
// in CAPWAP data as a native IEEE 802.11 QoS frame (its frame control in
// order, and swapped as Cisco's controllers send it) and as an Ethernet
// frame, reads exactly as the original, with the tunnel named; tshark
// reads the same ClientHello in each capture.
func TestMobileAndWirelessLinksEndToEnd(t *testing.T) {
	sample := "../../samples/tls12.pcap"
	want, _, _ := tlssniff(t, "-r", sample, "--json")
	ipOf := func(frame []byte) []byte { return frame[14:] } // the sample's frames are Ethernet II
	outer := func(port layers.UDPPort, payload []byte) []byte {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{198, 51, 100, 1}, DstIP: net.IP{198, 51, 100, 2}}
		udp := &layers.UDP{SrcPort: 40000, DstPort: port}
		udp.SetNetworkLayerForChecksum(ip)
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		return serialize(t, eth, ip, udp, gopacket.Payload(payload))
	}
	gtpu := func(frame []byte) [][]byte {
		inner := ipOf(frame)
		// Flags: version 1, GTP, an extension header follows; a G-PDU;
		// sequence number and N-PDU number unused; a PDU session container
		// (type 0x85) of one 4-byte unit, QFI 9, and no further header.
		h := []byte{0x34, 0xff, 0, 0, 0, 0, 0x12, 0x34, 0, 0, 0, 0x85, 1, 0x10, 9, 0}
		binary.BigEndian.PutUint16(h[2:], uint16(len(h)-8+len(inner)))
		return [][]byte{outer(2152, append(h, inner...))}
	}
	capwap := func(native, swapped bool) func([]byte) [][]byte {
		return func(frame []byte) [][]byte {
			// Version 0, HLEN 2 (8 bytes), RID 0, WBID 1 (IEEE 802.11), T
			// for a native frame.
			h := []byte{0, 2 << 3, 1 << 1, 0, 0, 0, 0, 0}
			if !native {
				return [][]byte{outer(5247, append(h, frame...))}
			}
			h[2] |= 1
			// A QoS data frame to the distribution system, its addresses,
			// sequence and QoS control, then LLC/SNAP with the EtherType.
			dot11 := []byte{0x88, 0x01, 0, 0, 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x10, 0, 0, 0,
				0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00}
			if swapped { // as Cisco's controllers send it
				dot11[0], dot11[1] = dot11[1], dot11[0]
			}
			return [][]byte{outer(5247, append(append(h, dot11...), ipOf(frame)...))}
		}
	}
	ppp := func(header ...byte) func([]byte) [][]byte {
		return func(frame []byte) [][]byte { return [][]byte{append(header, ipOf(frame)...)} }
	}
	for _, tc := range []struct {
		name, tunnel string
		link         layers.LinkType
		wrap         func([]byte) [][]byte
		tshark       []string // preferences
	}{
		{"PPP", "", layers.LinkTypePPP, ppp(0x00, 0x21), nil},
		{"PPP in HDLC-like framing, protocol compressed", "", layers.LinkTypePPP_HDLC, ppp(0xff, 0x03, 0x21), nil},
		{"GTP-U", "gtp-u", layers.LinkTypeEthernet, gtpu, nil},
		{"CAPWAP, IEEE 802.11", "capwap", layers.LinkTypeEthernet, capwap(true, false), []string{"-o", "capwap.swap_fc:FALSE"}},
		{"CAPWAP, IEEE 802.11 from a Cisco controller", "capwap", layers.LinkTypeEthernet, capwap(true, true), nil},
		{"CAPWAP, IEEE 802.3", "capwap", layers.LinkTypeEthernet, capwap(false, false), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := rewriteLink(t, sample, tc.link, tc.wrap)
			got, errs, code := tlssniff(t, "-r", path, "--json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			conns := parseNDJSON(t, got)
			if len(conns) != 1 || (tc.tunnel == "") != (conns[0].Tunnel == nil) || tc.tunnel != "" && *conns[0].Tunnel != tc.tunnel {
				t.Fatalf("connections %+v", conns)
			}
			if tc.tunnel != "" {
				got = strings.Replace(got, `"tunnel":"`+tc.tunnel+`"`, `"tunnel":null`, 1)
			}
			if got != want {
				t.Errorf("differs from the original:\n%s\nwant\n%s", got, want)
			}
			rows := tsharkWith(t, append(tc.tshark, "-r", path), "tls.handshake.type == 1", "tls.handshake.extensions_server_name")
			if len(rows) != 1 || rows[0][0] != *conns[0].SNI {
				t.Errorf("tshark reads the ClientHellos %v, tlssniff %s", rows, *conns[0].SNI)
			}
		})
	}
}
