package parser

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tlssniff/tlssniff/internal/testenv"
	"github.com/tlssniff/tlssniff/internal/tlstest"
	"github.com/tlssniff/tlssniff/keylog"
)

// keyedSession runs a real crypto/tls session whose client writes its key
// log, and returns the writes and the log read back.
func keyedSession(t *testing.T, client, server *tls.Config) ([]tlstest.Write, *keylog.Log, []byte) {
	t.Helper()
	var text bytes.Buffer
	client.KeyLogWriter = &text
	writes, _ := tlstest.Session(client, server, 2000) // a client that rejects the server fails: its writes are still wanted
	l := keylog.New()
	if _, err := l.Read(bytes.NewReader(text.Bytes()), "go.keys", func(e *keylog.LineError) { t.Error(e) }); err != nil {
		t.Fatal(err)
	}
	return writes, l, text.Bytes()
}

// sequence lists a connection's messages with their source: c/s for the
// side, then + read from an opened record, ~ inferred, nothing in the clear.
func sequence(c *Connection) string {
	var out []string
	for _, m := range c.Messages {
		mark := ""
		switch {
		case m.Decrypted:
			mark = "+"
		case m.Encrypted:
			mark = "~"
		}
		out = append(out, m.From.String()[:1]+mark+m.Type.String())
	}
	return strings.Join(out, " ")
}

// checkDecrypted checks a TLS 1.3 connection opened with keys: the server's
// flight, its tickets when wanted, and the client's Finished are read, not
// inferred, with the ALPN and the certificate chain.
func checkDecrypted(t *testing.T, name string, conn *Connection, leafDER []byte, chain int, tickets bool) {
	t.Helper()
	seq := sequence(conn)
	if !strings.HasPrefix(seq, "cClientHello sServerHello") ||
		!strings.Contains(seq, "s+EncryptedExtensions s+Certificate s+CertificateVerify s+Finished") ||
		!strings.Contains(seq, "c+Finished") || !strings.Contains(seq, "c~ApplicationData") ||
		strings.Contains(seq, "EncryptedHandshake") || strings.Contains(seq, "s~NewSessionTicket") ||
		strings.Contains(seq, "s+NewSessionTicket") != tickets {
		t.Errorf("%s: %s", name, seq)
	}
	alpn, _ := conn.ALPN()
	leaf := sha256.Sum256(leafDER)
	if conn.Decryption.Keys != "decrypted" || len(conn.Certificates) != chain ||
		conn.Certificates[0].SHA256 != hex.EncodeToString(leaf[:]) || conn.Outcome != OutcomeEstablished ||
		conn.ServerFlight != nil || (len(conn.SessionTickets) > 0) != tickets || alpn == "" {
		t.Errorf("%s: decryption %+v, ALPN %q, %d certificates, outcome %s, flight %+v, %d tickets", name,
			conn.Decryption, alpn, len(conn.Certificates), conn.Outcome, conn.ServerFlight, len(conn.SessionTickets))
	}
}

// TestDecryptTLS13 opens real TLS 1.3 sessions with the key log their
// client wrote, in every chunking: crypto/tls with and without tickets,
// and OpenSSL with each suite this package opens.
func TestDecryptTLS13(t *testing.T) {
	pki := testPKI(t)
	for _, tickets := range []bool{false, true} {
		c, s := pki.Configs("www.example.test", tls.VersionTLS13, tls.VersionTLS13)
		if tickets {
			c.ClientSessionCache = tls.NewLRUClientSessionCache(1) // else crypto/tls servers send none
		}
		writes, keys, _ := keyedSession(t, c, s)
		for name, cut := range map[string]chunker{"whole": whole, "byte by byte": every(1, 0), "random": randomCuts(7)} {
			got := playWith(t, writes, cut, 0, Options{Keys: keys})
			if len(got) != 1 {
				t.Fatalf("%s: %d connections", name, len(got))
			}
			checkDecrypted(t, fmt.Sprintf("crypto/tls, tickets %v, %s", tickets, name), got[0], pki.Server.Certificate[0], 2, tickets)
		}
	}
	testenv.Tool(t, "openssl")
	for _, suite := range []string{"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
		"TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256"} {
		writes, keys := opensslKeyed(t, pki, []string{"-tls1_3", "-ciphersuites", suite, "-num_tickets", "2", "-alpn", "h2"},
			[]string{"-tls1_3", "-ciphersuites", suite, "-servername", "www.example.test", "-alpn", "h2"})
		got := playWith(t, writes, randomCuts(3), 0, Options{Keys: keys})[0]
		if CipherSuiteName(got.CipherSuite) != suite {
			t.Errorf("negotiated %s, want %s", CipherSuiteName(got.CipherSuite), suite)
		}
		checkDecrypted(t, "OpenSSL "+suite, got, pki.Server.Certificate[0], 1, true) // s_server sends its leaf alone
	}
}

