package main

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tlssniff/tlssniff/capture"
	"github.com/tlssniff/tlssniff/internal/testenv"
)

// allSamples is -r for every sample, in a fixed order.
func allSamples(t *testing.T) []string {
	var args []string
	for _, p := range samples(t) {
		args = append(args, "-r", p)
	}
	return args
}

// TestLadderMutualTLS12: every message of a TLS 1.2 handshake with client
// certificates, in order, with its time.
func TestLadderMutualTLS12(t *testing.T) {
	utf8Terminal(t)
	out, _, code := tlssniff(t, "-r", "../../samples/openssl.pcap", "--ladder", "--port", "59756")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	want := []string{"SYN", "SYN/ACK", "ACK", "ClientHello", "ServerHello", "Certificate", "ServerKeyExchange",
		"CertificateRequest", "ServerHelloDone", "Certificate", "ClientKeyExchange", "CertificateVerify",
		"ChangeCipherSpec", "Finished", "NewSessionTicket", "ChangeCipherSpec", "Finished", "ApplicationData", "ApplicationData"}
	got := arrows(t, out)
	if strings.Join(got.labels, " ") != strings.Join(want, " ") {
		t.Errorf("arrows\n%v\nwant\n%v", got.labels, want)
	}
	for i := 1; i < len(got.times); i++ {
		if got.times[i] < got.times[i-1] {
			t.Errorf("arrow %d (%s) at %s before %s", i, got.labels[i], got.times[i], got.times[i-1])
		}
	}
	for _, s := range []string{"CN=client.localhost; chain of 2", "CN=server.localhost; chain of 2", "TLS 1.2; TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"} {
		if !strings.Contains(out, s) {
			t.Errorf("no %q in\n%s", s, out)
		}
	}
}

// TestLadderHRR: both ClientHellos, the HelloRetryRequest, and the
// encrypted flight named by inference.
func TestLadderHRR(t *testing.T) {
	utf8Terminal(t)
	out, _, _ := tlssniff(t, "-r", "../../samples/tls13-hrr.pcap", "--ladder")
	got := strings.Join(arrows(t, out).labels, " ")
	want := "SYN SYN/ACK ACK ClientHello HelloRetryRequest ChangeCipherSpec ChangeCipherSpec ClientHello ServerHello " +
		"EncryptedExtensions Certificate CertificateVerify Finished Finished"
	if !strings.HasPrefix(got, want) {
		t.Errorf("arrows\n%s\nwant them to start with\n%s", got, want)
	}
	for _, s := range []string{"asks for a key share of secp256r1", "key shares x25519;", "key shares secp256r1;",
		"┄┄ Finished", "hello retry round trip 20.200 ms"} {
		if !strings.Contains(out, s) {
			t.Errorf("no %q in\n%s", s, out)
		}
	}
}

type ladderArrows struct{ labels, times []string }

// arrows reads the labels and times of a ladder's arrows.
func arrows(t *testing.T, out string) ladderArrows {
	t.Helper()
	re := regexp.MustCompile(`^ *([0-9.]+) ms [│|][─┄━~×.=x<>◀ -]*? ([A-Za-z/ ]+?) [─┄━~×.=x>▶ -]*[│|]`)
	var a ladderArrows
	for _, line := range strings.Split(out, "\n") {
		if m := re.FindStringSubmatch(line); m != nil {
			a.times = append(a.times, m[1])
			a.labels = append(a.labels, m[2])
		}
	}
	if len(a.labels) == 0 {
		t.Fatalf("no arrows in\n%s", out)
	}
	return a
}

