package report

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tlssniff/tlssniff/parser"
)

// LadderOptions choose how a sequence diagram is drawn; the caller decides
// them from the terminal.
type LadderOptions struct {
	ASCII bool // ASCII instead of Unicode box drawing
	Color bool // ANSI colors
}

// Ladder writes each connection as a sequence diagram: the client's
// lifeline on the left, the server's on the right, one arrow per step with
// its time from the connection's start. It writes each connection at once,
// from a buffer reused for the next, as NDJSON's.
type Ladder struct {
	w    io.Writer
	g    glyphs
	opts LadderOptions
	n    int
	buf  bytes.Buffer
}

// glyphs are the characters a diagram is drawn with.
type glyphs struct {
	life, right, left string
	line              [stepGap + 1]string // by stepKind
	both              string
}

var (
	unicodeGlyphs = glyphs{life: "│", right: "▶", left: "◀", both: "⇄",
		line: [...]string{stepTCP: "─", stepClear: "─", stepEncrypted: "┄", stepAlert: "━", stepMark: "~", stepGap: "×"}}
	asciiGlyphs = glyphs{life: "|", right: ">", left: "<", both: "<->",
		line: [...]string{stepTCP: "-", stepClear: "-", stepEncrypted: ".", stepAlert: "=", stepMark: "~", stepGap: "x"}}
)

// arrowWidth is the width of an arrow between the lifelines; the longest
// message name fits with room to spare.
const arrowWidth = 32

// ANSI SGR sequences.
const (
	sgrReset   = "\x1b[0m"
	sgrBold    = "\x1b[1m"
	sgrDim     = "\x1b[2m"
	sgrRed     = "\x1b[31m"
	sgrGreen   = "\x1b[32m"
	sgrYellow  = "\x1b[33m"
	sgrMagenta = "\x1b[35m"
	sgrCyan    = "\x1b[36m"
)

// NewLadder returns a sequence-diagram sink writing to w.
func NewLadder(w io.Writer, opts LadderOptions) *Ladder {
	g := unicodeGlyphs
	if opts.ASCII {
		g = asciiGlyphs
	}
	return &Ladder{w: w, g: g, opts: opts}
}

// paint wraps s in an SGR sequence when colors are on.
func (l *Ladder) paint(sgr, s string) string {
	if !l.opts.Color || s == "" {
		return s
	}
	return sgr + s + sgrReset
}

// Write implements Sink.
func (l *Ladder) Write(c *parser.Connection) error {
	b := &l.buf
	b.Reset()
	if l.n > 0 {
		b.WriteString("\n")
	}
	l.n++
	l.header(b, c)
	for _, s := range steps(c) {
		l.arrow(b, s)
	}
	l.footer(b, c)
	_, err := l.w.Write(b.Bytes())
	return err
}

func (l *Ladder) header(b *bytes.Buffer, c *parser.Connection) {
	sni, ok := c.SNI()
	if !ok {
		sni = "(no SNI)"
	}
	via := ""
	if c.QUIC != nil {
		via = "  over QUIC"
	}
	if c.Tunnel != "" {
		via += "  via " + c.Tunnel
	}
	fmt.Fprintf(b, "%s\n", l.paint(sgrBold, fmt.Sprintf("%s %s %s  %s%s", c.Client, l.g.both, c.Server, clean(sni), via)))
	var parts []string
	if c.ServerHello != nil {
		parts = append(parts, parser.VersionName(c.Version), parser.CipherSuiteName(c.CipherSuite))
	}
	outcome := l.paint(sgrRed, c.Outcome.String())
	if c.Outcome == parser.OutcomeEstablished {
		outcome = l.paint(sgrGreen, c.Outcome.String())
	}
	parts = append(parts, outcome)
	if c.Decryption.Keys == "decrypted" {
		parts = append(parts, "decrypted")
	}
	for _, r := range c.Renegotiations {
		how := "renegotiated"
		switch {
		case r.Refused:
			how = "renegotiation refused"
		case !r.Established:
			how = "renegotiation unfinished"
		}
		parts = append(parts, fmt.Sprintf("%s by %s at %.3f ms", how, r.By, ms(r.Time.Sub(c.Start))))
	}
	parts = append(parts, "start "+c.Start.UTC().Format("2006-01-02 15:04:05.000000 UTC"))
	fmt.Fprintf(b, "%s\n", strings.Join(parts, "  "))
	if c.OutcomeDetail != "" {
		fmt.Fprintf(b, "%s\n", c.OutcomeDetail)
	}
	if r := c.Reason(); r != "" {
		fmt.Fprintf(b, "%s\n", l.paint(sgrYellow, "why: "+r))
	}
	pad := strings.Repeat(" ", 13)
	fmt.Fprintf(b, "%s%-*s%s\n", pad, arrowWidth+2, "client", "server")
}

// arrow draws one step: its time, the two lifelines and the arrow between
// them, pointing away from the sender, then the detail. It writes straight
// into b: the diagram is a dozen steps a connection.
func (l *Ladder) arrow(b *bytes.Buffer, s step) {
	line := l.g.line[s.Kind]
	fill := max(arrowWidth-2-utf8.RuneCountInString(s.Label)-3, 1) // two line runes, two spaces, a head
	var num [32]byte
	at := strconv.AppendFloat(num[:0], ms(s.At), 'f', 3, 64)
	repeat(b, " ", 10-len(at)) // as %10.3f
	b.Write(at)
	b.WriteString(" ms ")
	b.WriteString(l.g.life)
	if l.opts.Color {
		b.WriteString(l.sgr(s))
	}
	if s.From == parser.FromClient {
		repeat(b, line, 2)
		b.WriteByte(' ')
		b.WriteString(s.Label)
		b.WriteByte(' ')
		repeat(b, line, fill)
		b.WriteString(l.g.right)
	} else {
		b.WriteString(l.g.left)
		repeat(b, line, fill)
		b.WriteByte(' ')
		b.WriteString(s.Label)
		b.WriteByte(' ')
		repeat(b, line, 2)
	}
	if l.opts.Color {
		b.WriteString(sgrReset)
	}
	b.WriteString(l.g.life)
	if s.Detail != "" {
		b.WriteString("  ")
		b.WriteString(s.Detail)
	}
	b.WriteByte('\n')
}

// repeat writes s n times.
func repeat(b *bytes.Buffer, s string, n int) {
	for range n {
		b.WriteString(s)
	}
}

// sgr is the color of a step: by direction, dimmed when encrypted, red for
// alerts, yellow for what went wrong in the capture.
func (l *Ladder) sgr(s step) string {
	switch s.Kind {
	case stepAlert:
		return sgrRed
	case stepMark, stepGap:
		return sgrYellow
	}
	color := sgrCyan
	if s.From == parser.FromServer {
		color = sgrMagenta
	}
	if s.Kind == stepEncrypted || s.Kind == stepTCP {
		return sgrDim + color
	}
	return color
}

// footer sums up the connection's timing.
func (l *Ladder) footer(b *bytes.Buffer, c *parser.Connection) {
	if parts := timingParts(c); len(parts) > 0 {
		fmt.Fprintf(b, "%s\n", strings.Join(parts, ", "))
	}
	for _, f := range c.Diagnosis() {
		fmt.Fprintf(b, "%s %s\n", l.paint(sgrYellow, "*"), f.Text)
	}
}

// Close implements Sink.
func (l *Ladder) Close() error { return nil }
