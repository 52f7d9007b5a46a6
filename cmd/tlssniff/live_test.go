package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tlssniff/tlssniff/capture"
	"github.com/tlssniff/tlssniff/internal/testenv"
	"github.com/tlssniff/tlssniff/internal/tlstest"
	"github.com/tlssniff/tlssniff/report"
)

// syncBuffer is a bytes.Buffer safe to write from run and read from the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// needLive skips the test where live capture on lo is impossible, and
// fails it in CI, where it must run.
func needLive(t testing.TB) {
	why := ""
	switch {
	case !capture.LiveSupported:
		why = "built without libpcap"
	case os.Geteuid() != 0:
		why = "not root"
	}
	if why == "" {
		if _, err := net.InterfaceByName("lo"); err != nil {
			why = "no lo interface"
		}
	}
	if why != "" {
		testenv.Unavailable(t, why)
	}
}

// sniffer runs tlssniff on lo in the background.
type sniffer struct {
	out, errs syncBuffer
	done      chan int
}

// startSniffer returns once the sniffer says it is capturing.
func startSniffer(t testing.TB, args ...string) *sniffer {
	s := &sniffer{done: make(chan int, 1)}
	go func() { s.done <- run(append([]string{"-i", "lo"}, args...), &s.out, &s.errs) }()
	s.await(t, "capturing", func() bool { return strings.Contains(s.errs.String(), "tlssniff: listening on lo, ") })
	return s
}

// await polls until ready says yes, for at most 10 seconds.
func (s *sniffer) await(t testing.TB, what string, ready func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ready(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not %s after 10 s:\n%s\nstderr: %s", what, s.out.String(), s.errs.String())
		}
	}
}

// waitLines waits until the sniffer has written n lines.
func (s *sniffer) waitLines(t testing.TB, n int) []string {
	t.Helper()
	return s.waitMatching(t, n, "")
}

// waitMatching waits until n lines holding sub were written and returns
// every line.
func (s *sniffer) waitMatching(t testing.TB, n int, sub string) []string {
	t.Helper()
	var lines []string
	s.await(t, fmt.Sprintf("%d connections reported", n), func() bool {
		lines = strings.Split(strings.TrimSpace(s.out.String()), "\n")
		m := 0
		for _, l := range lines {
			if l != "" && strings.Contains(l, sub) {
				m++
			}
		}
		return m >= n
	})
	return lines
}

// interrupt sends sig, SIGINT as Ctrl-C would or SIGHUP as a closed
// terminal would, and returns the exit status.
func (s *sniffer) interrupt(t testing.TB, sig syscall.Signal) int {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), sig); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-s.done:
		return code
	case <-time.After(5 * time.Second):
		t.Fatalf("the sniffer did not stop on %v", sig)
		return -1
	}
}

