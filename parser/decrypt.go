package parser

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"hash"
	"slices"
	"time"

	"github.com/tlssniff/tlssniff/keylog"

	"golang.org/x/crypto/chacha20poly1305"
)

// TLS 1.3 record protection (RFC 8446, sections 5.2, 5.3 and 7.3): with a
// traffic secret from a key log, a side's records are opened and their
// inner content read.

// hkdfExpandLabel is TLS 1.3's HKDF-Expand-Label (RFC 8446, section 7.1)
// with an empty context, from prk, an HMAC keyed with the secret, for n up
// to the hash's size: every length asked for (keys, IVs, header protection
// keys, a next secret) fits in one output of the hash, which HKDF-Expand
// (RFC 5869, section 2.3) makes with one HMAC. Written here, as
// x/crypto/hkdf's reader took three quarters of the key derivation of the
// TLS 1.3 connections of make bench's dense capture, decrypted; the keys
// of one secret share its HMAC.
func hkdfExpandLabel(prk hash.Hash, label string, n int) []byte {
	info := make([]byte, 0, 3+len("tls13 ")+len(label)+2)
	info = append(info, byte(n>>8), byte(n), byte(len("tls13 ")+len(label)))
	info = append(info, "tls13 "...)
	info = append(info, label...)
	info = append(info, 0) // the empty context
	prk.Reset()
	prk.Write(info)
	prk.Write([]byte{1}) // the first block's counter
	return prk.Sum(nil)[:n]
}

// recordKeys open one direction's records of one epoch.
type recordKeys struct {
	aead aeadOpener
	iv   []byte
	seq  uint64 // of the next record
}

// The AEADs of TLS and QUIC, by key.
func newGCM(key []byte) aeadOpener {
	block, _ := aes.NewCipher(key)
	a, _ := cipher.NewGCM(block)
	return a
}

func newChaCha20Poly1305(key []byte) aeadOpener {
	a, _ := chacha20poly1305.New(key)
	return a
}

func newCCM(tagLen int) func(key []byte) aeadOpener {
	return func(key []byte) aeadOpener {
		block, _ := aes.NewCipher(key)
		return &ccm{block: block, tagLen: tagLen}
	}
}

// suite13 is what protecting TLS 1.3 records or QUIC packets with a TLS
// 1.3 suite takes (RFC 8446, appendix B.4).
type suite13 struct {
	hash   func() hash.Hash
	keyLen int
	aead   func(key []byte) aeadOpener
}

// suite13For describes a TLS 1.3 suite; ok is false for one not known here.
func suite13For(suite uint16) (s suite13, ok bool) {
	switch suite {
	case 0x1301: // TLS_AES_128_GCM_SHA256
		return suite13{sha256.New, 16, newGCM}, true
	case 0x1302: // TLS_AES_256_GCM_SHA384
		return suite13{sha512.New384, 32, newGCM}, true
	case 0x1303: // TLS_CHACHA20_POLY1305_SHA256
		return suite13{sha256.New, chacha20poly1305.KeySize, newChaCha20Poly1305}, true
	case 0x1304, 0x1305: // TLS_AES_128_CCM_SHA256, TLS_AES_128_CCM_8_SHA256
		return suite13{sha256.New, 16, newCCM(tagLen(suite))}, true
	}
	return s, false
}

// keys expands a traffic secret into an AEAD and its IV, with TLS 1.3's
// labels after prefix (RFC 8446, section 7.3; RFC 9001, section 5.1 with
// "quic "); ok is false for a secret of another hash's size.
func (s suite13) keys(secret []byte, prefix string) (aead aeadOpener, iv []byte, ok bool) {
	if len(secret) != s.hash().Size() {
		return nil, nil, false
	}
	prk := hmac.New(s.hash, secret)
	return s.aead(hkdfExpandLabel(prk, prefix+"key", s.keyLen)), hkdfExpandLabel(prk, prefix+"iv", 12), true
}

// trafficKeys derives the keys of a traffic secret for a TLS 1.3 suite;
// ok is false for a suite not decrypted here.
func trafficKeys(suite uint16, secret []byte) (*recordKeys, bool) {
	s, ok := suite13For(suite)
	if !ok {
		return nil, false
	}
	aead, iv, ok := s.keys(secret, "")
	if !ok {
		return nil, false
	}
	return &recordKeys{aead: aead, iv: iv}, true
}

// opener opens one direction's protected records: TLS 1.3's (recordKeys)
// or TLS 1.0-1.2's (recordKeys12, decrypt12.go).
type opener interface {
	// open decrypts r's body into (*dst)[:0], growing it when it must, and
	// returns the content type and content, valid until the next open
	// into dst.
	open(dst *[]byte, r Record) (typ uint8, content []byte, ok bool)
}

