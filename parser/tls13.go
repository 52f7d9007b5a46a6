package parser

import "slices"

// TLS 1.3 without keys: after the ServerHello every handshake message
// travels inside application_data records (RFC 8446, section 5.2), so the
// messages are inferred from the sizes, directions and order of the records.
// The rules, and where they cannot decide, are in doc.go.

// ticketMinLen is the smallest record taken for a NewSessionTicket: a
// lifetime, age_add, nonce, a ticket of some dozens of bytes and the
// AEAD's overhead. Smaller records are application data.
const ticketMinLen = 80

// tls13 is the inference state of one TLS 1.3 connection.
type tls13 struct {
	serverRecs  []int // message indexes of the server's flight records
	serverFin   bool  // the server's Finished record was recognised
	clientRecs  []int // the client's encrypted records before its Finished
	tickets     int   // NewSessionTickets inferred
	ticketLen   int   // their length, to recognise a run of them
	dataStarted bool  // the server sent application data
	// The lists' first records are kept here, not allocated: a server's
	// flight is four at most without a client certificate request, the
	// client's before its Finished three.
	serverRoom [4]int
	clientRoom [3]int
}

// tagLen is the AEAD tag size of a TLS 1.3 suite.
func tagLen(suite uint16) int {
	if suite == 0x1305 { // TLS_AES_128_CCM_8_SHA256
		return 8
	}
	return 16
}

// finishedLen is the record length of an encrypted Finished: the message
// header, the verify_data (the suite's hash size), the inner content type
// and the tag.
func finishedLen(suite uint16) int {
	hash := 32
	if suite == 0x1302 { // TLS_AES_256_GCM_SHA384
		hash = 48
	}
	return 4 + hash + 1 + tagLen(suite)
}

// alertLen is the record length of an encrypted alert: two bytes, the inner
// content type and the tag.
func alertLen(suite uint16) int { return 2 + 1 + tagLen(suite) }

// endOfEarlyDataLen is the record length of an encrypted EndOfEarlyData.
func endOfEarlyDataLen(suite uint16) int { return 4 + 1 + tagLen(suite) }

// applicationData13 handles an application_data record of a TLS 1.3
// connection.
func (c *Conn) applicationData13(side int, r Record) {
	cc := c.c
	st := &c.t13
	suite := cc.CipherSuite
	h := &c.sides[side]
	client := &c.sides[c.client]
	fromClient := c.role(side) == FromClient

	switch {
	case cc.ServerHello == nil:
		c.earlyData(side, r.Time, r.Length) // 0-RTT: the client's records before the ServerHello

	case !fromClient && !client.finished:
		if r.Length == alertLen(suite) {
			c.message(r.Time, side, MsgAlert, r.Length, true)
			h.alerted = true
			return
		}
		if len(st.clientRecs) > 0 {
			// The server answers the client's flight, so the client
			// finished: its Finished was padded, or of a size the rules
			// do not know.
			c.closeClientFlight(c.clientFinished())
			c.ticketOrData(side, r)
			return
		}
		if st.serverFin {
			c.ticketOrData(side, r)
			return
		}
		i := c.message(r.Time, side, MsgEncryptedHandshake, r.Length, true)
		if i < 0 {
			return // past maxMessages: nothing left to infer from
		}
		if st.serverRecs == nil {
			st.serverRecs = st.serverRoom[:0]
		}
		st.serverRecs = append(st.serverRecs, i)
		if r.Length == finishedLen(suite) && len(st.serverRecs) >= 2 {
			st.serverFin = true
			c.closeServerFlight()
		}

	case fromClient && !h.finished:
		if r.Length == alertLen(suite) {
			c.message(r.Time, side, MsgAlert, r.Length, true)
			h.alerted = true
			return
		}
		if len(st.serverRecs) == 0 {
			c.message(r.Time, side, MsgApplicationData, r.Length, true)
			return
		}
		if !st.serverFin {
			c.closeServerFlight() // the client answers: the flight is over
			st.serverFin = true
		}
		i := c.message(r.Time, side, MsgEncryptedHandshake, r.Length, true)
		if i < 0 {
			return
		}
		if st.clientRecs == nil {
			st.clientRecs = st.clientRoom[:0]
		}
		st.clientRecs = append(st.clientRecs, i)
		switch {
		case r.Length == finishedLen(suite):
			c.closeClientFlight(len(st.clientRecs) - 1)
		case len(st.clientRecs) == 3:
			c.closeClientFlight(c.clientFinished()) // no record of a Finished's size among the first three
		}

	case !fromClient:
		// After the client's Finished: tickets, then application data.
		c.ticketOrData(side, r)

	default:
		c.message(r.Time, side, MsgApplicationData, r.Length, true)
	}
}

