package report

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tlssniff/tlssniff/parser"
)

// topN is how many SNIs, servers and JA4s a summary lists.
const topN = 10

// Summary writes, at Close, what the connections had in common: counts by
// version, suite, group, ALPN and outcome; the top SNIs, servers and JA4s;
// handshake latency percentiles and failure rates overall, per SNI and per
// server. It keeps counts, not connections (sketch.go): exact while the
// names are few, estimates past that, marked "~".
type Summary struct {
	w   io.Writer
	acc *accumulator
}

// NewSummary returns a summary sink writing to w.
func NewSummary(w io.Writer) *Summary { return &Summary{w: w, acc: newAccumulator()} }

// Write implements Sink.
func (s *Summary) Write(c *parser.Connection) error {
	e := newEntry(c)
	s.acc.add(&e)
	return nil
}

// entry is what a summary counts of one connection.
type entry struct {
	sni, version, suite, group, alpn, ja4 string
	server                                netip.AddrPort
	outcome                               parser.Outcome
	handshake                             *time.Duration
	start                                 time.Time
	// why is the failure's Reason, else its outcome; alerts are "from
	// description" of the alerts it carried (close_notify left out, an
	// encrypted one counted when the handshake failed).
	why    string
	alerts []string
	// cert is "name\x00not_after\x00status" of the server's leaf, "" without one.
	cert string
	// costs are what the diagnosis's findings cost, by kind, round
	// trips left out.
	costs []parser.Finding
}

// sep joins the parts of a composite key of the summary's counters.
const sep = "\x00"

