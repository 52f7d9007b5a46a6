package report

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/tlssniff/tlssniff/parser"
)

// Filter selects connections: a connection passes when it matches every
// condition given, and a condition of several values when it matches any
// of them (as tcpdump's "or" within a flag, "and" across flags). An empty
// field selects everything.
type Filter struct {
	SNI      []*regexp.Regexp // from Glob
	Hosts    []netip.Prefix   // client or server address in one (an address is a /32 or /128)
	Nets     []netip.Prefix   // the same, given as networks
	Ports    []uint16         // client or server port
	Outcomes []string         // outcome names, or the classes failed, established, undecided
	// CertExpiresWithin keeps the connections whose server certificate
	// had fewer days left at capture time (expired ones included).
	CertExpiresWithin *int
	CertStatus        []string // parser.CertStatus words, any of them
}

// Match reports whether c passes every condition of f.
func (f Filter) Match(c *parser.Connection) bool {
	if f.SNI != nil {
		sni, ok := c.SNI()
		if !ok || !slices.ContainsFunc(f.SNI, func(re *regexp.Regexp) bool { return re.MatchString(sni) }) {
			return false
		}
	}
	in := func(p netip.Prefix) bool { return p.Contains(c.Client.Addr()) || p.Contains(c.Server.Addr()) }
	if f.Hosts != nil && !slices.ContainsFunc(f.Hosts, in) || f.Nets != nil && !slices.ContainsFunc(f.Nets, in) {
		return false
	}
	if f.Ports != nil && !slices.Contains(f.Ports, c.Client.Port()) && !slices.Contains(f.Ports, c.Server.Port()) {
		return false
	}
	if f.Outcomes != nil && !slices.ContainsFunc(f.Outcomes, func(o string) bool { return OutcomeIn(c.Outcome, o) }) {
		return false
	}
	if f.CertExpiresWithin != nil {
		days, ok := c.CertDaysLeft()
		if !ok || days >= *f.CertExpiresWithin {
			return false
		}
	}
	if f.CertStatus != nil && !slices.Contains(f.CertStatus, c.CertStatus()) {
		return false
	}
	return true
}

// The classes of outcomes the summary counts, which --outcome takes
// besides the outcomes' names.
const (
	ClassFailed      = "failed"
	ClassEstablished = "established"
	ClassUndecided   = "undecided" // one-sided, cut short, or picked up late
)

// OutcomeIn reports whether o is the outcome or in the class named name.
func OutcomeIn(o parser.Outcome, name string) bool {
	switch name {
	case ClassFailed:
		return o.Failed()
	case ClassUndecided:
		return !o.Failed() && o != parser.OutcomeEstablished
	}
	return o.String() == name
}

// Glob compiles a shell-style pattern for a name from the wire: * matches
// any run of characters and ? any one, '/' and '.' included (an SNI has
// no path separator); [a-z] and [!a-z] are classes; a backslash quotes
// the next character; letters match either case.
func Glob(pattern string) (*regexp.Regexp, error) {
	var re strings.Builder
	re.WriteString(`(?is)\A`)
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '*':
			re.WriteString(`.*`)
		case '?':
			re.WriteString(`.`)
		case '\\':
			if i++; i == len(pattern) {
				return nil, errors.New("a trailing backslash quotes nothing")
			}
			re.WriteString(regexp.QuoteMeta(pattern[i : i+1]))
		case '[':
			end := strings.IndexByte(pattern[i+1:], ']')
			if end < 0 {
				return nil, errors.New("a [ without its ]")
			}
			class := pattern[i+1 : i+1+end]
			neg := strings.HasPrefix(class, "!") || strings.HasPrefix(class, "^")
			if neg {
				class = class[1:]
			}
			if class == "" {
				return nil, errors.New("an empty [] class")
			}
			re.WriteByte('[')
			if neg {
				re.WriteByte('^')
			}
			re.WriteString(strings.NewReplacer(`\`, `\\`, `[`, `\[`, `^`, `\^`).Replace(class))
			re.WriteByte(']')
			i += end + 1
		default:
			re.WriteString(regexp.QuoteMeta(pattern[i : i+1]))
		}
	}
	re.WriteString(`\z`)
	r, err := regexp.Compile(re.String())
	if err != nil {
		return nil, fmt.Errorf("not a glob: %v", err)
	}
	return r, nil
}

// Filtered passes to s only the connections f matches.
func Filtered(s Sink, f Filter) Sink { return filtered{s, f} }

type filtered struct {
	Sink
	f Filter
}

func (s filtered) Write(c *parser.Connection) error {
	if !s.f.Match(c) {
		return nil
	}
	return s.Sink.Write(c)
}

// Sort orders.
const (
	SortStart     = "start"     // by first packet
	SortHandshake = "handshake" // slowest handshake first; none last
	SortSNI       = "sni"       // by server name; none last
)

// Sorted keeps every connection and passes them to s at Close, in the order
// named by by. Ties keep the order of the start, then of the endpoints, so
// that the output is the same for the same input.
func Sorted(s Sink, by string) Sink { return &sorted{s: s, by: by} }

type sorted struct {
	s     Sink
	by    string
	conns []*parser.Connection
}

func (s *sorted) Write(c *parser.Connection) error {
	s.conns = append(s.conns, c)
	return nil
}

func (s *sorted) Close() error {
	slices.SortStableFunc(s.conns, func(a, b *parser.Connection) int {
		var r int
		switch s.by {
		case SortHandshake:
			r = compareMissingLast(a.Timing.Handshake == nil, b.Timing.Handshake == nil, func() int {
				return cmp.Compare(*b.Timing.Handshake, *a.Timing.Handshake)
			})
		case SortSNI:
			sa, oka := a.SNI()
			sb, okb := b.SNI()
			r = compareMissingLast(!oka, !okb, func() int { return strings.Compare(sa, sb) })
		}
		if r != 0 {
			return r
		}
		return parser.CompareStart(a, b)
	})
	var errs []error
	for _, c := range s.conns {
		if err := s.s.Write(c); err != nil {
			errs = append(errs, err)
			break
		}
	}
	return errors.Join(append(errs, s.s.Close())...)
}

// compareMissingLast orders present values by cmp and missing ones last.
func compareMissingLast(aMissing, bMissing bool, cmp func() int) int {
	switch {
	case aMissing && bMissing:
		return 0
	case aMissing:
		return 1
	case bMissing:
		return -1
	}
	return cmp()
}

// Tee writes every connection to each sink.
func Tee(sinks ...Sink) Sink { return tee(sinks) }

type tee []Sink

func (t tee) Write(c *parser.Connection) error {
	for _, s := range t {
		if err := s.Write(c); err != nil {
			return err
		}
	}
	return nil
}

func (t tee) Close() error {
	var errs []error
	for _, s := range t {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}
