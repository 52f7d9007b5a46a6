package parser

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"hash"
	"slices"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/cryptobyte"
)

// TLS 1.0-1.2 record protection with the master secret of a key log's
// CLIENT_RANDOM line: keys expanded with the version's PRF (RFC 5246,
// section 6.3; RFC 2246, section 6.3), records opened with AES-GCM (RFC
// 5288), ChaCha20-Poly1305 (RFC 7905) or AES-CBC with HMAC (RFC 5246,
// section 6.2.3.2), encrypt-then-MAC when negotiated (RFC 7366).

// suite12 is what opening a TLS 1.2 suite's records takes.
type suite12 struct {
	aead   func(key []byte) aeadOpener // nil for CBC
	keyLen int
	ivLen  int // fixed IV of an AEAD; CBC's IV in TLS 1.0
	mac    func() hash.Hash
	macLen int
	prf    func() hash.Hash // TLS 1.2's PRF hash
}

// suite12For describes a suite by its IANA name; ok is false for one not
// opened here.
func suite12For(suite uint16) (s suite12, ok bool) {
	name := CipherSuiteName(suite)
	s.prf = sha256.New
	if strings.HasSuffix(name, "_SHA384") {
		s.prf = sha512.New384
	}
	switch {
	case strings.Contains(name, "_WITH_AES_128_GCM_"):
		s.aead, s.keyLen, s.ivLen = newGCM, 16, 4
	case strings.Contains(name, "_WITH_AES_256_GCM_"):
		s.aead, s.keyLen, s.ivLen = newGCM, 32, 4
	case strings.Contains(name, "_WITH_CHACHA20_POLY1305_"):
		s.aead, s.keyLen, s.ivLen = newChaCha20Poly1305, chacha20poly1305.KeySize, 12
	case strings.Contains(name, "_WITH_AES_128_CCM"), strings.Contains(name, "_WITH_AES_256_CCM"): // RFC 6655, 7251
		s.aead, s.keyLen, s.ivLen = newCCM(16), 16, 4
		if strings.HasSuffix(name, "_8") {
			s.aead = newCCM(8)
		}
		if strings.Contains(name, "_256_") {
			s.keyLen = 32
		}
	case strings.Contains(name, "_WITH_AES_128_CBC_"):
		s.keyLen, s.ivLen = 16, 16
	case strings.Contains(name, "_WITH_AES_256_CBC_"):
		s.keyLen, s.ivLen = 32, 16
	default:
		return s, false
	}
	if s.aead != nil {
		return s, true
	}
	switch {
	case strings.HasSuffix(name, "_CBC_SHA"):
		s.mac, s.macLen = sha1.New, 20
	case strings.HasSuffix(name, "_CBC_SHA256"):
		s.mac, s.macLen = sha256.New, 32
	case strings.HasSuffix(name, "_CBC_SHA384"):
		s.mac, s.macLen = sha512.New384, 48
	default:
		return s, false
	}
	return s, true
}

// pHash is P_hash of RFC 5246, section 5.
func pHash(h func() hash.Hash, secret, seed []byte, n int) []byte {
	out := make([]byte, 0, n+h().Size())
	m := hmac.New(h, secret)
	m.Write(seed)
	a := m.Sum(nil)
	for len(out) < n {
		m.Reset()
		m.Write(a)
		m.Write(seed)
		out = m.Sum(out)
		m.Reset()
		m.Write(a)
		a = m.Sum(a[:0])
	}
	return out[:n]
}

// prf12 is the version's PRF: P_hash of the suite's hash in TLS 1.2, the
// MD5 and SHA-1 halves XORed before it (RFC 2246, section 5).
func prf12(version uint16, h func() hash.Hash, secret []byte, label string, seed []byte, n int) []byte {
	labelSeed := append([]byte(label), seed...)
	if version >= 0x0303 {
		return pHash(h, secret, labelSeed, n)
	}
	half := (len(secret) + 1) / 2
	out := pHash(md5.New, secret[:half], labelSeed, n)
	for i, b := range pHash(sha1.New, secret[len(secret)-half:], labelSeed, n) {
		out[i] ^= b
	}
	return out
}

// recordKeys12 open one direction's TLS 1.0-1.2 records.
type recordKeys12 struct {
	version uint16 // the TLS version (DTLS's mapped to it)
	dtls    bool   // records carry their own sequence numbers
	aead    aeadOpener
	iv      []byte // an AEAD's fixed IV; CBC's next IV in TLS 1.0
	block   cipher.Block
	macKey  []byte
	mac     func() hash.Hash
	macLen  int
	etm     bool // encrypt-then-MAC
	seq     uint64
}

