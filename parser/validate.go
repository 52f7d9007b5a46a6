package parser

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"hash/maphash"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/ocsp"
)

// Validation judges a certificate chain as it stood at capture time.
type Validation struct {
	// Status is a short verdict in the words of Zeek's validation_status
	// (OpenSSL's): "ok", "certificate has expired", "unable to get local
	// issuer certificate", "self signed certificate", …
	Status        string
	Trusted       bool // the chain builds to a trusted root
	Expired       bool // a certificate had expired at capture time
	NotYetValid   bool
	SelfSigned    bool   // the leaf signs itself
	WeakKey       bool   // RSA under 2048 bits, DSA, or an elliptic curve under 224 bits
	WeakSignature bool   // a certificate below the root is signed with MD5 or SHA-1
	OCSPStatus    string // of a stapled OCSP response: good, revoked, unknown, unparsable; "" without one
	SCTs          int    // signed certificate timestamps, in the leaf and the TLS extension
}

// Validator parses certificates and judges chains against a set of roots,
// each once: the certificates parsed most recently, up to
// maxCertificateCache bytes of them, and the verdicts of the maxVerdicts
// chains used most recently are kept, whatever the traffic. It is safe for
// concurrent use.
type Validator struct {
	// trust is the roots, loaded once (NewValidator).
	trust    func() trust
	verdicts *lru[chainKey, chainVerdict]
	// certs are keyed by a fast hash of their DER, checked on a hit:
	// SHA-256 would cost a tenth of a dense capture's decrypted run.
	certs *lru[uint64, Certificate]
	// prints are ClientHellos' fingerprints, keyed by a fast hash of
	// their inputs, checked on a hit (Validator.fingerprint).
	prints *lru[uint64, printed]
	seed   maphash.Seed
}

// trust is what a Validator judges chains against.
type trust struct {
	roots *x509.CertPool
	// rootNames are the subjects of the roots, by which crypto/x509 looks
	// a chain's issuers up in them; nil where it asks the platform instead
	// (reachesRoot).
	rootNames map[string]bool
}

// maxVerdicts bounds the Validator's verdicts: an entry is its key, its
// verdict and their bookkeeping, about 200 bytes, so 4096 stay under 1 MB.
const maxVerdicts = 4096

// maxCertificateCache bounds the parsed certificates kept, by what each
// costs (chainCost): about 500 of the usual size, the intermediates and the
// busiest servers' leaves of a capture point. On bench/mix-1024.pcap (3,000
// servers) 8 MiB parsed 3,417 certificates and 2 MiB 4,978, in the same
// time within the noise, and peak RSS went from 64.6 to 54.4 MiB.
const maxCertificateCache = 2 << 20

// chainKey names a chain by the SHA-256 of its certificates' digests.
type chainKey [sha256.Size]byte

type chainVerdict struct {
	trusted bool
	status  string
	weakSig bool
}

// NewValidator returns a Validator trusting the roots load returns (none
// when load or what it returns is nil). load runs at once, on a goroutine
// of its own, and the first chain to judge waits for it: reading the
// system's roots took 31 to 39 of the 63 ms that a capture of one
// connection took to analyse, and now overlaps the reading.
func NewValidator(load func() *x509.CertPool) *Validator {
	v := &Validator{verdicts: newLRU[chainKey, chainVerdict](maxVerdicts),
		certs: newLRU[uint64, Certificate](maxCertificateCache), prints: newLRU[uint64, printed](maxPrinted), seed: maphash.MakeSeed()}
	v.trust = sync.OnceValue(func() trust {
		var t trust
		if load != nil {
			t.roots = load()
		}
		if t.roots == nil {
			t.roots = x509.NewCertPool()
		}
		switch runtime.GOOS {
		case "darwin", "ios", "windows": // the system's roots are the platform's, not the pool's
		default:
			t.rootNames = map[string]bool{}
			//lint:ignore SA1019 the deprecation is of system pools on the platforms excluded above
			for _, name := range t.roots.Subjects() {
				t.rootNames[string(name)] = true
			}
		}
		return t
	})
	go v.trust()
	return v
}

// CacheStats says how often a certificate, a chain's verdict or a
// ClientHello's fingerprints were found already parsed, judged or made
// (hits), and how often they had to be (misses).
type CacheStats struct {
	CertificateHits, CertificateMisses int
	VerdictHits, VerdictMisses         int
	FingerprintHits, FingerprintMisses int
}

// Stats returns the counts of the Validator's caches.
func (v *Validator) Stats() CacheStats {
	var s CacheStats
	s.CertificateHits, s.CertificateMisses = v.certs.counts()
	s.VerdictHits, s.VerdictMisses = v.verdicts.counts()
	s.FingerprintHits, s.FingerprintMisses = v.prints.counts()
	return s
}

// certificate describes a DER certificate, parsed once while it is among
// those used most recently; without a Validator, or when crypto/x509
// cannot parse it, every time.
func (v *Validator) certificate(der []byte) Certificate {
	if v == nil {
		return newCertificate(bytes.Clone(der))
	}
	if c, _, ok := v.cached(der, false); ok {
		return c
	}
	return Certificate{Length: len(der), der: bytes.Clone(der)}
}

