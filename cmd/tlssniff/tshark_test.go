package main

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlssniff/tlssniff/internal/testenv"
	"github.com/tlssniff/tlssniff/parser"
	"github.com/tlssniff/tlssniff/report"
)

// tsharkFields runs tshark on path with a display filter and returns the
// given fields of each matching frame. Only the newline is trimmed: a last
// field may be empty.
func tsharkFields(t *testing.T, path, filter string, fields ...string) [][]string {
	return tsharkWith(t, []string{"-r", path}, filter, fields...)
}

// tsharkWith is tsharkFields with the reading arguments given whole (a
// capture, and options such as a key log).
func tsharkWith(t *testing.T, read []string, filter string, fields ...string) [][]string {
	rows, err := tsharkRows(read, filter, fields...)
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	return rows
}

// tsharkRows is tsharkWith without a test, for other goroutines.
func tsharkRows(read []string, filter string, fields ...string) ([][]string, error) {
	args := append(read, "-Y", filter, "-T", "fields")
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		return nil, err
	}
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if f := strings.Split(line, "\t"); len(f) == len(fields) {
			rows = append(rows, f)
		}
	}
	return rows, nil
}

// tsharkRow is one frame with TLS or DTLS handshake messages, as tshark
// reads it: lists are comma-separated, one entry per message (per DTLS
// fragment) or per certificate.
type tsharkRow struct {
	proto, src, dst, types, ja3, sni, ja3s, version, supportedVersion, suite, alpn, certs, offsets string
}

var tsharkCache sync.Map // capture path: []tsharkRow

// tsharkHandshakes returns the TLS and DTLS handshake frames of a
// capture, running tshark once per capture for all the tests.
func tsharkHandshakes(t *testing.T, path string) []tsharkRow {
	if rows, ok := tsharkCache.Load(path); ok {
		return rows.([]tsharkRow)
	}
	// One run reads both: each field once for TLS and once for DTLS, only
	// one of which a frame fills. tshark lists each DTLS fragment; a
	// message is its fragment at offset 0 (TLS has none).
	fields := []string{"tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport"}
	names := []string{"type", "ja3", "extensions_server_name", "ja3s", "version", "extensions.supported_version",
		"ciphersuite", "extensions_alpn_str", "certificate"}
	for _, p := range []string{"tls", "dtls"} {
		for _, n := range names {
			fields = append(fields, p+".handshake."+n)
		}
	}
	fields = append(fields, "dtls.handshake.fragment_offset")
	var rows []tsharkRow
	for _, f := range tsharkFields(t, path, "tls.handshake.type || dtls.handshake.type", fields...) {
		r := tsharkRow{proto: "tls", src: f[0], dst: f[1]}
		v := f[4 : 4+len(names)]
		if f[4] == "" {
			r = tsharkRow{proto: "dtls", src: f[2], dst: f[3], offsets: f[len(f)-1]}
			v = f[4+len(names) : 4+2*len(names)]
		}
		r.types, r.ja3, r.sni, r.ja3s, r.version, r.supportedVersion, r.suite, r.alpn, r.certs =
			v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]
		rows = append(rows, r)
	}
	tsharkCache.Store(path, rows)
	return rows
}

// tsharkHello is what tshark reads of one connection's hellos: the first
// ClientHello's JA3 and SNI, and the last ServerHello's JA3S, version (the
// supported_versions choice, else the hello's), suite and ALPN, as
// tshark names them (versions and suites in hex).
type tsharkHello struct{ ja3, sni, ja3s, version, suite, alpn string }

// tsharkHellos returns the hellos of each connection by client port.
func tsharkHellos(t *testing.T, path string) map[string]tsharkHello {
	hellos := map[string]tsharkHello{}
	for _, r := range tsharkHandshakes(t, path) {
		types := strings.Split(r.types, ",")
		switch {
		case slices.Contains(types, "1") && !slices.Contains(types, "2"):
			h := hellos[r.src]
			if h.ja3 == "" {
				h.ja3, h.sni = r.ja3, r.sni
			}
			hellos[r.src] = h
		case r.ja3s != "":
			h := hellos[r.dst]
			h.ja3s, h.version, h.suite, h.alpn = r.ja3s, cmp.Or(r.supportedVersion, r.version), r.suite, r.alpn
			hellos[r.dst] = h
		}
	}
	return hellos
}

// hexName names a tshark hex value ("0x1301") with names.
func hexName(v string, names func(uint16) string) string {
	n, err := strconv.ParseUint(strings.TrimPrefix(v, "0x"), 16, 16)
	if err != nil {
		return ""
	}
	return names(uint16(n))
}

