package parser

import (
	"crypto/tls"
	"strings"
	"testing"

	"github.com/tlssniff/tlssniff/internal/testenv"
	"github.com/tlssniff/tlssniff/internal/tlstest"
)

// encryptedMessages lists the messages inferred from encrypted records
// before application data, the server's then the client's (the order
// between the two varies): "s:Certificate s:Finished c:Finished".
func encryptedMessages(c *Connection) string {
	var out [2][]string
	for _, m := range c.Messages {
		if m.Encrypted && m.Type.String() != "ApplicationData" {
			out[m.From] = append(out[m.From], map[Direction]string{FromClient: "c:", FromServer: "s:"}[m.From]+m.Type.String())
		}
	}
	return strings.Join(append(out[FromServer], out[FromClient]...), " ")
}

// TestTLS13Inference names the encrypted messages of real TLS 1.3
// handshakes from their record sizes, on each side of each rule in doc.go:
// with and without a certificate request, a client certificate or an empty
// one, resumed by PSK, and suites whose hash or tag changes the size of a
// Finished (SHA-384, CCM_8's 8-byte tag), from crypto/tls and OpenSSL.
func TestTLS13Inference(t *testing.T) {
	p := testPKI(t)
	goSession := func(tweak func(c, s *tls.Config), resume bool) func(t *testing.T) []tlstest.Write {
		return func(t *testing.T) []tlstest.Write {
			c, s := p.Configs("www.example.test", tls.VersionTLS13, tls.VersionTLS13)
			if tweak != nil {
				tweak(c, s)
			}
			if resume {
				c.ClientSessionCache = tls.NewLRUClientSessionCache(1)
				session(t, c, s)
			}
			return session(t, c, s)
		}
	}
	openssl := func(suite string, mutual bool) func(t *testing.T) []tlstest.Write {
		return func(t *testing.T) []tlstest.Write {
			testenv.Tool(t, "openssl")
			server := []string{"-tls1_3", "-ciphersuites", suite, "-num_tickets", "1"}
			client := []string{"-tls1_3", "-ciphersuites", suite, "-servername", "www.example.test"}
			if mutual {
				server = append(server, "-Verify", "1", "-CAfile", "{ca}")
				client = append(client, "-cert", "{cert}", "-key", "{key}")
			}
			w, err := p.OpenSSL(server, client)
			if err != nil {
				t.Fatal(err)
			}
			return w
		}
	}
	const (
		serverFlight = "s:EncryptedExtensions s:Certificate s:CertificateVerify s:Finished"
		askingFlight = "s:EncryptedExtensions s:CertificateRequest s:Certificate s:CertificateVerify s:Finished"
	)
	for _, tc := range []struct {
		name   string
		writes func(t *testing.T) []tlstest.Write
		suite  uint16
		want   string
	}{
		{"crypto/tls", goSession(nil, false), 0x1301, serverFlight + " s:NewSessionTicket c:Finished"},
		{"crypto/tls, client certificate", goSession(func(c, s *tls.Config) {
			s.ClientAuth = tls.RequireAnyClientCert
			c.Certificates = s.Certificates
		}, false), 0x1301, askingFlight + " s:NewSessionTicket c:Certificate c:CertificateVerify c:Finished"},
		{"crypto/tls, asked but no client certificate", goSession(func(c, s *tls.Config) {
			s.ClientAuth = tls.RequestClientCert
		}, false), 0x1301, askingFlight + " s:NewSessionTicket c:Certificate c:Finished"},
		{"crypto/tls, resumed", goSession(nil, true), 0x1301,
			"s:EncryptedExtensions s:Finished s:NewSessionTicket c:Finished"},
		{"OpenSSL, AES-256-GCM-SHA384", openssl("TLS_AES_256_GCM_SHA384", false), 0x1302,
			serverFlight + " s:NewSessionTicket c:Finished"},
		{"OpenSSL, AES-128-CCM-8", openssl("TLS_AES_128_CCM_8_SHA256", false), 0x1305,
			serverFlight + " s:NewSessionTicket c:Finished"},
		{"OpenSSL, CCM_8 and a client certificate", openssl("TLS_AES_128_CCM_8_SHA256", true),
			0x1305, askingFlight + " s:NewSessionTicket c:Certificate c:CertificateVerify c:Finished"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := play(t, tc.writes(t), whole, 0)
			if len(got) != 1 {
				t.Fatalf("emitted %d connections", len(got))
			}
			c := got[0]
			if c.CipherSuite != tc.suite || !c.Established || c.Outcome != OutcomeEstablished {
				t.Errorf("suite %#04x established %v (%s), want suite %#04x established", c.CipherSuite, c.Established,
					c.Outcome, tc.suite)
			}
			if m := encryptedMessages(c); m != tc.want {
				t.Errorf("messages\n%s\nwant\n%s", m, tc.want)
			}
		})
	}
}
