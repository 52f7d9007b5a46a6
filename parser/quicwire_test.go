package parser

import (
	"bytes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"testing"

	"golang.org/x/crypto/cryptobyte"
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
	secret := hkdfExpandLabel(hmac.New(sha256.New, hkdf.Extract(sha256.New, dcid, salt)), "client in", 32)
	for _, tc := range []struct{ label, want string }{
		{"", "c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea"},
		{"quic key", "1f369613dd76d5467730efcbe3b1a22d"},
		{"quic iv", "fa044b2f42a3fd3b46fb255c"},
		{"quic hp", "9f50449e04a0e810283a1e9933adedd2"},
	} {
		got := secret
		if tc.label != "" {
			got = hkdfExpandLabel(hmac.New(sha256.New, secret), tc.label, len(tc.want)/2)
		}
		if hex.EncodeToString(got) != tc.want {
			t.Errorf("%q: %x, want %s", tc.label, got, tc.want)
		}
	}
	client, _, ok := deriveInitialKeys(quicV1, dcid)
	if !ok {
		t.Fatal("no keys for QUIC v1")
	}
	if mask := client.hp(unhex(t, "d1b1c98dd7689fb8ec11d242b123dc9b")); !bytes.Equal(mask[:], unhex(t, "437b9aec36")) {
		t.Errorf("header protection mask %x", mask)
	}
}

// sealInitial builds a client Initial packet around frames, as a QUIC
// stack would: long header, 4-byte packet number, AEAD, header protection.
func sealInitial(t testing.TB, k *packetKeys, dcid []byte, pn uint32, frames []byte) []byte {
	return sealInitialVersion(t, quicV1, k, dcid, pn, frames)
}

// sealInitialVersion is sealInitial for another version with v1's packet
// types (the drafts, mvfst, Google's T05x).
func sealInitialVersion(t testing.TB, version uint32, k *packetKeys, dcid []byte, pn uint32, frames []byte) []byte {
	t.Helper()
	payload := append([]byte{}, frames...)
	for len(payload) < 1100 {
		payload = append(payload, 0) // PADDING
	}
	hdr := binary.BigEndian.AppendUint32([]byte{0xc3}, version)
	hdr = append(hdr, byte(len(dcid)))
	hdr = append(hdr, dcid...)
	return sealLong(k, append(hdr, 0, 0), pn, payload) // no source connection ID, no token
}

// sealHandshake builds a QUIC v1 Handshake packet around frames.
func sealHandshake(k *packetKeys, dcid, scid []byte, pn uint32, frames []byte) []byte {
	hdr := append([]byte{0xe3, 0, 0, 0, 1, byte(len(dcid))}, dcid...)
	hdr = append(append(hdr, byte(len(scid))), scid...)
	return sealLong(k, hdr, pn, frames)
}

// sealLong finishes a long header packet: its length, a 4-byte packet
// number, the AEAD and the header protection.
func sealLong(k *packetKeys, hdr []byte, pn uint32, payload []byte) []byte {
	n := 4 + len(payload) + 16
	hdr = append(hdr, 0x40|byte(n>>8), byte(n))
	pnOffset := len(hdr)
	hdr = binary.BigEndian.AppendUint32(hdr, pn)
	nonce := append([]byte{}, k.iv...)
	for i := range 4 {
		nonce[len(nonce)-1-i] ^= byte(pn >> (8 * i))
	}
	pkt := k.aead.(cipher.AEAD).Seal(append([]byte{}, hdr...), nonce, payload, hdr)
	mask := k.hp(pkt[pnOffset+4 : pnOffset+20])
	pkt[0] ^= mask[0] & 0x0f
	for i := range 4 {
		pkt[pnOffset+i] ^= mask[1+i]
	}
	return pkt
}

func cryptoFrameBytes(offset int, data []byte) []byte {
	b := []byte{0x06, 0x80 | byte(offset>>24), byte(offset >> 16), byte(offset >> 8), byte(offset), 0x40 | byte(len(data)>>8), byte(len(data))}
	return append(b, data...)
}

