package report

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/olekukonko/tablewriter/pkg/twwidth"

	"github.com/tlssniff/tlssniff/parser"
)

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"www.example.test":    "www.example.test",
		"bücher.example":      "bücher.example",
		"evil\x1b[2J.example": `evil\x1b[2J.example`,
		"line\nbreak":         `line\nbreak`,
		"bad\xffutf8":         `bad\xffutf8`,
		`quote"s are kept`:    `quote"s are kept`,
		"tab\there":           `tab\there`,
		"\u202eright-to-left": `\u202eright-to-left`,
		`back\slash`:          `back\slash`,
	} {
		if got := clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestConnectionNulls(t *testing.T) {
	c := &parser.Connection{Transport: parser.TCP,
		Client: netip.MustParseAddrPort("[2001:db8::1]:40000"), Server: netip.MustParseAddrPort("192.0.2.2:443"),
		Start: time.Date(2026, 3, 1, 12, 0, 0, 5, time.FixedZone("x", 3600))}
	out := new(arena).connection(c)
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{`"start":"2026-03-01T11:00:00.000000005Z"`, `"sni":null`, `"version":null`,
		`"cipher_suite":null`, `"group":null`, `"alpn":null`, `"client_hello":null`, `"sni_matches_cert":null`,
		`"alerts":[]`, `"messages":[]`, `"certificates":[]`, `"timing":{"handshake_ms":null`, `"client":{"ip":"2001:db8::1","port":40000}`} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %s in %s", want, s)
		}
	}
}