// cached returns the certificate kept for der, counted as reused when
// found; counted as parsed when not, if count. h is der's key in the cache.
func (v *Validator) cached(der []byte, count bool) (c Certificate, h uint64, ok bool) {
	h = maphash.Bytes(v.seed, der)
	c, ok = v.certs.get(h, count)
	return c, h, ok && bytes.Equal(c.x509.Raw, der)
}

// complete parses the certificates of a chain left for later, once each
// while they are in the cache.
func (v *Validator) complete(chain []Certificate) {
	for i := range chain {
		c := &chain[i]
		if c.der == nil {
			continue
		}
		cached, h, ok := v.cached(c.der, true)
		if ok {
			*c = cached
			continue
		}
		c.parse()
		if c.x509 != nil {
			v.certs.put(h, *c, chainCost(chain[i:i+1]))
		}
	}
}

// Judge judges a decided connection's chains as they stood when it
// started: its Validation and ClientValidation. It is not done when the
// connection is decided, so that a pipeline can check the signatures of
// new chains on another core than the one parsing (pipeline.Run); for the
// same reason it also makes the ClientHello's fingerprints, which a
// connection with a Validator leaves to it.
func (v *Validator) Judge(c *Connection) {
	if ch := c.ClientHello; ch != nil && ch.unprinted != 0 {
		v.fingerprint(ch)
		ch.unprinted = 0
	}
	v.complete(c.Certificates)
	v.complete(c.ClientCertificates)
	var ocspResp []byte
	if c.CertificateStatus != nil {
		ocspResp = c.CertificateStatus.Response
	}
	scts := 0
	if c.ServerHello != nil {
		scts = c.ServerHello.SCTs
	}
	c.Validation = v.Validate(c.Certificates, c.Start, ocspResp, scts)
	c.ClientValidation = v.Validate(c.ClientCertificates, c.Start, nil, 0)
}

// oidSCTList is the X.509 extension of embedded SCTs (RFC 6962, 3.3).
var oidSCTList = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 2}

// Validate judges chain (leaf first) at time at. ocspResp is a stapled OCSP
// response, tlsSCTs the SCTs of the TLS extension.
func (v *Validator) Validate(chain []Certificate, at time.Time, ocspResp []byte, tlsSCTs int) *Validation {
	if len(chain) == 0 {
		return nil
	}
	r := &Validation{SCTs: tlsSCTs}
	for i := range chain {
		x := chain[i].x509
		if x == nil {
			r.Status = "unable to parse certificate"
			return r
		}
		r.Expired = r.Expired || at.After(x.NotAfter)
		r.NotYetValid = r.NotYetValid || at.Before(x.NotBefore)
		r.WeakKey = r.WeakKey || weakKey(x)
	}
	leaf := chain[0].x509
	r.SelfSigned = chain[0].selfSigned
	r.SCTs += countSCTs(leaf)
	if len(ocspResp) > 0 {
		var issuer *x509.Certificate
		if len(chain) > 1 {
			issuer = chain[1].x509
		}
		r.OCSPStatus = ocspStatus(ocspResp, leaf, issuer)
	}

	verdict := v.verify(chain)
	r.Trusted, r.WeakSignature = verdict.trusted, verdict.weakSig
	switch {
	case r.Expired:
		r.Status = "certificate has expired"
	case r.NotYetValid:
		r.Status = "certificate is not yet valid"
	default:
		r.Status = verdict.status
	}
	return r
}

// verify builds the chain to a root, at a time every certificate is valid,
// so that the verdict holds for any capture time (validity is judged apart);
// a chain that cannot reach one by its names is judged by them
// (reachesRoot).
func (v *Validator) verify(chain []Certificate) chainVerdict {
	h := sha256.New()
	for _, c := range chain {
		h.Write([]byte(c.SHA256))
	}
	var key chainKey
	h.Sum(key[:0])
	verdict, ok := v.verdicts.get(key, true)
	if ok {
		return verdict
	}
	when := chain[0].x509.NotBefore
	for i, c := range chain {
		if c.x509.NotBefore.After(when) {
			when = c.x509.NotBefore
		}
		last := i == len(chain)-1 && c.selfSigned
		if !last && (c.x509.SignatureAlgorithm == x509.SHA1WithRSA || c.x509.SignatureAlgorithm == x509.ECDSAWithSHA1 ||
			c.x509.SignatureAlgorithm == x509.MD5WithRSA || c.x509.SignatureAlgorithm == x509.DSAWithSHA1) {
			verdict.weakSig = true
		}
	}
	if verdict.weakSig || v.reachesRoot(chain) {
		verdict.trusted, verdict.status = v.verifyX509(chain, when, verdict.weakSig)
	} else {
		verdict.status = untrustedStatus(chain)
	}
	v.verdicts.put(key, verdict, 1)
	return verdict
}