// TestLive captures real handshakes on lo as they happen: Go crypto/tls
// and OpenSSL's s_client against a Go server, each reported with the
// right SNI, version and suite before the sniffer is stopped; then SIGINT
// decides an unfinished handshake as incomplete and exits 0.
func TestLive(t *testing.T) {
	pki, ln, negotiated, s := liveRig(t)

	var wants []string // SNIs in the order of the handshakes
	for i, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13, tls.VersionTLS12, tls.VersionTLS13} {
		sni := fmt.Sprintf("go%d-live.example.test", i)
		cfg, _ := pki.Configs(sni, v, v)
		c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "hi\n")
		io.ReadFull(c, make([]byte, 6))
		c.Close()
		wants = append(wants, sni)
	}
	if path, err := exec.LookPath("openssl"); err == nil {
		for _, v := range []string{"-tls1_2", "-tls1_3"} {
			sni := "openssl" + v + ".example.test"
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			// -quiet implies -ign_eof, which would keep the session open.
			cmd := exec.CommandContext(ctx, path, "s_client", "-connect", ln.Addr().String(), "-servername", sni, v, "-quiet", "-no_ign_eof")
			cmd.Stdin = strings.NewReader("hi\n")
			out, err := cmd.CombinedOutput()
			cancel()
			if err != nil && !strings.Contains(string(out), "hello") {
				t.Fatalf("openssl s_client %s: %v\n%s", v, err, out)
			}
			wants = append(wants, sni)
		}
	} else if os.Getenv("CI") != "" {
		t.Fatal("openssl must be installed in CI")
	}

	// Every handshake is on stdout while the sniffer still runs.
	conns := parseNDJSON(t, strings.Join(s.waitLines(t, len(wants)), "\n")+"\n")
	for i, sni := range wants {
		c := conns[i]
		v, _ := negotiated.Load(sni)
		w, _ := v.([2]string)
		if c.SNI == nil || *c.SNI != sni || c.Version == nil || *c.Version != w[0] ||
			c.CipherSuite == nil || *c.CipherSuite != w[1] || c.Outcome != "established" {
			t.Errorf("connection %d: %v %v %v %s; the server saw %s %v", i, c.SNI, c.Version, c.CipherSuite, c.Outcome, sni, w)
		}
	}

	// A client that stops after the server's flight: the handshake stays
	// pending until the capture is stopped, here by SIGHUP (a closed
	// terminal), which ends it as SIGINT does. Once the client has the
	// server's flight, one more handshake is made: when the sniffer has
	// reported it, it has read every packet of the stalled one too.
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	stall := &stallAfterFirstWrite{Conn: raw, stalled: make(chan struct{}), release: make(chan struct{})}
	defer close(stall.release)
	clientCfg, _ := pki.Configs("stalled.example.test", tls.VersionTLS12, tls.VersionTLS12)
	go tls.Client(stall, clientCfg).Handshake()
	<-stall.stalled
	cfg, _ := pki.Configs("after-stall.example.test", tls.VersionTLS13, tls.VersionTLS13)
	c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadFull(c, make([]byte, 6))
	c.Close()
	wants = append(wants, "after-stall.example.test")
	lines := s.waitLines(t, len(wants))
	if n := len(lines); n != len(wants) || !strings.Contains(lines[n-1], "after-stall.example.test") {
		t.Fatalf("the stalled handshake was reported before SIGHUP:\n%s", s.out.String())
	}
	if code := s.interrupt(t, syscall.SIGHUP); code != 0 {
		t.Errorf("exit %d after SIGHUP", code)
	}
	conns = parseNDJSON(t, s.out.String())
	last := conns[len(conns)-1]
	if len(conns) != len(wants)+1 || *last.SNI != "stalled.example.test" || last.Outcome != "incomplete" {
		t.Errorf("after SIGHUP: %d connections, last %v %s (%s)", len(conns), last.SNI, last.Outcome, last.OutcomeDetail)
	}
	if !strings.Contains(s.errs.String(), "packets received, 0 dropped by the kernel") {
		t.Errorf("stderr: %q", s.errs.String())
	}
}

// liveRig starts a TLS server on loopback and tlssniff on lo, filtered to
// the server's port, writing NDJSON.
func liveRig(tb testing.TB) (*tlstest.PKI, net.Listener, *sync.Map, *sniffer) {
	needLive(tb)
	pki, err := tlstest.NewPKI()
	if err != nil {
		tb.Fatal(err)
	}
	ln, negotiated := tlsServer(tb, pki)
	port := ln.Addr().(*net.TCPAddr).Port
	return pki, ln, negotiated, startSniffer(tb, "-f", fmt.Sprintf("tcp port %d", port), "--json")
}

// tlsServer serves TLS 1.2 and 1.3 on a loopback port, greets each client
// and records, by SNI, the version and suite it negotiated.
func tlsServer(t testing.TB, pki *tlstest.PKI) (net.Listener, *sync.Map) {
	_, serverCfg := pki.Configs("live.example.test", tls.VersionTLS12, tls.VersionTLS13)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", serverCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	negotiated := &sync.Map{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := c.(*tls.Conn)
				if tc.Handshake() != nil {
					return
				}
				st := tc.ConnectionState()
				negotiated.Store(st.ServerName, [2]string{tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite)})
				io.WriteString(c, "hello\n")
				io.Copy(io.Discard, c)
			}()
		}
	}()
	return ln, negotiated
}

