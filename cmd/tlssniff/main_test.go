package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tlssniff/tlssniff/capture"
	"github.com/tlssniff/tlssniff/internal/testenv"
	"github.com/tlssniff/tlssniff/report"
)

var update = flag.Bool("update", false, "rewrite the golden files in report/testdata/golden")

func tlssniff(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return out.String(), errb.String(), code
}

func samples(t *testing.T) []string {
	paths, _ := filepath.Glob("../../samples/*.pcap*")
	if len(paths) < 8 {
		t.Fatalf("found %d samples", len(paths))
	}
	return paths
}

// parseNDJSON checks that every line of out is one JSON object.
func parseNDJSON(t *testing.T, out string) []report.Connection {
	t.Helper()
	var conns []report.Connection
	for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" && out == "" {
			break
		}
		var c report.Connection
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			t.Fatalf("line %d is not a connection object: %v\n%s", i+1, err, line)
		}
		conns = append(conns, c)
	}
	return conns
}

// golden compares got with report/testdata/golden/name (the report
// package checks the same files against its views), or rewrites it with
// -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("..", "..", "report", "testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file; review the change and run go test -update\ngot:\n%s", name, got)
	}
}

// utf8Terminal sets a UTF-8 locale, as a terminal's, without NO_COLOR.
func utf8Terminal(t *testing.T) {
	t.Setenv("LC_ALL", "")
	t.Setenv("LC_CTYPE", "")
	t.Setenv("LANG", "C.UTF-8")
	t.Setenv("NO_COLOR", "")
}

// TestGolden writes every sample in every format.
func TestGolden(t *testing.T) {
	utf8Terminal(t)
	for _, path := range samples(t) {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			for _, view := range []struct {
				suffix string
				args   []string
			}{
				{".ndjson", []string{"--json"}},
				{".table", nil},
				{".csv", []string{"--format", "csv"}},
				{".ladder", []string{"--ladder"}},
				{".ladder-ascii", []string{"--ladder", "--ascii"}},
				{".summary", []string{"--summary"}},
			} {
				out, errs, code := tlssniff(t, append([]string{"-r", path}, view.args...)...)
				if code != 0 || errs != "" {
					t.Fatalf("%v: exit %d, stderr %q", view.args, code, errs)
				}
				if view.suffix == ".ndjson" {
					parseNDJSON(t, out)
				}
				golden(t, name+view.suffix, out)
			}
		})
	}
}

