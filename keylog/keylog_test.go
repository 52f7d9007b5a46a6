package keylog

import (
	"bytes"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlssniff/tlssniff/internal/tlstest"
)

// session runs a real crypto/tls session of version v whose client writes
// its key log, and returns the log and the ClientHello random.
func session(t *testing.T, v uint16) ([]byte, []byte) {
	t.Helper()
	pki, err := tlstest.NewPKI()
	if err != nil {
		t.Fatal(err)
	}
	client, server := pki.Configs("keylog.example.test", v, v)
	var log bytes.Buffer
	client.KeyLogWriter = &log
	writes, err := tlstest.Session(client, server, 10)
	if err != nil {
		t.Fatal(err)
	}
	hello := writes[0].Data // record header (5), handshake header (4), version (2), random (32)
	return log.Bytes(), hello[11:43]
}

// TestRealKeyLogs reads what crypto/tls writes for TLS 1.2 and TLS 1.3 and
// finds the secrets by the ClientHello random that went on the wire.
func TestRealKeyLogs(t *testing.T) {
	text, random := session(t, tls.VersionTLS13)
	l := New()
	n, err := l.Read(bytes.NewReader(text), "go13.keys", func(e *LineError) { t.Errorf("%v", e) })
	if err != nil || n != 4 {
		t.Fatalf("%d secrets taken, %v, from %d lines", n, err, bytes.Count(text, []byte("\n")))
	}
	s, ok := l.Lookup(random)
	if !ok || len(s.ClientHandshake) != 32 || len(s.ServerHandshake) != 32 || len(s.ClientTraffic) != 32 ||
		len(s.ServerTraffic) != 32 || s.MasterSecret != nil {
		t.Errorf("TLS 1.3 secrets %v: %d %d %d %d", ok, len(s.ClientHandshake), len(s.ServerHandshake), len(s.ClientTraffic), len(s.ServerTraffic))
	}
	text, random = session(t, tls.VersionTLS12)
	if n, err := l.Read(bytes.NewReader(text), "go12.keys", func(e *LineError) { t.Errorf("%v", e) }); n != 1 || err != nil {
		t.Fatalf("TLS 1.2: %d secrets taken, %v", n, err)
	}
	if s, ok := l.Lookup(random); !ok || len(s.MasterSecret) != 48 || s.ClientHandshake != nil {
		t.Errorf("TLS 1.2 secrets %v: master secret of %d bytes", ok, len(s.MasterSecret))
	}
	if l.Len() != 2 {
		t.Errorf("%d handshakes", l.Len())
	}
	if _, ok := l.Lookup(make([]byte, 32)); ok {
		t.Error("secrets for a random never logged")
	}
}

// TestBadLines: each line that cannot be read is named by its file and
// number with what is wrong, never with its secret, and the rest is read.
func TestBadLines(t *testing.T) {
	random := strings.Repeat("ab", 32)
	secret := strings.Repeat("5e", 48)
	text := strings.Join([]string{
		"# written by a browser",
		"",
		"CLIENT_RANDOM " + random + " " + secret + "\r",
		"CLIENT_RANDOM " + random[:62] + " " + secret,
		"CLIENT_RANDOM " + random + " " + secret[:20],
		"SERVER_TRAFFIC_SECRET_0 " + random + " zz" + secret[2:],
		"CLIENT_RANDOM " + random,
		"RSA 0011223344556677 " + secret,
		"CLIENT_TRAFFIC_SECRET_1 " + random + " " + secret,
		"  SERVER_HANDSHAKE_TRAFFIC_SECRET\t" + random + "  " + secret[:64] + "  ",
	}, "\n")
	l := New()
	var bad []string
	n, err := l.Read(strings.NewReader(text), "mixed.keys", func(e *LineError) { bad = append(bad, e.Error()) })
	want := []string{
		"mixed.keys:4: CLIENT_RANDOM: the client random is not 32 bytes of hex",
		"mixed.keys:5: CLIENT_RANDOM: the secret is not 16 to 64 bytes of hex",
		"mixed.keys:6: SERVER_TRAFFIC_SECRET_0: the secret is not 16 to 64 bytes of hex",
		"mixed.keys:7: 2 fields, want a label, a client random and a secret",
	}
	if n != 2 || err != nil || strings.Join(bad, "\n") != strings.Join(want, "\n") {
		t.Errorf("%d taken, %v, errors:\n%s", n, err, strings.Join(bad, "\n"))
	}
	for _, e := range bad {
		if strings.Contains(e, secret[:16]) {
			t.Errorf("a secret in %q", e)
		}
	}
	s, _ := l.Lookup(bytes.Repeat([]byte{0xab}, 32))
	if len(s.MasterSecret) != 48 || len(s.ServerHandshake) != 32 || s.ServerTraffic != nil {
		t.Errorf("secrets %d %d %d", len(s.MasterSecret), len(s.ServerHandshake), len(s.ServerTraffic))
	}
	if _, err := l.Read(strings.NewReader(strings.Repeat("x", 2000)), "binary.pcap", func(*LineError) {}); err == nil ||
		err.Error() != "binary.pcap:1: a line over 1024 bytes: not a key log" {
		t.Errorf("a file without lines: %v", err)
	}
}

