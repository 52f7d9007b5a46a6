package parser

import (
	"crypto/aes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"

	"golang.org/x/crypto/chacha20"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/hkdf"
)

// QUIC wire code (RFC 9000, RFC 9001, RFC 9369): long headers, variable
// length integers, Initial keys, header protection and AEAD, and the frames
// an Initial carries. quic.go feeds what it reads to the core.

// QUIC versions with Initial keys known here.
const (
	quicV1 uint32 = 0x00000001 // RFC 9000
	quicV2 uint32 = 0x6b3343cf // RFC 9369
)

// Versions that took their Initial keys from a draft of RFC 9001.
const (
	quicMvfst22     uint32 = 0xfaceb001 // Facebook mvfst (draft-22)
	quicMvfst27     uint32 = 0xfaceb002 // Facebook mvfst (draft-27)
	quicMvfstExp    uint32 = 0xfaceb00e // Facebook mvfst (Experimental), draft-27's keys
	quicDraftPrefix uint32 = 0xff000000 // draft-N is 0xff0000NN
)

// initialSalt is the version's salt for Initial secrets (RFC 9001 section
// 5.2; RFC 9369 section 3.3.1; the drafts of RFC 9001 from draft-22 on, as
// Wireshark knows them).
func initialSalt(v uint32) ([]byte, bool) {
	switch v {
	case quicV2:
		return []byte{0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9}, true
	}
	draft := 0
	switch {
	case v == quicV1:
		draft = 33 // RFC 9001's salt came with draft-33
	case v == quicMvfst22:
		draft = 22
	case v == quicMvfst27 || v == quicMvfstExp:
		draft = 27
	case v&0xffffff00 == quicDraftPrefix:
		draft = int(v & 0xff)
	}
	switch {
	case draft >= 33 && draft <= 34:
		return []byte{0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a}, true
	case draft >= 29 && draft <= 32:
		return []byte{0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61, 0x11, 0xe0, 0x43, 0x90, 0xa8, 0x99}, true
	case draft >= 23 && draft <= 28:
		return []byte{0xc3, 0xee, 0xf7, 0x12, 0xc7, 0x2e, 0xbb, 0x5a, 0x11, 0xa7, 0xd2, 0x43, 0x2b, 0xb4, 0x63, 0x65, 0xbe, 0xf9, 0xf5, 0x02}, true
	case draft == 22:
		return []byte{0x7f, 0xbc, 0xdb, 0x0e, 0x7c, 0x66, 0xbb, 0xe9, 0x19, 0x3a, 0x96, 0xcd, 0x21, 0x51, 0x9e, 0xbd, 0x7a, 0x02, 0x64, 0x4a}, true
	}
	return nil, false
}

// packetKeys protect one direction's packets of one encryption level.
type packetKeys struct {
	aead aeadOpener
	iv   []byte
	// hp is the header protection mask of a sample (RFC 9001, section
	// 5.4): AES for the AES suites, ChaCha20 for ChaCha20-Poly1305.
	hp func(sample []byte) [5]byte
}

// quicKeys derives a level's packet keys from its secret with the hash
// and key size of a TLS 1.3 suite (RFC 9001, section 5.1); QUIC v2 uses
// its own labels (RFC 9369, section 3.3.2). ok is false for a suite not
// known here.
func quicKeys(version uint32, suite uint16, secret []byte) (k *packetKeys, ok bool) {
	prefix := "quic "
	if version == quicV2 {
		prefix = "quicv2 "
	}
	s, ok := suite13For(suite)
	if !ok || suite == 0x1305 { // QUIC has no CCM_8 (RFC 9001, section 5.3)
		return nil, false
	}
	k = &packetKeys{}
	if k.aead, k.iv, ok = s.keys(secret, prefix); !ok {
		return nil, false
	}
	hpKey := hkdfExpandLabel(hmac.New(s.hash, secret), prefix+"hp", s.keyLen)
	if suite == 0x1303 {
		k.hp = func(sample []byte) (mask [5]byte) {
			// RFC 9001, section 5.4.4: the sample's first 4 bytes are the
			// block counter, the other 12 the nonce.
			c, _ := chacha20.NewUnauthenticatedCipher(hpKey, sample[4:16])
			c.SetCounter(binary.LittleEndian.Uint32(sample))
			c.XORKeyStream(mask[:], mask[:])
			return mask
		}
		return k, true
	}
	hp, _ := aes.NewCipher(hpKey)
	k.hp = func(sample []byte) (mask [5]byte) {
		var out [16]byte
		hp.Encrypt(out[:], sample) // RFC 9001, section 5.4.3
		copy(mask[:], out[:])
		return mask
	}
	return k, true
}

