package parser

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlssniff/tlssniff/internal/tlstest"
)

var (
	pkiOnce sync.Once
	pki     *tlstest.PKI
)

func testPKI(t testing.TB) *tlstest.PKI {
	pkiOnce.Do(func() {
		var err error
		if pki, err = tlstest.NewPKI(); err != nil {
			t.Fatal(err)
		}
	})
	return pki
}

var (
	clientAddr = netip.MustParseAddrPort("10.0.0.1:40000")
	serverAddr = netip.MustParseAddrPort("10.0.0.2:443")
	t0         = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

// chunker cuts one write into the pieces fed to the parser.
type chunker func(b []byte) [][]byte

func whole(b []byte) [][]byte { return [][]byte{b} }

func every(n, first int) chunker {
	return func(b []byte) [][]byte {
		var out [][]byte
		if first > 0 && len(b) > first {
			out, b = append(out, b[:first]), b[first:]
		}
		for len(b) > 0 {
			k := min(n, len(b))
			out, b = append(out, b[:k]), b[k:]
		}
		return out
	}
}

func randomCuts(seed uint64) chunker {
	r := rand.New(rand.NewPCG(seed, seed))
	return func(b []byte) [][]byte {
		var out [][]byte
		for len(b) > 0 {
			k := min(1+r.IntN(300), len(b))
			out, b = append(out, b[:k]), b[k:]
		}
		return out
	}
}

// play feeds recorded writes into a Conn, each write at its own time and
// cut by cut, client on side clientSide; it returns what was emitted.
func play(t testing.TB, writes []tlstest.Write, cut chunker, clientSide int) []*Connection {
	return playWith(t, writes, cut, clientSide, Options{})
}

// playWith is play with a Conn configured by opts (Emit is set here).
func playWith(t testing.TB, writes []tlstest.Write, cut chunker, clientSide int, opts Options) []*Connection {
	t.Helper()
	var out []*Connection
	a, b := clientAddr, serverAddr
	if clientSide == 1 {
		a, b = b, a
	}
	opts.Emit = func(conn *Connection) { out = append(out, conn) }
	c := NewConn(TCP, a, b, t0, opts)
	for i, w := range writes {
		side := clientSide
		if !w.FromClient {
			side = 1 - clientSide
		}
		ts := t0.Add(time.Duration(i) * time.Millisecond)
		for _, piece := range cut(w.Data) {
			c.Data(side, piece, ts)
		}
	}
	c.Close()
	return out
}

func session(t testing.TB, client, server *tls.Config) []tlstest.Write {
	t.Helper()
	writes, err := tlstest.Session(client, server, 2000)
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	return writes
}

// history is Zeek's ssl_history of the messages read in the clear: client
// letters upper case, server lower case.
func history(c *Connection) string {
	letters := map[string]string{"ClientHello": "C", "ServerHello": "S", "HelloRetryRequest": "J",
		"Certificate": "X", "ServerKeyExchange": "K", "CertificateRequest": "R", "ServerHelloDone": "N",
		"ClientKeyExchange": "G", "Finished": "F", "NewSessionTicket": "T", "ChangeCipherSpec": "I", "Alert": "L"}
	var b strings.Builder
	for _, m := range c.Messages {
		if m.Encrypted {
			continue
		}
		l := letters[m.Type.String()]
		if m.From == FromServer {
			l = strings.ToLower(l)
		}
		b.WriteString(l)
	}
	return b.String()
}

type scenario struct {
	name        string
	writes      func(t testing.TB) []tlstest.Write
	version     uint16
	established bool
	resumed     bool
	history     string
	alert       string
}

func scenarios() []scenario {
	full := func(sni string, v uint16, tweak func(c, s *tls.Config)) func(t testing.TB) []tlstest.Write {
		return func(t testing.TB) []tlstest.Write {
			c, s := testPKI(t).Configs(sni, v, v)
			if tweak != nil {
				tweak(c, s)
			}
			return session(t, c, s)
		}
	}
	resumed := func(v uint16) func(t testing.TB) []tlstest.Write {
		return func(t testing.TB) []tlstest.Write {
			c, s := testPKI(t).Configs("resume.example.test", v, v)
			c.ClientSessionCache = tls.NewLRUClientSessionCache(1)
			session(t, c, s)
			return session(t, c, s)
		}
	}
	return []scenario{
		{name: "TLS 1.2", writes: full("www.example.test", tls.VersionTLS12, nil), version: 0x0303,
			established: true, history: "CsxknGIi"},
		{name: "TLS 1.3", writes: full("www.example.test", tls.VersionTLS13, nil), version: 0x0304,
			established: true, history: "CsiI"},
		{name: "HelloRetryRequest", writes: full("hrr.example.test", tls.VersionTLS13, func(c, s *tls.Config) {
			c.CurvePreferences = []tls.CurveID{tls.X25519, tls.CurveP256}
			s.CurvePreferences = []tls.CurveID{tls.CurveP256}
			// After the HelloRetryRequest the server writes its
			// compatibility ChangeCipherSpec while the client writes its
			// own and the second ClientHello: the server's may come before,
			// between or after those two, and its ServerHello after them
			// all. The three orders are every one sockets can give.
		}), version: 0x0304, established: true, history: "CjiICs|CjIiCs|CjICis"},
		// RFC 5077: the resumed TLS 1.2 handshake is abbreviated, the server
		// sends a new ticket before its ChangeCipherSpec.
		{name: "TLS 1.2 resumed by ticket", writes: resumed(tls.VersionTLS12), version: 0x0303,
			established: true, resumed: true, history: "CstiI"},
		{name: "TLS 1.3 resumed by PSK", writes: resumed(tls.VersionTLS13), version: 0x0304,
			established: true, resumed: true, history: "CsiI"},
		{name: "untrusted certificate", writes: func(t testing.TB) []tlstest.Write {
			c, s := testPKI(t).Configs("www.example.test", tls.VersionTLS12, tls.VersionTLS12)
			c.RootCAs = x509.NewCertPool()
			w, err := tlstest.Session(c, s, 10)
			if err == nil {
				t.Fatal("handshake with an untrusted CA succeeded")
			}
			return w
		}, version: 0x0303, history: "CsxknL", alert: "bad_certificate"},
	}
}

func TestConnScenarios(t *testing.T) {
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			writes := sc.writes(t)
			got := play(t, writes, whole, 0)
			if len(got) != 1 {
				t.Fatalf("emitted %d connections, want 1", len(got))
			}
			c := got[0]
			if c.Version != sc.version || c.Established != sc.established || c.Resumed != sc.resumed {
				t.Errorf("version %s established %v resumed %v, want %s %v %v", VersionName(c.Version),
					c.Established, c.Resumed, VersionName(sc.version), sc.established, sc.resumed)
			}
			if h := history(c); !slices.Contains(strings.Split(sc.history, "|"), h) {
				t.Errorf("history %q, want %q", h, sc.history)
			}
			var alert string
			if len(c.Alerts) > 0 {
				alert = AlertName(c.Alerts[len(c.Alerts)-1].Description)
			}
			if alert != sc.alert {
				t.Errorf("last alert %q, want %q", alert, sc.alert)
			}
			if len(c.Issues) > 0 {
				t.Errorf("issues on a clean capture: %+v", c.Issues)
			}
			if sni, _ := c.SNI(); c.ClientHello == nil || sni == "" || c.ClientHello.JA4 == "" {
				t.Errorf("ClientHello not decoded: %+v", c.ClientHello)
			}
			if c.Client != clientAddr || c.Server != serverAddr {
				t.Errorf("client %v server %v", c.Client, c.Server)
			}

			// The same bytes cut any other way give the same connection.
			for name, cut := range map[string]chunker{"bytes": every(1, 0), "pairs at even offsets": every(2, 0),
				"pairs at odd offsets": every(2, 1), "random cuts": randomCuts(uint64(len(writes)))} {
				other := play(t, writes, cut, 0)
				if len(other) != 1 || !sameConnection(c, other[0]) {
					t.Errorf("fed as %s: result differs", name)
				}
			}
			// The ClientHello sender is the client, whatever side it came from.
			flipped := play(t, writes, whole, 1)
			if len(flipped) != 1 || flipped[0].Client != clientAddr || history(flipped[0]) != history(c) {
				t.Errorf("client on side 1: got %+v", flipped)
			}
		})
	}
}

