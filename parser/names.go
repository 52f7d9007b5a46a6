package parser

import "fmt"

//go:generate go run ./internal/iana

// IsGREASE reports whether v is one of the reserved GREASE values of RFC 8701
// (0x0A0A, 0x1A1A, … 0xFAFA), which peers send to keep extension points open.
func IsGREASE(v uint16) bool {
	return v&0x0f0f == 0x0a0a && v>>8 == v&0xff
}

// greaseNames are the GREASE values' names, made once: most ClientHellos
// carry several, and formatting each on every call cost an allocation.
var greaseNames = func() (names [16]string) {
	for i := range names {
		names[i] = fmt.Sprintf("GREASE 0x%04X", i<<12|0xa<<8|i<<4|0xa)
	}
	return names
}()

// nameTable holds a registry's names in pages of 256 code points by their
// high byte: two loads where a map lookup was half the time of naming a
// hello's lists (pprof, make bench). No name is empty.
type nameTable [256]*[256]string

func newNameTable(names map[uint16]string) *nameTable {
	t := new(nameTable)
	for v, n := range names {
		if t[v>>8] == nil {
			t[v>>8] = new([256]string)
		}
		t[v>>8][v&0xff] = n
	}
	return t
}

var (
	versionTable         = newNameTable(versionNames)
	cipherSuiteTable     = newNameTable(cipherSuiteNames)
	groupTable           = newNameTable(groupNames)
	signatureSchemeTable = newNameTable(signatureSchemeNames)
	extensionTable       = newNameTable(extensionNames)
	alertTable           = newNameTable(alertNames)
)

func (t *nameTable) lookup(v uint16) string {
	if page := t[v>>8]; page != nil && page[v&0xff] != "" {
		return page[v&0xff]
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
	return versionTable.lookup(v)
}

// CipherSuiteName returns the IANA name of a cipher suite.
func CipherSuiteName(v uint16) string { return cipherSuiteTable.lookup(v) }

// GroupName returns the IANA name of a supported group (named curve).
func GroupName(v uint16) string { return groupTable.lookup(v) }

// SignatureSchemeName returns the IANA name of a signature scheme.
func SignatureSchemeName(v uint16) string { return signatureSchemeTable.lookup(v) }

// ExtensionName returns the IANA name of an extension type.
func ExtensionName(v uint16) string { return extensionTable.lookup(v) }

// AlertName returns the IANA name of an alert description.
func AlertName(v uint8) string { return alertTable.lookup(uint16(v)) }

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
