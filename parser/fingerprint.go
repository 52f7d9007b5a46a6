package parser

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Fingerprints holds the hello fingerprints: JA3 and JA4 for a ClientHello,
// JA3S for a ServerHello. Fields that do not apply stay empty.
type Fingerprints struct {
	JA3, JA3String   string
	JA4, JA4R        string
	JA3S, JA3SString string
}

// ja3 computes JA3 (github.com/salesforce/ja3): the legacy version, cipher
// suites, extensions, groups and point formats in wire order, GREASE removed.
func (m *ClientHello) ja3() {
	var b strings.Builder
	b.WriteString(strconv.Itoa(int(m.Version)))
	b.WriteByte(',')
	joinDecimal(&b, m.CipherSuites)
	b.WriteByte(',')
	joinDecimal(&b, m.Extensions)
	b.WriteByte(',')
	joinDecimal(&b, m.SupportedGroups)
	b.WriteByte(',')
	for i, f := range m.ECPointFormats {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(strconv.Itoa(int(f)))
	}
	m.JA3String = b.String()
	sum := md5.Sum([]byte(m.JA3String))
	m.JA3 = hex.EncodeToString(sum[:])
}

// ja3s computes JA3S: the server's version, chosen suite and extensions.
func (m *ServerHello) ja3s() {
	var b strings.Builder
	fmt.Fprintf(&b, "%d,%d,", m.Version, m.CipherSuite)
	joinDecimal(&b, m.Extensions)
	m.JA3SString = b.String()
	sum := md5.Sum([]byte(m.JA3SString))
	m.JA3S = hex.EncodeToString(sum[:])
}

func joinDecimal(b *strings.Builder, vs []uint16) {
	first := true
	for _, v := range vs {
		if IsGREASE(v) {
			continue
		}
		if !first {
			b.WriteByte('-')
		}
		first = false
		b.WriteString(strconv.Itoa(int(v)))
	}
}

// ja4 computes JA4 and JA4_r as FoxIO's JA4 specification defines them
// (github.com/FoxIO-LLC/ja4, technical_details/JA4.md). transport is 't'
// for TCP, 'q' for QUIC, 'd' for DTLS.
func (m *ClientHello) ja4(transport byte) {
	suites := hexList(m.CipherSuites, nil)
	exts := hexList(m.Extensions, nil)
	var sigs []string
	for _, v := range m.SignatureAlgorithms {
		if !IsGREASE(v) {
			sigs = append(sigs, fmt.Sprintf("%04x", v))
		}
	}
	sni := byte('i')
	if slices.Contains(m.Extensions, extServerName) {
		sni = 'd'
	}
	prefix := fmt.Sprintf("%c%s%c%02d%02d%s", transport, ja4Version(m), sni,
		min(len(suites), 99), min(len(exts), 99), ja4ALPN(m.ALPN))

	slices.Sort(suites)
	sortedExts := hexList(m.Extensions, func(v uint16) bool { return v == extServerName || v == extALPN })
	slices.Sort(sortedExts)

	partB := strings.Join(suites, ",")
	partC := strings.Join(sortedExts, ",")
	if len(sigs) > 0 {
		partC += "_" + strings.Join(sigs, ",")
	}
	m.JA4 = prefix + "_" + ja4Hash(suites, partB) + "_" + ja4Hash(sortedExts, partC)
	m.JA4R = prefix + "_" + partB + "_" + partC
}

// hexList renders values as 4-digit lowercase hex, without GREASE and
// without the values skip selects.
func hexList(vs []uint16, skip func(uint16) bool) []string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		if IsGREASE(v) || (skip != nil && skip(v)) {
			continue
		}
		out = append(out, fmt.Sprintf("%04x", v))
	}
	return out
}

// ja4Hash is the first 12 hex digits of the SHA-256 of s, or twelve zeros
// when the list it was made from is empty.
func ja4Hash(list []string, s string) string {
	if len(list) == 0 {
		return "000000000000"
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:12]
}

// ja4Version is the highest non-GREASE supported_versions value, else the
// legacy version, as JA4's two-character code ("00" when unknown, such as a
// TLS 1.3 draft).
func ja4Version(m *ClientHello) string {
	v := m.Version
	if len(m.SupportedVersions) > 0 {
		v = 0
		for _, sv := range m.SupportedVersions {
			if !IsGREASE(sv) && (v == 0 || versionRank(sv) > versionRank(v)) {
				v = sv
			}
		}
	}
	return ja4VersionCode(v)
}

func ja4VersionCode(v uint16) string {
	switch v {
	case 0x0304:
		return "13"
	case 0x0303:
		return "12"
	case 0x0302:
		return "11"
	case 0x0301:
		return "10"
	case 0x0300:
		return "s3"
	case 0x0002:
		return "s2"
	case 0xfeff:
		return "d1"
	case 0xfefd:
		return "d2"
	case 0xfefc:
		return "d3"
	}
	return "00"
}

// versionRank orders versions by age; DTLS numbers count down.
func versionRank(v uint16) int {
	if v >= 0xfe00 {
		return int(0xffff - v)
	}
	return int(v)
}

// ja4ALPN is the first and last byte of the first ALPN value, as FoxIO's
// JA4 specification says: "00" without ALPN or for an empty value, one
// byte taken as both first and last, and when either is not an ASCII
// letter or digit, the first hex digit of the first byte and the last hex
// digit of the last byte instead, so that no wire byte reaches the
// fingerprint as it is.
func ja4ALPN(alpn []string) string {
	if len(alpn) == 0 || alpn[0] == "" {
		return "00"
	}
	first, last := alpn[0][0], alpn[0][len(alpn[0])-1]
	if !isAlnum(first) || !isAlnum(last) {
		const hex = "0123456789abcdef"
		return string([]byte{hex[first>>4], hex[last&0x0f]})
	}
	return string([]byte{first, last})
}

func isAlnum(b byte) bool {
	return '0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z'
}
