package parser

import (
	"crypto/tls"
	"strings"
	"testing"

	"github.com/tlssniff/tlssniff/internal/tlstest"
)

// Tests of what captures from the wild hold: one direction only, messages
// the parser cannot read, flights coalesced or padded.

// fromClient keeps the client's writes: a SPAN port that sees one
// direction.
func fromClient(writes []tlstest.Write) []tlstest.Write {
	var out []tlstest.Write
	for _, w := range writes {
		if w.FromClient {
			out = append(out, w)
		}
	}
	return out
}

// messageList is the connection's messages as "from:type", encrypted ones
// marked with '*'.
func messageList(c *Connection) string {
	var parts []string
	for _, m := range c.Messages {
		s := m.From.String() + ":" + m.Type.String()
		if m.Encrypted {
			s += "*"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

// TestOneSidedClientFollowsItsOwnChangeCipherSpec: with only the client's
// direction captured, the records after its ChangeCipherSpec are protected
// though no ServerHello said which version was chosen: its encrypted
// Finished is not read as clear messages (it was two HelloRequests and a
// malformed message). A TLS 1.3 client's compatibility ChangeCipherSpec
// before its second ClientHello (after a HelloRetryRequest) still leaves
// that ClientHello readable.
func TestOneSidedClientFollowsItsOwnChangeCipherSpec(t *testing.T) {
	c, s := testPKI(t).Configs("www.example.test", tls.VersionTLS12, tls.VersionTLS12)
	conn := play(t, fromClient(session(t, c, s)), whole, 0)[0]
	if got, want := messageList(conn), "client:ClientHello client:ClientKeyExchange client:ChangeCipherSpec client:Finished* client:ApplicationData* client:Alert*"; got != want {
		t.Errorf("TLS 1.2, client only:\n got  %s\n want %s", got, want)
	}
	if len(conn.Issues) != 0 {
		t.Errorf("issues: %+v", conn.Issues)
	}

	c, s = testPKI(t).Configs("www.example.test", tls.VersionTLS13, tls.VersionTLS13)
	c.CurvePreferences = []tls.CurveID{tls.X25519, tls.CurveP256}
	s.CurvePreferences = []tls.CurveID{tls.CurveP256}
	conn = play(t, fromClient(session(t, c, s)), whole, 0)[0]
	if got, want := messageList(conn), "client:ClientHello client:ChangeCipherSpec client:ClientHello "; !strings.HasPrefix(got, want) {
		t.Errorf("TLS 1.3 after a HelloRetryRequest, client only:\n got  %s\n want %s", got, want)
	}
	if len(conn.Issues) != 0 {
		t.Errorf("issues: %+v", conn.Issues)
	}
}
