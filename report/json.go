package report

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tlssniff/tlssniff/parser"
)

// Connection is the NDJSON schema of one connection: the fields of
// docs/CONTRACT.md and more. Keys never change without a schema bump.
type Connection struct {
	Transport          string        `json:"transport"`
	Tunnel             *string       `json:"tunnel"`         // tunnels the packets came through, outermost first: "gre/erspan", "vxlan", "mpls"
	QUIC               *QUIC         `json:"quic,omitempty"` // over UDP: what the QUIC packets showed
	Client             Endpoint      `json:"client"`
	Server             Endpoint      `json:"server"`
	Start              string        `json:"start"`
	SNI                *string       `json:"sni"`
	SNIHex             string        `json:"sni_hex,omitempty"` // the SNI's bytes, when they are not valid UTF-8
	Version            *string       `json:"version"`
	CipherSuite        *string       `json:"cipher_suite"`
	Group              *string       `json:"group"`
	ALPN               *string       `json:"alpn"`
	ALPNHex            string        `json:"alpn_hex,omitempty"` // the ALPN's bytes, when they are not valid UTF-8
	Resumed            bool          `json:"resumed"`
	Established        bool          `json:"established"`
	Outcome            string        `json:"outcome"`
	OutcomeDetail      string        `json:"outcome_detail"`
	Quality            Quality       `json:"capture"`
	Alerts             []Alert       `json:"alerts"`
	ClientHello        *ClientHello  `json:"client_hello"`
	ServerHello        *ServerHello  `json:"server_hello"`
	HelloRetryRequest  *ServerHello  `json:"hello_retry_request"`
	ServerKeyExchange  *KeyExchange  `json:"server_key_exchange"`
	Certificates       []Certificate `json:"certificates"`
	ClientCertificates []Certificate `json:"client_certificates"`
	Validation         *Validation   `json:"validation"`
	ClientValidation   *Validation   `json:"client_validation"`
	SNIMatchesCert     *bool         `json:"sni_matches_cert"`
	ServerFlight       *Flight       `json:"server_flight"`
	ClientFlight       *Flight       `json:"client_flight"`
	EarlyData          EarlyData     `json:"early_data"`
	Messages           []Message     `json:"messages"`
	MessagesDropped    int           `json:"messages_dropped,omitempty"`
	Timing             Timing        `json:"timing"`
	Issues             []Issue       `json:"issues"`
}

// Validation judges a certificate chain at capture time.
type Validation struct {
	Status        string `json:"status"`
	Trusted       bool   `json:"trusted"`
	Expired       bool   `json:"expired"`
	NotYetValid   bool   `json:"not_yet_valid"`
	SelfSigned    bool   `json:"self_signed"`
	WeakKey       bool   `json:"weak_key"`
	WeakSignature bool   `json:"weak_signature"`
	OCSPStatus    string `json:"ocsp_status,omitempty"`
	SCTs          int    `json:"scts"`
}

func validation(v *parser.Validation) *Validation {
	if v == nil {
		return nil
	}
	out := Validation(*v)
	return &out
}

// Flight is one side's TLS 1.3 encrypted flight: its records, their bytes,
// and the messages inferred in them.
type Flight struct {
	Records  int      `json:"records"`
	Bytes    int      `json:"bytes"`
	Messages []string `json:"messages"`
}

// EarlyData is what was seen of 0-RTT data.
type EarlyData struct {
	Offered  bool `json:"offered"`
	Records  int  `json:"records"`
	Accepted bool `json:"accepted"`
}

func flight(f *parser.Flight) *Flight {
	if f == nil {
		return nil
	}
	out := &Flight{Records: f.Records, Bytes: f.Bytes, Messages: make([]string, len(f.Messages))}
	for i, m := range f.Messages {
		out.Messages[i] = m.String()
	}
	return out
}