func TestSampleFacts(t *testing.T) {
	conns := func(name string) []report.Connection {
		out, _, _ := tlssniff(t, "-r", "../../samples/"+name, "--json")
		return parseNDJSON(t, out)
	}
	hrr := conns("tls13-hrr.pcap")
	if len(hrr) != 1 || hrr[0].HelloRetryRequest == nil || *hrr[0].Group != "secp256r1" || !hrr[0].Established {
		t.Errorf("HRR: %+v", hrr)
	}
	res := conns("resumption.pcap")
	if len(res) != 4 || res[0].Resumed || !res[1].Resumed || res[2].Resumed || !res[3].Resumed {
		t.Errorf("resumption flags: %v %v %v %v", res[0].Resumed, res[1].Resumed, res[2].Resumed, res[3].Resumed)
	}
	alerts := conns("alerts.pcap")
	if len(alerts) != 2 || alerts[0].Alerts[0].Description != "bad_certificate" || alerts[0].Alerts[0].From != "client" ||
		alerts[1].Alerts[0].Description != "protocol_version" || alerts[1].Version != nil {
		t.Errorf("alerts: %+v", alerts)
	}
	seg := conns("segments.pcap")
	if len(seg) != 2 || !seg[0].Established || !seg[1].Established || len(seg[0].Issues)+len(seg[1].Issues) != 0 {
		t.Errorf("segments: %+v", seg)
	}
	v6 := conns("ipv6.pcapng")
	if len(v6) != 2 || v6[0].Client.IP != "2001:db8::1" || !v6[1].Established {
		t.Errorf("ipv6: %+v", v6)
	}
	bad := conns("malformed.pcap")
	if len(bad) != 1 || bad[0].Outcome != "not_tls_after_start" || len(bad[0].Issues) != 1 || bad[0].Issues[0].Kind != "malformed_record" {
		t.Errorf("malformed: %+v", bad)
	}
	mtls := conns("openssl.pcap")
	if len(mtls) != 3 || len(mtls[2].ClientCertificates) == 0 || *mtls[0].Version != "TLS 1.3" {
		t.Errorf("openssl: %+v", mtls)
	}
	ech := conns("ech.pcap")
	if len(ech) != 2 || ech[0].ClientHello.ECH == nil || *ech[0].ClientHello.ECH.OuterSNI != "public.example.test" ||
		ech[0].ClientHello.ECH.Grease != nil || ech[1].ClientHello.ECH.Grease == nil || *ech[1].ClientHello.ECH.Grease ||
		!ech[0].Established || ech[1].Timing.HelloRetryMS == nil {
		t.Errorf("ECH: %+v", ech)
	}
	pq := conns("tls13.pcap")
	if len(pq) != 1 || *pq[0].Group != "X25519MLKEM768" || pq[0].ClientHello.KeyShares[0] != "X25519MLKEM768" ||
		pq[0].ClientHello.Segments != 2 || pq[0].ClientHello.Length < 1448 {
		t.Errorf("post-quantum key share: %+v", pq)
	}
	zero := conns("openssl-0rtt.pcap")
	if len(zero) != 2 || !zero[1].Resumed || !zero[1].EarlyData.Offered || zero[1].EarlyData.Records != 1 ||
		!zero[1].EarlyData.Accepted || zero[1].ClientFlight == nil ||
		strings.Join(zero[1].ClientFlight.Messages, " ") != "EndOfEarlyData Finished" {
		t.Errorf("0-RTT: %+v", zero)
	}
	dtls := conns("openssl-dtls.pcap")
	if len(dtls) != 1 || dtls[0].Transport != "udp" || *dtls[0].Version != "DTLS 1.2" || !dtls[0].Established ||
		!strings.HasPrefix(dtls[0].ClientHello.JA4, "dd2d") || dtls[0].Timing.HelloRetryMS == nil ||
		dtls[0].Messages[1].Type != "HelloVerifyRequest" || dtls[0].Messages[2].Type != "ClientHello" {
		t.Errorf("OpenSSL DTLS 1.2 with a HelloVerifyRequest: %+v", dtls)
	}
	sll2 := conns("gnutls-sll2.pcap")
	if len(sll2) != 2 || *sll2[0].SNI != "server.localhost" || sll2[0].ServerFlight == nil ||
		strings.Join(sll2[0].ServerFlight.Messages, " ") != "EncryptedExtensions CertificateRequest Certificate CertificateVerify Finished" {
		t.Errorf("gnutls over SLL2: %+v", sll2)
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("not a capture\n"), 0o644)
	empty := filepath.Join(dir, "empty.pcap")
	os.WriteFile(empty, nil, 0o644)
	sample, _ := os.ReadFile("../../samples/resumption.pcap")
	textOnly := t.TempDir()
	os.WriteFile(filepath.Join(textOnly, "notes.txt"), []byte("not a capture\n"), 0o644)
	truncated := filepath.Join(dir, "truncated.pcap")
	os.WriteFile(truncated, sample[:len(sample)*2/3], 0o644)

	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
		conns  int
	}{
		{"no input", nil, 2, "tlssniff: error: no input\ntlssniff: hint: read a capture with -r FILE, or capture live with -i IFACE\n", 0},
		{"unknown flag", []string{"--bogus"}, 2, "tlssniff: error: unknown flag: --bogus\ntlssniff: hint: run 'tlssniff --help' for usage\n", 0},
		{"missing positional file", []string{filepath.Join(dir, "nope.pcap")}, 1, "tlssniff: error: open " + filepath.Join(dir, "nope.pcap") + ": no such file or directory\n", 0},
		{"missing file", []string{"-r", filepath.Join(dir, "nope.pcap")}, 1, "tlssniff: error: open " + filepath.Join(dir, "nope.pcap") + ": no such file or directory\n", 0},
		{"text file", []string{"-r", text}, 1, "tlssniff: error: " + text + ": not a pcap or pcapng file\n", 0},
		{"empty file", []string{"-r", empty}, 1, "not a pcap or pcapng file", 0},
		{"directory", []string{"-r", dir}, 1, "tlssniff: warning: " + dir + ": 2 files skipped, not pcap or pcapng: empty.pcap, notes.txt\n", 3},
		{"empty directory", []string{"-r", t.TempDir()}, 1, ": no capture in it\n", 0},
		{"directory without captures", []string{"-r", textOnly}, 1, "1 files skipped, not pcap or pcapng: notes.txt\ntlssniff: error: no pcap or pcapng file to read\n", 0},
		{"truncated capture", []string{"-r", truncated}, 1, "tlssniff: warning: " + truncated + ": stopped at packet ", 3},
		{"one bad file of two", []string{"-r", text, "-r", "../../samples/tls12.pcap"}, 1, "not a pcap or pcapng file", 1},
		{"missing CA file", []string{"-r", "../../samples/tls12.pcap", "--ca-file", filepath.Join(dir, "ca.pem")}, 2, "tlssniff: error: --ca-file: open ", 0},
		{"CA file without PEM", []string{"-r", "../../samples/tls12.pcap", "--ca-file", text}, 2, "no PEM certificate in it\ntlssniff: hint: --ca-file takes a PEM file", 0},
		{"bad BPF filter", []string{"-r", "../../samples/tls12.pcap", "-f", "port 443 and"}, 2, "tlssniff: error: filter \"port 443 and\": can't parse filter expression: syntax error\ntlssniff: hint: -f takes tcpdump's filter syntax", 0},
		{"-i with -r", []string{"-r", "../../samples/tls12.pcap", "-i", "lo"}, 2, "tlssniff: error: -i and -r together\n", 0},
		{"unknown interface", []string{"-i", "nosuch0"}, 1, "tlssniff: hint: the interfaces are: ", 0},
		{"HTML in a missing folder", []string{"-r", "../../samples/tls12.pcap", "--html", filepath.Join(dir, "no", "r.html")}, 1, "tlssniff: error: --html: open ", 0},
		{"HTML to a full disk", []string{"-r", "../../samples/tls12.pcap", "--html", "/dev/full"}, 1, "tlssniff: error: writing output: write /dev/full: no space left on device\n", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !capture.LiveSupported && (slices.Contains(tc.args, "-f") || slices.Contains(tc.args, "-i")) {
				// Without libpcap these are refused up front: make test
				// checks that message on the cgo-free binary.
				tc.code, tc.stderr = exitUsage, "tlssniff: error: "
			}
			out, errs, code := tlssniff(t, append(tc.args, "--json")...)
			if code != tc.code || !strings.Contains(errs, tc.stderr) {
				t.Errorf("exit %d, stderr %q; want %d, %q", code, errs, tc.code, tc.stderr)
			}
			if n := len(parseNDJSON(t, out)); n != tc.conns {
				t.Errorf("%d connections on stdout, want %d", n, tc.conns)
			}
			for _, line := range strings.Split(strings.TrimSpace(errs), "\n") {
				if line != "" && !strings.HasPrefix(line, "tlssniff: ") {
					t.Errorf("stderr line without prefix: %q", line)
				}
			}
		})
	}
}

