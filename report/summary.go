package report

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/tlssniff/tlssniff/parser"
)

// topN is how many SNIs, servers and JA4s a summary lists.
const topN = 10

// Summary writes, at Close, what the connections had in common: counts by
// version, suite, group, ALPN and outcome; the top SNIs, servers and JA4s;
// handshake latency percentiles and failure rates overall, per SNI and per
// server.
type Summary struct {
	w       io.Writer
	entries []entry
}

// entry is what a summary keeps of one connection.
type entry struct {
	sni, server, version, suite, group, alpn, ja4 string
	outcome                                       parser.Outcome
	handshake                                     *time.Duration
}

// NewSummary returns a summary sink writing to w.
func NewSummary(w io.Writer) *Summary { return &Summary{w: w} }

// Write implements Sink.
func (s *Summary) Write(c *parser.Connection) error {
	s.entries = append(s.entries, newEntry(c))
	return nil
}

func newEntry(c *parser.Connection) entry {
	e := entry{sni: dash(c.SNI()), server: c.Server.String(), outcome: c.Outcome,
		version: "-", suite: "-", group: "-", alpn: dash(c.ALPN()), ja4: "-", handshake: c.Timing.Handshake}
	if c.ServerHello != nil {
		e.version, e.suite = parser.VersionName(c.Version), parser.CipherSuiteName(c.CipherSuite)
	}
	if c.HasGroup {
		e.group = parser.GroupName(c.Group)
	}
	if c.ClientHello != nil {
		e.ja4 = c.ClientHello.JA4
	}
	return e
}

// failed reports whether the handshake failed: refused, alerted, aborted,
// reset or broken. A capture that ended early or holds one side only shows
// no failure, nor a success.
func (e entry) failed() bool { return e.outcome.Failed() }

// tally is a value and how many connections had it.
type tally struct {
	Name  string
	Count int
}

// latency holds handshake percentiles, by the nearest-rank method.
type latency struct {
	N                  int
	P50, P90, P99, Max time.Duration
}

// group is the connections that share an SNI or a server.
type group struct {
	Name                       string
	Conns, Established, Failed int
	Latency                    latency
	handshakes                 []time.Duration
}

// summary is everything a summary shows.
type summary struct {
	Conns, Established, Failed                int
	Latency                                   latency
	Handshakes                                []time.Duration // sorted
	Outcomes, Versions, Suites, Groups, ALPNs []tally
	JA4s                                      []tally
	SNIs, Servers                             []group
	TotalSNIs, TotalServers, TotalJA4s        int
}

func summarize(entries []entry) summary {
	var s summary
	s.Conns = len(entries)
	count := func(key func(entry) string) []tally {
		m := map[string]int{}
		for _, e := range entries {
			m[key(e)]++
		}
		out := make([]tally, 0, len(m))
		for k, n := range m {
			out = append(out, tally{k, n})
		}
		slices.SortFunc(out, func(a, b tally) int { return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Name, b.Name)) })
		return out
	}
	groups := func(key func(entry) string) []group {
		m := map[string]*group{}
		for _, e := range entries {
			g := m[key(e)]
			if g == nil {
				g = &group{Name: key(e)}
				m[key(e)] = g
			}
			g.add(e)
		}
		out := make([]group, 0, len(m))
		for _, g := range m {
			g.Latency = percentiles(g.handshakes)
			out = append(out, *g)
		}
		slices.SortFunc(out, func(a, b group) int { return cmp.Or(cmp.Compare(b.Conns, a.Conns), strings.Compare(a.Name, b.Name)) })
		return out
	}
	var all group
	for _, e := range entries {
		all.add(e)
	}
	s.Established, s.Failed = all.Established, all.Failed
	s.Latency = percentiles(all.handshakes)
	s.Handshakes = all.handshakes
	s.Outcomes = count(func(e entry) string { return e.outcome.String() })
	s.Versions = count(func(e entry) string { return e.version })
	s.Suites = count(func(e entry) string { return e.suite })
	s.Groups = count(func(e entry) string { return e.group })
	s.ALPNs = count(func(e entry) string { return e.alpn })
	s.JA4s = count(func(e entry) string { return e.ja4 })
	s.SNIs = groups(func(e entry) string { return e.sni })
	s.Servers = groups(func(e entry) string { return e.server })
	s.TotalSNIs, s.TotalServers, s.TotalJA4s = len(s.SNIs), len(s.Servers), len(s.JA4s)
	s.SNIs, s.Servers, s.JA4s = s.SNIs[:min(topN, len(s.SNIs))], s.Servers[:min(topN, len(s.Servers))], s.JA4s[:min(topN, len(s.JA4s))]
	return s
}