// QUIC is what a QUIC connection's packets showed; the TLS handshake is in
// the connection's other fields.
type QUIC struct {
	Version            string         `json:"version"` // "1", "2", or the hex of another
	DCID               string         `json:"dcid"`    // the client's first Destination Connection ID, hex
	SCID               string         `json:"scid"`
	ServerSCID         string         `json:"server_scid"`
	Retry              bool           `json:"retry"`
	VersionNegotiation []string       `json:"version_negotiation"`
	ClientPackets      map[string]int `json:"client_packets"` // by type: initial, 0rtt, handshake, 1rtt
	ServerPackets      map[string]int `json:"server_packets"`
}

func quic(q *parser.QUICInfo) *QUIC {
	if q == nil {
		return nil
	}
	packets := func(n [4]int) map[string]int {
		return map[string]int{"initial": n[0], "0rtt": n[1], "handshake": n[2], "1rtt": n[3]}
	}
	out := &QUIC{Version: parser.QUICVersionName(q.Version), DCID: hex.EncodeToString(q.DCID), SCID: hex.EncodeToString(q.SCID),
		ServerSCID: hex.EncodeToString(q.ServerSCID), Retry: q.Retry, VersionNegotiation: []string{},
		ClientPackets: packets(q.ClientPackets), ServerPackets: packets(q.ServerPackets)}
	for _, v := range q.VersionNegotiation {
		out.VersionNegotiation = append(out.VersionNegotiation, parser.QUICVersionName(v))
	}
	return out
}

// Quality says how much of the connection the capture holds.
type Quality struct {
	MissingSYN    bool   `json:"missing_syn"`
	OneSided      bool   `json:"one_sided"`
	Gaps          int    `json:"gaps"`
	GapBytes      int    `json:"gap_bytes"`
	Retransmits   uint64 `json:"retransmitted_segments"`
	OutOfOrder    uint64 `json:"out_of_order_segments"`
	Truncated     uint64 `json:"snaplen_truncated_packets"`
	Overlaps      uint64 `json:"overlapping_segments"`
	Conflicts     uint64 `json:"conflicting_segments"`
	ClientPackets uint64 `json:"client_packets"`
	ServerPackets uint64 `json:"server_packets"`
	// Marks place the first 32 retransmitted and out-of-order segments.
	Marks []Mark `json:"marks"`
}

// Mark is a retransmitted or out-of-order segment.
type Mark struct {
	TS   string `json:"ts"`
	From string `json:"from"`
	Kind string `json:"kind"` // retransmission, out_of_order
}

func quality(q parser.Quality) Quality {
	t := &q.Transport
	out := Quality{MissingSYN: q.MissingSYN, OneSided: q.OneSided, Gaps: q.Gaps, GapBytes: q.GapBytes,
		Retransmits: t.Retransmits, OutOfOrder: t.OutOfOrder, Truncated: t.Truncated, Overlaps: t.Overlaps,
		Conflicts: t.Conflicts, ClientPackets: t.Packets[parser.FromClient], ServerPackets: t.Packets[parser.FromServer],
		Marks: []Mark{}}
	for _, m := range t.Marks {
		kind := "out_of_order"
		if m.Retransmit {
			kind = "retransmission"
		}
		out.Marks = append(out.Marks, Mark{TS: formatTime(m.Time), From: parser.Direction(m.Side).String(), Kind: kind})
	}
	return out
}

// Endpoint is one end of a connection.
type Endpoint struct {
	IP   string `json:"ip"`
	Port uint16 `json:"port"`
}

// Alert is an alert read in the clear.
type Alert struct {
	TS          string `json:"ts"`
	From        string `json:"from"`
	Level       string `json:"level"`
	Description string `json:"description"`
}

// Message is one entry of the reconstructed sequence.
type Message struct {
	TS        string  `json:"ts"`
	From      string  `json:"from"`
	Type      string  `json:"type"`
	Length    int     `json:"length"`
	Encrypted bool    `json:"encrypted"`
	OffsetMS  float64 `json:"offset_ms"` // from the connection's first packet
}