// open decrypts a TLS 1.3 record and returns its inner content type and
// content, without the padding.
func (k *recordKeys) open(dst *[]byte, r Record) (typ uint8, content []byte, ok bool) {
	header := [5]byte{r.Type, byte(r.Version >> 8), byte(r.Version), byte(r.Length >> 8), byte(r.Length)}
	body := r.Body
	var nonce [12]byte
	copy(nonce[:], k.iv)
	var seq [8]byte
	binary.BigEndian.PutUint64(seq[:], k.seq)
	for i := range seq {
		nonce[4+i] ^= seq[i]
	}
	plain, err := k.aead.Open((*dst)[:0], nonce[:], body, header[:])
	*dst = plain[:0]
	if err != nil {
		return 0, nil, false
	}
	k.seq++
	// RFC 8446, section 5.4: the content type is the last byte that is not
	// zero padding.
	for i := len(plain) - 1; i >= 0; i-- {
		if plain[i] != 0 {
			return plain[i], plain[:i], true
		}
	}
	return 0, nil, false // all padding: a record that breaks the protocol
}

// Decryption says whether key log secrets decrypted a connection's
// handshake, and why not (docs/CONTRACT.md): Keys is "decrypted", "none",
// "mismatch" or "unsupported", Detail says more.
type Decryption struct {
	Keys   string
	Detail string
}

// decryption is a connection's state while its records are opened with
// keys, from the ServerHello on.
type decryption struct {
	secrets keylog.Secrets
	suite   uint16
	sides   [2]decryptSide // by wire side
	plain   []byte         // the last record opened, charged to the budget
	// early opens the client's 0-RTT records after the ServerHello, up to
	// its EndOfEarlyData: its sequence starts after the early records sent
	// before, which are counted, not opened.
	early opener
}

// decryptSide is one side's record protection.
type decryptSide struct {
	keys opener // nil once the side's records are no longer opened
	// next is a TLS 1.2 side's keys, taken up at its ChangeCipherSpec.
	next opener
	// secret is a TLS 1.3 side's application traffic secret, for its key
	// updates.
	secret []byte
	done   bool // its handshake records were all opened: what follows is application data
}

// secrets returns the key log's TLS 1.3 secrets for the handshake, or
// notes why there are none.
func (c *Conn) secrets() (keylog.Secrets, bool) {
	ch := c.c.ClientHello
	if c.keys == nil || ch == nil {
		return keylog.Secrets{}, false
	}
	s, ok := c.keys.Lookup(ch.Random)
	switch {
	case !ok:
		c.c.Decryption.Detail = "no key log line for this ClientHello random"
		return s, false
	case s.ClientHandshake == nil && s.ServerHandshake == nil:
		c.c.Decryption.Detail = "the key log has no handshake traffic secrets for this ClientHello random"
		return s, false
	}
	return s, true
}

// decryption records how the handshake was decrypted, once: the first
// word stands.
func (c *Conn) decryption(keys, detail string) {
	if c.c.Decryption.Keys == "" {
		c.c.Decryption = Decryption{Keys: keys, Detail: detail}
	}
}

// openedHandshakeBytes reads handshake bytes that came out of a record or
// packet opened with keys.
func (c *Conn) openedHandshakeBytes(side int, ts time.Time, b []byte) {
	c.opened = true
	c.handshakeBytes(side, ts, b)
	c.opened = false
}

// startDecryption looks the handshake's secrets up once a TLS 1.3
// ServerHello came, and opens the records that follow with them.
func (c *Conn) startDecryption() {
	s, ok := c.secrets()
	if !ok {
		return
	}
	d := &decryption{secrets: s, suite: c.c.CipherSuite}
	if _, ok := suite13For(d.suite); !ok {
		c.decryption("unsupported", CipherSuiteName(d.suite)+" records are not decrypted")
		return
	}
	// A side whose secret the key log lacks (OpenSSL logs a client's only
	// once it sends its Finished, so not when it quits after the server's
	// flight) is read without keys.
	for _, h := range []struct {
		side   int
		secret []byte
	}{{c.client, s.ClientHandshake}, {1 - c.client, s.ServerHandshake}} {
		if k, ok := trafficKeys(d.suite, h.secret); ok && h.secret != nil {
			d.sides[h.side].keys = k
		}
	}
	if ch := c.c.ClientHello; ch.EarlyData && s.ClientEarly != nil {
		if ek, ok := trafficKeys(d.suite, s.ClientEarly); ok {
			ek.seq = uint64(c.c.EarlyData.Records)
			d.early = ek
		}
	}
	c.dec = d
}