// TestAgainstTshark checks JA3, JA3S, SNI and the ServerHello's version,
// suite and ALPN against Wireshark's own dissector on every sample.
func TestAgainstTshark(t *testing.T) {
	testenv.Tool(t, "tshark")
	for _, path := range samples(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			out, _, _ := tlssniff(t, "-r", path, "--json")
			want := tsharkHellos(t, path)
			compared := 0
			for _, c := range parseNDJSON(t, out) {
				port := strconv.Itoa(int(c.Client.Port))
				w, ok := want[port]
				if !ok || c.ClientHello == nil {
					t.Errorf("client port %s: tshark saw no ClientHello", port)
					continue
				}
				got := tsharkHello{ja3: c.ClientHello.JA3, sni: deref(c.SNI)}
				if c.ServerHello != nil {
					got.ja3s, got.version, got.suite, got.alpn = c.ServerHello.JA3S, deref(c.Version), deref(c.CipherSuite), deref(c.ALPN)
				}
				w.version, w.suite = hexName(w.version, parser.VersionName), hexName(w.suite, parser.CipherSuiteName)
				if got != w {
					t.Errorf("client port %s: %+v; tshark %+v", port, got, w)
				}
				compared++
			}
			if compared == 0 {
				t.Error("nothing compared")
			}
		})
	}
}

// deref is *p, or "" for nil.
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// tsharkTimes returns, per client port, the capture times (seconds) of the
// SYN, the SYN/ACK, the first ClientHello, the first ServerHello, and the
// first application_data record from the client and from the server, as
// tshark reads them. Only up to TLS 1.2 are application_data records all
// application data.
func tsharkTimes(t *testing.T, path string) map[string][6]float64 {
	times := map[string][6]float64{}
	for _, f := range tsharkFields(t, path, "(tcp.flags.syn == 1) || tls.handshake.type == 1 || tls.handshake.type == 2 || tls.record.content_type == 23",
		"frame.time_epoch", "tcp.srcport", "tcp.dstport", "tcp.flags.syn", "tcp.flags.ack", "tls.handshake.type", "tls.record.content_type") {
		ts, _ := strconv.ParseFloat(f[0], 64)
		set := func(port string, i int) {
			v := times[port]
			if v[i] == 0 {
				v[i] = ts
			}
			times[port] = v
		}
		switch {
		case f[3] == "1" && f[4] == "0":
			set(f[1], 0)
		case f[3] == "1":
			set(f[2], 1)
		case strings.Contains(f[5], "1") && !strings.Contains(f[5], "2"):
			set(f[1], 2)
		case strings.Contains(f[5], "2"):
			set(f[2], 3)
		case strings.Contains(f[6], "23") && times[f[1]][0] != 0:
			set(f[1], 4) // the client's port knows a SYN
		case strings.Contains(f[6], "23"):
			set(f[2], 5)
		}
	}
	return times
}

// TestTimingAgainstTshark checks the TCP and TLS timings against tshark's
// frame times on real OpenSSL and GnuTLS captures.
func TestTimingAgainstTshark(t *testing.T) {
	testenv.Tool(t, "tshark")
	for _, name := range []string{"openssl.pcap", "gnutls-sll2.pcap", "segments.pcap"} {
		path := "../../samples/" + name
		want := tsharkTimes(t, path)
		out, _, _ := tlssniff(t, "-r", path, "--json")
		for _, c := range parseNDJSON(t, out) {
			w := want[strconv.Itoa(int(c.Client.Port))]
			ms := func(a, b float64) float64 { return (b - a) * 1000 }
			for _, check := range []struct {
				name string
				got  *float64
				want float64
			}{
				{"SYN to SYN/ACK", c.Timing.SYNToSYNACKMS, ms(w[0], w[1])},
				{"SYN to ClientHello", c.Timing.SYNToClientHelloMS, ms(w[0], w[2])},
				{"ClientHello to ServerHello", c.Timing.ClientHelloToServerHelloMS, ms(w[2], w[3])},
				{"client's first data", c.Timing.ClientFirstDataMS, ms(w[0], w[4])},
				{"server's first data", c.Timing.ServerFirstDataMS, ms(w[0], w[5])},
			} {
				if strings.HasSuffix(check.name, "data") && (c.Version == nil || *c.Version != "TLS 1.2") {
					continue
				}
				if check.want < 0 { // tshark saw none
					if check.got != nil {
						t.Errorf("%s port %d: %s %v ms, tshark saw none", name, c.Client.Port, check.name, *check.got)
					}
					continue
				}
				// Both sides hold microseconds; tshark's epoch float keeps them.
				if check.got == nil || math.Abs(*check.got-check.want) > 0.002 {
					t.Errorf("%s port %d: %s %v ms, tshark %.3f ms", name, c.Client.Port, check.name, check.got, check.want)
				}
			}
			if c.Messages[0].Type != "ClientHello" || math.Abs(c.Messages[0].OffsetMS-ms(w[0], w[2])) > 0.002 {
				t.Errorf("%s port %d: ClientHello offset %v", name, c.Client.Port, c.Messages[0].OffsetMS)
			}
		}
	}
}

