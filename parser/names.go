package parser

import "fmt"

//go:generate go run ./internal/iana

// IsGREASE reports whether v is one of the reserved GREASE values of RFC 8701
// (0x0A0A, 0x1A1A, … 0xFAFA), which peers send to keep extension points open.
func IsGREASE(v uint16) bool {
	return v&0x0f0f == 0x0a0a && v>>8 == v&0xff
}

// greaseNames are the GREASE values' names, made once: most ClientHellos
// carry several, and formatting them was a tenth of building a
// connection's JSON (pprof, make bench).
var greaseNames = func() (names [16]string) {
	for i := range names {
		names[i] = fmt.Sprintf("GREASE 0x%04X", i<<12|0xa<<8|i<<4|0xa)
	}
	return names
}()

func lookup(names map[uint16]string, v uint16) string {
	if n, ok := names[v]; ok {
		return n
	}
	if IsGREASE(v) {
		return greaseNames[v>>12]
	}
	return fmt.Sprintf("0x%04X", v)
}

// VersionName names a protocol version as docs/CONTRACT.md spells it: "TLS 1.2",
// "TLS 1.3 draft-23", "DTLS 1.2"; an unknown value prints as 0x%04X.
func VersionName(v uint16) string {
	if v>>8 == 0x7f { // RFC 8446 drafts: 0x7f00 | draft number
		return fmt.Sprintf("TLS 1.3 draft-%d", v&0xff)
	}
	return lookup(versionNames, v)
}

// CipherSuiteName returns the IANA name of a cipher suite.
func CipherSuiteName(v uint16) string { return lookup(cipherSuiteNames, v) }

// GroupName returns the IANA name of a supported group (named curve).
func GroupName(v uint16) string { return lookup(groupNames, v) }

// SignatureSchemeName returns the IANA name of a signature scheme.
func SignatureSchemeName(v uint16) string { return lookup(signatureSchemeNames, v) }

// ExtensionName returns the IANA name of an extension type.
func ExtensionName(v uint16) string { return lookup(extensionNames, v) }

// AlertName returns the IANA name of an alert description.
func AlertName(v uint8) string { return lookup(alertNames, uint16(v)) }

// AlertLevelName names an alert level (RFC 5246, section 7.2).
func AlertLevelName(v uint8) string {
	switch v {
	case 1:
		return "warning"
	case 2:
		return "fatal"
	}
	return fmt.Sprintf("0x%02X", v)
}
