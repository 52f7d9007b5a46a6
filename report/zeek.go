package report

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tlssniff/tlssniff/parser"
)

// Zeek's logs: ssl.log records as Zeek's JSON writer emits them
// (NewZeekJSON), and ssl.log with x509.log as its ASCII writer writes them
// (NewZeekDir), so that what reads Zeek's logs reads tlssniff's. Field
// names, their order and the spellings of values follow Zeek's scripts
// (base/protocols/ssl/main.zeek and files.zeek, policy validate-certs for
// validation_status, base/files/x509/main.zeek for x509.log): "TLSv12",
// "TLSv13-draft23", "unknown-32257" for a code point without a name,
// ssl_history in Zeek's letters. A field Zeek would leave unset is left out
// of JSON and written "-" in TSV.

// zeekField is one field of a Zeek record: its name, Zeek type and value;
// an unset field has a nil value.
type zeekField struct {
	name, typ string
	v         any // string, uint64, bool, time.Time, []string
}

// zeekRecord is a record being built, field by field.
type zeekRecord []zeekField

// set appends a field, unset unless ok.
func (r *zeekRecord) set(name, typ string, v any, ok bool) {
	if !ok {
		v = nil
	}
	*r = append(*r, zeekField{name, typ, v})
}

// zeekUnknown spells a code point as Zeek does when it has no name for it.
func zeekUnknown(v uint16) string { return "unknown-" + strconv.Itoa(int(v)) }

// zeekName is Zeek's spelling of a name from our tables: the IANA name,
// or unknown-N where we print hex.
func zeekName(name string, v uint16) string {
	if strings.HasPrefix(name, "0x") {
		return zeekUnknown(v)
	}
	return name
}

// zeekVersion spells a version as Zeek's version_strings.
func zeekVersion(v uint16) string {
	switch v {
	case 0x0002:
		return "SSLv2"
	case 0x0300:
		return "SSLv3"
	case 0x0301, 0x0302, 0x0303, 0x0304:
		return "TLSv1" + strconv.Itoa(int(v-0x0301))
	case 0xFEFF:
		return "DTLSv10"
	case 0xFEFD:
		return "DTLSv12"
	case 0xFEFC:
		return "DTLSv13"
	}
	if v>>8 == 0x7F {
		return "TLSv13-draft" + strconv.Itoa(int(v&0xFF))
	}
	return zeekUnknown(v)
}

// zeekLetters are ssl_history's letters for what the client sends; the
// server's are the same in lower case.
var zeekLetters = map[parser.MessageType]byte{
	parser.MsgHelloRequest: 'H', parser.MsgClientHello: 'C', parser.MsgServerHello: 'S',
	parser.MsgHelloVerifyRequest: 'V', parser.MsgNewSessionTicket: 'T', parser.MsgEndOfEarlyData: 'E',
	parser.MsgHelloRetryRequest: 'J', parser.MsgEncryptedExtensions: 'O', parser.MsgCertificate: 'X',
	parser.MsgServerKeyExchange: 'K', parser.MsgCertificateRequest: 'R', parser.MsgServerHelloDone: 'N',
	parser.MsgCertificateVerify: 'Y', parser.MsgClientKeyExchange: 'G', parser.MsgFinished: 'F',
	parser.MsgCertificateStatus: 'U', parser.MsgKeyUpdate: 'P', parser.MsgChangeCipherSpec: 'I',
	parser.MsgAlert: 'L', parser.MsgHeartbeat: 'B',
}

// zeekMaxHistory is Zeek's max_ssl_history_length.
const zeekMaxHistory = 100

