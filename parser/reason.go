package parser

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Alert descriptions the rules of Reason read (RFC 8446, section 6.2).
const (
	alertBadRecordMAC          = 20
	alertHandshakeFailure      = 40
	alertProtocolVersion       = 70
	alertInsufficientSecurity  = 71
	alertDecryptError          = 51
	alertInappropriateFallback = 86
	alertUnrecognizedName      = 112
	alertCertificateRequired   = 116
)

// certificateAlerts are the alerts a peer sends when it does not accept a
// certificate (RFC 8446, section 6.2; RFC 6066, section 8).
var certificateAlerts = map[uint8]bool{42: true, 43: true, 44: true, 45: true, 46: true, 48: true, 113: true, 114: true}

// Reason says in plain words why a failed handshake failed: what ended it
// (an alert, a close, a reset), joined with what the connection shows
// that explains it — the certificate the client turned down, what the
// client offered that the server refused, the client certificate the
// server wanted. It is "" when the connection did not fail or nothing
// explains more than its OutcomeDetail. It holds no string from the wire,
// so that it needs no escaping. The rules are in doc.go, "Why a handshake
// failed"; certificates are judged as Validation says, so a connection
// reads best after Validator.Judge.
func (c *Connection) Reason() string {
	if !c.Outcome.Failed() {
		return ""
	}
	var a *Alert
	if len(c.Alerts) > 0 {
		a = &c.Alerts[0]
	}
	hello := c.ServerHello != nil || c.HelloRetryRequest != nil
	t := &c.Quality.Transport
	switch {
	case a != nil && a.From == FromServer && !hello:
		return c.refusal(a.Description)
	case a != nil && (a.Description == alertDecryptError || a.Description == alertBadRecordMAC):
		return fmt.Sprintf("the %s could not verify the %s's handshake (%s): a middlebox changed it, or the two stacks "+
			"disagree on the keys", a.From, 1-a.From, AlertName(a.Description))
	case a != nil && a.From == FromClient && certificateAlerts[a.Description]:
		return "the client rejected the server's certificate: " + c.certificateProblem(a.Description)
	case c.Outcome == OutcomeClientAborted:
		return "the client gave up after the server's certificate: " + c.certificateProblem(0)
	case a != nil && a.From == FromServer && c.CertificateRequest != nil && c.sentCertificate(FromClient):
		if len(c.ClientCertificates) == 0 {
			return "the server asked for a client certificate and the client sent none"
		}
		return "the server rejected the client's certificate: " + orValid(problem(c.ClientValidation, c.ClientCertificates, c.Start))
	case a != nil && a.From == FromServer && a.Description == alertCertificateRequired:
		return "the server asked for a client certificate and the client sent none"
	case c.ClientHello != nil && !hello && a == nil && (t.Reset || t.FIN[FromServer]):
		how := "closed"
		if t.Reset {
			how = "reset"
		}
		if t.Reset && Direction(t.ResetSide) == FromClient {
			return "the client reset the connection before any answer from the server"
		}
		return fmt.Sprintf("the server %s the connection after the ClientHello without answering: it does not serve "+
			"this name, or does not speak TLS on this port", how)
	case c.ClientHello != nil && !hello && a == nil:
		return "the server never answered the ClientHello: it was lost or filtered on the way, or nothing speaks TLS on this port"
	}
	return ""
}

// refusal explains an alert a server sent in answer to the ClientHello.
func (c *Connection) refusal(desc uint8) string {
	ch := c.ClientHello
	switch {
	case ch == nil:
		return ""
	case desc == alertProtocolVersion:
		return "the server refused every version the client offered: " + offeredVersions(ch)
	case desc == alertInappropriateFallback:
		return fmt.Sprintf("the server refused a fallback: the client offered %s with TLS_FALLBACK_SCSV, which says an "+
			"attempt at a higher version, one the server supports, had failed", offeredVersions(ch))
	case desc == alertUnrecognizedName:
		return "the server does not serve the name the client asked for (SNI)"
	case desc == alertHandshakeFailure || desc == alertInsufficientSecurity:
		return fmt.Sprintf("no cipher suite, group or signature algorithm in common: the client offered %s, %s",
			offeredSuites(ch), offeredGroups(ch))
	}
	return ""
}

// offeredVersions words the versions a ClientHello offers: "TLS 1.2 only",
// "TLS 1.0 to TLS 1.2".
func offeredVersions(ch *ClientHello) string {
	var lo, hi uint16
	for _, v := range ch.SupportedVersions {
		if IsGREASE(v) {
			continue
		}
		if lo == 0 || versionRank(v) < versionRank(lo) {
			lo = v
		}
		if versionRank(v) > versionRank(hi) {
			hi = v
		}
	}
	if hi == 0 {
		return VersionName(ch.Version) + " at most"
	}
	if lo == hi {
		return VersionName(hi) + " only"
	}
	return VersionName(lo) + " to " + VersionName(hi)
}

// offeredSuites lists the first cipher suites of a ClientHello, GREASE and
// signalling values left out.
func offeredSuites(ch *ClientHello) string {
	var names []string
	for _, s := range ch.CipherSuites {
		if !IsGREASE(s) && s != 0x00ff && s != 0x5600 { // TLS_EMPTY_RENEGOTIATION_INFO_SCSV, TLS_FALLBACK_SCSV
			names = append(names, CipherSuiteName(s))
		}
	}
	return listed(names, "cipher suite")
}

func offeredGroups(ch *ClientHello) string {
	var names []string
	for _, g := range ch.SupportedGroups {
		if !IsGREASE(g) {
			names = append(names, GroupName(g))
		}
	}
	if len(names) == 0 {
		return "no supported_groups"
	}
	return listed(names, "group")
}

