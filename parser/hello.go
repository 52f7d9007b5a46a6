package parser

import (
	"bytes"
	"slices"

	"golang.org/x/crypto/cryptobyte"
)

// Extension type code points this package decodes (IANA TLS ExtensionType Values).
const (
	extServerName           uint16 = 0
	extStatusRequest        uint16 = 5
	extSupportedGroups      uint16 = 10
	extECPointFormats       uint16 = 11
	extSignatureAlgorithms  uint16 = 13
	extALPN                 uint16 = 16
	extSCT                  uint16 = 18
	extPadding              uint16 = 21
	extEncryptThenMAC       uint16 = 22
	extExtendedMasterSecret uint16 = 23
	extCompressCertificate  uint16 = 27
	extRecordSizeLimit      uint16 = 28
	extSessionTicket        uint16 = 35
	extPreSharedKey         uint16 = 41
	extEarlyData            uint16 = 42
	extSupportedVersions    uint16 = 43
	extCookie               uint16 = 44
	extPSKModes             uint16 = 45
	extKeyShareDraft        uint16 = 40 // key_share before draft-23
	extKeyShare             uint16 = 51
	extECH                  uint16 = 0xfe0d
	extRenegotiationInfo    uint16 = 0xff01
)

// helloRetryRequestRandom is the ServerHello.random that marks a
// HelloRetryRequest (RFC 8446, section 4.1.3).
var helloRetryRequestRandom = []byte{
	0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
	0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
}

// ECH describes an encrypted_client_hello extension (draft-ietf-tls-esni).
type ECH struct {
	Outer      bool   // ClientHelloOuter (type 0) rather than the inner marker (type 1)
	KDF, AEAD  uint16 // HPKE cipher suite
	ConfigID   uint8
	EncLen     int
	PayloadLen int
}

// ClientHello is a decoded ClientHello (RFC 8446, section 4.1.2; RFC 5246,
// section 7.4.1.2), or an SSL 2.0-compatible CLIENT-HELLO.
type ClientHello struct {
	Length             int // handshake body length in bytes
	Segments           int // TCP segments that carried it
	SSLv2              bool
	Version            uint16 // legacy_version
	Random             []byte
	SessionID          []byte
	Cookie             []byte // DTLS: the cookie of a HelloVerifyRequest, echoed
	CipherSuites       []uint16
	CompressionMethods []uint8
	Extensions         []uint16 // extension types in the order sent

	ServerName          string
	HasServerName       bool
	ALPN                []string
	SupportedVersions   []uint16
	SupportedGroups     []uint16
	ECPointFormats      []uint8
	SignatureAlgorithms []uint16
	KeyShares           []uint16 // groups of the offered key shares
	PSKModes            []uint8
	PSKIdentities       int
	EarlyData           bool
	SessionTicketLen    int
	HasSessionTicket    bool
	ExtendedMasterSec   bool
	RenegotiationInfo   bool
	StatusRequest       bool
	SCT                 bool
	PaddingLen          int
	CompressCertificate []uint16
	RecordSizeLimit     uint16
	ECH                 *ECH

	Fingerprints

	// store holds the usual hello's lists of code points, so that they
	// come with the hello in one allocation (list).
	store [64]uint16
	used  int
	// unprinted is JA4's transport letter while the fingerprints are left
	// to a Validator's Judge; 0 once they are made.
	unprinted byte
}

// list returns an empty list with room for n code points, from the
// hello's store while it lasts.
func (m *ClientHello) list(n int) []uint16 {
	if n == 0 {
		return nil // as readUint16s leaves an empty list
	}
	if n > len(m.store)-m.used {
		return make([]uint16, 0, n)
	}
	l := m.store[m.used : m.used : m.used+n]
	m.used += n
	return l
}

// keep copies what a decoded hello keeps of its body, which it was decoded
// in place from, into one allocation of its own: cloning the whole body cost
// 2 kB a connection, most of it post-quantum key shares, a seventh of all
// the bytes a dense run allocated.
func keep(fields ...*[]byte) {
	n := 0
	for _, f := range fields {
		n += len(*f)
	}
	b := make([]byte, 0, n)
	for _, f := range fields {
		if *f != nil { // nil stays nil, empty stays empty
			start := len(b)
			b = append(b, *f...)
			*f = b[start:len(b):len(b)]
		}
	}
}

