package main

import (
	"cmp"
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tlssniff/tlssniff/internal/testenv"
	"github.com/tlssniff/tlssniff/parser"
)

// tsharkFields runs tshark on path with a display filter and returns the
// given fields of each matching frame. Only the newline is trimmed: a last
// field may be empty.
func tsharkFields(t *testing.T, path, filter string, fields ...string) [][]string {
	args := []string{"-r", path, "-Y", filter, "-T", "fields"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if f := strings.Split(line, "\t"); len(f) == len(fields) {
			rows = append(rows, f)
		}
	}
	return rows
}

// tsharkHello is what tshark reads of one connection's hellos: the first
// ClientHello's JA3 and SNI, and the last ServerHello's JA3S, version (the
// supported_versions choice, else the hello's), suite and ALPN, as
// tshark names them (versions and suites in hex).
type tsharkHello struct{ ja3, sni, ja3s, version, suite, alpn string }

// tsharkHellos returns the hellos of each connection by client port.
func tsharkHellos(t *testing.T, path string) map[string]tsharkHello {
	hellos := map[string]tsharkHello{}
	for _, proto := range [][2]string{{"tls", "tcp"}, {"dtls", "udp"}} {
		p, l4 := proto[0], proto[1]
		for _, f := range tsharkFields(t, path, p+".handshake.type == 1 || "+p+".handshake.type == 2",
			l4+".srcport", l4+".dstport", p+".handshake.type", p+".handshake.ja3",
			p+".handshake.extensions_server_name", p+".handshake.ja3s", p+".handshake.version",
			p+".handshake.extensions.supported_version", p+".handshake.ciphersuite", p+".handshake.extensions_alpn_str") {
			if strings.Contains(f[2], "1") && !strings.Contains(f[2], "2") {
				h := hellos[f[0]]
				if h.ja3 == "" {
					h.ja3, h.sni = f[3], f[4]
				}
				hellos[f[0]] = h
			} else if f[5] != "" {
				h := hellos[f[1]]
				h.ja3s, h.version, h.suite, h.alpn = f[5], cmp.Or(f[7], f[6]), f[8], f[9]
				hellos[f[1]] = h
			}
		}
	}
	return hellos
}

// hexName names a tshark hex value ("0x1301") with names.
func hexName(v string, names func(uint16) string) string {
	n, err := strconv.ParseUint(strings.TrimPrefix(v, "0x"), 16, 16)
	if err != nil {
		return ""
	}
	return names(uint16(n))
}

// TestAgainstTshark checks JA3, JA3S, SNI and the ServerHello's version,
// suite and ALPN against Wireshark's own dissector on every sample.
func TestAgainstTshark(t *testing.T) {
	testenv.Tool(t, "tshark")
	for _, path := range samples(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			out, _, _ := tlssniff(t, "-r", path, "--json")
			want := tsharkHellos(t, path)
			compared := 0
			for _, c := range parseNDJSON(t, out) {
				port := strconv.Itoa(int(c.Client.Port))
				w, ok := want[port]
				if !ok || c.ClientHello == nil {
					t.Errorf("client port %s: tshark saw no ClientHello", port)
					continue
				}
				got := tsharkHello{ja3: c.ClientHello.JA3, sni: deref(c.SNI)}
				if c.ServerHello != nil {
					got.ja3s, got.version, got.suite, got.alpn = c.ServerHello.JA3S, deref(c.Version), deref(c.CipherSuite), deref(c.ALPN)
				}
				w.version, w.suite = hexName(w.version, parser.VersionName), hexName(w.suite, parser.CipherSuiteName)
				if got != w {
					t.Errorf("client port %s: %+v; tshark %+v", port, got, w)
				}
				compared++
			}
			if compared == 0 {
				t.Error("nothing compared")
			}
		})
	}
}

// deref is *p, or "" for nil.
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// tsharkTimes returns, per client port, the capture times (seconds) of the
// SYN, the SYN/ACK, the first ClientHello, the first ServerHello, and the
// first application_data record from the client and from the server, as
// tshark reads them. Only up to TLS 1.2 are application_data records all
// application data.
func tsharkTimes(t *testing.T, path string) map[string][6]float64 {
	times := map[string][6]float64{}
	for _, f := range tsharkFields(t, path, "(tcp.flags.syn == 1) || tls.handshake.type == 1 || tls.handshake.type == 2 || tls.record.content_type == 23",
		"frame.time_epoch", "tcp.srcport", "tcp.dstport", "tcp.flags.syn", "tcp.flags.ack", "tls.handshake.type", "tls.record.content_type") {
		ts, _ := strconv.ParseFloat(f[0], 64)
		set := func(port string, i int) {
			v := times[port]
			if v[i] == 0 {
				v[i] = ts
			}
			times[port] = v
		}
		switch {
		case f[3] == "1" && f[4] == "0":
			set(f[1], 0)
		case f[3] == "1":
			set(f[2], 1)
		case strings.Contains(f[5], "1") && !strings.Contains(f[5], "2"):
			set(f[1], 2)
		case strings.Contains(f[5], "2"):
			set(f[2], 3)
		case strings.Contains(f[6], "23") && times[f[1]][0] != 0:
			set(f[1], 4) // the client's port knows a SYN
		case strings.Contains(f[6], "23"):
			set(f[2], 5)
		}
	}
	return times
}

// TestTimingAgainstTshark checks the TCP and TLS timings against tshark's
// frame times on real OpenSSL and GnuTLS captures.
func TestTimingAgainstTshark(t *testing.T) {
	testenv.Tool(t, "tshark")
	for _, name := range []string{"openssl.pcap", "gnutls-sll2.pcap", "segments.pcap"} {
		path := "../../samples/" + name
		want := tsharkTimes(t, path)
		out, _, _ := tlssniff(t, "-r", path, "--json")
		for _, c := range parseNDJSON(t, out) {
			w := want[strconv.Itoa(int(c.Client.Port))]
			ms := func(a, b float64) float64 { return (b - a) * 1000 }
			for _, check := range []struct {
				name string
				got  *float64
				want float64
			}{
				{"SYN to SYN/ACK", c.Timing.SYNToSYNACKMS, ms(w[0], w[1])},
				{"SYN to ClientHello", c.Timing.SYNToClientHelloMS, ms(w[0], w[2])},
				{"ClientHello to ServerHello", c.Timing.ClientHelloToServerHelloMS, ms(w[2], w[3])},
				{"client's first data", c.Timing.ClientFirstDataMS, ms(w[0], w[4])},
				{"server's first data", c.Timing.ServerFirstDataMS, ms(w[0], w[5])},
			} {
				if strings.HasSuffix(check.name, "data") && (c.Version == nil || *c.Version != "TLS 1.2") {
					continue
				}
				if check.want < 0 { // tshark saw none
					if check.got != nil {
						t.Errorf("%s port %d: %s %v ms, tshark saw none", name, c.Client.Port, check.name, *check.got)
					}
					continue
				}
				// Both sides hold microseconds; tshark's epoch float keeps them.
				if check.got == nil || math.Abs(*check.got-check.want) > 0.002 {
					t.Errorf("%s port %d: %s %v ms, tshark %.3f ms", name, c.Client.Port, check.name, check.got, check.want)
				}
			}
			if c.Messages[0].Type != "ClientHello" || math.Abs(c.Messages[0].OffsetMS-ms(w[0], w[2])) > 0.002 {
				t.Errorf("%s port %d: ClientHello offset %v", name, c.Client.Port, c.Messages[0].OffsetMS)
			}
		}
	}
}
