package report

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

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
	} {
		if got := clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewConnectionNulls(t *testing.T) {
	c := &parser.Connection{Transport: "tcp",
		Client: netip.MustParseAddrPort("[2001:db8::1]:40000"), Server: netip.MustParseAddrPort("192.0.2.2:443"),
		Start: time.Date(2026, 3, 1, 12, 0, 0, 5, time.FixedZone("x", 3600))}
	out := NewConnection(c)
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

func TestJSONOneLinePerConnection(t *testing.T) {
	var buf bytes.Buffer
	sink := NewJSON(&buf)
	c := &parser.Connection{Transport: "tcp", Client: netip.MustParseAddrPort("10.0.0.1:1"), Server: netip.MustParseAddrPort("10.0.0.2:443")}
	for i := 0; i < 3; i++ {
		if err := sink.Write(c); err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(buf.String(), "\n"); n != i+1 {
			t.Fatalf("after %d writes, %d lines: output must stream", i+1, n)
		}
	}
}
