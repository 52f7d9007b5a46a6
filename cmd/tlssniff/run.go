package main

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tlssniff/tlssniff/capture"
	"github.com/tlssniff/tlssniff/export"
	"github.com/tlssniff/tlssniff/keylog"
	"github.com/tlssniff/tlssniff/metrics"
	"github.com/tlssniff/tlssniff/parser"
	"github.com/tlssniff/tlssniff/pipeline"
	"github.com/tlssniff/tlssniff/reassembly"
	"github.com/tlssniff/tlssniff/report"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

// Exit codes, as docs/CONTRACT.md defines them.
const (
	exitOK      = 0
	exitFailure = 1 // unreadable or corrupt input; what was read is still printed
	exitUsage   = 2
)

func run(args []string, stdout, stderr io.Writer) int {
	log := logger{stderr}
	c, fs, err := parseFlags(args)
	if err != nil {
		u := err.(*usageError)
		log.errorf("%s", u.msg)
		log.hintf("%s", u.hint)
		return exitUsage
	}
	switch {
	case c.help:
		fmt.Fprintf(stdout, usageText, flagHelp(fs))
		return exitOK
	case c.showVersion:
		fmt.Fprintf(stdout, "tlssniff %s\n", version)
		return exitOK
	case c.listIfaces:
		return listInterfaces(stdout, log)
	case len(c.reads) == 0 && c.iface == "":
		log.errorf("no input")
		log.hintf("read a capture with -r FILE, or capture live with -i IFACE")
		return exitUsage
	}

	validator, err := newValidator(c.caFile)
	if err != nil {
		log.errorf("%v", err)
		log.hintf("--ca-file takes a PEM file of CA certificates")
		return exitUsage
	}
	rsaKeys, err := readRSAKeys(c.rsaKeys)
	if err != nil {
		log.errorf("%v", err)
		log.hintf("--rsa-key takes a PEM file holding an RSA private key (PKCS #1 or PKCS #8)")
		return exitUsage
	}
	following := make(chan struct{})
	defer close(following)
	keys, err := readKeyLogs(c.keylogs, c.iface != "", following, log)
	if err != nil {
		log.errorf("%v", err)
		log.hintf("--keylog takes a key log file as SSLKEYLOGFILE writes it")
		return exitUsage
	}
	src, status := c.open(log, keys)
	if src == nil {
		return status
	}
	defer src.Close()

	// Files into a pipe or a file are written in blocks, as tcpdump -r and
	// grep do: a write a connection made NDJSON of bench/mix-1024.pcap
	// into a pipe take 0.92 s instead of 0.73 (medians of five). -l keeps
	// a write a connection.
	var buffered *bufio.Writer
	if c.iface == "" && !c.eachLine && !isTerminal(stdout) {
		buffered = bufio.NewWriterSize(stdout, 64<<10)
		stdout = buffered
	}
	sink := c.sink(stdout)
	if c.html != "" {
		h, err := createSink(func(ws ...io.Writer) report.Sink { return report.NewHTML(ws[0], c.title()) }, c.html)
		if err != nil {
			log.errorf("--html: %v", err)
			return exitFailure
		}
		sink = report.Tee(sink, h)
	}
	if c.zeekDir != "" {
		err := os.MkdirAll(c.zeekDir, 0o755)
		var z report.Sink
		if err == nil {
			z, err = createSink(func(ws ...io.Writer) report.Sink { return report.NewZeekDir(ws[0], ws[1]) },
				filepath.Join(c.zeekDir, "ssl.log"), filepath.Join(c.zeekDir, "x509.log"))
		}
		if err != nil {
			log.errorf("--zeek-dir: %v", err)
			return exitFailure
		}
		sink = report.Tee(sink, z)
	}
	if c.sort != "" {
		sink = report.Sorted(sink, c.sort)
	}
	if c.metrics != "" {
		kernel, _ := src.(capture.KernelCounter)
		m := metrics.New(c.metricsTop, kernel)
		ln, err := net.Listen("tcp", c.metrics)
		if err != nil {
			log.errorf("--metrics: %v", err)
			return exitFailure
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", m.Handler())
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
		log.printf("serving metrics at http://%s/metrics", ln.Addr())
		sink = report.Tee(sink, m)
	}
	counted := &countingSink{Sink: sink, max: c.count}
	sink = report.Filtered(counted, c.filter)
	var writeErr error
	var conns uint64 // TLS connections, before filters
	decryption := map[string]uint64{}
	read, memory := capture.Source(src), c.memory
	var exp *export.Exporter
	var expFile *os.File
	if c.writeFile != "" {
		// With keys, the file holds secrets: readable by its owner only.
		perm := os.FileMode(0o644)
		if len(c.keylogs) > 0 || keys.Len() > 0 {
			perm = 0o600
		}
		f, err := os.OpenFile(c.writeFile, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
		if err != nil {
			log.errorf("-w: %v", err)
			return exitFailure
		}
		defer f.Close() // on the way out before the end; Close is checked there
		// The packets held until their connection is decided have a
		// quarter of --memory. The pcapng writer buffers.
		exp, expFile = export.New(capture.NewPcapngWriter(f), memory/4, keys), f
		memory -= memory / 4
		read = exp.Source(src)
	}
	write := func(conn *parser.Connection) {
		conns++
		if exp != nil {
			exp.Decide(conn, c.filter.Match(conn))
		}
		decryption[conn.Decryption.Keys]++
		if err := sink.Write(conn); err != nil && writeErr == nil {
			writeErr = err
		}
	}

	cfg := pipeline.Config{Reassembly: reassembly.DefaultConfig, Validator: validator, Keys: keys,
		KeysFollowed: c.iface != "" && len(c.keylogs) > 0, RSAKeys: rsaKeys, Workers: c.workers,
		Live: c.iface != "", Duration: c.duration, StartOrder: c.iface == ""}
	asm := &cfg.Reassembly
	asm.IdleTimeout, asm.MaxAge, asm.MaxFlows, asm.Memory = c.idle, c.maxAge, c.maxFlows, memory
	if os.Getenv("GOMEMLIMIT") == "" {
		// The budget counts live bytes; Go's collector would let the heap
		// grow to twice them before collecting. A soft limit of the budget
		// and the fixed overhead keeps the process near what was charged.
		debug.SetMemoryLimit(c.memory + cfg.Overhead())
	}

	// SIGINT, SIGTERM and SIGHUP (a closed terminal or ssh session) stop
	// the reading, as tcpdump does; what is pending is decided and written
	// as for the end of a file.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(signals)
	var stop atomic.Bool
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-signals:
			stop.Store(true)
		case <-finished:
		}
	}()
	began := time.Now()
	res := pipeline.Run(read, cfg, &stop, func(conn *parser.Connection) {
		write(conn)
		if writeErr != nil || counted.full() {
			stop.Store(true)
		}
	})
	if err := sink.Close(); err != nil && writeErr == nil {
		writeErr = err
	}
	if buffered != nil {
		if err := buffered.Flush(); err != nil && writeErr == nil {
			writeErr = err
		}
	}
	if exp != nil {
		st, err := exp.Close()
		err = cmp.Or(err, expFile.Close())
		if err != nil && writeErr == nil {
			writeErr = fmt.Errorf("-w %s: %w", c.writeFile, err)
		}
		if st.Cut > 0 {
			log.warningf("-w: %d of %d connections written without some of their first packets: the memory held for them was needed (raise --memory)", st.Cut, st.Connections)
		}
		if c.verbose {
			log.printf("-w: %d packets of %d connections written to %s", st.Packets, st.Connections, c.writeFile)
		}
	}
	if s := src.Stats(); s.UnknownInterface > 0 {
		log.warningf("%d pcapng packets skipped: they name an interface their section does not describe"+
			" (%d interface descriptions past the first %d of a section were left out)", s.UnknownInterface, s.InterfacesDropped, capture.MaxInterfaces)
	}
	if conns == 0 && c.iface == "" {
		// A table header alone would not say whether anything was read.
		log.printf("no TLS connections in %d packets", src.Stats().Packets)
	}
	if keys.Len() > 0 && decryption["none"] == conns {
		log.warningf("no connection's ClientHello random is in the key log (%d handshakes in it): is it this capture's?", keys.Len())
	}
	if c.verbose {
		printStats(log, src.Stats(), res.Reassembly, conns, c.workers, time.Since(began))
		vs := validator.Stats()
		log.printf("certificates: %d parsed, %d reused; chains: %d verified, %d verdicts reused; client fingerprints: %d made, %d reused",
			vs.CertificateMisses, vs.CertificateHits, vs.VerdictMisses, vs.VerdictHits, vs.FingerprintMisses, vs.FingerprintHits)
		if keys.Len() > 0 {
			log.printf("decryption: %d connections decrypted, %d without keys, %d whose keys did not fit, %d not decrypted yet",
				decryption["decrypted"], decryption["none"], decryption["mismatch"], decryption["unsupported"])
		}
	}
	if c.iface != "" {
		if k := src.Stats().Kernel; k != nil {
			log.printf("%d packets received, %d dropped by the kernel, %d dropped by the interface; %d TLS connections",
				k.Received, k.Dropped, k.IfDropped, counted.n)
		}
	}
	if writeErr != nil {
		log.errorf("writing output: %v", writeErr)
		return exitFailure
	}
	if res.ReadErr != nil {
		log.errorf("%v", res.ReadErr)
		return exitFailure
	}
	if m, ok := src.(*capture.Merge); ok && m.Err() != nil {
		for _, e := range unjoin(m.Err()) {
			log.warningf("%v; connections read before it are shown", e)
		}
		status = exitFailure
	}
	return status
}