func (m *ClientHello) keep() {
	keep(&m.Random, &m.SessionID, &m.Cookie, &m.CompressionMethods, &m.ECPointFormats, &m.PSKModes)
}

func (m *ServerHello) keep() { keep(&m.Random, &m.SessionID) }

// decodeClientHello decodes a ClientHello body (the bytes after the 4-byte
// handshake header), in place: the hello keeps slices of body until keep.
func decodeClientHello(body []byte) (*ClientHello, bool) {
	m := &ClientHello{Length: len(body)}
	s := cryptobyte.String(body)
	var random, sid, suites, comp cryptobyte.String
	if !s.ReadUint16(&m.Version) || !s.ReadBytes((*[]byte)(&random), 32) ||
		!s.ReadUint8LengthPrefixed(&sid) {
		return nil, false
	}
	m.Random, m.SessionID = random, sid
	if isDTLSVersion(m.Version) { // DTLS: a cookie follows (RFC 6347, section 4.2.1)
		var cookie cryptobyte.String
		if !s.ReadUint8LengthPrefixed(&cookie) {
			return nil, false
		}
		m.Cookie = cookie
	}
	if !s.ReadUint16LengthPrefixed(&suites) || !s.ReadUint8LengthPrefixed(&comp) {
		return nil, false
	}
	m.CipherSuites = m.list(len(suites) / 2)
	if !readUint16s(suites, &m.CipherSuites) {
		return nil, false
	}
	m.CompressionMethods = comp
	if s.Empty() { // extensions are optional (RFC 5246, section 7.4.1.2)
		return m, true
	}
	var exts cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&exts) || !s.Empty() {
		return nil, false
	}
	m.Extensions = m.list(countExtensions(exts))
	if !readExtensions(exts, &m.Extensions, m.decodeExtension) {
		return nil, false
	}
	return m, true
}

// countExtensions counts the extensions of a well-formed block.
func countExtensions(exts cryptobyte.String) int {
	n := 0
	var data cryptobyte.String
	for exts.Skip(2) && exts.ReadUint16LengthPrefixed(&data) {
		n++
	}
	return n
}

// readExtensions reads an extensions block (RFC 8446, section 4.2): the
// type of each goes to types, when given, and its data to decode, which
// reports false for a malformed known extension (unknown ones are data,
// not errors).
func readExtensions(exts cryptobyte.String, types *[]uint16, decode func(typ uint16, data cryptobyte.String) bool) bool {
	if types != nil && cap(*types) == len(*types) { // no room made by the caller: one allocation
		*types = slices.Grow(*types, countExtensions(exts))
	}
	for !exts.Empty() {
		var typ uint16
		var data cryptobyte.String
		if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&data) {
			return false
		}
		if types != nil {
			*types = append(*types, typ)
		}
		if !decode(typ, data) {
			return false
		}
	}
	return true
}