// keys12 expands the master secret into the client's and the server's
// keys.
func keys12(version, suite uint16, etm bool, master, clientRandom, serverRandom []byte) (client, server *recordKeys12, ok bool) {
	dtls := isDTLSVersion(version)
	switch version {
	case 0xfeff, versionDTLSBad: // DTLS 1.0 is TLS 1.1's (RFC 4347), and so was its draft
		version = 0x0302
	case 0xfefd: // DTLS 1.2 is TLS 1.2's (RFC 6347)
		version = 0x0303
	}
	s, ok := suite12For(suite)
	if !ok || len(master) != 48 {
		return nil, nil, false
	}
	n := 2*s.macLen + 2*s.keyLen + 2*s.ivLen
	kb := prf12(version, s.prf, master, "key expansion", append(slices.Clone(serverRandom), clientRandom...), n)
	take := func(k int) []byte { b := kb[:k]; kb = kb[k:]; return b }
	cMac, sMac := take(s.macLen), take(s.macLen)
	cKey, sKey := take(s.keyLen), take(s.keyLen)
	cIV, sIV := take(s.ivLen), take(s.ivLen)
	mk := func(key, iv, macKey []byte) *recordKeys12 {
		k := &recordKeys12{version: version, dtls: dtls, iv: iv, macKey: macKey, mac: s.mac, macLen: s.macLen, etm: etm}
		if s.aead != nil {
			k.aead = s.aead(key)
		} else {
			k.block, _ = aes.NewCipher(key)
		}
		return k
	}
	return mk(cKey, cIV, cMac), mk(sKey, sIV, sMac), true
}

// skip counts a record that is not opened; it reports false when the
// records after it cannot be opened without it (TLS 1.0 chains its CBC
// IVs across records).
func (k *recordKeys12) skip() bool {
	k.seq++
	return k.aead != nil || k.version >= 0x0302
}

// open decrypts a record's body and returns its content (its type is the
// record's).
func (k *recordKeys12) open(dst *[]byte, r Record) (uint8, []byte, bool) {
	var ad [13]byte // seq, type, version, length
	seq := k.seq
	if k.dtls {
		seq = r.Seq
	}
	binary.BigEndian.PutUint64(ad[:], seq)
	ad[8] = r.Type
	binary.BigEndian.PutUint16(ad[9:], r.Version)
	out, ok := k.openBody(dst, ad, r.Body)
	if ok {
		k.seq++
	}
	return r.Type, out, ok
}

func (k *recordKeys12) openBody(dst *[]byte, ad [13]byte, body []byte) ([]byte, bool) {
	if k.aead != nil {
		nonce := make([]byte, 12)
		if len(k.iv) == 12 { // ChaCha20-Poly1305: the IV XOR the sequence number
			copy(nonce, k.iv)
			for i := range 8 {
				nonce[4+i] ^= ad[i]
			}
		} else { // AES-GCM: the fixed IV, then the record's explicit nonce
			if len(body) < 8 {
				return nil, false
			}
			copy(nonce, k.iv)
			copy(nonce[4:], body[:8])
			body = body[8:]
		}
		if len(body) < k.aead.Overhead() {
			return nil, false
		}
		binary.BigEndian.PutUint16(ad[11:], uint16(len(body)-k.aead.Overhead()))
		plain, err := k.aead.Open((*dst)[:0], nonce, body, ad[:])
		*dst = plain[:0]
		return plain, err == nil
	}
	// CBC: the IV, the ciphertext, and the MAC after it (encrypt-then-MAC)
	// or inside it before the padding.
	mac := func(content []byte) []byte {
		binary.BigEndian.PutUint16(ad[11:], uint16(len(content)))
		m := hmac.New(k.mac, k.macKey)
		m.Write(ad[:])
		m.Write(content)
		return m.Sum(nil)
	}
	if k.etm {
		if len(body) < k.macLen {
			return nil, false
		}
		tag := body[len(body)-k.macLen:]
		body = body[:len(body)-k.macLen]
		if !hmac.Equal(mac(body), tag) {
			return nil, false
		}
	}
	iv := k.iv
	if k.version >= 0x0302 { // TLS 1.1 on: an explicit IV per record
		if len(body) < aes.BlockSize {
			return nil, false
		}
		iv, body = body[:aes.BlockSize], body[aes.BlockSize:]
	}
	if len(body) == 0 || len(body)%aes.BlockSize != 0 {
		return nil, false
	}
	next := slices.Clone(body[len(body)-aes.BlockSize:])
	plain := append((*dst)[:0], body...)
	*dst = plain[:0]
	cipher.NewCBCDecrypter(k.block, iv).CryptBlocks(plain, plain)
	if k.version < 0x0302 {
		k.iv = next // TLS 1.0 chains the IV across records
	}
	pad := int(plain[len(plain)-1])
	if pad+1 > len(plain) {
		return nil, false
	}
	for _, b := range plain[len(plain)-1-pad:] {
		if b != byte(pad) {
			return nil, false
		}
	}
	plain = plain[:len(plain)-1-pad]
	if k.etm {
		return plain, true
	}
	if len(plain) < k.macLen {
		return nil, false
	}
	content, tag := plain[:len(plain)-k.macLen], plain[len(plain)-k.macLen:]
	if subtle.ConstantTimeCompare(mac(content), tag) != 1 {
		return nil, false
	}
	return content, true
}