// handshakeCodes are the handshake message types of RFC 8446, section 4,
// RFC 5246, RFC 6066 and RFC 6347, by the names tlssniff gives them; a
// HelloRetryRequest is a ServerHello on the wire.
var handshakeCodes = map[string]string{"HelloRequest": "0", "ClientHello": "1", "ServerHello": "2",
	"HelloRetryRequest": "2", "HelloVerifyRequest": "3", "NewSessionTicket": "4", "EndOfEarlyData": "5",
	"EncryptedExtensions": "8", "Certificate": "11", "ServerKeyExchange": "12", "CertificateRequest": "13",
	"ServerHelloDone": "14", "CertificateVerify": "15", "ClientKeyExchange": "16", "Finished": "20",
	"CertificateStatus": "22", "KeyUpdate": "24", "CompressedCertificate": "25"}

// fingerprints returns the SHA-256 of each certificate of a tshark
// tls.handshake.certificate field: DER in hex, comma-separated.
func fingerprints(t *testing.T, field string) []string {
	var out []string
	for _, der := range strings.Split(field, ",") {
		if der == "" {
			continue
		}
		b, err := hex.DecodeString(der)
		if err != nil {
			t.Fatalf("tshark certificate %q: %v", der, err)
		}
		sum := sha256.Sum256(b)
		out = append(out, hex.EncodeToString(sum[:]))
	}
	return out
}

// tsharkFlights returns, per connection (its two ports, lower first), the
// handshake message types tshark reads in the clear from each side, in
// order ("client: 1 16 | server: 2 11 12 14"), and the SHA-256 of every
// certificate each side sent.
func tsharkFlights(t *testing.T, path string) (flights map[string]string, certs map[string][]string) {
	type side struct{ msgs, certs []string }
	sides := map[[2]string]*side{} // by sender port, receiver port
	var order [][2]string
	for _, r := range tsharkHandshakes(t, path) {
		k := [2]string{r.src, r.dst}
		if sides[k] == nil {
			sides[k] = &side{}
			order = append(order, k)
		}
		offsets := strings.Split(r.offsets, ",")
		for i, typ := range strings.Split(r.types, ",") {
			if r.proto == "tls" || i < len(offsets) && offsets[i] == "0" {
				sides[k].msgs = append(sides[k].msgs, typ)
			}
		}
		sides[k].certs = append(sides[k].certs, fingerprints(t, r.certs)...)
	}
	flights, certs = map[string]string{}, map[string][]string{}
	for _, k := range order {
		if k[0] > k[1] && sides[[2]string{k[1], k[0]}] != nil {
			continue // the other side of a pair met first
		}
		client, server := sides[k], sides[[2]string{k[1], k[0]}]
		if server == nil {
			server = &side{}
		}
		if len(client.msgs) > 0 && client.msgs[0] != "1" { // the server spoke first in the capture
			client, server = server, client
		}
		key := portPair(k[0], k[1])
		flights[key] = "client: " + strings.Join(client.msgs, " ") + " | server: " + strings.Join(server.msgs, " ")
		certs[key+" client"], certs[key+" server"] = client.certs, server.certs
	}
	return flights, certs
}

func portPair(a, b string) string {
	if len(a) > len(b) || len(a) == len(b) && a > b {
		a, b = b, a
	}
	return a + "-" + b
}

// knownFlightDifferences are where tlssniff and tshark read a sample
// differently on purpose.
var knownFlightDifferences = map[string]string{
	"malformed.pcap 443-50051": "the server's second record has version 0x0903: tlssniff stops reading " +
		"(malformed_record, not_tls_after_start), tshark reads on",
}

