package main

import (
	"bufio"
	"container/heap"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/gopacket/gopacket"

	"github.com/tlssniff/tlssniff/internal/tlstest"
)

// The mixed capture of make bench: web traffic as a capture point sees it.
// Connections to mixServers servers, each with its own certificate under
// one of three intermediates of two roots (ECDSA and RSA), sent as a chain
// of two, or of three with the root for a third of the servers; 70% TLS
// 1.3 (half of them with the X25519MLKEM768 key share Go offers by default)
// and 30% TLS 1.2; one server in 20 takes only P-256, so that TLS 1.3
// clients get a HelloRetryRequest; a quarter of the connections go back to
// a server the client saw and resume its session; 20% over IPv6; most
// answers of 1 to 20 kB, 15% of 100 to 300 kB (a mean near 45 kB a
// connection, over 20,000 connections a GB). The
// connections overlap in time as a busy link's do, 500 a second, each
// with its server's round trip of 5 to 80 ms.

const mixServers = 3000

// mixPKI is the servers' certificates and the configurations that use
// them.
type mixPKI struct {
	servers []*tls.Config // by server
}

func newMixPKI(rng *mrand.Rand) *mixPKI {
	serial := int64(1)
	issue := func(tmpl *x509.Certificate, parent *x509.Certificate, pub, signer any) *x509.Certificate {
		serial++
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore, tmpl.NotAfter = base.AddDate(0, -2, 0), base.AddDate(1, 0, 0)
		if parent == nil {
			parent = tmpl
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		check(err)
		c, err := x509.ParseCertificate(der)
		check(err)
		return c
	}
	ca := func(name string, parent *x509.Certificate, parentKey, key any, pub any) *x509.Certificate {
		if parentKey == nil {
			parentKey = key
		}
		return issue(&x509.Certificate{Subject: pkix.Name{CommonName: name, Organization: []string{"Bench Trust"}},
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, parent, pub, parentKey)
	}
	ecRootKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	check(err)
	rsaRootKey, err := rsa.GenerateKey(rand.Reader, 2048)
	check(err)
	ecRoot := ca("Bench Root E1", nil, nil, ecRootKey, ecRootKey.Public())
	rsaRoot := ca("Bench Root R1", nil, nil, rsaRootKey, rsaRootKey.Public())
	type issuer struct {
		cert, root *x509.Certificate
		key        any
	}
	var issuers []issuer
	for i, root := range []*x509.Certificate{ecRoot, ecRoot, rsaRoot} {
		var key any
		var pub any
		if root == rsaRoot {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			check(err)
			key, pub = k, k.Public()
		} else {
			k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			check(err)
			key, pub = k, k.Public()
		}
		rootKey := any(ecRootKey)
		if root == rsaRoot {
			rootKey = rsaRootKey
		}
		issuers = append(issuers, issuer{ca(fmt.Sprintf("Bench Issuing CA %d", i+1), root, rootKey, key, pub), root, key})
	}
	p := &mixPKI{}
	for i := range mixServers {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		check(err)
		is := issuers[rng.IntN(len(issuers))]
		name := fmt.Sprintf("s%04d.example.test", i)
		leaf := issue(&x509.Certificate{Subject: pkix.Name{CommonName: name}, DNSNames: []string{name, "www." + name},
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}},
			is.cert, key.Public(), is.key)
		chain := [][]byte{leaf.Raw, is.cert.Raw}
		if i%3 == 0 {
			chain = append(chain, is.root.Raw)
		}
		curves := []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256}
		if i%20 == 0 {
			curves = []tls.CurveID{tls.CurveP256} // takes no share a client sends first: HelloRetryRequest
		}
		p.servers = append(p.servers, &tls.Config{Certificates: []tls.Certificate{{Certificate: chain, PrivateKey: key}},
			MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}, CurvePreferences: curves})
	}
	return p
}

// mixConn is one planned connection of the mixed capture.
type mixConn struct {
	server   int
	client   *tls.Config
	response int
	lay      layout
}

