package parser

import (
	"bytes"
	"strings"

	"golang.org/x/crypto/cryptobyte"
)

// ServerKeyExchange holds what a ServerKeyExchange reveals about the key
// exchange (RFC 8422, section 5.4; RFC 5246, section 7.4.3).
type ServerKeyExchange struct {
	Group    uint16 // named curve of an ECDHE, EC J-PAKE or ECCPWD exchange, 0 otherwise
	HasGroup bool
	DHBits   int // size of a finite-field DH prime, 0 otherwise
}

// suiteECJPAKE is TLS_ECJPAKE_WITH_AES_128_CCM_8 (draft-cragie-tls-ecjpake,
// Thread's commissioning), which IANA never assigned; its
// ServerKeyExchange starts with the curve, as ECDHE's.
const suiteECJPAKE = 0xc0ff

// decodeServerKeyExchange decodes the parameters of a ServerKeyExchange for
// the given cipher suite; which layout applies depends on its key exchange:
// the named curve of ECDHE, EC J-PAKE and ECCPWD (after its salt), the
// prime's size of finite-field DH.
func decodeServerKeyExchange(body []byte, suite uint16) (*ServerKeyExchange, bool) {
	name := CipherSuiteName(suite)
	s := cryptobyte.String(body)
	m := &ServerKeyExchange{}
	if strings.HasPrefix(name, "TLS_ECCPWD_") { // RFC 8492: a salt, then the curve
		var salt cryptobyte.String
		if !s.ReadUint8LengthPrefixed(&salt) {
			return nil, false
		}
	}
	switch {
	case strings.Contains(name, "_ECDHE_") || strings.Contains(name, "_ECDH_anon_") || strings.HasPrefix(name, "TLS_ECCPWD_") ||
		suite == suiteECJPAKE:
		var curveType uint8
		var point cryptobyte.String
		if !s.ReadUint8(&curveType) {
			return nil, false
		}
		if curveType != 3 { // only named_curve is allowed since RFC 8422
			return m, true
		}
		if !s.ReadUint16(&m.Group) || !s.ReadUint8LengthPrefixed(&point) {
			return nil, false
		}
		m.HasGroup = true
	case strings.Contains(name, "_DHE_") || strings.Contains(name, "_DH_anon_"):
		var p cryptobyte.String
		if !s.ReadUint16LengthPrefixed(&p) {
			return nil, false
		}
		for len(p) > 0 && p[0] == 0 {
			p = p[1:]
		}
		if len(p) > 0 {
			m.DHBits = (len(p)-1)*8 + bitLen(p[0])
		}
	}
	return m, true
}

func bitLen(b byte) int {
	n := 0
	for ; b != 0; b >>= 1 {
		n++
	}
	return n
}

// NewSessionTicket holds the lifetime and size of a session ticket
// (RFC 5077, section 3.3; RFC 8446, section 4.6.1).
type NewSessionTicket struct {
	Lifetime  uint32
	TicketLen int
}

func decodeNewSessionTicket(body []byte, tls13 bool) (*NewSessionTicket, bool) {
	s := cryptobyte.String(body)
	m := &NewSessionTicket{}
	var ticket cryptobyte.String
	if !s.ReadUint32(&m.Lifetime) {
		return nil, false
	}
	if tls13 {
		var ageAdd uint32
		var nonce, exts cryptobyte.String
		if !s.ReadUint32(&ageAdd) || !s.ReadUint8LengthPrefixed(&nonce) ||
			!s.ReadUint16LengthPrefixed(&ticket) || !s.ReadUint16LengthPrefixed(&exts) || !s.Empty() {
			return nil, false
		}
	} else if !s.ReadUint16LengthPrefixed(&ticket) || !s.Empty() {
		return nil, false
	}
	m.TicketLen = len(ticket)
	return m, true
}

// CertificateStatus holds a stapled OCSP response (RFC 6066, section 8).
type CertificateStatus struct {
	StatusType  uint8
	ResponseLen int
	Response    []byte // the DER OCSP response, a copy
}

func decodeCertificateStatus(body []byte) (*CertificateStatus, bool) {
	s := cryptobyte.String(body)
	m := &CertificateStatus{}
	var resp cryptobyte.String
	if !s.ReadUint8(&m.StatusType) || !s.ReadUint24LengthPrefixed(&resp) || !s.Empty() {
		return nil, false
	}
	m.ResponseLen = len(resp)
	m.Response = bytes.Clone(resp)
	return m, true
}

// CertificateRequest holds what a server asks of a client certificate
// (RFC 5246, section 7.4.4; RFC 8446, section 4.3.2).
type CertificateRequest struct {
	CertificateTypes    []uint8
	SignatureAlgorithms []uint16
	Authorities         int // number of distinguished names (TLS 1.2)
}

func decodeCertificateRequest(body []byte, version uint16) (*CertificateRequest, bool) {
	s := cryptobyte.String(body)
	m := &CertificateRequest{}
	if isTLS13(version) {
		// TLS 1.3: a context, then extensions; signature_algorithms is among them.
		var ctx, exts cryptobyte.String
		ok := s.ReadUint8LengthPrefixed(&ctx) && s.ReadUint16LengthPrefixed(&exts) && s.Empty() &&
			readExtensions(exts, nil, func(typ uint16, data cryptobyte.String) bool {
				var list cryptobyte.String
				return typ != extSignatureAlgorithms || (data.ReadUint16LengthPrefixed(&list) && readUint16s(list, &m.SignatureAlgorithms))
			})
		if !ok {
			return nil, false
		}
		return m, true
	}
	var types, cas cryptobyte.String
	if !s.ReadUint8LengthPrefixed(&types) {
		return nil, false
	}
	m.CertificateTypes = types
	if version == 0x0303 {
		var list cryptobyte.String
		if !s.ReadUint16LengthPrefixed(&list) || !readUint16s(list, &m.SignatureAlgorithms) {
			return nil, false
		}
	}
	if !s.ReadUint16LengthPrefixed(&cas) || !s.Empty() {
		return nil, false
	}
	for !cas.Empty() {
		var dn cryptobyte.String
		if !cas.ReadUint16LengthPrefixed(&dn) {
			return nil, false
		}
		m.Authorities++
	}
	return m, true
}