// decodeExtension decodes one ClientHello extension; unknown extensions are
// data, not errors. It reports false for a malformed known extension.
func (m *ClientHello) decodeExtension(typ uint16, data cryptobyte.String) bool {
	switch typ {
	case extServerName: // RFC 6066, section 3
		var list cryptobyte.String
		if !data.ReadUint16LengthPrefixed(&list) || !data.Empty() {
			return false
		}
		for !list.Empty() {
			var nameType uint8
			var name cryptobyte.String
			if !list.ReadUint8(&nameType) || !list.ReadUint16LengthPrefixed(&name) {
				return false
			}
			if nameType == 0 && !m.HasServerName {
				m.ServerName, m.HasServerName = string(name), true
			}
		}
		return true
	case extALPN: // RFC 7301, section 3.1
		var list cryptobyte.String
		if !data.ReadUint16LengthPrefixed(&list) || !data.Empty() {
			return false
		}
		if m.ALPN == nil {
			m.ALPN = make([]string, 0, 2) // h2 and http/1.1, in one allocation
		}
		for !list.Empty() {
			var proto cryptobyte.String
			if !list.ReadUint8LengthPrefixed(&proto) {
				return false
			}
			m.ALPN = append(m.ALPN, protocolName(proto))
		}
		return true
	case extSupportedVersions: // RFC 8446, section 4.2.1
		var list cryptobyte.String
		if !data.ReadUint8LengthPrefixed(&list) || !data.Empty() {
			return false
		}
		if m.SupportedVersions == nil {
			m.SupportedVersions = m.list(len(list) / 2)
		}
		return readUint16s(list, &m.SupportedVersions)
	case extSupportedGroups: // RFC 8446, section 4.2.7
		var list cryptobyte.String
		if !data.ReadUint16LengthPrefixed(&list) || !data.Empty() {
			return false
		}
		if m.SupportedGroups == nil {
			m.SupportedGroups = m.list(len(list) / 2)
		}
		return readUint16s(list, &m.SupportedGroups)
	case extECPointFormats: // RFC 8422, section 5.1.2
		var list cryptobyte.String
		if !data.ReadUint8LengthPrefixed(&list) || !data.Empty() {
			return false
		}
		m.ECPointFormats = list
		return true
	case extSignatureAlgorithms: // RFC 8446, section 4.2.3
		var list cryptobyte.String
		if !data.ReadUint16LengthPrefixed(&list) || !data.Empty() {
			return false
		}
		if m.SignatureAlgorithms == nil {
			m.SignatureAlgorithms = m.list(len(list) / 2)
		}
		return readUint16s(list, &m.SignatureAlgorithms)
	case extKeyShare, extKeyShareDraft: // RFC 8446, section 4.2.8
		var list cryptobyte.String
		if !data.ReadUint16LengthPrefixed(&list) || !data.Empty() {
			return false
		}
		if m.KeyShares == nil {
			m.KeyShares = m.list(2) // one or two shares, from m's store
		}
		for !list.Empty() {
			var group uint16
			var key cryptobyte.String
			if !list.ReadUint16(&group) || !list.ReadUint16LengthPrefixed(&key) {
				return false
			}
			m.KeyShares = append(m.KeyShares, group)
		}
		return true
	case extPSKModes: // RFC 8446, section 4.2.9
		var list cryptobyte.String
		if !data.ReadUint8LengthPrefixed(&list) || !data.Empty() {
			return false
		}
		m.PSKModes = list
		return true
	case extPreSharedKey: // RFC 8446, section 4.2.11
		var ids, binders cryptobyte.String
		if !data.ReadUint16LengthPrefixed(&ids) || !data.ReadUint16LengthPrefixed(&binders) || !data.Empty() {
			return false
		}
		for !ids.Empty() {
			var id cryptobyte.String
			var age uint32
			if !ids.ReadUint16LengthPrefixed(&id) || !ids.ReadUint32(&age) {
				return false
			}
			m.PSKIdentities++
		}
		return true
	case extEarlyData: // RFC 8446, section 4.2.10
		m.EarlyData = true
		return data.Empty()
	case extSessionTicket: // RFC 5077, section 3.2
		m.HasSessionTicket, m.SessionTicketLen = true, len(data)
		return true
	case extExtendedMasterSecret: // RFC 7627, section 5.1
		m.ExtendedMasterSec = true
		return data.Empty()
	case extRenegotiationInfo: // RFC 5746, section 3.2
		var info cryptobyte.String
		m.RenegotiationInfo = true
		return data.ReadUint8LengthPrefixed(&info) && data.Empty()
	case extStatusRequest: // RFC 6066, section 8
		m.StatusRequest = true
		return true
	case extSCT: // RFC 6962, section 3.3.1
		m.SCT = true
		return data.Empty()
	case extPadding: // RFC 7685
		m.PaddingLen = len(data)
		return true
	case extCompressCertificate: // RFC 8879, section 3
		var list cryptobyte.String
		return data.ReadUint8LengthPrefixed(&list) && data.Empty() && readUint16s(list, &m.CompressCertificate)
	case extRecordSizeLimit: // RFC 8449, section 4
		return data.ReadUint16(&m.RecordSizeLimit) && data.Empty()
	case extECH: // draft-ietf-tls-esni, section 5
		var typ uint8
		if !data.ReadUint8(&typ) {
			return false
		}
		e := &ECH{Outer: typ == 0}
		m.ECH = e
		if !e.Outer {
			return true
		}
		var enc, payload cryptobyte.String
		if !data.ReadUint16(&e.KDF) || !data.ReadUint16(&e.AEAD) || !data.ReadUint8(&e.ConfigID) ||
			!data.ReadUint16LengthPrefixed(&enc) || !data.ReadUint16LengthPrefixed(&payload) || !data.Empty() {
			return false
		}
		e.EncLen, e.PayloadLen = len(enc), len(payload)
		return true
	}
	return true
}

