package report

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The NDJSON encoder: each schema type appends itself to a byte slice, the
// same bytes encoding/json writes for it (keys in field order, HTML
// characters, U+2028 and U+2029 escaped, invalid UTF-8 as U+FFFD, floats
// as it formats them), and the bidirectional formatting characters
// escaped too. Written by hand, without reflection, as encoding/json took a
// fifth of a run over dense traffic; TestEncoderMatchesEncodingJSON holds
// it to encoding/json on random values of every field.

// appendJSON appends c as one JSON object.
func (c *Connection) appendJSON(b []byte) []byte {
	b = key(b, '{', "transport")
	b = appendString(b, c.Transport)
	b = key(b, ',', "tunnel")
	b = appendStringPtr(b, c.Tunnel)
	if c.QUIC != nil {
		b = key(b, ',', "quic")
		b = c.QUIC.appendJSON(b)
	}
	b = key(b, ',', "client")
	b = c.Client.appendJSON(b)
	b = key(b, ',', "server")
	b = c.Server.appendJSON(b)
	b = key(b, ',', "start")
	b = appendTimestamp(b, c.Start)
	b = key(b, ',', "ts")
	b = c.TS.appendJSON(b)
	b = key(b, ',', "uid")
	b = appendString(b, c.UID)
	b = key(b, ',', "community_id")
	b = appendString(b, c.CommunityID)
	b = key(b, ',', "sni")
	b = appendStringPtr(b, c.SNI)
	if c.SNIHex != "" {
		b = key(b, ',', "sni_hex")
		b = appendString(b, c.SNIHex)
	}
	b = key(b, ',', "version")
	b = appendStringPtr(b, c.Version)
	b = key(b, ',', "cipher_suite")
	b = appendStringPtr(b, c.CipherSuite)
	b = key(b, ',', "group")
	b = appendStringPtr(b, c.Group)
	b = key(b, ',', "alpn")
	b = appendStringPtr(b, c.ALPN)
	if c.ALPNHex != "" {
		b = key(b, ',', "alpn_hex")
		b = appendString(b, c.ALPNHex)
	}
	b = key(b, ',', "resumed")
	b = strconv.AppendBool(b, c.Resumed)
	b = key(b, ',', "established")
	b = strconv.AppendBool(b, c.Established)
	b = key(b, ',', "outcome")
	b = appendString(b, c.Outcome)
	b = key(b, ',', "outcome_detail")
	b = appendString(b, c.OutcomeDetail)
	if c.Reason != "" {
		b = key(b, ',', "reason")
		b = appendString(b, c.Reason)
	}
	b = key(b, ',', "capture")
	b = c.Quality.appendJSON(b)
	b = key(b, ',', "alerts")
	b = appendList(b, c.Alerts, (*Alert).appendJSON)
	b = key(b, ',', "client_hello")
	b = appendPtr(b, c.ClientHello, (*ClientHello).appendJSON)
	b = key(b, ',', "server_hello")
	b = appendPtr(b, c.ServerHello, (*ServerHello).appendJSON)
	b = key(b, ',', "hello_retry_request")
	b = appendPtr(b, c.HelloRetryRequest, (*ServerHello).appendJSON)
	b = key(b, ',', "server_key_exchange")
	b = appendPtr(b, c.ServerKeyExchange, (*KeyExchange).appendJSON)
	b = key(b, ',', "certificates")
	b = appendList(b, c.Certificates, (*Certificate).appendJSON)
	b = key(b, ',', "client_certificates")
	b = appendList(b, c.ClientCertificates, (*Certificate).appendJSON)
	b = key(b, ',', "validation")
	b = appendPtr(b, c.Validation, (*Validation).appendJSON)
	b = key(b, ',', "client_validation")
	b = appendPtr(b, c.ClientValidation, (*Validation).appendJSON)
	b = key(b, ',', "sni_matches_cert")
	if c.SNIMatchesCert == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendBool(b, *c.SNIMatchesCert)
	}
	b = key(b, ',', "server_flight")
	b = appendPtr(b, c.ServerFlight, (*Flight).appendJSON)
	b = key(b, ',', "client_flight")
	b = appendPtr(b, c.ClientFlight, (*Flight).appendJSON)
	b = key(b, ',', "early_data")
	b = c.EarlyData.appendJSON(b)
	b = key(b, ',', "messages")
	b = appendList(b, c.Messages, (*Message).appendJSON)
	if c.MessagesDropped != 0 {
		b = key(b, ',', "messages_dropped")
		b = strconv.AppendInt(b, int64(c.MessagesDropped), 10)
	}
	b = key(b, ',', "timing")
	b = c.Timing.appendJSON(b)
	b = key(b, ',', "diagnosis")
	b = appendList(b, c.Diagnosis, (*Finding).appendJSON)
	b = key(b, ',', "issues")
	b = appendList(b, c.Issues, (*Issue).appendJSON)
	b = key(b, ',', "decryption")
	b = key(b, '{', "keys")
	b = appendString(b, c.Decryption.Keys)
	b = key(b, ',', "detail")
	b = appendString(b, c.Decryption.Detail)
	b = append(b, '}')
	if len(c.Renegotiations) > 0 {
		b = key(b, ',', "renegotiations")
		b = appendList(b, c.Renegotiations, (*Renegotiation).appendJSON)
	}
	return append(b, '}')
}