// ClientHello is the first ClientHello, decoded.
type ClientHello struct {
	JA3                 string   `json:"ja3"`
	JA3String           string   `json:"ja3_string"`
	JA4                 string   `json:"ja4"`
	JA4R                string   `json:"ja4_r"`
	Length              int      `json:"length"`
	Segments            int      `json:"tcp_segments"`
	SSLv2               bool     `json:"sslv2,omitempty"`
	Version             string   `json:"version"`
	SessionID           string   `json:"session_id"`
	CipherSuites        []string `json:"cipher_suites"`
	CompressionMethods  []int    `json:"compression_methods"`
	Extensions          []string `json:"extensions"`
	SupportedVersions   []string `json:"supported_versions"`
	SupportedGroups     []string `json:"supported_groups"`
	KeyShares           []string `json:"key_shares"`
	SignatureAlgorithms []string `json:"signature_algorithms"`
	ECPointFormats      []int    `json:"ec_point_formats"`
	ALPN                []string `json:"alpn"`
	PSKModes            []int    `json:"psk_key_exchange_modes"`
	PSKIdentities       int      `json:"psk_identities"`
	EarlyData           bool     `json:"early_data"`
	SessionTicketLength *int     `json:"session_ticket_length"`
	ExtendedMasterSec   bool     `json:"extended_master_secret"`
	RenegotiationInfo   bool     `json:"renegotiation_info"`
	StatusRequest       bool     `json:"status_request"`
	SCT                 bool     `json:"signed_certificate_timestamp"`
	PaddingLength       int      `json:"padding_length"`
	CompressCertificate []int    `json:"compress_certificate"`
	RecordSizeLimit     uint16   `json:"record_size_limit,omitempty"`
	ECH                 *ECH     `json:"ech"`
}

// ECH is an encrypted_client_hello extension. GREASE ECH and real ECH look
// alike on the wire by design; Grease is false only when a
// HelloRetryRequest confirms that the server accepted ECH, null otherwise.
type ECH struct {
	Type          string  `json:"type"`
	OuterSNI      *string `json:"outer_sni"`
	Grease        *bool   `json:"grease"`
	KDF           uint16  `json:"kdf,omitempty"`
	AEAD          uint16  `json:"aead,omitempty"`
	ConfigID      uint8   `json:"config_id"`
	EncLength     int     `json:"enc_length"`
	PayloadLength int     `json:"payload_length"`
}

// ServerHello is a ServerHello or HelloRetryRequest, decoded.
type ServerHello struct {
	JA3S            string   `json:"ja3s"`
	JA3SString      string   `json:"ja3s_string"`
	Length          int      `json:"length"`
	Version         string   `json:"version"`
	SelectedVersion *string  `json:"selected_version"`
	SessionID       string   `json:"session_id"`
	CipherSuite     string   `json:"cipher_suite"`
	Compression     uint8    `json:"compression_method"`
	Extensions      []string `json:"extensions"`
	KeyShare        *string  `json:"key_share"`
	ALPN            *string  `json:"alpn"`
	PSKSelected     bool     `json:"pre_shared_key"`
}

// KeyExchange is what a ServerKeyExchange revealed.
type KeyExchange struct {
	Group  *string `json:"group"`
	DHBits int     `json:"dh_bits,omitempty"`
}

// Certificate is one certificate of a chain.
type Certificate struct {
	SHA256             string   `json:"sha256"`
	Length             int      `json:"length"`
	Subject            string   `json:"subject"`
	Issuer             string   `json:"issuer"`
	SANs               []string `json:"sans"`
	NotBefore          string   `json:"not_before"`
	NotAfter           string   `json:"not_after"`
	KeyType            string   `json:"key_type"`
	KeyBits            int      `json:"key_bits"`
	SignatureAlgorithm string   `json:"signature_algorithm"`
	Serial             string   `json:"serial"`
	ParseError         string   `json:"parse_error,omitempty"`
}