// decodeSSLv2ClientHello decodes an SSL 2.0 CLIENT-HELLO body (the bytes
// after the 2-byte record header and the message type), as sent by clients
// that still offer SSL 2.0 compatibility (RFC 5246, appendix E.2).
func decodeSSLv2ClientHello(body []byte) (*ClientHello, bool) {
	m := &ClientHello{Length: len(body), SSLv2: true}
	s := cryptobyte.String(body)
	var specLen, sidLen, challengeLen uint16
	var specs, sid, challenge cryptobyte.String
	if !s.ReadUint16(&m.Version) || !s.ReadUint16(&specLen) || !s.ReadUint16(&sidLen) ||
		!s.ReadUint16(&challengeLen) || specLen%3 != 0 ||
		!s.ReadBytes((*[]byte)(&specs), int(specLen)) || !s.ReadBytes((*[]byte)(&sid), int(sidLen)) ||
		!s.ReadBytes((*[]byte)(&challenge), int(challengeLen)) || !s.Empty() {
		return nil, false
	}
	m.SessionID, m.Random = sid, challenge
	for !specs.Empty() {
		var hi uint8
		var lo uint16
		specs.ReadUint8(&hi)
		specs.ReadUint16(&lo)
		if hi == 0 { // a TLS cipher suite; others are SSL 2.0 cipher kinds
			m.CipherSuites = append(m.CipherSuites, lo)
		}
	}
	return m, true
}

// ServerHello is a decoded ServerHello or HelloRetryRequest (RFC 8446,
// section 4.1.3; RFC 5246, section 7.4.1.3).
type ServerHello struct {
	Length           int
	Version          uint16 // legacy_version (the version itself before TLS 1.3)
	Random           []byte
	SessionID        []byte
	CipherSuite      uint16
	Compression      uint8
	Extensions       []uint16
	SupportedVersion uint16 // selected by supported_versions, 0 if absent
	KeyShare         uint16 // group of the server's key share (or the group an HRR asks for)
	HasKeyShare      bool
	ALPN             string
	HasALPN          bool
	PSKSelected      bool
	HelloRetry       bool
	SCTs             int  // in a signed_certificate_timestamp extension (TLS 1.2)
	ECHConfirmed     bool // a HelloRetryRequest confirms ECH was accepted

	Fingerprints
}

// decodeServerHello decodes a ServerHello body. TLS 1.3 drafts before
// draft-22 used a shorter layout without session_id and compression_method.
func decodeServerHello(body []byte) (*ServerHello, bool) {
	if m, ok := decodeServerHelloLayout(body, false); ok {
		return m, true
	}
	return decodeServerHelloLayout(body, true)
}

func decodeServerHelloLayout(body []byte, draft bool) (*ServerHello, bool) {
	m := &ServerHello{Length: len(body)}
	s := cryptobyte.String(body)
	var random cryptobyte.String
	if !s.ReadUint16(&m.Version) || !s.ReadBytes((*[]byte)(&random), 32) {
		return nil, false
	}
	m.Random = random
	if draft {
		if !s.ReadUint16(&m.CipherSuite) {
			return nil, false
		}
	} else {
		var sid cryptobyte.String
		if !s.ReadUint8LengthPrefixed(&sid) || !s.ReadUint16(&m.CipherSuite) || !s.ReadUint8(&m.Compression) {
			return nil, false
		}
		m.SessionID = sid
	}
	m.HelloRetry = bytes.Equal(m.Random, helloRetryRequestRandom)
	if s.Empty() {
		return m, !draft
	}
	var exts cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&exts) || !s.Empty() || !readExtensions(exts, &m.Extensions, m.decodeExtension) {
		return nil, false
	}
	return m, true
}

