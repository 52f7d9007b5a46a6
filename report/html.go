package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"slices"
	"time"

	"github.com/tlssniff/tlssniff/parser"
)

// maxDiagrams caps the sequence diagrams an HTML report draws; the summary
// and the histogram count every connection.
const maxDiagrams = 2000

//go:embed html.tmpl
var htmlTemplate string

var htmlPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"ms":   func(d time.Duration) string { return fmt.Sprintf("%.3f", ms(d)) },
	"rate": rate,
	"list": func(v ...any) []any { return v },
}).Parse(htmlTemplate))

// HTML writes, at Close, one self-contained page: the summary, a histogram
// of handshake latency and each connection's sequence diagram in SVG,
// filterable by SNI and outcome. It loads nothing from anywhere.
type HTML struct {
	w       io.Writer
	title   string
	acc     *accumulator
	diagram []diagram
}

// NewHTML returns an HTML sink writing to w; title names the input.
func NewHTML(w io.Writer, title string) *HTML {
	return &HTML{w: w, title: title, acc: newAccumulator()}
}

// Write implements Sink.
func (h *HTML) Write(c *parser.Connection) error {
	e := newEntry(c)
	h.acc.add(&e)
	if len(h.diagram) < maxDiagrams {
		h.diagram = append(h.diagram, newDiagram(c))
	}
	return nil
}

// Close implements Sink.
func (h *HTML) Close() error {
	sum := h.acc.summarize()
	outcomes := make([]string, len(sum.Outcomes))
	for i, t := range sum.Outcomes {
		outcomes[i] = t.Name
	}
	slices.Sort(outcomes)
	return htmlPage.Execute(h.w, map[string]any{
		"Title":        h.title,
		"Summary":      sum,
		"Undecided":    sum.Conns - sum.Established - sum.Failed,
		"Histogram":    newHistogram(sum.Handshakes),
		"Outcomes":     outcomes,
		"Diagrams":     h.diagram,
		"Omitted":      sum.Conns - len(h.diagram),
		"CertWarnDays": certWarnDays,
		"Columns":      tableHeader,
	})
}

// Geometry of a sequence diagram, in SVG user units (pixels).
const (
	svgTimeX   = 8   // left edge of the time column
	svgClientX = 110 // the client's lifeline
	svgServerX = 430 // the server's lifeline
	svgDetailX = 445 // left edge of the details
	svgWidth   = 1000
	svgTop     = 34 // first arrow
	svgRow     = 24 // between arrows
)

// diagram is one connection's row of the table (the table view's cells)
// and its sequence diagram, laid out.
type diagram struct {
	Cells                   []string
	Title, Subtitle, Detail string
	Reason                  string // why it failed
	SNI, Outcome            string
	Established             bool
	Timing                  []string
	Diagnosis               []string // where the time went
	Width, Height           int
	ClientX, ServerX        int
	TimeX, DetailX          int
	Arrows                  []svgArrow
}

type svgArrow struct {
	Y, X1, X2, LabelX int
	Time              string
	Label, Detail     string
	Class             string
}

func newDiagram(c *parser.Connection) diagram {
	d := diagram{
		Cells:       row(c),
		Title:       fmt.Sprintf("%s ⇄ %s", c.Client, c.Server),
		Outcome:     c.Outcome.String(),
		Established: c.Outcome == parser.OutcomeEstablished,
		Detail:      c.OutcomeDetail,
		Reason:      c.Reason(),
		Width:       svgWidth, ClientX: svgClientX, ServerX: svgServerX, TimeX: svgTimeX, DetailX: svgDetailX,
	}
	if sni, ok := c.SNI(); ok {
		d.SNI = clean(sni)
	}
	d.Subtitle = c.Start.UTC().Format("2006-01-02 15:04:05.000000 UTC")
	if c.ServerHello != nil {
		d.Subtitle = parser.VersionName(c.Version) + " · " + parser.CipherSuiteName(c.CipherSuite) + " · " + d.Subtitle
	}
	for _, s := range steps(c) {
		a := svgArrow{Y: svgTop + len(d.Arrows)*svgRow, Time: fmt.Sprintf("%.3f ms", ms(s.At)),
			Label: s.Label, Detail: s.Detail, Class: stepClass(s), X1: svgClientX, X2: svgServerX}
		if s.From == parser.FromServer {
			a.X1, a.X2 = a.X2, a.X1
		}
		a.LabelX = (svgClientX + svgServerX) / 2
		d.Arrows = append(d.Arrows, a)
	}
	d.Height = svgTop + len(d.Arrows)*svgRow
	d.Timing = timingParts(c)
	for _, f := range c.Diagnosis() {
		d.Diagnosis = append(d.Diagnosis, f.Text)
	}
	return d
}

// stepClass is the CSS class that draws a step.
func stepClass(s step) string {
	return [...]string{stepTCP: "tcp", stepClear: "clear", stepEncrypted: "enc", stepAlert: "alert", stepMark: "mark", stepGap: "gap"}[s.Kind]
}

// Geometry of the histogram.
const (
	histBins   = 20
	histWidth  = 640 // of histBins bars
	histHeight = 180 // of the tallest bar
	histLeft   = 10
	histTop    = 20 // room for the tallest bar's count
)

// histogram is the latency histogram, laid out.
type histogram struct {
	Width, Height, Left, Base int
	Bars                      []histBar
	Ticks                     []histTick
}

type histBar struct {
	X, Y, W, H int
	Count      int
	From, To   string
}

type histTick struct {
	X     int
	Label string
}

// newHistogram bins the sorted handshake times into at most histBins bins
// of a round width (1, 2 or 5 times a power of ten) from zero to the
// largest.
func newHistogram(q *quantiles) histogram {
	h := histogram{Left: histLeft, Base: histTop + histHeight, Height: histTop + histHeight + 30}
	if q.n == 0 {
		return h
	}
	width := roundUp(q.max/histBins + 1) // > max/histBins: at most histBins bins
	counts := make([]int, int(q.max/width)+1)
	q.each(func(d time.Duration, n int) { counts[int(d/width)] += n })
	most := slices.Max(counts)
	barW := histWidth / histBins
	h.Width = histLeft + len(counts)*barW + 40
	for i, n := range counts {
		bh := n * histHeight / most
		h.Bars = append(h.Bars, histBar{X: histLeft + i*barW, Y: h.Base - bh, W: barW - 2, H: bh, Count: n,
			From: fmt.Sprintf("%.3f", ms(time.Duration(i)*width)), To: fmt.Sprintf("%.3f", ms(time.Duration(i+1)*width))})
	}
	step := 1
	if len(counts) > 10 {
		step = 5
	}
	for i := 0; i <= len(counts); i += step {
		h.Ticks = append(h.Ticks, histTick{histLeft + i*barW, fmt.Sprintf("%g", ms(time.Duration(i)*width))})
	}
	return h
}

// roundUp returns the smallest of 1, 2 or 5 times a power of ten
// nanoseconds that is at least d.
func roundUp(d time.Duration) time.Duration {
	for p := time.Duration(1); ; p *= 10 {
		for _, m := range []time.Duration{1, 2, 5} {
			if m*p >= d {
				return m * p
			}
		}
	}
}
