// Command gen writes the captures in samples/ and the benchmark capture.
// Every TLS byte comes from Go's crypto/tls: a real client and server talk
// over an in-memory pipe, and gen records each write with its direction and
// lays the bytes out as TCP segments (with SYN, ACKs and FIN) in a capture.
// Only the TCP/IP framing and the timestamps are synthetic.
//
//	go run ./samples/gen -samples samples          # the sample set
//	go run ./samples/gen -bulk FILE -size 100      # ≥ 100 MB for make bench
package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func main() {
	samples := flag.String("samples", "", "write the sample captures into `DIR`")
	bulk := flag.String("bulk", "", "write a large capture of many connections to `FILE`")
	size := flag.Int("size", 100, "with -bulk: megabytes of capture to write, at least")
	flag.Parse()
	pki := newPKI()
	switch {
	case *samples != "":
		writeSamples(*samples, pki)
	case *bulk != "":
		writeBulk(*bulk, *size, pki)
	default:
		flag.Usage()
		os.Exit(2)
	}
}

// pki is a private CA and a server certificate for *.example.test.
type pki struct {
	roots  *x509.CertPool
	server tls.Certificate
}

func newPKI() *pki {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(err)
	notBefore := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tlssniff sample CA"},
		NotBefore: notBefore, NotAfter: notBefore.AddDate(10, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	check(err)
	caCert, err := x509.ParseCertificate(caDER)
	check(err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(err)
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "www.example.test"},
		DNSNames:  []string{"www.example.test", "*.example.test"},
		NotBefore: notBefore, NotAfter: notBefore.AddDate(5, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	check(err)
	p := &pki{roots: x509.NewCertPool()}
	p.roots.AddCert(caCert)
	p.server = tls.Certificate{Certificate: [][]byte{leafDER, caDER}, PrivateKey: key}
	return p
}

// write is one Write call on the wire: who wrote it and what.
type write struct {
	fromClient bool
	data       []byte
}

// recorder logs the writes of both ends of a pipe in the order they happen.
type recorder struct {
	mu     sync.Mutex
	writes []write
}

type recConn struct {
	net.Conn
	rec        *recorder
	fromClient bool
}

func (c *recConn) Write(b []byte) (int, error) {
	c.rec.mu.Lock()
	c.rec.writes = append(c.rec.writes, write{c.fromClient, append([]byte(nil), b...)})
	c.rec.mu.Unlock()
	return c.Conn.Write(b)
}

// session runs one TLS connection between a client and a server config: the
// client sends a request, the server answers with respSize bytes, and both
// close. It returns the writes and the client's handshake error, if any.
func session(client, server *tls.Config, respSize int) ([]write, error) {
	rec := &recorder{}
	cp, sp := socketPair()
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
	err := cc.Handshake()
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
func socketPair() (net.Conn, net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer ln.Close()
	accepted := make(chan net.Conn)
	go func() {
		c, err := ln.Accept()
		check(err)
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	check(err)
	return c, <-accepted
}

// layout turns writes into TCP segments between two endpoints.
type layout struct {
	client, server netip.AddrPort
	start          time.Time
	rtt            time.Duration
	mss            int
	splitHello     int  // when set, the ClientHello goes in segments of this size
	reorder        bool // swap the second and third segments of the server's first flight
	retransmit     bool // send the server's first segment twice
	noSYN          bool // start mid-stream: no TCP handshake in the capture
}

type pkt struct {
	ts         time.Time
	fromClient bool
	flags      uint8
	seq, ack   uint32
	payload    []byte
}

const (
	fin = 1 << iota
	syn
	rst
	ack
)

func (l layout) packets(writes []write) []pkt {
	var out []pkt
	ts := l.start
	cseq, sseq := uint32(1000), uint32(500000)
	if !l.noSYN {
		out = append(out,
			pkt{ts, true, syn, cseq, 0, nil},
			pkt{ts.Add(l.rtt / 2), false, syn | ack, sseq, cseq + 1, nil},
			pkt{ts.Add(l.rtt), true, ack, cseq + 1, sseq + 1, nil})
		ts = ts.Add(l.rtt)
	}
	cseq++
	sseq++
	prevClient := true
	serverFlights := 0
	for i, w := range writes {
		if w.fromClient != prevClient {
			ts = ts.Add(l.rtt / 2)
			if !w.fromClient {
				serverFlights++
			}
		}
		prevClient = w.fromClient
		size := l.mss
		if i == 0 && l.splitHello > 0 {
			size = l.splitHello
		}
		var segs []pkt
		for off := 0; off < len(w.data); off += size {
			chunk := w.data[off:min(off+size, len(w.data))]
			ts = ts.Add(50 * time.Microsecond)
			if w.fromClient {
				segs = append(segs, pkt{ts, true, ack, cseq, sseq, chunk})
				cseq += uint32(len(chunk))
			} else {
				segs = append(segs, pkt{ts, false, ack, sseq, cseq, chunk})
				sseq += uint32(len(chunk))
			}
		}
		if !w.fromClient && serverFlights == 1 {
			if l.reorder && len(segs) >= 3 {
				segs[1], segs[2] = segs[2], segs[1]
				segs[1].ts, segs[2].ts = segs[2].ts, segs[1].ts
			}
			if l.retransmit && len(segs) >= 2 {
				again := segs[0]
				again.ts = segs[len(segs)-1].ts.Add(10 * time.Microsecond)
				segs = append(segs, again)
				serverFlights++ // only once
			}
		}
		out = append(out, segs...)
	}
	ts = ts.Add(l.rtt / 2)
	out = append(out,
		pkt{ts, true, fin | ack, cseq, sseq, nil},
		pkt{ts.Add(l.rtt / 2), false, fin | ack, sseq, cseq + 1, nil},
		pkt{ts.Add(l.rtt), true, ack, cseq + 1, sseq + 1, nil})
	return out
}

// frame serializes a packet as Ethernet/IP/TCP.
func (l layout) frame(buf gopacket.SerializeBuffer, p pkt) []byte {
	src, dst := l.client, l.server
	if !p.fromClient {
		src, dst = dst, src
	}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()),
		Seq: p.seq, Ack: p.ack, Window: 65535,
		FIN: p.flags&fin != 0, SYN: p.flags&syn != 0, RST: p.flags&rst != 0, ACK: p.flags&ack != 0}
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
	var ip gopacket.NetworkLayer
	if src.Addr().Is4() {
		eth.EthernetType = layers.EthernetTypeIPv4
		ip = &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP,
			SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip = &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP,
			SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	}
	check(tcp.SetNetworkLayerForChecksum(ip))
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	check(gopacket.SerializeLayers(buf, opts, eth, ip.(gopacket.SerializableLayer), tcp, gopacket.Payload(p.payload)))
	return buf.Bytes()
}

// packetWriter is what pcapgo's pcap and pcapng writers have in common.
type packetWriter interface {
	WritePacket(ci gopacket.CaptureInfo, data []byte) error
}

type conn struct {
	l      layout
	writes []write
}

// writeCapture writes connections to path, pcapng when ng is set, with the
// packets of all connections in time order.
func writeCapture(path string, ng bool, conns []conn) {
	f, err := os.Create(path)
	check(err)
	defer f.Close()
	bw := bufio.NewWriter(f)
	var w packetWriter
	var flush func() error
	if ng {
		nw, err := pcapgo.NewNgWriter(bw, layers.LinkTypeEthernet)
		check(err)
		w, flush = nw, nw.Flush
	} else {
		pw := pcapgo.NewWriterNanos(bw)
		check(pw.WriteFileHeader(65535, layers.LinkTypeEthernet))
		w, flush = pw, func() error { return nil }
	}
	type item struct {
		c int
		p pkt
	}
	var all []item
	for i, c := range conns {
		for _, p := range c.l.packets(c.writes) {
			all = append(all, item{i, p})
		}
	}
	sortStable(all, func(a, b item) bool { return a.p.ts.Before(b.p.ts) })
	buf := gopacket.NewSerializeBuffer()
	for _, it := range all {
		data := conns[it.c].l.frame(buf, it.p)
		check(w.WritePacket(gopacket.CaptureInfo{Timestamp: it.p.ts, CaptureLength: len(data), Length: len(data)}, data))
	}
	check(flush())
	check(bw.Flush())
}

func sortStable[T any](s []T, less func(a, b T) bool) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && less(s[j], s[j-1]); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func ep(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func (p *pki) configs(sni string, minV, maxV uint16) (*tls.Config, *tls.Config) {
	client := &tls.Config{RootCAs: p.roots, ServerName: sni, MinVersion: minV, MaxVersion: maxV,
		NextProtos: []string{"h2", "http/1.1"}}
	server := &tls.Config{Certificates: []tls.Certificate{p.server}, MinVersion: minV, MaxVersion: maxV,
		NextProtos: []string{"h2", "http/1.1"}}
	return client, server
}

func must(writes []write, err error) []write {
	check(err)
	return writes
}

func writeSamples(dir string, p *pki) {
	l := func(client, server string, start time.Duration) layout {
		return layout{client: ep(client), server: ep(server), start: base.Add(start), rtt: 20 * time.Millisecond, mss: 1448}
	}

	// TLS 1.2 and TLS 1.3, one full handshake each.
	c12, s12 := p.configs("tls12.example.test", tls.VersionTLS12, tls.VersionTLS12)
	c13, s13 := p.configs("tls13.example.test", tls.VersionTLS13, tls.VersionTLS13)
	writeCapture(filepath.Join(dir, "tls12.pcap"), false, []conn{{l("10.0.0.1:50001", "10.0.0.2:443", 0), must(session(c12, s12, 4000))}})
	writeCapture(filepath.Join(dir, "tls13.pcap"), false, []conn{{l("10.0.0.1:50002", "10.0.0.2:443", 0), must(session(c13, s13, 4000))}})

	// HelloRetryRequest: the client's key share is X25519, the server only takes P-256.
	ch, sh := p.configs("hrr.example.test", tls.VersionTLS13, tls.VersionTLS13)
	ch.CurvePreferences = []tls.CurveID{tls.X25519, tls.CurveP256}
	sh.CurvePreferences = []tls.CurveID{tls.CurveP256}
	writeCapture(filepath.Join(dir, "tls13-hrr.pcap"), false, []conn{{l("10.0.0.1:50003", "10.0.0.2:443", 0), must(session(ch, sh, 1000))}})

	// Resumption: TLS 1.2 by session ticket, TLS 1.3 by PSK; each a full
	// handshake followed by a resumed one.
	cr12, sr12 := p.configs("resume12.example.test", tls.VersionTLS12, tls.VersionTLS12)
	cr12.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	cr13, sr13 := p.configs("resume13.example.test", tls.VersionTLS13, tls.VersionTLS13)
	cr13.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	writeCapture(filepath.Join(dir, "resumption.pcap"), false, []conn{
		{l("10.0.0.1:50010", "10.0.0.2:443", 0), must(session(cr12, sr12, 1000))},
		{l("10.0.0.1:50011", "10.0.0.2:443", time.Second), must(session(cr12, sr12, 1000))},
		{l("10.0.0.1:50012", "10.0.0.2:443", 2*time.Second), must(session(cr13, sr13, 1000))},
		{l("10.0.0.1:50013", "10.0.0.2:443", 3*time.Second), must(session(cr13, sr13, 1000))},
	})

	// Failures: a client that does not trust the server's CA (bad_certificate
	// in the clear, TLS 1.2), and a client and server with no version in
	// common (protocol_version).
	cbad, sbad := p.configs("untrusted.example.test", tls.VersionTLS12, tls.VersionTLS12)
	cbad.RootCAs = x509.NewCertPool()
	cold, snew := p.configs("oldclient.example.test", tls.VersionTLS12, tls.VersionTLS12)
	_, snew = p.configs("", tls.VersionTLS13, tls.VersionTLS13)
	badWrites, _ := session(cbad, sbad, 100)
	oldWrites, _ := session(cold, snew, 100)
	writeCapture(filepath.Join(dir, "alerts.pcap"), false, []conn{
		{l("10.0.0.1:50020", "10.0.0.2:443", 0), badWrites},
		{l("10.0.0.1:50021", "10.0.0.2:443", time.Second), oldWrites},
	})

	// A ClientHello cut into 7-byte segments, and a server flight whose
	// segments arrive out of order and once more as a retransmission.
	cs, ss := p.configs("segments.example.test", tls.VersionTLS12, tls.VersionTLS12)
	split := l("10.0.0.1:50030", "10.0.0.2:8443", 0)
	split.splitHello = 7
	disorder := l("10.0.0.1:50031", "10.0.0.2:8443", time.Second)
	disorder.mss, disorder.reorder, disorder.retransmit = 200, true, true
	writeCapture(filepath.Join(dir, "segments.pcap"), false, []conn{
		{split, must(session(cs, ss, 1000))},
		{disorder, must(session(cs, ss, 1000))},
	})

	// IPv6, written as pcapng; and a connection picked up without its SYN.
	c6, s6 := p.configs("ipv6.example.test", tls.VersionTLS13, tls.VersionTLS13)
	mid := l("[2001:db8::1]:50041", "[2001:db8::2]:443", time.Second)
	mid.noSYN = true
	writeCapture(filepath.Join(dir, "ipv6.pcapng"), true, []conn{
		{l("[2001:db8::1]:50040", "[2001:db8::2]:443", 0), must(session(c6, s6, 2000))},
		{mid, must(session(c6, s6, 2000))},
	})
}

// writeBulk writes at least sizeMB megabytes: TLS 1.2 and 1.3 connections,
// eight at a time interleaved, each a handshake followed by a download, so
// that most packets are bulk data after the handshake, as in real traffic.
func writeBulk(path string, sizeMB int, p *pki) {
	c12, s12 := p.configs("bulk12.example.test", tls.VersionTLS12, tls.VersionTLS12)
	c13, s13 := p.configs("bulk13.example.test", tls.VersionTLS13, tls.VersionTLS13)
	f, err := os.Create(path)
	check(err)
	bw := bufio.NewWriterSize(f, 1<<20)
	w := pcapgo.NewWriterNanos(bw)
	check(w.WriteFileHeader(65535, layers.LinkTypeEthernet))
	buf := gopacket.NewSerializeBuffer()
	written, n := 0, 0
	start := base
	for written < sizeMB<<20 {
		var batch [][]pkt
		var lays []layout
		for i := 0; i < 8; i++ {
			n++
			client, server := c12, s12
			if n%2 == 0 {
				client, server = c13, s13
			}
			lay := layout{client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(n >> 8), byte(n)}), uint16(30000+n%30000)),
				server: ep("10.2.0.1:443"), start: start.Add(time.Duration(i) * time.Millisecond), rtt: 10 * time.Millisecond, mss: 1448}
			lays = append(lays, lay)
			batch = append(batch, lay.packets(must(session(client, server, 1<<20))))
		}
		// Round-robin over the batch keeps the eight connections interleaved.
		for more := true; more; {
			more = false
			for i := range batch {
				if len(batch[i]) == 0 {
					continue
				}
				more = true
				pk := batch[i][0]
				batch[i] = batch[i][1:]
				data := lays[i].frame(buf, pk)
				check(w.WritePacket(gopacket.CaptureInfo{Timestamp: pk.ts, CaptureLength: len(data), Length: len(data)}, data))
				written += len(data) + 16
			}
		}
		start = start.Add(time.Second)
	}
	check(bw.Flush())
	check(f.Close())
	fmt.Fprintf(os.Stderr, "gen: %s: %d connections, %d MB\n", path, n, written>>20)
}