// decrypting reports whether side's next application_data record is to be
// opened; the secrets are looked up at the first one of a TLS 1.3
// handshake.
func (c *Conn) decrypting(side int) bool {
	if !c.decTried && c.c.ServerHello != nil && c.c.Version == 0x0304 {
		c.startDecryption()
		c.decTried = c.dec != nil || !c.wait // a followed key log is asked again
	}
	return c.dec != nil && c.dec.sides[side].keys != nil
}

// Limits on the protected records held while the secrets may still come:
// a TLS 1.3 handshake's flights fit, the application data after them
// soon ends the wait.
const (
	maxHeldRecords = 32
	maxHeldBytes   = 64 << 10
)

// heldRecord is a protected record kept until its secrets come, its body
// copied and charged to the budget.
type heldRecord struct {
	side int
	r    Record
}

// hold keeps a protected TLS 1.3 record whose secrets may still come from
// a followed key log, and every record after it, and reports whether it
// did. When the secrets come, the held records are read with them, in
// order; when they do not come within maxHeldRecords records or
// maxHeldBytes, or before the connection is decided, they are read as if
// no key log was given.
func (c *Conn) hold(side int, r Record) bool {
	if !c.wait || c.emitted { // every record passes here: the common case first
		return false
	}
	first := r.Type == recordApplicationData && c.c.TLS13() && r.Body != nil && !c.decrypting(side)
	if len(c.held.items) == 0 && !first {
		return false
	}
	n := len(r.Body)
	r.Body = bytes.Clone(r.Body)
	if !c.held.hold(c.mem, heldRecord{side, r}, n) {
		c.release()
		return false
	}
	return true
}

// release ends the wait for the secrets: the held records are read, with
// the secrets when they came, else inferred from.
func (c *Conn) release() {
	if !c.wait {
		return
	}
	c.wait = false
	c.tr.release()
	for _, h := range c.held.take(c.mem) {
		c.record(h.side, h.r) // each counted and settled as it would have been
	}
}

// keysCame ends the wait as soon as the secrets are in the key log.
func (c *Conn) keysCame() {
	if len(c.held.items) > 0 && c.decrypting(c.held.items[0].side) {
		c.release()
	}
}

// wantBody says whether a record's body is read: until the side encrypts
// or the connection is decided, and a protected record's when it can be
// opened, or held until its secrets come: TLS 1.3's application_data
// records, which carry its handshake, and TLS 1.2's handshake and alert
// records after ChangeCipherSpec. Application data is never buffered
// otherwise.
func (c *Conn) wantBody(side int, typ uint8) bool {
	switch {
	case c.emitted:
		return false
	case typ == recordApplicationData:
		return c.c.TLS13() && (c.decrypting(side) || c.wait)
	case c.sides[side].encrypted:
		return c.sides[side].unsure || !c.c.TLS13() && c.decrypting(side)
	}
	return true
}

// startDecryption12 takes up side's TLS 1.0-1.2 keys at its
// ChangeCipherSpec, expanding them from the key log's master secret the
// first time.
func (c *Conn) startDecryption12(side int) {
	if !c.decTried {
		c.decTried = true
		ch, sh := c.c.ClientHello, c.c.ServerHello
		if (c.keys == nil && len(c.rsaKeys) == 0) || ch == nil {
			return
		}
		s, _ := c.keys.Lookup(ch.Random)
		if s.MasterSecret == nil {
			s.MasterSecret, _ = c.rsaMasterSecret()
		}
		if s.MasterSecret == nil {
			c.c.Decryption.Detail = "no CLIENT_RANDOM line for this ClientHello random"
			return
		}
		etm := slices.Contains(ch.Extensions, extEncryptThenMAC) && slices.Contains(sh.Extensions, extEncryptThenMAC)
		ck, sk, ok := keys12(c.c.Version, c.c.CipherSuite, etm, s.MasterSecret, ch.Random, sh.Random)
		if !ok {
			c.decryption("unsupported", CipherSuiteName(c.c.CipherSuite)+" records are not decrypted")
			return
		}
		c.dec = &decryption{secrets: s, suite: c.c.CipherSuite}
		c.dec.sides[c.client].next, c.dec.sides[1-c.client].next = ck, sk
	}
	if c.dec != nil {
		ds := &c.dec.sides[side]
		ds.keys, ds.next = ds.next, nil
	}
}