// verifyX509 has crypto/x509 build chain to a root at time when, and
// words its verdict.
func (v *Validator) verifyX509(chain []Certificate, when time.Time, weakSig bool) (trusted bool, status string) {
	// A self-signed certificate sent last cannot make the chain trusted:
	// a trusted root of its name is found in the roots. It is left out of
	// the intermediates, as checking its signature on the certificate
	// below took a quarter of a run over the mixed capture (a P-384 root),
	// unless a weak signature below it must be seen to be told apart.
	inter := x509.NewCertPool()
	for i, c := range chain[1:] {
		if i < len(chain)-2 || !c.selfSigned || weakSig {
			inter.AddCert(c.x509)
		}
	}
	_, err := chain[0].x509.Verify(x509.VerifyOptions{Roots: v.trust().roots, Intermediates: inter, CurrentTime: when,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err == nil, verifyStatus(err, chain)
}

// verifyStatus words a crypto/x509 verification error as OpenSSL does.
func verifyStatus(err error, chain []Certificate) string {
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var insecure x509.InsecureAlgorithmError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &unknown) && strings.Contains(err.Error(), "insecure algorithm"):
		// crypto/x509 verifies no SHA-1 or MD5 signature, so such a chain
		// cannot be judged further.
		return "signature algorithm not accepted (SHA-1 or MD5)"
	case errors.As(err, &unknown):
		return untrustedStatus(chain)
	case errors.As(err, &insecure):
		return "signature algorithm not accepted: " + x509.SignatureAlgorithm(insecure).String()
	case errors.As(err, &invalid):
		switch invalid.Reason {
		case x509.NotAuthorizedToSign:
			return "invalid CA certificate"
		case x509.IncompatibleUsage:
			return "unsupported certificate purpose"
		case x509.TooManyIntermediates:
			return "path length constraint exceeded"
		}
	}
	return strings.TrimPrefix(err.Error(), "x509: ")
}

// untrustedStatus words a chain that builds to no trusted root.
func untrustedStatus(chain []Certificate) string {
	switch {
	case len(chain) == 1 && chain[0].selfSigned:
		return "self signed certificate"
	case chain[len(chain)-1].selfSigned:
		return "self signed certificate in certificate chain"
	}
	return "unable to get local issuer certificate"
}

// reachesRoot reports whether chain may build to a trusted root: whether
// the leaf, or an issuer named by the leaf or by a certificate of the chain
// the leaf's issuers lead to, has the name of a root. crypto/x509 finds a
// certificate's parents by that name alone, so a chain that reaches no
// root's name cannot be trusted whatever its signatures, and OpenSSL (and
// so Zeek) reports that before checking them or the chain's constraints.
// Without checking them, judging the mixed capture of make bench (3,000
// servers under roots not trusted) took a sixth less CPU: one ECDSA
// verification for each new chain. Where the roots are the platform's, it
// says yes. A chain has at most maxChainLen certificates, so the search
// is small.
func (v *Validator) reachesRoot(chain []Certificate) bool {
	rootNames := v.trust().rootNames
	if rootNames == nil || rootNames[string(chain[0].x509.RawSubject)] {
		return true
	}
	names := []string{string(chain[0].x509.RawIssuer)}
	for i := 0; i < len(names); i++ {
		if rootNames[names[i]] {
			return true
		}
		for _, c := range chain[1:] {
			if string(c.x509.RawSubject) == names[i] && !slices.Contains(names, string(c.x509.RawIssuer)) {
				names = append(names, string(c.x509.RawIssuer))
			}
		}
	}
	return false
}

// isSelfSigned reports whether c is signed by its own key. CheckSignatureFrom
// would also ask that c may sign certificates, which a self-signed leaf
// may not.
func isSelfSigned(c *x509.Certificate) bool {
	return c != nil && string(c.RawIssuer) == string(c.RawSubject) &&
		c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

func weakKey(c *x509.Certificate) bool {
	if c.PublicKeyAlgorithm == x509.DSA {
		return true
	}
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		return k.N.BitLen() < 2048
	case *ecdsa.PublicKey:
		return k.Curve.Params().BitSize < 224
	}
	return false
}

// countSCTs counts the SCTs embedded in a certificate: an OCTET STRING that
// holds a TLS-encoded SignedCertificateTimestampList (RFC 6962, 3.3).
func countSCTs(c *x509.Certificate) int {
	for _, e := range c.Extensions {
		if !e.Id.Equal(oidSCTList) {
			continue
		}
		var inner []byte
		if _, err := asn1.Unmarshal(e.Value, &inner); err != nil {
			return 0
		}
		return sctListLen(inner)
	}
	return 0
}

// sctListLen counts the entries of a SignedCertificateTimestampList.
func sctListLen(b []byte) int {
	s := cryptobyte.String(b)
	var list cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&list) {
		return 0
	}
	n := 0
	for !list.Empty() {
		var sct cryptobyte.String
		if !list.ReadUint16LengthPrefixed(&sct) {
			return n
		}
		n++
	}
	return n
}

func ocspStatus(resp []byte, leaf, issuer *x509.Certificate) string {
	r, err := ocsp.ParseResponseForCert(resp, leaf, issuer)
	if err != nil {
		return "unparsable"
	}
	switch r.Status {
	case ocsp.Good:
		return "good"
	case ocsp.Revoked:
		return "revoked"
	}
	return "unknown"
}