func (r *Renegotiation) appendJSON(b []byte) []byte {
	b = key(b, '{', "ts")
	b = appendTimestamp(b, r.TS)
	b = key(b, ',', "by")
	b = appendString(b, r.By)
	b = key(b, ',', "version")
	b = appendStringPtr(b, r.Version)
	b = key(b, ',', "cipher_suite")
	b = appendStringPtr(b, r.CipherSuite)
	b = key(b, ',', "resumed")
	b = strconv.AppendBool(b, r.Resumed)
	b = key(b, ',', "established")
	b = strconv.AppendBool(b, r.Established)
	b = key(b, ',', "refused")
	b = strconv.AppendBool(b, r.Refused)
	return append(b, '}')
}

func (v *Validation) appendJSON(b []byte) []byte {
	b = key(b, '{', "status")
	b = appendString(b, v.Status)
	b = key(b, ',', "trusted")
	b = strconv.AppendBool(b, v.Trusted)
	b = key(b, ',', "expired")
	b = strconv.AppendBool(b, v.Expired)
	b = key(b, ',', "not_yet_valid")
	b = strconv.AppendBool(b, v.NotYetValid)
	b = key(b, ',', "self_signed")
	b = strconv.AppendBool(b, v.SelfSigned)
	b = key(b, ',', "weak_key")
	b = strconv.AppendBool(b, v.WeakKey)
	b = key(b, ',', "weak_signature")
	b = strconv.AppendBool(b, v.WeakSignature)
	if v.OCSPStatus != "" {
		b = key(b, ',', "ocsp_status")
		b = appendString(b, v.OCSPStatus)
	}
	b = key(b, ',', "scts")
	b = strconv.AppendInt(b, int64(v.SCTs), 10)
	return append(b, '}')
}

func (f *Flight) appendJSON(b []byte) []byte {
	b = key(b, '{', "records")
	b = strconv.AppendInt(b, int64(f.Records), 10)
	b = key(b, ',', "bytes")
	b = strconv.AppendInt(b, int64(f.Bytes), 10)
	b = key(b, ',', "messages")
	b = appendStrings(b, f.Messages)
	return append(b, '}')
}

func (e *EarlyData) appendJSON(b []byte) []byte {
	b = key(b, '{', "offered")
	b = strconv.AppendBool(b, e.Offered)
	b = key(b, ',', "records")
	b = strconv.AppendInt(b, int64(e.Records), 10)
	b = key(b, ',', "accepted")
	b = strconv.AppendBool(b, e.Accepted)
	return append(b, '}')
}

func (q *QUIC) appendJSON(b []byte) []byte {
	b = key(b, '{', "version")
	b = appendString(b, q.Version)
	b = key(b, ',', "dcid")
	b = appendString(b, q.DCID)
	b = key(b, ',', "scid")
	b = appendString(b, q.SCID)
	b = key(b, ',', "server_scid")
	b = appendString(b, q.ServerSCID)
	b = key(b, ',', "retry")
	b = strconv.AppendBool(b, q.Retry)
	b = key(b, ',', "version_negotiation")
	b = appendStrings(b, q.VersionNegotiation)
	b = key(b, ',', "client_packets")
	b = appendCounts(b, q.ClientPackets)
	b = key(b, ',', "server_packets")
	b = appendCounts(b, q.ServerPackets)
	return append(b, '}')
}

