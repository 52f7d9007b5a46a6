package parser

import (
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
)

// AES-CCM (RFC 3610, NIST SP 800-38C), opening only: what TLS's CCM suites
// (RFC 8446's TLS_AES_128_CCM_SHA256 and _CCM_8_SHA256, RFC 6655's) use.
// Written here because neither the standard library nor x/crypto has it;
// it runs once per protected handshake record, never on the hot path.

// aeadOpener is what opening a record takes of an AEAD; cipher.AEAD has
// it, and so does ccm.
type aeadOpener interface {
	Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
	Overhead() int
}

// ccm is AES-CCM with a tag of tagLen bytes (16, or 8 for CCM_8).
type ccm struct {
	block  cipher.Block
	tagLen int
}

var errCCM = errors.New("ccm: message authentication failed")

func (c *ccm) Overhead() int { return c.tagLen }

// Open decrypts and authenticates ciphertext (with its tag) under nonce
// (7 to 13 bytes) and additionalData, appending the plaintext to dst.
func (c *ccm) Open(dst, nonce, ciphertext, ad []byte) ([]byte, error) {
	l := 15 - len(nonce) // bytes of the length and counter fields
	if l < 2 || l > 8 || len(ciphertext) < c.tagLen {
		return nil, errCCM
	}
	n := len(ciphertext) - c.tagLen
	msg, tag := ciphertext[:n], ciphertext[n:]
	var ctr, s [16]byte
	ctr[0] = byte(l - 1)
	copy(ctr[1:], nonce)
	counter := func(i uint64) {
		for k := range l {
			ctr[15-k] = byte(i >> (8 * k))
		}
	}
	out := append(dst, msg...)
	plain := out[len(dst):]
	for i := 0; i < n; i += 16 {
		counter(uint64(i/16 + 1))
		c.block.Encrypt(s[:], ctr[:])
		subtle.XORBytes(plain[i:], plain[i:], s[:])
	}
	// The CBC-MAC of B_0, the additional data and the plaintext.
	var x, b [16]byte
	b[0] = byte((c.tagLen-2)/2)<<3 | byte(l-1)
	if len(ad) > 0 {
		b[0] |= 0x40
	}
	copy(b[1:], nonce)
	for k := range l {
		b[15-k] = byte(uint64(n) >> (8 * k))
	}
	c.block.Encrypt(x[:], b[:])
	mac := func(data []byte) {
		for len(data) > 0 {
			k := subtle.XORBytes(x[:], x[:], data)
			data = data[k:]
			c.block.Encrypt(x[:], x[:])
		}
	}
	if len(ad) > 0 { // its length in 2 bytes: TLS's is 13 or 5
		head := binary.BigEndian.AppendUint16(nil, uint16(len(ad)))
		head = append(head, ad...)
		mac(append(head, make([]byte, -len(head)&15)...))
	}
	mac(append(plain[:n:n], make([]byte, -n&15)...))
	counter(0)
	c.block.Encrypt(s[:], ctr[:])
	subtle.XORBytes(x[:], x[:], s[:])
	if subtle.ConstantTimeCompare(x[:c.tagLen], tag) != 1 {
		clear(plain)
		return nil, errCCM
	}
	return out, nil
}