// Lists the connection has none of are [], not null, whichever comes first
// out of a sink's reused arena, and nothing of the connection before shows.
func TestEmptyListsFromArena(t *testing.T) {
	var buf bytes.Buffer
	sink := NewJSON(&buf)
	full := &parser.Connection{Transport: parser.TCP, Client: netip.MustParseAddrPort("10.0.0.1:1"), Server: netip.MustParseAddrPort("10.0.0.2:443"),
		ClientHello:  &parser.ClientHello{CipherSuites: []uint16{0x1301, 0x1302}, Extensions: []uint16{0, 10}},
		ServerFlight: &parser.Flight{Records: 1, Messages: []parser.MessageType{parser.MsgServerHello}},
		ServerHello:  &parser.ServerHello{Version: 0x0303, Extensions: []uint16{43}},
		Alerts:       []parser.Alert{{Level: 2, Description: 40}}}
	empty := &parser.Connection{Transport: parser.TCP, Client: netip.MustParseAddrPort("10.0.0.1:2"), Server: netip.MustParseAddrPort("10.0.0.2:443"),
		ClientHello: &parser.ClientHello{}, ServerFlight: &parser.Flight{}}
	for _, c := range []*parser.Connection{empty, full, empty} {
		if err := sink.Write(c); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	for _, i := range []int{0, 2} {
		for _, want := range []string{`"cipher_suites":[]`, `"extensions":[]`, `"server_flight":{"records":0,"bytes":0,"messages":[]}`,
			`"server_hello":null`, `"alerts":[]`} {
			if !strings.Contains(lines[i], want) {
				t.Errorf("line %d: missing %s in %s", i+1, want, lines[i])
			}
		}
	}
	if !strings.Contains(lines[1], `"cipher_suites":["TLS_AES_128_GCM_SHA256","TLS_AES_256_GCM_SHA384"]`) ||
		!strings.Contains(lines[1], `"description":"handshake_failure"`) || !strings.Contains(lines[1], `"extensions":["supported_versions"]`) {
		t.Errorf("line 2: %s", lines[1])
	}
}

func TestJSONOneLinePerConnection(t *testing.T) {
	var buf bytes.Buffer
	sink := NewJSON(&buf)
	c := &parser.Connection{Transport: parser.TCP, Client: netip.MustParseAddrPort("10.0.0.1:1"), Server: netip.MustParseAddrPort("10.0.0.2:443")}
	for i := 0; i < 3; i++ {
		if err := sink.Write(c); err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(buf.String(), "\n"); n != i+1 {
			t.Fatalf("after %d writes, %d lines: output must stream", i+1, n)
		}
	}
}

// TestGlob: * and ? match any character, '/' and '.' included; classes,
// negated classes, quoting and case as a shell glob.
func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		glob, name string
		want       bool
	}{
		{"*", "a/b.example", true},
		{"*.example.com", "www.example.com", true},
		{"*.example.com", "example.com", false},
		{"a?b", "a/b", true},
		{"*/*", "x/y", true},
		{"WWW.*", "www.Example.COM", true},
		{"[a-c]x", "bx", true},
		{"[!a-c]x", "bx", false},
		{"[!a-c]x", "/x", true},
		{`\*`, "*", true},
		{`\*`, "a", false},
		{"a.b", "axb", false},
		{"*", "line\nbreak", true},
		{"(x)+", "(x)+", true},
	} {
		re, err := Glob(tc.glob)
		if err != nil {
			t.Fatalf("%q: %v", tc.glob, err)
		}
		if got := re.MatchString(tc.name); got != tc.want {
			t.Errorf("%q matches %q: %v, want %v", tc.glob, tc.name, got, tc.want)
		}
	}
	for bad, why := range map[string]string{"[a-": "a [ without its ]", `a\`: "a trailing backslash quotes nothing",
		"[]": "an empty [] class", "[!]": "an empty [] class", "[z-a]": "not a glob"} {
		if _, err := Glob(bad); err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("%q: error %v, want %q", bad, err, why)
		}
	}
}

// TestTableNamesTheDecisiveAlert: the table names the alert the outcome is
// built from (the first), not a later one.
func TestTableNamesTheDecisiveAlert(t *testing.T) {
	c, _ := hostileConnection(t)
	c.Outcome = parser.OutcomeAlert
	c.Alerts = []parser.Alert{{From: parser.FromServer, Level: 2, Description: 42}, {From: parser.FromClient, Level: 1, Description: 0}}
	var buf bytes.Buffer
	table := NewTable(&buf)
	if err := table.Write(c); err != nil {
		t.Fatal(err)
	}
	table.Close()
	if out := buf.String(); !strings.Contains(out, "alert bad_certificate from server") || strings.Contains(out, "close_notify") {
		t.Errorf("table:\n%s", out)
	}
}

// TestNoWidthCache: tablewriter's width cache is dropped, and the table
// and summary, which measure wide names, make none again.
func TestNoWidthCache(t *testing.T) {
	c, _ := hostileConnection(t)
	c.ClientHello = &parser.ClientHello{HasServerName: true, ServerName: "日本語.example.test"}
	for _, s := range []Sink{NewTable(io.Discard), NewSummary(io.Discard)} {
		if err := s.Write(c); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if size, capacity, _ := twwidth.GetCacheStats(); size != 0 || capacity != 0 {
		t.Errorf("tablewriter's width cache holds %d strings, room for %d", size, capacity)
	}
}

// TestTableStreamsPastItsRows: a table keeps maxTableRows rows to align
// its columns, then writes them and streams the rest with the same widths,
// keeping none; a table of fewer rows is rendered whole, the same bytes
// as before streaming existed (the goldens), and both align alike.
func TestTableStreamsPastItsRows(t *testing.T) {
	conn := func(i int) *parser.Connection {
		name := strings.Repeat("x", 1+i%37) + ".example.test"
		return &parser.Connection{Start: time.Unix(1700000000, int64(i)*1e6), Client: netip.MustParseAddrPort("10.0.0.1:40000"),
			Server: netip.MustParseAddrPort("192.0.2.1:443"), ClientHello: &parser.ClientHello{HasServerName: true, ServerName: name}}
	}
	var small, big bytes.Buffer
	st, bt := NewTable(&small), NewTable(&big)
	for i := range maxTableRows + 500 {
		if i < 100 {
			st.Write(conn(i))
		}
		bt.Write(conn(i))
		if i >= maxTableRows && len(bt.rows) > 0 {
			t.Fatalf("%d rows kept past %d", len(bt.rows), maxTableRows)
		}
	}
	st.Close()
	bt.Close()
	lines := strings.Split(strings.TrimSuffix(big.String(), "\n"), "\n")
	if len(lines) != 1+maxTableRows+500 || !strings.HasPrefix(lines[0], "START") {
		t.Fatalf("%d lines, the first %q", len(lines), lines[0])
	}
	// Every row's VERSION ("-") is where the header's is, in both tables.
	smallLines := strings.Split(strings.TrimSuffix(small.String(), "\n"), "\n")
	col := strings.Index(lines[0], "VERSION")
	if len(smallLines) != 101 || strings.Index(smallLines[0], "VERSION") != col {
		t.Fatalf("the tables align differently:\n%s\n%s", smallLines[0], lines[0])
	}
	for i, l := range append(lines[1:], smallLines[1:]...) {
		if len(l) <= col || l[col-2:col+2] != "  - " {
			t.Fatalf("row %d: %q, VERSION at %d", i, l, col)
		}
	}
}

// TestTableLaysOutAsTablewriter: a table lays its rows out itself as
// tablewriter, which the summary's tables use, lays out the same rows: the
// same bytes with names of wide, combining and escaped characters. A
// value's leading and trailing spaces, which tablewriter trims, are kept.
func TestTableLaysOutAsTablewriter(t *testing.T) {
	conn := func(i int, name string) *parser.Connection {
		return &parser.Connection{Start: time.Unix(1700000000, int64(i)*1e6), Client: netip.MustParseAddrPort("10.0.0.1:40000"),
			Server: netip.MustParseAddrPort("[2001:db8::1]:443"), ClientHello: &parser.ClientHello{HasServerName: true, ServerName: name}}
	}
	var got, want bytes.Buffer
	tbl := NewTable(&got)
	var rows [][]string
	for i, name := range []string{"a.example.test", "例え.テスト", "e\u0301cole.example", "\U0001F600.example", "x\x1b[2J.example", strings.Repeat("w", 40)} {
		c := conn(i, name)
		tbl.Write(c)
		rows = append(rows, row(c))
	}
	tbl.Close()
	if err := renderTable(&want, tableHeader, rows); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Fatalf("laid out:\n%s\ntablewriter:\n%s", got.String(), want.String())
	}

	var spaced bytes.Buffer
	tbl = NewTable(&spaced)
	tbl.Write(conn(0, " padded "))
	tbl.Close()
	lines := strings.Split(spaced.String(), "\n")
	col := strings.Index(lines[0], "SNI")
	if len(lines) < 2 || !strings.HasPrefix(lines[1][col:], " padded   ") {
		t.Fatalf("the SNI's spaces are not kept:\n%s", spaced.String())
	}
}

// TestTableWithoutRows: a table, streaming or not, writes its header once
// when no connection came (a live one wrote it twice).
func TestTableWithoutRows(t *testing.T) {
	for name, newTable := range map[string]func(io.Writer) *Table{"kept": NewTable, "streaming": NewStreamingTable} {
		var b bytes.Buffer
		if err := newTable(&b).Close(); err != nil {
			t.Fatal(err)
		}
		if lines := strings.Count(b.String(), "\n"); lines != 1 || !strings.HasPrefix(b.String(), "START") {
			t.Errorf("%s: %d lines:\n%s", name, lines, b.String())
		}
	}
}

// appendTime writes what time's formatter writes with timeFormat.
func TestAppendTime(t *testing.T) {
	times := []time.Time{{}, time.Unix(0, 0), time.Unix(1<<40, 999999999), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(2026, 3, 1, 12, 0, 0, 5, time.FixedZone("x", 3600)), time.Date(2026, 12, 3, 7, 8, 9, 10, time.Local)}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		times = append(times, time.Unix(r.Int64N(1<<36)-1<<35, r.Int64N(1e9)))
	}
	for _, tm := range times {
		if got, want := string(appendTime(nil, tm)), tm.UTC().Format(timeFormat); got != want {
			t.Fatalf("%v: %s, want %s", tm, got, want)
		}
	}
}