func (q *Quality) appendJSON(b []byte) []byte {
	b = key(b, '{', "missing_syn")
	b = strconv.AppendBool(b, q.MissingSYN)
	b = key(b, ',', "missing_start")
	b = strconv.AppendBool(b, q.MissingStart)
	b = key(b, ',', "one_sided")
	b = strconv.AppendBool(b, q.OneSided)
	b = key(b, ',', "gaps")
	b = strconv.AppendInt(b, int64(q.Gaps), 10)
	b = key(b, ',', "gap_bytes")
	b = strconv.AppendInt(b, int64(q.GapBytes), 10)
	b = key(b, ',', "retransmitted_segments")
	b = strconv.AppendUint(b, q.Retransmits, 10)
	b = key(b, ',', "out_of_order_segments")
	b = strconv.AppendUint(b, q.OutOfOrder, 10)
	b = key(b, ',', "snaplen_truncated_packets")
	b = strconv.AppendUint(b, q.Truncated, 10)
	b = key(b, ',', "overlapping_segments")
	b = strconv.AppendUint(b, q.Overlaps, 10)
	b = key(b, ',', "conflicting_segments")
	b = strconv.AppendUint(b, q.Conflicts, 10)
	b = key(b, ',', "client_packets")
	b = strconv.AppendUint(b, q.ClientPackets, 10)
	b = key(b, ',', "server_packets")
	b = strconv.AppendUint(b, q.ServerPackets, 10)
	b = key(b, ',', "marks")
	b = appendList(b, q.Marks, (*Mark).appendJSON)
	return append(b, '}')
}

func (m *Mark) appendJSON(b []byte) []byte {
	b = key(b, '{', "ts")
	b = appendTimestamp(b, m.TS)
	b = key(b, ',', "from")
	b = appendString(b, m.From)
	b = key(b, ',', "kind")
	b = appendString(b, m.Kind)
	return append(b, '}')
}

func (e *Endpoint) appendJSON(b []byte) []byte {
	b = key(b, '{', "ip")
	b = appendString(b, e.IP)
	b = key(b, ',', "port")
	b = strconv.AppendUint(b, uint64(e.Port), 10)
	return append(b, '}')
}

func (a *Alert) appendJSON(b []byte) []byte {
	b = key(b, '{', "ts")
	b = appendTimestamp(b, a.TS)
	b = key(b, ',', "from")
	b = appendString(b, a.From)
	b = key(b, ',', "level")
	b = appendString(b, a.Level)
	b = key(b, ',', "description")
	b = appendString(b, a.Description)
	if a.Decrypted {
		b = key(b, ',', "decrypted")
		b = strconv.AppendBool(b, a.Decrypted)
	}
	return append(b, '}')
}

func (m *Message) appendJSON(b []byte) []byte {
	b = key(b, '{', "ts")
	b = appendTimestamp(b, m.TS)
	b = key(b, ',', "from")
	b = appendString(b, m.From)
	b = key(b, ',', "type")
	b = appendString(b, m.Type)
	b = key(b, ',', "length")
	b = strconv.AppendInt(b, int64(m.Length), 10)
	b = key(b, ',', "encrypted")
	b = strconv.AppendBool(b, m.Encrypted)
	if m.Decrypted {
		b = key(b, ',', "decrypted")
		b = strconv.AppendBool(b, m.Decrypted)
	}
	b = key(b, ',', "offset_ms")
	b = appendFloat(b, m.OffsetMS)
	return append(b, '}')
}

