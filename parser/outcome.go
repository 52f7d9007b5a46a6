package parser

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/tlssniff/tlssniff/flowstats"
)

// refusals are the alerts a server sends when nothing in a ClientHello
// suits it (RFC 8446, section 6.2; RFC 7507).
var refusals = map[uint8]bool{40: true, 70: true, 71: true, 86: true} // handshake_failure, protocol_version, insufficient_security, inappropriate_fallback

// judge fills in the connection's Quality and Outcome when it is emitted.
func (c *Conn) judge() {
	cc := c.c
	var t flowstats.Stats
	if c.transport != nil {
		t = c.transport.ByRole(c.client)
		q := &cc.Quality
		q.Transport = t
		q.MissingSYN = !t.SYN && !t.SYNACK && !t.UDP
		q.OneSided = t.Packets[FromClient] == 0 || t.Packets[FromServer] == 0
		q.MissingStart = cc.ClientHello == nil
		cc.Tunnel = t.Tunnel
		if t.Conflicts > 0 {
			c.issue(t.ConflictTime, c.sideOf(Direction(t.ConflictSide)), IssueOverlapConflict, fmt.Sprintf("%d TCP segments carried other bytes than an "+
				"overlapping copy; the copy delivered first was read (an evasion attempt or a broken stack)", t.Conflicts))
		}
	}
	c.timing(t)
	c.judgeDecryption()
	client, server := &c.sides[c.client], &c.sides[1-c.client]
	after := func(i int) string { return c.after(i) }
	outcome := func(o Outcome, detail string) { cc.Outcome, cc.OutcomeDetail = o, detail }

	if cc.Established {
		// A fatal alert read after both Finished but before its sender's
		// first data still ends the handshake: a TLS 1.3 server turning the
		// client's certificate down does so after the client's Finished.
		if i, a := c.alertBeforeData(); a != nil {
			outcome(OutcomeAlert, fmt.Sprintf("%s %s from %s%s; both sides had sent their Finished", AlertLevelName(a.Level),
				AlertName(a.Description), a.From, after(i)))
			return
		}
		outcome(OutcomeEstablished, "")
		return
	}
	if i, a := c.firstAlert(); a != nil {
		if a.From == FromServer && refusals[a.Description] && cc.ServerHello == nil && cc.HelloRetryRequest == nil {
			outcome(OutcomeMismatch, fmt.Sprintf("the server refused the ClientHello with %s", AlertName(a.Description)))
			return
		}
		outcome(OutcomeAlert, fmt.Sprintf("%s %s from %s%s, in the clear", AlertLevelName(a.Level),
			AlertName(a.Description), a.From, after(i)))
		return
	}
	// Messages captured after a RST were on the wire when it was sent: a
	// client that reset before the server's flight came did not abort
	// after it.
	beforeReset := len(cc.Messages)
	if t.Reset {
		beforeReset, _ = slices.BinarySearchFunc(cc.Messages, t.ResetTime, func(m Message, ts time.Time) int {
			return cmp.Or(m.Time.Compare(ts), -1) // after every message of that time
		})
	}
	serverFlight := server.fullHS || len(c.t13.serverRecs) > 0
	clientReset := t.Reset && Direction(t.ResetSide) == FromClient &&
		slices.ContainsFunc(cc.Messages[:beforeReset], func(m Message) bool { return m.From == FromServer })
	clientQuit := client.alerted || t.FIN[FromClient] || clientReset
	if serverFlight && !client.finished && clientQuit {
		how := "closed the connection"
		switch {
		case client.alerted:
			how = "sent an encrypted alert"
		case t.Reset:
			how = "reset the connection"
		}
		outcome(OutcomeClientAborted, fmt.Sprintf("the client %s after the server's flight, without its Finished", how))
		return
	}
	if t.Reset {
		detail := fmt.Sprintf("reset by the %s%s", Direction(t.ResetSide), after(beforeReset))
		if n := len(cc.Messages) - beforeReset; n > 0 {
			detail += fmt.Sprintf("; the %d messages captured after it were already on the wire", n)
		}
		outcome(OutcomeReset, detail)
		return
	}
	if client.broken || server.broken {
		who, h := "client", client
		if server.broken {
			who, h = "server", server
		}
		outcome(OutcomeNotTLSAfter, fmt.Sprintf("the %s stopped sending TLS records%s", who, after(h.brokenAt)))
		return
	}
	if i := c.lastEncryptedAlert(); i >= 0 {
		m := cc.Messages[i]
		outcome(OutcomeAlert, fmt.Sprintf("encrypted alert from %s%s", m.From, after(i)))
		return
	}
	if cc.Quality.OneSided {
		who := "client"
		if t.Packets[FromClient] == 0 {
			who = "server"
		}
		outcome(OutcomeOneSided, fmt.Sprintf("only the %s's packets were captured", who))
		return
	}
	if cc.ClientHello == nil && cc.ServerHello == nil && cc.HelloRetryRequest == nil {
		outcome(OutcomeMissingStart, fmt.Sprintf("the capture started after the hellos: %d records from the client and %d from the server, with %s record headers",
			c.headless[c.client], c.headless[1-c.client], VersionName(c.headlessVersion)))
		return
	}
	if cc.ServerHello == nil && cc.HelloRetryRequest == nil {
		outcome(OutcomeNoServerHello, "the server did not answer the ClientHello")
		return
	}
	outcome(OutcomeIncomplete, fmt.Sprintf("the capture ended or went idle%s", after(len(cc.Messages))))
}

// after names the message before index i: " after ServerHello from server".
func (c *Conn) after(i int) string {
	if i <= 0 || i > len(c.c.Messages) {
		return ""
	}
	m := c.c.Messages[i-1]
	return fmt.Sprintf(" after %s from %s", m.Type, m.From)
}

// firstAlert returns the first alert read in the clear and its message
// index (past the end when the message list was full).
func (c *Conn) firstAlert() (int, *Alert) {
	if len(c.c.Alerts) == 0 {
		return -1, nil
	}
	a := &c.c.Alerts[0]
	if a.msg < 0 {
		return len(c.c.Messages), a
	}
	return a.msg, a
}

// alertBeforeData returns the first fatal alert read (in the clear or with
// keys) that its sender sent before any application data, and its message
// index.
func (c *Conn) alertBeforeData() (int, *Alert) {
	sentData := [2]bool{}
	for i, m := range c.c.Messages {
		switch {
		case m.Type == MsgApplicationData:
			sentData[m.From] = true
		case m.Type == MsgAlert && !sentData[m.From]:
			if a := c.c.AlertAt(i); a != nil && a.Level == 2 { // fatal
				return i, a
			}
		}
	}
	return -1, nil
}

// lastEncryptedAlert is the index of the last encrypted alert, or -1. An
// alert sent after the same side's application data is taken for the
// close_notify that ends a session, not a failure.
func (c *Conn) lastEncryptedAlert() int {
	sentData := [2]bool{}
	found := -1
	for i, m := range c.c.Messages {
		switch {
		case m.Type == MsgApplicationData:
			sentData[m.From] = true
		case m.Type == MsgAlert && m.Encrypted && !sentData[m.From]:
			found = i
		}
	}
	return found
}
