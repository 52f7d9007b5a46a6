package parser

import (
	"slices"
	"testing"
)

// The vector of FoxIO's reference implementation (rust/ja4/src/tls.rs,
// test_client_stats_into_out), with GREASE values added that JA4 ignores.
func TestJA4Vector(t *testing.T) {
	m := &ClientHello{
		Version:           0x0303,
		SupportedVersions: []uint16{0x2a2a, 0x0304, 0x0303},
		CipherSuites: []uint16{0x1a1a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8,
			0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035},
		Extensions: []uint16{0x3a3a, 0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005,
			0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015},
		SignatureAlgorithms: []uint16{0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601},
		ALPN:                []string{"h2", "http/1.1"},
	}
	m.ja4('t')
	if m.JA4 != "t13d1516h2_8daaf6152771_e5627efa2ab1" {
		t.Errorf("JA4 %s", m.JA4)
	}
	const raw = "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601"
	if m.JA4R != raw {
		t.Errorf("JA4_r %s", m.JA4R)
	}
}

func TestJA4Parts(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    ClientHello
		want string
	}{
		{"nothing", ClientHello{Version: 0x0301}, "t10i000000_000000000000_000000000000"},
		{"draft version is unknown", ClientHello{Version: 0x0303, SupportedVersions: []uint16{0x7f17, 0x0304}},
			"t00i000000_000000000000_000000000000"},
		{"SSL 3.0", ClientHello{Version: 0x0300}, "ts3i000000"},
		// FoxIO's JA4 specification, "ALPN Extension Value", and its examples.
		{"one-character ALPN", ClientHello{Version: 0x0303, ALPN: []string{"h"}}, "t12i0000hh"},
		{"empty ALPN value", ClientHello{Version: 0x0303, ALPN: []string{""}}, "t12i000000"},
		{"ALPN 0xAB", ClientHello{Version: 0x0303, ALPN: []string{"\xab"}}, "t12i0000ab"},
		{"ALPN 0xAB 0xCD", ClientHello{Version: 0x0303, ALPN: []string{"\xab\xcd"}}, "t12i0000ad"},
		{"ALPN 0x30 0xAB", ClientHello{Version: 0x0303, ALPN: []string{"0\xab"}}, "t12i00003b"},
		{"ALPN 0x30 0x31 0xAB 0xCD", ClientHello{Version: 0x0303, ALPN: []string{"01\xab\xcd"}}, "t12i00003d"},
		{"ALPN 0x30 0xAB 0xCD 0x31", ClientHello{Version: 0x0303, ALPN: []string{"0\xab\xcd1"}}, "t12i000001"},
		{"ALPN of ESC c: no control byte reaches the fingerprint", ClientHello{Version: 0x0303, ALPN: []string{"\x1bc"}}, "t12i000013"},
		{"ALPN of digits", ClientHello{Version: 0x0303, ALPN: []string{"09"}}, "t12i000009"},
		{"ALPN of lower-case letters", ClientHello{Version: 0x0303, ALPN: []string{"az"}}, "t12i0000az"},
		{"ALPN of upper-case letters", ClientHello{Version: 0x0303, ALPN: []string{"AZ"}}, "t12i0000AZ"},
		{"ALPN just outside the ranges", ClientHello{Version: 0x0303, ALPN: []string{"/:"}}, "t12i00002a"},
		{"ALPN just outside the letters", ClientHello{Version: 0x0303, ALPN: []string{"`{"}}, "t12i00006b"},
		{"ALPN just outside the capitals", ClientHello{Version: 0x0303, ALPN: []string{"@["}}, "t12i00004b"},
		{"ALPN of a newline and NUL", ClientHello{Version: 0x0303, ALPN: []string{"\n\x00"}}, "t12i000000"},
		{"empty SNI extension still counts", ClientHello{Version: 0x0303, Extensions: []uint16{0}}, "t12d0001"},
		{"sigalgs only, no extensions hash", ClientHello{Version: 0x0303, CipherSuites: []uint16{0x1301}},
			"t12i010000_"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.m.ja4('t')
			if len(tc.m.JA4) < len(tc.want) || tc.m.JA4[:len(tc.want)] != tc.want {
				t.Errorf("JA4 %s, want prefix %s", tc.m.JA4, tc.want)
			}
		})
	}
}

// JA3 of a ClientHello as salesforce/ja3 defines it: decimal fields, GREASE
// removed from suites, extensions and groups. The digests are Python
// hashlib's MD5 of the expected strings.
func TestJA3(t *testing.T) {
	m := &ClientHello{Version: 771, CipherSuites: []uint16{0x0a0a, 4865, 4866}, Extensions: []uint16{0x1a1a, 0, 23},
		SupportedGroups: []uint16{0x2a2a, 29, 23}, ECPointFormats: []uint8{0}}
	m.ja3()
	if m.JA3String != "771,4865-4866,0-23,29-23,0" || m.JA3 != "40a8d16d28297af652a24c22c97c89a8" {
		t.Errorf("JA3 %s %s", m.JA3String, m.JA3)
	}
	s := &ServerHello{Version: 771, CipherSuite: 4865, Extensions: []uint16{43, 51}}
	s.ja3s()
	if s.JA3SString != "771,4865,43-51" || s.JA3S != "f4febc55ea12b31ae17cfb7e614afda8" {
		t.Errorf("JA3S %s %s", s.JA3SString, s.JA3S)
	}
}

