package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/tlssniff/tlssniff/parser"
	"github.com/tlssniff/tlssniff/report"
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

// TestTCPFastOpen: a real capture of TCP Fast Open (samples/make.sh): a
// ClientHello in the SYN, accepted or refused and sent again, is read once
// per connection, as tshark reads it. Rebuilt from it: the client's SYN
// sent again without its data (as a client does when the SYN-data gets no
// answer) leaves the ClientHello read once (it was read twice: the SYN
// started the side over); a second SYN/ACK with another initial sequence
// number, which the client does not take, makes no gap (it made one of
// about 1.18 GB: the server's side started over at it).
func TestTCPFastOpen(t *testing.T) {
	sample := "../../samples/tcp-fast-open.pcap"
	hellos := func(path string) ([]report.Connection, int) {
		t.Helper()
		out, errs, code := tlssniff(t, "-r", path, "--json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		conns := parseNDJSON(t, out)
		n := 0
		for _, c := range conns {
			for _, m := range c.Messages {
				if m.Type == "ClientHello" {
					n++
				}
			}
			if !c.Established || c.Quality.Gaps != 0 {
				t.Errorf("%s: port %d: %s, %d gaps", filepath.Base(path), c.Client.Port, c.Outcome, c.Quality.Gaps)
			}
		}
		return conns, n
	}
	conns, n := hellos(sample)
	if want := len(tsharkFields(t, sample, "tls.handshake.type == 1", "tcp.stream")); len(conns) != 3 || n != want || want != 3 {
		t.Fatalf("%d connections, %d ClientHellos; tshark reads %d", len(conns), n, want)
	}

	frames := tcpFrames(t, sample)
	stream := func(port uint16) []tcpFrame {
		var out []tcpFrame
		for _, f := range frames {
			if uint16(f.tcp.SrcPort) == port || uint16(f.tcp.DstPort) == port {
				out = append(out, f)
			}
		}
		return out
	}
	refused, accepted := stream(uint16(conns[2].Client.Port)), stream(uint16(conns[1].Client.Port))
	if !refused[0].tcp.SYN || len(refused[0].tcp.Payload) == 0 || !accepted[1].tcp.SYN || !accepted[1].tcp.ACK {
		t.Fatal("the sample's connections are not as this test expects them")
	}
	between := func(a, b tcpFrame) sampleFrame {
		f := a.sampleFrame
		f.ci.Timestamp = a.ci.Timestamp.Add(b.ci.Timestamp.Sub(a.ci.Timestamp) / 2)
		return f
	}
	var synAgain, secondSYNACK []sampleFrame
	for i, f := range refused {
		synAgain = append(synAgain, f.sampleFrame)
		if i == 0 {
			syn := f.frame(t, func(*layers.TCP) []byte { return nil })
			syn.ci.Timestamp = between(f, refused[1]).ci.Timestamp
			synAgain = append(synAgain, syn)
		}
	}
	for i, f := range accepted {
		secondSYNACK = append(secondSYNACK, f.sampleFrame)
		if i == 1 {
			other := f.frame(t, func(tcp *layers.TCP) []byte { tcp.Seq += 0x46a00000; return nil })
			other.ci.Timestamp = between(f, accepted[2]).ci.Timestamp
			secondSYNACK = append(secondSYNACK, other)
		}
	}
	for name, rebuilt := range map[string][]sampleFrame{"syn-again.pcap": synAgain, "second-synack.pcap": secondSYNACK} {
		if conns, n := hellos(writeFrames(t, layers.LinkTypeEthernet, name, rebuilt)); len(conns) != 1 || n != 1 {
			t.Errorf("%s: %d connections, %d ClientHellos", name, len(conns), n)
		}
	}
}

// TestMidStreamPickup: captures that start after the hellos are reported,
// with capture.missing_start, from their first whole record on (they were
// not reported at all): one that starts with application data, and one
// that starts in the middle of the server's Certificate, read from its
// ServerKeyExchange. tshark reads as many records in the first.
func TestMidStreamPickup(t *testing.T) {
	frames := tcpFrames(t, "../../samples/tls12.pcap")
	flight := frames[4] // the server's ServerHello, Certificate, ServerKeyExchange, ServerHelloDone
	if flight.tcp.SrcPort != 443 || len(flight.tcp.Payload) < 600 {
		t.Fatal("the sample's frames are not where this test expects them")
	}
	var appData, midCertificate []sampleFrame
	for _, f := range frames[7:] {
		appData = append(appData, f.sampleFrame)
	}
	cut := 200 // into the Certificate, which follows a ServerHello of under 100 bytes
	midCertificate = append(midCertificate, flight.frame(t, func(tcp *layers.TCP) []byte {
		tcp.Seq += uint32(cut)
		return flight.tcp.Payload[cut:]
	}))
	for _, f := range frames[5:] {
		midCertificate = append(midCertificate, f.sampleFrame)
	}
	for _, tc := range []struct {
		name     string
		frames   []sampleFrame
		outcome  string
		messages string
	}{
		{"app-data.pcap", appData, "missing_start", "client:ApplicationData server:ApplicationData"},
		{"mid-certificate.pcap", midCertificate, "established", "server:ServerKeyExchange server:ServerHelloDone client:ClientKeyExchange client:ChangeCipherSpec client:Finished server:ChangeCipherSpec server:Finished client:ApplicationData"},
	} {
		path := writeFrames(t, layers.LinkTypeEthernet, tc.name, tc.frames)
		out, errs, code := tlssniff(t, "-r", path, "--json")
		conns := parseNDJSON(t, out)
		if code != 0 || len(conns) != 1 {
			t.Fatalf("%s: exit %d, %d connections: %s", tc.name, code, len(conns), errs)
		}
		c := conns[0]
		var types []string
		for _, m := range c.Messages {
			types = append(types, m.From+":"+m.Type)
		}
		if got := strings.Join(types, " "); !strings.HasPrefix(got, tc.messages) || !c.Quality.MissingStart || c.Outcome != tc.outcome {
			t.Errorf("%s: %s, missing_start %v, messages\n %s\nwant first\n %s", tc.name, c.Outcome, c.Quality.MissingStart, got, tc.messages)
		}
		records := 0
		for _, row := range tsharkFields(t, path, "tls.record", "tls.record.content_type") {
			records += len(strings.Split(row[0], ","))
		}
		if tc.outcome == "missing_start" && records != len(c.Messages) {
			t.Errorf("%s: %d records, tshark reads %d", tc.name, len(c.Messages), records)
		}
	}
}

// TestDTLSFromServerHello: a DTLS capture that starts at the server's
// ServerHello (after the ClientHellos and the HelloVerifyRequest) is read
// from there, roles right, with the version, suite, chain and outcome of
// the whole capture and capture.missing_start (it was reported with the
// roles swapped and no ServerHello: its message_seq was not the one
// expected first). tshark reads the same suite.
func TestDTLSFromServerHello(t *testing.T) {
	sample := "../../samples/openssl-dtls.pcap"
	whole, _, _ := tlssniff(t, "-r", sample, "--json")
	frames := sampleFrames(t, sample)
	path := writeFrames(t, layers.LinkTypeEthernet, "dtls-from-server-hello.pcap", frames[3:])
	out, errs, code := tlssniff(t, "-r", path, "--json")
	all, got := parseNDJSON(t, whole), parseNDJSON(t, out)
	if code != 0 || len(all) != 1 || len(got) != 1 {
		t.Fatalf("exit %d, %d and %d connections: %s", code, len(all), len(got), errs)
	}
	w, c := all[0], got[0]
	if c.Client != w.Client || deref(c.Version) != deref(w.Version) || deref(c.CipherSuite) != deref(w.CipherSuite) ||
		len(c.Certificates) != len(w.Certificates) || c.Outcome != w.Outcome || !c.Quality.MissingStart || c.ClientHello != nil {
		t.Errorf("from the ServerHello: %d %s %s, %d certificates, %s, missing_start %v\nwhole: %d %s %s, %d certificates, %s",
			c.Client.Port, deref(c.Version), deref(c.CipherSuite), len(c.Certificates), c.Outcome, c.Quality.MissingStart,
			w.Client.Port, deref(w.Version), deref(w.CipherSuite), len(w.Certificates), w.Outcome)
	}
	rows := tsharkFields(t, path, "dtls.handshake.type == 2", "dtls.handshake.ciphersuite")
	if len(rows) != 1 || hexName(rows[0][0], parser.CipherSuiteName) != deref(c.CipherSuite) {
		t.Errorf("tshark reads the suite %v", rows)
	}
}

// records splits a TCP payload into its TLS records.
func records(b []byte) [][]byte {
	var out [][]byte
	for len(b) >= 5 {
		n := min(5+(int(b[3])<<8|int(b[4])), len(b))
		out, b = append(out, b[:n]), b[n:]
	}
	return out
}

// TestECJPAKEServerKeyExchange: a TLS 1.2 session rebuilt as an EC J-PAKE
// one (draft-cragie-tls-ecjpake, as Thread devices run it with mbed TLS):
// the ServerHello selects TLS_ECJPAKE_WITH_AES_128_CCM_8 and the
// ServerKeyExchange carries the curve (secp256r1), the server's X and a
// Schnorr proof, in as many bytes as the original's. The group is read
// from it (there was none), as tshark reads it.
func TestECJPAKEServerKeyExchange(t *testing.T) {
	frames := tcpFrames(t, "../../samples/tls12.pcap")
	flight := frames[4]
	var rebuilt []sampleFrame
	for i, f := range frames {
		if i != 4 {
			rebuilt = append(rebuilt, f.sampleFrame)
			continue
		}
		rebuilt = append(rebuilt, flight.frame(t, func(*layers.TCP) []byte {
			payload := bytes.Clone(flight.tcp.Payload)
			for _, r := range records(payload) {
				body := r[5+4:]
				switch messageTypeOf(r) {
				case 2: // ServerHello: version, random, session ID, then the suite
					at := 2 + 32 + 1 + int(body[34])
					body[at], body[at+1] = 0xc0, 0xff
				case 12: // ServerKeyExchange: named_curve secp256r1, X and the proof's V compressed, r
					n := len(body)
					ske := []byte{3, 0, 23, 33, 2}
					ske = append(ske, bytes.Repeat([]byte{0x11}, 32)...)
					ske = append(ske, 33, 3)
					ske = append(ske, bytes.Repeat([]byte{0x22}, 32)...)
					ske = append(ske, byte(n-len(ske)-1))
					copy(body, append(ske, bytes.Repeat([]byte{0x33}, n-len(ske)-1)...))
				}
			}
			return payload
		}))
	}
	path := writeFrames(t, layers.LinkTypeEthernet, "ecjpake.pcap", rebuilt)
	out, errs, code := tlssniff(t, "-r", path, "--json")
	conns := parseNDJSON(t, out)
	if code != 0 || len(conns) != 1 {
		t.Fatalf("exit %d, %d connections: %s", code, len(conns), errs)
	}
	if c := conns[0]; deref(c.CipherSuite) != "0xC0FF" || deref(c.Group) != "secp256r1" {
		t.Errorf("suite %s, group %s", deref(c.CipherSuite), deref(c.Group))
	}
	rows := tsharkFields(t, path, "tls.handshake.type == 12", "tls.handshake.server_named_curve")
	if len(rows) != 1 || rows[0][0] != "0x0017" {
		t.Errorf("tshark reads the curve %v", rows)
	}
}

// messageTypeOf is the type of the first handshake message of a record, or 0.
func messageTypeOf(r []byte) byte {
	if len(r) < 6 || r[0] != 22 {
		return 0
	}
	return r[5]
}
