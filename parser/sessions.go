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
	seen *lru[uint64, given] // by sessionKey
	seed maphash.Seed
}

// maxSessions bounds Sessions: an entry is its key, what was given and
// the bookkeeping, about 100 bytes.
const maxSessions = 4096

// sessionKey names a client and a server name by a hash of the client's
// address, the server's address and port and the SNI, which is as long as
// the wire makes it. Two pairs share a key with a chance of 2^-64, which
// no sender can aim at: the seed is the run's own.
func (s *Sessions) sessionKey(client netip.Addr, server netip.AddrPort, sni string) uint64 {
	var h maphash.Hash
	h.SetSeed(s.seed)
	for _, a := range [2]netip.Addr{client, server.Addr()} {
		b := a.As16()
		h.Write(b[:])
		h.WriteByte(byte(a.BitLen())) // 10.0.0.1 is not ::ffff:10.0.0.1
	}
	port := server.Port()
	h.WriteByte(byte(port >> 8))
	h.WriteByte(byte(port))
	h.WriteString(sni)
	return h.Sum64()
}

// given is what a connection was given to resume with.
type given struct {
	at        time.Time
	tickets   int  // NewSessionTicket messages, read or inferred
	sessionID bool // a TLS 1.2 server's session id, for a stateful resumption
}

// NewSessions returns an empty history.
func NewSessions() *Sessions {
	return &Sessions{seen: newLRU[uint64, given](maxSessions), seed: maphash.MakeSeed()}
}

// Note adds a finding to a full handshake that could have been resumed,
// then remembers what c was given.
func (s *Sessions) Note(c *Connection) {
	ch := c.ClientHello
	if ch == nil || c.ServerHello == nil {
		return
	}
	sni, _ := c.SNI()
	key := s.sessionKey(c.Client.Addr(), c.Server, sni)
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
