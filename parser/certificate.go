package parser

import (
	"bytes"
	"compress/zlib"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"io"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/crypto/cryptobyte"
)

// Certificate describes one certificate of a chain as sent on the wire.
type Certificate struct {
	SHA256             string // lowercase hex SHA-256 of the DER
	Length             int
	Subject, Issuer    string
	SANs               []string
	NotBefore          time.Time
	NotAfter           time.Time
	KeyType            string
	KeyBits            int
	SignatureAlgorithm string
	Serial             string
	ParseError         string // crypto/x509's reason when the DER could not be parsed

	x509       *x509.Certificate
	selfSigned bool // signed by its own key (isSelfSigned), checked once
	// der is a copy of the DER not parsed yet: a Validator leaves the
	// certificates it has not seen to its Judge, which runs on another
	// core than the parsing (pipeline.Run); nil once parsed.
	der []byte
}

// parse parses a certificate left for later, in place.
func (c *Certificate) parse() {
	if c.der != nil {
		*c = newCertificate(c.der)
	}
}

// X509 returns the parsed certificate, nil when crypto/x509 could not
// parse it. It is shared: callers must not change it.
func (c *Certificate) X509() *x509.Certificate { return c.x509 }

// maxChainLen caps how many certificates of one Certificate message are kept.
const maxChainLen = 32

// chainCost is what a decoded chain costs while a connection keeps it: its
// copy of the DER and what crypto/x509 parses from it, about 3 kB a
// certificate besides the DER (TestCertificateCost measures it).
func chainCost(chain []Certificate) int {
	n := 0
	for _, c := range chain {
		n += 3*c.Length + 3072
	}
	return n
}

// decodeCertificate decodes a Certificate message body: the TLS 1.2 layout
// (RFC 5246, section 7.4.2) or, when tls13, the TLS 1.3 layout with a request
// context and per-entry extensions (RFC 8446, section 4.4.2).
func decodeCertificate(body []byte, tls13 bool, v *Validator) ([]Certificate, bool) {
	s := cryptobyte.String(body)
	if tls13 {
		var ctx cryptobyte.String
		if !s.ReadUint8LengthPrefixed(&ctx) {
			return nil, false
		}
	}
	var list cryptobyte.String
	if !s.ReadUint24LengthPrefixed(&list) || !s.Empty() {
		return nil, false
	}
	var chain []Certificate
	for !list.Empty() {
		var der cryptobyte.String
		if !list.ReadUint24LengthPrefixed(&der) {
			return nil, false
		}
		if tls13 {
			var exts cryptobyte.String
			if !list.ReadUint16LengthPrefixed(&exts) {
				return nil, false
			}
		}
		if len(chain) < maxChainLen {
			chain = append(chain, v.certificate(der))
		}
	}
	return chain, true
}

// newCertificate describes a DER certificate. crypto/x509 keeps slices of
// what it parses (Raw, RawSubject, …), so der must not change afterwards:
// callers pass a copy, not the record buffer.
func newCertificate(der []byte) Certificate {
	sum := sha256.Sum256(der)
	c := Certificate{SHA256: hex.EncodeToString(sum[:]), Length: len(der)}
	x, err := x509.ParseCertificate(der)
	if err != nil {
		c.ParseError = err.Error()
		return c
	}
	c.x509, c.selfSigned = x, isSelfSigned(x)
	c.Subject, c.Issuer = distinguishedName(x.RawSubject), distinguishedName(x.RawIssuer)
	c.SANs = append(c.SANs, x.DNSNames...)
	for _, ip := range x.IPAddresses {
		c.SANs = append(c.SANs, ip.String())
	}
	c.NotBefore, c.NotAfter = x.NotBefore.UTC(), x.NotAfter.UTC()
	c.SignatureAlgorithm = x.SignatureAlgorithm.String()
	c.Serial = x.SerialNumber.Text(16)
	c.KeyType = x.PublicKeyAlgorithm.String()
	switch k := x.PublicKey.(type) {
	case *rsa.PublicKey:
		c.KeyBits = k.N.BitLen()
	case *ecdsa.PublicKey:
		c.KeyBits = k.Curve.Params().BitSize
	case ed25519.PublicKey:
		c.KeyBits = 256
	}
	return c
}

// coversName reports whether the certificate is valid for host name.
func (c *Certificate) coversName(name string) bool {
	return c.x509 != nil && c.x509.VerifyHostname(name) == nil
}

// Certificate compression algorithms (RFC 8879, section 7.3).
const (
	compressZlib   = 1
	compressBrotli = 2
	compressZstd   = 3
)

// decompressCertificate reads a CompressedCertificate (RFC 8879, section
// 4) and returns the Certificate message it holds. The output grows with
// what the algorithm gives, up to the length the message claims and never
// past maxHandshakeBuffer, so that a small message cannot make a large
// allocation. ok is false when the message is malformed; algorithm names
// an algorithm not read here with a nil body.
func decompressCertificate(body []byte) (out []byte, algorithm uint16, ok bool) {
	s := cryptobyte.String(body)
	var length uint32
	var compressed cryptobyte.String
	if !s.ReadUint16(&algorithm) || !s.ReadUint24(&length) || !s.ReadUint24LengthPrefixed(&compressed) || !s.Empty() {
		return nil, 0, false
	}
	var r io.Reader
	switch algorithm {
	case compressZlib:
		z, err := zlib.NewReader(bytes.NewReader(compressed))
		if err != nil {
			return nil, algorithm, false
		}
		r = z
	case compressBrotli:
		r = brotli.NewReader(bytes.NewReader(compressed))
	case compressZstd:
		// One goroutine, and no window larger than what may come out.
		z, err := zstd.NewReader(bytes.NewReader(compressed), zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxMemory(2*maxHandshakeBuffer), zstd.WithDecoderMaxWindow(2*maxHandshakeBuffer))
		if err != nil {
			return nil, algorithm, false
		}
		defer z.Close()
		r = z
	default:
		return nil, algorithm, true
	}
	if length > maxHandshakeBuffer {
		return nil, algorithm, false
	}
	out, err := io.ReadAll(io.LimitReader(r, int64(length)+1))
	if err != nil || len(out) != int(length) {
		return nil, algorithm, false // the length it claims is not what it holds
	}
	return out, algorithm, true
}