// zeekHistory is ssl_history: a letter per message read in the clear, in
// order, upper case from the client; "^" first when the client is not the
// side that sent the flow's first packet (Zeek's flipped direction).
func zeekHistory(c *parser.Connection) string {
	b := make([]byte, 0, 16)
	if c.Flipped {
		b = append(b, '^')
	}
	for _, m := range c.Messages {
		if len(b) == zeekMaxHistory {
			break
		}
		l, ok := zeekLetters[m.Type]
		if m.Encrypted {
			continue
		}
		if !ok {
			if m.Type >= 0x100 {
				continue // application data and encrypted records have no letter
			}
			l = 'Z'
		}
		if m.From == parser.FromServer {
			l += 'a' - 'A'
		}
		b = append(b, l)
	}
	return string(b)
}

// zeekSSL is the ssl.log record of a connection.
func zeekSSL(c *parser.Connection) zeekRecord {
	ts := c.Start
	if len(c.Messages) > 0 {
		ts = c.Messages[0].Time // Zeek's ssl.log starts at the first TLS message
	}
	f := zeekRecord{{"ts", "time", ts}, {"uid", "string", uid(c.Transport, c.Client, c.Server, c.Start)}}
	set := f.set
	// Zeek's originator sent the flow's first packet.
	orig, resp := c.Client, c.Server
	if c.Flipped {
		orig, resp = resp, orig
	}
	set("id.orig_h", "addr", orig.Addr().Unmap().String(), true)
	set("id.orig_p", "port", uint64(orig.Port()), true)
	set("id.resp_h", "addr", resp.Addr().Unmap().String(), true)
	set("id.resp_p", "port", uint64(resp.Port()), true)
	set("version", "string", zeekVersion(c.Version), c.Version != 0)
	set("cipher", "string", zeekName(parser.CipherSuiteName(c.CipherSuite), c.CipherSuite), c.ServerHello != nil)
	set("curve", "string", zeekName(parser.GroupName(c.Group), c.Group), c.HasGroup)
	sni, ok := c.SNI()
	set("server_name", "string", sni, ok)
	set("resumed", "bool", c.Resumed, true)
	var last string
	if len(c.Alerts) > 0 {
		d := c.Alerts[len(c.Alerts)-1].Description
		last = zeekName(parser.AlertName(d), uint16(d))
	}
	set("last_alert", "string", last, len(c.Alerts) > 0)
	alpn, ok := c.ALPN()
	set("next_protocol", "string", alpn, ok)
	set("established", "bool", c.Established, true)
	set("ssl_history", "string", zeekHistory(c), true)
	chains := c.Certificates != nil || c.ClientCertificates != nil
	set("cert_chain_fps", "vector[string]", fingerprints(c.Certificates), chains)
	set("client_cert_chain_fps", "vector[string]", fingerprints(c.ClientCertificates), chains)
	for _, side := range []struct {
		prefix string
		chain  []parser.Certificate
	}{{"", c.Certificates}, {"client_", c.ClientCertificates}} {
		var subject, issuer string
		ok := len(side.chain) > 0 && side.chain[0].ParseError == ""
		if ok {
			subject, issuer = side.chain[0].Subject, side.chain[0].Issuer
		}
		set(side.prefix+"subject", "string", subject, ok)
		set(side.prefix+"issuer", "string", issuer, ok)
	}
	match, ok := c.SNIMatchesCert()
	set("sni_matches_cert", "bool", match, ok)
	var status string
	if c.Validation != nil {
		status = c.Validation.Status
	}
	set("validation_status", "string", status, c.Validation != nil)
	return f
}

func fingerprints(chain []parser.Certificate) []string {
	out := make([]string, len(chain))
	for i, x := range chain {
		out[i] = x.SHA256
	}
	return out
}

