package parser

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"golang.org/x/crypto/hkdf"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestInitialKeys derives the Initial keys of RFC 9001 appendix A.1 and
// the header protection mask of A.2.
func TestInitialKeys(t *testing.T) {
	dcid := unhex(t, "8394c8f03e515708")
	salt, _ := initialSalt(quicV1)
	secret := hkdfExpandLabel(hkdf.Extract(sha256.New, dcid, salt), "client in", 32)
	for _, tc := range []struct{ label, want string }{
		{"", "c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea"},
		{"quic key", "1f369613dd76d5467730efcbe3b1a22d"},
		{"quic iv", "fa044b2f42a3fd3b46fb255c"},
		{"quic hp", "9f50449e04a0e810283a1e9933adedd2"},
	} {
		got := secret
		if tc.label != "" {
			got = hkdfExpandLabel(secret, tc.label, len(tc.want)/2)
		}
		if hex.EncodeToString(got) != tc.want {
			t.Errorf("%q: %x, want %s", tc.label, got, tc.want)
		}
	}
	client, _, ok := deriveInitialKeys(quicV1, dcid)
	if !ok {
		t.Fatal("no keys for QUIC v1")
	}
	mask := make([]byte, 16)
	client.hp.Encrypt(mask, unhex(t, "d1b1c98dd7689fb8ec11d242b123dc9b"))
	if !bytes.HasPrefix(mask, unhex(t, "437b9aec36")) {
		t.Errorf("header protection mask %x", mask)
	}
}

// TestCryptoStream puts CRYPTO frames back in order: out of order,
// overlapping, retransmitted.
func TestCryptoStream(t *testing.T) {
	msg := []byte("a ClientHello too large for one Initial packet")
	var c cryptoStream
	var got []byte
	for _, f := range []cryptoFrame{{20, msg[20:30]}, {0, msg[0:12]}, {10, msg[10:25]}, {0, msg[0:5]}, {30, msg[30:]}} {
		got = append(got, c.add(f)...)
	}
	if !bytes.Equal(got, msg) || c.held != 0 {
		t.Errorf("got %q, %d held", got, c.held)
	}
}
