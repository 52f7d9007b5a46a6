package parser

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Finding is one answer to "where did the handshake's time go".
type Finding struct {
	Kind string // one of the Finding* kinds
	// Cost is the time the finding cost the handshake, when it can be
	// measured (HasCost).
	Cost    time.Duration
	HasCost bool
	Text    string // a sentence; it quotes no string from the wire
}

// The kinds of Finding, in the order Diagnosis lists them.
const (
	FindingRoundTrips     = "round_trips"
	FindingServerThink    = "server_think"
	FindingHelloRetry     = "hello_retry"
	FindingCongestion     = "server_flight_waited_for_acks"
	FindingServerFlight   = "server_flight_spread"
	FindingRetransmission = "retransmission"
	FindingClientThink    = "client_think"
)

// initialWindow is the initial congestion window most servers start with
// (RFC 6928: 10 segments of a 1460-byte MSS): a flight larger than it
// waits for the client's ACKs.
const initialWindow = 10 * 1460

// Diagnosis says where a handshake's time went: the network's round trip
// and how many the handshake took against what its kind needs, then what
// explains the extra ones — a server slow to answer, a HelloRetryRequest,
// a server flight that waited for ACKs, segments sent again, a client
// slow to answer. Each finding carries the time it cost when it can be
// measured. The rules are in doc.go, "Where the time went".
func (c *Connection) Diagnosis() []Finding { return c.diagnose(true) }

// Costs is Diagnosis without the sentences, for counting where the time
// went over many connections at less cost.
func (c *Connection) Costs() []Finding { return c.diagnose(false) }