func (c *ClientHello) appendJSON(b []byte) []byte {
	b = key(b, '{', "ja3")
	b = appendString(b, c.JA3)
	b = key(b, ',', "ja3_string")
	b = appendString(b, c.JA3String)
	b = key(b, ',', "ja4")
	b = appendString(b, c.JA4)
	b = key(b, ',', "ja4_r")
	b = appendString(b, c.JA4R)
	b = key(b, ',', "length")
	b = strconv.AppendInt(b, int64(c.Length), 10)
	b = key(b, ',', "tcp_segments")
	b = strconv.AppendInt(b, int64(c.Segments), 10)
	if c.SSLv2 {
		b = key(b, ',', "sslv2")
		b = strconv.AppendBool(b, c.SSLv2)
	}
	b = key(b, ',', "version")
	b = appendString(b, c.Version)
	b = key(b, ',', "session_id")
	b = appendString(b, c.SessionID)
	b = key(b, ',', "cipher_suites")
	b = appendStrings(b, c.CipherSuites)
	b = key(b, ',', "compression_methods")
	b = appendInts(b, c.CompressionMethods)
	b = key(b, ',', "extensions")
	b = appendStrings(b, c.Extensions)
	b = key(b, ',', "supported_versions")
	b = appendStrings(b, c.SupportedVersions)
	b = key(b, ',', "supported_groups")
	b = appendStrings(b, c.SupportedGroups)
	b = key(b, ',', "key_shares")
	b = appendStrings(b, c.KeyShares)
	b = key(b, ',', "signature_algorithms")
	b = appendStrings(b, c.SignatureAlgorithms)
	b = key(b, ',', "ec_point_formats")
	b = appendInts(b, c.ECPointFormats)
	b = key(b, ',', "alpn")
	b = appendStrings(b, c.ALPN)
	b = key(b, ',', "psk_key_exchange_modes")
	b = appendInts(b, c.PSKModes)
	b = key(b, ',', "psk_identities")
	b = strconv.AppendInt(b, int64(c.PSKIdentities), 10)
	b = key(b, ',', "early_data")
	b = strconv.AppendBool(b, c.EarlyData)
	b = key(b, ',', "session_ticket_length")
	if c.SessionTicketLength == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, int64(*c.SessionTicketLength), 10)
	}
	b = key(b, ',', "extended_master_secret")
	b = strconv.AppendBool(b, c.ExtendedMasterSec)
	b = key(b, ',', "renegotiation_info")
	b = strconv.AppendBool(b, c.RenegotiationInfo)
	b = key(b, ',', "status_request")
	b = strconv.AppendBool(b, c.StatusRequest)
	b = key(b, ',', "signed_certificate_timestamp")
	b = strconv.AppendBool(b, c.SCT)
	b = key(b, ',', "padding_length")
	b = strconv.AppendInt(b, int64(c.PaddingLength), 10)
	b = key(b, ',', "compress_certificate")
	b = appendInts(b, c.CompressCertificate)
	if c.RecordSizeLimit != 0 {
		b = key(b, ',', "record_size_limit")
		b = strconv.AppendUint(b, uint64(c.RecordSizeLimit), 10)
	}
	b = key(b, ',', "ech")
	b = appendPtr(b, c.ECH, (*ECH).appendJSON)
	return append(b, '}')
}

func (e *ECH) appendJSON(b []byte) []byte {
	b = key(b, '{', "type")
	b = appendString(b, e.Type)
	b = key(b, ',', "outer_sni")
	b = appendStringPtr(b, e.OuterSNI)
	b = key(b, ',', "grease")
	if e.Grease == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendBool(b, *e.Grease)
	}
	if e.KDF != 0 {
		b = key(b, ',', "kdf")
		b = strconv.AppendUint(b, uint64(e.KDF), 10)
	}
	if e.AEAD != 0 {
		b = key(b, ',', "aead")
		b = strconv.AppendUint(b, uint64(e.AEAD), 10)
	}
	b = key(b, ',', "config_id")
	b = strconv.AppendUint(b, uint64(e.ConfigID), 10)
	b = key(b, ',', "enc_length")
	b = strconv.AppendInt(b, int64(e.EncLength), 10)
	b = key(b, ',', "payload_length")
	b = strconv.AppendInt(b, int64(e.PayloadLength), 10)
	return append(b, '}')
}

func (s *ServerHello) appendJSON(b []byte) []byte {
	b = key(b, '{', "ja3s")
	b = appendString(b, s.JA3S)
	b = key(b, ',', "ja3s_string")
	b = appendString(b, s.JA3SString)
	b = key(b, ',', "length")
	b = strconv.AppendInt(b, int64(s.Length), 10)
	b = key(b, ',', "version")
	b = appendString(b, s.Version)
	b = key(b, ',', "selected_version")
	b = appendStringPtr(b, s.SelectedVersion)
	b = key(b, ',', "session_id")
	b = appendString(b, s.SessionID)
	b = key(b, ',', "cipher_suite")
	b = appendString(b, s.CipherSuite)
	b = key(b, ',', "compression_method")
	b = strconv.AppendUint(b, uint64(s.Compression), 10)
	b = key(b, ',', "extensions")
	b = appendStrings(b, s.Extensions)
	b = key(b, ',', "key_share")
	b = appendStringPtr(b, s.KeyShare)
	b = key(b, ',', "alpn")
	b = appendStringPtr(b, s.ALPN)
	b = key(b, ',', "pre_shared_key")
	b = strconv.AppendBool(b, s.PSKSelected)
	return append(b, '}')
}

