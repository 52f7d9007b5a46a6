package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tlssniff/tlssniff/internal/testenv"
	"github.com/tlssniff/tlssniff/internal/tlstest"
	"github.com/tlssniff/tlssniff/report"
)

// keyedCapture runs real crypto/tls TLS 1.3 sessions whose clients write
// their key logs (one with a client certificate and tickets), writes them
// to a pcap, and returns its path and the key log's.
func keyedCapture(t *testing.T) (pcap, keys string) {
	t.Helper()
	pki, err := tlstest.NewPKI()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pcap, keys = filepath.Join(dir, "keyed.pcap"), filepath.Join(dir, "keyed.keys")
	var log bytes.Buffer
	a := newAttackWriter(t, pcap)
	server := netip.MustParseAddrPort("192.0.2.1:443")
	for i, mutual := range []bool{false, true} {
		c, s := pki.Configs("keyed.example.test", tls.VersionTLS13, tls.VersionTLS13)
		c.KeyLogWriter = &log
		if mutual {
			s.ClientAuth = tls.RequireAnyClientCert
			c.Certificates = s.Certificates
			c.ClientSessionCache = tls.NewLRUClientSessionCache(1)
		}
		writes, err := tlstest.Session(c, s, 3000)
		if err != nil {
			t.Fatal(err)
		}
		a.session(netip.MustParseAddrPort("10.0.0."+strconv.Itoa(i+1)+":40000"), server, writes)
	}
	a.close()
	if err := os.WriteFile(keys, log.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return pcap, keys
}

// TestKeylogAgainstTshark decrypts real TLS 1.3 sessions with their key log
// and checks every handshake message, the ALPN and the certificate chains
// against tshark's decryption of the same capture with the same key log.
func TestKeylogAgainstTshark(t *testing.T) {
	testenv.Tool(t, "tshark")
	pcap, keys := keyedCapture(t)
	out, stderr, code := tlssniff(t, "-r", pcap, "--keylog", keys, "--json", "-v")
	if code != 0 || !strings.Contains(stderr, "decryption: 2 connections decrypted, 0 without keys") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	// Both sessions' servers, and the mutual one's client, send one chain
	// of two: parsed once, judged once per side's use.
	if !strings.Contains(stderr, "certificates: 2 parsed, 4 reused; chains: 1 verified, 2 verdicts reused") {
		t.Errorf("the chain was not parsed and judged once:\n%s", stderr)
	}
	conns := parseNDJSON(t, out)
	if len(conns) != 2 {
		t.Fatalf("%d connections", len(conns))
	}
	rows := tsharkWith(t, []string{"-r", pcap, "-o", "tls.keylog_file:" + keys}, "tls.handshake.type",
		"ip.src", "ip.dst", "tls.handshake.type", "tls.handshake.extensions_alpn_str", "tls.handshake.certificate")
	for _, c := range conns {
		var ours, theirs []string
		for _, m := range c.Messages {
			if m.Type != "ChangeCipherSpec" && m.Type != "ApplicationData" {
				ours = append(ours, m.From+" "+handshakeCodes[m.Type])
				if m.Encrypted || (m.Type != "ClientHello" && m.Type != "ServerHello" && !m.Decrypted) {
					t.Errorf("%s: %s %s not read with keys: %+v", c.Client.IP, m.From, m.Type, m)
				}
			}
		}
		var alpn string
		var certs [][]string // by sender: client first
		for _, r := range rows {
			var from string
			switch {
			case r[0] == c.Client.IP && r[1] == c.Server.IP:
				from = "client"
			case r[0] == c.Server.IP && r[1] == c.Client.IP:
				from = "server"
			default:
				continue
			}
			r = r[1:]
			for _, code := range strings.Split(r[1], ",") {
				theirs = append(theirs, from+" "+code)
			}
			if r[2] != "" {
				alpn = r[2]
			}
			if r[3] != "" {
				certs = append(certs, append([]string{from}, fingerprints(t, r[3])...))
			}
		}
		if strings.Join(ours, ", ") != strings.Join(theirs, ", ") {
			t.Errorf("%s: messages\n ours   %s\n tshark %s", c.Client.IP, strings.Join(ours, ", "), strings.Join(theirs, ", "))
		}
		if c.ALPN == nil || *c.ALPN != alpn || c.Decryption.Keys != "decrypted" {
			t.Errorf("%s: ALPN %v (tshark %q), decryption %+v", c.Client.IP, c.ALPN, alpn, c.Decryption)
		}
		for _, chain := range certs {
			got := c.Certificates
			if chain[0] == "client" {
				got = c.ClientCertificates
			}
			var fps []string
			for _, g := range got {
				fps = append(fps, g.SHA256)
			}
			if strings.Join(fps, ",") != strings.Join(chain[1:], ",") {
				t.Errorf("%s: %s chain %v, tshark %v", c.Client.IP, chain[0], fps, chain[1:])
			}
		}
		if len(certs) == 0 || c.Validation == nil {
			t.Errorf("%s: no certificates decrypted (tshark %d chains)", c.Client.IP, len(certs))
		}
	}
}

// TestDecryptionSecretsBlock: the key log injected into a pcapng by
// editcap --inject-secrets decrypts without --keylog, as in tshark.
func TestDecryptionSecretsBlock(t *testing.T) {
	testenv.Tool(t, "editcap")
	pcap, keys := keyedCapture(t)
	ng := filepath.Join(t.TempDir(), "secrets.pcapng")
	if out, err := exec.Command("editcap", "--inject-secrets", "tls,"+keys, pcap, ng).CombinedOutput(); err != nil {
		t.Fatalf("editcap: %v\n%s", err, out)
	}
	out, stderr, code := tlssniff(t, "-r", ng, "--json", "-v")
	if code != 0 || !strings.Contains(stderr, "decryption: 2 connections decrypted") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, c := range parseNDJSON(t, out) {
		if c.Decryption.Keys != "decrypted" || len(c.Certificates) == 0 || c.ALPN == nil {
			t.Errorf("%s: decryption %+v, %d certificates, ALPN %v", c.Client.IP, c.Decryption, len(c.Certificates), c.ALPN)
		}
	}
	// Without the block, the same packets are not decrypted.
	out, _, _ = tlssniff(t, "-r", pcap, "--json")
	for _, c := range parseNDJSON(t, out) {
		if c.Decryption.Keys != "none" || c.Decryption.Detail != "no key log given" || len(c.Certificates) != 0 {
			t.Errorf("%s without keys: %+v, %d certificates", c.Client.IP, c.Decryption, len(c.Certificates))
		}
	}
}

// TestCorpusSecretsAgainstTshark: the corpus captures whose pcapng carries
// its key log in a Decryption Secrets Block (Chrome to Cloudflare over TCP
// and QUIC, Chrome to YouTube) are decrypted without --keylog, every
// handshake message as tshark reads it with the same block, the tickets
// QUIC sends in 1-RTT packets included; and each chain, brotli-compressed
// or not, is the one tshark reads.
func TestCorpusSecretsAgainstTshark(t *testing.T) {
	testenv.Tool(t, "tshark")
	decrypted := 0
	for _, path := range corpusCaptures(t) {
		if !strings.HasSuffix(path, ".pcapng") {
			continue
		}
		out, _, _ := tlssniff(t, "-r", path, "--json")
		conns := parseNDJSON(t, out)
		if !slices.ContainsFunc(conns, func(c report.Connection) bool { return c.Decryption.Keys == "decrypted" }) {
			continue
		}
		decrypted++
		compareDecrypted(t, path, conns)
	}
	if decrypted < 2 {
		t.Errorf("%d corpus captures decrypted by their Decryption Secrets Blocks, want 2", decrypted)
	}
}

// compareDecrypted checks the decrypted connections of a capture against
// tshark's reading of it.
func compareDecrypted(t *testing.T, path string, conns []report.Connection) {
	name := filepath.Base(path)
	rows := tsharkFields(t, path, "tls.handshake.type", "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport",
		"tls.handshake.type", "tls.handshake.certificate")
	for _, c := range conns {
		if c.Decryption.Keys != "decrypted" {
			continue
		}
		var ours, theirs []string
		certs := 0
		for _, m := range c.Messages {
			if code, ok := handshakeCodes[m.Type]; ok {
				ours = append(ours, m.From[:1]+code)
			}
		}
		for _, r := range rows {
			ports := r[0] + ">" + r[1]
			if c.Transport == "udp" {
				ports = r[2] + ">" + r[3]
			}
			r = r[2:]
			client, server := strconv.Itoa(int(c.Client.Port)), strconv.Itoa(int(c.Server.Port))
			from := ""
			switch ports {
			case client + ">" + server:
				from = "c"
			case server + ">" + client:
				from = "s"
			default:
				continue
			}
			for _, code := range strings.Split(r[2], ",") {
				theirs = append(theirs, from+code)
			}
			if r[3] != "" {
				fps := fingerprints(t, r[3])
				var got []string
				for _, cert := range c.Certificates {
					got = append(got, cert.SHA256)
				}
				if strings.Join(got, ",") != strings.Join(fps, ",") || c.Validation == nil || c.SNIMatchesCert == nil {
					t.Errorf("%s %s: chain %v, tshark %v", name, c.Transport, got, fps)
				}
				certs++
			}
		}
		if strings.Join(ours, " ") != strings.Join(theirs, " ") || c.ALPN == nil || certs == 0 {
			t.Errorf("%s %s: ALPN %v, %d chains\n ours   %s\n tshark %s", name, c.Transport, c.ALPN, certs,
				strings.Join(ours, " "), strings.Join(theirs, " "))
		}
	}
}

// TestRenegotiationAgainstTshark: TLS 1.2 sessions of OpenSSL and GnuTLS
// clients that renegotiate, their key logs injected into the pcapng, read
// message by message as tshark reads them, both chains included; the JSON
// lists the renegotiation and the ladder says so.
func TestRenegotiationAgainstTshark(t *testing.T) {
	testenv.Tool(t, "openssl")
	testenv.Tool(t, "gnutls-cli")
	testenv.Tool(t, "editcap")
	pki, err := tlstest.NewPKI()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keys := filepath.Join(dir, "clients.keys")
	all, err := pki.Clients([]string{"-client_renegotiation", "-alpn", "http/1.1"},
		func(ctx context.Context, port int, _ func([]string) []string) *exec.Cmd {
			c := exec.CommandContext(ctx, "openssl", "s_client", "-no_ign_eof", "-tls1_2", "-alpn", "http/1.1",
				"-servername", "www.example.test", "-connect", fmt.Sprintf("127.0.0.1:%d", port), "-keylogfile", keys)
			c.Stdin = tlstest.Typed("R")
			return c
		},
		func(ctx context.Context, port int, _ func([]string) []string) *exec.Cmd {
			c := exec.CommandContext(ctx, "gnutls-cli", "--insecure", "--rehandshake", "--alpn", "http/1.1", "--sni-hostname", "www.example.test",
				"--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.2", "-p", strconv.Itoa(port), "127.0.0.1")
			c.Env = append(os.Environ(), "SSLKEYLOGFILE="+keys)
			c.Stdin = tlstest.Typed()
			return c
		})
	if err != nil {
		t.Fatal(err)
	}
	pcap, ng := filepath.Join(dir, "reneg.pcap"), filepath.Join(dir, "reneg.pcapng")
	a := newAttackWriter(t, pcap)
	for i, writes := range all {
		a.session(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), uint16(40000+i)), attackServer, writes)
	}
	a.close()
	if out, err := exec.Command("editcap", "--inject-secrets", "tls,"+keys, pcap, ng).CombinedOutput(); err != nil {
		t.Fatalf("editcap: %v\n%s", err, out)
	}
	out, _, _ := tlssniff(t, "-r", ng, "--json")
	conns := parseNDJSON(t, out)
	if len(conns) != 2 {
		t.Fatalf("%d connections", len(conns))
	}
	compareDecrypted(t, ng, conns)
	for _, c := range conns {
		if len(c.Renegotiations) != 1 || !c.Renegotiations[0].Established || c.Renegotiations[0].By != "client" ||
			*c.Renegotiations[0].CipherSuite != *c.CipherSuite {
			t.Errorf("%s: %+v", c.Client.IP, c.Renegotiations)
		}
	}
	ladder, _, _ := tlssniff(t, "-r", ng, "--ladder")
	if n := strings.Count(ladder, "renegotiated by client at "); n != 2 || strings.Contains(ladder, "malformed") {
		t.Errorf("%d ladders say the client renegotiated\n%s", n, ladder)
	}
}