// diagnose lists the findings, with their sentences when text is set.
func (c *Connection) diagnose(text bool) []Finding {
	t := &c.Timing
	if c.ClientHelloTime.IsZero() || c.ServerHelloTime.IsZero() {
		return c.History
	}
	var out []Finding
	add := func(kind string, cost time.Duration, hasCost bool, say func() string) {
		f := Finding{Kind: kind, Cost: cost, HasCost: hasCost}
		if text {
			f.Text = say()
		}
		out = append(out, f)
	}
	// Legs of the round trip from the capture point: to the server and
	// back (SYN to SYN/ACK), to the client and back (SYN/ACK to ACK).
	// Without a TCP handshake (QUIC, DTLS, a flow picked up late), the
	// ClientHello/ServerHello pair bounds the round trip from above, the
	// server's think time in it, and the capture is taken to be near the
	// client.
	var rtt, toServer, toClient time.Duration
	measured := "the TCP handshake's"
	switch {
	case t.TCPRoundTrip != nil:
		rtt, toServer, toClient = *t.TCPRoundTrip, *t.SYNToSYNACK, *t.SYNACKToACK
	case t.ClientHelloToServerHello != nil && c.HelloRetryRequest == nil:
		rtt, toServer = *t.ClientHelloToServerHello, *t.ClientHelloToServerHello
		measured = "the ClientHello and ServerHello's, server think time included"
	}
	// A step is worth a finding when it is long against the round trip,
	// or a good part of time the round trips do not explain.
	var extra time.Duration
	worth := func(d time.Duration) bool { return d >= 10*time.Millisecond && d >= rtt/4 }
	significant := func(d time.Duration) bool {
		return worth(d) || worth(extra) && d >= extra/4 && d >= time.Millisecond
	}

	if rtt > 0 && !c.ServerFinishedTime.IsZero() {
		// The client waits from its ClientHello to the server's Finished,
		// and the capture point sees that wait less the client's leg; a
		// Finished sent again reached the client only then.
		finished := c.ServerFinishedTime
		if c.TLS13() {
			finished = later(finished, c.lastResent(FromServer, c.ClientFinishedTime))
		}
		wait := finished.Sub(c.ClientHelloTime) + toClient
		need, kind := 1, "a TLS 1.3 handshake"
		switch {
		case c.TLS13() && c.HelloRetryRequest != nil:
			need, kind = 2, "a TLS 1.3 handshake with a HelloRetryRequest"
		case c.TLS13() && c.Resumed:
			kind = "a resumed TLS 1.3 handshake"
		case c.TLS13():
		case c.Resumed:
			kind = "a resumed handshake"
		default:
			need, kind = 2, "a full "+VersionName(c.Version)+" handshake"
		}
		extra = wait - time.Duration(need)*rtt
		// Every connection has this finding: its text is appended in one
		// buffer, as fmt made it in seven allocations (pprof, make bench).
		add(FindingRoundTrips, max(extra, 0), true, func() string {
			b := append(make([]byte, 0, 192), "the client waited "...)
			b = append(appendMS(b, wait), " for the server's Finished"...)
			if rtt < time.Millisecond {
				b = append(appendNeeds(append(b, "; "...), kind, need), ", and a round trip ("...)
				b = append(append(b, measured...), ") took "...)
				b = append(appendMS(b, rtt), ", so the time went to the two ends' work"...)
			} else {
				b = append(strconv.AppendFloat(append(b, ", "...), float64(wait)/float64(rtt), 'f', 1, 64), " round trips of "...)
				b = append(append(append(appendMS(b, rtt), " ("...), measured...), "); "...)
				b = appendNeeds(b, kind, need)
			}
			if worth(extra) {
				b = append(appendMS(append(b, ", so "...), extra), " more went elsewhere"...)
			}
			return string(b)
		})
	}

	hrr := c.HelloRetryRequest != nil && !c.SecondClientHelloTime.IsZero()
	answered := c.ClientHelloTime
	if hrr {
		answered = c.SecondClientHelloTime
	}
	if rtt > 0 {
		// The server's time to answer the ClientHello (none when the round
		// trip is the hellos') and, in a full TLS 1.2 handshake, the
		// client's Finished: one finding.
		hello := max(c.ServerHelloTime.Sub(answered)-toServer, 0)
		finished, ok := c.finishedThink(toServer)
		finished = max(finished, 0)
		sayHello := significant(hello) || ok && significant(hello+finished)
		sayFinished := ok && (significant(finished) || significant(hello+finished))
		if sayHello || sayFinished {
			add(FindingServerThink, hello+finished, true, func() string {
				var parts []string
				if sayHello {
					parts = append(parts, fmt.Sprintf("%s to answer the ClientHello", msText(hello)))
				}
				if sayFinished {
					parts = append(parts, fmt.Sprintf("%s to answer the client's Finished", msText(finished)))
				}
				text := "the server took " + strings.Join(parts, " and ") + ", beyond the round trip"
				if t.CaptureNear == "client" {
					text += " (or its answer was lost and sent again, which only a capture near the server shows)"
				}
				return text
			})
		}
	}
	if hrr && t.HelloRetry != nil {
		add(FindingHelloRetry, *t.HelloRetry, true, func() string {
			return fmt.Sprintf("a HelloRetryRequest cost a round trip (%s): %s", msText(*t.HelloRetry), c.retryCause())
		})
	}
	if t.ServerFlight != nil && significant(*t.ServerFlight) {
		spread, f := *t.ServerFlight, c.serverFlight()
		if f.bytes > initialWindow/3 && rtt > 0 && spread >= rtt*3/4 && spread <= 4*rtt+rtt/2 {
			add(FindingCongestion, spread, true, func() string {
				return fmt.Sprintf("the server's flight of %d bytes (%s; %s) took %s, %.1f round trips: it did not fit the "+
					"server's initial congestion window, so the server waited for the client's ACKs; a flight that fits it "+
					"(a smaller chain: fewer certificates or names, ECDSA keys; or certificate compression, RFC 8879) would "+
					"save about %s", f.bytes, strings.Join(f.messages, ", "), f.chain(), msText(spread),
					float64(spread)/float64(rtt), msText(spread))
			})
		} else {
			add(FindingServerFlight, spread, true, func() string {
				return fmt.Sprintf("the server's flight of %d bytes was spread over %s after its ServerHello "+
					"(a slow signature or a busy server)", f.bytes, msText(spread))
			})
		}
	}
	if n, cost := c.retransmissions(); n > 0 {
		add(FindingRetransmission, cost, cost > 0, func() string {
			what := fmt.Sprintf("%d segments of the handshake were", n)
			if n == 1 {
				what = "a segment of the handshake was"
			}
			return fmt.Sprintf("%s sent again; the longest wait for one, a retransmission timeout, was %s", what, msText(cost))
		})
	}
	if think, ok := c.clientThink(toClient); ok && rtt > 0 && significant(think) {
		add(FindingClientThink, think, true, func() string {
			return fmt.Sprintf("the client took %s after the server's flight before answering it "+
				"(checking the certificate, choosing a client certificate, or a busy client)", msText(think))
		})
	}
	return append(out, c.History...)
}

// msText writes a duration in milliseconds, to the microsecond under 10
// ms.
func msText(d time.Duration) string { return string(appendMS(nil, d)) }

func appendMS(b []byte, d time.Duration) []byte {
	prec := 1
	if d < 10*time.Millisecond {
		prec = 3
	}
	return append(strconv.AppendFloat(b, float64(d)/float64(time.Millisecond), 'f', prec, 64), " ms"...)
}

