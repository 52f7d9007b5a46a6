package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/tlssniff/tlssniff/capture"
	"github.com/tlssniff/tlssniff/metrics"
	"github.com/tlssniff/tlssniff/parser"
	"github.com/tlssniff/tlssniff/reassembly"
	"github.com/tlssniff/tlssniff/report"
)

const usageText = `Usage: tlssniff [options] FILE|DIR ...
       tlssniff -r FILE|DIR [-r FILE|DIR ...] [options]
       tlssniff -i IFACE [-f 'BPF'] [options]

Reconstructs every TLS handshake in a packet capture: each message in order
with its time and direction, the negotiated parameters, certificates,
fingerprints (JA3, JA4), the outcome and the timing of each step.
%s
Examples:
  tlssniff capture.pcapng                    one row per TLS connection
  tlssniff captures/ --outcome failed        the failed handshakes of every capture
                                             in a folder, merged by time
  tlssniff -r capture.pcap --json | jq .sni  one JSON object per connection
  tlssniff -r capture.pcap --ladder --sni '*.example.com'
                                             sequence diagrams of some connections
  tlssniff -r capture.pcap --summary --html report.html
                                             totals and latency percentiles, and a
                                             report to open in a browser
  tlssniff captures/ --outcome failed -w failed.pcapng
                                             the packets of those connections, to open
                                             in Wireshark
  tlssniff capture.pcap --format zeek        ssl.log records as Zeek writes them
                                             (--zeek-dir DIR: ssl.log and x509.log)
  tcpdump -w - port 443 | tlssniff -r -      read a capture from standard input
  sudo tlssniff -i eth0 -f 'tcp port 443'    each handshake as it is decided; Ctrl-C
                                             ends it with the capture's counts
  sudo tlssniff -i eth0 --metrics :9464      and Prometheus metrics at :9464/metrics
`

// Output formats.
const (
	formatTable   = "table"
	formatJSON    = "json"
	formatCSV     = "csv"
	formatLadder  = "ladder"
	formatSummary = "summary"
	formatZeek    = "zeek"
	formatECS     = "ecs"
)

var (
	formats = []string{formatTable, formatJSON, formatCSV, formatLadder, formatSummary, formatZeek, formatECS}
	sorts   = []string{report.SortStart, report.SortHandshake, report.SortSNI}
	colors  = []string{"auto", "always", "never"}
)

type cli struct {
	reads       []string
	iface       string
	bpf         string
	snaplen     int
	noPromisc   bool
	bufferMiB   int
	listIfaces  bool
	count       int
	eachLine    bool
	duration    time.Duration
	idle        time.Duration
	maxAge      time.Duration
	maxFlows    int
	memory      int64
	workers     int
	verbose     bool
	caFile      string
	keylogs     []string
	rsaKeys     []string
	format      string
	json        bool
	ladder      bool
	summary     bool
	ascii       bool
	color       string
	html        string
	zeekDir     string
	writeFile   string
	metrics     string
	metricsTop  int
	sort        string
	filter      report.Filter
	showVersion bool
	help        bool
}

// outcomeNames lists the outcomes --outcome takes besides the classes.
var outcomeNames = func() string {
	names := make([]string, len(parser.Outcomes))
	for i, o := range parser.Outcomes {
		names[i] = o.String()
	}
	return strings.Join(names, ", ")
}()

// knownOutcome reports whether --outcome takes s: a class or an outcome.
func knownOutcome(s string) bool {
	_, ok := parser.ParseOutcome(s)
	return ok || s == report.ClassFailed || s == report.ClassUndecided
}