// open opens the interface or the files; src is nil when there is nothing
// to read, and status says whether some input failed.
func (c *cli) open(log logger, keys *keylog.Log) (src capture.Source, status int) {
	if c.iface != "" {
		lc := capture.LiveConfig{SnapLen: c.snaplen, NoPromisc: c.noPromisc, BufferBytes: c.bufferMiB << 20, Filter: c.bpf}
		var live capture.Source
		var err error
		if c.workers > 1 {
			live, err = capture.OpenFanout(c.iface, lc, c.workers)
		} else {
			live, err = capture.OpenLive(c.iface, lc)
		}
		if err != nil {
			return nil, printCaptureError(log, err)
		}
		// As tcpdump, once packets are being captured: who waits for
		// the capture to start (a script, a test) can watch for it.
		log.printf("listening on %s", live)
		return live, exitOK
	}
	var files []*capture.File
	names, inDir, status := expandDirs(c.reads, log)
	skipped := map[string][]string{} // by directory
	for _, name := range names {
		f, err := capture.Open(name)
		if err == nil && c.bpf != "" {
			if err = f.SetFilter(c.bpf); err != nil {
				f.Close()
			}
		}
		if inDir[name] && errors.Is(err, capture.ErrNotCapture) {
			dir := filepath.Dir(name) // a README beside the captures
			skipped[dir] = append(skipped[dir], filepath.Base(name))
			continue
		}
		if err != nil {
			if status = printCaptureError(log, err); status == exitUsage {
				return nil, status
			}
			continue
		}
		f.OnSecrets(func(keyLog []byte) {
			keys.Read(bytes.NewReader(keyLog), name+" (Decryption Secrets Block)", func(e *keylog.LineError) { log.warningf("%v: line skipped", e) })
		})
		files = append(files, f)
	}
	for _, dir := range slices.Sorted(maps.Keys(skipped)) {
		log.warningf("%s: %d files skipped, not pcap or pcapng: %s", dir, len(skipped[dir]), strings.Join(skipped[dir], ", "))
	}
	if len(files) == 0 {
		if status == exitOK { // only files skipped in folders
			log.errorf("no pcap or pcapng file to read")
			status = exitFailure
		}
		return nil, status
	}
	return capture.NewMerge(files...), status
}