func TestInputs(t *testing.T) {
	one, _, _ := tlssniff(t, "-r", "../../samples/tls12.pcap", "--json")

	// Standard input.
	f, err := os.Open("../../samples/tls12.pcap")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stdin := os.Stdin
	os.Stdin = f
	out, _, code := tlssniff(t, "-r", "-", "--json")
	os.Stdin = stdin
	if code != 0 || out != one {
		t.Errorf("stdin: exit %d, output differs", code)
	}

	// gzip by magic, whatever the name.
	raw, _ := os.ReadFile("../../samples/tls12.pcap")
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(raw)
	w.Close()
	path := filepath.Join(t.TempDir(), "capture")
	os.WriteFile(path, gz.Bytes(), 0o644)
	if out, _, code = tlssniff(t, "-r", path, "--json"); code != 0 || out != one {
		t.Errorf("gzip: exit %d, output differs", code)
	}

	// Several files are read as one stream, in time order: as the file
	// Wireshark's mergecap makes of them.
	files := []string{"../../samples/resumption.pcap", "../../samples/alerts.pcap"}
	out, _, code = tlssniff(t, "-r", files[0], "-r", files[1], "--json")
	if conns := parseNDJSON(t, out); code != 0 || len(conns) != 6 {
		t.Fatalf("merge: exit %d, %d connections", code, len(conns))
	}
	merged := filepath.Join(t.TempDir(), "merged.pcap")
	if b, err := exec.Command(testenv.Tool(t, "mergecap"), append([]string{"-F", "pcap", "-w", merged}, files...)...).CombinedOutput(); err != nil {
		t.Fatalf("mergecap: %v\n%s", err, b)
	}
	if want, _, _ := tlssniff(t, "-r", merged, "--json"); out != want {
		t.Errorf("two files read together:\n%s\nmergecap's merge of them:\n%s", out, want)
	}
}

