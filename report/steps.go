package report

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tlssniff/tlssniff/parser"
)

// stepKind says how a step of a sequence diagram is drawn.
type stepKind uint8

const (
	stepTCP       stepKind = iota // SYN, SYN/ACK, ACK
	stepClear                     // a message read in the clear
	stepEncrypted                 // a message inferred from encrypted records
	stepAlert                     // an alert, in the clear or not
	stepMark                      // a retransmitted or out-of-order segment
	stepGap                       // bytes lost from the capture
)

// step is one arrow of a connection's sequence diagram. Detail holds wire
// strings already escaped.
type step struct {
	At     time.Duration // from the connection's start
	From   parser.Direction
	Label  string
	Detail string
	Kind   stepKind
}

// steps lays out a connection as a sequence diagram: the TCP handshake,
// every message, and where segments were retransmitted or lost, in capture
// order.
func steps(c *parser.Connection) []step {
	var out []step
	at := func(t time.Time) time.Duration { return t.Sub(c.Start) }
	t := &c.Quality.Transport
	for _, s := range []struct {
		t     time.Time
		from  parser.Direction
		label string
	}{{t.SYNTime, parser.FromClient, "SYN"}, {t.SYNACKTime, parser.FromServer, "SYN/ACK"}, {t.ACKTime, parser.FromClient, "ACK"}} {
		if !s.t.IsZero() {
			out = append(out, step{at(s.t), s.from, s.label, "", stepTCP})
		}
	}
	for i, m := range c.Messages {
		s := step{At: at(m.Time), From: m.From, Label: m.Type.String(), Kind: stepClear}
		switch {
		case m.Type == parser.MsgAlert:
			s.Kind = stepAlert
			s.Detail = "encrypted"
			if a := c.AlertAt(i); a != nil {
				s.Detail = parser.AlertLevelName(a.Level) + " " + parser.AlertName(a.Description)
			}
		case m.Encrypted:
			s.Kind = stepEncrypted
			s.Detail = fmt.Sprintf("encrypted, %d bytes", m.Length)
		case m.Type == parser.MsgClientHello:
			s.Detail = clientHelloDetail(c.HelloAt(i), m.Length)
		default:
			s.Detail = messageDetail(c, m)
		}
		out = append(out, s)
	}
	for _, mk := range t.Marks {
		label, detail := "retransmission", "a TCP segment already seen"
		if !mk.Retransmit {
			label, detail = "out of order", "a TCP segment ahead of a hole"
		}
		out = append(out, step{at(mk.Time), parser.Direction(mk.Side), label, detail, stepMark})
	}
	for _, is := range c.Issues {
		if is.Kind == parser.IssueGap {
			out = append(out, step{at(is.Time), is.From, "gap", clean(is.Detail), stepGap})
		}
	}
	// Stable: the TCP handshake, then messages in capture order, then
	// marks and gaps at the same time.
	slices.SortStableFunc(out, func(a, b step) int { return int(a.At - b.At) })
	return out
}

// clientHelloDetail summarises a ClientHello: what it asks for and how it
// travelled.
func clientHelloDetail(ch *parser.ClientHello, length int) string {
	if ch == nil {
		return fmt.Sprintf("%d bytes, malformed", length)
	}
	var parts []string
	if ch.HasServerName {
		parts = append(parts, "SNI "+clean(ch.ServerName))
	}
	if len(ch.ALPN) > 0 {
		alpn := make([]string, len(ch.ALPN))
		for i, p := range ch.ALPN {
			alpn[i] = clean(p)
		}
		parts = append(parts, "ALPN "+strings.Join(alpn, ","))
	}
	if len(ch.KeyShares) > 0 {
		parts = append(parts, "key shares "+strings.Join(new(arena).names(ch.KeyShares, parser.GroupName), ","))
	}
	seg := ""
	if ch.Segments > 1 {
		seg = fmt.Sprintf(" in %d segments", ch.Segments)
	}
	return strings.Join(append(parts, fmt.Sprintf("%d bytes%s", length, seg)), "; ")
}

// messageDetail summarises a message read in the clear.
func messageDetail(c *parser.Connection, m parser.Message) string {
	switch m.Type {
	case parser.MsgServerHello:
		if c.ServerHello == nil {
			return "malformed"
		}
		parts := []string{parser.VersionName(c.Version), parser.CipherSuiteName(c.CipherSuite)}
		if c.HasGroup && c.TLS13() {
			parts = append(parts, parser.GroupName(c.Group))
		}
		if alpn, ok := c.ALPN(); ok {
			parts = append(parts, "ALPN "+clean(alpn))
		}
		if c.Resumed {
			parts = append(parts, "resumed")
		}
		return strings.Join(parts, "; ")
	case parser.MsgHelloRetryRequest:
		if h := c.HelloRetryRequest; h != nil && h.HasKeyShare {
			return "asks for a key share of " + parser.GroupName(h.KeyShare)
		}
	case parser.MsgEncryptedExtensions:
		if ee := c.EncryptedExtensions; ee != nil && ee.HasALPN {
			return "ALPN " + clean(ee.ALPN)
		}
	case parser.MsgCertificate, parser.MsgCompressedCertificate:
		chain := c.Certificates
		if m.From == parser.FromClient {
			chain = c.ClientCertificates
		}
		if len(chain) == 0 {
			return "empty"
		}
		subject := chain[0].Subject
		if subject == "" {
			subject = "no subject"
		}
		return fmt.Sprintf("%s; chain of %d", clean(subject), len(chain))
	case parser.MsgServerKeyExchange:
		if ske := c.ServerKeyExchange; ske != nil && ske.HasGroup {
			return parser.GroupName(ske.Group)
		} else if ske != nil && ske.DHBits > 0 {
			return fmt.Sprintf("DH %d bits", ske.DHBits)
		}
	case parser.MsgChangeCipherSpec, parser.MsgServerHelloDone:
		return ""
	}
	return fmt.Sprintf("%d bytes", m.Length)
}

// timingParts names the connection's durations, in the order they happen.
func timingParts(c *parser.Connection) []string {
	var parts []string
	add := func(name string, d *float64) {
		if d != nil {
			parts = append(parts, fmt.Sprintf("%s %.3f ms", name, *d))
		}
	}
	t := timing(c, new([timingFields]float64))
	add("SYN to SYN/ACK", t.SYNToSYNACKMS)
	add("SYN/ACK to ACK", t.SYNACKToACKMS)
	if t.CaptureNear != nil {
		parts = append(parts, "captured near the "+*t.CaptureNear)
	}
	add("ClientHello to ServerHello", t.ClientHelloToServerHelloMS)
	add("hello retry round trip", t.HelloRetryMS)
	add("handshake", t.HandshakeMS)
	add("client's first data", t.ClientFirstDataMS)
	add("server's first data", t.ServerFirstDataMS)
	return parts
}