func (m *ServerHello) decodeExtension(typ uint16, data cryptobyte.String) bool {
	switch typ {
	case extSupportedVersions: // RFC 8446, section 4.2.1
		return data.ReadUint16(&m.SupportedVersion) && data.Empty()
	case extKeyShare, extKeyShareDraft: // RFC 8446, section 4.2.8
		var key cryptobyte.String
		if !data.ReadUint16(&m.KeyShare) {
			return false
		}
		m.HasKeyShare = true
		if m.HelloRetry {
			return data.Empty()
		}
		return data.ReadUint16LengthPrefixed(&key) && data.Empty()
	case extALPN:
		m.ALPN, m.HasALPN = readSelectedALPN(data)
		return m.HasALPN
	case extPreSharedKey: // RFC 8446, section 4.2.11
		var selected uint16
		m.PSKSelected = true
		return data.ReadUint16(&selected) && data.Empty()
	case extSCT: // RFC 6962, section 3.3.1
		m.SCTs = sctListLen(data)
	case extECH: // draft-ietf-tls-esni, section 7.2.1: 8 bytes of confirmation in an HRR
		m.ECHConfirmed = m.HelloRetry && len(data) == 8
	}
	return true
}

// readSelectedALPN reads the protocol a server selected: a list of exactly
// one (RFC 7301, section 3.1).
func readSelectedALPN(data cryptobyte.String) (string, bool) {
	var list, proto cryptobyte.String
	if !data.ReadUint16LengthPrefixed(&list) || !list.ReadUint8LengthPrefixed(&proto) || !list.Empty() || !data.Empty() {
		return "", false
	}
	return protocolName(proto), true
}

// protocolName is an ALPN protocol ID as a string, without an allocation
// for the IDs of the web, which nearly every hello carries.
func protocolName(id []byte) string {
	switch string(id) {
	case "h2":
		return "h2"
	case "http/1.1":
		return "http/1.1"
	case "h3":
		return "h3"
	}
	return string(id)
}

// EncryptedExtensions is the server's TLS 1.3 EncryptedExtensions (RFC
// 8446, section 4.3.1), read with keys: where TLS 1.3 puts the ALPN.
type EncryptedExtensions struct {
	Extensions []uint16
	ALPN       string
	HasALPN    bool
	EarlyData  bool // the server accepted 0-RTT data
}

func decodeEncryptedExtensions(body []byte) (*EncryptedExtensions, bool) {
	m := &EncryptedExtensions{}
	s := cryptobyte.String(body)
	var exts cryptobyte.String
	ok := s.ReadUint16LengthPrefixed(&exts) && s.Empty() && readExtensions(exts, &m.Extensions, func(typ uint16, data cryptobyte.String) bool {
		switch typ {
		case extALPN:
			m.ALPN, m.HasALPN = readSelectedALPN(data)
			return m.HasALPN
		case extEarlyData: // RFC 8446, section 4.2.10: empty
			m.EarlyData = true
			return data.Empty()
		}
		return true
	})
	return m, ok
}

// Negotiated returns the version the server chose: supported_versions when
// present (TLS 1.3), otherwise the legacy version field.
func (m *ServerHello) Negotiated() uint16 {
	if m.SupportedVersion != 0 {
		return m.SupportedVersion
	}
	return m.Version
}

func readUint16s(s cryptobyte.String, out *[]uint16) bool {
	*out = slices.Grow(*out, len(s)/2) // one allocation for the list
	for !s.Empty() {
		var v uint16
		if !s.ReadUint16(&v) {
			return false
		}
		*out = append(*out, v)
	}
	return true
}
