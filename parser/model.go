package parser

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/tlssniff/tlssniff/flowstats"
)

// The connection model: what a Conn reconstructs and emits, once.

// Direction says who sent something.
type Direction uint8

const (
	FromClient Direction = iota
	FromServer
)

func (d Direction) String() string {
	if d == FromClient {
		return "client"
	}
	return "server"
}

// Message is one TLS message in the reconstructed sequence.
type Message struct {
	Time      time.Time
	From      Direction
	Type      MessageType
	Length    int  // handshake body length, or record length when encrypted
	Encrypted bool // inferred from encrypted records rather than read
	Decrypted bool // read from a record opened with keys
}

// Alert is an alert read in the clear. A connection keeps maxMessages of
// them.
type Alert struct {
	Time        time.Time
	From        Direction
	Level       uint8
	Description uint8
	Decrypted   bool // read from a record opened with keys
	msg         int  // index of its message
}

// Issue is a problem met while reading a connection: lost bytes, a malformed
// record or message. Malformed traffic is output, not failure.
type Issue struct {
	Time   time.Time
	From   Direction
	Kind   IssueKind
	Detail string
}

// Flight summarises one side's encrypted handshake flight.
type Flight struct {
	Records  int
	Bytes    int
	Messages []MessageType // the messages it held, inferred
}

// EarlyData is what was seen of 0-RTT data (RFC 8446, section 4.2.10).
type EarlyData struct {
	Offered  bool // the ClientHello carried early_data
	Records  int  // application_data records (QUIC: 0-RTT packets) sent before the ServerHello
	Accepted bool // an EndOfEarlyData was inferred from the client
}

// Quality says how much of the connection the capture holds.
type Quality struct {
	MissingSYN bool // picked up without the TCP handshake
	// MissingStart: the capture holds no ClientHello, only what followed
	// (records picked up mid-stream, read from the first whole one).
	MissingStart bool
	OneSided     bool // only one direction was captured
	Gaps         int  // holes in the byte streams, read as lost
	GapBytes     int
	// Transport is what the layer below saw of the packets, by role: its
	// side 0 is the client.
	Transport flowstats.Stats
}

// Connection is everything read about one TLS connection.
type Connection struct {
	Transport      Transport
	Tunnel         string // tunnels the connection came through ("gre/erspan"), outermost first
	Client, Server netip.AddrPort
	Start          time.Time
	// Flipped says the client (the ClientHello's sender) is not the side
	// that sent the flow's first packet: a DTLS session after STUN, or a
	// capture that began with the server's packets.
	Flipped bool

	ClientHello        *ClientHello // the first ClientHello
	RetryClientHello   *ClientHello // the ClientHello that answered a HelloRetryRequest or a DTLS HelloVerifyRequest
	ServerHello        *ServerHello // the ServerHello (not a HelloRetryRequest)
	HelloRetryRequest  *ServerHello
	ServerKeyExchange  *ServerKeyExchange
	CertificateRequest *CertificateRequest
	CertificateStatus  *CertificateStatus
	SessionTickets     []NewSessionTicket
	Certificates       []Certificate // server chain as sent
	ClientCertificates []Certificate
	// Validation and ClientValidation judge the chains at capture time,
	// when a Validator was given.
	Validation       *Validation
	ClientValidation *Validation

	// QUIC is what was seen of a QUIC connection's packets; nil otherwise.
	QUIC *QUICInfo
	// EncryptedExtensions is the server's, when its records were opened.
	EncryptedExtensions *EncryptedExtensions
	// Decryption says whether key log secrets opened the handshake.
	Decryption Decryption

	// ServerFlight and ClientFlight summarise the encrypted flights of a
	// TLS 1.3 handshake, inferred from their records.
	ServerFlight *Flight
	ClientFlight *Flight
	EarlyData    EarlyData
	// Renegotiations are the handshakes read inside the established
	// session (renegotiation.go).
	Renegotiations []Renegotiation

	Version     uint16 // negotiated; 0 if no ServerHello was seen
	CipherSuite uint16
	Group       uint16
	HasGroup    bool
	Resumed     bool
	Established bool
	// Outcome is decided when the connection is emitted; OutcomeDetail
	// says who did what, after which message.
	Outcome       Outcome
	OutcomeDetail string
	Quality       Quality
	Alerts        []Alert
	Messages      []Message
	Issues        []Issue
	// MessagesDropped counts messages beyond maxMessages.
	MessagesDropped int
	// History holds the findings that take the connections before this
	// one (Sessions); Diagnosis lists them last.
	History []Finding

	// Timing is derived from the landmarks below and the TCP handshake's
	// (Quality.Transport) when the connection is emitted.
	Timing Timing

	// Times of the handshake's landmarks; zero when not seen.
	ClientHelloTime       time.Time
	SecondClientHelloTime time.Time // the answer to a HelloRetryRequest
	ServerHelloTime       time.Time
	ClientFinishedTime    time.Time
	ServerFinishedTime    time.Time
	// The first application data record of each side (0-RTT data counts).
	ClientDataTime, ServerDataTime time.Time

	// Where Timing's durations and the two flights are kept, so that they
	// cost the connection no allocation of their own.
	durations [10]time.Duration
	flights   [2]Flight // the server's, the client's
}