// opensslKeyed runs openssl s_server and s_client (tlstest.PKI.OpenSSL)
// with the client writing its key log, and returns the writes and the log.
func opensslKeyed(t *testing.T, pki *tlstest.PKI, server, client []string) ([]tlstest.Write, *keylog.Log) {
	t.Helper()
	keyFile := filepath.Join(t.TempDir(), "openssl.keys")
	writes, err := pki.OpenSSL(server, append(client, "-keylogfile", keyFile))
	if err != nil {
		t.Fatal(err)
	}
	return writes, readKeyFile(t, keyFile)
}

// TestDecryptionRefused: secrets of another session, secrets that do not
// authenticate the records, and no key log leave the handshake inferred as
// without keys, and say why.
func TestDecryptionRefused(t *testing.T) {
	pki := testPKI(t)
	c, s := pki.Configs("www.example.test", tls.VersionTLS13, tls.VersionTLS13)
	writes, _, text := keyedSession(t, c, s)
	c, s = pki.Configs("www.example.test", tls.VersionTLS13, tls.VersionTLS13)
	_, other, _ := keyedSession(t, c, s)
	plain := sequence(play(t, writes, whole, 0)[0])

	wrong := keylog.New()
	var flipped []string
	for _, line := range strings.Split(strings.TrimSpace(string(text)), "\n") {
		f := strings.Fields(line)
		flipped = append(flipped, f[0]+" "+f[1]+" "+strings.Repeat("00", len(f[2])/2))
	}
	wrong.Read(strings.NewReader(strings.Join(flipped, "\n")), "zeros.keys", func(e *keylog.LineError) { t.Error(e) })

	for _, tc := range []struct {
		name string
		keys *keylog.Log
		want Decryption
	}{
		{"no key log", nil, Decryption{Keys: "none", Detail: "no key log given"}},
		{"another session's", other, Decryption{Keys: "none", Detail: "no key log line for this ClientHello random"}},
		{"wrong secrets", wrong, Decryption{Keys: "mismatch", Detail: "the server's records did not authenticate with the key log's secrets"}},
	} {
		got := playWith(t, writes, whole, 0, Options{Keys: tc.keys})[0]
		if got.Decryption != tc.want || sequence(got) != plain {
			t.Errorf("%s: %+v\n%s\nwant %s", tc.name, got.Decryption, sequence(got), plain)
		}
	}
}

// TestDecryptRejectedCertificate: a client that distrusts the server's
// chain says why in an alert only keys can read.
func TestDecryptRejectedCertificate(t *testing.T) {
	c, s := testPKI(t).Configs("www.example.test", tls.VersionTLS13, tls.VersionTLS13)
	c.RootCAs = nil // the system's roots: the test CA is unknown
	writes, keys, _ := keyedSession(t, c, s)
	got := playWith(t, writes, whole, 0, Options{Keys: keys})[0]
	if len(got.Alerts) != 1 || AlertName(got.Alerts[0].Description) != "bad_certificate" || !got.Alerts[0].Decrypted ||
		got.Outcome != OutcomeAlert || got.Alerts[0].From != FromClient {
		t.Errorf("alerts %+v, outcome %s (%s)\n%s", got.Alerts, got.Outcome, got.OutcomeDetail, sequence(got))
	}
}

