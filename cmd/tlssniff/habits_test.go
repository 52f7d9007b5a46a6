package main

import (
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tlssniff/tlssniff/report"
)

// TestTcpdumpHabits: what users of tcpdump and tshark type works as they
// expect. Files given after the options, or a folder, read as with -r;
// filters repeat (either value of one flag, every flag); --outcome takes
// the summary's classes; --host and --net take CIDR; a capture without TLS
// says so on stderr; an unknown flag gets the closest ones.
func TestTcpdumpHabits(t *testing.T) {
	files := samples(t)
	all, _, _ := tlssniff(t, append(allSamples(t), "--json")...)
	positional, _, code := tlssniff(t, append(slices.Clone(files), "--json")...)
	if code != 0 || positional != all {
		t.Errorf("files as arguments: exit %d, %d bytes, want the %d of -r", code, len(positional), len(all))
	}
	// A folder: every capture in it, whatever else is there.
	dir := t.TempDir()
	for _, f := range files {
		b, _ := os.ReadFile(f)
		os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644)
	}
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("notes\n"), 0o644)
	folder, errs, code := tlssniff(t, "-r", dir, "--json")
	if code != 0 || folder != all || !strings.Contains(errs, "1 files skipped, not pcap or pcapng: README.md") {
		t.Errorf("-r DIR: exit %d, %d bytes (want %d), stderr %q", code, len(folder), len(all), errs)
	}

	conns := parseNDJSON(t, all)
	pick := func(match func(report.Connection) bool) []string {
		var out []string
		for _, c := range conns {
			if match(c) {
				out = append(out, c.UID)
			}
		}
		return out
	}
	selected := func(args ...string) []string {
		out, errs, code := tlssniff(t, append(allSamples(t), append([]string{"--json"}, args...)...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
		var uids []string
		for _, c := range parseNDJSON(t, out) {
			uids = append(uids, c.UID)
		}
		return uids
	}
	within := func(c report.Connection, prefix string) bool {
		p := netip.MustParsePrefix(prefix)
		return p.Contains(netip.MustParseAddr(c.Client.IP)) || p.Contains(netip.MustParseAddr(c.Server.IP))
	}
	sni := func(c report.Connection) string {
		if c.SNI == nil {
			return ""
		}
		return *c.SNI
	}
	for _, tc := range []struct {
		args  []string
		match func(report.Connection) bool
	}{
		{[]string{"--outcome", "failed"}, func(c report.Connection) bool {
			return !c.Established && !slices.Contains([]string{"incomplete", "one_sided", "missing_start"}, c.Outcome)
		}},
		{[]string{"--outcome", "established"}, func(c report.Connection) bool { return c.Outcome == "established" }},
		{[]string{"--outcome", "reset", "--outcome", "alert"}, func(c report.Connection) bool { return c.Outcome == "reset" || c.Outcome == "alert" }},
		{[]string{"--sni", "hrr*", "--sni", "*.localhost"}, func(c report.Connection) bool {
			return strings.HasPrefix(sni(c), "hrr") || strings.HasSuffix(sni(c), ".localhost")
		}},
		{[]string{"--sni", "*.localhost", "--port", "44360", "--port", "44361"}, func(c report.Connection) bool {
			return strings.HasSuffix(sni(c), ".localhost") && (c.Server.Port == 44360 || c.Server.Port == 44361)
		}},
		{[]string{"--host", "10.9.0.0/24"}, func(c report.Connection) bool { return within(c, "10.9.0.0/24") }},
		{[]string{"--net", "2001:db8::/32", "--net", "10.0.0.2/32"}, func(c report.Connection) bool {
			return within(c, "2001:db8::/32") || within(c, "10.0.0.2/32")
		}},
		{[]string{"--host", "10.0.0.0/8", "--net", "10.9.0.0/16"}, func(c report.Connection) bool { return within(c, "10.9.0.0/16") }},
	} {
		want := pick(tc.match)
		if got := selected(tc.args...); len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("%v: %d connections %v, want %d %v", tc.args, len(got), got, len(want), want)
		}
	}

	// No TLS at all: said on stderr, exit 0. The capture holds the TCP
	// handshake of tls12.pcap only (its first 3 packets: 24 bytes of file
	// header, then 16 bytes of header and the frame each).
	b, _ := os.ReadFile("../../samples/tls12.pcap")
	end := 24
	for range 3 {
		end += 16 + int(binary.LittleEndian.Uint32(b[end+8:]))
	}
	noTLS := filepath.Join(t.TempDir(), "tcp-handshake.pcap")
	os.WriteFile(noTLS, b[:end], 0o644)
	out, errs, code := tlssniff(t, noTLS, "--json")
	if code != 0 || out != "" || errs != "tlssniff: no TLS connections in 3 packets\n" {
		t.Errorf("no TLS: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	out, errs, code = tlssniff(t, "../../samples/malformed.pcap", "--port", "443", "--sni", "nothing.invalid", "--json")
	if code != 0 || out != "" || errs != "" {
		t.Errorf("TLS filtered away: exit %d, stdout %q, stderr %q: only a capture without TLS is reported", code, out, errs)
	}
	_, errs, code = tlssniff(t, "--outcom", "failed")
	if code != exitUsage || !strings.Contains(errs, "tlssniff: hint: did you mean --outcome? ") {
		t.Errorf("--outcom: exit %d, stderr %q", code, errs)
	}
}

// writeCounter counts the writes made to it and the lines in them.
type writeCounter struct{ writes, lines, bytes int }

func (w *writeCounter) Write(p []byte) (int, error) {
	w.writes++
	w.lines += strings.Count(string(p), "\n")
	w.bytes += len(p)
	return len(p), nil
}

// TestLineBuffered: reading files into a pipe or a file, the output is
// written in blocks, as tcpdump -r writes it; -l writes each connection as
// it is decided, as tcpdump -l does, so that a reader of the pipe sees it
// then.
func TestLineBuffered(t *testing.T) {
	args := append(allSamples(t), "--json")
	var blocks, lines writeCounter
	if code := run(args, &blocks, &strings.Builder{}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if code := run(append(args, "-l"), &lines, &strings.Builder{}); code != 0 {
		t.Fatalf("-l: exit %d", code)
	}
	// Blocks of 64 KiB: as many writes as that makes, far fewer than lines.
	if blocks.lines < 20 || blocks.lines != lines.lines || blocks.writes > blocks.bytes/(64<<10)+1 || lines.writes != lines.lines {
		t.Errorf("%d lines, %d bytes in %d writes; with -l %d lines in %d writes", blocks.lines, blocks.bytes, blocks.writes, lines.lines, lines.writes)
	}
}