// TestSealOpenInitial: a packet sealed as a QUIC stack seals it opens to
// its frames, and a flipped byte makes it fail to open.
func TestSealOpenInitial(t *testing.T) {
	dcid := unhex(t, "0102030405060708")
	client, _, _ := deriveInitialKeys(quicV1, dcid)
	frames := cryptoFrameBytes(0, []byte("hello"))
	pkt := sealInitial(t, client, dcid, 7, frames)
	h, rest, err := parseLongHeader(pkt)
	if err != nil || len(rest) != 0 || h.typ != quicInitial || !bytes.Equal(h.dcid, dcid) {
		t.Fatalf("header %+v, rest %d, %v", h, len(rest), err)
	}
	plain, ok := client.open(h)
	if !ok || !bytes.HasPrefix(plain, frames) {
		t.Fatalf("opened %v: %x", ok, plain[:min(len(plain), 16)])
	}
	pkt[len(pkt)-1] ^= 1
	if _, ok := client.open(h); ok {
		t.Error("a packet with a flipped tag byte opened")
	}
	if _, _, ok := deriveInitialKeys(0xff000015, dcid); ok { // draft-21: no salt known here
		t.Error("keys for a version without a known salt")
	}
}

// TestLongHeader reads long headers on each side of their bounds: the
// rest of the datagram (coalesced packets) is returned, and lengths past
// the datagram are refused.
func TestLongHeader(t *testing.T) {
	initial := []byte{0xc0, 0, 0, 0, 1, 2, 0xaa, 0xbb, 1, 0xcc, 1, 0x99, 3, 0, 1, 2}
	for _, tc := range []struct {
		name string
		b    []byte
		ok   bool
		typ  int
		rest int
	}{
		{"Initial with a token, a packet after it", append(append([]byte{}, initial...), 0x40, 0x41), true, quicInitial, 2},
		{"Initial cut in its payload", initial[:len(initial)-1], false, 0, 0},
		{"token longer than the datagram", []byte{0xc0, 0, 0, 0, 1, 0, 0, 9, 1}, false, 0, 0},
		{"connection ID over 20 bytes", append([]byte{0xc0, 0, 0, 0, 1, 21}, make([]byte, 25)...), false, 0, 0},
		{"Handshake", []byte{0xe0, 0, 0, 0, 1, 0, 0, 2, 0, 0}, true, quicHandshake, 0},
		{"Handshake of QUIC v2 (types permuted)", []byte{0xf0, 0x6b, 0x33, 0x43, 0xcf, 0, 0, 2, 0, 0}, true, quicHandshake, 0},
		{"Retry takes the datagram", []byte{0xf0, 0, 0, 0, 1, 0, 0, 1, 2, 3}, true, quicRetry, 0},
		{"Version Negotiation", []byte{0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, true, 0, 0},
		{"a short header", []byte{0x40, 1, 2}, false, 0, 0},
		{"empty", nil, false, 0, 0},
	} {
		h, rest, err := parseLongHeader(tc.b)
		if (err == nil) != tc.ok || (tc.ok && (h.version != 0 && h.typ != tc.typ || len(rest) != tc.rest)) {
			t.Errorf("%s: %+v, rest %d, %v", tc.name, h, len(rest), err)
		}
	}
}

// TestCryptoFrames reads the frames an Initial may carry and stops at one
// it may not.
func TestCryptoFrames(t *testing.T) {
	payload := bytes.Join([][]byte{
		{0x00, 0x01},                // PADDING, PING
		{0x02, 5, 0, 1, 0, 2, 1},    // ACK: largest 5, delay 0, one range, first 0, gap 2 length 1
		{0x03, 5, 0, 0, 0, 1, 2, 3}, // ACK with ECN counts
		cryptoFrameBytes(3, []byte("abc")),
		{0x1c, 0x0a, 0x06, 2, 'n', 'o'}, // CONNECTION_CLOSE with a reason
	}, nil)
	frames, ok := cryptoFrames(payload, false)
	if !ok || len(frames) != 1 || frames[0].offset != 3 || string(frames[0].data) != "abc" {
		t.Fatalf("%v %+v", ok, frames)
	}
	for name, b := range map[string][]byte{
		"STREAM":                   {0x08, 0, 1, 'x'},
		"CRYPTO past its packet":   {0x06, 0, 9, 'x'},
		"ACK cut short":            {0x02, 5, 0, 3},
		"a reason past its packet": {0x1d, 0, 9, 'x'},
	} {
		if frames, ok := cryptoFrames(append(cryptoFrameBytes(0, []byte("k")), b...), false); ok || len(frames) != 1 {
			t.Errorf("%s: %v %+v", name, ok, frames)
		}
	}
}

// TestVarint reads each length of RFC 9000's variable-length integers
// (section 16, and the examples of its appendix A.1).
func TestVarint(t *testing.T) {
	for _, tc := range []struct {
		hex  string
		want uint64
	}{{"25", 37}, {"7bbd", 15293}, {"9d7f3e7d", 494878333}, {"c2197c5eff14e88c", 151288809941952652}} {
		s := cryptobyte.String(unhex(t, tc.hex))
		if v, ok := readVarint(&s); !ok || v != tc.want || len(s) != 0 {
			t.Errorf("%s: %d %v, want %d", tc.hex, v, ok, tc.want)
		}
		short := cryptobyte.String(unhex(t, tc.hex)[:len(tc.hex)/2-1])
		if _, ok := readVarint(&short); ok {
			t.Errorf("%s cut short read", tc.hex)
		}
	}
}

// TestChaCha20HeaderProtection derives the ChaCha20-Poly1305 keys of RFC
// 9001 appendix A.5 and computes its header protection mask.
func TestChaCha20HeaderProtection(t *testing.T) {
	secret := unhex(t, "9ac312a7f877468ebe69422748ad00a15443f18203a07d6060f688f30f21632b")
	k, ok := quicKeys(quicV1, 0x1303, secret)
	if !ok {
		t.Fatal("no keys for TLS_CHACHA20_POLY1305_SHA256")
	}
	if mask := k.hp(unhex(t, "5e5cd55c41f69080575d7999c25a5bfb")); !bytes.Equal(mask[:], unhex(t, "aefefe7d03")) {
		t.Errorf("mask %x", mask)
	}
	if !bytes.Equal(k.iv, unhex(t, "e0459b3474bdd0e44a41c144")) {
		t.Errorf("iv %x", k.iv)
	}
	if _, ok := quicKeys(quicV1, 0x1305, secret); ok {
		t.Error("keys for TLS_AES_128_CCM_8_SHA256, which QUIC does not use")
	}
	if _, ok := quicKeys(quicV1, 0x1302, secret); ok {
		t.Error("keys for a SHA-384 suite from a 32-byte secret")
	}
}

// TestOneRTTFrames: a 1-RTT packet's frames are read over, whatever their
// type, to the CRYPTO frames among them (a NewSessionTicket); the same
// frames in a Handshake packet stop the reading.
func TestOneRTTFrames(t *testing.T) {
	payload := bytes.Join([][]byte{
		{0x1e},                             // HANDSHAKE_DONE
		{0x07, 3, 't', 'o', 'k'},           // NEW_TOKEN
		{0x0a, 4, 2, 'h', 'i'},             // STREAM 4 with a length
		{0x18, 1, 0, 2, 0xaa, 0xbb},        // NEW_CONNECTION_ID, then its token
		bytes.Repeat([]byte{0x5a}, 16),     //
		{0x10, 0x44, 0x00},                 // MAX_DATA
		{0x1a, 1, 2, 3, 4, 5, 6, 7, 8},     // PATH_CHALLENGE
		{0x31, 2, 'd', 'g'},                // DATAGRAM with its length
		cryptoFrameBytes(7, []byte("nst")), // a ticket
		{0x09, 0, 'r', 'e', 's', 't'},      // STREAM 0 to the end, with FIN
	}, nil)
	frames, ok := cryptoFrames(payload, true)
	if !ok || len(frames) != 1 || frames[0].offset != 7 || string(frames[0].data) != "nst" {
		t.Errorf("1-RTT: %v %+v", ok, frames)
	}
	if _, ok := cryptoFrames(payload, false); ok {
		t.Error("a Handshake packet with 1-RTT frames was read whole")
	}
	for name, b := range map[string][]byte{
		"NEW_TOKEN past its packet":         {0x07, 9, 't'},
		"STREAM past its packet":            {0x0a, 4, 9, 'h'},
		"NEW_CONNECTION_ID without a token": {0x18, 1, 0, 2, 0xaa, 0xbb},
		"an unknown frame":                  {0x40, 0x99},
	} {
		if _, ok := cryptoFrames(b, true); ok {
			t.Errorf("%s: read", name)
		}
	}
}