// judgeDecryption says, once a connection is decided, why its records were
// not opened when they were not.
func (c *Conn) judgeDecryption() {
	d := &c.c.Decryption
	switch {
	case d.Keys != "":
	case (c.keys == nil || c.keys.Len() == 0) && c.rsaExchange == nil:
		*d = Decryption{Keys: "none", Detail: "no key log given"}
	case d.Detail != "":
		d.Keys = "none" // startDecryption said why
	case c.c.ClientHello == nil:
		*d = Decryption{Keys: "none", Detail: "no ClientHello"}
	default:
		switch _, ok := c.keys.Lookup(c.c.ClientHello.Random); {
		case !ok:
			*d = Decryption{Keys: "none", Detail: "no key log line for this ClientHello random"}
		case c.c.ServerHello == nil:
			*d = Decryption{Keys: "none", Detail: "no ServerHello: nothing was encrypted"}
		default:
			*d = Decryption{Keys: "unsupported", Detail: VersionName(c.c.Version) + " is not decrypted yet"}
		}
	}
}

// decrypt opens a protected record of side and reads what it holds, as if
// sent in the clear; it reports false when the record does not open (the
// secrets are not this connection's), and decryption stops.
func (c *Conn) decrypt(side int, r Record) bool {
	d := c.dec
	ds := &d.sides[side]
	before := cap(d.plain)
	if d.early != nil && side == c.client {
		if typ, content, ok := d.early.open(&d.plain, r); ok {
			c.mem.Fixed(cap(d.plain) - before)
			c.early(side, r, typ, content)
			return true
		}
		d.early = nil // early data refused, or over: the handshake keys now
	}
	typ, content, ok := ds.keys.open(&d.plain, r)
	c.mem.Fixed(cap(d.plain) - before) // a record's worth at most, kept until decided
	if !ok {
		// Not this connection's secrets, or not its records: both sides
		// go back to what can be inferred without keys.
		d.sides[0].keys, d.sides[1].keys = nil, nil
		c.decryption("mismatch", "the "+c.role(side).String()+"'s records did not authenticate with the key log's secrets")
		return false
	}
	c.decryption("decrypted", "")
	if typ == recordApplicationData {
		// Application data stays unread: from here on the side's records
		// are counted.
		ds.keys, ds.done = nil, true
		c.message(r.Time, side, MsgApplicationData, r.Length, true)
		return true
	}
	switch typ {
	case recordHandshake:
		c.tr.openedHandshake(side, r.Time, content)
	case recordAlert:
		c.opened = true
		c.alert(side, r.Time, len(content), content)
		c.opened = false
	}
	return true
}

// early reads a 0-RTT record the client sent after the ServerHello: data,
// counted, or its EndOfEarlyData, after which its handshake keys apply.
func (c *Conn) early(side int, r Record, typ uint8, content []byte) {
	c.decryption("decrypted", "")
	if typ != recordHandshake {
		c.c.EarlyData.Records++
		c.message(r.Time, side, MsgApplicationData, r.Length, true)
		return
	}
	c.dec.early = nil
	c.c.EarlyData.Accepted = true
	c.openedHandshakeBytes(side, r.Time, content)
}

// nextKeys moves side to its application traffic keys once its Finished
// was read from a record, to read the tickets and key updates that may
// follow.
func (c *Conn) nextKeys(side int) {
	if c.dec == nil || !c.c.TLS13() {
		return // not read from a TLS 1.3 record (QUIC), or TLS 1.2: the keys stay
	}
	secret := c.dec.secrets.ServerTraffic
	if c.role(side) == FromClient {
		secret = c.dec.secrets.ClientTraffic
	}
	c.trafficKeys(side, secret)
}

// trafficKeys moves side to the keys of an application traffic secret.
func (c *Conn) trafficKeys(side int, secret []byte) {
	ds := &c.dec.sides[side]
	ds.keys, ds.secret = nil, secret
	if k, ok := trafficKeys(c.dec.suite, secret); ok {
		ds.keys = k
	} else {
		ds.done = true
	}
}

// keyUpdate moves side to its next application traffic secret after a
// KeyUpdate read from it (RFC 8446, section 7.2).
func (c *Conn) keyUpdate(side int) {
	if c.dec == nil || !c.c.TLS13() || c.dec.sides[side].secret == nil {
		return
	}
	h := sha256.New
	if len(c.dec.sides[side].secret) == sha512.Size384 {
		h = sha512.New384
	}
	old := c.dec.sides[side].secret
	c.trafficKeys(side, hkdfExpandLabel(hmac.New(h, old), "traffic upd", len(old)))
}