// Timing holds durations in milliseconds; null when a step was not seen.
type Timing struct {
	HandshakeMS    *float64 `json:"handshake_ms"`
	SYNToSYNACKMS  *float64 `json:"syn_to_synack_ms"`
	SYNACKToACKMS  *float64 `json:"synack_to_ack_ms"`
	TCPRoundTripMS *float64 `json:"tcp_rtt_ms"`
	// CaptureNear is "client" or "server" when one leg of the TCP
	// handshake is much shorter than the other, else null.
	CaptureNear                *string  `json:"capture_near"`
	SYNToClientHelloMS         *float64 `json:"syn_to_client_hello_ms"`
	ServerFlightMS             *float64 `json:"server_flight_ms"`
	HelloRetryMS               *float64 `json:"hello_retry_ms"`
	ClientHelloToServerHelloMS *float64 `json:"client_hello_to_server_hello_ms"`
	// From the connection's first packet to each side's first application
	// data.
	ClientFirstDataMS *float64 `json:"client_first_data_ms"`
	ServerFirstDataMS *float64 `json:"server_first_data_ms"`
}

// Issue is a problem met on the connection.
type Issue struct {
	TS     string `json:"ts"`
	From   string `json:"from"`
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
}

// JSON writes one JSON object per connection and line, as soon as it is
// written, so that output streams. Wire strings are escaped as JSON
// requires (control characters as \u00XX); bidirectional formatting
// characters, which JSON lets through, are escaped too so that a line
// printed on a terminal shows what was sent in its order. Invalid UTF-8
// becomes U+FFFD, and the bytes are kept beside the string in hex.
type JSON struct {
	w   io.Writer
	buf bytes.Buffer
	enc *json.Encoder
}

// NewJSON returns an NDJSON sink writing to w.
func NewJSON(w io.Writer) *JSON {
	j := &JSON{w: w}
	j.enc = json.NewEncoder(&j.buf)
	return j
}

// Write implements Sink.
func (j *JSON) Write(c *parser.Connection) error {
	j.buf.Reset()
	if err := j.enc.Encode(NewConnection(c)); err != nil {
		return err
	}
	_, err := j.w.Write(escapeBidi(j.buf.Bytes()))
	return err
}

// escapeBidi replaces the bidirectional formatting characters in encoded
// JSON with their \u escapes, which decode to the same string.
func escapeBidi(b []byte) []byte {
	// Each of them is encoded in UTF-8 from 0xD8 (U+061C) or 0xE2: look
	// for those bytes first, as bytes.ContainsAny with runes outside
	// ASCII took 3.6% of a run over bulk traffic.
	if bytes.IndexByte(b, 0xe2) < 0 && bytes.IndexByte(b, 0xd8) < 0 {
		return b
	}
	var out bytes.Buffer
	for _, r := range string(b) {
		if strings.ContainsRune(bidiControls, r) {
			fmt.Fprintf(&out, `\u%04x`, r)
		} else {
			out.WriteRune(r)
		}
	}
	return out.Bytes()
}

// hexIfInvalid is s in hex when s is not valid UTF-8, else "".
func hexIfInvalid(s string) string {
	if utf8.ValidString(s) {
		return ""
	}
	return hex.EncodeToString([]byte(s))
}

// Close implements Sink.
func (j *JSON) Close() error { return nil }

func ptr[T any](v T) *T { return &v }