// zeekX509 is the x509.log record of a certificate, first seen at ts.
func zeekX509(ts time.Time, cert *parser.Certificate, host, client bool) zeekRecord {
	f := zeekRecord{{"ts", "time", ts}, {"fingerprint", "string", cert.SHA256}}
	x := cert.X509()
	set := f.set
	var version uint64
	if x != nil {
		version = uint64(x.Version)
	}
	set("certificate.version", "count", version, x != nil)
	set("certificate.serial", "string", strings.ToUpper(cert.Serial), x != nil) // OpenSSL writes serials in upper case
	set("certificate.subject", "string", cert.Subject, x != nil)
	set("certificate.issuer", "string", cert.Issuer, x != nil)
	set("certificate.not_valid_before", "time", cert.NotBefore, x != nil)
	set("certificate.not_valid_after", "time", cert.NotAfter, x != nil)
	var keyAlg, keyType, exponent, curve string
	var keyLen uint64
	if x != nil {
		keyAlg, keyType, keyLen, exponent, curve = zeekKey(x)
	}
	set("certificate.key_alg", "string", keyAlg, keyAlg != "")
	set("certificate.sig_alg", "string", zeekSigAlg(x), x != nil)
	set("certificate.key_type", "string", keyType, keyType != "")
	set("certificate.key_length", "count", keyLen, keyLen != 0)
	set("certificate.exponent", "string", exponent, exponent != "")
	set("certificate.curve", "string", curve, curve != "")
	var dns, uris, emails, ips []string
	if x != nil {
		dns, emails = x.DNSNames, x.EmailAddresses
		for _, u := range x.URIs {
			uris = append(uris, u.String())
		}
		for _, ip := range x.IPAddresses {
			ips = append(ips, ip.String())
		}
	}
	set("san.dns", "vector[string]", dns, len(dns) > 0)
	set("san.uri", "vector[string]", uris, len(uris) > 0)
	set("san.email", "vector[string]", emails, len(emails) > 0)
	set("san.ip", "vector[addr]", ips, len(ips) > 0)
	bc := x != nil && x.BasicConstraintsValid
	set("basic_constraints.ca", "bool", bc && x.IsCA, bc)
	var pathLen uint64
	hasPathLen := bc && x.IsCA && (x.MaxPathLen > 0 || x.MaxPathLenZero)
	if hasPathLen {
		pathLen = uint64(x.MaxPathLen)
	}
	set("basic_constraints.path_len", "count", pathLen, hasPathLen)
	set("host_cert", "bool", host, true)
	set("client_cert", "bool", client, true)
	return f
}

// zeekCurves are OpenSSL's names of the curves crypto/x509 parses.
var zeekCurves = map[string]string{"P-224": "secp224r1", "P-256": "prime256v1", "P-384": "secp384r1", "P-521": "secp521r1"}

// zeekKey names a certificate's key as Zeek does (OpenSSL's short names).
func zeekKey(x *x509.Certificate) (alg, typ string, bits uint64, exponent, curve string) {
	switch k := x.PublicKey.(type) {
	case *rsa.PublicKey:
		return "rsaEncryption", "rsa", uint64(k.N.BitLen()), strconv.Itoa(k.E), ""
	case *ecdsa.PublicKey:
		return "id-ecPublicKey", "ecdsa", uint64(k.Curve.Params().BitSize), "", zeekCurves[k.Curve.Params().Name]
	case ed25519.PublicKey:
		return "ED25519", "", 0, "", ""
	}
	return "", "", 0, "", ""
}

// zeekSigAlg names a signature algorithm as OpenSSL's long names, which
// Zeek logs.
func zeekSigAlg(x *x509.Certificate) string {
	if x == nil {
		return ""
	}
	switch x.SignatureAlgorithm {
	case x509.MD5WithRSA:
		return "md5WithRSAEncryption"
	case x509.SHA1WithRSA:
		return "sha1WithRSAEncryption"
	case x509.SHA256WithRSA:
		return "sha256WithRSAEncryption"
	case x509.SHA384WithRSA:
		return "sha384WithRSAEncryption"
	case x509.SHA512WithRSA:
		return "sha512WithRSAEncryption"
	case x509.SHA256WithRSAPSS, x509.SHA384WithRSAPSS, x509.SHA512WithRSAPSS:
		return "rsassaPss"
	case x509.ECDSAWithSHA1:
		return "ecdsa-with-SHA1"
	case x509.ECDSAWithSHA256:
		return "ecdsa-with-SHA256"
	case x509.ECDSAWithSHA384:
		return "ecdsa-with-SHA384"
	case x509.ECDSAWithSHA512:
		return "ecdsa-with-SHA512"
	case x509.DSAWithSHA1:
		return "dsaWithSHA1"
	case x509.DSAWithSHA256:
		return "dsa_with_SHA256"
	case x509.PureEd25519:
		return "ED25519"
	}
	return x.SignatureAlgorithm.String()
}