// TestFlightsAgainstTshark: the handshake messages tlssniff reads in the
// clear from each side, in order, and the SHA-256 of every certificate of
// both chains, equal tshark's on every sample.
func TestFlightsAgainstTshark(t *testing.T) {
	testenv.Tool(t, "tshark")
	for _, path := range samples(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			out, _, _ := tlssniff(t, "-r", path, "--json")
			flights, certs := tsharkFlights(t, path)
			compared := 0
			for _, c := range parseNDJSON(t, out) {
				var msgs [2][]string
				for _, m := range c.Messages {
					if code, ok := handshakeCodes[m.Type]; ok && !m.Encrypted {
						i := map[string]int{"client": 0, "server": 1}[m.From]
						msgs[i] = append(msgs[i], code)
					}
				}
				key := portPair(strconv.Itoa(int(c.Client.Port)), strconv.Itoa(int(c.Server.Port)))
				got := "client: " + strings.Join(msgs[0], " ") + " | server: " + strings.Join(msgs[1], " ")
				if why, ok := knownFlightDifferences[filepath.Base(path)+" "+key]; ok {
					t.Logf("known: ports %s: %s; tshark %s: %s", key, got, flights[key], why)
					compared++
					continue
				}
				if got != flights[key] {
					t.Errorf("ports %s: %s; tshark %s", key, got, flights[key])
				}
				for who, chain := range map[string][]report.Certificate{"server": c.Certificates, "client": c.ClientCertificates} {
					var sums []string
					for _, cert := range chain {
						sums = append(sums, cert.SHA256)
					}
					if strings.Join(sums, " ") != strings.Join(certs[key+" "+who], " ") {
						t.Errorf("ports %s: %s certificates %v; tshark %v", key, who, sums, certs[key+" "+who])
					}
				}
				compared++
			}
			if compared == 0 {
				t.Error("nothing compared")
			}
		})
	}
}

// TestSuiteNamesAgainstTshark: every cipher suite Wireshark names, the
// IANA registry's own (ARIA, Camellia and ECCPWD among them, which were
// printed as hex), has the same name here; the names Wireshark gives to
// code points the registry does not assign (drafts, national and vendor
// suites, GREASE) stay hex, as the contract says.
func TestSuiteNamesAgainstTshark(t *testing.T) {
	testenv.Tool(t, "tshark")
	out, err := exec.Command("tshark", "-G", "values").Output()
	if err != nil {
		t.Fatal(err)
	}
	notIANA := func(v uint64) bool {
		return v == 0x001c || v == 0x001d || // SSL 3.0 FORTEZZA, reserved
			(v >= 0x0060 && v <= 0x0066) || (v >= 0x0080 && v <= 0x0083) || // export drafts, early GOST
			(v >= 0xcc13 && v <= 0xcc15) || v == 0xc0ff || // ChaCha20 before RFC 7905, EC J-PAKE draft
			v >= 0xe000 || v&0x0f0f == 0x0a0a // SM, Salsa20, FIPS SSL, GREASE
	}
	named := 0
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 4 || f[0] != "V" || f[1] != "tls.handshake.ciphersuite" {
			continue
		}
		v, err := strconv.ParseUint(f[2], 10, 16)
		if err != nil || notIANA(v) {
			continue
		}
		named++
		if got := parser.CipherSuiteName(uint16(v)); got != f[3] {
			t.Errorf("0x%04X: %s, tshark %s", v, got, f[3])
		}
	}
	if named < 300 {
		t.Errorf("tshark named %d suites", named)
	}
}

// TestJoinKeysAgainstTshark: every connection of every sample and corpus
// capture carries the Community ID that Wireshark computes for its packets
// (its communityid protocol, seed 0) — but for tunnelled ones, whose outer
// addresses Wireshark hashes —, ts is its start in epoch seconds with
// microseconds, and no two connections of a capture share a uid.
func TestJoinKeysAgainstTshark(t *testing.T) {
	testenv.Tool(t, "tshark")
	paths := append(samples(t), corpusCaptures(t)...)
	// tshark's start is most of the time: the captures are read four at a
	// time.
	ids := make([]map[string]bool, len(paths))
	errs := make([]error, len(paths))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, path := range paths {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			var rows [][]string
			rows, errs[i] = tsharkRows([]string{"--enable-protocol", "communityid", "-r", path}, "communityid", "communityid")
			ids[i] = map[string]bool{}
			for _, row := range rows {
				for _, id := range strings.Split(row[0], ",") {
					ids[i][id] = true
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("tshark: %v", err)
	}
	checked := 0
	for i, path := range paths {
		out, _, _ := tlssniff(t, "-r", path, "--json")
		uids := map[string]bool{}
		for _, c := range parseNDJSON(t, out) {
			if c.Tunnel == nil && !ids[i][c.CommunityID] {
				t.Errorf("%s: %s:%d > %s:%d: community_id %s, not one tshark computes", filepath.Base(path),
					c.Client.IP, c.Client.Port, c.Server.IP, c.Server.Port, c.CommunityID)
			}
			if !time.Time(c.TS).Equal(time.Time(c.Start).Truncate(time.Microsecond)) {
				t.Errorf("%s: ts %v, start %v", filepath.Base(path), time.Time(c.TS), time.Time(c.Start))
			}
			if uids[c.UID] || len(c.UID) != 18 {
				t.Errorf("%s: uid %q again", filepath.Base(path), c.UID)
			}
			uids[c.UID] = true
			checked++
		}
	}
	if checked < 100 {
		t.Errorf("%d connections checked", checked)
	}
}