func (g *group) add(e entry) {
	g.Conns++
	if e.outcome == parser.OutcomeEstablished {
		g.Established++
	}
	if e.failed() {
		g.Failed++
	}
	if e.handshake != nil {
		g.handshakes = append(g.handshakes, *e.handshake)
	}
}

// percentiles sorts ds and returns its nearest-rank percentiles: the
// smallest value at or above which lie q of the values.
func percentiles(ds []time.Duration) latency {
	slices.Sort(ds)
	n := len(ds)
	if n == 0 {
		return latency{}
	}
	rank := func(p int) time.Duration { return ds[(p*n+99)/100-1] }
	return latency{n, rank(50), rank(90), rank(99), ds[n-1]}
}

// rate renders part of whole as a percentage.
func rate(part, whole int) string {
	if whole == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(part)/float64(whole))
}

// Close implements Sink.
func (s *Summary) Close() error {
	sum := summarize(s.entries)
	var b strings.Builder
	fmt.Fprintf(&b, "%d TLS connections: %d established (%s), %d failed (%s), %d undecided (one-sided or cut short)\n",
		sum.Conns, sum.Established, rate(sum.Established, sum.Conns), sum.Failed, rate(sum.Failed, sum.Conns),
		sum.Conns-sum.Established-sum.Failed)
	sections := []struct {
		title  string
		header []string
		rows   [][]string
	}{
		{"Handshake latency, ClientHello to the client's Finished (ms)", []string{"", "N", "P50", "P90", "P99", "MAX"},
			[][]string{append([]string{"all"}, sum.Latency.cells()...)}},
		{"Outcomes", []string{"OUTCOME", "CONNECTIONS"}, tallyRows(sum.Outcomes)},
		{"Versions", []string{"VERSION", "CONNECTIONS"}, tallyRows(sum.Versions)},
		{"Cipher suites", []string{"CIPHER SUITE", "CONNECTIONS"}, tallyRows(sum.Suites)},
		{"Groups", []string{"GROUP", "CONNECTIONS"}, tallyRows(sum.Groups)},
		{"ALPN", []string{"ALPN", "CONNECTIONS"}, tallyRows(sum.ALPNs)},
		{top("SNIs", len(sum.SNIs), sum.TotalSNIs), groupHeader("SNI"), groupRows(sum.SNIs)},
		{top("servers", len(sum.Servers), sum.TotalServers), groupHeader("SERVER"), groupRows(sum.Servers)},
		{top("JA4s", len(sum.JA4s), sum.TotalJA4s), []string{"JA4", "CONNECTIONS"}, tallyRows(sum.JA4s)},
	}
	if _, err := io.WriteString(s.w, b.String()); err != nil {
		return err
	}
	for _, sec := range sections {
		if _, err := fmt.Fprintf(s.w, "\n%s\n", sec.title); err != nil {
			return err
		}
		if err := renderTable(s.w, sec.header, sec.rows); err != nil {
			return err
		}
	}
	return nil
}

func top(what string, shown, total int) string {
	if shown < total {
		return fmt.Sprintf("Top %d %s of %d", shown, what, total)
	}
	return fmt.Sprintf("%s (%d)", strings.ToUpper(what[:1])+what[1:], total)
}

// cells renders the percentiles in milliseconds; "-" without handshakes.
func (l latency) cells() []string {
	if l.N == 0 {
		return []string{"0", "-", "-", "-", "-"}
	}
	f := func(d time.Duration) string { return fmt.Sprintf("%.3f", ms(d)) }
	return []string{fmt.Sprint(l.N), f(l.P50), f(l.P90), f(l.P99), f(l.Max)}
}

func tallyRows(ts []tally) [][]string {
	rows := make([][]string, len(ts))
	for i, t := range ts {
		rows[i] = []string{t.Name, fmt.Sprint(t.Count)}
	}
	return rows
}

func groupHeader(name string) []string {
	return []string{name, "CONNECTIONS", "ESTABLISHED", "FAILED", "FAILURE RATE", "N", "P50 MS", "P90 MS", "P99 MS", "MAX MS"}
}

func groupRows(gs []group) [][]string {
	rows := make([][]string, len(gs))
	for i, g := range gs {
		rows[i] = append([]string{g.Name, fmt.Sprint(g.Conns), fmt.Sprint(g.Established), fmt.Sprint(g.Failed),
			rate(g.Failed, g.Conns)}, g.Latency.cells()...)
	}
	return rows
}
