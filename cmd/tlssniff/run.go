package main

import (
	"bufio"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/tlssniff/tlssniff/capture"
	"github.com/tlssniff/tlssniff/parser"
	"github.com/tlssniff/tlssniff/reassembly"
	"github.com/tlssniff/tlssniff/report"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

// Exit codes, as shared/CONTRACT.md defines them.
const (
	exitOK      = 0
	exitFailure = 1 // unreadable or corrupt input; what was read is still printed
	exitUsage   = 2
)

const usageText = `Usage: tlssniff -r FILE [-r FILE ...] [--format FORMAT] [filters]

Reconstructs every TLS handshake in a packet capture: each message in order
with its time and direction, the negotiated parameters, certificates,
fingerprints (JA3, JA4), the outcome and the timing of each step.

Options:
%s
Examples:
  tlssniff -r capture.pcapng                 one row per TLS connection
  tlssniff -r capture.pcap --json | jq .sni  one JSON object per connection
  tlssniff -r capture.pcap --ladder --sni '*.example.com'
                                             sequence diagrams of some connections
  tlssniff -r capture.pcap --summary --html report.html
                                             totals and latency percentiles, and a
                                             report to open in a browser
  tcpdump -w - port 443 | tlssniff -r -      read a capture from standard input
`

// Output formats.
const (
	formatTable   = "table"
	formatJSON    = "json"
	formatCSV     = "csv"
	formatLadder  = "ladder"
	formatSummary = "summary"
)

var (
	formats  = []string{formatTable, formatJSON, formatCSV, formatLadder, formatSummary}
	sorts    = []string{report.SortStart, report.SortHandshake, report.SortSNI}
	colors   = []string{"auto", "always", "never"}
	outcomes = []string{parser.OutcomeEstablished, parser.OutcomeAlert, parser.OutcomeMismatch, parser.OutcomeClientAborted,
		parser.OutcomeReset, parser.OutcomeNotTLSAfter, parser.OutcomeOneSided, parser.OutcomeNoServerHello, parser.OutcomeIncomplete}
)

type cli struct {
	reads       []string
	caFile      string
	format      string
	json        bool
	ladder      bool
	summary     bool
	ascii       bool
	color       string
	html        string
	sort        string
	filter      report.Filter
	showVersion bool
	help        bool
}

// usageError is a bad flag or combination, with a hint to fix it.
type usageError struct{ msg, hint string }

func (e *usageError) Error() string { return e.msg }

func parseFlags(args []string) (*cli, *pflag.FlagSet, error) {
	c := &cli{}
	var host string
	var port int
	fs := pflag.NewFlagSet("tlssniff", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	fs.StringArrayVarP(&c.reads, "read", "r", nil, "read packets from `FILE`: pcap or pcapng, gzip-compressed or not, - for standard input; repeat to merge files by time")
	fs.StringVar(&c.format, "format", formatTable, "write `FORMAT`: "+strings.Join(formats, ", "))
	fs.BoolVar(&c.json, "json", false, "same as --format json: one object per connection, one line each (NDJSON)")
	fs.BoolVar(&c.ladder, "ladder", false, "same as --format ladder: a sequence diagram per connection")
	fs.BoolVar(&c.summary, "summary", false, "same as --format summary: counts, top names, latency percentiles, failure rates")
	fs.StringVar(&c.html, "html", "", "also write a self-contained HTML report to `FILE`")
	fs.BoolVar(&c.ascii, "ascii", false, "draw diagrams with ASCII only (default: Unicode on a UTF-8 locale)")
	fs.StringVar(&c.color, "color", "auto", "color diagrams: auto (on a terminal, unless NO_COLOR is set), always, never")
	fs.StringVar(&c.filter.SNI, "sni", "", "only connections whose SNI matches `GLOB` (*, ?, [a-z]; case-insensitive)")
	fs.StringVar(&host, "host", "", "only connections to or from `IP`")
	fs.IntVar(&port, "port", 0, "only connections to or from port `N`")
	fs.StringVar(&c.filter.Outcome, "outcome", "", "only connections with outcome `NAME`: "+strings.Join(outcomes, ", "))
	fs.StringVar(&c.sort, "sort", "", "order connections by `KEY`: start, handshake (slowest first), sni (default: as decided)")
	fs.StringVar(&c.caFile, "ca-file", "", "trust the certificates in `PEM` file as roots, besides the system's")
	fs.BoolVar(&c.showVersion, "version", false, "print the version and exit")
	fs.BoolVarP(&c.help, "help", "h", false, "show this help")
	if err := fs.Parse(args); err != nil {
		return c, fs, &usageError{err.Error(), "run 'tlssniff --help' for usage"}
	}
	if fs.NArg() > 0 {
		return c, fs, &usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0)), "run 'tlssniff --help' for usage"}
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
	case c.filter.Outcome != "" && !slices.Contains(outcomes, c.filter.Outcome):
		return c, fs, &usageError{fmt.Sprintf("unknown outcome %q", c.filter.Outcome), "--outcome takes " + strings.Join(outcomes, ", ")}
	case port < 0 || port > 65535:
		return c, fs, &usageError{fmt.Sprintf("--port %d is not a port", port), "a port is 1 to 65535"}
	}
	if _, err := path.Match(c.filter.SNI, ""); err != nil {
		return c, fs, &usageError{fmt.Sprintf("--sni %q: %v", c.filter.SNI, err), "a glob uses *, ? and [a-z]; quote it for the shell"}
	}
	if host != "" {
		a, err := netip.ParseAddr(host)
		if err != nil {
			return c, fs, &usageError{fmt.Sprintf("--host %q is not an IP address", host), "give an IPv4 or IPv6 address, such as 192.0.2.1 or 2001:db8::1"}
		}
		c.filter.Host = a.Unmap()
	}
	c.filter.Port = uint16(port)
	return c, fs, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	c, fs, err := parseFlags(args)
	if err != nil {
		u := err.(*usageError)
		fmt.Fprintf(stderr, "tlssniff: error: %s\ntlssniff: hint: %s\n", u.msg, u.hint)
		return exitUsage
	}
	switch {
	case c.help:
		fmt.Fprintf(stdout, usageText, fs.FlagUsages())
		return exitOK
	case c.showVersion:
		fmt.Fprintf(stdout, "tlssniff %s\n", version)
		return exitOK
	case len(c.reads) == 0:
		fmt.Fprintf(stderr, "tlssniff: error: no input\ntlssniff: hint: read a capture with -r FILE\n")
		return exitUsage
	}

	validator, err := newValidator(c.caFile)
	if err != nil {
		fmt.Fprintf(stderr, "tlssniff: error: %v\ntlssniff: hint: --ca-file takes a PEM file of CA certificates\n", err)
		return exitUsage
	}

	status := exitOK
	var files []*capture.File
	for _, name := range c.reads {
		f, err := capture.Open(name)
		if err != nil {
			fmt.Fprintf(stderr, "tlssniff: error: %v\n", err)
			status = exitFailure
			continue
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		return status
	}
	src := capture.NewMerge(files...)
	defer src.Close()

	sink := c.sink(stdout)
	if c.html != "" {
		f, err := os.Create(c.html)
		if err != nil {
			fmt.Fprintf(stderr, "tlssniff: error: --html: %v\n", err)
			return exitFailure
		}
		w := bufio.NewWriter(f)
		sink = report.Tee(sink, &fileSink{report.NewHTML(w, strings.Join(c.reads, ", ")), w, f})
	}
	if c.sort != "" {
		sink = report.Sorted(sink, c.sort)
	}
	sink = report.Filtered(sink, c.filter)
	var writeErr error
	emit := func(conn *parser.Connection) {
		if err := sink.Write(conn); err != nil && writeErr == nil {
			writeErr = err
		}
	}
	asm := reassembly.New(reassembly.DefaultConfig, func(client, server netip.AddrPort, start time.Time, fs *reassembly.FlowStats) reassembly.Stream {
		return parser.NewConn("tcp", client, server, start, parser.Options{Emit: emit, Transport: transportOf(fs), Validator: validator})
	})
	var p capture.Packet
	for writeErr == nil {
		if err := src.Next(&p); err != nil {
			break
		}
		asm.Add(&p)
	}
	asm.Flush()
	if err := sink.Close(); err != nil && writeErr == nil {
		writeErr = err
	}
	if writeErr != nil {
		fmt.Fprintf(stderr, "tlssniff: error: writing output: %v\n", writeErr)
		return exitFailure
	}
	if err := src.Err(); err != nil {
		for _, e := range unjoin(err) {
			fmt.Fprintf(stderr, "tlssniff: warning: %v; connections read before it are shown\n", e)
		}
		status = exitFailure
	}
	return status
}