// BenchmarkLiveLoad makes TLS 1.3 handshakes over loopback as fast as the
// machine allows while tlssniff captures them, and reports how many it
// reported and what the kernel dropped (make load; needs root).
func BenchmarkLiveLoad(b *testing.B) {
	pki, ln, _, s := liveRig(b)
	cfg, _ := pki.Configs("load.example.test", tls.VersionTLS13, tls.VersionTLS13)
	var made atomic.Int64
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
			if err != nil {
				continue
			}
			io.ReadFull(c, make([]byte, 6))
			c.Close()
			made.Add(1)
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	// The last closes reach the sniffer: wait until every handshake is
	// reported, or 5 s (the kernel may have dropped some, which is
	// reported below).
	for deadline := time.Now().Add(5 * time.Second); int64(strings.Count(s.out.String(), "\n")) < made.Load() &&
		time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
	}
	if code := s.interrupt(b, syscall.SIGINT); code != 0 {
		b.Fatalf("exit %d", code)
	}
	reported := int64(strings.Count(s.out.String(), "\n"))
	var received, dropped, ifDropped, conns int64
	fmt.Sscanf(s.errs.String(), "tlssniff: %d packets received, %d dropped by the kernel, %d dropped by the interface; %d TLS connections",
		&received, &dropped, &ifDropped, &conns)
	b.ReportMetric(float64(made.Load())/elapsed.Seconds(), "handshakes/s")
	b.ReportMetric(float64(made.Load()), "made")
	b.ReportMetric(float64(reported), "reported")
	b.ReportMetric(float64(dropped), "kernel-drops")
	b.ReportMetric(float64(received), "packets")
}

// stallAfterFirstWrite lets the ClientHello through and blocks every later
// write, as a client that hangs after the server's flight; stalled is
// closed when the client, having read that flight, tries to answer it.
type stallAfterFirstWrite struct {
	net.Conn
	writes           int
	stalled, release chan struct{}
}

func (s *stallAfterFirstWrite) Write(b []byte) (int, error) {
	if s.writes++; s.writes > 1 {
		if s.writes == 2 {
			close(s.stalled)
		}
		<-s.release
		return 0, io.ErrClosedPipe
	}
	return s.Conn.Write(b)
}

// TestLivePermissionHint: a user without the capture capabilities is told
// how to get them (the built binary, run as nobody).
func TestLivePermissionHint(t *testing.T) {
	needLive(t)
	setpriv := testenv.Tool(t, "setpriv")
	bin := filepath.Join(t.TempDir(), "tlssniff")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	os.Chmod(filepath.Dir(bin), 0o755)
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", bin, "-i", "lo")
	out, err := cmd.CombinedOutput()
	code := -1
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	if code != 1 || !strings.Contains(string(out), "tlssniff: hint: capturing needs root or the capabilities: run with sudo, or sudo setcap cap_net_raw,cap_net_admin+eip") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}

// TestLiveKeylog sniffs TLS 1.3 handshakes on lo while the client writes
// its key log to the file --keylog follows: the lines come after the
// records they open, and each handshake is still read with them.
func TestLiveKeylog(t *testing.T) {
	needLive(t)
	pki, err := tlstest.NewPKI()
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := tlsServer(t, pki)
	keys := filepath.Join(t.TempDir(), "sslkeys.log") // not there yet: the client makes it
	s := startSniffer(t, "-f", fmt.Sprintf("tcp port %d", ln.Addr().(*net.TCPAddr).Port), "--json", "--keylog", keys)
	f, err := os.OpenFile(keys, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := range 2 {
		cfg, _ := pki.Configs(fmt.Sprintf("keyed%d-live.example.test", i), tls.VersionTLS13, tls.VersionTLS13)
		cfg.KeyLogWriter = f
		c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "hi\n")
		io.ReadFull(c, make([]byte, 6))
		time.Sleep(300 * time.Millisecond) // the key log is read every 100 ms
		c.Close()
	}
	lines := s.waitLines(t, 2)
	s.interrupt(t, syscall.SIGINT)
	for _, c := range parseNDJSON(t, strings.Join(lines, "\n")) {
		if c.Decryption.Keys != "decrypted" || len(c.Certificates) == 0 || c.ALPN == nil {
			t.Errorf("%v: decryption %+v, %d certificates, ALPN %v\nstderr: %s", c.SNI, c.Decryption, len(c.Certificates), c.ALPN, s.errs.String())
		}
	}
}

