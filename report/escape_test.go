package report

import (
	"bytes"
	"crypto/tls"
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/netip"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tlssniff/tlssniff/internal/tlstest"
	"github.com/tlssniff/tlssniff/parser"
)

// hostileConnection is a real crypto/tls TLS 1.2 connection, parsed, whose
// wire strings are then replaced by what an attacker could send: control
// sequences, a right-to-left override, a formula, invalid UTF-8.
func hostileConnection(t *testing.T) (*parser.Connection, map[string]string) {
	pki, err := tlstest.NewPKI()
	if err != nil {
		t.Fatal(err)
	}
	client, server := pki.Configs("www.example.test", tls.VersionTLS12, tls.VersionTLS12)
	writes, err := tlstest.Session(client, server, 100)
	if err != nil {
		t.Fatal(err)
	}
	var c *parser.Connection
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	conn := parser.NewConn(parser.TCP, netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("10.0.0.2:443"), t0,
		parser.Options{Emit: func(x *parser.Connection) { c = x }})
	for i, w := range writes {
		side := 1
		if w.FromClient {
			side = 0
		}
		conn.Data(side, w.Data, t0.Add(time.Duration(i)*time.Millisecond))
	}
	conn.Close()
	if c == nil || len(c.Certificates) == 0 || c.ServerHello == nil {
		t.Fatal("the session was not parsed")
	}
	evil := map[string]string{
		"sni":     "=sni\x1b[2J\u202etxt.exe\xff",
		"alpn":    "+alpn\x07\x00",
		"subject": "@subject\x1b]0;pwn\x07",
		"issuer":  "-issuer\r\n\x1b[31m",
		"san":     "=san\x1b[1m\u2066",
	}
	c.ClientHello.ServerName, c.ClientHello.ALPN = evil["sni"], []string{evil["alpn"]}
	c.ServerHello.ALPN = evil["alpn"]
	c.Certificates[0].Subject, c.Certificates[0].Issuer = evil["subject"], evil["issuer"]
	c.Certificates[0].SANs = []string{evil["san"]}
	return c, evil
}