func (k *KeyExchange) appendJSON(b []byte) []byte {
	b = key(b, '{', "group")
	b = appendStringPtr(b, k.Group)
	if k.DHBits != 0 {
		b = key(b, ',', "dh_bits")
		b = strconv.AppendInt(b, int64(k.DHBits), 10)
	}
	return append(b, '}')
}

func (c *Certificate) appendJSON(b []byte) []byte {
	b = key(b, '{', "sha256")
	b = appendString(b, c.SHA256)
	b = key(b, ',', "length")
	b = strconv.AppendInt(b, int64(c.Length), 10)
	b = key(b, ',', "subject")
	b = appendString(b, c.Subject)
	b = key(b, ',', "issuer")
	b = appendString(b, c.Issuer)
	b = key(b, ',', "sans")
	b = appendStrings(b, c.SANs)
	b = key(b, ',', "not_before")
	b = appendString(b, c.NotBefore)
	b = key(b, ',', "not_after")
	b = appendString(b, c.NotAfter)
	b = key(b, ',', "key_type")
	b = appendString(b, c.KeyType)
	b = key(b, ',', "key_bits")
	b = strconv.AppendInt(b, int64(c.KeyBits), 10)
	b = key(b, ',', "signature_algorithm")
	b = appendString(b, c.SignatureAlgorithm)
	b = key(b, ',', "serial")
	b = appendString(b, c.Serial)
	if c.ParseError != "" {
		b = key(b, ',', "parse_error")
		b = appendString(b, c.ParseError)
	}
	return append(b, '}')
}

func (t *Timing) appendJSON(b []byte) []byte {
	b = key(b, '{', "handshake_ms")
	b = appendFloatPtr(b, t.HandshakeMS)
	b = key(b, ',', "syn_to_synack_ms")
	b = appendFloatPtr(b, t.SYNToSYNACKMS)
	b = key(b, ',', "synack_to_ack_ms")
	b = appendFloatPtr(b, t.SYNACKToACKMS)
	b = key(b, ',', "tcp_rtt_ms")
	b = appendFloatPtr(b, t.TCPRoundTripMS)
	b = key(b, ',', "capture_near")
	b = appendStringPtr(b, t.CaptureNear)
	b = key(b, ',', "syn_to_client_hello_ms")
	b = appendFloatPtr(b, t.SYNToClientHelloMS)
	b = key(b, ',', "server_flight_ms")
	b = appendFloatPtr(b, t.ServerFlightMS)
	b = key(b, ',', "hello_retry_ms")
	b = appendFloatPtr(b, t.HelloRetryMS)
	b = key(b, ',', "client_hello_to_server_hello_ms")
	b = appendFloatPtr(b, t.ClientHelloToServerHelloMS)
	b = key(b, ',', "client_first_data_ms")
	b = appendFloatPtr(b, t.ClientFirstDataMS)
	b = key(b, ',', "server_first_data_ms")
	b = appendFloatPtr(b, t.ServerFirstDataMS)
	return append(b, '}')
}

func (f *Finding) appendJSON(b []byte) []byte {
	b = key(b, '{', "kind")
	b = appendString(b, f.Kind)
	b = key(b, ',', "cost_ms")
	b = appendFloatPtr(b, f.CostMS)
	b = key(b, ',', "text")
	b = appendString(b, f.Text)
	return append(b, '}')
}

func (i *Issue) appendJSON(b []byte) []byte {
	b = key(b, '{', "ts")
	b = appendTimestamp(b, i.TS)
	b = key(b, ',', "from")
	b = appendString(b, i.From)
	b = key(b, ',', "kind")
	b = appendString(b, i.Kind)
	b = key(b, ',', "detail")
	b = appendString(b, i.Detail)
	return append(b, '}')
}

// key appends sep (the object's '{' or a ',') and a key, which is plain
// ASCII here.
func key(b []byte, sep byte, k string) []byte {
	b = append(b, sep, '"')
	b = append(b, k...)
	return append(b, '"', ':')
}

// appendList appends a list of values, null for a nil one.
func appendList[T any](b []byte, vs []T, each func(*T, []byte) []byte) []byte {
	if vs == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = each(&vs[i], b)
	}
	return append(b, ']')
}

// appendPtr appends a value, or null.
func appendPtr[T any](b []byte, v *T, each func(*T, []byte) []byte) []byte {
	if v == nil {
		return append(b, "null"...)
	}
	return each(v, b)
}