// TestLiveFanout: with --workers 2 a live capture is read by two
// AF_PACKET sockets in a fanout group, each with the filter, and reports
// the same connections, field for field, as one worker capturing the
// same handshakes beside it, but for times and the uid made with one
// (each socket stamps its packets itself); loopback's doubled packets are dropped as libpcap
// drops them.
func TestLiveFanout(t *testing.T) {
	pki, ln, _, one := liveRig(t)
	port := ln.Addr().(*net.TCPAddr).Port
	two := startSniffer(t, "-f", fmt.Sprintf("tcp port %d", port), "--json", "--workers", "2", "-v")
	if !strings.Contains(two.errs.String(), "2 sockets in a fanout group") {
		t.Fatalf("stderr: %s", two.errs.String())
	}
	const n = 16
	for i := range n {
		v := []uint16{tls.VersionTLS12, tls.VersionTLS13}[i%2]
		cfg, _ := pki.Configs(fmt.Sprintf("fan%d.example.test", i), v, v)
		c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadFull(c, make([]byte, 6))
		c.Close()
	}
	one.waitMatching(t, n, `"sni":"fan`)
	two.waitMatching(t, n, `"sni":"fan`)
	if code := two.interrupt(t, syscall.SIGINT); code != 0 {
		t.Errorf("exit %d", code)
	}
	<-one.done
	byClient := func(s *sniffer) map[uint16]string {
		out := map[uint16]string{}
		for _, c := range parseNDJSON(t, s.out.String()) {
			// Only the test's handshakes: on a machine running other tests,
			// a connection of theirs may use the listener's port as its own.
			if c.SNI == nil || !strings.HasPrefix(*c.SNI, "fan") {
				t.Logf("a connection not made by the test: %s:%d > %s:%d", c.Client.IP, c.Client.Port, c.Server.IP, c.Server.Port)
				continue
			}
			c.Start, c.Timing, c.Diagnosis = report.Timestamp{}, report.Timing{}, nil // times, and what they show
			c.TS, c.UID = report.EpochTime{}, ""                                      // from the start's time
			for i := range c.Messages {
				c.Messages[i].TS, c.Messages[i].OffsetMS = report.Timestamp{}, 0
			}
			for i := range c.Alerts {
				c.Alerts[i].TS = report.Timestamp{}
			}
			for i := range c.Quality.Marks {
				c.Quality.Marks[i].TS = report.Timestamp{} // each socket stamps its copy
			}
			b, _ := json.Marshal(c)
			out[c.Client.Port] = string(b)
		}
		return out
	}
	a, b := byClient(one), byClient(two)
	if len(a) != n || len(b) != n {
		t.Fatalf("%d and %d connections, want %d", len(a), len(b), n)
	}
	for port, want := range a {
		if b[port] != want {
			t.Errorf("client port %d:\n one worker  %s\n two workers %s", port, want, b[port])
		}
	}
	// No packet is seen twice by the two sockets: a test connection has
	// no more retransmitted segments than the one socket saw. It may have
	// some: loopback on a loaded machine retransmits now and then (a CI
	// run saw one, at both sniffers), and another test's connection
	// caught by the filter is left out above.
	once := map[uint16]uint64{}
	for _, c := range parseNDJSON(t, one.out.String()) {
		once[c.Client.Port] = c.Quality.Retransmits
	}
	for _, c := range parseNDJSON(t, two.out.String()) {
		if c.SNI != nil && strings.HasPrefix(*c.SNI, "fan") && c.Quality.Retransmits > once[c.Client.Port] {
			t.Errorf("client port %d: %d segments seen twice", c.Client.Port, c.Quality.Retransmits-once[c.Client.Port])
		}
	}
}
