// Package keylog reads TLS key logs in the NSS key log format, which curl,
// Firefox, Chrome, OpenSSL (-keylogfile), GnuTLS, NSS, BoringSSL and Go's
// tls.Config.KeyLogWriter write when SSLKEYLOGFILE is set, and which a
// pcapng Decryption Secrets Block carries. Each line names a secret of one
// handshake by the handshake's ClientHello random:
//
//	CLIENT_RANDOM <client random> <master secret>               (TLS 1.0-1.2)
//	CLIENT_HANDSHAKE_TRAFFIC_SECRET <client random> <secret>    (TLS 1.3)
//
// It is a leaf: the parser looks secrets up in a Log, capture and the
// command line fill it. Secrets are never formatted: errors name the file,
// the line and what is wrong with it, never its bytes.
package keylog

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
)

// Secrets are what a key log holds for one handshake. A slice is nil when
// its line was not seen; slices are never changed once set.
type Secrets struct {
	MasterSecret    []byte // CLIENT_RANDOM: TLS 1.0-1.2
	ClientHandshake []byte // CLIENT_HANDSHAKE_TRAFFIC_SECRET
	ServerHandshake []byte // SERVER_HANDSHAKE_TRAFFIC_SECRET
	ClientTraffic   []byte // CLIENT_TRAFFIC_SECRET_0
	ServerTraffic   []byte // SERVER_TRAFFIC_SECRET_0
	ClientEarly     []byte // CLIENT_EARLY_TRAFFIC_SECRET
	Exporter        []byte // EXPORTER_SECRET: kept, unused
}

// Log holds secrets by client random. It is safe for concurrent use: a live
// capture's workers look secrets up while the key log file is followed.
type Log struct {
	mu      sync.RWMutex
	secrets map[[32]byte]*Secrets
}

// New returns an empty Log.
func New() *Log { return &Log{secrets: map[[32]byte]*Secrets{}} }

// LineError is a key log line that could not be read.
type LineError struct {
	File   string
	Line   int
	Reason string
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason) }

// maxLine bounds a key log line: a label, a 64-digit random and a secret of
// at most 64 bytes take under 300 bytes.
const maxLine = 1024

// labels are the key log labels this package takes, in the order Lines
// writes them.
var labels = []string{"CLIENT_RANDOM", "CLIENT_EARLY_TRAFFIC_SECRET", "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
	"SERVER_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0", "EXPORTER_SECRET"}

// field names the Secrets field of each label.
func field(s *Secrets, label []byte) *[]byte {
	switch string(label) {
	case "CLIENT_RANDOM":
		return &s.MasterSecret
	case "CLIENT_HANDSHAKE_TRAFFIC_SECRET":
		return &s.ClientHandshake
	case "SERVER_HANDSHAKE_TRAFFIC_SECRET":
		return &s.ServerHandshake
	case "CLIENT_TRAFFIC_SECRET_0":
		return &s.ClientTraffic
	case "SERVER_TRAFFIC_SECRET_0":
		return &s.ServerTraffic
	case "CLIENT_EARLY_TRAFFIC_SECRET":
		return &s.ClientEarly
	case "EXPORTER_SECRET":
		return &s.Exporter
	}
	return nil
}

// Lines returns the lines logged for a ClientHello random, as
// SSLKEYLOGFILE has them; nil when there are none. They are secrets: they
// go only where the user asked for them (the Decryption Secrets Block of a
// -w file).
func (l *Log) Lines(random []byte) []byte {
	s, ok := l.Lookup(random)
	if !ok {
		return nil
	}
	var b []byte
	for _, label := range labels {
		if v := *field(&s, []byte(label)); v != nil {
			b = append(append(b, label...), ' ')
			b = hex.AppendEncode(b, random)
			b = hex.AppendEncode(append(b, ' '), v)
			b = append(b, '\n')
		}
	}
	return b
}

// Read adds the lines of r, named name in errors, and returns how many
// secrets it took. A line that cannot be read is passed to bad, and
// reading goes on; comments (#), blank lines and labels this package does
// not use (RSA, later traffic secrets) are skipped. The error is the
// reader's.
func (l *Log) Read(r io.Reader, name string, bad func(*LineError)) (int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, maxLine), maxLine)
	taken, n := 0, 1
	for ; sc.Scan(); n++ {
		if reason := l.line(sc.Bytes()); reason == "" {
			taken++
		} else if reason != skip {
			bad(&LineError{File: name, Line: n, Reason: reason})
		}
	}
	if err := sc.Err(); err == bufio.ErrTooLong {
		return taken, &LineError{File: name, Line: n, Reason: fmt.Sprintf("a line over %d bytes: not a key log", maxLine)}
	} else if err != nil {
		return taken, err
	}
	return taken, nil
}

// skip is line's answer for a line that holds nothing to take.
const skip = "-"

// line takes one line and says what is wrong with it, "" when it was
// taken, skip when it holds nothing to take.
func (l *Log) line(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] == '#' {
		return skip
	}
	parts := bytes.Fields(b)
	if len(parts) != 3 {
		return fmt.Sprintf("%d fields, want a label, a client random and a secret", len(parts))
	}
	if field(&Secrets{}, parts[0]) == nil {
		return skip // a label not used here
	}
	var random [32]byte
	if n, err := hex.Decode(random[:], parts[1]); err != nil || len(parts[1]) != 64 || n != 32 {
		return fmt.Sprintf("%s: the client random is not 32 bytes of hex", parts[0])
	}
	secret := make([]byte, hex.DecodedLen(len(parts[2])))
	if _, err := hex.Decode(secret, parts[2]); err != nil || len(secret) < 16 || len(secret) > 64 {
		return fmt.Sprintf("%s: the secret is not 16 to 64 bytes of hex", parts[0])
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.secrets[random]
	if s == nil {
		s = &Secrets{}
		l.secrets[random] = s
	}
	*field(s, parts[0]) = secret
	return ""
}

// Lookup returns the secrets logged for a ClientHello random.
func (l *Log) Lookup(random []byte) (Secrets, bool) {
	if l == nil || len(random) != 32 {
		return Secrets{}, false
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	s, ok := l.secrets[[32]byte(random)]
	if !ok {
		return Secrets{}, false
	}
	return *s, true
}

// Len is how many handshakes the log has secrets for.
func (l *Log) Len() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.secrets)
}
