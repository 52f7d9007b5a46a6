package parser

import (
	"encoding/asn1"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// distinguishedName writes a certificate's subject or issuer (its DER
// Name) as OpenSSL does with -nameopt RFC2253, the form Zeek's x509.log
// uses: the attributes last to first, those of one relative name joined
// by '+', the names separated by commas, each attribute as
// name=value with OpenSSL's short names (RFC 4514's where it has them),
// values as text with RFC 4514's escapes. crypto/x509's Name.String is not
// that: it moves the attributes it knows into an order of its own, loses
// multi-valued names, and writes emailAddress and other common attributes
// as dotted OIDs with hex. An attribute of a type without a name here is
// written by its OID, and its value, like a value that is no string, as
// '#' and its DER in hex, as OpenSSL does. Bytes that are no Name give ""
// (crypto/x509 parsed them before: it does not happen).
func distinguishedName(der []byte) string {
	in := cryptobyte.String(der)
	var rdns cryptobyte.String
	if !in.ReadASN1(&rdns, cbasn1.SEQUENCE) || !in.Empty() {
		return ""
	}
	// The attributes in order, each with the index of its relative name;
	// an OID is kept as its DER, looked up as it is (attributeNamesDER).
	type attribute struct {
		rdn   int
		oid   cryptobyte.String
		value cryptobyte.String
		tag   cbasn1.Tag
	}
	var room [8]attribute
	attrs := room[:0]
	for rdn := 0; !rdns.Empty(); rdn++ {
		var set cryptobyte.String
		if !rdns.ReadASN1(&set, cbasn1.SET) {
			return ""
		}
		for !set.Empty() {
			var atv cryptobyte.String
			a := attribute{rdn: rdn}
			if !set.ReadASN1(&atv, cbasn1.SEQUENCE) || !atv.ReadASN1Element(&a.oid, cbasn1.OBJECT_IDENTIFIER) ||
				!atv.ReadAnyASN1Element(&a.value, &a.tag) || !atv.Empty() {
				return ""
			}
			attrs = append(attrs, a)
		}
	}
	var b strings.Builder
	b.Grow(len(der))
	for i := len(attrs) - 1; i >= 0; i-- {
		a := attrs[i]
		switch {
		case i == len(attrs)-1:
		case a.rdn == attrs[i+1].rdn:
			b.WriteByte('+')
		default:
			b.WriteByte(',')
		}
		short, known := attributeNamesDER[string(a.oid)]
		if !known {
			var oid asn1.ObjectIdentifier
			if !a.oid.ReadASN1ObjectIdentifier(&oid) {
				return ""
			}
			short = oid.String()
		}
		b.WriteString(short)
		b.WriteByte('=')
		if text, isText := attributeText(a.value, a.tag); known && isText {
			escapeAttribute(&b, text)
		} else {
			b.WriteByte('#')
			b.WriteString(hex.EncodeToString(a.value))
		}
	}
	return b.String()
}

// attributeNames are OpenSSL's short names of the attribute types
// certificates use (crypto/objects/objects.txt).
var attributeNames = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.4":                    "SN",
	"2.5.4.5":                    "serialNumber",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.9":                    "street",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.12":                   "title",
	"2.5.4.13":                   "description",
	"2.5.4.15":                   "businessCategory",
	"2.5.4.16":                   "postalAddress",
	"2.5.4.17":                   "postalCode",
	"2.5.4.18":                   "postOfficeBox",
	"2.5.4.20":                   "telephoneNumber",
	"2.5.4.41":                   "name",
	"2.5.4.42":                   "GN",
	"2.5.4.43":                   "initials",
	"2.5.4.44":                   "generationQualifier",
	"2.5.4.45":                   "x500UniqueIdentifier",
	"2.5.4.46":                   "dnQualifier",
	"2.5.4.65":                   "pseudonym",
	"2.5.4.72":                   "role",
	"2.5.4.97":                   "organizationIdentifier",
	"0.9.2342.19200300.100.1.1":  "UID",
	"0.9.2342.19200300.100.1.25": "DC",
	"1.2.840.113549.1.9.1":       "emailAddress",
	"1.2.840.113549.1.9.2":       "unstructuredName",
	"1.2.840.113549.1.9.8":       "unstructuredAddress",
	"1.3.6.1.4.1.311.60.2.1.1":   "jurisdictionL",
	"1.3.6.1.4.1.311.60.2.1.2":   "jurisdictionST",
	"1.3.6.1.4.1.311.60.2.1.3":   "jurisdictionC",
}

// attributeNamesDER are attributeNames by the DER of their OIDs, so that
// a name is found without parsing its OID into a slice and formatting it:
// two allocations an attribute, a dozen a certificate, before.
var attributeNamesDER = func() map[string]string {
	m := make(map[string]string, len(attributeNames))
	for dotted, short := range attributeNames {
		var oid asn1.ObjectIdentifier
		for part := range strings.SplitSeq(dotted, ".") {
			n, err := strconv.Atoi(part)
			if err != nil {
				panic("attributeNames: " + dotted)
			}
			oid = append(oid, n)
		}
		der, err := asn1.Marshal(oid)
		if err != nil {
			panic("attributeNames: " + dotted)
		}
		m[string(der)] = short
	}
	return m
}()

// attributeText decodes an attribute value of one of the string types
// names use; isText is false for any other type.
func attributeText(der cryptobyte.String, tag cbasn1.Tag) (text string, isText bool) {
	var v cryptobyte.String
	if !der.ReadASN1(&v, tag) {
		return "", false
	}
	switch tag {
	case cbasn1.UTF8String, cbasn1.PrintableString, cbasn1.IA5String, 18 /* NumericString */, 26 /* VisibleString */ :
		return string(v), true
	case cbasn1.T61String: // read as Latin-1, as OpenSSL does
		r := make([]rune, len(v))
		for i, c := range v {
			r[i] = rune(c)
		}
		return string(r), true
	case 30: // BMPString: UTF-16, big-endian
		if len(v)%2 != 0 {
			return "", false
		}
		u := make([]uint16, len(v)/2)
		for i := range u {
			u[i] = binary.BigEndian.Uint16(v[2*i:])
		}
		return string(utf16.Decode(u)), true
	case 28: // UniversalString: UTF-32, big-endian
		if len(v)%4 != 0 {
			return "", false
		}
		r := make([]rune, len(v)/4)
		for i := range r {
			r[i] = rune(binary.BigEndian.Uint32(v[4*i:]))
		}
		return string(r), true
	}
	return "", false
}

// escapeAttribute writes an attribute value with RFC 4514's escapes: a
// backslash before the characters that separate names and before a
// leading '#' or space or a trailing space, and \XX for control characters
// and bytes that are not UTF-8 (as OpenSSL's esc_ctrl).
func escapeAttribute(b *strings.Builder, s string) {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		c := s[i]
		switch {
		case r == utf8.RuneError && size == 1, c < 0x20, c == 0x7f:
			b.WriteByte('\\')
			b.WriteString(strings.ToUpper(hex.EncodeToString([]byte{c})))
		case strings.IndexByte(`,+"\<>;`, c) >= 0, (c == '#' || c == ' ') && i == 0, c == ' ' && i == len(s)-1:
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
}