// expandDirs replaces each directory among names by the files in it, in
// the order of their names (their packets are merged by time anyway), and
// says which names came from a directory. A directory without files is an
// error, whose exit status it returns.
func expandDirs(names []string, log logger) (out []string, inDir map[string]bool, status int) {
	inDir = map[string]bool{}
	for _, name := range names {
		st, err := os.Stat(name)
		if name == "-" || err != nil || !st.IsDir() {
			out = append(out, name)
			continue
		}
		entries, err := os.ReadDir(name)
		n := 0
		for _, e := range entries {
			if e.Type().IsRegular() {
				path := filepath.Join(name, e.Name())
				out, inDir[path] = append(out, path), true
				n++
			}
		}
		if err != nil || n == 0 {
			log.errorf("%s: no capture in it", name)
			status = exitFailure
		}
	}
	return out, inDir, status
}

// printCaptureError writes err, and its hint when it has one, and returns
// the exit status: a bad filter is a usage error, the rest failures.
func printCaptureError(log logger, err error) int {
	log.errorf("%v", err)
	var live *capture.LiveError
	if errors.As(err, &live) && live.Hint != "" {
		log.hintf("%s", live.Hint)
	}
	var filter *capture.FilterError
	if errors.As(err, &filter) {
		log.hintf("-f takes tcpdump's filter syntax, such as 'tcp port 443'")
		return exitUsage
	}
	return exitFailure
}

// title names the input in reports, shortly: past two captures, the
// first and how many more.
func (c *cli) title() string {
	switch {
	case c.iface != "":
		return "live on " + c.iface
	case len(c.reads) > 2:
		return fmt.Sprintf("%s and %d more captures", c.reads[0], len(c.reads)-1)
	}
	return strings.Join(c.reads, ", ")
}

