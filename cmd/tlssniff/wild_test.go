package main

import (
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Captures as the wild makes them, rebuilt from a real session's frames.

// tcpFrame is a sample frame decoded down to TCP.
type tcpFrame struct {
	sampleFrame
	eth *layers.Ethernet
	ip  *layers.IPv4
	tcp *layers.TCP
}

func tcpFrames(t *testing.T, sample string) []tcpFrame {
	t.Helper()
	var out []tcpFrame
	for _, f := range sampleFrames(t, sample) {
		p := gopacket.NewPacket(f.data, layers.LayerTypeEthernet, gopacket.Default)
		eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if eth == nil || ip == nil || tcp == nil {
			t.Fatalf("%s: a frame that is not Ethernet, IPv4 and TCP", sample)
		}
		out = append(out, tcpFrame{f, eth, ip, tcp})
	}
	return out
}

// frame serializes f again after edit changed its TCP header or payload.
func (f tcpFrame) frame(t *testing.T, edit func(tcp *layers.TCP) []byte) sampleFrame {
	ip, tcp := *f.ip, *f.tcp
	payload := edit(&tcp)
	tcp.SetNetworkLayerForChecksum(&ip)
	out := f.sampleFrame
	out.data = serialize(t, f.eth, &ip, &tcp, gopacket.Payload(payload))
	return out
}

// TestServerFlightAfterClientReset: the client resets the connection right
// after its ClientHello while the server's flight is on the wire, and the
// capture holds that flight after the RST. Its ServerHello, Certificate,
// ServerKeyExchange and ServerHelloDone are read (they were dropped: the
// flow closed at the RST), as tshark reads them.
func TestServerFlightAfterClientReset(t *testing.T) {
	frames := tcpFrames(t, "../../samples/tls12.pcap")
	hello, flight := frames[3], frames[4] // the ClientHello, then the server's whole flight
	if len(hello.tcp.Payload) == 0 || hello.tcp.SrcPort == 443 || flight.tcp.SrcPort != 443 {
		t.Fatal("the sample's frames are not where this test expects them")
	}
	rst := hello.frame(t, func(tcp *layers.TCP) []byte {
		tcp.Seq += uint32(len(hello.tcp.Payload))
		tcp.ACK, tcp.PSH, tcp.RST = false, false, true
		return nil
	})
	rst.ci.Timestamp = hello.ci.Timestamp.Add(flight.ci.Timestamp.Sub(hello.ci.Timestamp) / 2)
	var rebuilt []sampleFrame
	for _, f := range frames[:4] {
		rebuilt = append(rebuilt, f.sampleFrame)
	}
	path := writeFrames(t, layers.LinkTypeEthernet, "reset.pcap", append(rebuilt, rst, flight.sampleFrame))

	out, errs, code := tlssniff(t, "-r", path, "--json")
	conns := parseNDJSON(t, out)
	if code != 0 || len(conns) != 1 {
		t.Fatalf("exit %d, %d connections: %s", code, len(conns), errs)
	}
	c := conns[0]
	var types []string
	for _, m := range c.Messages {
		types = append(types, m.From+":"+m.Type)
	}
	if got, want := strings.Join(types, " "), "client:ClientHello server:ServerHello server:Certificate server:ServerKeyExchange server:ServerHelloDone"; got != want {
		t.Errorf("messages %s, want %s", got, want)
	}
	if c.Group == nil || c.Outcome != "reset" {
		t.Errorf("group %v, outcome %s", c.Group, c.Outcome)
	}
	rows := tsharkFields(t, path, "tls.handshake.type == 11", "tls.handshake.certificate_length")
	if len(rows) != 1 || len(strings.Split(rows[0][0], ",")) != len(c.Certificates) {
		t.Errorf("tshark reads the certificates %v, tlssniff %d", rows, len(c.Certificates))
	}
}