// plan draws connection n of the mix.
func (p *mixPKI) plan(n int, rng *mrand.Rand, caches []tls.ClientSessionCache, keyLog io.Writer) mixConn {
	server := rng.IntN(mixServers)
	if n > 0 && rng.IntN(4) == 0 {
		server = int(rng.Int32N(int32(min(n, mixServers)))) // a server seen before: resumption
	}
	c := &tls.Config{ServerName: fmt.Sprintf("s%04d.example.test", server), InsecureSkipVerify: true, // the capture is what matters
		NextProtos: []string{"h2", "http/1.1"}, ClientSessionCache: caches[server], KeyLogWriter: keyLog}
	switch r := rng.IntN(100); {
	case r < 30:
		c.MaxVersion = tls.VersionTLS12
	case r < 70:
		c.CurvePreferences = []tls.CurveID{tls.X25519, tls.CurveP256}
	}
	response := 1024 + rng.IntN(19*1024)
	if rng.IntN(100) < 15 {
		response = 100<<10 + rng.IntN(200<<10)
	}
	client := netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)})
	serverIP := netip.AddrFrom4([4]byte{192, 0, byte(2 + server>>8), byte(server)})
	if rng.IntN(5) == 0 {
		client = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 1, 0, 0, 0, 0, 0, 0, 0, 0, byte(n >> 16), byte(n >> 8), byte(n)})
		serverIP = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, byte(server >> 8), byte(server)})
	}
	rtt := time.Duration(5+(server*7919)%76) * time.Millisecond // each server its own
	return mixConn{server: server, client: c, response: response,
		lay: layout{client: netip.AddrPortFrom(client, uint16(1024+n%60000)), server: netip.AddrPortFrom(serverIP, 443),
			start: base.Add(time.Duration(n) * 2 * time.Millisecond), rtt: rtt, mss: 1448}}
}

// packetHeap orders the packets of the connections under way by time.
type packetHeap []connPackets

type connPackets struct {
	lay  layout
	pkts []pkt
}

func (h packetHeap) Len() int           { return len(h) }
func (h packetHeap) Less(i, j int) bool { return h[i].pkts[0].ts.Before(h[j].pkts[0].ts) }
func (h packetHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *packetHeap) Push(x any)        { *h = append(*h, x.(connPackets)) }
func (h *packetHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// writeMix writes at least sizeMB megabytes and minConns connections of the
// mix to path, the clients' key log to keyLog when set. With pool set, only
// that many sessions are made, and the connections after them replay
// their bytes between other addresses: for captures of hundreds of
// thousands of connections.
func writeMix(path string, sizeMB, minConns, pool int, keyLog string) {
	rng := mrand.New(mrand.NewPCG(1, 2))
	p := newMixPKI(rng)
	var kw io.Writer
	if keyLog != "" {
		kf, err := os.Create(keyLog)
		check(err)
		defer kf.Close()
		bk := bufio.NewWriter(kf)
		defer bk.Flush()
		kw = &lockedWriter{w: bk}
	}
	caches := make([]tls.ClientSessionCache, mixServers)
	for i := range caches {
		caches[i] = tls.NewLRUClientSessionCache(4)
	}
	w, closeCapture := createPcap(path)
	buf := gopacket.NewSerializeBuffer()
	var h packetHeap
	written := 0
	emit := func(until time.Time) {
		for h.Len() > 0 && (until.IsZero() || h[0].pkts[0].ts.Before(until)) {
			c := &h[0]
			pk := c.pkts[0]
			data := c.lay.frame(buf, pk)
			check(w.WritePacket(gopacket.CaptureInfo{Timestamp: pk.ts, CaptureLength: len(data), Length: len(data)}, data))
			written += len(data) + 16
			if c.pkts = c.pkts[1:]; len(c.pkts) == 0 {
				heap.Pop(&h)
			} else {
				heap.Fix(&h, 0)
			}
		}
	}
	// Sessions are made by a worker per CPU, a batch at a time, and laid
	// out in the order planned.
	var sessions [][]tlstest.Write
	n := 0
	for written < sizeMB<<20 || n < minConns {
		batch := make([]mixConn, 64)
		for i := range batch {
			batch[i] = p.plan(n+i, rng, caches, kw)
		}
		writes := make([][]tlstest.Write, len(batch))
		if pool == 0 || len(sessions) < pool {
			var wg sync.WaitGroup
			next := make(chan int)
			for range runtime.GOMAXPROCS(0) {
				wg.Go(func() {
					for i := range next {
						writes[i] = must(tlstest.Session(batch[i].client, p.servers[batch[i].server], batch[i].response))
					}
				})
			}
			for i := range batch {
				next <- i
			}
			close(next)
			wg.Wait()
			sessions = append(sessions, writes...)
		} else {
			for i := range batch {
				writes[i] = sessions[(n+i)%len(sessions)]
			}
		}
		for i, c := range batch {
			emit(c.lay.start)
			heap.Push(&h, connPackets{c.lay, c.lay.packets(writes[i])})
		}
		n += len(batch)
	}
	emit(time.Time{})
	closeCapture()
	fmt.Fprintf(os.Stderr, "gen: %s: %d connections, %d MB, %.0f connections a GB\n", path, n, written>>20,
		float64(n)/(float64(written)/1e9))
}

// lockedWriter serializes the key log lines of sessions made at once.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
