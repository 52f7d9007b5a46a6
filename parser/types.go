package parser

import "fmt"

// MessageType is what one entry of a connection's sequence is: a handshake
// message, by its IANA HandshakeType (below 0x100), or a record listed whole.
// Its names are generated with the other IANA names (names_gen.go).
type MessageType uint16

// Handshake message types (IANA TLS HandshakeType).
const (
	MsgHelloRequest          MessageType = 0
	MsgClientHello           MessageType = 1
	MsgServerHello           MessageType = 2
	MsgHelloVerifyRequest    MessageType = 3
	MsgNewSessionTicket      MessageType = 4
	MsgEndOfEarlyData        MessageType = 5
	MsgHelloRetryRequest     MessageType = 6 // its own type before TLS 1.3 draft-22; a ServerHello with a special random since
	MsgEncryptedExtensions   MessageType = 8
	MsgCertificate           MessageType = 11
	MsgServerKeyExchange     MessageType = 12
	MsgCertificateRequest    MessageType = 13
	MsgServerHelloDone       MessageType = 14
	MsgCertificateVerify     MessageType = 15
	MsgClientKeyExchange     MessageType = 16
	MsgFinished              MessageType = 20
	MsgCertificateStatus     MessageType = 22
	MsgKeyUpdate             MessageType = 24
	MsgCompressedCertificate MessageType = 25
)

// Records listed whole, 0x100 | their ContentType, and an encrypted
// handshake record whose messages cannot be inferred.
const (
	MsgChangeCipherSpec   MessageType = 0x100 | MessageType(recordChangeCipherSpec)
	MsgAlert              MessageType = 0x100 | MessageType(recordAlert)
	MsgApplicationData    MessageType = 0x100 | MessageType(recordApplicationData)
	MsgHeartbeat          MessageType = 0x100 | MessageType(recordHeartbeat)
	MsgEncryptedHandshake MessageType = 0x200
)

// String names the type as docs/CONTRACT.md spells it; an unknown handshake
// type prints as 0x%02X.
func (t MessageType) String() string {
	if n, ok := messageTypeNames[uint16(t)]; ok {
		return n
	}
	return fmt.Sprintf("0x%02X", uint16(t))
}

// IssueKind says what went wrong in an Issue.
type IssueKind uint8

const (
	IssueGap              IssueKind = iota + 1 // bytes lost from the capture
	IssueMemoryBudget                          // bytes dropped to stay within the memory budget
	IssueMalformedRecord                       // a record, datagram or packet that breaks its format
	IssueMalformedMessage                      // a handshake message that breaks its format
	IssueNotTLS                                // a side of a TLS connection turned to something else
	IssuePreamble                              // bytes before the first record (a proxy or STARTTLS)
	IssueOverlapConflict                       // overlapping TCP segments with different bytes
	IssueUnknownVersion                        // a QUIC version without known Initial keys
	IssueUndecided                             // a field the capture cannot decide; the detail names it
)

var issueKindNames = [...]string{"", "gap", "memory_budget", "malformed_record", "malformed_message", "not_tls",
	"preamble", "overlap_conflict", "unknown_version", "undecided"}

// String names the kind as the JSON writes it.
func (k IssueKind) String() string { return issueKindNames[k] }

// Transport is the transport a connection came over.
type Transport uint8

const (
	TCP Transport = iota + 1
	UDP           // DTLS records or QUIC packets
)

// String names the transport as the JSON writes it.
func (t Transport) String() string { return [...]string{"", "tcp", "udp"}[t] }

// Outcome is how a connection's handshake ended; the zero Outcome is one
// not yet decided.
type Outcome uint8

const (
	OutcomeEstablished   Outcome = iota + 1
	OutcomeAlert                 // an alert ended it
	OutcomeMismatch              // the server refused the ClientHello
	OutcomeClientAborted         // the client quit after the server's flight
	OutcomeReset                 // a TCP reset ended it
	OutcomeNotTLSAfter           // a side stopped sending TLS records
	OutcomeOneSided              // only one side's packets were captured
	OutcomeNoServerHello         // the server did not answer
	OutcomeIncomplete            // the capture ended or went idle before the end
	OutcomeMissingStart          // the capture started after the hellos
)

var outcomeNames = [...]string{"", "established", "alert", "version_or_cipher_mismatch",
	"client_aborted_after_server_flight", "reset", "not_tls_after_start", "one_sided", "no_server_hello", "incomplete", "missing_start"}

// Outcomes lists every outcome, for those who choose among them.
var Outcomes = []Outcome{OutcomeEstablished, OutcomeAlert, OutcomeMismatch, OutcomeClientAborted, OutcomeReset,
	OutcomeNotTLSAfter, OutcomeOneSided, OutcomeNoServerHello, OutcomeIncomplete, OutcomeMissingStart}

// String names the outcome as docs/CONTRACT.md spells it.
func (o Outcome) String() string { return outcomeNames[o] }

// ParseOutcome returns the outcome named s.
func ParseOutcome(s string) (Outcome, bool) {
	for _, o := range Outcomes {
		if o.String() == s {
			return o, true
		}
	}
	return 0, false
}

// Failed reports whether the outcome is a failed handshake: refused,
// alerted, aborted, reset or broken. A capture that ended early, started
// late or holds one side only shows no failure, nor a success.
func (o Outcome) Failed() bool {
	switch o {
	case OutcomeEstablished, OutcomeIncomplete, OutcomeOneSided, OutcomeMissingStart:
		return false
	}
	return true
}
