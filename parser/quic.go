package parser

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"
)

// QUIC carries the TLS 1.3 handshake in CRYPTO frames (RFC 9001). Initial
// packets are protected with keys anyone can derive from the client's
// first Destination Connection ID, so their ClientHello and ServerHello can
// be read (quicwire.go) and go to the core as handshake bytes; Handshake
// and 1-RTT packets cannot, and are counted and placed by their type.

// QUICInfo is what was seen of a QUIC connection's packets.
type QUICInfo struct {
	Version            uint32
	DCID, SCID         []byte // of the client's first Initial
	ServerSCID         []byte // the server's chosen connection ID
	Retry              bool
	VersionNegotiation []uint32 // versions a server offered instead
	// Packets by type and side: Initial, 0-RTT, Handshake, 1-RTT.
	ClientPackets, ServerPackets [4]int
}

// QUICVersionName names a QUIC version as Wireshark does: "1", "2",
// "draft-29", "mvfst (draft-27)", "Google T051", or its hex.
func QUICVersionName(v uint32) string {
	switch v {
	case quicV1:
		return "1"
	case quicV2:
		return "2"
	case quicMvfst22:
		return "mvfst (draft-22)"
	case quicMvfst27:
		return "mvfst (draft-27)"
	case quicMvfstExp:
		return "mvfst (Experimental)"
	case 0x51303433, 0x51303434, 0x51303436, 0x51303530, 0x54303530, 0x54303531:
		return "Google " + string([]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}) // Q050, T051, …
	}
	if v&0xffffff00 == quicDraftPrefix && v&0xff != 0 {
		return fmt.Sprintf("draft-%02d", v&0xff)
	}
	return fmt.Sprintf("0x%08x", v)
}

// quic is the adapter of QUIC over UDP.
type quic struct {
	unframed
	c              *Conn
	info           *QUICInfo // nil until the client's first Initial
	client, server *packetKeys
	crypto         [2]cryptoStream // Initial CRYPTO data, by side
	// Handshake packets, opened with key log secrets when there are some.
	hsKeys   [2]*packetKeys // by side
	hsTried  bool           // the secrets were looked up
	hsCrypto [2]cryptoStream
	// 1-RTT packets, opened with the traffic secrets for the tickets in
	// their first CRYPTO frames.
	appKeys   [2]*packetKeys
	appTried  bool
	appCrypto [2]cryptoStream
	// With a key log still being followed, the datagrams from the first
	// Handshake or 1-RTT packet on are held until the secrets come.
	held held[heldDatagram]
	// 0-RTT and Handshake packets captured before the client's first
	// Initial (datagrams reordered on the way), held until it comes.
	early held[heldDatagram]
}

// hold keeps a copy of the rest of a datagram in h.
func (q *quic) hold(h *held[heldDatagram], side int, ts time.Time, b []byte) bool {
	return h.hold(q.c.mem, heldDatagram{side, ts, bytes.Clone(b)}, len(b))
}

// heldDatagram is the rest of one datagram.
type heldDatagram struct {
	side int
	ts   time.Time
	b    []byte
}

func newQUIC(c *Conn) *quic {
	q := &quic{c: c}
	for i := range q.crypto {
		q.crypto[i].held.Account = c.mem
		q.hsCrypto[i].held.Account = c.mem
		q.appCrypto[i].held.Account = c.mem
	}
	return q
}