// maxTranscript bounds the handshake kept for an RSA key exchange's
// extended master secret: a chain of large certificates fits.
const maxTranscript = 256 << 10

// transcribe keeps a handshake message read in the clear while an RSA key
// exchange may be decrypted: the extended master secret (RFC 7627) hashes
// every message up to the ClientKeyExchange.
func (c *Conn) transcribe(typ MessageType, body []byte) {
	if len(c.rsaKeys) == 0 || c.opened || c.rsaExchange != nil || typ >= 0x100 {
		return
	}
	if len(c.transcript)+4+len(body) > maxTranscript {
		c.rsaKeys = nil // past any handshake: no exchange to decrypt
		return
	}
	c.mem.Fixed(4 + len(body))
	c.transcript = append(c.transcript, byte(typ), byte(len(body)>>16), byte(len(body)>>8), byte(len(body)))
	c.transcript = append(c.transcript, body...)
	if typ == MsgClientKeyExchange {
		// RFC 5246, section 7.4.7.1: the encrypted premaster secret, with
		// its length from TLS 1.0 on.
		s := cryptobyte.String(body)
		var enc cryptobyte.String
		if s.ReadUint16LengthPrefixed(&enc) && s.Empty() {
			// A slice of the transcript, which stops growing here.
			n := len(c.transcript)
			c.rsaExchange, c.sessionHash = c.transcript[n-len(enc):n:n], n
		}
	}
}

// rsaMasterSecret decrypts the premaster secret of an RSA key exchange
// with the private key of the server's certificate, when one was given,
// and derives the master secret (RFC 5246, section 8.1; RFC 7627).
func (c *Conn) rsaMasterSecret() ([]byte, bool) {
	cc := c.c
	if c.rsaExchange != nil && len(cc.Certificates) > 0 {
		cc.Certificates[0].parse() // its key is needed now, before the Validator's Judge
	}
	if c.rsaExchange == nil || len(cc.Certificates) == 0 || cc.Certificates[0].x509 == nil ||
		!strings.HasPrefix(CipherSuiteName(cc.CipherSuite), "TLS_RSA_WITH_") {
		return nil, false
	}
	pub, ok := cc.Certificates[0].x509.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, false
	}
	i := slices.IndexFunc(c.rsaKeys, func(k *rsa.PrivateKey) bool { return k.PublicKey.Equal(pub) })
	if i < 0 {
		return nil, false
	}
	// TLS's RSA key exchange is PKCS #1 v1.5 by protocol (RFC 5246,
	// section 7.4.7.1). The deprecation warns of a padding oracle: here the
	// capture's own exchange is opened once, offline, and whether it opened
	// reaches no peer.
	//lint:ignore SA1019 decrypting a captured exchange, not serving one
	pms, err := rsa.DecryptPKCS1v15(nil, c.rsaKeys[i], c.rsaExchange)
	if err != nil || len(pms) != 48 {
		return nil, false
	}
	s, _ := suite12For(cc.CipherSuite)
	ch, sh := cc.ClientHello, cc.ServerHello
	if slices.Contains(ch.Extensions, extExtendedMasterSecret) && slices.Contains(sh.Extensions, extExtendedMasterSecret) {
		var sum []byte
		if cc.Version >= 0x0303 {
			h := s.prf()
			h.Write(c.transcript[:c.sessionHash])
			sum = h.Sum(nil)
		} else {
			m, s1 := md5.Sum(c.transcript[:c.sessionHash]), sha1.Sum(c.transcript[:c.sessionHash])
			sum = append(m[:], s1[:]...)
		}
		return prf12(cc.Version, s.prf, pms, "extended master secret", sum, 48), true
	}
	return prf12(cc.Version, s.prf, pms, "master secret", append(slices.Clone(ch.Random), sh.Random...), 48), true
}