// sameConnection compares what a chunking may not change.
func sameConnection(a, b *Connection) bool {
	return reflect.DeepEqual(a.Messages, b.Messages) && reflect.DeepEqual(a.Alerts, b.Alerts) &&
		reflect.DeepEqual(a.Issues, b.Issues) && a.Version == b.Version && a.CipherSuite == b.CipherSuite &&
		a.Established == b.Established && a.Resumed == b.Resumed && a.ClientHello.JA4R == b.ClientHello.JA4R &&
		len(a.Certificates) == len(b.Certificates)
}

func TestConnCertificatesAndGroup(t *testing.T) {
	c, s := testPKI(t).Configs("www.example.test", tls.VersionTLS12, tls.VersionTLS12)
	c.CurvePreferences = []tls.CurveID{tls.CurveP384}
	conn := play(t, session(t, c, s), whole, 0)[0]
	if len(conn.Certificates) != 2 || conn.Certificates[0].Subject != "CN=www.example.test" ||
		conn.Certificates[1].Subject != "CN=tlssniff sample CA" {
		t.Fatalf("chain: %+v", conn.Certificates)
	}
	leaf := conn.Certificates[0]
	if leaf.KeyType != "ECDSA" || leaf.KeyBits != 256 || len(leaf.SANs) != 2 || len(leaf.SHA256) != 64 {
		t.Errorf("leaf: %+v", leaf)
	}
	if m, ok := conn.SNIMatchesCert(); !ok || !m {
		t.Errorf("SNI www.example.test not matched by *.example.test")
	}
	if !conn.HasGroup || GroupName(conn.Group) != "secp384r1" {
		t.Errorf("group %s, want secp384r1 from the ServerKeyExchange", GroupName(conn.Group))
	}
	if alpn, ok := conn.ALPN(); !ok || alpn != "h2" {
		t.Errorf("ALPN %q", alpn)
	}
	if d := conn.Timing.Handshake; d == nil || *d <= 0 {
		t.Errorf("handshake duration %v", d)
	}
}