// appendNeeds says how many round trips a kind of handshake needs.
func appendNeeds(b []byte, kind string, need int) []byte {
	b = append(append(b, kind...), " needs "...)
	b = append(strconv.AppendInt(b, int64(need), 10), " round trip"...)
	if need > 1 {
		b = append(b, 's')
	}
	return b
}

// retryCause says which key share the client sent and which group the
// server asked for.
func (c *Connection) retryCause() string {
	var shares []string
	if c.ClientHello != nil {
		for _, g := range c.ClientHello.KeyShares {
			if !IsGREASE(g) {
				shares = append(shares, GroupName(g))
			}
		}
	}
	sent := "no key share"
	if len(shares) > 0 {
		sent = "key shares for " + strings.Join(shares, ", ")
	}
	if h := c.HelloRetryRequest; h.HasKeyShare {
		return fmt.Sprintf("the client sent %s, the server asked for %s; a client that offers a %s key share first saves it",
			sent, GroupName(h.KeyShare), GroupName(h.KeyShare))
	}
	return "the server asked for a cookie or another ClientHello (" + sent + ")"
}

// flightSize is what the server's first flight held.
type flightSize struct {
	bytes, chainBytes, certs int
	messages                 []string
}

func (f flightSize) chain() string {
	if f.certs == 0 {
		return "its certificate chain encrypted"
	}
	return fmt.Sprintf("a chain of %d certificates, %d bytes", f.certs, f.chainBytes)
}

// serverFlight measures the server's flight from its ServerHello to its
// flight's last message: handshake messages with their 4-byte headers,
// or a TLS 1.3 flight's records.
func (c *Connection) serverFlight() flightSize {
	f := flightSize{certs: len(c.Certificates)}
	for _, cert := range c.Certificates {
		f.chainBytes += cert.Length
	}
	if c.ServerFlight != nil {
		f.bytes = c.ServerFlight.Bytes
		for _, m := range c.ServerFlight.Messages {
			f.messages = append(f.messages, m.String())
		}
	}
	if c.Timing.ServerFlight == nil {
		return f
	}
	end := c.ServerHelloTime.Add(*c.Timing.ServerFlight)
	for _, m := range c.Messages {
		if m.From == FromServer && !m.Encrypted && m.Type != MsgChangeCipherSpec && m.Type != MsgAlert &&
			!m.Time.Before(c.ServerHelloTime) && !m.Time.After(end) {
			f.bytes += 4 + m.Length
			f.messages = append(f.messages, m.Type.String())
		}
	}
	return f
}

// retransmissions counts the segments sent again before the handshake
// ended, and the longest time one waited: from its side's last message
// before it.
func (c *Connection) retransmissions() (n int, longest time.Duration) {
	end := c.ClientFinishedTime
	if end.IsZero() {
		end = c.ServerFinishedTime
	}
	for _, m := range c.Quality.Transport.Marks {
		if !m.Retransmit || !end.IsZero() && m.Time.After(end) {
			continue
		}
		n++
		from := c.Start
		for _, msg := range c.Messages {
			if msg.Time.After(m.Time) {
				break
			}
			if msg.From == Direction(m.Side) {
				from = msg.Time
			}
		}
		longest = max(longest, m.Time.Sub(from))
	}
	return n, longest
}

// clientThink is the time the client took between the end of the
// server's flight and its next message, less the round trip from the
// capture point to the client (toClient).
func (c *Connection) clientThink(toClient time.Duration) (time.Duration, bool) {
	if c.Timing.ServerFlight == nil {
		return 0, false
	}
	end := c.ServerHelloTime.Add(*c.Timing.ServerFlight)
	for _, m := range c.Messages {
		if m.From == FromClient && m.Time.After(end) {
			return m.Time.Sub(later(end, c.lastResent(FromServer, m.Time))) - toClient, true
		}
	}
	return 0, false
}

// finishedThink is the time a TLS 1.2 server took between the client's
// Finished and its own (a full handshake's second round trip), less the
// round trip from the capture point to the server (toServer).
func (c *Connection) finishedThink(toServer time.Duration) (time.Duration, bool) {
	if c.TLS13() || c.Resumed || c.ClientFinishedTime.IsZero() || c.ServerFinishedTime.Before(c.ClientFinishedTime) {
		return 0, false
	}
	return c.ServerFinishedTime.Sub(c.ClientFinishedTime) - toServer, true
}

// lastResent is the time of side d's last segment sent again before
// before (any time when zero), or the zero time.
func (c *Connection) lastResent(d Direction, before time.Time) time.Time {
	var last time.Time
	for _, m := range c.Quality.Transport.Marks {
		if m.Retransmit && Direction(m.Side) == d && (before.IsZero() || m.Time.Before(before)) {
			last = m.Time
		}
	}
	return last
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