// parsePrefix reads an address (as a one-address prefix) or a CIDR.
func parsePrefix(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, err
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// usageError is a bad flag or combination, with a hint to fix it.
type usageError struct{ msg, hint string }

func (e *usageError) Error() string { return e.msg }

func parseFlags(args []string) (*cli, *pflag.FlagSet, error) {
	c := &cli{}
	var snis, hosts, nets, ports, outcomes []string
	fs := pflag.NewFlagSet("tlssniff", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	fs.StringArrayVarP(&c.reads, "read", "r", nil, "read packets from `FILE`: pcap or pcapng, gzip-compressed or not, - for standard input, or every capture in a folder; repeat to merge files by time (files may also follow the options)")
	fs.StringVarP(&c.iface, "interface", "i", "", "capture live on `IFACE` (needs root or cap_net_raw)")
	fs.StringVarP(&c.bpf, "filter", "f", "", "keep only packets matching `BPF` (tcpdump syntax), live or from files")
	fs.IntVarP(&c.snaplen, "snaplen", "s", 262144, "capture at most `N` bytes per packet (live)")
	fs.BoolVarP(&c.noPromisc, "no-promiscuous-mode", "p", false, "do not put the interface in promiscuous mode")
	fs.IntVarP(&c.bufferMiB, "buffer-size", "B", 0, "kernel capture buffer of `MiB` (live; default 32)")
	fs.BoolVarP(&c.listIfaces, "list-interfaces", "D", false, "list the interfaces to capture on and exit")
	fs.StringVar(&c.format, "format", formatTable, "write `FORMAT`: "+strings.Join(formats, ", ")+
		" (zeek: ssl.log records in Zeek's JSON; ecs: Elastic Common Schema documents)")
	fs.BoolVar(&c.json, "json", false, "same as --format json: one object per connection, one line each (NDJSON)")
	fs.BoolVar(&c.ladder, "ladder", false, "same as --format ladder: a sequence diagram per connection")
	fs.BoolVar(&c.summary, "summary", false, "same as --format summary: counts, top names, latency percentiles, failure rates")
	fs.StringVar(&c.html, "html", "", "also write a self-contained HTML report to `FILE`")
	fs.StringVarP(&c.writeFile, "write", "w", "", "also write the packets of the connections shown (all of each, from its first) to `FILE`, pcapng, with their key log lines when keys were given")
	fs.StringVar(&c.metrics, "metrics", "", "serve Prometheus metrics at http://`ADDR`/metrics (such as :9464) while the capture runs")
	fs.IntVar(&c.metricsTop, "metrics-servers", 20, "label the handshakes of the `N` servers most seen by name in --metrics; the rest are \"other\"")
	fs.StringVar(&c.zeekDir, "zeek-dir", "", "also write ssl.log and x509.log in Zeek's TSV format into `DIR`")
	fs.BoolVar(&c.ascii, "ascii", false, "draw diagrams with ASCII only (default: Unicode on a UTF-8 locale)")
	fs.StringVar(&c.color, "color", "auto", "color diagrams `WHEN`: auto (on a terminal, unless NO_COLOR is set), always, never")
	fs.StringArrayVar(&snis, "sni", nil, "only connections whose SNI matches `GLOB` (*, ?, [a-z], [!a-z]; case-insensitive; * and ? match '.' and '/' too)")
	fs.StringArrayVar(&hosts, "host", nil, "only connections to or from `IP` (or within CIDR)")
	fs.StringArrayVar(&nets, "net", nil, "only connections to or from an address within `CIDR`, such as 10.0.0.0/8")
	fs.StringArrayVar(&ports, "port", nil, "only connections to or from port `N`")
	fs.StringArrayVar(&outcomes, "outcome", nil, "only connections with outcome `NAME`: failed, established, undecided, or "+outcomeNames)
	certWithin := fs.Int("cert-expires-within", 0, "only connections whose server certificate expires within `DAYS` of the capture (expired ones too)")
	fs.StringSliceVar(&c.filter.CertStatus, "cert-status", nil, "only connections whose server certificate is `WORD`[,WORD...]: "+
		strings.Join(parser.CertStatuses, ", "))
	fs.StringVar(&c.sort, "sort", "", "order connections by `KEY`, keeping all until the end: start, handshake (slowest first), sni (default: files by start as rows stream, within bounds; live as decided)")
	fs.IntVarP(&c.count, "count", "c", 0, "stop after `N` connections")
	fs.BoolVarP(&c.eachLine, "line-buffered", "l", false, "write each connection as it is decided even when reading files into a pipe or file (a terminal and live capture always get it)")
	fs.DurationVar(&c.duration, "duration", 0, "stop after `D` (e.g. 30s, 5m): wall time live, capture time in files")
	fs.DurationVar(&c.idle, "idle-timeout", reassembly.DefaultConfig.IdleTimeout, "close a connection silent for `D` (capture time)")
	fs.DurationVar(&c.maxAge, "max-age", reassembly.DefaultConfig.MaxAge, "decide a handshake still pending `D` after its first packet")
	fs.IntVar(&c.maxFlows, "max-flows", reassembly.DefaultConfig.MaxFlows, "track at most `N` connections at once; the least recently active is evicted")
	memory := fs.String("memory", "256MiB", "buffer at most `SIZE` (KiB, MiB, GiB) for all flows together; flows holding the most are cut first")
	fs.IntVar(&c.workers, "workers", 0, "analyse with `N` workers, flows sharded by their addresses (live, by the kernel: N sockets in an AF_PACKET fanout group); the output is the same for any N (default: 2 reading files with 3 CPUs or more, else 1)")
	fs.StringVar(&c.caFile, "ca-file", "", "trust the certificates in `PEM` file as roots, besides the system's")
	fs.StringArrayVar(&c.keylogs, "keylog", nil, "decrypt handshakes with the secrets in `FILE`, an SSLKEYLOGFILE (NSS key log); repeatable")
	fs.StringArrayVar(&c.rsaKeys, "rsa-key", nil, "decrypt TLS 1.0-1.2 RSA key exchanges with the server's private key in `PEM`; repeatable")
	fs.BoolVarP(&c.verbose, "verbose", "v", false, "write statistics to stderr at the end: packets, bytes, flows, evictions, gaps, errors, throughput")
	fs.BoolVar(&c.showVersion, "version", false, "print the version and exit")
	fs.BoolVarP(&c.help, "help", "h", false, "show this help")
	err := fs.Parse(args)
	if err != nil {
		hint := "run 'tlssniff --help' for usage"
		if name, ok := strings.CutPrefix(err.Error(), "unknown flag: "); ok {
			if near := didYouMean(fs, name); len(near) > 0 {
				hint = "did you mean " + strings.Join(near, " or ") + "? " + hint
			}
		}
		return c, fs, &usageError{err.Error(), hint}
	}
	c.reads = append(c.reads, fs.Args()...) // capture files, as tcpdump -r takes one and tshark many
	if !fs.Changed("workers") {
		c.workers = defaultWorkers(c.iface != "", runtime.GOMAXPROCS(0))
	}
	var chosen []string
	if fs.Changed("format") {
		chosen = append(chosen, "--format "+c.format)
	}
	for _, sh := range []struct {
		set  bool
		name string
	}{{c.json, formatJSON}, {c.ladder, formatLadder}, {c.summary, formatSummary}} {
		if sh.set {
			c.format = sh.name
			chosen = append(chosen, "--"+sh.name)
		}
	}
	switch {
	case len(chosen) > 1:
		return c, fs, &usageError{"more than one output format: " + strings.Join(chosen, ", "), "choose one; --html FILE may go with any"}
	case !slices.Contains(formats, c.format):
		return c, fs, &usageError{fmt.Sprintf("unknown format %q", c.format), "--format takes " + strings.Join(formats, ", ")}
	case !slices.Contains(colors, c.color):
		return c, fs, &usageError{fmt.Sprintf("unknown --color %q", c.color), "--color takes auto, always or never"}
	case c.sort != "" && !slices.Contains(sorts, c.sort):
		return c, fs, &usageError{fmt.Sprintf("unknown --sort %q", c.sort), "--sort takes " + strings.Join(sorts, ", ")}
	case slices.ContainsFunc(outcomes, func(s string) bool { return !knownOutcome(s) }):
		return c, fs, &usageError{fmt.Sprintf("unknown outcome %q", strings.Join(outcomes, ",")),
			"--outcome takes failed, established, undecided, or " + outcomeNames}
	case *certWithin < 0:
		return c, fs, &usageError{fmt.Sprintf("--cert-expires-within %d is negative", *certWithin), "give a number of days, such as 30"}
	case slices.ContainsFunc(c.filter.CertStatus, func(s string) bool { return !slices.Contains(parser.CertStatuses, s) }):
		return c, fs, &usageError{fmt.Sprintf("unknown --cert-status %q", strings.Join(c.filter.CertStatus, ",")),
			"--cert-status takes " + strings.Join(parser.CertStatuses, ", ")}
	case countOf(c.reads, "-") > 1:
		return c, fs, &usageError{"standard input (-r -) can be read once", "give -r - once; name the other captures"}
	case c.iface != "" && len(c.reads) > 0:
		return c, fs, &usageError{"-i and -r together", "capture live with -i, or read files with -r"}
	case c.count < 0 || c.snaplen <= 0 || c.bufferMiB < 0 || c.duration < 0 || c.idle <= 0 || c.maxAge <= 0 || c.maxFlows <= 0 || c.workers <= 0:
		return c, fs, &usageError{"-c, -s, -B, --duration, --idle-timeout, --max-age, --max-flows and --workers take positive values", "run 'tlssniff --help' for usage"}
	case (c.iface != "" || c.listIfaces || c.bpf != "") && !capture.LiveSupported:
		return c, fs, &usageError{"live capture and -f need libpcap, and this tlssniff was built without it (CGO_ENABLED=0)",
			"build with cgo and libpcap-dev: apt-get install libpcap-dev && make build"}
	}
	if c.metricsTop < 1 || c.metricsTop > metrics.MaxServers {
		return c, fs, &usageError{fmt.Sprintf("--metrics-servers %d", c.metricsTop), fmt.Sprintf("give 1 to %d server names", metrics.MaxServers)}
	}
	if c.memory, err = parseSize(*memory); err != nil {
		return c, fs, &usageError{fmt.Sprintf("--memory %q: %v", *memory, err), "give a size such as 64MiB or 1GiB; at least 1MiB"}
	}
	for _, g := range snis {
		re, err := report.Glob(g)
		if err != nil {
			return c, fs, &usageError{fmt.Sprintf("--sni %q: %v", g, err), "a glob uses *, ? and [a-z]; quote it for the shell"}
		}
		c.filter.SNI = append(c.filter.SNI, re)
	}
	for _, h := range hosts {
		p, err := parsePrefix(h)
		if err != nil {
			return c, fs, &usageError{fmt.Sprintf("--host %q is not an IP address or network", h),
				"give an IPv4 or IPv6 address or a CIDR, such as 192.0.2.1, 2001:db8::1 or 10.0.0.0/8"}
		}
		c.filter.Hosts = append(c.filter.Hosts, p)
	}
	for _, n := range nets {
		p, err := parsePrefix(n)
		if err != nil || !strings.Contains(n, "/") {
			return c, fs, &usageError{fmt.Sprintf("--net %q is not a network", n), "give a CIDR, such as 10.0.0.0/8 or 2001:db8::/32"}
		}
		c.filter.Nets = append(c.filter.Nets, p)
	}
	for _, s := range ports {
		p, err := strconv.ParseUint(s, 10, 16)
		if err != nil || p == 0 {
			return c, fs, &usageError{fmt.Sprintf("--port %s is not a port", s), "a port is 1 to 65535"}
		}
		c.filter.Ports = append(c.filter.Ports, uint16(p))
	}
	c.filter.Outcomes = outcomes
	if fs.Changed("cert-expires-within") {
		c.filter.CertExpiresWithin = certWithin
	}
	return c, fs, nil
}

// parseSize reads a size in bytes with an optional unit: K, M, G (powers
// of 1024, as KiB, MiB, GiB also say) and B.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		shift  uint
	}{{"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"KB", 10}, {"MB", 20}, {"GB", 30}, {"K", 10}, {"M", 20}, {"G", 30}, {"B", 0}}
	var shift uint
	for _, u := range units {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, shift = rest, u.shift
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	switch {
	case err != nil:
		return 0, errors.New("not a size")
	case n > math.MaxInt64>>shift:
		return 0, errors.New("too large")
	case n<<shift < 1<<20:
		return 0, errors.New("less than 1MiB")
	}
	return n << shift, nil
}

// fileSink is a sink writing to files through bufio.Writers; Close
// flushes and closes them.
type fileSink struct {
	report.Sink
	ws []*bufio.Writer
	fs []*os.File
}

// createSink creates the files at paths and the sink that newSink makes
// on them, in that order.
func createSink(newSink func(ws ...io.Writer) report.Sink, paths ...string) (report.Sink, error) {
	s := &fileSink{}
	var ws []io.Writer
	for _, p := range paths {
		f, err := os.Create(p)
		if err != nil {
			for _, f := range s.fs {
				f.Close()
			}
			return nil, err
		}
		w := bufio.NewWriter(f)
		s.fs, s.ws, ws = append(s.fs, f), append(s.ws, w), append(ws, w)
	}
	s.Sink = newSink(ws...)
	return s, nil
}

func (s *fileSink) Close() error {
	errs := []error{s.Sink.Close()}
	for i, w := range s.ws {
		// The first error sticks in the bufio.Writer: say it once.
		if err := w.Flush(); errs[0] == nil {
			errs[0] = err
		}
		errs = append(errs, s.fs[i].Close())
	}
	return errors.Join(errs...)
}

// sink is the sink of the chosen format, writing to stdout. A live
// capture's table is written row by row, as connections are decided.
func (c *cli) sink(stdout io.Writer) report.Sink {
	switch c.format {
	case formatJSON:
		return report.NewJSON(stdout)
	case formatCSV:
		return report.NewCSV(stdout)
	case formatSummary:
		return report.NewSummary(stdout)
	case formatZeek:
		return report.NewZeekJSON(stdout)
	case formatECS:
		return report.NewECS(stdout)
	case formatLadder:
		color := c.color == "always" || (c.color == "auto" && isTerminal(stdout) && os.Getenv("NO_COLOR") == "")
		return report.NewLadder(stdout, report.LadderOptions{ASCII: c.ascii || !utf8Locale(), Color: color})
	}
	if c.iface != "" {
		return report.NewStreamingTable(stdout)
	}
	return report.NewTable(stdout)
}

// isTerminal reports whether w is a terminal, as isatty does: not any
// character device, as it was once taken to be. /dev/null is one, and
// NDJSON of bench/mix-1024.pcap sent there was written a connection at a
// time (23,552 writes).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	// Through SyscallConn, not Fd, which would put the file in blocking
	// mode, and with it a pipe shared with the process that made it.
	conn, err := f.SyscallConn()
	if err != nil {
		return false
	}
	tty := false
	if err := conn.Control(func(fd uintptr) { tty = term.IsTerminal(int(fd)) }); err != nil {
		return false
	}
	return tty
}

// utf8Locale reports whether the locale's character set is UTF-8, as
// setlocale would decide it: the first of LC_ALL, LC_CTYPE and LANG that is
// set names it.
func utf8Locale() bool {
	for _, name := range []string{"LC_ALL", "LC_CTYPE", "LANG"} {
		if v := os.Getenv(name); v != "" {
			v = strings.ToLower(v)
			return strings.Contains(v, "utf-8") || strings.Contains(v, "utf8")
		}
	}
	return false
}

// countOf counts the elements of s equal to v.
func countOf(s []string, v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

// defaultWorkers is --workers when not given, for procs CPUs to run on
// (GOMAXPROCS: the machine's, or a container's share). One worker already
// keeps two CPUs busy, as the feed that reads the file, the chain judge and
// the writer run beside it; its own goroutine is then the longest stage
// (make bench's mixed capture, NDJSON, pprof: the worker 277 ms of CPU a
// run, the reader 226, the writer 213; the summary 281, 128 and 104), so a
// third CPU only helps a second worker, and a third worker would wait on
// the reader and the writer. Live, more workers mean a fanout group of
// sockets and connections written as decided: that is left to be asked for.
func defaultWorkers(live bool, procs int) int {
	if live || procs < 3 {
		return 1
	}
	return 2
}