// data handles one datagram sent by side: its coalesced QUIC packets.
func (q *quic) data(side int, data []byte, ts time.Time) bool {
	c := q.c
	if len(q.held.items) > 0 {
		if q.c.wait && !q.keysCame() && q.hold(&q.held, side, ts, data) {
			return true
		}
		q.release()
	}
	for len(data) > 0 {
		if data[0]&0x80 == 0 { // a short header: 1-RTT, protected with keys not known here
			if q.info == nil {
				return q.notQUIC(side, ts)
			}
			if q.waitForKeys() && q.hold(&q.held, side, ts, data) {
				return true
			}
			q.shortPacket(side, ts, data)
			break
		}
		packet := data
		h, rest, err := parseLongHeader(data)
		if err != nil {
			if q.info == nil {
				return q.notQUIC(side, ts)
			}
			c.issue(ts, side, IssueMalformedRecord, "a QUIC long header packet cut short")
			break
		}
		data = rest
		if q.info == nil {
			if (h.typ == quic0RTT || h.typ == quicHandshake) && h.version != 0 && q.hold(&q.early, side, ts, packet) {
				return true
			}
			if h.version == 0 || h.typ != quicInitial {
				return q.notQUIC(side, ts) // a connection starts with the client's Initial
			}
			q.info = &QUICInfo{Version: h.version, DCID: bytes.Clone(h.dcid), SCID: bytes.Clone(h.scid)}
			c.c.QUIC = q.info
			c.clientIs(side) // the sender of the first Initial, whatever the caller guessed
		}
		info := q.info
		from := c.role(side)
		count := &info.ClientPackets
		if from == FromServer {
			count = &info.ServerPackets
		}
		switch {
		case h.version == 0: // Version Negotiation (RFC 9000 section 17.2.1)
			for v := h.rest; len(v) >= 4; v = v[4:] {
				info.VersionNegotiation = append(info.VersionNegotiation, binary.BigEndian.Uint32(v))
			}
		case h.typ == quicRetry && (info.Retry || info.ServerPackets[0] > 0):
			// A client takes one Retry, and none after the server's
			// Initial (RFC 9000, section 17.2.5.2): this one changes
			// nothing.
		case h.typ == quicRetry:
			// The client starts over with the Retry's connection ID: its
			// next Initial derives new keys and resends its ClientHello.
			info.Retry = true
			q.client, q.server = nil, nil
			for i := range q.crypto {
				q.crypto[i].held.Clear()
				q.crypto[i].next = 0
			}
		case h.typ == quicInitial:
			count[0]++
			q.initial(side, h, ts)
			c.helloFrames(side, info.ClientPackets[0]) // the Initial packets the hello took
		case h.typ == quic0RTT:
			count[1]++
			c.earlyData(side, ts, h.length)
		case h.typ == quicHandshake:
			if q.waitForKeys() && q.hold(&q.held, side, ts, packet) {
				return true
			}
			count[2]++
			if from == FromServer && len(info.ServerSCID) == 0 {
				info.ServerSCID = bytes.Clone(h.scid)
			}
			if !q.handshake(side, h, ts) {
				c.sealedHandshake(side, ts, h.length)
			}
		}
	}
	if q.info != nil && len(q.early.items) > 0 {
		for _, e := range q.early.take(c.mem) {
			if !c.emitted {
				q.data(e.side, e.b, e.ts)
			}
		}
	}
	return !c.emitted
}

// initial decrypts an Initial packet and passes its CRYPTO frames, in
// order, to the core as handshake bytes.
func (q *quic) initial(side int, h *longHeader, ts time.Time) {
	c := q.c
	if q.client == nil {
		if c.role(side) != FromClient {
			return // the server's Initial before any of the client's: keys unknown
		}
		var ok bool
		if q.client, q.server, ok = deriveInitialKeys(h.version, h.dcid); !ok {
			c.issueOnce(ts, side, IssueUnknownVersion, fmt.Sprintf("QUIC version 0x%08x has no known Initial keys", h.version))
			return
		}
	}
	keys := q.client
	if c.role(side) == FromServer {
		keys = q.server
	}
	plain, ok := keys.open(h)
	if !ok {
		c.issueOnce(ts, side, IssueMalformedRecord, "a QUIC Initial packet did not decrypt")
		return
	}
	frames, ok := cryptoFrames(plain, false)
	if !ok {
		c.issue(ts, side, IssueMalformedRecord, "a QUIC Initial packet holds a frame an Initial may not carry")
	}
	q.cryptoData(side, ts, &q.crypto[side], frames, c.handshakeBytes)
}

// cryptoData puts a level's CRYPTO frames in order in s and passes the
// bytes now contiguous to read.
func (q *quic) cryptoData(side int, ts time.Time, s *cryptoStream, frames []cryptoFrame, read func(int, time.Time, []byte)) {
	for _, f := range frames {
		b, refused := s.add(f, ts)
		if refused {
			q.c.issueOnce(ts, side, IssueMemoryBudget, fmt.Sprintf("CRYPTO frames dropped: those held out of order would cost over %d bytes", maxCryptoHeld))
		}
		if len(b) > 0 {
			read(side, ts, b)
		}
	}
}

