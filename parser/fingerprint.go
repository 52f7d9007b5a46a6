package parser

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash/maphash"
	"slices"
	"strconv"
)

// Fingerprints holds the hello fingerprints: JA3 and JA4 for a ClientHello,
// JA3S for a ServerHello. Fields that do not apply stay empty.
type Fingerprints struct {
	JA3, JA3String   string
	JA4, JA4R        string
	JA3S, JA3SString string
}

// The fingerprints are built in a buffer on the stack, without fmt or
// strings: JA4's hex lists sorted as numbers took a tenth of a run over
// dense traffic when they were sorted as strings made with fmt.

// fingerprint computes JA3 and JA4 of a ClientHello sent over transport
// (JA4's t, q or d).
func (m *ClientHello) fingerprint(transport byte) {
	m.ja3()
	m.ja4(transport)
}

// printed is what a Validator keeps of a ClientHello's fingerprints: the
// inputs they were made from (printInputs) and the fingerprints.
type printed struct {
	inputs string
	Fingerprints
}

// maxPrinted bounds the bytes of the fingerprints a Validator keeps (cost):
// an entry is about 700 (its inputs, JA3's and JA4's strings and the
// bookkeeping), so about 1,500 of them. A capture point sees a few dozen
// client stacks (bench/mix-1024.pcap: 5 in 23,552 connections), each
// sending the same lists in every hello, so the few hundred nanoseconds of
// hashing them save the microseconds of MD5, two SHA-256 and the strings.
const maxPrinted = 1 << 20

// cost is what an entry keeps: its strings, and its key and bookkeeping
// in the lru.
func (p *printed) cost() int {
	return len(p.inputs) + len(p.JA3String) + len(p.JA3) + len(p.JA4R) + len(p.JA4) + 160
}

// maxPrintInputs is the longest inputs kept: hellos listing more code
// points (a hostile one may list 30,000 suites) are printed every time,
// without their inputs being written out.
const maxPrintInputs = 1024

// fingerprint makes m's fingerprints, or takes those made for a hello
// with the same inputs while they are among those used most recently.
func (v *Validator) fingerprint(m *ClientHello) {
	if m.printLen() > maxPrintInputs {
		m.fingerprint(m.unprinted)
		return
	}
	var stack [maxPrintInputs]byte
	in := m.printInputs(stack[:0])
	h := maphash.Bytes(v.seed, in)
	if p, ok := v.prints.get(h, true); ok && p.inputs == string(in) {
		m.Fingerprints = p.Fingerprints
		return
	}
	m.fingerprint(m.unprinted)
	p := printed{string(in), m.Fingerprints}
	v.prints.put(h, p, p.cost())
}

// printLen is the length of printInputs: its fixed 29 bytes and its lists.
func (m *ClientHello) printLen() int {
	return 29 + 2*(len(m.CipherSuites)+len(m.Extensions)+len(m.SupportedGroups)+len(m.SupportedVersions)+len(m.SignatureAlgorithms)) +
		len(m.ECPointFormats)
}

// printInputs appends everything JA3 and JA4 are made from, each list
// after its length: JA4's transport letter, the legacy version, the
// suites, extensions, groups, point formats, supported versions and
// signature algorithms, and JA4's two ALPN characters.
func (m *ClientHello) printInputs(b []byte) []byte {
	b = append(b, m.unprinted)
	b = binary.BigEndian.AppendUint16(b, m.Version)
	for _, l := range [...][]uint16{m.CipherSuites, m.Extensions, m.SupportedGroups, m.SupportedVersions, m.SignatureAlgorithms} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(l)))
		for _, v := range l {
			b = binary.BigEndian.AppendUint16(b, v)
		}
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.ECPointFormats)))
	b = append(b, m.ECPointFormats...)
	return append(b, ja4ALPN(m.ALPN)...)
}

// ja3 computes JA3 (github.com/salesforce/ja3): the legacy version, cipher
// suites, extensions, groups and point formats in wire order, GREASE removed.
func (m *ClientHello) ja3() {
	var stack [512]byte
	b := strconv.AppendUint(stack[:0], uint64(m.Version), 10)
	b = append(b, ',')
	b = appendDecimals(b, m.CipherSuites)
	b = append(b, ',')
	b = appendDecimals(b, m.Extensions)
	b = append(b, ',')
	b = appendDecimals(b, m.SupportedGroups)
	b = append(b, ',')
	for i, f := range m.ECPointFormats {
		if i > 0 {
			b = append(b, '-')
		}
		b = strconv.AppendUint(b, uint64(f), 10)
	}
	m.JA3String, m.JA3 = withMD5(b)
}

