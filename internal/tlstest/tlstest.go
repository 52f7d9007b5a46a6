// Package tlstest runs real crypto/tls handshakes over loopback sockets and
// records what each side wrote, in order. The sample generator and the
// parser's tests use it to get TLS bytes from a real stack.
package tlstest

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"sync"
	"time"

	"golang.org/x/crypto/cryptobyte"
)

// PKI is a private CA and a server certificate for www.example.test and
// *.example.test, signed by it.
type PKI struct {
	Roots  *x509.CertPool
	Server tls.Certificate
	CA     *x509.Certificate
}

// CAPEM returns the CA certificate in PEM form.
func (p *PKI) CAPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.CA.Raw})
}

// NewPKI makes a fresh CA and server certificate, valid from 2026 on.
func NewPKI() (*PKI, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	notBefore := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tlssniff sample CA"},
		NotBefore: notBefore, NotAfter: notBefore.AddDate(10, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "www.example.test"},
		DNSNames:  []string{"www.example.test", "*.example.test"},
		NotBefore: notBefore, NotAfter: notBefore.AddDate(5, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	p := &PKI{Roots: x509.NewCertPool(), CA: caCert}
	p.Roots.AddCert(caCert)
	p.Server = tls.Certificate{Certificate: [][]byte{leafDER, caDER}, PrivateKey: key}
	return p, nil
}

// Configs returns a client and a server config limited to versions
// minV..maxV, with SNI sni and ALPN h2 and http/1.1 offered.
func (p *PKI) Configs(sni string, minV, maxV uint16) (client, server *tls.Config) {
	client = &tls.Config{RootCAs: p.Roots, ServerName: sni, MinVersion: minV, MaxVersion: maxV,
		NextProtos: []string{"h2", "http/1.1"}}
	server = &tls.Config{Certificates: []tls.Certificate{p.Server}, MinVersion: minV, MaxVersion: maxV,
		NextProtos: []string{"h2", "http/1.1"}}
	return client, server
}

// Write is one Write call on the wire: who wrote it and what.
type Write struct {
	FromClient bool
	Data       []byte
}

type recorder struct {
	mu     sync.Mutex
	writes []Write
}

type recConn struct {
	net.Conn
	rec        *recorder
	fromClient bool
}

func (c *recConn) Write(b []byte) (int, error) {
	c.rec.mu.Lock()
	c.rec.writes = append(c.rec.writes, Write{c.fromClient, append([]byte(nil), b...)})
	c.rec.mu.Unlock()
	return c.Conn.Write(b)
}

// Session runs one TLS connection: the client sends a 64-byte request, the
// server answers with respSize bytes, and both close. It returns every write
// in order and the client's error, if the handshake or exchange failed.
func Session(client, server *tls.Config, respSize int) ([]Write, error) {
	cp, sp, err := socketPair()
	if err != nil {
		return nil, err
	}
	rec := &recorder{}
	cc := tls.Client(&recConn{cp, rec, true}, client)
	sc := tls.Server(&recConn{sp, rec, false}, server)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer sc.Close()
		if sc.Handshake() != nil {
			return
		}
		req := make([]byte, 64)
		if _, err := io.ReadFull(sc, req); err != nil {
			return
		}
		chunk := make([]byte, 16384)
		for sent := 0; sent < respSize; sent += len(chunk) {
			if _, err := sc.Write(chunk[:min(len(chunk), respSize-sent)]); err != nil {
				return
			}
		}
		io.Copy(io.Discard, sc) // until the client's close_notify
	}()
	err = cc.Handshake()
	if err == nil {
		if _, err = cc.Write(make([]byte, 64)); err == nil {
			_, err = io.CopyN(io.Discard, cc, int64(respSize))
		}
	}
	cc.Close()
	<-done
	return rec.writes, err
}

// socketPair returns the two ends of a TCP connection over loopback; unlike
// net.Pipe its kernel buffers let both ends write at once, as TLS 1.3 peers do.
func socketPair() (net.Conn, net.Conn, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	defer ln.Close()
	type result struct {
		c   net.Conn
		err error
	}
	accepted := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		accepted <- result{c, err}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return nil, nil, err
	}
	r := <-accepted
	if r.err != nil {
		c.Close()
		return nil, nil, r.err
	}
	return c, r.c, nil
}

// ECH returns an ECHConfigList for clients and the matching key for servers:
// one ECHConfig (draft-ietf-tls-esni, section 4) with config_id 7, DHKEM
// X25519, HKDF-SHA256 and AES-128-GCM, for publicName.
func ECH(publicName string) (configList []byte, key tls.EncryptedClientHelloKey, err error) {
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, key, err
	}
	var b cryptobyte.Builder
	b.AddUint16(0xfe0d) // version
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddUint8(7)       // config_id
		b.AddUint16(0x0020) // DHKEM(X25519, HKDF-SHA256)
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(priv.PublicKey().Bytes()) })
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			b.AddUint16(0x0001) // HKDF-SHA256
			b.AddUint16(0x0001) // AES-128-GCM
		})
		b.AddUint8(0) // maximum_name_length
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(publicName)) })
		b.AddUint16(0) // no extensions
	})
	config, err := b.Bytes()
	if err != nil {
		return nil, key, err
	}
	var list cryptobyte.Builder
	list.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(config) })
	return list.BytesOrPanic(), tls.EncryptedClientHelloKey{Config: config, PrivateKey: priv.Bytes(), SendAsRetry: true}, nil
}