// FuzzDecrypt feeds a real keyed TLS 1.3 or TLS 1.2 session whose bytes
// the fuzzer changes, with its keys (and, with OpenSSL, a TLS 1.2 session
// that renegotiates): records that no longer open fall back to inference,
// whatever the bytes; nothing panics and one connection comes out.
func FuzzDecrypt(f *testing.F) {
	var text bytes.Buffer
	var sessions [][]tlstest.Write
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		c, s := testPKI(f).Configs("www.example.test", v, v)
		c.KeyLogWriter = &text
		c.ClientSessionCache = tls.NewLRUClientSessionCache(1)
		writes, err := tlstest.Session(c, s, 100)
		if err != nil {
			f.Fatal(err)
		}
		sessions = append(sessions, writes)
	}
	if _, err := exec.LookPath("openssl"); err == nil {
		keyFile := filepath.Join(f.TempDir(), "reneg.keys")
		all, err := testPKI(f).ClientsTyping([]string{"-client_renegotiation"}, "",
			opensslClient("ECDHE-ECDSA-AES128-GCM-SHA256", "hello", "R")(keyFile))
		keys, _ := os.ReadFile(keyFile)
		if err != nil || len(keys) == 0 {
			f.Fatalf("a renegotiated session: %v", err)
		}
		text.Write(keys)
		sessions = append(sessions, all[0])
	}
	for _, writes := range sessions {
		var client, server []byte
		for _, w := range writes {
			if w.FromClient {
				client = append(client, w.Data...)
			} else {
				server = append(server, w.Data...)
			}
		}
		f.Add(client, server, uint16(0), uint8(0))
	}
	keys := keylog.New()
	keys.Read(bytes.NewReader(text.Bytes()), "go.keys", func(*keylog.LineError) {})
	f.Fuzz(func(t *testing.T, client, server []byte, at uint16, flip uint8) {
		if len(server) > 0 {
			server = bytes.Clone(server)
			server[int(at)%len(server)] ^= flip
		}
		emitted := 0
		conn := NewConn(TCP, clientAddr, serverAddr, t0, Options{Keys: keys, Emit: func(*Connection) { emitted++ }})
		for len(client) > 0 || len(server) > 0 {
			n := min(700, len(client))
			conn.Data(0, client[:n], t0)
			client = client[n:]
			n = min(700, len(server))
			conn.Data(1, server[:n], t0)
			server = server[n:]
		}
		conn.Close()
		if emitted > 1 {
			t.Fatalf("emitted %d times", emitted)
		}
	})
}

// TestKeysThatCome: with a key log still being followed, a TLS 1.3
// connection whose secrets are written after its first protected records
// holds them and reads them once the secrets come, even at its end; when
// they never come it reads as without keys.
func TestKeysThatCome(t *testing.T) {
	c, s := testPKI(t).Configs("www.example.test", tls.VersionTLS13, tls.VersionTLS13)
	writes, _, text := keyedSession(t, c, s)
	without := sequence(play(t, writes, whole, 0)[0])
	ref := keylog.New()
	ref.Read(bytes.NewReader(text), "go.keys", func(e *keylog.LineError) { t.Error(e) })
	decrypted := sequence(playWith(t, writes, whole, 0, Options{Keys: ref})[0])
	for _, tc := range []struct {
		name  string
		after int // the write after which the key log gets its lines; -1 never
		want  string
	}{
		{"after the server's flight", 1, decrypted},
		{"after the client's Finished", 2, decrypted},
		{"after every write", len(writes) - 1, decrypted},
		{"never", -1, without},
	} {
		keys := keylog.New()
		var got *Connection
		conn := NewConn(TCP, clientAddr, serverAddr, t0, Options{Keys: keys, KeysFollowed: true, Emit: func(x *Connection) { got = x }})
		for i, w := range writes {
			conn.Data(map[bool]int{true: 0, false: 1}[w.FromClient], w.Data, t0.Add(time.Duration(i)*time.Millisecond))
			if i == tc.after {
				keys.Read(bytes.NewReader(text), "live.keys", func(e *keylog.LineError) { t.Error(e) })
			}
		}
		conn.Close()
		if seq := sequence(got); seq != tc.want {
			t.Errorf("%s:\n got  %s\n want %s", tc.name, seq, tc.want)
		}
	}
}