// zeekEscape spells a wire string as Zeek's JSON writer does: bytes that
// are not valid UTF-8 as \xHH.
func zeekEscape(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			fmt.Fprintf(&b, `\x%02x`, s[i])
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// appendZeekJSON appends a record as one line of Zeek's JSON writer:
// unset fields left out, times as epoch seconds.
func appendZeekJSON(b []byte, rec []zeekField) []byte {
	b = append(b, '{')
	first := true
	for _, f := range rec {
		if f.v == nil {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, f.name)
		b = append(b, ':')
		switch v := f.v.(type) {
		case time.Time:
			b = EpochTime(v).appendJSON(b)
		case string:
			b = appendString(b, zeekEscape(v))
		case []string:
			b = append(b, '[')
			for i, s := range v {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendString(b, zeekEscape(s))
			}
			b = append(b, ']')
		default:
			j, _ := json.Marshal(v) // bool, uint64
			b = append(b, j...)
		}
	}
	return append(b, '}', '\n')
}

// ZeekJSON writes ssl.log records, one JSON object per line, as Zeek's
// JSON writer (LogAscii::use_json) does.
type ZeekJSON struct {
	w   io.Writer
	buf []byte
}

// NewZeekJSON returns a sink writing ssl.log records in Zeek's JSON to w.
func NewZeekJSON(w io.Writer) *ZeekJSON { return &ZeekJSON{w: w} }

// Write implements Sink.
func (z *ZeekJSON) Write(c *parser.Connection) error {
	z.buf = appendZeekJSON(z.buf[:0], zeekSSL(c))
	_, err := z.w.Write(z.buf)
	return err
}

// Close implements Sink.
func (z *ZeekJSON) Close() error { return nil }

// zeekTSV writes one log in Zeek's ASCII format: its header lines
// (#separator, #fields, #types …), a line per record, tab-separated,
// and #close.
type zeekTSV struct {
	w      io.Writer
	path   string
	opened bool
	last   time.Time
	err    error
}

// zeekTimeFormat is how Zeek's #open and #close lines write a time.
const zeekTimeFormat = "2006-01-02-15-04-05"

func (z *zeekTSV) write(rec []zeekField) {
	if z.err != nil {
		return
	}
	ts := rec[0].v.(time.Time)
	var b []byte
	if !z.opened {
		z.opened = true
		b = z.header(b, rec, ts)
	}
	z.last = ts
	for i, f := range rec {
		if i > 0 {
			b = append(b, '\t')
		}
		b = appendZeekTSV(b, f.v)
	}
	_, z.err = z.w.Write(append(b, '\n'))
}

func (z *zeekTSV) header(b []byte, rec []zeekField, open time.Time) []byte {
	b = append(b, "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\t"...)
	b = append(b, z.path...)
	b = append(b, "\n#open\t"...)
	b = open.UTC().AppendFormat(b, zeekTimeFormat)
	b = append(b, "\n#fields"...)
	for _, f := range rec {
		b = append(append(b, '\t'), f.name...)
	}
	b = append(b, "\n#types"...)
	for _, f := range rec {
		b = append(append(b, '\t'), f.typ...)
	}
	return append(b, '\n')
}

// close writes the #close line, and the header first when no record came
// (fields of an empty record of the log's kind).
func (z *zeekTSV) close(empty []zeekField) error {
	if z.err != nil {
		return z.err
	}
	var b []byte
	if !z.opened {
		z.last = time.Now()
		b = z.header(b, empty, z.last)
	}
	b = append(b, "#close\t"...)
	b = z.last.UTC().AppendFormat(b, zeekTimeFormat)
	_, err := z.w.Write(append(b, '\n'))
	return err
}

// appendZeekTSV appends a value as Zeek's ASCII writer spells it: "-"
// unset, "(empty)" for an empty set, T and F, times with six decimals;
// in strings, tabs, commas within sets, backslashes, what is not
// printable and bidirectional controls (whose reordering zeek-cut would
// pass to a terminal) are \xHH escapes, and a value that reads as "-" or
// "(empty)" is escaped so that it does not.
func appendZeekTSV(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, '-')
	case bool:
		if v {
			return append(b, 'T')
		}
		return append(b, 'F')
	case uint64:
		return strconv.AppendUint(b, v, 10)
	case time.Time:
		return EpochTime(v).appendJSON(b)
	case string:
		return appendZeekTSVString(b, v, false)
	case []string:
		if len(v) == 0 {
			return append(b, "(empty)"...)
		}
		for i, s := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendZeekTSVString(b, s, true)
		}
		return b
	}
	panic(fmt.Sprintf("zeek: no TSV spelling for %T", v))
}

