package parser

import (
	"fmt"
	"hash/maphash"
	"net/netip"
	"time"
)

// Findings that need the connections before this one.
const (
	FindingNoResumption      = "no_resumption"
	FindingResumptionRefused = "resumption_refused"
)

// Sessions remembers what the last connection between a client and a
// server name was given to resume with, for the maxSessions pairs seen
// last, so that a later full handshake between them is explained: the
// client did not offer what it had been given, or the server did not take
// it. Note must see the connections in the order they are written; the
// result is then the same for any number of workers.
type Sessions struct {
	seen *lru[sessionKey, given]
	seed maphash.Seed
}

// maxSessions bounds Sessions: an entry is its key, what was given and
// the bookkeeping, under 200 bytes.
const maxSessions = 4096

// sessionKey names a client and a server name; the SNI, as long as the
// wire makes it, is kept as its hash.
type sessionKey struct {
	client netip.Addr
	server netip.AddrPort
	sni    uint64
}

// given is what a connection was given to resume with.
type given struct {
	at        time.Time
	tickets   int  // NewSessionTicket messages, read or inferred
	sessionID bool // a TLS 1.2 server's session id, for a stateful resumption
}

// NewSessions returns an empty history.
func NewSessions() *Sessions {
	return &Sessions{seen: newLRU[sessionKey, given](maxSessions), seed: maphash.MakeSeed()}
}

// Note adds a finding to a full handshake that could have been resumed,
// then remembers what c was given.
func (s *Sessions) Note(c *Connection) {
	ch := c.ClientHello
	if ch == nil || c.ServerHello == nil {
		return
	}
	sni, _ := c.SNI()
	key := sessionKey{c.Client.Addr(), c.Server, maphash.String(s.seed, sni)}
	offered := ch.PSKIdentities > 0 || ch.SessionTicketLen > 0 || len(ch.SessionID) > 0 && !c.TLS13()
	if prev, ok := s.seen.get(key, true); ok && !c.Resumed && (prev.tickets > 0 || prev.sessionID) {
		ago := c.Start.Sub(prev.at)
		what, them := fmt.Sprintf("%d session tickets", prev.tickets), "them"
		if prev.tickets == 1 {
			what, them = "a session ticket", "it"
		}
		if prev.tickets == 0 {
			what, them = "a session id", "it"
		}
		if offered {
			c.History = append(c.History, Finding{Kind: FindingResumptionRefused, Text: fmt.Sprintf("the client offered "+
				"to resume the session it was given %s before (%s); the server made a full handshake instead (the "+
				"ticket expired or its key changed, or another server answered)", msText(ago), what)})
		} else {
			c.History = append(c.History, Finding{Kind: FindingNoResumption, Text: fmt.Sprintf("this client was given "+
				"%s by the same server and name %s before and did not offer %s: a full handshake instead of a "+
				"resumed one (the server's certificate, signature and key exchange again)", what, msText(ago), them)})
		}
	}
	tickets := 0
	for _, m := range c.Messages {
		if m.From == FromServer && m.Type == MsgNewSessionTicket {
			tickets++
		}
	}
	s.seen.set(key, given{at: c.Start, tickets: tickets, sessionID: !c.TLS13() && len(c.ServerHello.SessionID) > 0}, 1)
}
