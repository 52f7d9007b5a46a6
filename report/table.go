package report

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/tlssniff/tlssniff/parser"
)

// Table writes one row per connection. Column widths depend on every row, so
// rows are kept and rendered at Close.
type Table struct {
	rows [][]string
	w    io.Writer
}

// NewTable returns a table sink writing to w.
func NewTable(w io.Writer) *Table { return &Table{w: w} }

// Write implements Sink.
func (t *Table) Write(c *parser.Connection) error {
	t.rows = append(t.rows, row(c))
	return nil
}

// Close implements Sink.
func (t *Table) Close() error { return renderTable(t.w, tableHeader, t.rows) }

var tableHeader = []string{"START", "CLIENT", "SERVER", "SNI", "VERSION", "CIPHER SUITE", "ALPN", "HANDSHAKE", "OUTCOME"}

// streamWidths are the column widths of a streaming table: wide enough for
// most values; a longer one pushes the rest of its row right.
var streamWidths = []int{26, 21, 21, 28, 7, 39, 8, 12}

// StreamingTable writes each row as soon as its connection is decided,
// with fixed column widths, for a live capture.
type StreamingTable struct {
	w      io.Writer
	header bool
}

// NewStreamingTable returns a table sink that writes row by row to w.
func NewStreamingTable(w io.Writer) *StreamingTable { return &StreamingTable{w: w} }

// Write implements Sink.
func (t *StreamingTable) Write(c *parser.Connection) error {
	if err := t.writeHeader(); err != nil {
		return err
	}
	return t.line(row(c))
}

func (t *StreamingTable) writeHeader() error {
	if t.header {
		return nil
	}
	t.header = true
	return t.line(tableHeader)
}

func (t *StreamingTable) line(cells []string) error {
	var b strings.Builder
	for i, cell := range cells {
		if i < len(streamWidths) {
			fmt.Fprintf(&b, "%-*s  ", streamWidths[i], cell)
		} else {
			b.WriteString(cell)
		}
	}
	_, err := io.WriteString(t.w, strings.TrimRight(b.String(), " ")+"\n")
	return err
}

// Close implements Sink: the header is written even without rows.
func (t *StreamingTable) Close() error { return t.writeHeader() }

// row is the table row of a connection.
func row(c *parser.Connection) []string {
	version, suite := "-", "-"
	if c.ServerHello != nil {
		version, suite = parser.VersionName(c.Version), parser.CipherSuiteName(c.CipherSuite)
	}
	hs := "-"
	if d := c.Timing.Handshake; d != nil {
		hs = fmt.Sprintf("%.3f ms", ms(*d))
	}
	outcome := c.Outcome.String()
	if a := c.DecisiveAlert(); a != nil {
		outcome = fmt.Sprintf("alert %s from %s", parser.AlertName(a.Description), a.From)
	}
	var notes []string
	if c.Resumed {
		notes = append(notes, "resumed")
	}
	if c.HelloRetryRequest != nil {
		notes = append(notes, "HRR")
	}
	if len(notes) > 0 {
		outcome += " (" + strings.Join(notes, ", ") + ")"
	}
	return []string{
		c.Start.UTC().Format("2006-01-02 15:04:05.000000"),
		c.Client.String(), c.Server.String(),
		dash(c.SNI()), version, suite, dash(c.ALPN()), hs, outcome,
	}
}

// dash is the escaped value, or "-" when there is none.
func dash(s string, ok bool) string {
	if !ok || s == "" {
		return "-"
	}
	return clean(s)
}

// renderTable writes an aligned table without borders, and without the
// padding that would trail each line.
func renderTable(w io.Writer, header []string, rows [][]string) error {
	var buf bytes.Buffer
	t := tablewriter.NewTable(&buf,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders: tw.BorderNone,
			Settings: tw.Settings{
				Separators: tw.Separators{BetweenColumns: tw.Off, BetweenRows: tw.Off},
				Lines:      tw.Lines{ShowHeaderLine: tw.Off},
			},
		})),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithPadding(tw.Padding{Right: "  "}),
	)
	t.Header(header)
	if err := t.Bulk(rows); err != nil {
		return err
	}
	if err := t.Render(); err != nil {
		return err
	}
	for _, line := range bytes.SplitAfter(buf.Bytes(), []byte("\n")) {
		trimmed := bytes.TrimRight(line, " \n")
		if len(line) > 0 && line[len(line)-1] == '\n' {
			trimmed = append(trimmed, '\n')
		}
		if _, err := w.Write(trimmed); err != nil {
			return err
		}
	}
	return nil
}