// The samples' private CA makes their chains trusted.
func TestCAFile(t *testing.T) {
	for args, want := range map[string]string{
		"":                               "self signed certificate in certificate chain",
		"--ca-file ../../samples/ca.pem": "ok",
	} {
		out, _, code := tlssniff(t, append([]string{"-r", "../../samples/tls12.pcap", "--json"}, strings.Fields(args)...)...)
		conns := parseNDJSON(t, out)
		if code != 0 || len(conns) != 1 || conns[0].Validation == nil || conns[0].Validation.Status != want {
			t.Errorf("%q: exit %d, %+v", args, code, conns)
		}
	}
}

func TestHelpAndVersion(t *testing.T) {
	out, errs, code := tlssniff(t, "--help")
	if code != 0 || errs != "" || !strings.Contains(out, "Usage: tlssniff [options] FILE|DIR") || !strings.Contains(out, "\nSelection (") ||
		!strings.Contains(out, "      --json ") || strings.Contains(out, "[=true|false]") {
		t.Errorf("help: %d %q %q", code, out, errs)
	}
	out, _, code = tlssniff(t, "--version")
	if code != 0 || !strings.HasPrefix(out, "tlssniff ") {
		t.Errorf("version: %d %q", code, out)
	}
}

// Each outcome and capture-quality flag, from real crypto/tls sessions whose
// captures were cut or impaired (samples/README.md).
func TestOutcomesAndQuality(t *testing.T) {
	byPort := map[uint16]report.Connection{}
	for _, name := range []string{"impaired.pcap", "alerts.pcap", "malformed.pcap", "segments.pcap", "ipv6.pcapng"} {
		out, _, _ := tlssniff(t, "-r", "../../samples/"+name, "--json")
		for _, c := range parseNDJSON(t, out) {
			byPort[c.Client.Port] = c
		}
	}
	for _, tc := range []struct {
		port    uint16
		outcome string
		detail  string
		check   func(q report.Quality) bool
	}{
		{50059, "client_aborted_after_server_flight", "the client sent an encrypted alert after the server's flight", nil},
		{50060, "reset", "reset by the server after ClientHello from client", nil},
		{50061, "no_server_hello", "the server did not answer the ClientHello", nil},
		{50062, "incomplete", "the capture ended or went idle after ServerHelloDone from server", nil},
		{50063, "one_sided", "only the client's packets were captured", func(q report.Quality) bool { return q.OneSided && q.ServerPackets == 0 }},
		{50064, "established", "", func(q report.Quality) bool { return q.Gaps == 1 && q.GapBytes == 300 && q.OutOfOrder > 0 }},
		{50065, "established", "", func(q report.Quality) bool { return q.Truncated == 3 && q.Gaps == 3 }}, // the certificate and the server's data
		{50020, "alert", "fatal bad_certificate from client after ServerHelloDone from server, in the clear", nil},
		{50021, "version_or_cipher_mismatch", "the server refused the ClientHello with protocol_version", nil},
		{50051, "not_tls_after_start", "the server stopped sending TLS records after ServerHello from server", nil},
		{50031, "established", "", func(q report.Quality) bool { return q.Retransmits == 1 && q.OutOfOrder == 1 }},
		{50041, "established", "", func(q report.Quality) bool { return q.MissingSYN }},
		{50040, "established", "", func(q report.Quality) bool { return !q.MissingSYN && q.Gaps == 0 && q.Retransmits == 0 }},
	} {
		c, ok := byPort[tc.port]
		if !ok {
			t.Errorf("port %d: no connection", tc.port)
			continue
		}
		if c.Outcome != tc.outcome || !strings.HasPrefix(c.OutcomeDetail, tc.detail) || (tc.check != nil && !tc.check(c.Quality)) {
			t.Errorf("port %d: %s (%s), capture %+v; want %s (%s)", tc.port, c.Outcome, c.OutcomeDetail, c.Quality, tc.outcome, tc.detail)
		}
	}
	if gap := byPort[50064].Issues; len(gap) != 1 || gap[0].Detail != "300 bytes lost inside a Certificate message" {
		t.Errorf("the lost segment's issue: %+v", gap)
	}
	// A full handshake whose Certificate a gap took is not a resumption:
	// the client sent its keys before the server's ChangeCipherSpec.
	if c := byPort[50065]; c.Resumed {
		t.Errorf("port 50065: resumed, though the client's ClientKeyExchange came first")
	}
}