// TestDecryptOtherClients opens sessions of curl (on OpenSSL) and
// gnutls-cli, which write SSLKEYLOGFILE, against openssl s_server, in TLS
// 1.3 and TLS 1.2.
func TestDecryptOtherClients(t *testing.T) {
	pki := testPKI(t)
	for _, tc := range []struct {
		tool, version string
		args          func(port int) []string
	}{
		{"curl", "TLS 1.3", func(port int) []string {
			return []string{"-s", "-o", "/dev/null", "--tlsv1.3", "--cacert", "{ca}", "--resolve",
				fmt.Sprintf("www.example.test:%d:127.0.0.1", port), fmt.Sprintf("https://www.example.test:%d/", port)}
		}},
		{"curl", "TLS 1.2", func(port int) []string {
			return []string{"-s", "-o", "/dev/null", "--tls-max", "1.2", "--cacert", "{ca}", "--resolve",
				fmt.Sprintf("www.example.test:%d:127.0.0.1", port), fmt.Sprintf("https://www.example.test:%d/", port)}
		}},
		{"gnutls-cli", "TLS 1.3", func(port int) []string {
			return []string{"--insecure", "--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.3", "-p", strconv.Itoa(port), "127.0.0.1"}
		}},
		{"gnutls-cli", "TLS 1.2", func(port int) []string {
			return []string{"--insecure", "--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.2", "-p", strconv.Itoa(port), "127.0.0.1"}
		}},
	} {
		testenv.Tool(t, tc.tool)
		keyFile := filepath.Join(t.TempDir(), tc.tool+".keys")
		writes, err := pki.Client([]string{"-alpn", "http/1.1"}, func(ctx context.Context, port int, expand func([]string) []string) *exec.Cmd {
			c := exec.CommandContext(ctx, tc.tool, expand(tc.args(port))...)
			c.Env = append(os.Environ(), "SSLKEYLOGFILE="+keyFile)
			c.Stdin = strings.NewReader("GET / HTTP/1.0\r\n\r\n")
			return c
		})
		if err != nil {
			t.Fatalf("%s %s: %v", tc.tool, tc.version, err)
		}
		keys := readKeyFile(t, keyFile)
		got := playWith(t, writes, whole, 0, Options{Keys: keys})[0]
		seq := sequence(got)
		if VersionName(got.Version) != tc.version || got.Decryption.Keys != "decrypted" || len(got.Certificates) == 0 ||
			!strings.Contains(seq, "c+Finished") || !strings.Contains(seq, "s+Finished") {
			t.Errorf("%s %s: %s, %+v, %d certificates\n%s", tc.tool, tc.version, VersionName(got.Version), got.Decryption,
				len(got.Certificates), seq)
		}
	}
}

// TestDecryptHRRAndResumption: a HelloRetryRequest handshake and a
// resumption by PSK, both crypto/tls, are read with their key logs: the
// retried handshake's whole flight, and the resumed one's EncryptedExtensions
// and Finished without a certificate.
func TestDecryptHRRAndResumption(t *testing.T) {
	pki := testPKI(t)
	c, s := pki.Configs("www.example.test", tls.VersionTLS13, tls.VersionTLS13)
	c.CurvePreferences, s.CurvePreferences = []tls.CurveID{tls.X25519, tls.CurveP256}, []tls.CurveID{tls.CurveP256}
	writes, keys, _ := keyedSession(t, c, s)
	hrr := playWith(t, writes, randomCuts(9), 0, Options{Keys: keys})[0]
	if seq := sequence(hrr); hrr.HelloRetryRequest == nil || hrr.Decryption.Keys != "decrypted" || len(hrr.Certificates) != 2 ||
		!strings.Contains(seq, "s+EncryptedExtensions s+Certificate s+CertificateVerify s+Finished") {
		t.Errorf("HRR: %+v\n%s", hrr.Decryption, seq)
	}
	c, s = pki.Configs("www.example.test", tls.VersionTLS13, tls.VersionTLS13)
	c.ClientSessionCache = tls.NewLRUClientSessionCache(1)
	keyedSession(t, c, s) // the ticket
	writes, keys, _ = keyedSession(t, c, s)
	resumed := playWith(t, writes, whole, 0, Options{Keys: keys})[0]
	if seq := sequence(resumed); !resumed.Resumed || resumed.Decryption.Keys != "decrypted" || len(resumed.Certificates) != 0 ||
		!strings.Contains(seq, "s+EncryptedExtensions s+Finished") || !strings.Contains(seq, "c+Finished") {
		t.Errorf("resumed: %v, %+v\n%s", resumed.Resumed, resumed.Decryption, seq)
	}
}

