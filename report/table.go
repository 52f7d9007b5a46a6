package report

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/pkg/twwidth"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/tlssniff/tlssniff/parser"
)

// Table writes one row per connection. Column widths depend on the rows,
// so the first maxTableRows rows are kept: a table of no more is written
// at Close with the widths its rows need; past that, the rows kept are
// written with the widths they need and the later ones streamed with the
// same widths (a longer value pushes the rest of its row right), so that
// memory stays flat on any capture. Live, rows stream from the first with
// fixed widths. Rows are laid out here, as tablewriter lays out the
// summary's tables (the same bytes), not by it: it took 43 µs a row, and
// the table of bench/bulk-1024.pcap's 976 connections on one CPU fell from
// 239–257 to 214–217 ms without it. Unlike tablewriter, a value's leading
// and trailing spaces are kept, but at the end of a line (the outcome's
// column, never a wire string).
type Table struct {
	w      io.Writer
	rows   [][]string
	widths []int // set once rows stream
	header bool
}

// maxTableRows is how many rows a table keeps to align its columns.
const maxTableRows = 1000

// NewTable returns a table sink writing to w.
func NewTable(w io.Writer) *Table { return &Table{w: w} }

// NewStreamingTable returns a table sink that writes row by row to w,
// with fixed column widths, for a live capture.
func NewStreamingTable(w io.Writer) *Table { return &Table{w: w, widths: streamWidths} }

var tableHeader = []string{"START", "CLIENT", "SERVER", "PROTO", "SNI", "VERSION", "CIPHER SUITE", "ALPN", "HANDSHAKE", "CERTIFICATE", "OUTCOME"}

// streamWidths are the column widths of a live table: wide enough for
// most values.
var streamWidths = []int{26, 21, 21, 5, 28, 7, 39, 8, 12, 32}

// Write implements Sink.
func (t *Table) Write(c *parser.Connection) error {
	if t.widths != nil {
		return t.line(row(c))
	}
	if t.rows = append(t.rows, row(c)); len(t.rows) < maxTableRows {
		return nil
	}
	return t.align()
}

// align sets the widths the rows kept and the header need, and writes the
// rows.
func (t *Table) align() error {
	t.widths = make([]int, len(tableHeader)-1) // the last column is not padded
	for _, r := range append(t.rows, tableHeader) {
		for i := range t.widths {
			t.widths[i] = max(t.widths[i], width(r[i]))
		}
	}
	rows := t.rows
	t.rows = nil
	for _, r := range rows {
		if err := t.line(r); err != nil {
			return err
		}
	}
	return nil
}

// tablewriter's width cache is dropped: its package makes it, a map for
// 8,192 strings, when it is loaded, and it stayed on the heap in every
// view, where only the summary's few tables and the rare non-ASCII cell
// (width) measure strings, a second time at most. Four alternated pairs of
// NDJSON runs over bench/mix-1024.pcap: peak RSS 51.1 to 51.5 MiB against
// 52.5 to 53.3, and on bench/mix-100.pcap 41.7 to 42.1 against 41.9 to 44.0.
func init() { twwidth.SetCacheCapacity(0) }

// width is how many columns a cell takes on a terminal, as tablewriter
// counts them (wide characters take two): its length when it is ASCII, as
// cells almost always are (escaped: no control characters).
func width(cell string) int {
	if n := utf8.RuneCountInString(cell); n != len(cell) {
		return twwidth.Width(cell)
	}
	return len(cell)
}

// line writes the header before the first row, then the row.
func (t *Table) line(cells []string) error {
	if err := t.writeHeader(); err != nil {
		return err
	}
	return t.cells(cells)
}

// writeHeader writes the header once.
func (t *Table) writeHeader() error {
	if t.header {
		return nil
	}
	t.header = true
	return t.cells(tableHeader)
}

// cells writes one line of cells padded to the widths.
func (t *Table) cells(cells []string) error {
	var b strings.Builder
	for i, cell := range cells {
		b.WriteString(cell)
		if i < len(t.widths) {
			b.WriteString(strings.Repeat(" ", max(t.widths[i]-width(cell), 0)+2))
		}
	}
	_, err := io.WriteString(t.w, strings.TrimRight(b.String(), " ")+"\n")
	return err
}

// Close implements Sink: the rows kept are written, and the header even
// without rows.
func (t *Table) Close() error {
	if t.widths == nil {
		if err := t.align(); err != nil {
			return err
		}
	}
	return t.writeHeader()
}

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
	if r := c.Reason(); r != "" {
		outcome += ": " + r
	}
	return []string{
		c.Start.UTC().Format("2006-01-02 15:04:05.000000"),
		c.Client.String(), c.Server.String(), c.Protocol(),
		dash(c.SNI()), version, suite, dash(c.ALPN()), hs, certCell(c), outcome,
	}
}

// certCell sums up the server's leaf certificate: the name it is for, the
// days it had left at capture time, and its status in a word
// ("www.example.com 41d ok", "old.example.com expired").
func certCell(c *parser.Connection) string {
	status := c.CertStatus()
	if status == "" {
		return "-"
	}
	name := clean(c.Certificates[0].Name())
	if days, ok := c.CertDaysLeft(); ok && status != parser.CertExpired {
		return fmt.Sprintf("%s %dd %s", name, days, status)
	}
	return name + " " + status
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