// deriveInitialKeys derives the client's and the server's Initial keys
// from the client's first Destination Connection ID.
func deriveInitialKeys(version uint32, dcid []byte) (client, server *packetKeys, ok bool) {
	salt, ok := initialSalt(version)
	if !ok {
		return nil, nil, false
	}
	initial := hkdf.Extract(sha256.New, dcid, salt)
	// Initial packets are protected as TLS_AES_128_GCM_SHA256 (RFC 9001,
	// section 5.2).
	prk := hmac.New(sha256.New, initial)
	client, _ = quicKeys(version, 0x1301, hkdfExpandLabel(prk, "client in", 32))
	server, _ = quicKeys(version, 0x1301, hkdfExpandLabel(prk, "server in", 32))
	return client, server, true
}

// QUIC long header packet types (RFC 9000 section 17.2; RFC 9369 section
// 3.2 permutes them).
const (
	quicInitial = iota
	quic0RTT
	quicHandshake
	quicRetry
)

func longType(version uint32, bits byte) int {
	t := int(bits>>4) & 3
	if version == quicV2 {
		return (t + 3) % 4 // v2: Initial 1, 0-RTT 2, Handshake 3, Retry 0
	}
	return t
}

// longHeader is a QUIC long header packet as read before unprotection.
type longHeader struct {
	first      byte
	version    uint32
	dcid, scid []byte
	token      []byte
	typ        int
	pnOffset   int // where the packet number starts in the packet
	length     int // of packet number and payload
	packet     []byte
	rest       []byte // after the connection IDs: a Version Negotiation's versions
	short      bool   // a 1-RTT packet's short header, read as far as its packet number
}

var errQUICShort = errors.New("short QUIC packet")

// parseLongHeader reads one long header packet at the start of b and
// returns the rest of the datagram (coalesced packets follow).
func parseLongHeader(b []byte) (*longHeader, []byte, error) {
	s := cryptobyte.String(b)
	var h longHeader
	var dcid, scid cryptobyte.String
	if !s.ReadUint8(&h.first) || h.first&0x80 == 0 || !s.ReadUint32(&h.version) ||
		!s.ReadUint8LengthPrefixed(&dcid) || !s.ReadUint8LengthPrefixed(&scid) || len(dcid) > 20 || len(scid) > 20 {
		return nil, nil, errQUICShort
	}
	h.dcid, h.scid = dcid, scid
	h.rest = s
	if h.version == 0 {
		h.packet = b
		return &h, nil, nil // Version Negotiation: the whole datagram
	}
	h.typ = longType(h.version, h.first)
	if h.typ == quicRetry {
		h.packet = b
		return &h, nil, nil
	}
	if h.typ == quicInitial {
		n, ok := readVarint(&s)
		if !ok || n > uint64(len(s)) {
			return nil, nil, errQUICShort
		}
		h.token = s[:n]
		s = s[n:]
	}
	n, ok := readVarint(&s)
	if !ok || n > uint64(len(s)) {
		return nil, nil, errQUICShort
	}
	h.pnOffset = len(b) - len(s)
	h.length = int(n)
	h.packet = b[:h.pnOffset+h.length]
	return &h, b[h.pnOffset+h.length:], nil
}

// readVarint reads a QUIC variable-length integer (RFC 9000 section 16).
func readVarint(s *cryptobyte.String) (uint64, bool) {
	if len(*s) == 0 {
		return 0, false
	}
	n := 1 << ((*s)[0] >> 6)
	if len(*s) < n {
		return 0, false
	}
	v := uint64((*s)[0] & 0x3f)
	for _, c := range (*s)[1:n] {
		v = v<<8 | uint64(c)
	}
	*s = (*s)[n:]
	return v, true
}

// open removes the header protection and decrypts an Initial packet in
// place of a copy; it returns the plaintext frames.
func (k *packetKeys) open(h *longHeader) ([]byte, bool) {
	p := append([]byte(nil), h.packet...)
	if len(p) < h.pnOffset+4+16 {
		return nil, false
	}
	mask := k.hp(p[h.pnOffset+4 : h.pnOffset+20]) // RFC 9001 section 5.4.2
	if h.short {
		p[0] ^= mask[0] & 0x1f
	} else {
		p[0] ^= mask[0] & 0x0f
	}
	pnLen := int(p[0]&3) + 1
	var pn uint64
	for i := range pnLen {
		p[h.pnOffset+i] ^= mask[1+i]
		pn = pn<<8 | uint64(p[h.pnOffset+i])
	}
	nonce := append([]byte(nil), k.iv...)
	for i := range 8 {
		nonce[len(nonce)-1-i] ^= byte(pn >> (8 * i))
	}
	header := p[:h.pnOffset+pnLen]
	plain, err := k.aead.Open(nil, nonce, p[h.pnOffset+pnLen:], header)
	return plain, err == nil
}