// listInterfaces prints what -D shows, as tcpdump does.
func listInterfaces(stdout io.Writer, log logger) int {
	ifs, err := capture.Interfaces()
	if err != nil {
		log.errorf("listing interfaces: %v", err)
		return exitFailure
	}
	for i, f := range ifs {
		line := fmt.Sprintf("%d.%s", i+1, f.Name)
		if f.Description != "" {
			line += " (" + f.Description + ")"
		}
		if len(f.Addresses) > 0 {
			line += " [" + strings.Join(f.Addresses, ", ") + "]"
		}
		fmt.Fprintln(stdout, line)
	}
	return exitOK
}

// printStats writes what -v shows.
func printStats(log logger, cs capture.Stats, rs reassembly.Stats, conns uint64, workers int, elapsed time.Duration) {
	secs := max(elapsed.Seconds(), 1e-9)
	plural := "s"
	if workers == 1 {
		plural = ""
	}
	// The number of workers depends on the machine without --workers.
	log.printf("read %d packets, %d bytes in %.3f s: %.1f MB/s, %.0f packets/s, %d worker%s",
		cs.Packets, cs.Bytes, elapsed.Seconds(), float64(cs.Bytes)/secs/1e6, float64(cs.Packets)/secs, workers, plural)
	log.printf("%d TCP segments, %d UDP datagrams, %d other packets, %d IP fragments (%d datagrams dropped), %d decode errors",
		cs.TCP, cs.UDP, cs.Other, cs.Fragments, cs.DatagramsDropped, cs.Undecoded)
	log.printf("%d flows, %d TLS connections; %d evicted, %d closed idle, %d stalled handshakes aged out",
		rs.Flows, conns, rs.Evicted, rs.IdleClosed, rs.Aged)
	log.printf("%d gaps (%d bytes lost), %d retransmitted and %d out-of-order segments, %d bytes skipped after handshakes",
		rs.Gaps, rs.GapBytes, rs.Retransmits, rs.OutOfOrder, rs.SkippedBytes)
	m := rs.Memory
	log.printf("memory budget %s, peak %s; %d cuts of the largest holders (%d bytes), %d charges refused (%d bytes), %d holes given up for memory (%d bytes)",
		mib(m.Limit), mib(m.Peak), m.Cuts, m.CutBytes, m.Refused, m.RefusedSize, rs.Cuts, rs.CutBytes)
}

// mib renders a byte count in MiB.
func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// countingSink counts the connections written, and drops those past max
// (when max is not 0).
type countingSink struct {
	report.Sink
	n, max int
}

func (s *countingSink) Write(c *parser.Connection) error {
	if s.full() {
		return nil
	}
	s.n++
	return s.Sink.Write(c)
}

func (s *countingSink) full() bool { return s.max > 0 && s.n >= s.max }

// newValidator trusts the system's roots and those of caFile, which is
// read and checked here; the roots are loaded beside the reading
// (parser.NewValidator).
func newValidator(caFile string) (*parser.Validator, error) {
	var pem []byte
	if caFile != "" {
		var err error
		if pem, err = os.ReadFile(caFile); err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s: no PEM certificate in it", caFile)
		}
	}
	return parser.NewValidator(func() *x509.CertPool {
		roots, err := x509.SystemCertPool()
		if err != nil {
			roots = x509.NewCertPool()
		}
		roots.AppendCertsFromPEM(pem) // checked above: a CA file's certificates are few
		return roots
	}), nil
}

// readKeyLogs reads the --keylog files into the log that pcapng Decryption
// Secrets Blocks add to; a line that cannot be read is a warning, and
// reading goes on. Live, each file is followed as it grows instead, for as
// long as the process runs: clients write a line at each handshake.
func readKeyLogs(names []string, live bool, stop <-chan struct{}, log logger) (*keylog.Log, error) {
	keys := keylog.New()
	bad := func(e *keylog.LineError) { log.warningf("%v: line skipped", e) }
	for _, name := range names {
		if live {
			go keys.Follow(name, 100*time.Millisecond, stop, bad)
			continue
		}
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("--keylog: %w", err)
		}
		_, err = keys.Read(f, name, bad)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("--keylog: %w", err)
		}
	}
	return keys, nil
}

// readRSAKeys reads the --rsa-key files: an RSA private key each.
func readRSAKeys(names []string) ([]*rsa.PrivateKey, error) {
	var keys []*rsa.PrivateKey
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("--rsa-key: %w", err)
		}
		var key *rsa.PrivateKey
		for block, rest := pem.Decode(b); block != nil && key == nil; block, rest = pem.Decode(rest) {
			if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
				key = k
			} else if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
				key, _ = k.(*rsa.PrivateKey)
			}
		}
		if key == nil {
			return nil, fmt.Errorf("--rsa-key %s: no RSA private key in it", name)
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// unjoin splits an errors.Join result into its parts.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
