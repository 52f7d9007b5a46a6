package parser

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tlssniff/tlssniff/internal/testenv"
	"github.com/tlssniff/tlssniff/internal/tlstest"
)

// TestDecryptTLS12 opens real crypto/tls sessions of TLS 1.0, 1.1 and 1.2
// with the master secret their client logged: each side's encrypted
// Finished is read (12 bytes of verify_data), for AES-GCM, ChaCha20-Poly1305
// and AES-CBC with SHA-1 and SHA-256, and an alert after it by name.
func TestDecryptTLS12(t *testing.T) {
	pki := testPKI(t)
	for _, tc := range []struct {
		version uint16
		suite   uint16
	}{
		{tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		{tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384},
		{tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256},
		{tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA},
		{tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256},
		{tls.VersionTLS11, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA},
		{tls.VersionTLS10, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA},
	} {
		c, s := pki.Configs("www.example.test", tc.version, tc.version)
		c.CipherSuites, s.CipherSuites = []uint16{tc.suite}, []uint16{tc.suite}
		writes, keys, _ := keyedSession(t, c, s)
		for name, cut := range map[string]chunker{"whole": whole, "random": randomCuts(5)} {
			got := playWith(t, writes, cut, 0, Options{Keys: keys})[0]
			seq := sequence(got)
			if got.CipherSuite != tc.suite || got.Decryption.Keys != "decrypted" ||
				!strings.Contains(seq, "cChangeCipherSpec c+Finished") || !strings.Contains(seq, "sChangeCipherSpec s+Finished") ||
				!strings.Contains(seq, "c~ApplicationData") || got.Outcome != OutcomeEstablished {
				t.Errorf("%s %s, %s: %+v\n%s", VersionName(tc.version), tls.CipherSuiteName(tc.suite), name, got.Decryption, seq)
			}
			for _, m := range got.Messages {
				if m.Type == MsgFinished && m.Length != 12 {
					t.Errorf("%s %s: a Finished of %d bytes", VersionName(tc.version), tls.CipherSuiteName(tc.suite), m.Length)
				}
			}
		}
	}
}

// TestDecryptTLS12OpenSSL opens OpenSSL's TLS 1.2 sessions for what
// crypto/tls does not send: AES-CCM and CCM_8, AES-256-CBC with SHA-384, and
// encrypt-then-MAC, which OpenSSL negotiates for CBC suites.
func TestDecryptTLS12OpenSSL(t *testing.T) {
	testenv.Tool(t, "openssl")
	pki := testPKI(t)
	for _, tc := range []struct{ cipher, suite string }{
		{"ECDHE-ECDSA-AES128-CCM", "TLS_ECDHE_ECDSA_WITH_AES_128_CCM"},
		{"ECDHE-ECDSA-AES128-CCM8", "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8"},
		{"ECDHE-ECDSA-AES256-SHA384", "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384"},
		{"ECDHE-ECDSA-AES128-SHA", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"},
	} {
		writes, keys := opensslKeyed(t, pki, []string{"-tls1_2", "-cipher", tc.cipher},
			[]string{"-tls1_2", "-cipher", tc.cipher, "-servername", "www.example.test"})
		got := playWith(t, writes, randomCuts(11), 0, Options{Keys: keys})[0]
		seq := sequence(got)
		etm := slices.Contains(got.ServerHello.Extensions, extEncryptThenMAC)
		if CipherSuiteName(got.CipherSuite) != tc.suite || got.Decryption.Keys != "decrypted" ||
			!strings.Contains(seq, "cChangeCipherSpec c+Finished") || !strings.Contains(seq, "sChangeCipherSpec s+Finished") ||
			etm != strings.Contains(tc.suite, "_CBC_") {
			t.Errorf("%s: %+v, encrypt-then-MAC %v\n%s", tc.suite, got.Decryption, etm, seq)
		}
	}
}

// TestDecryptRSAKeyExchange: sessions by OpenSSL with RSA key exchange
// (TLS 1.2 with AES-GCM and SHA-256 or SHA-384, TLS 1.0 with AES-CBC), each
// with the extended master secret OpenSSL always asks for, are opened with
// the server's private key alone, as ssldump and Wireshark do; a key of
// another certificate opens nothing.
func TestDecryptRSAKeyExchange(t *testing.T) {
	testenv.Tool(t, "openssl")
	pki := testPKI(t)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "rsa.example.test"},
		DNSNames: []string{"rsa.example.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "rsa.pem"), filepath.Join(dir, "rsa.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)
	for _, tc := range []struct {
		name   string
		server []string
		client []string
		suite  string
		ems    bool
	}{
		{"GCM, extended master secret", []string{"-tls1_2"}, []string{"-tls1_2", "-cipher", "AES128-GCM-SHA256"},
			"TLS_RSA_WITH_AES_128_GCM_SHA256", true},
		{"GCM with SHA-384", []string{"-tls1_2"}, []string{"-tls1_2", "-cipher", "AES256-GCM-SHA384"},
			"TLS_RSA_WITH_AES_256_GCM_SHA384", true},
		{"TLS 1.0 CBC", []string{"-tls1", "-cipher", "AES128-SHA:@SECLEVEL=0"}, []string{"-tls1", "-cipher", "AES128-SHA:@SECLEVEL=0"},
			"TLS_RSA_WITH_AES_128_CBC_SHA", true},
	} {
		writes, err := pki.OpenSSL(append([]string{"-cert", certFile, "-key", keyFile}, tc.server...), tc.client)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := playWith(t, writes, randomCuts(2), 0, Options{RSAKeys: []*rsa.PrivateKey{other, key}})[0]
		seq := sequence(got)
		ems := slices.Contains(got.ServerHello.Extensions, extExtendedMasterSecret)
		if CipherSuiteName(got.CipherSuite) != tc.suite || ems != tc.ems || got.Decryption.Keys != "decrypted" ||
			!strings.Contains(seq, "c+Finished") || !strings.Contains(seq, "s+Finished") {
			t.Errorf("%s: %s, extended master secret %v, %+v\n%s", tc.name, CipherSuiteName(got.CipherSuite), ems, got.Decryption, seq)
		}
		if none := playWith(t, writes, whole, 0, Options{RSAKeys: []*rsa.PrivateKey{other}})[0]; none.Decryption.Keys != "none" {
			t.Errorf("%s with another key: %+v", tc.name, none.Decryption)
		}
	}
}

// TestDecryptDTLS12 opens OpenSSL DTLS 1.2 sessions over UDP (AES-GCM and
// AES-CBC with SHA-1) with the key log their client wrote: each side's
// Finished, a fragment of epoch 1, is read through the fragment
// reassembly, with the record's own sequence number.
func TestDecryptDTLS12(t *testing.T) {
	testenv.Tool(t, "openssl")
	pki := testPKI(t)
	for _, cipher := range []string{"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-SHA"} {
		keyFile := filepath.Join(t.TempDir(), "dtls.keys")
		all, err := pki.Clients([]string{"-dtls1_2", "-cipher", cipher}, func(ctx context.Context, port int, expand func([]string) []string) *exec.Cmd {
			c := exec.CommandContext(ctx, "openssl", append([]string{"s_client", "-dtls1_2", "-no_ign_eof", "-connect",
				fmt.Sprintf("127.0.0.1:%d", port), "-cipher", cipher, "-keylogfile", keyFile}, expand([]string{"-CAfile", "{ca}"})...)...)
			c.Stdin = tlstest.Typed("hello")
			return c
		})
		if err != nil {
			t.Fatal(err)
		}
		keys := readKeyFile(t, keyFile)
		var got *Connection
		conn := NewConn(UDP, clientAddr, serverAddr, t0, Options{Keys: keys, Emit: func(x *Connection) { got = x }})
		for i, w := range all[0] {
			conn.Data(map[bool]int{true: 0, false: 1}[w.FromClient], w.Data, t0.Add(time.Duration(i)*time.Millisecond))
		}
		conn.Close()
		seq := sequence(got)
		if VersionName(got.Version) != "DTLS 1.2" || got.Decryption.Keys != "decrypted" ||
			!strings.Contains(seq, "cChangeCipherSpec c+Finished") || !strings.Contains(seq, "sChangeCipherSpec s+Finished") {
			t.Errorf("%s: %s %s, %+v\n%s", cipher, VersionName(got.Version), CipherSuiteName(got.CipherSuite), got.Decryption, seq)
		}
	}
}

// TestDecryptRenegotiation: TLS 1.2 sessions renegotiated inside their
// encryption, each read whole with its own keys: OpenSSL clients (their
// "R" command, after a line of data, in AES-GCM and in AES-CBC, whose
// records after the data are opened by sequence number) and gnutls-cli
// (--rehandshake); an OpenSSL server asking (its "R" command: a
// HelloRequest), which resumes the session by its ticket, or, without
// tickets or a session cache, requests the client's certificate, which
// fills client_certificates; and an OpenSSL server that refuses client
// renegotiation (its default), its no_renegotiation alert read by name.
func TestDecryptRenegotiation(t *testing.T) {
	testenv.Tool(t, "openssl")
	testenv.Tool(t, "gnutls-cli")
	pki := testPKI(t)
	const full = "c+ClientHello s+ServerHello s+Certificate s+ServerKeyExchange s+ServerHelloDone c+ClientKeyExchange " +
		"cChangeCipherSpec c+Finished s+NewSessionTicket sChangeCipherSpec s+Finished"
	gnutls := func(keyFile string) tlstest.ClientCmd {
		return func(ctx context.Context, port int, _ func([]string) []string) *exec.Cmd {
			c := exec.CommandContext(ctx, "gnutls-cli", "--insecure", "--rehandshake", "--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.2",
				"-p", strconv.Itoa(port), "127.0.0.1")
			c.Env = append(os.Environ(), "SSLKEYLOGFILE="+keyFile)
			c.Stdin = tlstest.Typed()
			return c
		}
	}
	for _, tc := range []struct {
		name   string
		server []string
		typed  string // into the server
		client func(keyFile string) tlstest.ClientCmd
		by     Direction
		want   string // the renegotiation's messages
	}{
		{"openssl gcm", []string{"-client_renegotiation"}, "", opensslClient("ECDHE-ECDSA-AES128-GCM-SHA256", "hello", "R"), FromClient,
			"c~ApplicationData " + full},
		{"openssl cbc", []string{"-client_renegotiation"}, "", opensslClient("ECDHE-ECDSA-AES128-SHA", "hello", "R"), FromClient,
			"c~ApplicationData " + full},
		{"gnutls-cli", []string{"-client_renegotiation"}, "", gnutls, FromClient, "s+Finished " + full},
		{"server, resumed", nil, "R", opensslClient("ECDHE-ECDSA-AES128-GCM-SHA256", "hello", "hello"), FromServer,
			"c~ApplicationData s+HelloRequest c+ClientHello s+ServerHello sChangeCipherSpec s+Finished cChangeCipherSpec c+Finished " +
				"c~ApplicationData"},
		{"server, client certificate", []string{"-no_ticket", "-no_cache"}, "R",
			opensslClient("ECDHE-ECDSA-AES128-GCM-SHA256", "hello", "hello"), FromServer,
			"c~ApplicationData s+HelloRequest c+ClientHello s+ServerHello s+Certificate s+ServerKeyExchange s+CertificateRequest " +
				"s+ServerHelloDone c+Certificate c+ClientKeyExchange c+CertificateVerify cChangeCipherSpec c+Finished sChangeCipherSpec " +
				"s+Finished c~ApplicationData"},
		{"refused", nil, "", opensslClient("ECDHE-ECDSA-AES128-GCM-SHA256", "hello", "R"), FromClient,
			"c+ClientHello s+Alert c+Alert"},
	} {
		keyFile := filepath.Join(t.TempDir(), "client.keys")
		all, err := pki.ClientsTyping(tc.server, tc.typed, tc.client(keyFile))
		refused := tc.name == "refused"
		if (err != nil && !refused) || len(all) == 0 || len(all[0]) == 0 { // a refused client fails
			t.Fatalf("%s: %v", tc.name, err)
		}
		for name, cut := range map[string]chunker{"whole": whole, "random": randomCuts(3)} {
			got := playWith(t, all[0], cut, 0, Options{Keys: readKeyFile(t, keyFile)})[0]
			seq := sequence(got)
			if len(got.Renegotiations) != 1 || got.Decryption.Keys != "decrypted" {
				t.Fatalf("%s, %s: %+v %+v\n%s", tc.name, name, got.Renegotiations, got.Decryption, seq)
			}
			r := got.Renegotiations[0]
			if r.By != tc.by || r.Refused != refused || r.Established == refused || !strings.Contains(seq, tc.want) ||
				r.Resumed != strings.Contains(tc.name, "resumed") || got.Outcome != OutcomeEstablished {
				t.Errorf("%s, %s: %+v\n got  %s\n want %s", tc.name, name, r, seq, tc.want)
			}
			if !refused && (r.Version != got.Version || r.CipherSuite != got.CipherSuite || strings.Count(seq, "+Finished") != 4) {
				t.Errorf("%s, %s: %+v\n%s", tc.name, name, r, seq)
			}
			if refused && !slices.ContainsFunc(got.Alerts, func(a Alert) bool { return AlertName(a.Description) == "no_renegotiation" && a.Decrypted }) {
				t.Errorf("%s, %s: no no_renegotiation alert: %+v\n%s", tc.name, name, got.Alerts, seq)
			}
			if certificate := strings.Contains(tc.name, "certificate"); certificate != (len(got.ClientCertificates) > 0) {
				t.Errorf("%s, %s: %d client certificates", tc.name, name, len(got.ClientCertificates))
			}
		}
	}
}

// opensslClient is an OpenSSL TLS 1.2 client, with the PKI's certificate
// for a server that asks for one, that types lines ("R" renegotiates),
// then closes.
func opensslClient(cipher string, lines ...string) func(keyFile string) tlstest.ClientCmd {
	return func(keyFile string) tlstest.ClientCmd {
		return func(ctx context.Context, port int, expand func([]string) []string) *exec.Cmd {
			c := exec.CommandContext(ctx, "openssl", append([]string{"s_client", "-no_ign_eof", "-tls1_2", "-cipher", cipher,
				"-connect", fmt.Sprintf("127.0.0.1:%d", port), "-keylogfile", keyFile}, expand([]string{"-cert", "{cert}", "-key", "{key}"})...)...)
			c.Stdin = tlstest.Typed(lines...)
			return c
		}
	}
}