// fileSink is a sink writing to a file through a bufio.Writer; Close
// flushes and closes the file.
type fileSink struct {
	report.Sink
	w *bufio.Writer
	f *os.File
}

func (s *fileSink) Close() error {
	err := s.Sink.Close()
	if ferr := s.w.Flush(); err == nil {
		err = ferr // the first error sticks in the bufio.Writer: say it once
	}
	return errors.Join(err, s.f.Close())
}

// sink is the sink of the chosen format, writing to stdout.
func (c *cli) sink(stdout io.Writer) report.Sink {
	switch c.format {
	case formatJSON:
		return report.NewJSON(stdout)
	case formatCSV:
		return report.NewCSV(stdout)
	case formatSummary:
		return report.NewSummary(stdout)
	case formatLadder:
		color := c.color == "always" || (c.color == "auto" && isTerminal(stdout) && os.Getenv("NO_COLOR") == "")
		return report.NewLadder(stdout, report.LadderOptions{ASCII: c.ascii || !utf8Locale(), Color: color})
	}
	return report.NewTable(stdout)
}

// isTerminal reports whether w is a character device, as a terminal is.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
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

// newValidator trusts the system's roots and those of caFile.
func newValidator(caFile string) (*parser.Validator, error) {
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s: no PEM certificate in it", caFile)
		}
	}
	return parser.NewValidator(roots), nil
}

// transportOf reads reassembly's view of a flow for the parser, which does
// not import reassembly.
func transportOf(fs *reassembly.FlowStats) func() parser.TransportStats {
	return func() parser.TransportStats {
		marks := make([]parser.TransportMark, len(fs.Marks))
		for i, m := range fs.Marks {
			marks[i] = parser.TransportMark(m)
		}
		return parser.TransportStats{Marks: marks, SYNSeen: fs.SYN || fs.SYNACK, SYN: fs.SYNTime, SYNACK: fs.SYNACKTime, ACK: fs.ACKTime,
			Packets: fs.Packets, Retransmits: fs.Retransmits,
			OutOfOrder: fs.OutOfOrder, Truncated: fs.Truncated, FIN: fs.FIN, Reset: fs.Reset,
			ResetSide: fs.ResetSide, ResetTime: fs.ResetTime}
	}
}

// unjoin splits an errors.Join result into its parts.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