// NewConnection converts a parsed connection into the JSON schema.
func NewConnection(c *parser.Connection) *Connection {
	out := &Connection{
		Transport:          c.Transport.String(),
		Tunnel:             nonEmpty(c.Tunnel),
		QUIC:               quic(c.QUIC),
		Client:             Endpoint{c.Client.Addr().String(), c.Client.Port()},
		Server:             Endpoint{c.Server.Addr().String(), c.Server.Port()},
		Start:              formatTime(c.Start),
		Resumed:            c.Resumed,
		Established:        c.Established,
		Outcome:            c.Outcome.String(),
		OutcomeDetail:      c.OutcomeDetail,
		Quality:            quality(c.Quality),
		Alerts:             []Alert{},
		Messages:           []Message{},
		Issues:             []Issue{},
		MessagesDropped:    c.MessagesDropped,
		Certificates:       certificates(c.Certificates),
		Validation:         validation(c.Validation),
		ServerFlight:       flight(c.ServerFlight),
		ClientFlight:       flight(c.ClientFlight),
		EarlyData:          EarlyData(c.EarlyData),
		ClientValidation:   validation(c.ClientValidation),
		ClientCertificates: certificates(c.ClientCertificates),
	}
	if sni, ok := c.SNI(); ok {
		out.SNI, out.SNIHex = &sni, hexIfInvalid(sni)
	}
	if c.ServerHello != nil {
		out.Version = ptr(parser.VersionName(c.Version))
		out.CipherSuite = ptr(parser.CipherSuiteName(c.CipherSuite))
		out.ServerHello = serverHello(c.ServerHello)
	}
	if c.HasGroup {
		out.Group = ptr(parser.GroupName(c.Group))
	}
	if alpn, ok := c.ALPN(); ok {
		out.ALPN, out.ALPNHex = &alpn, hexIfInvalid(alpn)
	}
	if c.HelloRetryRequest != nil {
		out.HelloRetryRequest = serverHello(c.HelloRetryRequest)
	}
	if m, ok := c.SNIMatchesCert(); ok {
		out.SNIMatchesCert = &m
	}
	if ch := c.ClientHello; ch != nil {
		out.ClientHello = clientHello(ch)
		if e := out.ClientHello.ECH; e != nil {
			e.OuterSNI, e.Grease = out.SNI, c.ECHGrease()
		}
	}
	if ske := c.ServerKeyExchange; ske != nil {
		out.ServerKeyExchange = &KeyExchange{DHBits: ske.DHBits}
		if ske.HasGroup {
			out.ServerKeyExchange.Group = ptr(parser.GroupName(ske.Group))
		}
	}
	for _, a := range c.Alerts {
		out.Alerts = append(out.Alerts, Alert{formatTime(a.Time), a.From.String(),
			parser.AlertLevelName(a.Level), parser.AlertName(a.Description)})
	}
	for _, m := range c.Messages {
		out.Messages = append(out.Messages, Message{formatTime(m.Time), m.From.String(), m.Type.String(), m.Length, m.Encrypted, ms(m.Time.Sub(c.Start))})
	}
	for _, i := range c.Issues {
		out.Issues = append(out.Issues, Issue{formatTime(i.Time), i.From.String(), i.Kind.String(), i.Detail})
	}
	out.Timing = timing(c)
	return out
}

// timing converts the connection's durations to milliseconds.
func timing(c *parser.Connection) Timing {
	return Timing{
		HandshakeMS:                msp(c.Timing.Handshake),
		SYNToSYNACKMS:              msp(c.Timing.SYNToSYNACK),
		SYNACKToACKMS:              msp(c.Timing.SYNACKToACK),
		TCPRoundTripMS:             msp(c.Timing.TCPRoundTrip),
		CaptureNear:                nonEmpty(c.Timing.CaptureNear),
		SYNToClientHelloMS:         msp(c.Timing.SYNToClientHello),
		ServerFlightMS:             msp(c.Timing.ServerFlight),
		HelloRetryMS:               msp(c.Timing.HelloRetry),
		ClientHelloToServerHelloMS: msp(c.Timing.ClientHelloToServerHello),
		ClientFirstDataMS:          msp(c.Timing.ClientFirstData),
		ServerFirstDataMS:          msp(c.Timing.ServerFirstData),
	}
}

// nonEmpty is s, or nil when it is empty.
func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// msp renders a duration in milliseconds, nil when the step was not seen.
func msp(d *time.Duration) *float64 {
	if d == nil {
		return nil
	}
	return ptr(ms(*d))
}

func names(vs []uint16, name func(uint16) string) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = name(v)
	}
	return out
}