// TestFollow reads a key log as it is written, a line in two writes, a bad
// line numbered in the file, and from its start again when it is
// truncated.
func TestFollow(t *testing.T) {
	name := filepath.Join(t.TempDir(), "live.keys")
	l := New()
	stop := make(chan struct{})
	bad := make(chan string, 4)
	done := make(chan struct{})
	go func() {
		l.Follow(name, 5*time.Millisecond, stop, func(e *LineError) { bad <- e.Error() })
		close(done)
	}()
	random := func(b byte) string { return strings.Repeat(fmt.Sprintf("%02x", b), 32) }
	secret := strings.Repeat("5e", 48)
	wait := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not after 5 s", what)
			}
		}
	}
	appendTo := func(s string) {
		f, err := os.OpenFile(name, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(s)
		f.Close()
	}
	has := func(b byte) func() bool {
		return func() bool { _, ok := l.Lookup(bytes.Repeat([]byte{b}, 32)); return ok }
	}
	appendTo("# a comment\nCLIENT_RANDOM " + random(1) + " " + secret + "\n")
	wait("the first line", has(1))
	appendTo("CLIENT_RANDOM " + random(2) + " " + secret[:40])
	time.Sleep(30 * time.Millisecond)
	if has(2)() {
		t.Fatal("a line taken before its end")
	}
	appendTo(secret[40:] + "\nCLIENT_RANDOM zz " + secret + "\n")
	wait("the line written in two", has(2))
	if e := <-bad; e != name+":4: CLIENT_RANDOM: the client random is not 32 bytes of hex" {
		t.Errorf("bad line: %s", e)
	}
	os.WriteFile(name, []byte("CLIENT_RANDOM "+random(3)+" "+secret+"\n"), 0o600) // truncated and written anew
	wait("the rewritten file", has(3))
	close(stop)
	<-done
}

// Lines gives back what was read for a handshake, line for line.
func TestLinesRoundTrip(t *testing.T) {
	random := strings.Repeat("ab", 32)
	in := "CLIENT_HANDSHAKE_TRAFFIC_SECRET " + random + " " + strings.Repeat("01", 32) + "\n" +
		"SERVER_HANDSHAKE_TRAFFIC_SECRET " + random + " " + strings.Repeat("02", 32) + "\n" +
		"CLIENT_RANDOM " + strings.Repeat("cd", 32) + " " + strings.Repeat("03", 48) + "\n"
	l := New()
	if n, err := l.Read(strings.NewReader(in), "in", func(e *LineError) { t.Error(e) }); n != 3 || err != nil {
		t.Fatal(n, err)
	}
	r, _ := hex.DecodeString(random)
	want := strings.Join(strings.Split(in, "\n")[:2], "\n") + "\n"
	if got := string(l.Lines(r)); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if l.Lines(make([]byte, 32)) != nil {
		t.Error("lines for a random never logged")
	}
}
