package parser

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"

	"golang.org/x/crypto/chacha20"
	"golang.org/x/crypto/chacha20poly1305"
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

// initialSalt is the version's salt for Initial secrets (RFC 9001 section
// 5.2; RFC 9369 section 3.3.1).
func initialSalt(v uint32) ([]byte, bool) {
	switch v {
	case quicV1:
		return []byte{0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a}, true
	case quicV2:
		return []byte{0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9}, true
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
	h, keyLen := sha256.New, 16
	switch suite {
	case 0x1301:
	case 0x1302:
		h, keyLen = sha512.New384, 32
	case 0x1303:
		keyLen = chacha20poly1305.KeySize
	case 0x1304: // TLS_AES_128_CCM_SHA256 (QUIC has no CCM_8)
	default:
		return nil, false
	}
	if len(secret) != h().Size() {
		return nil, false
	}
	key := hkdfExpandLabel(h, secret, prefix+"key", keyLen)
	hpKey := hkdfExpandLabel(h, secret, prefix+"hp", keyLen)
	k = &packetKeys{iv: hkdfExpandLabel(h, secret, prefix+"iv", 12)}
	if suite == 0x1303 {
		k.aead, _ = chacha20poly1305.New(key)
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
	block, _ := aes.NewCipher(key)
	if suite == 0x1304 {
		k.aead = &ccm{block: block, tagLen: 16}
	} else {
		k.aead, _ = cipher.NewGCM(block)
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
	client, _ = quicKeys(version, 0x1301, hkdfExpandLabel(sha256.New, initial, "client in", 32))
	server, _ = quicKeys(version, 0x1301, hkdfExpandLabel(sha256.New, initial, "server in", 32))
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
	p[0] ^= mask[0] & 0x0f
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

// cryptoFrames returns the CRYPTO frames of a decrypted Initial payload,
// and whether the payload held only frames an Initial may carry
// (RFC 9000 section 12.4: PADDING, PING, ACK, CRYPTO, CONNECTION_CLOSE).
func cryptoFrames(payload []byte) ([]cryptoFrame, bool) {
	s := cryptobyte.String(payload)
	var out []cryptoFrame
	for len(s) > 0 {
		typ, ok := readVarint(&s)
		if !ok {
			return out, false
		}
		switch typ {
		case 0x00, 0x01: // PADDING, PING
		case 0x02, 0x03: // ACK (RFC 9000 section 19.3)
			var largest, delay, count, first uint64
			for _, v := range []*uint64{&largest, &delay, &count, &first} {
				if *v, ok = readVarint(&s); !ok {
					return out, false
				}
			}
			for i := uint64(0); i < count*2; i++ {
				if _, ok = readVarint(&s); !ok {
					return out, false
				}
			}
			if typ == 0x03 {
				for range 3 {
					if _, ok = readVarint(&s); !ok {
						return out, false
					}
				}
			}
		case 0x06: // CRYPTO
			off, ok1 := readVarint(&s)
			n, ok2 := readVarint(&s)
			if !ok1 || !ok2 || n > uint64(len(s)) {
				return out, false
			}
			out = append(out, cryptoFrame{off, s[:n]})
			s = s[n:]
		case 0x1c, 0x1d: // CONNECTION_CLOSE: error code, frame type (0x1c), reason
			fields := 2
			if typ == 0x1c {
				fields = 3
			}
			var n uint64
			for range fields {
				if n, ok = readVarint(&s); !ok {
					return out, false
				}
			}
			if n > uint64(len(s)) {
				return out, false
			}
			s = s[n:]
		default:
			return out, false
		}
	}
	return out, true
}