// listed words a list as "only 2 cipher suites: A, B" or "17 groups: A,
// B, C, D and 13 more".
func listed(names []string, what string) string {
	const shown = 4
	switch len(names) {
	case 0:
		return "no " + what
	case 1:
		return "only " + what + " " + names[0]
	}
	head := fmt.Sprintf("%d %ss: ", len(names), what)
	if len(names) <= shown {
		return head + strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s%s and %d more", head, strings.Join(names[:shown], ", "), len(names)-shown)
}

// sentCertificate reports whether side d sent a Certificate message read
// in the clear.
func (c *Connection) sentCertificate(d Direction) bool {
	for _, m := range c.Messages {
		if m.From == d && m.Type == MsgCertificate && !m.Encrypted {
			return true
		}
	}
	return false
}

// certificateProblem words what is wrong with the server's chain; alert
// is the client's, or 0, and tells what the client saw when the chain was
// not captured or is encrypted.
func (c *Connection) certificateProblem(alert uint8) string {
	if len(c.Certificates) == 0 {
		said := map[uint8]string{44: "revoked, it says; ", 45: "expired, it says; ", 48: "signed by an authority it does not trust, it says; "}[alert]
		if c.TLS13() || c.ServerFlight != nil {
			return said + "the certificate is encrypted (TLS 1.3 without keys: give --keylog to see it)"
		}
		return said + "no certificate was captured"
	}
	if p := problem(c.Validation, c.Certificates, c.Start); p != "" {
		return p
	}
	if m, ok := c.SNIMatchesCert(); ok && !m {
		return "it does not cover the name the client asked for (SNI)"
	}
	return orValid("")
}

// orValid is p, or what a chain without a problem tells when its peer
// turned it down anyway.
func orValid(p string) string {
	if p != "" {
		return p
	}
	return "its chain is valid here: the peer's own trust store or pinning turned it down"
}

// problem words the worst problem of a judged chain: "expired 2026-01-01";
// "" when it has none.
func problem(v *Validation, chain []Certificate, at time.Time) string {
	const day = "2006-01-02"
	switch {
	case v == nil:
		return "its chain was not judged"
	case v.Expired:
		for i, cert := range chain {
			if at.After(cert.NotAfter) {
				if i == 0 {
					return "expired " + cert.NotAfter.UTC().Format(day)
				}
				return "a certificate of its chain expired " + cert.NotAfter.UTC().Format(day)
			}
		}
	case v.NotYetValid:
		for _, cert := range chain {
			if at.Before(cert.NotBefore) {
				return "not valid before " + cert.NotBefore.UTC().Format(day)
			}
		}
	case v.OCSPStatus == "revoked":
		return "revoked, as its stapled OCSP response says"
	case !v.Trusted:
		return "its chain does not lead to a trusted root (" + v.Status + ")"
	case v.WeakSignature:
		return "its chain is signed with SHA-1 or MD5"
	case v.WeakKey:
		return "its key is too weak"
	}
	return ""
}

// The words of CertStatus, the worst first.
const (
	CertExpired     = "expired"
	CertNotYetValid = "not-yet-valid"
	CertRevoked     = "revoked"
	CertSelfSigned  = "self-signed"
	CertUntrusted   = "untrusted"
	CertMismatch    = "mismatch"
	CertWeak        = "weak"
	CertOK          = "ok"
	CertUnparsable  = "unparsable"
)

// CertStatuses lists the words of CertStatus.
var CertStatuses = []string{CertExpired, CertNotYetValid, CertRevoked, CertSelfSigned, CertUntrusted, CertMismatch,
	CertWeak, CertOK, CertUnparsable}

// CertStatus judges the server's chain in one word, the worst problem
// first: expired, not-yet-valid, revoked (stapled OCSP), self-signed,
// untrusted, mismatch (the leaf does not cover the SNI), weak (key or
// signature), ok, or unparsable; "" when no chain was captured (TLS 1.3
// without keys) or it was not judged.
func (c *Connection) CertStatus() string {
	v := c.Validation
	switch {
	case len(c.Certificates) == 0 || v == nil:
		return ""
	case c.Certificates[0].x509 == nil:
		return CertUnparsable
	case v.Expired:
		return CertExpired
	case v.NotYetValid:
		return CertNotYetValid
	case v.OCSPStatus == "revoked":
		return CertRevoked
	case !v.Trusted && v.SelfSigned:
		return CertSelfSigned
	case !v.Trusted:
		return CertUntrusted
	}
	if m, ok := c.SNIMatchesCert(); ok && !m {
		return CertMismatch
	}
	if v.WeakKey || v.WeakSignature {
		return CertWeak
	}
	return CertOK
}

// CertDaysLeft is the number of whole days from the connection's start to
// the end of its leaf certificate's validity, negative once it has
// expired; ok is false without a parsed leaf. Days are counted at capture
// time, so that a capture reads the same on any day.
func (c *Connection) CertDaysLeft() (days int, ok bool) {
	if len(c.Certificates) == 0 || c.Certificates[0].x509 == nil {
		return 0, false
	}
	left := c.Certificates[0].NotAfter.Sub(c.Start)
	return int(math.Floor(left.Hours() / 24)), true
}

// Name is the name a certificate is for: its first DNS or IP subject
// alternative name, else its subject's common name, else its subject.
// It comes from the wire: escape it before printing.
func (c *Certificate) Name() string {
	switch {
	case len(c.SANs) > 0:
		return c.SANs[0]
	case c.x509 != nil && c.x509.Subject.CommonName != "":
		return c.x509.Subject.CommonName
	}
	return c.Subject
}