// CompareStart orders connections by start, then client, then server: the
// order tlssniff writes them in when nothing else tells them apart.
func CompareStart(a, b *Connection) int {
	return cmp.Or(a.Start.Compare(b.Start), a.Client.Compare(b.Client), a.Server.Compare(b.Server))
}

// SNI returns the server_name of the first ClientHello.
func (c *Connection) SNI() (string, bool) {
	if c.ClientHello == nil || !c.ClientHello.HasServerName {
		return "", false
	}
	return c.ClientHello.ServerName, true
}

// ALPN returns the protocol the server selected.
func (c *Connection) ALPN() (string, bool) {
	switch {
	case c.ServerHello != nil && c.ServerHello.HasALPN:
		return c.ServerHello.ALPN, true
	case c.EncryptedExtensions != nil && c.EncryptedExtensions.HasALPN: // TLS 1.3, read with keys
		return c.EncryptedExtensions.ALPN, true
	}
	return "", false
}

// SNIMatchesCert reports whether the leaf certificate covers the SNI; ok is
// false when there is no SNI or no parsable leaf certificate.
func (c *Connection) SNIMatchesCert() (match, ok bool) {
	sni, has := c.SNI()
	if !has || len(c.Certificates) == 0 || c.Certificates[0].x509 == nil {
		return false, false
	}
	return c.Certificates[0].coversName(sni), true
}

// Protocol names what carried the handshake: "tls" over TCP, "quic", or
// "dtls" over UDP.
func (c *Connection) Protocol() string {
	switch {
	case c.QUIC != nil:
		return "quic"
	case c.Transport == UDP:
		return "dtls"
	}
	return "tls"
}

// TLS13 reports whether TLS 1.3 (or one of its drafts) was negotiated.
func (c *Connection) TLS13() bool { return isTLS13(c.Version) }

// isTLS13 includes the RFC 8446 drafts (0x7fXX) and Google's experiment
// variants of them (0x7eXX, Chrome 62–64), which encrypt the same way.
func isTLS13(v uint16) bool {
	return v == 0x0304 || v>>8 == 0x7f || v>>8 == 0x7e
}

// ECHGrease says whether the ClientHello's encrypted_client_hello was
// GREASE: false when a HelloRetryRequest confirms that the server accepted
// ECH, nil (undecidable) otherwise, since GREASE and real ECH look alike on
// the wire by design.
func (c *Connection) ECHGrease() *bool {
	if c.HelloRetryRequest != nil && c.HelloRetryRequest.ECHConfirmed {
		grease := false
		return &grease
	}
	return nil
}

// HelloAt returns the decoded ClientHello that message i carries: a
// renegotiation's its own, else the second ClientHello of the sequence is
// the retry, the others the first.
func (c *Connection) HelloAt(i int) *ClientHello {
	for _, r := range c.Renegotiations {
		if r.clientHello != nil && r.helloMsg == i {
			return r.clientHello
		}
	}
	n := 0
	for _, m := range c.Messages[:i+1] {
		if m.Type == MsgClientHello {
			n++
		}
	}
	if n == 2 {
		return c.RetryClientHello
	}
	return c.ClientHello
}

// AlertAt returns the alert read in the clear that message i carries, or
// nil (an encrypted alert, or not an alert).
func (c *Connection) AlertAt(i int) *Alert {
	// Alerts are in message order; those past maxMessages (msg -1) last.
	k, found := slices.BinarySearchFunc(c.Alerts, i, func(a Alert, i int) int {
		if a.msg < 0 {
			return 1
		}
		return cmp.Compare(a.msg, i)
	})
	if !found {
		return nil
	}
	return &c.Alerts[k]
}

// DecisiveAlert is the alert an OutcomeAlert names when it was read in the
// clear: the first such alert. It is nil for other outcomes and for an
// outcome decided by an encrypted alert.
func (c *Connection) DecisiveAlert() *Alert {
	if c.Outcome != OutcomeAlert || len(c.Alerts) == 0 {
		return nil
	}
	return &c.Alerts[0]
}
