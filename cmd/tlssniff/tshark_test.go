package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// tsharkHellos returns, per client port, the first ClientHello's JA3 and
// SNI and the last ServerHello's JA3S as tshark computes them.
func tsharkHellos(t *testing.T, path string) map[string][3]string {
	out, err := exec.Command("tshark", "-r", path, "-Y", "tls.handshake.type == 1 || tls.handshake.type == 2",
		"-T", "fields", "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "tls.handshake.type",
		"-e", "tls.handshake.ja3", "-e", "tls.handshake.extensions_server_name", "-e", "tls.handshake.ja3s").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	hellos := map[string][3]string{}
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 6 {
			continue
		}
		if strings.Contains(f[2], "1") && !strings.Contains(f[2], "2") {
			h := hellos[f[0]]
			if h[0] == "" {
				h[0], h[1] = f[3], f[4]
			}
			hellos[f[0]] = h
		} else if f[5] != "" {
			h := hellos[f[1]]
			h[2] = f[5]
			hellos[f[1]] = h
		}
	}
	return hellos
}

// TestAgainstTshark checks JA3, JA3S and SNI against Wireshark's own
// dissector on every sample.
func TestAgainstTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tshark must be installed in CI")
		}
		t.Skip("tshark not installed")
	}
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
				sni := ""
				if c.SNI != nil {
					sni = *c.SNI
				}
				ja3s := ""
				if c.ServerHello != nil {
					ja3s = c.ServerHello.JA3S
				}
				if c.ClientHello.JA3 != w[0] || sni != w[1] || ja3s != w[2] {
					t.Errorf("client port %s: JA3 %s SNI %q JA3S %s; tshark %s %q %s", port, c.ClientHello.JA3, sni, ja3s, w[0], w[1], w[2])
				}
				compared++
			}
			if compared == 0 {
				t.Error("nothing compared")
			}
		})
	}
}