// TestEscapingPerView: every view shows the hostile strings escaped, so
// that no control byte, bidi control or invalid UTF-8 reaches a terminal,
// a spreadsheet or a page; CSV cells that would start a formula start with
// a quote; JSON gives back the very bytes.
func TestEscapingPerView(t *testing.T) {
	c, evil := hostileConnection(t)
	raw := regexp.MustCompile("[\x00-\x08\x0b-\x1f\x7f\u202e\u2066]")
	views := map[string]func(*bytes.Buffer) Sink{
		"table":   func(b *bytes.Buffer) Sink { return NewTable(b) },
		"stream":  func(b *bytes.Buffer) Sink { return NewStreamingTable(b) },
		"csv":     func(b *bytes.Buffer) Sink { return NewCSV(b) },
		"ladder":  func(b *bytes.Buffer) Sink { return NewLadder(b, LadderOptions{}) },
		"ascii":   func(b *bytes.Buffer) Sink { return NewLadder(b, LadderOptions{ASCII: true}) },
		"summary": func(b *bytes.Buffer) Sink { return NewSummary(b) },
		"html":    func(b *bytes.Buffer) Sink { return NewHTML(b, "escape test") },
		"json":    func(b *bytes.Buffer) Sink { return NewJSON(b) },
		"zeek":    func(b *bytes.Buffer) Sink { return NewZeekJSON(b) },
		"zeekdir": func(b *bytes.Buffer) Sink { return NewZeekDir(b, b) },
		"ecs":     func(b *bytes.Buffer) Sink { return NewECS(b) },
	}
	// What each view shows of the connection, escaped as for a terminal.
	shows := map[string][]string{
		"table":   {`=sni\x1b[2J\u202etxt.exe\xff`, `+alpn\a\x00`},
		"stream":  {`=sni\x1b[2J\u202etxt.exe\xff`, `+alpn\a\x00`},
		"csv":     {`'=sni\x1b[2J\u202etxt.exe\xff`, `'+alpn\a\x00`, `'@subject\x1b]0;pwn\a`},
		"ladder":  {`=sni\x1b[2J\u202etxt.exe\xff`, `+alpn\a\x00`, `@subject\x1b]0;pwn\a`},
		"ascii":   {`=sni\x1b[2J\u202etxt.exe\xff`, `+alpn\a\x00`, `@subject\x1b]0;pwn\a`},
		"summary": {`=sni\x1b[2J\u202etxt.exe\xff`, `+alpn\a\x00`},
		"html":    {`=sni\x1b[2J\u202etxt.exe\xff`, `+alpn\a\x00`, `@subject\x1b]0;pwn\a`},
		"zeekdir": {`=sni\x1b[2J\xe2\x80\xaetxt.exe\xff`, `+alpn\x07\x00`, `@subject\x1b]0;pwn\x07`},
	}
	for name, view := range views {
		var b bytes.Buffer
		s := view(&b)
		if err := s.Write(c); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		if m := raw.FindString(out); m != "" || !utf8.ValidString(out) {
			t.Errorf("%s: %q or invalid UTF-8 reached the output", name, m)
		}
		for _, want := range shows[name] {
			if !strings.Contains(out, want) && !strings.Contains(out, htmlEscape(want)) {
				t.Errorf("%s: %q not shown:\n%s", name, want, out)
			}
		}
		switch name {
		case "csv":
			rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
			if err != nil || len(rows) != 2 {
				t.Fatalf("CSV: %v, %d rows", err, len(rows))
			}
			for i, cell := range rows[1] {
				if cell != "" && strings.ContainsRune("=+-@", rune(cell[0])) {
					t.Errorf("CSV column %s starts a formula: %q", rows[0][i], cell)
				}
			}
		case "zeek", "ecs":
			// JSON escapes what a terminal must not see; decoded, the
			// strings are as sent (Zeek: invalid bytes as \xHH text; ECS:
			// as U+FFFD).
			var got map[string]any
			if err := json.Unmarshal(b.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			sni, want := got["server_name"], strings.Replace(evil["sni"], "\xff", `\xff`, 1)
			if name == "ecs" {
				sni, want = got["tls"].(map[string]any)["client"].(map[string]any)["server_name"], strings.ToValidUTF8(evil["sni"], "\ufffd")
			}
			if sni != want {
				t.Errorf("%s: server name %q, want %q", name, sni, want)
			}
		case "json":
			var got struct {
				SNI          string `json:"sni"`
				ALPN         string `json:"alpn"`
				Certificates []struct {
					Subject, Issuer string
					SANs            []string `json:"sans"`
				} `json:"certificates"`
			}
			if err := json.Unmarshal(b.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			// Invalid UTF-8 becomes U+FFFD (sni_hex keeps the bytes);
			// everything else comes back as it was sent.
			if got.SNI != strings.ToValidUTF8(evil["sni"], "\ufffd") || got.ALPN != evil["alpn"] ||
				got.Certificates[0].Subject != evil["subject"] || got.Certificates[0].Issuer != evil["issuer"] ||
				got.Certificates[0].SANs[0] != evil["san"] {
				t.Errorf("JSON does not give back the strings: %+v", got)
			}
		}
	}
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;", "+", "&#43;").Replace(s)
}

// A CSV cell that a spreadsheet would read as a formula starts with a
// quote; any other is only escaped.
func TestCSVCell(t *testing.T) {
	for in, want := range map[string]string{"=1+2": "'=1+2", "+1": "'+1", "-1": "'-1", "@SUM(A1)": "'@SUM(A1)",
		"a=1": "a=1", "": "", "\x1b=": `\x1b=`, "h2": "h2"} {
		if got := cell(in); got != want {
			t.Errorf("cell(%q) = %q, want %q", in, got, want)
		}
	}
}

// The histogram's bins are 1, 2 or 5 times a power of ten wide, at most
// histBins of them, from zero to past the slowest; every handshake is in
// the bin of its time; ticks every bin, or every fifth past ten bins.
func TestHistogram(t *testing.T) {
	for in, want := range map[time.Duration]time.Duration{1: 1, 2: 2, 3: 5, 5: 5, 6: 10, 10: 10, 11: 20, 21: 50, 51: 100} {
		if got := roundUp(in); got != want {
			t.Errorf("roundUp(%d) = %d, want %d", in, got, want)
		}
	}
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	for _, tc := range []struct {
		ds     []time.Duration
		counts []int
		width  string // of the first bin, in ms
		ticks  int
	}{
		// 9 ms: 20 bins would be 0.45 ms wide, so 0.5 ms; 19 of them.
		{[]time.Duration{ms(1), ms(3), ms(3.5), ms(9)}, []int{0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, "0.500", 4},
		// 40.3 ms: 2.015 ms, so 5 ms; 9 bins, a tick each.
		{[]time.Duration{ms(20), ms(20.1), ms(40.3)}, []int{0, 0, 0, 0, 2, 0, 0, 0, 1}, "5.000", 10},
		// 20 ms: 1 ms would give 21 bins, so 2 ms; 11 bins.
		{[]time.Duration{ms(20)}, []int{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, "2.000", 3},
		// 45 ms: 2.25 ms, so 5 ms; exactly 10 bins, a tick each.
		{[]time.Duration{ms(45)}, []int{0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, "5.000", 11},
		// 0.5 ms: 25 µs, so 50 µs; 11 bins, the last holding it.
		{[]time.Duration{ms(0.5)}, []int{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, "0.050", 3},
	} {
		q := quantiles{limit: maxExact}
		for _, d := range tc.ds {
			q.add(d)
		}
		h := newHistogram(&q)
		var counts []int
		for _, b := range h.Bars {
			counts = append(counts, b.Count)
		}
		if !reflect.DeepEqual(counts, tc.counts) || len(h.Bars) == 0 || h.Bars[0].To != tc.width || len(h.Ticks) != tc.ticks {
			t.Errorf("%v: counts %v, first bin to %s ms, %d ticks; want %v, %s, %d", tc.ds, counts, h.Bars[0].To,
				len(h.Ticks), tc.counts, tc.width, tc.ticks)
		}
	}
}

// The HTML report draws the first maxDiagrams connections, and lists them
// all.
func TestHTMLDiagramCap(t *testing.T) {
	c, _ := hostileConnection(t)
	var b bytes.Buffer
	h := NewHTML(&b, "cap")
	for range maxDiagrams + 1 {
		h.Write(c)
	}
	if len(h.diagram) != maxDiagrams || h.acc.all.Conns != maxDiagrams+1 {
		t.Errorf("%d diagrams, %d connections", len(h.diagram), h.acc.all.Conns)
	}
}

// failing is a writer that always fails.
type failing struct{}

func (failing) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// A CSV that cannot be written says so, from Write and from Close.
func TestCSVWriteErrors(t *testing.T) {
	c, _ := hostileConnection(t)
	if err := NewCSV(failing{}).Write(c); err == nil {
		t.Error("Write on a failing writer succeeded")
	}
	if err := NewCSV(failing{}).Close(); err == nil {
		t.Error("Close on a failing writer succeeded")
	}
}

// A wire string in Zeek's TSV cannot add a column, a row or a set element,
// nor read as unset or empty.
func TestZeekTSVEscapes(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{"a\tb\nc", `a\x09b\x0ac`},
		{"-", `\x2d`},
		{"(empty)", `\x28empty)`},
		{"", "(empty)"},
		{`back\slash`, `back\x5cslash`},
		{"\xff\xfe", `\xff\xfe`},
		{"a\u202eb", `a\xe2\x80\xaeb`},
		{[]string{"a,b", "c"}, `a\x2cb,c`},
		{[]string{}, "(empty)"},
		{nil, "-"},
		{true, "T"},
	} {
		if got := string(appendZeekTSV(nil, tc.v)); got != tc.want {
			t.Errorf("%q: got %s, want %s", tc.v, got, tc.want)
		}
	}
}