func appendZeekTSVString(b []byte, s string, inSet bool) []byte {
	if s == "" {
		return append(b, "(empty)"...)
	}
	if s == "-" || s == "(empty)" {
		return fmt.Appendf(b, `\x%02x%s`, s[0], s[1:])
	}
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1, r < 0x20, r == 0x7f, r == '\\', inSet && r == ',':
			b = fmt.Appendf(b, `\x%02x`, s[i])
		case strings.ContainsRune(bidiControls, r): // each of its bytes, as a terminal must not see it
			for _, c := range []byte(s[i : i+n]) {
				b = fmt.Appendf(b, `\x%02x`, c)
			}
		default:
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return b
}

// ZeekDir writes ssl.log and x509.log in Zeek's ASCII format; x509.log
// holds each certificate once (the first 65,536 distinct ones are
// remembered; after that a certificate may be logged again, as Zeek logs a
// known one again after a day).
type ZeekDir struct {
	ssl, x509 zeekTSV
	seen      map[string]bool
}

// zeekSeenMax bounds the fingerprints ZeekDir remembers.
const zeekSeenMax = 1 << 16

// NewZeekDir returns a sink writing ssl.log to ssl and x509.log to x509.
func NewZeekDir(ssl, x509 io.Writer) *ZeekDir {
	return &ZeekDir{ssl: zeekTSV{w: ssl, path: "ssl"}, x509: zeekTSV{w: x509, path: "x509"}, seen: map[string]bool{}}
}

// Write implements Sink.
func (z *ZeekDir) Write(c *parser.Connection) error {
	rec := zeekSSL(c)
	z.ssl.write(rec)
	ts := rec[0].v.(time.Time)
	for _, chain := range []struct {
		certs        []parser.Certificate
		host, client bool
	}{{c.Certificates, true, false}, {c.ClientCertificates, false, true}} {
		for i := range chain.certs {
			cert := &chain.certs[i]
			if z.seen[cert.SHA256] {
				continue
			}
			if len(z.seen) == zeekSeenMax {
				clear(z.seen)
			}
			z.seen[cert.SHA256] = true
			z.x509.write(zeekX509(ts, cert, chain.host, chain.client))
		}
	}
	if z.ssl.err != nil {
		return z.ssl.err
	}
	return z.x509.err
}

// Close implements Sink: it writes each log's #close line.
func (z *ZeekDir) Close() error {
	var none parser.Connection
	var cert parser.Certificate
	err := z.ssl.close(zeekSSL(&none))
	if xerr := z.x509.close(zeekX509(time.Time{}, &cert, false, false)); err == nil {
		err = xerr
	}
	return err
}
