package main

import (
	"crypto/x509"
	"fmt"
	"io"
	"net/netip"
	"os"
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

const usageText = `Usage: tlssniff -r FILE [-r FILE ...] [--json]

Reconstructs every TLS handshake in a packet capture: each message in order
with its time and direction, the negotiated parameters, certificates,
fingerprints (JA3, JA4) and the outcome.

Options:
%s
Examples:
  tlssniff -r capture.pcapng                 one row per TLS connection
  tlssniff -r capture.pcap --json | jq .sni  one JSON object per connection
  tcpdump -w - port 443 | tlssniff -r -      read a capture from standard input
`

type cli struct {
	reads       []string
	caFile      string
	json        bool
	showVersion bool
	help        bool
}

func parseFlags(args []string) (*cli, *pflag.FlagSet, error) {
	c := &cli{}
	fs := pflag.NewFlagSet("tlssniff", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	fs.StringArrayVarP(&c.reads, "read", "r", nil, "read packets from `FILE`: pcap or pcapng, gzip-compressed or not, - for standard input; repeat to merge files by time")
	fs.BoolVar(&c.json, "json", false, "write NDJSON: one object per connection, one line each")
	fs.StringVar(&c.caFile, "ca-file", "", "trust the certificates in `PEM` file as roots, besides the system's")
	fs.BoolVar(&c.showVersion, "version", false, "print the version and exit")
	fs.BoolVarP(&c.help, "help", "h", false, "show this help")
	err := fs.Parse(args)
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return c, fs, err
}

func run(args []string, stdout, stderr io.Writer) int {
	c, fs, err := parseFlags(args)
	if err != nil {
		fmt.Fprintf(stderr, "tlssniff: error: %v\nhint: run 'tlssniff --help' for usage\n", err)
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
		fmt.Fprintf(stderr, "tlssniff: error: no input\nhint: read a capture with -r FILE\n")
		return exitUsage
	}

	validator, err := newValidator(c.caFile)
	if err != nil {
		fmt.Fprintf(stderr, "tlssniff: error: %v\nhint: --ca-file takes a PEM file of CA certificates\n", err)
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

	var sink report.Sink = report.NewTable(stdout)
	if c.json {
		sink = report.NewJSON(stdout)
	}
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