// TestLadderEscapesWireStrings: an SNI made of terminal escapes reaches the
// terminal as text, in every view that prints it.
func TestLadderEscapesWireStrings(t *testing.T) {
	capture, err := os.ReadFile("../../samples/tls12.pcap")
	if err != nil {
		t.Fatal(err)
	}
	evil := "\x1b[2J\x1b]0;pwn\a\n12345" // as long as tls12.example.test
	if len(evil) != len("tls12.example.test") {
		t.Fatalf("evil SNI is %d bytes", len(evil))
	}
	path := filepath.Join(t.TempDir(), "evil.pcap")
	if err := os.WriteFile(path, bytes.ReplaceAll(capture, []byte("tls12.example.test"), []byte(evil)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--ladder", "--color", "always"}, {"--ladder", "--ascii"}, {}, {"--summary"}, {"--format", "csv"}} {
		out, _, _ := tlssniff(t, append([]string{"-r", path}, args...)...)
		// The only escapes left are the SGR colors the ladder writes.
		rest := regexp.MustCompile(`\x1b\[[0-9;]*m`).ReplaceAllString(out, "")
		if strings.ContainsAny(rest, "\x1b\a") || !strings.Contains(out, `\x1b[2J\x1b]0;pwn\a\n12345`) {
			t.Errorf("%v: the SNI was not escaped:\n%q", args, out)
		}
	}
}

// TestColor: colors on a terminal unless NO_COLOR, never in a pipe unless
// asked for.
func TestColor(t *testing.T) {
	utf8Terminal(t)
	sgr := "\x1b["
	out, _, _ := tlssniff(t, "-r", "../../samples/tls12.pcap", "--ladder")
	if strings.Contains(out, sgr) {
		t.Error("colors in a pipe")
	}
	out, _, _ = tlssniff(t, "-r", "../../samples/tls12.pcap", "--ladder", "--color", "always")
	if !strings.Contains(out, sgr) {
		t.Error("no colors with --color always")
	}
	tty, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		testenv.Unavailable(t, "no pseudo-terminal to test auto: "+err.Error())
	}
	defer tty.Close()
	if !isTerminal(tty) {
		t.Error("a pseudo-terminal is not taken for a terminal")
	}
	if isTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is taken for a terminal")
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if isTerminal(null) {
		t.Error("/dev/null, a character device, is taken for a terminal")
	}
	c := &cli{format: formatLadder, color: "auto"}
	for _, noColor := range []string{"", "1"} {
		t.Setenv("NO_COLOR", noColor)
		l := fmt.Sprintf("%+v", c.sink(tty))
		if colored := strings.Contains(l, "Color:true"); colored != (noColor == "") {
			t.Errorf("NO_COLOR=%q: sink %s", noColor, l)
		}
	}
	t.Setenv("LANG", "C")
	if !strings.Contains(fmt.Sprintf("%+v", c.sink(tty)), "ASCII:true") {
		t.Error("Unicode drawing outside a UTF-8 locale")
	}
}