// Every strict prefix of the client's first flight must leave the parser
// waiting for more: no message, no issue.
func TestConnStrictPrefixes(t *testing.T) {
	c, s := testPKI(t).Configs("www.example.test", tls.VersionTLS13, tls.VersionTLS13)
	hello := session(t, c, s)[0].Data
	for n := 1; n < len(hello); n++ {
		var got []*Connection
		conn := NewConn(TCP, clientAddr, serverAddr, t0, Options{Emit: func(c *Connection) { got = append(got, c) }})
		conn.Data(0, hello[:n], t0)
		if len(conn.c.Messages) != 0 || len(conn.c.Issues) != 0 || len(got) != 0 {
			t.Fatalf("prefix of %d/%d bytes: messages %v issues %v", n, len(hello), conn.c.Messages, conn.c.Issues)
		}
	}
}

func TestConnNotTLS(t *testing.T) {
	for _, tc := range []struct {
		name   string
		client string
		server string
	}{
		{"HTTP", "GET / HTTP/1.1\r\nHost: example.test\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n"},
		{"SSH", "SSH-2.0-OpenSSH_9.2\r\n", "SSH-2.0-OpenSSH_9.2\r\n"},
		{"binary", "\x16\x03", "\x00\x01\x02\x03\x04\x05\x06"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []*Connection
			conn := NewConn(TCP, clientAddr, serverAddr, t0, Options{Emit: func(c *Connection) { got = append(got, c) }})
			conn.Data(0, []byte(tc.client), t0)
			conn.Data(1, []byte(tc.server), t0)
			conn.Close()
			if len(got) != 0 {
				t.Errorf("reported %+v", got[0])
			}
		})
	}
}

// A malformed record after a good ClientHello is recorded on the connection,
// which is still reported.
func TestConnMalformedRecord(t *testing.T) {
	c, s := testPKI(t).Configs("www.example.test", tls.VersionTLS12, tls.VersionTLS12)
	writes := session(t, c, s)
	var got []*Connection
	conn := NewConn(TCP, clientAddr, serverAddr, t0, Options{Emit: func(c *Connection) { got = append(got, c) }})
	conn.Data(0, writes[0].Data, t0)
	conn.Data(1, writes[1].Data, t0)
	if more := conn.Data(1, []byte("\x16\x09\x09garbage that is no record"), t0); more {
		t.Error("parser still wants a side whose records are malformed")
	}
	conn.Close()
	if len(got) != 1 || len(got[0].Issues) != 1 || got[0].Issues[0].Kind.String() != "malformed_record" {
		t.Fatalf("got %+v", got)
	}
	if !strings.Contains(got[0].Issues[0].Detail, "16 09 09") {
		t.Errorf("detail does not quote the header: %q", got[0].Issues[0].Detail)
	}
}