// ticketOrData labels a server record sent after a Finished: the first of at
// least ticketMinLen bytes is a NewSessionTicket, and so is each following
// record of the same length (servers that send two tickets send them alike);
// anything else is application data, after which no ticket is recognised.
func (c *Conn) ticketOrData(side int, r Record) {
	st := &c.t13
	ticket := !st.dataStarted && ((st.tickets == 0 && r.Length >= ticketMinLen) || (st.tickets > 0 && r.Length == st.ticketLen))
	if ticket {
		st.tickets++
		st.ticketLen = r.Length
		c.message(r.Time, side, MsgNewSessionTicket, r.Length, true)
	} else {
		st.dataStarted = true
		c.message(r.Time, side, MsgApplicationData, r.Length, true)
	}
}

// closeServerFlight names the records of the server's encrypted flight.
// Resumed by PSK, it is EncryptedExtensions and Finished; otherwise
// EncryptedExtensions, an optional CertificateRequest, Certificate,
// CertificateVerify and Finished. Records that hold several messages stay
// EncryptedHandshake; the flight summary lists what they must hold.
func (c *Conn) closeServerFlight() {
	st := &c.t13
	cc := c.c
	want := []MessageType{MsgEncryptedExtensions, MsgCertificate, MsgCertificateVerify, MsgFinished}
	if cc.Resumed {
		want = []MessageType{MsgEncryptedExtensions, MsgFinished}
	}
	n := len(st.serverRecs)
	last := cc.Messages[st.serverRecs[n-1]]
	whole := last.Length == finishedLen(cc.CipherSuite) // the Finished has a record of its own
	switch {
	case whole && n == len(want):
	case whole && n == len(want)+1 && !cc.Resumed:
		want = []MessageType{MsgEncryptedExtensions, MsgCertificateRequest, MsgCertificate, MsgCertificateVerify, MsgFinished}
	default:
		cc.ServerFlight = c.flight(&cc.flights[0], st.serverRecs, want)
		return
	}
	for k, i := range st.serverRecs {
		cc.Messages[i].Type = want[k]
	}
	cc.ServerFlight = c.flight(&cc.flights[0], st.serverRecs, want)
}

// clientFinished is the index in clientRecs of the client's Finished when
// no record has a Finished's size: the first record after an
// EndOfEarlyData, or the third when the server asked for a certificate
// (Certificate and CertificateVerify come first), within the records
// there are.
func (c *Conn) clientFinished() int {
	st := &c.t13
	cc := c.c
	fin := 0
	if cc.EarlyData.Records > 0 && len(st.clientRecs) > 1 && cc.Messages[st.clientRecs[0]].Length == endOfEarlyDataLen(cc.CipherSuite) {
		fin = 1
	}
	if cc.ServerFlight != nil && slices.Contains(cc.ServerFlight.Messages, MsgCertificateRequest) {
		fin += 2
	}
	return min(fin, len(st.clientRecs)-1)
}

// closeClientFlight names the client's records up to its Finished, at index
// fin of clientRecs: before it, EndOfEarlyData when 0-RTT data was sent, and
// Certificate and CertificateVerify when the server asked for them.
func (c *Conn) closeClientFlight(fin int) {
	st := &c.t13
	cc := c.c
	recs := st.clientRecs[:fin+1]
	names := make([]MessageType, len(recs))
	names[fin] = MsgFinished
	k := 0
	if cc.EarlyData.Records > 0 && fin > 0 && cc.Messages[recs[0]].Length == endOfEarlyDataLen(cc.CipherSuite) {
		names[0] = MsgEndOfEarlyData
		cc.EarlyData.Accepted = true
		k = 1
	}
	switch fin - k {
	case 0:
	case 1: // an empty Certificate: the client had none to give
		names[k] = MsgCertificate
	case 2:
		names[k], names[k+1] = MsgCertificate, MsgCertificateVerify
	}
	for j, i := range recs { // fin is at most 2: every record is named
		cc.Messages[i].Type = names[j]
	}
	if names[k] == MsgCertificate && cc.ServerFlight != nil && !slices.Contains(cc.ServerFlight.Messages, MsgCertificateRequest) {
		// The client sent a certificate, so the server asked for one.
		m := cc.ServerFlight.Messages
		cc.ServerFlight.Messages = append([]MessageType{m[0], MsgCertificateRequest}, m[1:]...)
	}
	cc.ClientFlight = c.flight(&cc.flights[1], recs, names)
	// Records after the Finished were the client's first application data.
	for _, i := range st.clientRecs[fin+1:] {
		cc.Messages[i].Type = MsgApplicationData
		c.sentData(FromClient, cc.Messages[i].Time)
	}
	c.setFinished(1-c.client, cc.Messages[st.serverRecs[len(st.serverRecs)-1]].Time)
	c.setFinished(c.client, cc.Messages[recs[fin]].Time)
}

// flight sums up recs, named msgs, in f, one of the connection's flights.
func (c *Conn) flight(f *Flight, recs []int, msgs []MessageType) *Flight {
	*f = Flight{Records: len(recs), Messages: msgs}
	for _, i := range recs {
		f.Bytes += c.c.Messages[i].Length
	}
	return f
}
