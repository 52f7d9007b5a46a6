package main

import (
	"bytes"
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
	t.Helper()
	var out bytes.Buffer
	w := pcapgo.NewWriterNanos(&out)
	w.WriteFileHeader(65535, layers.LinkTypeEthernet)
	for _, p := range sampleFrames(t, sample) {
		ci := p.ci
		for _, f := range wrap(p.data) {
			ci.CaptureLength, ci.Length = len(f), len(f)
			w.WritePacket(ci, f)
		}
	}
	path := filepath.Join(t.TempDir(), filepath.Base(sample))
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
