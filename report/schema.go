package report

import "time"

// The NDJSON schema: one Connection per line, the report's own structs,
// never the parser's types. arena.connection (json.go) fills it.

// Connection is the NDJSON schema of one connection: the fields of
// docs/CONTRACT.md and more. Keys never change without a schema bump.
type Connection struct {
	Transport          string        `json:"transport"`
	Tunnel             *string       `json:"tunnel"`         // tunnels the packets came through, outermost first: "gre/erspan", "vxlan", "mpls"
	QUIC               *QUIC         `json:"quic,omitempty"` // over UDP: what the QUIC packets showed
	Client             Endpoint      `json:"client"`
	Server             Endpoint      `json:"server"`
	Start              Timestamp     `json:"start"`
	TS                 EpochTime     `json:"ts"`           // start as Zeek writes it
	UID                string        `json:"uid"`          // stable id of the connection
	CommunityID        string        `json:"community_id"` // Community ID v1, seed 0
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
	Reason             string        `json:"reason,omitempty"` // why a failed handshake failed, in plain words
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
	Diagnosis          []Finding     `json:"diagnosis"` // where the handshake's time went
	Issues             []Issue       `json:"issues"`
	Decryption         Decryption    `json:"decryption"`
	// Renegotiations are the handshakes read inside the established
	// session, with keys.
	Renegotiations []Renegotiation `json:"renegotiations,omitempty"`
}

// Renegotiation is a TLS 1.0-1.2 handshake inside the established session:
// who started it, what its ServerHello chose, and how it ended.
type Renegotiation struct {
	TS          Timestamp `json:"ts"`
	By          string    `json:"by"`
	Version     *string   `json:"version"`
	CipherSuite *string   `json:"cipher_suite"`
	Resumed     bool      `json:"resumed"`
	Established bool      `json:"established"`
	Refused     bool      `json:"refused"`
}

// Timestamp is a time written in UTC with nanoseconds, fixed width
// (timeFormat), so that lines sort and align.
type Timestamp time.Time

func (t Timestamp) String() string { return string(t.appendText(nil)) }

func (t Timestamp) appendText(b []byte) []byte { return appendTime(b, time.Time(t)) }

// MarshalText implements encoding.TextMarshaler.
func (t Timestamp) MarshalText() ([]byte, error) { return t.appendText(nil), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (t *Timestamp) UnmarshalText(b []byte) error {
	v, err := time.Parse(time.RFC3339Nano, string(b))
	*t = Timestamp(v)
	return err
}

// Decryption says whether key log secrets decrypted the handshake, and why
// not: keys is "decrypted", "none", "mismatch" or "unsupported".
type Decryption struct {
	Keys   string `json:"keys"`
	Detail string `json:"detail"`
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

// Quality says how much of the connection the capture holds.
type Quality struct {
	MissingSYN    bool   `json:"missing_syn"`
	MissingStart  bool   `json:"missing_start"`
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
	TS   Timestamp `json:"ts"`
	From string    `json:"from"`
	Kind string    `json:"kind"` // retransmission, out_of_order
}

// Endpoint is one end of a connection.
type Endpoint struct {
	IP   string `json:"ip"`
	Port uint16 `json:"port"`
}

// Alert is an alert read in the clear.
type Alert struct {
	TS          Timestamp `json:"ts"`
	From        string    `json:"from"`
	Level       string    `json:"level"`
	Description string    `json:"description"`
	Decrypted   bool      `json:"decrypted,omitempty"` // read from a record opened with keys
}

// Message is one entry of the reconstructed sequence.
type Message struct {
	TS        Timestamp `json:"ts"`
	From      string    `json:"from"`
	Type      string    `json:"type"`
	Length    int       `json:"length"`
	Encrypted bool      `json:"encrypted"`
	Decrypted bool      `json:"decrypted,omitempty"` // read from a record opened with keys
	OffsetMS  float64   `json:"offset_ms"`           // from the connection's first packet
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

// Finding is one answer to where a handshake's time went: its kind, the
// time it cost when measurable, and a sentence.
type Finding struct {
	Kind   string   `json:"kind"`
	CostMS *float64 `json:"cost_ms"`
	Text   string   `json:"text"`
}

// Issue is a problem met on the connection.
type Issue struct {
	TS     Timestamp `json:"ts"`
	From   string    `json:"from"`
	Kind   string    `json:"kind"`
	Detail string    `json:"detail"`
}