// TestKeylogThatDoesNotFit: a key log of another capture warns once that it
// matches no connection; one cut in the middle of a line warns about that
// line, with its file and number and no secret, and decrypts what its
// whole lines allow; neither writes a secret anywhere.
func TestKeylogThatDoesNotFit(t *testing.T) {
	pcap, keys := keyedCapture(t)
	_, otherKeys := keyedCapture(t)
	out, stderr, code := tlssniff(t, "-r", pcap, "--keylog", otherKeys, "--json")
	if code != 0 || strings.Count(stderr, "no connection's ClientHello random is in the key log") != 1 {
		t.Errorf("another capture's key log: exit %d\n%s", code, stderr)
	}
	for _, c := range parseNDJSON(t, out) {
		if c.Decryption.Keys != "none" || c.Decryption.Detail != "no key log line for this ClientHello random" {
			t.Errorf("another capture's key log: %+v", c.Decryption)
		}
	}
	text, err := os.ReadFile(keys)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(text), "\n")
	cut := filepath.Join(t.TempDir(), "cut.keys")
	// The first connection's lines whole, then half a line of the second's.
	first := lines[:4]
	half := lines[4][:len(lines[4])/2]
	os.WriteFile(cut, []byte(strings.Join(first, "")+half), 0o600)
	out, stderr, code = tlssniff(t, "-r", pcap, "--keylog", cut, "--json")
	if code != 0 || !strings.Contains(stderr, "tlssniff: warning: "+cut+":5: ") {
		t.Errorf("a cut key log: exit %d\n%s", code, stderr)
	}
	var got []string
	for _, c := range parseNDJSON(t, out) {
		got = append(got, c.Decryption.Keys)
	}
	if strings.Join(got, " ") != "decrypted none" {
		t.Errorf("a cut key log: %q", got)
	}
	for _, line := range lines {
		if f := strings.Fields(line); len(f) == 3 && (strings.Contains(stderr, f[2][:16]) || strings.Contains(out, f[2][:16])) {
			t.Errorf("a secret in the output")
		}
	}
}

// TestRSAKeyFlag: --rsa-key takes a PEM file holding an RSA private key;
// anything else is a usage error with a hint.
func TestRSAKeyFlag(t *testing.T) {
	notKey := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(notKey, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o600)
	_, stderr, code := tlssniff(t, "-r", "../../samples/tls12.pcap", "--rsa-key", notKey)
	if code != 2 || !strings.Contains(stderr, "tlssniff: error: --rsa-key "+notKey+": no RSA private key in it\ntlssniff: hint: ") {
		t.Errorf("exit %d\n%s", code, stderr)
	}
	key, _ := rsa.GenerateKey(rand.Reader, 1024)
	good := filepath.Join(t.TempDir(), "server.key")
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	os.WriteFile(good, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	if _, stderr, code := tlssniff(t, "-r", "../../samples/tls12.pcap", "--rsa-key", good); code != 0 {
		t.Errorf("a PKCS #8 key: exit %d\n%s", code, stderr)
	}
}