// Every sample cut short anywhere, or with bytes flipped, is read without a
// failure beyond exit 1: what was read is printed as NDJSON, diagnostics
// carry the prefix.
func TestDamagedCaptures(t *testing.T) {
	dir := t.TempDir()
	for _, path := range samples(t) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var variants [][]byte
		for k := 1; k < 8; k++ {
			variants = append(variants, data[:len(data)*k/8])
		}
		flipped := bytes.Clone(data)
		for i := 40; i < len(flipped); i += 97 {
			flipped[i] ^= 0x5a
		}
		variants = append(variants, flipped)
		for i, v := range variants {
			p := filepath.Join(dir, "damaged")
			os.WriteFile(p, v, 0o644)
			out, errs, code := tlssniff(t, "-r", p, "--json")
			if code != 0 && code != 1 {
				t.Errorf("%s variant %d: exit %d: %s", path, i, code, errs)
			}
			parseNDJSON(t, out)
			for _, line := range strings.Split(strings.TrimSpace(errs), "\n") {
				if line != "" && !strings.HasPrefix(line, "tlssniff: ") {
					t.Errorf("%s variant %d: stderr line %q", path, i, line)
				}
			}
		}
	}
}

// TestVerbose: -v writes the run's statistics to stderr, stdout unchanged.
func TestVerbose(t *testing.T) {
	plain, _, _ := tlssniff(t, "-r", "../../samples/impaired.pcap", "--json")
	out, errs, code := tlssniff(t, "-r", "../../samples/impaired.pcap", "--json", "-v")
	if code != 0 || out != plain {
		t.Fatalf("exit %d, stdout changed: %v", code, out != plain)
	}
	for _, want := range []string{"tlssniff: read 72 packets, 16223 bytes in ", "tlssniff: 72 TCP segments, 0 UDP datagrams, 0 other packets",
		"tlssniff: 7 flows, 7 TLS connections; 0 evicted", "tlssniff: 4 gaps (2328 bytes lost), 0 retransmitted and 2 out-of-order segments"} {
		if !strings.Contains(errs, want) {
			t.Errorf("no %q in\n%s", want, errs)
		}
	}
	for _, workers := range []string{"1", "2"} {
		_, errs, _ := tlssniff(t, "-r", "../../samples/impaired.pcap", "--workers", workers, "-v")
		if want := map[string]string{"1": " packets/s, 1 worker\n", "2": " packets/s, 2 workers\n"}[workers]; !strings.Contains(errs, want) {
			t.Errorf("--workers %s: no %q in\n%s", workers, want, errs)
		}
	}
	_, errs, _ = tlssniff(t, "-r", "../../samples/resumption.pcap", "--max-flows", "1", "-v")
	if !strings.Contains(errs, "4 flows, 4 TLS connections; 0 evicted") {
		t.Errorf("--max-flows 1 over sequential connections:\n%s", errs)
	}
}