func newEntry(c *parser.Connection) entry {
	e := entry{sni: dash(c.SNI()), server: c.Server, outcome: c.Outcome, start: c.Start,
		version: "-", suite: "-", group: "-", alpn: dash(c.ALPN()), ja4: "-", handshake: c.Timing.Handshake}
	if e.failed() {
		e.why = cmp.Or(c.Reason(), c.Outcome.String()+": "+c.OutcomeDetail)
	}
	for i, m := range c.Messages {
		if m.Type != parser.MsgAlert {
			continue
		}
		switch a := c.AlertAt(i); {
		case a != nil && a.Description != 0:
			e.alerts = appendNew(e.alerts, m.From.String()+sep+parser.AlertName(a.Description))
		case a == nil && e.failed():
			e.alerts = appendNew(e.alerts, m.From.String()+sep+"(encrypted)")
		}
	}
	for _, f := range c.Costs() {
		if f.HasCost && f.Kind != parser.FindingRoundTrips {
			e.costs = append(e.costs, parser.Finding{Kind: f.Kind, Cost: f.Cost, HasCost: true})
		}
	}
	if status := c.CertStatus(); status != "" {
		e.cert = clean(truncate(c.Certificates[0].Name(), maxNameLen)) + sep + c.Certificates[0].NotAfter.Format(time.RFC3339) + sep + status
	}
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

// maxNameLen bounds a certificate's name in the summary's keys: a DNS
// name has at most 253 bytes, a hostile one any number.
const maxNameLen = 256

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// appendNew appends s to list unless it is there.
func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// failed reports whether the handshake failed: refused, alerted, aborted,
// reset or broken. A capture that ended early or holds one side only shows
// no failure, nor a success.
func (e *entry) failed() bool { return e.outcome.Failed() }

// Bounds of what a summary keeps: the handshake times overall exactly up
// to maxExact, and by name (SNI, server) up to maxExactByName; at most
// maxNames names of each kind.
const (
	maxExact       = 4096
	maxExactByName = 64
	maxNames       = 1000
)

// accumulator counts the connections as they come.
type accumulator struct {
	all                                                            group
	outcomes, versions, suites, groups, alpns, ja4s, snis, servers *counter
	// By server and SNI: failures by reason, alerts by side and
	// description, and certificates.
	failures, alerts, certs *counter
	last                    time.Time // the latest start
	key                     []byte    // add's, reused
}

func newAccumulator() *accumulator {
	a := &accumulator{all: group{handshakes: quantiles{limit: maxExact}}}
	for _, c := range []**counter{&a.outcomes, &a.versions, &a.suites, &a.groups, &a.alpns, &a.ja4s, &a.failures, &a.alerts, &a.certs} {
		*c = newCounter(maxNames, 0)
	}
	a.snis, a.servers = newCounter(maxNames, maxExactByName), newCounter(maxNames, maxExactByName)
	return a
}

func (a *accumulator) add(e *entry) {
	a.all.add(e)
	a.outcomes.add(e.outcome.String(), e)
	a.versions.add(e.version, e)
	a.suites.add(e.suite, e)
	a.groups.add(e.group, e)
	a.alpns.add(e.alpn, e)
	a.ja4s.add(e.ja4, e)
	a.snis.add(e.sni, e)
	// The keys made of parts are made in one buffer, and a string only
	// for a name not counted yet.
	a.key = e.server.AppendTo(a.key[:0])
	a.servers.addKey(a.key, e)
	a.key = append(append(append(a.key, sep...), e.sni...), sep...)
	where := len(a.key)
	if e.why != "" {
		a.key = append(a.key[:where], e.why...)
		a.failures.addKey(a.key, e)
	}
	for _, al := range e.alerts {
		a.key = append(a.key[:where], al...)
		a.alerts.addKey(a.key, e)
	}
	if e.cert != "" {
		a.key = append(a.key[:where], e.cert...)
		a.certs.addKey(a.key, e)
	}
	if e.start.After(a.last) {
		a.last = e.start
	}
}

// tally is a value and how many connections had it; Err bounds how much
// Count may be over (counter).
type tally struct {
	Name       string
	Count, Err int
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
	handshakes                 quantiles
	err                        int // Conns may be over by this much (counter)
	index                      int // in its counter's heap
	// causes sums the cost of each kind of finding, for the slowest
	// servers' main cause: a few kinds at most.
	causes map[string]time.Duration
}

// summary is everything a summary shows.
type summary struct {
	Conns, Established, Failed                int
	Latency                                   latency
	Handshakes                                *quantiles
	Outcomes, Versions, Suites, Groups, ALPNs []tally
	JA4s                                      []tally
	SNIs, Servers                             []group
	// The answers: failures by server, SNI and reason; alerts by server,
	// SNI, side and description; certificates at risk.
	Failures, Alerts, CertsAtRisk      [][]string
	Slowest                            [][]string // servers by p90 handshake, with their main cause
	TotalFailures, TotalAlerts         string
	TotalCertsAtRisk                   int
	TotalSNIs, TotalServers, TotalJA4s string // "~" when estimated
}

func (a *accumulator) summarize() summary {
	s := summary{Conns: a.all.Conns, Established: a.all.Established, Failed: a.all.Failed,
		Latency: a.all.handshakes.latency(), Handshakes: &a.all.handshakes}
	groups := func(c *counter) ([]group, string) {
		out := make([]group, 0, len(c.m))
		for _, g := range c.m {
			g.Latency = g.handshakes.latency()
			out = append(out, *g)
		}
		slices.SortFunc(out, func(a, b group) int { return cmp.Or(cmp.Compare(b.Conns, a.Conns), strings.Compare(a.Name, b.Name)) })
		n, exact := c.total()
		total := fmt.Sprint(n)
		if !exact {
			total = "~" + total
		}
		return out, total
	}
	count := func(c *counter) []tally {
		gs, _ := groups(c)
		out := make([]tally, len(gs))
		for i, g := range gs {
			out[i] = tally{g.Name, g.Conns, g.err}
		}
		return out
	}
	s.Outcomes, s.Versions, s.Suites = count(a.outcomes), count(a.versions), count(a.suites)
	s.Groups, s.ALPNs = count(a.groups), count(a.alpns)
	s.JA4s = count(a.ja4s)
	_, s.TotalJA4s = groups(a.ja4s)
	s.SNIs, s.TotalSNIs = groups(a.snis)
	s.Servers, s.TotalServers = groups(a.servers)
	slowest := slices.DeleteFunc(slices.Clone(s.Servers), func(g group) bool { return g.Latency.N == 0 })
	slices.SortStableFunc(slowest, func(a, b group) int { return cmp.Compare(b.Latency.P90, a.Latency.P90) })
	for _, g := range slowest[:min(topN, len(slowest))] {
		s.Slowest = append(s.Slowest, append([]string{g.Name}, append(g.Latency.cells(), g.mainCause())...))
	}
	s.SNIs, s.Servers, s.JA4s = s.SNIs[:min(topN, len(s.SNIs))], s.Servers[:min(topN, len(s.Servers))], s.JA4s[:min(topN, len(s.JA4s))]
	// keyed splits each counted key into its parts and the count.
	keyed := func(c *counter) [][]string {
		var rows [][]string
		for _, t := range count(c) {
			rows = append(rows, append(strings.Split(t.Name, sep), estimate(t.Count, t.Err)))
		}
		return rows
	}
	s.Failures, s.Alerts = keyed(a.failures), keyed(a.alerts)
	_, s.TotalFailures = groups(a.failures)
	_, s.TotalAlerts = groups(a.alerts)
	s.Failures, s.Alerts = s.Failures[:min(topN, len(s.Failures))], s.Alerts[:min(topN, len(s.Alerts))]
	for _, r := range keyed(a.certs) { // server, SNI, name, not_after, status, count
		notAfter, _ := time.Parse(time.RFC3339, r[3])
		days := int(math.Floor(notAfter.Sub(a.last).Hours() / 24))
		if r[4] == parser.CertOK && days >= certWarnDays {
			continue
		}
		left := fmt.Sprint(days)
		if days < 0 {
			left = "expired"
		}
		s.CertsAtRisk = append(s.CertsAtRisk, []string{r[0], r[1], r[2], notAfter.Format(time.DateOnly), left, r[4], r[5]})
	}
	// The soonest to end first.
	slices.SortStableFunc(s.CertsAtRisk, func(x, y []string) int { return cmp.Compare(x[3], y[3]) })
	s.TotalCertsAtRisk = len(s.CertsAtRisk)
	s.CertsAtRisk = s.CertsAtRisk[:min(topN, len(s.CertsAtRisk))]
	return s
}

// certWarnDays is how close to its end a valid certificate is at risk.
const certWarnDays = 30

func (g *group) add(e *entry) {
	g.Conns++
	if e.outcome == parser.OutcomeEstablished {
		g.Established++
	}
	if e.failed() {
		g.Failed++
	}
	if e.handshake != nil {
		g.handshakes.add(*e.handshake)
	}
	for _, f := range e.costs {
		if g.causes == nil {
			g.causes = map[string]time.Duration{}
		}
		g.causes[f.Kind] += f.Cost
	}
}

// causeWords name the kinds of findings in a summary.
var causeWords = map[string]string{
	parser.FindingServerThink:    "server think time",
	parser.FindingHelloRetry:     "HelloRetryRequest",
	parser.FindingCongestion:     "flight over the congestion window",
	parser.FindingServerFlight:   "slow server flight",
	parser.FindingRetransmission: "retransmissions",
	parser.FindingClientThink:    "client think time",
}

// mainCause is the kind of finding that cost a group the most, and what
// it cost a connection on average; "-" without one.
func (g *group) mainCause() string {
	kind, most := "", time.Duration(0)
	for k, d := range g.causes {
		if d > most || d == most && k < kind {
			kind, most = k, d
		}
	}
	if most < time.Millisecond {
		return "-"
	}
	return fmt.Sprintf("%s, %.1f ms a connection", cmp.Or(causeWords[kind], kind), ms(most)/float64(g.Conns))
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
	sum := s.acc.summarize()
	var b strings.Builder
	fmt.Fprintf(&b, "%d TLS connections: %d established (%s), %d failed (%s), %d undecided (one-sided or cut short)\n",
		sum.Conns, sum.Established, rate(sum.Established, sum.Conns), sum.Failed, rate(sum.Failed, sum.Conns),
		sum.Conns-sum.Established-sum.Failed)
	sections := []struct {
		title  string
		header []string
		rows   [][]string
	}{
		{"Slowest servers, by the 90th percentile of their handshakes, and their main cause",
			[]string{"SERVER", "N", "P50 MS", "P90 MS", "P99 MS", "MAX MS", "MAIN CAUSE"}, sum.Slowest},
		{top("failures by server and reason", len(sum.Failures), sum.TotalFailures), []string{"SERVER", "SNI", "WHY", "CONNECTIONS"}, sum.Failures},
		{fmt.Sprintf("%s: problems, or under %d days left at the end of the capture",
			top("certificates at risk", len(sum.CertsAtRisk), fmt.Sprint(sum.TotalCertsAtRisk)), certWarnDays),
			[]string{"SERVER", "SNI", "CERTIFICATE", "NOT AFTER", "DAYS LEFT", "STATUS", "CONNECTIONS"}, sum.CertsAtRisk},
		{top("alerts by server", len(sum.Alerts), sum.TotalAlerts), []string{"SERVER", "SNI", "FROM", "ALERT", "CONNECTIONS"}, sum.Alerts},
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

func top(what string, shown int, total string) string {
	if fmt.Sprint(shown) != total {
		return fmt.Sprintf("Top %d %s of %s", shown, what, total)
	}
	return fmt.Sprintf("%s (%s)", strings.ToUpper(what[:1])+what[1:], total)
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
		rows[i] = []string{t.Name, estimate(t.Count, t.Err)}
	}
	return rows
}

// estimate renders a count, "~" before it when it may be over by err.
func estimate(n, err int) string {
	if err > 0 {
		return "~" + fmt.Sprint(n)
	}
	return fmt.Sprint(n)
}

func groupHeader(name string) []string {
	return []string{name, "CONNECTIONS", "ESTABLISHED", "FAILED", "FAILURE RATE", "N", "P50 MS", "P90 MS", "P99 MS", "MAX MS"}
}

func groupRows(gs []group) [][]string {
	rows := make([][]string, len(gs))
	for i, g := range gs {
		rows[i] = append([]string{g.Name, estimate(g.Conns, g.err), fmt.Sprint(g.Established), fmt.Sprint(g.Failed),
			rate(g.Failed, g.Conns-g.err)}, g.Latency.cells()...)
	}
	return rows
}