// TestFiltersAndSort selects and orders connections; the same input gives
// the same output.
func TestFiltersAndSort(t *testing.T) {
	all := allSamples(t)
	var header []string
	csvRows := func(args ...string) [][]string {
		out, errs, code := tlssniff(t, append(append([]string{}, all...), append([]string{"--format", "csv"}, args...)...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
		rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil || len(rows) == 0 || rows[0][0] != "start" {
			t.Fatalf("%v: not CSV with a header: %v\n%s", args, err, out)
		}
		header = rows[0]
		return rows[1:]
	}
	col := func(name string) int {
		i := slices.Index(header, name)
		if i < 0 {
			t.Fatalf("no column %s", name)
		}
		return i
	}
	everything := csvRows()
	if len(everything) < 25 {
		t.Fatalf("%d connections in the samples", len(everything))
	}
	for _, tc := range []struct {
		args []string
		keep func(r []string) bool
	}{
		{[]string{"--sni", "*.EXAMPLE.test"}, func(r []string) bool { return strings.HasSuffix(r[col("sni")], ".example.test") }},
		{[]string{"--sni", "resume1?.example.test"}, func(r []string) bool { return strings.HasPrefix(r[col("sni")], "resume1") }},
		{[]string{"--host", "2001:db8::2"}, func(r []string) bool {
			return r[col("client_ip")] == "2001:db8::2" || r[col("server_ip")] == "2001:db8::2"
		}},
		{[]string{"--host", "127.0.0.1"}, func(r []string) bool { return r[col("server_ip")] == "127.0.0.1" }},
		{[]string{"--port", "8443"}, func(r []string) bool { return r[col("server_port")] == "8443" || r[col("client_port")] == "8443" }},
		{[]string{"--outcome", "alert"}, func(r []string) bool { return r[col("outcome")] == "alert" }},
	} {
		got := csvRows(tc.args...)
		want := 0
		for _, r := range everything {
			if tc.keep(r) {
				want++
			}
		}
		if len(got) != want || want == 0 {
			t.Errorf("%v: %d rows, want %d (of %d)", tc.args, len(got), want, len(everything))
		}
		for _, r := range got {
			if !tc.keep(r) {
				t.Errorf("%v kept %v", tc.args, r)
			}
		}
	}
	byHandshake := csvRows("--sort", "handshake")
	last := 1e18
	seenNone := false
	for _, r := range byHandshake {
		v := r[col("handshake_ms")]
		if v == "" {
			seenNone = true
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatal(err)
		}
		if seenNone || f > last {
			t.Errorf("--sort handshake: %s after %v (none seen: %v)", v, last, seenNone)
		}
		last = f
	}
	bySNI := csvRows("--sort", "sni")
	for i := 1; i < len(bySNI); i++ {
		a, b := bySNI[i-1][col("sni")], bySNI[i][col("sni")]
		if b != "" && (a == "" || a > b) {
			t.Errorf("--sort sni: %q before %q", a, b)
		}
	}
	byStart := csvRows("--sort", "start")
	for i := 1; i < len(byStart); i++ {
		if byStart[i-1][0] > byStart[i][0] {
			t.Errorf("--sort start: %s before %s", byStart[i-1][0], byStart[i][0])
		}
	}
	for _, args := range [][]string{{"--ladder"}, {"--summary"}, {"--json"}, {"--sort", "sni"}} {
		a, _, _ := tlssniff(t, append(append([]string{}, all...), args...)...)
		b, _, _ := tlssniff(t, append(append([]string{}, all...), args...)...)
		if a != b {
			t.Errorf("%v: two runs differ", args)
		}
	}
}

// TestBPFOnFiles: -f filters files with libpcap's compiler, as tcpdump
// would.
func TestBPFOnFiles(t *testing.T) {
	if !capture.LiveSupported {
		testenv.Unavailable(t, "built without libpcap")
	}
	byBPF, errs, code := tlssniff(t, "-r", "../../samples/openssl.pcap", "-r", "../../samples/ipv6.pcapng", "-f", "tcp port 44332 or ip6", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	conns := parseNDJSON(t, byBPF)
	var got []string
	for _, c := range conns {
		got = append(got, fmt.Sprintf("%s:%d", c.Server.IP, c.Server.Port))
	}
	// The files are merged by time: the IPv6 sample is older.
	if strings.Join(got, " ") != "2001:db8::2:443 2001:db8::2:443 127.0.0.1:44332" {
		t.Errorf("servers %v", got)
	}
}

// TestFormatFlags: one format at a time, shorthands equal to --format, and
// bad values refused with a hint.
func TestFormatFlags(t *testing.T) {
	in := []string{"-r", "../../samples/tls12.pcap"}
	for _, pair := range [][2]string{{"--json", "json"}, {"--ladder", "ladder"}, {"--summary", "summary"}} {
		a, _, _ := tlssniff(t, append(in, pair[0])...)
		b, _, _ := tlssniff(t, append(in, "--format", pair[1])...)
		if a != b || a == "" {
			t.Errorf("%s and --format %s differ", pair[0], pair[1])
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--json", "--ladder"}, "more than one output format: --json, --ladder"},
		{[]string{"--format", "xml"}, `unknown format "xml"`},
		{[]string{"--color", "sometimes"}, `unknown --color "sometimes"`},
		{[]string{"--sort", "size"}, `unknown --sort "size"`},
		{[]string{"--outcome", "failure"}, `unknown outcome "failure"`},
		{[]string{"--net", "10.0.0.1"}, `--net "10.0.0.1" is not a network`},
		{[]string{"--port", "http"}, "--port http is not a port"},
		{[]string{"--port", "70000"}, "--port 70000 is not a port"},
		{[]string{"--host", "example.com"}, `--host "example.com" is not an IP address or network`},
		{[]string{"--sni", "[a-"}, `--sni "[a-": a [ without its ]`},
		{[]string{"-r", "-", "-r", "-"}, "standard input (-r -) can be read once"},
		{[]string{"--memory", "512KiB"}, `--memory "512KiB": less than 1MiB`},
		{[]string{"--memory", "lots"}, `--memory "lots": not a size`},
		{[]string{"--memory", "99999999999G"}, `--memory "99999999999G": too large`},
	} {
		_, errs, code := tlssniff(t, append(in, tc.args...)...)
		if code != exitUsage || !strings.HasPrefix(errs, "tlssniff: error: "+tc.want+"\ntlssniff: hint: ") {
			t.Errorf("%v: exit %d, stderr %q", tc.args, code, errs)
		}
	}
}

// TestHTML renders the report of every sample: golden, self-contained, and
// filtered in headless Chromium when it is installed (in CI it must be).
func TestHTML(t *testing.T) {
	path := filepath.Join(t.TempDir(), "report.html")
	out, errs, code := tlssniff(t, append(allSamples(t), "--summary", "--html", path)...)
	if code != 0 || out == "" {
		t.Fatalf("exit %d: %s", code, errs)
	}
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "samples.html", string(page))
	// Self-contained: nothing to fetch.
	if m := regexp.MustCompile(`(?i)(src|href)=|url\((?:["']?)(?:https?:|//)|@import|https?://`).FindString(string(page)); m != "" {
		t.Errorf("the page refers elsewhere: %q", m)
	}
	chromium := testenv.Tool(t, "chromium")
	dom := func(fragment string) string {
		cmd := exec.Command(chromium, append(chromiumFlags(t), "--dump-dom", "file://"+path+fragment)...)
		var stdout bytes.Buffer
		cmd.Stdout = &stdout
		if err := cmd.Run(); err != nil {
			t.Fatalf("chromium: %v", err)
		}
		return stdout.String()
	}
	shown := regexp.MustCompile(`id="shown"[^>]*>([^<]*)<`)
	js, _, _ := tlssniff(t, append(allSamples(t), "--json", "--outcome", "alert")...)
	for _, tc := range []struct{ fragment, want string }{
		{"", fmt.Sprintf("%d of %[1]d shown", sampleConnections)},
		{"#sni=resume1*", fmt.Sprintf("4 of %d shown", sampleConnections)},
		{"#outcome=alert", fmt.Sprintf("%d of %d shown", len(parseNDJSON(t, js)), sampleConnections)},
		{"#sni=impaired&outcome=established", fmt.Sprintf("2 of %d shown", sampleConnections)},
	} {
		d := dom(tc.fragment)
		if m := shown.FindStringSubmatch(d); m == nil || m[1] != tc.want {
			t.Errorf("%q: %v, want %q", tc.fragment, m, tc.want)
		}
	}
	// Sorting, as the browser leaves the table: rows in order of their
	// handshake time (those without last) or of their SNI, each followed
	// by its diagram; a row opened from the address shows its diagram.
	all, _, _ := tlssniff(t, append(allSamples(t), "--json")...)
	slowest := 0.0
	for _, c := range parseNDJSON(t, all) {
		if c.Timing.HandshakeMS != nil {
			slowest = max(slowest, *c.Timing.HandshakeMS)
		}
	}
	rowRE := regexp.MustCompile(`<tr class="row" id="(r\d+)" data-sni="([^"]*)" data-outcome="[^"]*"[^>]*>(.*?)</tr>`)
	cellRE := regexp.MustCompile(`<td>([^<]*)</td>`)
	rows := func(d string) (ids, snis, hs []string) {
		head := regexp.MustCompile(`<th data-col="\d+"[^>]*>([^<]*)</th>`).FindAllStringSubmatch(d, -1)
		col := slices.IndexFunc(head, func(m []string) bool { return m[1] == "HANDSHAKE" })
		for _, m := range rowRE.FindAllStringSubmatch(d, -1) {
			cells := cellRE.FindAllStringSubmatch(m[3], -1)
			ids, snis, hs = append(ids, m[1]), append(snis, m[2]), append(hs, strings.TrimSuffix(cells[col][1], " ms"))
		}
		return
	}
	ids, _, hs := rows(dom("#sort=handshake&desc=1"))
	if len(ids) != sampleConnections || hs[0] != fmt.Sprintf("%.3f", slowest) {
		t.Errorf("sorted by handshake, slowest first: %d rows, the first %q, want %.3f", len(ids), hs[0], slowest)
	}
	last := math.Inf(1)
	for i, h := range hs {
		v, err := strconv.ParseFloat(h, 64)
		if err != nil && slices.ContainsFunc(hs[i:], func(h string) bool { return h != "-" }) || err == nil && v > last {
			t.Errorf("handshake times out of order, or a row without one before one with: %q", hs)
			break
		}
		if err == nil {
			last = v
		}
	}
	_, snis, _ := rows(dom("#sort=sni&outcome=established"))
	sorted := slices.Clone(snis)
	slices.SortStableFunc(sorted, func(a, b string) int {
		return cmp.Or(compareBool(a == "", b == ""), strings.Compare(strings.ToLower(a), strings.ToLower(b)))
	})
	if !slices.Equal(snis, sorted) || len(snis) != sampleConnections {
		t.Errorf("sorted by SNI: %q", snis)
	}
	opened := dom("#open=r3")
	if n := strings.Count(opened, `<tr class="diagram">`); n != 1 || !regexp.MustCompile(`id="r3"[^>]*>.*?</tr>\s*<tr class="diagram">`).MatchString(opened) {
		t.Errorf("#open=r3: %d diagrams open, or not r3's", n)
	}
}

// chromiumFlags start a headless Chromium that stays off the network.
func chromiumFlags(t *testing.T) []string {
	return []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir()}
}

// TestCountAndDuration: -c stops after N connections, --duration after a
// span of capture time in files.
func TestCountAndDuration(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		ports string
	}{
		{[]string{"-c", "3"}, "50010 50011 50012"},
		{[]string{"--duration", "1500ms"}, "50010 50011"}, // the connections start a second apart
		{[]string{"--outcome", "established", "-c", "1", "--sort", "sni"}, "50010"},
	} {
		for _, workers := range []string{"1", "3"} {
			args := append([]string{"-r", "../../samples/resumption.pcap", "--json", "--workers", workers}, tc.args...)
			out, errs, code := tlssniff(t, args...)
			var ports []string
			for _, c := range parseNDJSON(t, out) {
				ports = append(ports, strconv.Itoa(int(c.Client.Port)))
			}
			if code != 0 || strings.Join(ports, " ") != tc.ports {
				t.Errorf("%v: exit %d (%s), ports %v, want %s", args, code, errs, ports, tc.ports)
			}
		}
	}
}

// sampleConnections is how many connections the samples hold.
const sampleConnections = 56

// TestWorkersSameOutput: any number of workers writes the same bytes as
// one, on the samples and on every capture of the corpus; and on the
// samples with flows closed after 10 ms idle, so that each worker closes
// its idle flows at the packet one worker would, though the packet is
// another's (a worker that missed it wrote them later).
func TestWorkersSameOutput(t *testing.T) {
	inputs := [][]string{allSamples(t), append(allSamples(t), "--idle-timeout", "10ms")}
	for _, p := range corpusCaptures(t) {
		inputs = append(inputs, []string{"-r", p})
	}
	for i, in := range inputs {
		one, _, code := tlssniff(t, append(in, "--json", "--workers", "1")...)
		if i == 0 && (code != 0 || len(parseNDJSON(t, one)) != sampleConnections) {
			t.Fatalf("the samples with one worker: exit %d, %d connections", code, len(parseNDJSON(t, one)))
		}
		for _, n := range []string{"2", "3", "8"} {
			many, _, manyCode := tlssniff(t, append(in, "--json", "--workers", n)...)
			if many != one || manyCode != code {
				t.Errorf("%v: --workers %s writes other bytes or exits %d, not %d as one worker", in, n, manyCode, code)
			}
		}
	}
}

// TestPipeStreams: a capture read from a pipe, as from tcpdump -w - |
// tlssniff -l -r -, has its first connection written while the pipe is
// still open (a batch of packets used to wait for 256 packets or the end),
// with one worker, with two, and writing the connections' packets (-w);
// once the pipe ends the output is the same as the file's.
func TestPipeStreams(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the pipe is named by /proc/self/fd")
	}
	const path = "../../samples/resumption.pcap"
	capture, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, _, code := tlssniff(t, "-r", path, "--json")
	if code != 0 || want == "" {
		t.Fatalf("the file: exit %d, %d bytes", code, len(want))
	}
	exported := filepath.Join(t.TempDir(), "out.pcapng")
	for _, flags := range [][]string{{"--workers", "1"}, {"--workers", "2"}, {"-w", exported}} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		go w.Write(capture) // the pipe stays open after it
		outR, outW := io.Pipe()
		done := make(chan int, 1)
		var stderr bytes.Buffer
		go func() {
			code := run(append([]string{"-l", "-r", fmt.Sprintf("/proc/self/fd/%d", r.Fd()), "--json"}, flags...), outW, &stderr)
			outW.Close()
			done <- code
		}()
		out := bufio.NewReader(outR)
		first := make(chan string, 1)
		go func() {
			line, _ := out.ReadString('\n')
			first <- line
		}()
		var got string
		select {
		case got = <-first:
		case <-time.After(time.Minute):
			t.Fatalf("%v: no connection written in a minute while the pipe is open", flags)
		}
		w.Close()
		rest, _ := io.ReadAll(out)
		got += string(rest)
		if code := <-done; code != 0 || got != want {
			t.Errorf("%v: exit %d (%s), output the same as the file's: %v", flags, code, stderr.String(), got == want)
		}
		r.Close()
	}

	// -c 1 ends the run once a connection is written, though the pipe
	// stays open and the feed waits on it.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go w.Write(capture)
	var out, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"-r", fmt.Sprintf("/proc/self/fd/%d", r.Fd()), "--json", "-c", "1"}, &out, &stderr)
	}()
	select {
	case code := <-done:
		if n := strings.Count(out.String(), "\n"); code != 0 || n != 1 {
			t.Errorf("-c 1: exit %d (%s), %d connections", code, stderr.String(), n)
		}
	case <-time.After(time.Minute):
		t.Error("-c 1: still running a minute after its connection, the pipe open")
	}
	w.Close()
}

