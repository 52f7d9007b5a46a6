package main

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/tlssniff/tlssniff/report"
)

// pairOf names a connection by its two endpoints, in either order.
func pairOf(a, b string) string {
	if b < a {
		a, b = b, a
	}
	return a + " " + b
}

func endpoint(ip string, port uint16) string {
	if strings.Contains(ip, ":") {
		return fmt.Sprintf("[%s]:%d", ip, port)
	}
	return fmt.Sprintf("%s:%d", ip, port)
}

// tsharkConversations counts the frames of each TCP and UDP conversation
// tshark reads in path, by pairOf.
func tsharkConversations(t *testing.T, path string) map[string]int {
	out := map[string]int{}
	for _, r := range tsharkFields(t, path, "tcp || udp", "ip.src", "ipv6.src", "tcp.srcport", "udp.srcport",
		"ip.dst", "ipv6.dst", "tcp.dstport", "udp.dstport") {
		last := func(s string) string { // the inner header of a tunnel
			f := strings.Split(s, ",")
			return f[len(f)-1]
		}
		src, dst := last(r[0]+r[1]), last(r[4]+r[5])
		sp, dp := last(r[2]+r[3]), last(r[6]+r[7])
		if strings.Contains(src, ":") {
			src, dst = "["+src+"]", "["+dst+"]"
		}
		out[pairOf(src+":"+sp, dst+":"+dp)]++
	}
	return out
}

// TestWriteFailedConnections: -w with --outcome failed over the samples
// writes a pcapng file that tshark opens and that holds exactly the failing
// connections, each with as many packets as tlssniff counted for it; read
// again, it gives the same connections and outcomes.
func TestWriteFailedConnections(t *testing.T) {
	out := filepath.Join(t.TempDir(), "failed.pcapng")
	args := append(samples(t), "--outcome", "failed", "--json", "-w", out)
	stdout, stderr, code := tlssniff(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	failed := parseNDJSON(t, stdout)
	if len(failed) < 10 {
		t.Fatalf("%d failed connections in the samples", len(failed))
	}
	want := map[string]int{}
	for _, c := range failed {
		want[pairOf(endpoint(c.Client.IP, c.Client.Port), endpoint(c.Server.IP, c.Server.Port))] =
			int(c.Quality.ClientPackets + c.Quality.ServerPackets)
	}
	got := tsharkConversations(t, out)
	var diffs []string
	for k, n := range want {
		if got[k] != n {
			diffs = append(diffs, fmt.Sprintf("%s: tshark reads %d packets, tlssniff counted %d", k, got[k], n))
		}
	}
	for k, n := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: %d packets of a connection that did not fail", k, n))
		}
	}
	sort.Strings(diffs)
	for _, d := range diffs {
		t.Error(d)
	}
	t.Logf("%d failed connections, %d conversations in the file", len(want), len(got))

	again, _, code := tlssniff(t, "-r", out, "--json")
	if code != 0 {
		t.Fatalf("reading the file written: exit %d", code)
	}
	outcomes := func(cs []report.Connection) map[string]string {
		m := map[string]string{}
		for _, c := range cs {
			m[pairOf(endpoint(c.Client.IP, c.Client.Port), endpoint(c.Server.IP, c.Server.Port))] = c.Outcome
		}
		return m
	}
	if w, g := outcomes(failed), outcomes(parseNDJSON(t, again)); fmt.Sprint(w) != fmt.Sprint(g) {
		t.Errorf("read again:\n%v\nwant\n%v", g, w)
	}
}

// TestWriteKeyLogBlock: with keys, -w puts the key log lines of the
// connections it writes in a Decryption Secrets Block, and tshark, given
// the file alone, decrypts as many handshake messages as it does from the
// original capture with the key log file.
func TestWriteKeyLogBlock(t *testing.T) {
	out := filepath.Join(t.TempDir(), "keyed.pcapng")
	_, stderr, code := tlssniff(t, "-r", "../../samples/failures.pcap", "--keylog", "../../samples/failures.keys", "-w", out, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	count := func(read ...string) int {
		return len(tsharkWith(t, read, "tls.handshake.type == 20 || tls.handshake.type == 8", "frame.number"))
	}
	inFile := count("-r", out)
	withKeys := count("-r", "../../samples/failures.pcap", "-o", "tls.keylog_file:../../samples/failures.keys")
	if inFile == 0 || inFile != withKeys {
		t.Errorf("tshark decrypts %d Finished and EncryptedExtensions frames from the written file, %d from the capture with its key log", inFile, withKeys)
	}
	plain := filepath.Join(t.TempDir(), "plain.pcapng")
	if _, _, code := tlssniff(t, "-r", "../../samples/failures.pcap", "-w", plain, "--json"); code != 0 || count("-r", plain) >= inFile {
		t.Errorf("without --keylog: exit %d, %d frames decrypted", code, count("-r", plain))
	}
}