// JA4_c without signature algorithms is the sorted extensions alone, with
// no '_' after them (FoxIO's JA4.md, "JA4_c"); the digests are Python
// hashlib's SHA-256 of "1301" and "000a,000b". DTLS versions count down:
// the highest of DTLS 1.0, 1.2 and 1.3 is the one with the lowest number.
func TestJA4WithoutSignatureAlgorithms(t *testing.T) {
	m := &ClientHello{Version: 0x0303, CipherSuites: []uint16{0x1301}, Extensions: []uint16{0x000b, 0x000a}}
	m.ja4('t')
	if m.JA4 != "t12i010200_0f2cb44170f4_33a13ba74d1c" || m.JA4R != "t12i010200_1301_000a,000b" {
		t.Errorf("JA4 %s JA4_r %s", m.JA4, m.JA4R)
	}
	for versions, want := range map[[2]uint16]string{{0xfeff, 0xfefd}: "d2", {0xfefd, 0xfeff}: "d2",
		{0xfefc, 0xfefd}: "d3", {0xfeff, 0xfeff}: "d1", {0x0303, 0x0304}: "13", {0x0304, 0x0301}: "13"} {
		m := &ClientHello{Version: 0xfefd, SupportedVersions: versions[:]}
		if got := ja4Version(m); got != want {
			t.Errorf("supported_versions %04x: version %s, want %s", versions, got, want)
		}
	}
}

// TestFingerprintsKept changes each input of JA3 and JA4 in turn: a
// Validator that kept the fingerprints of one hello must never hand them
// to a hello that differs in any of them, and must hand them back for the
// same hello.
func TestFingerprintsKept(t *testing.T) {
	base := func() *ClientHello {
		return &ClientHello{
			Version:             0x0303,
			SupportedVersions:   []uint16{0x2a2a, 0x0304, 0x0303},
			CipherSuites:        []uint16{0x1a1a, 0x1301, 0x1302, 0xc02b, 0xc02f},
			Extensions:          []uint16{0x3a3a, 0x0000, 0x0033, 0x0010, 0x000a, 0x000b, 0x000d, 0x002b},
			SupportedGroups:     []uint16{0x11ec, 0x001d, 0x0017},
			ECPointFormats:      []uint8{0},
			SignatureAlgorithms: []uint16{0x0403, 0x0804, 0x0401},
			ALPN:                []string{"h2", "http/1.1"},
			unprinted:           't',
		}
	}
	v := NewValidator(nil)
	for _, tc := range []struct {
		name   string
		change func(m *ClientHello)
	}{
		{"the first", func(*ClientHello) {}},
		{"the same again", func(*ClientHello) {}},
		{"over QUIC", func(m *ClientHello) { m.unprinted = 'q' }},
		{"legacy version", func(m *ClientHello) { m.Version = 0x0301 }},
		{"suites in another order", func(m *ClientHello) { m.CipherSuites[1], m.CipherSuites[2] = m.CipherSuites[2], m.CipherSuites[1] }},
		{"a suite moved to the extensions", func(m *ClientHello) {
			m.Extensions = append([]uint16{m.CipherSuites[4]}, m.Extensions...)
			m.CipherSuites = m.CipherSuites[:4]
		}},
		{"no SNI", func(m *ClientHello) { m.Extensions = slices.Delete(m.Extensions, 1, 2) }},
		{"groups", func(m *ClientHello) { m.SupportedGroups = m.SupportedGroups[1:] }},
		{"point formats", func(m *ClientHello) { m.ECPointFormats = []uint8{0, 1} }},
		{"supported versions", func(m *ClientHello) { m.SupportedVersions = []uint16{0x0303} }},
		{"signature algorithms in another order", func(m *ClientHello) { slices.Reverse(m.SignatureAlgorithms) }},
		{"ALPN", func(m *ClientHello) { m.ALPN = []string{"http/1.1"} }},
		{"ALPN of the same first and last byte", func(m *ClientHello) { m.ALPN = []string{"h3x2"} }},
	} {
		want, got := base(), base()
		tc.change(want)
		tc.change(got)
		if n := len(got.printInputs(nil)); n != got.printLen() {
			t.Errorf("%s: inputs of %d bytes, printLen says %d", tc.name, n, got.printLen())
		}
		want.fingerprint(want.unprinted)
		v.Judge(&Connection{ClientHello: got})
		if got.Fingerprints != want.Fingerprints {
			t.Errorf("%s: got %+v, want %+v", tc.name, got.Fingerprints, want.Fingerprints)
		}
	}
	// The ALPN "h3x2" prints as "h2", as "h2" does: the same fingerprints.
	if st := v.Stats(); st.FingerprintHits != 2 || st.FingerprintMisses != 11 {
		t.Errorf("fingerprints made %d times, reused %d times; want 11 and 2", st.FingerprintMisses, st.FingerprintHits)
	}
	// Hellos of 400 suites each, all different: what is kept, 5 kB each,
	// stays within its bound.
	for i := range 2000 {
		m := base()
		m.CipherSuites = make([]uint16, 400)
		for j := range m.CipherSuites {
			m.CipherSuites[j] = uint16(0x1000 + i + j)
		}
		v.Judge(&Connection{ClientHello: m})
		if v.prints.size > maxPrinted {
			t.Fatalf("%d bytes of fingerprints kept", v.prints.size)
		}
	}
	if n := len(v.prints.m); n == 0 || n > maxPrinted/4000 {
		t.Errorf("%d fingerprints of 5 kB kept", n)
	}
}
