package parser

import (
	"crypto/tls"
	"runtime"
	"testing"

	"github.com/tlssniff/tlssniff/budget"
)

// certificateCost covers what a decoded chain really costs on the heap:
// a real chain, decoded 2,000 times and kept.
func TestCertificateCost(t *testing.T) {
	c, s := testPKI(t).Configs("www.example.test", tls.VersionTLS12, tls.VersionTLS12)
	flight := session(t, c, s)[1].Data
	next := recordHeaderLen + (int(flight[3])<<8 | int(flight[4]))
	m := flight[next+recordHeaderLen:]
	body := m[4:messageLen(m)]
	var keep [][]Certificate
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	charged := 0
	for range 2000 {
		chain, ok := decodeCertificate(body, false, nil)
		if !ok {
			t.Fatal("the certificate message did not decode")
		}
		charged += chainCost(chain)
		keep = append(keep, chain)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := int(after.HeapAlloc) - int(before.HeapAlloc)
	t.Logf("%d chains of %d: %d bytes on the heap, %d charged", len(keep), len(keep[0]), heap, charged)
	if heap > charged {
		t.Errorf("%d bytes on the heap, %d charged", heap, charged)
	}
}

// connCost and chainCost cover what an undecided connection really keeps
// on the heap: 2,000 of them, each with a real ClientHello, ServerHello and
// certificate chain, waiting for the client's Finished.
func TestConnCost(t *testing.T) {
	c, s := testPKI(t).Configs("www.example.test", tls.VersionTLS12, tls.VersionTLS12)
	flights := session(t, c, s)
	b := budget.New(1 << 40)
	var conns []*Conn
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 2000 {
		conn := NewConn(TCP, clientAddr, serverAddr, t0, Options{Emit: func(*Connection) {}, Memory: b.Open(nil)})
		conn.Data(0, flights[0].Data, t0)
		conn.Data(1, flights[1].Data, t0)
		conns = append(conns, conn)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if conns[0].c.ServerHello == nil || conns[0].c.Certificates == nil || conns[0].emitted {
		t.Fatal("the connections did not read both flights")
	}
	t.Logf("%d connections: %d bytes on the heap, %d charged", len(conns), heap, b.Used())
	if heap > b.Used() {
		t.Errorf("%d bytes on the heap, %d charged", heap, b.Used())
	}
}