func appendStrings(b []byte, vs []string) []byte {
	return appendList(b, vs, func(s *string, b []byte) []byte { return appendString(b, *s) })
}

func appendInts(b []byte, vs []int) []byte {
	return appendList(b, vs, func(v *int, b []byte) []byte { return strconv.AppendInt(b, int64(*v), 10) })
}

// appendCounts appends a map of counts with its keys sorted, as
// encoding/json does.
func appendCounts(b []byte, m map[string]int) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	var keys [8]string
	ks := keys[:0]
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	b = append(b, '{')
	for i, k := range ks {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(m[k]), 10)
	}
	return append(b, '}')
}

func appendTimestamp(b []byte, t Timestamp) []byte {
	b = append(b, '"')
	return append(t.appendText(b), '"')
}

func appendStringPtr(b []byte, s *string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	return appendString(b, *s)
}

func appendFloatPtr(b []byte, f *float64) []byte {
	if f == nil {
		return append(b, "null"...)
	}
	return appendFloat(b, *f)
}

// appendFloat formats f as encoding/json does: the shortest decimal that
// reads back as f, in exponent form only below 1e-6 or from 1e21, its
// exponent without a leading zero. A NaN or an infinity, which JSON cannot
// hold and no duration gives, is written as null.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	// Whole microseconds in milliseconds (appendMilli); not zero, which
	// strconv writes with its sign.
	if n := math.Round(f * 1000); f != 0 && math.Abs(n) < 1e15 && n/1000 == f {
		return appendMilli(b, int64(n))
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 is written e-9.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendMilli appends n/1000 as strconv's shortest form does, without its
// search: durations in milliseconds are whole microseconds (ms), and the
// float nearest n/1000 reads back from no decimal shorter than n/1000's
// own digits while they are fewer than 16 (another decimal as short lies
// at least a unit of n's last digit away, far more than the float's
// spacing). Twenty such values a connection made strconv's search 3% of
// an NDJSON run.
func appendMilli(b []byte, n int64) []byte {
	if n < 0 {
		b = append(b, '-')
		n = -n
	}
	b = strconv.AppendInt(b, n/1000, 10)
	frac := n % 1000
	if frac == 0 {
		return b
	}
	b = append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
	for b[len(b)-1] == '0' {
		b = b[:len(b)-1]
	}
	return b
}

const hexDigits = "0123456789abcdef"

// plainASCII marks the bytes appendString copies as they are, all ASCII:
// a table, as encoding/json's safeSet, because the five comparisons it
// replaces took 1.7 times as long on the names NDJSON is made of (about
// 300 ns against 180 for ten of them). It has a place for every byte so
// that a run of plain bytes is skipped with one lookup each and no test of
// the high bit first: 180 to 133 ns for the same ten names.
var plainASCII = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// skipPlain returns the index of the first byte of s from i on that
// appendString does not copy as it is, or len(s). It tests eight bytes at
// a time, with the borrows of subtractions (SWAR): a byte of the word
// is plain unless it is below 0x20, from 0x80 on, or one of the five
// escaped, taken two by two where they differ in one bit ('"' and '&',
// '<' and '>'). The tests have no false positive in a word without a byte
// they look for, and a word with one is done a byte at a time. Against a
// lookup per byte, on the strings of the mixed capture's NDJSON,
// BenchmarkAppendString: 123 against 181 µs (1.5 times as fast).
func skipPlain(s string, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	zero := func(x uint64) uint64 { return (x - ones) & ^x & highs }
	for ; i+8 <= len(s); i += 8 {
		w := s[i : i+8]
		x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
		special := x&highs | (x-ones*0x20)&^x&highs |
			zero(x^(ones*'\\')) | zero((x^(ones*'"'))&^(ones*('"'^'&'))) | zero((x^(ones*'<'))&^(ones*('<'^'>')))
		if special != 0 {
			break
		}
	}
	for i < len(s) && plainASCII[s[i]] {
		i++
	}
	return i
}

// appendString appends s as a JSON string: quotes, backslashes and control
// characters escaped, and <, >, &, U+2028 and U+2029 as encoding/json
// escapes them by default, invalid UTF-8 as U+FFFD; and the bidirectional
// formatting characters escaped, so that a line printed on a terminal
// shows what was sent in its order.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		i = skipPlain(s, i)
		if i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029' || strings.ContainsRune(bidiControls, r):
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', hexDigits[r>>12], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