// TestDecryptEarlyData: an OpenSSL client resumes with 0-RTT data, and its
// key log opens the client's records after the ServerHello with the early
// secret up to its EndOfEarlyData, then with the handshake secret.
func TestDecryptEarlyData(t *testing.T) {
	testenv.Tool(t, "openssl")
	pki := testPKI(t)
	dir := t.TempDir()
	sess, early, keyFile := filepath.Join(dir, "sess.pem"), filepath.Join(dir, "early.txt"), filepath.Join(dir, "openssl.keys")
	os.WriteFile(early, []byte("GET / HTTP/1.0\r\n\r\n"), 0o600)
	client := func(args ...string) tlstest.ClientCmd {
		return func(ctx context.Context, port int, expand func([]string) []string) *exec.Cmd {
			c := exec.CommandContext(ctx, "openssl", append([]string{"s_client", "-no_ign_eof", "-connect",
				fmt.Sprintf("127.0.0.1:%d", port), "-tls1_3", "-servername", "www.example.test", "-keylogfile", keyFile},
				expand(append([]string{"-CAfile", "{ca}"}, args...))...)...)
			c.Stdin = tlstest.Typed("hello")
			return c
		}
	}
	all, err := pki.Clients([]string{"-tls1_3", "-early_data", "-num_tickets", "1"},
		client("-sess_out", sess), client("-sess_in", sess, "-early_data", early))
	if err != nil {
		t.Fatal(err)
	}
	keys := readKeyFile(t, keyFile)
	got := playWith(t, all[1], whole, 0, Options{Keys: keys})[0]
	seq := sequence(got)
	if !got.EarlyData.Accepted || got.EarlyData.Records == 0 || !got.Resumed || got.Decryption.Keys != "decrypted" ||
		!strings.Contains(seq, "c+EndOfEarlyData") || !strings.Contains(seq, "c+Finished") || !strings.Contains(seq, "s+Finished") {
		t.Errorf("early data %+v, resumed %v, %+v\n%s", got.EarlyData, got.Resumed, got.Decryption, seq)
	}
}

// readKeyFile reads the key log a client wrote, which must hold a secret.
func readKeyFile(t *testing.T, name string) *keylog.Log {
	t.Helper()
	text, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	keys := keylog.New()
	if n, _ := keys.Read(bytes.NewReader(text), name, func(e *keylog.LineError) { t.Error(e) }); n == 0 {
		t.Fatalf("no secret in the key log %s", name)
	}
	return keys
}

// TestDecryptKeyUpdate: an OpenSSL client that updates its keys right after
// the handshake (its "k" command) and then closes: the KeyUpdate is read,
// and the close_notify after it opens with the next secret.
func TestDecryptKeyUpdate(t *testing.T) {
	testenv.Tool(t, "openssl")
	pki := testPKI(t)
	keyFile := filepath.Join(t.TempDir(), "openssl.keys")
	writes, err := pki.Client(nil, func(ctx context.Context, port int, expand func([]string) []string) *exec.Cmd {
		c := exec.CommandContext(ctx, "openssl", append([]string{"s_client", "-no_ign_eof", "-tls1_3", "-connect",
			fmt.Sprintf("127.0.0.1:%d", port), "-keylogfile", keyFile}, expand([]string{"-CAfile", "{ca}"})...)...)
		c.Stdin = strings.NewReader("k\n")
		return c
	})
	if err != nil {
		t.Fatal(err)
	}
	got := playWith(t, writes, whole, 0, Options{Keys: readKeyFile(t, keyFile)})[0]
	seq := sequence(got)
	// The client's own messages in order: the server's tickets may come
	// between them, as the two sides write at once.
	var client []string
	for _, m := range strings.Fields(seq) {
		if strings.HasPrefix(m, "c") {
			client = append(client, m)
		}
	}
	if got.Decryption.Keys != "decrypted" || !strings.Contains(seq, "c+Finished") ||
		!strings.Contains(strings.Join(client, " "), "c+KeyUpdate c+Alert") ||
		AlertName(got.Alerts[0].Description) != "close_notify" {
		t.Errorf("%+v\n%s", got.Decryption, seq)
	}
}