// A gap inside the server's flight is reported with the message it hit, and
// the parser picks up again at the next record.
func TestConnGap(t *testing.T) {
	c, s := testPKI(t).Configs("www.example.test", tls.VersionTLS12, tls.VersionTLS12)
	writes := session(t, c, s)
	var got []*Connection
	conn := NewConn(TCP, clientAddr, serverAddr, t0, Options{Emit: func(c *Connection) { got = append(got, c) }})
	conn.Data(0, writes[0].Data, t0)
	flight := writes[1].Data
	conn.Data(1, flight[:100], t0) // ServerHello and the start of Certificate
	conn.Gap(1, 300, t0)
	// Resume at the record holding ServerKeyExchange: Go writes one record
	// per message, so find the next header after the lost bytes.
	rest := flight[400:]
	i := findRecordHeader(rest)
	if i < 0 {
		t.Fatal("no record header after the gap")
	}
	conn.Data(1, rest, t0)
	conn.Close()
	if len(got) != 1 {
		t.Fatalf("emitted %d", len(got))
	}
	var gaps []Issue
	for _, is := range got[0].Issues {
		if is.Kind.String() == "gap" {
			gaps = append(gaps, is)
		}
	}
	if len(gaps) != 1 || !strings.Contains(gaps[0].Detail, "Certificate") || gaps[0].From != FromServer {
		t.Fatalf("gap issues %+v", got[0].Issues)
	}
	if h := history(got[0]); !strings.HasSuffix(h, "kn") {
		t.Errorf("history %q: the messages after the gap were not read", h)
	}
}

// Preambles: TLS after a SOCKS5 exchange on both sides is found and noted.
func TestConnPreamble(t *testing.T) {
	c, s := testPKI(t).Configs("www.example.test", tls.VersionTLS13, tls.VersionTLS13)
	writes := session(t, c, s)
	var got []*Connection
	conn := NewConn(TCP, clientAddr, serverAddr, t0, Options{Emit: func(c *Connection) { got = append(got, c) }})
	conn.Data(0, []byte("\x05\x01\x00"), t0)
	conn.Data(1, []byte("\x05\x00"), t0)
	for _, w := range writes {
		side := 0
		if !w.FromClient {
			side = 1
		}
		conn.Data(side, w.Data, t0)
	}
	conn.Close()
	if len(got) != 1 || !got[0].Established {
		t.Fatalf("got %+v", got)
	}
	var details []string
	for _, is := range got[0].Issues {
		details = append(details, fmt.Sprintf("%s %s %s", is.From, is.Kind, is.Detail))
	}
	want := []string{"client preamble 3 bytes before the first TLS record (a proxy or STARTTLS exchange)",
		"server preamble 2 bytes before the first TLS record (a proxy or STARTTLS exchange)"}
	if !reflect.DeepEqual(details, want) {
		t.Errorf("issues %q, want %q", details, want)
	}
}

// Heartbeat records and a HelloRequest, spliced into a real TLS 1.2 session
// where they travel in the clear.
func TestConnHeartbeatAndHelloRequest(t *testing.T) {
	c, s := testPKI(t).Configs("www.example.test", tls.VersionTLS12, tls.VersionTLS12)
	writes := session(t, c, s)
	heartbeat := tlstest.Write{FromClient: true, Data: []byte{24, 3, 3, 0, 3, 1, 0, 0}}
	helloRequest := tlstest.Write{FromClient: false, Data: []byte{22, 3, 3, 0, 4, 0, 0, 0, 0}}
	spliced := append([]tlstest.Write{writes[0], helloRequest, heartbeat}, writes[1:]...)
	conn := play(t, spliced, whole, 0)[0]
	var types []string
	for _, m := range conn.Messages[:4] {
		types = append(types, m.From.String()+" "+m.Type.String())
	}
	want := []string{"client ClientHello", "server HelloRequest", "client Heartbeat", "server ServerHello"}
	if !reflect.DeepEqual(types, want) || !conn.Established {
		t.Errorf("messages %v, established %v", types, conn.Established)
	}
}