// handshake opens a Handshake packet with the key log's handshake traffic
// secrets and reads its CRYPTO frames: the server's EncryptedExtensions to
// Finished, the client's Finished. It reports false when the packet is not
// opened, to be counted and placed by its order.
func (q *quic) handshake(side int, h *longHeader, ts time.Time) bool {
	c := q.c
	if !q.hsTried && c.c.ServerHello != nil {
		q.hsTried = !c.wait // a followed key log is asked again
		if s, ok := c.secrets(); ok {
			q.hsTried = true
			ck, ok1 := quicKeys(h.version, c.c.CipherSuite, s.ClientHandshake)
			sk, ok2 := quicKeys(h.version, c.c.CipherSuite, s.ServerHandshake)
			if ok1 && ok2 {
				q.hsKeys[c.client], q.hsKeys[1-c.client] = ck, sk
			} else {
				c.decryption("unsupported", CipherSuiteName(c.c.CipherSuite)+" packets are not decrypted")
			}
		}
	}
	k := q.hsKeys[side]
	if k == nil {
		return false
	}
	plain, ok := k.open(h)
	if !ok {
		q.hsKeys = [2]*packetKeys{}
		c.decryption("mismatch", "the "+c.role(side).String()+"'s Handshake packets did not authenticate with the key log's secrets")
		return false
	}
	c.decryption("decrypted", "")
	frames, ok := cryptoFrames(plain, false)
	if !ok {
		c.issue(ts, side, IssueMalformedRecord, "a QUIC Handshake packet holds a frame it may not carry")
	}
	q.cryptoData(side, ts, &q.hsCrypto[side], frames, c.openedHandshakeBytes)
	return true
}

// shortPacket counts a 1-RTT packet, and reads its tickets with keys. The
// client's first one after both sides' Handshake packets means its
// Finished was sent: the handshake is done.
func (q *quic) shortPacket(side int, ts time.Time, b []byte) {
	c := q.c
	n := len(b)
	q.oneRTT(side, ts, b)
	from := c.role(side)
	if from == FromClient {
		q.info.ClientPackets[3]++
	} else {
		q.info.ServerPackets[3]++
	}
	if !c.c.Established && from == FromClient && c.sealedSeen(FromClient) && c.sealedSeen(FromServer) {
		c.handshakeDone()
	}
	if c.c.Established {
		c.sealedData(side, ts, n)
	}
}

// waitForKeys reports whether a Handshake or 1-RTT packet is to be held:
// the key log is still being followed and has no secrets for the
// handshake yet.
func (q *quic) waitForKeys() bool {
	c := q.c
	return c.wait && c.c.ServerHello != nil && !q.hsTried && !q.keysCame()
}

// keysCame reports whether the key log now has the handshake's secrets.
func (q *quic) keysCame() bool {
	s, ok := q.c.keys.Lookup(q.c.c.ClientHello.Random)
	return ok && s.ClientHandshake != nil && s.ServerHandshake != nil
}

// release reads what was held, with the secrets if they came, else as
// without them: the wait is over.
func (q *quic) release() {
	held := q.held.take(q.c.mem)
	q.hsTried = q.hsTried || !q.keysCame() // no more waiting
	for _, h := range held {
		if !q.c.emitted {
			q.data(h.side, h.b, h.ts)
		}
	}
}

// openedHandshake is not used: QUIC's packets are opened here, not as
// records.
func (q *quic) openedHandshake(side int, ts time.Time, b []byte) {
	q.c.openedHandshakeBytes(side, ts, b)
}

// notQUIC gives up on a datagram flow that does not start as QUIC.
func (q *quic) notQUIC(side int, ts time.Time) bool {
	q.c.stop(side, ts, ErrNotTLS)
	return false
}

func (q *quic) shed(side int) int {
	n, _ := q.crypto[side].held.Clear()
	m, _ := q.hsCrypto[side].held.Clear()
	o, _ := q.appCrypto[side].held.Clear()
	return n + m + o
}

// oneRTT opens a 1-RTT packet with the key log's traffic secrets, once the
// Handshake packets were opened, and reads the CRYPTO frames in it: the
// server's NewSessionTickets. Its other frames are read over. A packet
// that does not open (a key update, or a packet number past what one byte
// of it says) ends the reading of that side's.
func (q *quic) oneRTT(side int, ts time.Time, b []byte) {
	c := q.c
	if !q.appTried && q.hsKeys[side] != nil {
		q.appTried = true
		if s, ok := c.secrets(); ok {
			ck, ok1 := quicKeys(q.info.Version, c.c.CipherSuite, s.ClientTraffic)
			sk, ok2 := quicKeys(q.info.Version, c.c.CipherSuite, s.ServerTraffic)
			if ok1 && ok2 {
				q.appKeys[c.client], q.appKeys[1-c.client] = ck, sk
			}
		}
	}
	k := q.appKeys[side]
	if k == nil {
		return
	}
	// The destination connection ID is the one the receiver chose.
	dcid := len(q.info.SCID)
	if c.role(side) == FromClient {
		dcid = len(q.info.ServerSCID)
	}
	if len(b) < 1+dcid+20 {
		return
	}
	plain, ok := k.open(&longHeader{packet: b, pnOffset: 1 + dcid, short: true})
	if !ok {
		q.appKeys[side] = nil
		return
	}
	frames, _ := cryptoFrames(plain, true)
	q.cryptoData(side, ts, &q.appCrypto[side], frames, c.openedHandshakeBytes)
}