// cryptoFrame is the data of a CRYPTO frame at its offset.
type cryptoFrame struct {
	offset uint64
	data   []byte
}

// cryptoFrames returns the CRYPTO frames of a decrypted payload, and
// whether it held only frames its packet may carry: PADDING, PING, ACK,
// CRYPTO and CONNECTION_CLOSE in Initial and Handshake packets (RFC 9000
// section 12.4), any frame of RFC 9000 and RFC 9221 in 1-RTT ones, whose
// others are read over.
func cryptoFrames(payload []byte, oneRTT bool) ([]cryptoFrame, bool) {
	s := cryptobyte.String(payload)
	var out []cryptoFrame
	varints := func(n int) bool {
		for range n {
			if _, ok := readVarint(&s); !ok {
				return false
			}
		}
		return true
	}
	bytesOf := func(n uint64) bool { // n more bytes, read over
		if n > uint64(len(s)) {
			return false
		}
		s = s[n:]
		return true
	}
	for len(s) > 0 {
		typ, ok := readVarint(&s)
		if !ok {
			return out, false
		}
		switch {
		case typ == 0x00, typ == 0x01: // PADDING, PING
		case typ == 0x02, typ == 0x03: // ACK (RFC 9000 section 19.3)
			var count uint64
			if !varints(2) {
				return out, false
			}
			if count, ok = readVarint(&s); !ok || !varints(1) || count > uint64(len(s))/2 || !varints(int(2*count)) {
				return out, false
			}
			if typ == 0x03 && !varints(3) {
				return out, false
			}
		case typ == 0x06: // CRYPTO
			off, ok1 := readVarint(&s)
			n, ok2 := readVarint(&s)
			if !ok1 || !ok2 || n > uint64(len(s)) {
				return out, false
			}
			out = append(out, cryptoFrame{off, s[:n]})
			s = s[n:]
		case typ == 0x1c, typ == 0x1d: // CONNECTION_CLOSE: error code, frame type (0x1c), reason
			fields := 1
			if typ == 0x1c {
				fields = 2
			}
			var n uint64
			if !varints(fields) {
				return out, false
			}
			if n, ok = readVarint(&s); !ok || !bytesOf(n) {
				return out, false
			}
		case !oneRTT:
			return out, false
		case typ == 0x04: // RESET_STREAM
			ok = varints(3)
		case typ == 0x05, typ == 0x11, typ == 0x15: // STOP_SENDING, MAX_STREAM_DATA, STREAM_DATA_BLOCKED
			ok = varints(2)
		case typ == 0x07: // NEW_TOKEN
			n, ok1 := readVarint(&s)
			ok = ok1 && bytesOf(n)
		case typ >= 0x08 && typ <= 0x0f: // STREAM: its offset and length when their bits say so
			ok = varints(1) && (typ&0x04 == 0 || varints(1))
			if ok && typ&0x02 != 0 {
				n, ok1 := readVarint(&s)
				ok = ok1 && bytesOf(n)
			} else if ok {
				s = s[len(s):] // to the end of the packet
			}
		case typ >= 0x10 && typ <= 0x17, typ == 0x19: // MAX_DATA, MAX_STREAMS, *_BLOCKED, RETIRE_CONNECTION_ID
			ok = varints(1)
		case typ == 0x18: // NEW_CONNECTION_ID: sequence, retire prior to, the ID, a 16-byte token
			var n uint8
			ok = varints(2) && s.ReadUint8(&n) && bytesOf(uint64(n)+16)
		case typ == 0x1a, typ == 0x1b: // PATH_CHALLENGE, PATH_RESPONSE
			ok = bytesOf(8)
		case typ == 0x1e: // HANDSHAKE_DONE
		case typ == 0x30: // DATAGRAM to the end of the packet (RFC 9221)
			s = s[len(s):]
		case typ == 0x31: // DATAGRAM with its length
			n, ok1 := readVarint(&s)
			ok = ok1 && bytesOf(n)
		default:
			return out, false
		}
		if !ok {
			return out, false
		}
	}
	return out, true
}