// withMD5 returns s and the hex of its MD5 from one allocation.
func withMD5(b []byte) (s, sum string) {
	n := len(b)
	h := md5.Sum(b)
	both := string(hex.AppendEncode(b, h[:]))
	return both[:n], both[n:]
}

// ja3s computes JA3S: the server's version, chosen suite and extensions.
func (m *ServerHello) ja3s() {
	var stack [256]byte
	b := strconv.AppendUint(stack[:0], uint64(m.Version), 10)
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(m.CipherSuite), 10)
	b = append(b, ',')
	b = appendDecimals(b, m.Extensions)
	m.JA3SString, m.JA3S = withMD5(b)
}

// appendDecimals appends the values that are not GREASE in decimal,
// joined by '-'.
func appendDecimals(b []byte, vs []uint16) []byte {
	first := true
	for _, v := range vs {
		if IsGREASE(v) {
			continue
		}
		if !first {
			b = append(b, '-')
		}
		first = false
		b = strconv.AppendUint(b, uint64(v), 10)
	}
	return b
}

// ja4 computes JA4 and JA4_r as FoxIO's JA4 specification defines them
// (github.com/FoxIO-LLC/ja4, technical_details/JA4.md). transport is 't'
// for TCP, 'q' for QUIC, 'd' for DTLS.
func (m *ClientHello) ja4(transport byte) {
	var suiteBuf, extBuf [128]uint16
	suites := withoutGREASE(suiteBuf[:0], m.CipherSuites, false)
	exts := withoutGREASE(extBuf[:0], m.Extensions, false)
	sni := byte('i')
	if slices.Contains(m.Extensions, extServerName) {
		sni = 'd'
	}
	var stack [2048]byte
	b := append(stack[:0], transport)
	b = append(b, ja4Version(m)...)
	b = append(b, sni)
	b = appendTwoDigits(b, min(len(suites), 99))
	b = appendTwoDigits(b, min(len(exts), 99))
	b = append(b, ja4ALPN(m.ALPN)...)
	prefix := len(b)

	// JA4_r: the prefix, the sorted suites, the sorted extensions without
	// SNI and ALPN, and the signature algorithms in wire order.
	slices.Sort(suites)
	sorted := withoutGREASE(exts[:0], m.Extensions, true)
	slices.Sort(sorted)
	b = append(b, '_')
	partB := len(b)
	b = appendHexList(b, suites)
	endB := len(b)
	b = append(b, '_')
	partC := len(b)
	b = appendHexList(b, sorted)
	first := true
	for _, v := range m.SignatureAlgorithms {
		if IsGREASE(v) {
			continue
		}
		if first {
			b = append(b, '_')
			first = false
		} else {
			b = append(b, ',')
		}
		b = appendHex4(b, v)
	}
	// JA4 after JA4_r in the same buffer, both made one string.
	r := len(b)
	b = append(b, b[:prefix]...)
	b = append(b, '_')
	b = appendJA4Hash(b, len(suites) == 0, b[partB:endB])
	b = append(b, '_')
	b = appendJA4Hash(b, len(sorted) == 0, b[partC:r])
	both := string(b)
	m.JA4R, m.JA4 = both[:r], both[r:]
}

// withoutGREASE appends the values of vs that are not GREASE to dst, and,
// when skipNames is set, not server_name or ALPN either.
func withoutGREASE(dst, vs []uint16, skipNames bool) []uint16 {
	for _, v := range vs {
		if !IsGREASE(v) && (!skipNames || (v != extServerName && v != extALPN)) {
			dst = append(dst, v)
		}
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// appendHex4 appends v as 4 lowercase hex digits.
func appendHex4(b []byte, v uint16) []byte {
	return append(b, hexDigits[v>>12], hexDigits[v>>8&0xf], hexDigits[v>>4&0xf], hexDigits[v&0xf])
}

// appendHexList appends vs as 4-digit hex, joined by ','.
func appendHexList(b []byte, vs []uint16) []byte {
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendHex4(b, v)
	}
	return b
}

func appendTwoDigits(b []byte, n int) []byte {
	return append(b, byte('0'+n/10), byte('0'+n%10))
}

// appendJA4Hash appends the first 12 hex digits of the SHA-256 of s, or
// twelve zeros when the list it was made from is empty.
func appendJA4Hash(b []byte, empty bool, s []byte) []byte {
	if empty {
		return append(b, "000000000000"...)
	}
	sum := sha256.Sum256(s)
	return hex.AppendEncode(b, sum[:6])
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