// ints renders small code points as JSON numbers; lists are never null, an
// absent extension gives an empty list.
func ints[T uint8 | uint16](vs []T) []int {
	out := make([]int, len(vs))
	for i, v := range vs {
		out[i] = int(v)
	}
	return out
}

func clientHello(ch *parser.ClientHello) *ClientHello {
	out := &ClientHello{
		JA3: ch.JA3, JA3String: ch.JA3String, JA4: ch.JA4, JA4R: ch.JA4R,
		Length: ch.Length, Segments: ch.Segments, SSLv2: ch.SSLv2,
		Version:             parser.VersionName(ch.Version),
		SessionID:           hex.EncodeToString(ch.SessionID),
		CipherSuites:        names(ch.CipherSuites, parser.CipherSuiteName),
		CompressionMethods:  ints(ch.CompressionMethods),
		Extensions:          names(ch.Extensions, parser.ExtensionName),
		SupportedVersions:   names(ch.SupportedVersions, parser.VersionName),
		SupportedGroups:     names(ch.SupportedGroups, parser.GroupName),
		KeyShares:           names(ch.KeyShares, parser.GroupName),
		SignatureAlgorithms: names(ch.SignatureAlgorithms, parser.SignatureSchemeName),
		ECPointFormats:      ints(ch.ECPointFormats),
		ALPN:                append([]string{}, ch.ALPN...),
		PSKModes:            ints(ch.PSKModes),
		PSKIdentities:       ch.PSKIdentities,
		EarlyData:           ch.EarlyData,
		ExtendedMasterSec:   ch.ExtendedMasterSec,
		RenegotiationInfo:   ch.RenegotiationInfo,
		StatusRequest:       ch.StatusRequest,
		SCT:                 ch.SCT,
		PaddingLength:       ch.PaddingLen,
		CompressCertificate: ints(ch.CompressCertificate),
		RecordSizeLimit:     ch.RecordSizeLimit,
	}
	if ch.HasSessionTicket {
		out.SessionTicketLength = &ch.SessionTicketLen
	}
	if e := ch.ECH; e != nil {
		out.ECH = &ECH{Type: "inner", KDF: e.KDF, AEAD: e.AEAD, ConfigID: e.ConfigID, EncLength: e.EncLen, PayloadLength: e.PayloadLen}
		if e.Outer {
			out.ECH.Type = "outer"
		}
	}
	return out
}

func serverHello(sh *parser.ServerHello) *ServerHello {
	out := &ServerHello{
		JA3S: sh.JA3S, JA3SString: sh.JA3SString, Length: sh.Length,
		Version:     parser.VersionName(sh.Version),
		SessionID:   hex.EncodeToString(sh.SessionID),
		CipherSuite: parser.CipherSuiteName(sh.CipherSuite),
		Compression: sh.Compression,
		Extensions:  names(sh.Extensions, parser.ExtensionName),
		PSKSelected: sh.PSKSelected,
	}
	if sh.SupportedVersion != 0 {
		out.SelectedVersion = ptr(parser.VersionName(sh.SupportedVersion))
	}
	if sh.HasKeyShare {
		out.KeyShare = ptr(parser.GroupName(sh.KeyShare))
	}
	if sh.HasALPN {
		out.ALPN = &sh.ALPN
	}
	return out
}

func certificates(chain []parser.Certificate) []Certificate {
	out := make([]Certificate, 0, len(chain))
	for _, c := range chain {
		jc := Certificate{SHA256: c.SHA256, Length: c.Length, Subject: c.Subject, Issuer: c.Issuer,
			SANs: c.SANs, KeyType: c.KeyType, KeyBits: c.KeyBits, SignatureAlgorithm: c.SignatureAlgorithm,
			Serial: c.Serial, ParseError: c.ParseError}
		if jc.SANs == nil {
			jc.SANs = []string{}
		}
		if c.ParseError == "" {
			jc.NotBefore, jc.NotAfter = formatTime(c.NotBefore), formatTime(c.NotAfter)
		}
		out = append(out, jc)
	}
	return out
}