// TestDefaultWorkers: without --workers, a file is read with two workers
// where GOMAXPROCS gives 3 CPUs or more, else one; live with one; a number
// given is kept, and 0 refused.
func TestDefaultWorkers(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, tc := range []struct {
		procs int
		args  []string
		want  int
	}{
		{1, []string{"-r", "x.pcap"}, 1}, {2, []string{"-r", "x.pcap"}, 1}, {3, []string{"-r", "x.pcap"}, 2},
		{64, []string{"x.pcap"}, 2}, {64, []string{"-i", "lo"}, 1}, {64, []string{"-r", "x.pcap", "--workers", "5"}, 5},
		{2, []string{"-r", "x.pcap", "--workers", "3"}, 3},
	} {
		runtime.GOMAXPROCS(tc.procs)
		c, _, err := parseFlags(tc.args)
		if err != nil || c.workers != tc.want {
			t.Errorf("%v with %d CPUs: %d workers (%v), want %d", tc.args, tc.procs, c.workers, err, tc.want)
		}
	}
	if _, _, err := parseFlags([]string{"-r", "x.pcap", "--workers", "0"}); err == nil {
		t.Error("--workers 0 taken")
	}
}

// TestHostileWireStrings: an SNI that opens a spreadsheet formula, holds a
// right-to-left override, a NUL and a byte that is not UTF-8, and an ALPN
// of ESC c (a terminal reset), in every view: nothing reaches the output
// raw, no CSV cell starts a formula, JA4 takes FoxIO's hex digits for the
// ALPN, and the JSON keeps the bytes in sni_hex and alpn_hex.
func TestHostileWireStrings(t *testing.T) {
	capture, err := os.ReadFile("../../samples/tls12.pcap")
	if err != nil {
		t.Fatal(err)
	}
	evilSNI := "=1+2\u202etxt.exe\x00\xffab" // as long as tls12.example.test
	if len(evilSNI) != len("tls12.example.test") {
		t.Fatalf("evil SNI is %d bytes", len(evilSNI))
	}
	capture = bytes.ReplaceAll(capture, []byte("tls12.example.test"), []byte(evilSNI))
	capture = bytes.ReplaceAll(capture, []byte("\x02h2"), []byte("\x02\x1bc")) // offered and selected
	dir := t.TempDir()
	path := filepath.Join(dir, "evil.pcap")
	if err := os.WriteFile(path, capture, 0o644); err != nil {
		t.Fatal(err)
	}
	html := filepath.Join(dir, "evil.html")
	raw := regexp.MustCompile("[\x00-\x08\x0b-\x1f\x7f\u202e]")
	for _, args := range [][]string{{}, {"--format", "csv"}, {"--ladder", "--ascii"}, {"--summary", "--html", html}, {"--json"}} {
		out, _, code := tlssniff(t, append([]string{"-r", path}, args...)...)
		if code != 0 || !strings.Contains(out, "txt.exe") {
			t.Fatalf("%v: exit %d:\n%s", args, code, out)
		}
		if m := raw.FindString(out); m != "" || !utf8.ValidString(out) {
			t.Errorf("%v: %q or invalid UTF-8 reached the output:\n%q", args, m, out)
		}
		if len(args) > 0 && args[0] == "--format" {
			rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
			if err != nil || len(rows) != 2 {
				t.Fatalf("CSV: %v, %d rows", err, len(rows))
			}
			for i, cell := range rows[1] {
				if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
					t.Errorf("CSV column %s starts a formula: %q", rows[0][i], cell)
				}
			}
		}
		if len(args) > 0 && args[0] == "--json" {
			c := parseNDJSON(t, out)[0]
			sni, _ := hex.DecodeString(c.SNIHex)
			alpn, _ := hex.DecodeString(c.ALPNHex)
			if string(sni) != evilSNI || c.ALPNHex != "" && string(alpn) != "\x1bc" || *c.ALPN != "\x1bc" {
				t.Errorf("JSON: sni_hex %q, alpn %q, alpn_hex %q", c.SNIHex, *c.ALPN, c.ALPNHex)
			}
			if !strings.HasPrefix(c.ClientHello.JA4[8:], "13_") {
				t.Errorf("JA4 %s: the ALPN part should be FoxIO's hex digits 13", c.ClientHello.JA4)
			}
		}
	}
	page, err := os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	if m := raw.Find(page); m != nil {
		t.Errorf("HTML: %q reached the page", m)
	}
}

// compareBool orders false before true.
func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
