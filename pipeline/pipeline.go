// Package pipeline joins the stages of tlssniff for one set of flows:
// packets from capture are put in order by reassembly, whose streams are
// parser connections; what they decide comes out in the order tlssniff
// writes it:
//
//	capture ──Packet──▶ reassembly ──ordered bytes──▶ parser ──Connection──▶ (report)
//
// Run (workers.go) owns the engine: it reads a source once, shards the
// flows across workers (feed.go copies the packets into shared slabs), and
// merges what they decide in the order one worker would, by the capture
// clock; it is configured by a plain Config. cmd/tlssniff keeps flags,
// sources, sinks, signals and exit codes. Read runs one assembler over a
// whole source, for tests and tools that want the connections of a capture.
package pipeline

import (
	"errors"
	"io"
	"net/netip"
	"slices"
	"time"

	"github.com/tlssniff/tlssniff/budget"
	"github.com/tlssniff/tlssniff/capture"
	"github.com/tlssniff/tlssniff/flowstats"
	"github.com/tlssniff/tlssniff/parser"
	"github.com/tlssniff/tlssniff/reassembly"
)

// Streams makes each flow a parser connection configured by opts (what it
// hands its decisions to, how it judges and decrypts), with the flow's
// statistics and memory account.
func Streams(opts parser.Options) reassembly.Factory {
	return func(client, server netip.AddrPort, start time.Time, fs *flowstats.Stats, mem *budget.Account) reassembly.Stream {
		transport := parser.TCP
		if fs.UDP {
			transport = parser.UDP
		}
		o := opts
		o.Transport, o.Memory = fs, mem
		return parser.NewConn(transport, client, server, start, o)
	}
}

// Order sorts connections as tlssniff writes those decided at one packet
// (or at the end of the input): by start, then client, then server.
func Order(conns []*parser.Connection) {
	slices.SortStableFunc(conns, parser.CompareStart)
}

// noting passes each connection to sessions, in the order they are
// written, before write.
func noting(sessions *parser.Sessions, write func(*parser.Connection)) func(*parser.Connection) {
	return func(c *parser.Connection) {
		sessions.Note(c)
		write(c)
	}
}

// Read reads src to its end with one assembler and returns every
// connection in the order they started, as Run writes them with
// StartOrder (exactly: Read keeps them all).
func Read(src capture.Source, cfg reassembly.Config, validator *parser.Validator) ([]*parser.Connection, error) {
	var out []*parser.Connection
	asm := reassembly.New(cfg, Streams(parser.Options{Validator: validator, Emit: func(c *parser.Connection) { out = append(out, c) }}))
	done := func(err error) ([]*parser.Connection, error) {
		asm.Flush()
		if validator != nil {
			for _, c := range out {
				validator.Judge(c)
			}
		}
		Order(out)
		sessions := parser.NewSessions()
		for _, c := range out {
			sessions.Note(c)
		}
		return out, err
	}
	var p capture.Packet
	for {
		err := src.Next(&p)
		switch {
		case errors.Is(err, capture.ErrNoPacket):
			continue
		case errors.Is(err, io.EOF):
			return done(nil)
		case err != nil:
			return done(err)
		}
		asm.Add(&p)
	}
}
