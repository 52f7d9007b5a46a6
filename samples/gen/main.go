// Command gen writes the captures in samples/ and the benchmark capture.
// Every TLS byte comes from Go's crypto/tls: a real client and server talk
// over an in-memory pipe, and gen records each write with its direction and
// lays the bytes out as TCP segments (with SYN, ACKs and FIN) in a capture.
// Only the TCP/IP framing and the timestamps are synthetic.
//
//	go run ./samples/gen -samples samples          # the sample set
//	go run ./samples/gen -bulk FILE -size 100      # ≥ 100 MB for make bench
//	go run ./samples/gen -bulk FILE -keylog KEYS   # and the clients' key log
//	go run ./samples/gen -bulk FILE -response 4096 # many short connections
//	go run ./samples/gen -mix FILE -size 1024 -conns 20000 # web traffic (mix.go)
package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"log"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/tlssniff/tlssniff/internal/tlstest"
)

func main() {
	samples := flag.String("samples", "", "write the sample captures into `DIR`")
	bulk := flag.String("bulk", "", "write a large capture of many connections to `FILE`")
	size := flag.Int("size", 100, "with -bulk or -mix: megabytes of capture to write, at least")
	keys := flag.String("keylog", "", "with -bulk or -mix: write the clients' key log (SSLKEYLOGFILE) to `FILE`")
	response := flag.Int("response", 1<<20, "with -bulk: `BYTES` each server sends after the handshake")
	mix := flag.String("mix", "", "write a capture of mixed web traffic (mix.go) to `FILE`")
	conns := flag.Int("conns", 0, "with -mix: write at least `N` connections")
	pool := flag.Int("pool", 0, "with -mix: make only `N` sessions and replay them between other addresses")
	flag.Parse()
	pki, err := tlstest.NewPKI()
	check(err)
	switch {
	case *samples != "":
		writeSamples(*samples, pki)
	case *bulk != "":
		writeBulk(*bulk, *size, *response, *keys, pki)
	case *mix != "":
		writeMix(*mix, *size, *conns, *pool, *keys)
	default:
		flag.Usage()
		os.Exit(2)
	}
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
	keep           int  // when set, only the first keep writes, then the capture ends
	rstFromServer  bool // the server resets the connection after the writes kept
	onlyClient     bool // the capture holds the client's packets only
	dropServerSeg  int  // when set, this segment (1-based) of the server's first flight is lost
	snaplen        int  // when set, frames are captured up to this many bytes
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

func (l layout) packets(writes []tlstest.Write) []pkt {
	if l.keep > 0 {
		writes = writes[:l.keep]
	}
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
		if w.FromClient != prevClient {
			ts = ts.Add(l.rtt / 2)
			if !w.FromClient {
				serverFlights++
			}
		}
		prevClient = w.FromClient
		size := l.mss
		if i == 0 && l.splitHello > 0 {
			size = l.splitHello
		}
		var segs []pkt
		for off := 0; off < len(w.Data); off += size {
			chunk := w.Data[off:min(off+size, len(w.Data))]
			ts = ts.Add(50 * time.Microsecond)
			if w.FromClient {
				segs = append(segs, pkt{ts, true, ack, cseq, sseq, chunk})
				cseq += uint32(len(chunk))
			} else {
				segs = append(segs, pkt{ts, false, ack, sseq, cseq, chunk})
				sseq += uint32(len(chunk))
			}
		}
		if !w.FromClient && serverFlights == 1 && l.dropServerSeg > 0 && len(segs) >= l.dropServerSeg {
			segs = append(segs[:l.dropServerSeg-1:l.dropServerSeg-1], segs[l.dropServerSeg:]...)
		}
		if !w.FromClient && serverFlights == 1 {
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
	switch {
	case l.rstFromServer:
		out = append(out, pkt{ts, false, rst | ack, sseq, cseq, nil})
	case l.keep == 0:
		out = append(out,
			pkt{ts, true, fin | ack, cseq, sseq, nil},
			pkt{ts.Add(l.rtt / 2), false, fin | ack, sseq, cseq + 1, nil},
			pkt{ts.Add(l.rtt), true, ack, cseq + 1, sseq + 1, nil})
	}
	if l.onlyClient {
		var client []pkt
		for _, p := range out {
			if p.fromClient {
				client = append(client, p)
			}
		}
		out = client
	}
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
	writes []tlstest.Write
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
	slices.SortStableFunc(all, func(a, b item) int { return a.p.ts.Compare(b.p.ts) })
	buf := gopacket.NewSerializeBuffer()
	for _, it := range all {
		data := conns[it.c].l.frame(buf, it.p)
		ci := gopacket.CaptureInfo{Timestamp: it.p.ts, CaptureLength: len(data), Length: len(data)}
		if n := conns[it.c].l.snaplen; n > 0 && len(data) > n {
			ci.CaptureLength, data = n, data[:n]
		}
		check(w.WritePacket(ci, data))
	}
	check(flush())
	check(bw.Flush())
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func ep(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func must(writes []tlstest.Write, err error) []tlstest.Write {
	check(err)
	return writes
}

func writeSamples(dir string, p *tlstest.PKI) {
	// The CA of every capture below, for tlssniff --ca-file.
	check(os.WriteFile(filepath.Join(dir, "ca.pem"), p.CAPEM(), 0o644))

	l := func(client, server string, start time.Duration) layout {
		return layout{client: ep(client), server: ep(server), start: base.Add(start), rtt: 20 * time.Millisecond, mss: 1448}
	}

	// TLS 1.2 and TLS 1.3, one full handshake each.
	c12, s12 := p.Configs("tls12.example.test", tls.VersionTLS12, tls.VersionTLS12)
	c13, s13 := p.Configs("tls13.example.test", tls.VersionTLS13, tls.VersionTLS13)
	writeCapture(filepath.Join(dir, "tls12.pcap"), false, []conn{{l("10.0.0.1:50001", "10.0.0.2:443", 0), must(tlstest.Session(c12, s12, 4000))}})
	writeCapture(filepath.Join(dir, "tls13.pcap"), false, []conn{{l("10.0.0.1:50002", "10.0.0.2:443", 0), must(tlstest.Session(c13, s13, 4000))}})

	// HelloRetryRequest: the client's key share is X25519, the server only takes P-256.
	ch, sh := p.Configs("hrr.example.test", tls.VersionTLS13, tls.VersionTLS13)
	ch.CurvePreferences = []tls.CurveID{tls.X25519, tls.CurveP256}
	sh.CurvePreferences = []tls.CurveID{tls.CurveP256}
	writeCapture(filepath.Join(dir, "tls13-hrr.pcap"), false, []conn{{l("10.0.0.1:50003", "10.0.0.2:443", 0), must(tlstest.Session(ch, sh, 1000))}})

	// Resumption: TLS 1.2 by session ticket, TLS 1.3 by PSK; each a full
	// handshake followed by a resumed one.
	cr12, sr12 := p.Configs("resume12.example.test", tls.VersionTLS12, tls.VersionTLS12)
	cr12.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	cr13, sr13 := p.Configs("resume13.example.test", tls.VersionTLS13, tls.VersionTLS13)
	cr13.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	writeCapture(filepath.Join(dir, "resumption.pcap"), false, []conn{
		{l("10.0.0.1:50010", "10.0.0.2:443", 0), must(tlstest.Session(cr12, sr12, 1000))},
		{l("10.0.0.1:50011", "10.0.0.2:443", time.Second), must(tlstest.Session(cr12, sr12, 1000))},
		{l("10.0.0.1:50012", "10.0.0.2:443", 2*time.Second), must(tlstest.Session(cr13, sr13, 1000))},
		{l("10.0.0.1:50013", "10.0.0.2:443", 3*time.Second), must(tlstest.Session(cr13, sr13, 1000))},
	})

	// Failures: a client that does not trust the server's CA (bad_certificate
	// in the clear, TLS 1.2), and a client and server with no version in
	// common (protocol_version).
	cbad, sbad := p.Configs("untrusted.example.test", tls.VersionTLS12, tls.VersionTLS12)
	cbad.RootCAs = x509.NewCertPool() // trusts nothing
	cold, _ := p.Configs("oldclient.example.test", tls.VersionTLS12, tls.VersionTLS12)
	_, snew := p.Configs("", tls.VersionTLS13, tls.VersionTLS13)
	badWrites, _ := tlstest.Session(cbad, sbad, 100)
	oldWrites, _ := tlstest.Session(cold, snew, 100)
	writeCapture(filepath.Join(dir, "alerts.pcap"), false, []conn{
		{l("10.0.0.1:50020", "10.0.0.2:443", 0), badWrites},
		{l("10.0.0.1:50021", "10.0.0.2:443", time.Second), oldWrites},
	})

	// A ClientHello cut into 7-byte segments, and a server flight whose
	// segments arrive out of order and once more as a retransmission.
	cs, ss := p.Configs("segments.example.test", tls.VersionTLS12, tls.VersionTLS12)
	split := l("10.0.0.1:50030", "10.0.0.2:8443", 0)
	split.splitHello = 7
	disorder := l("10.0.0.1:50031", "10.0.0.2:8443", time.Second)
	disorder.mss, disorder.reorder, disorder.retransmit = 200, true, true
	writeCapture(filepath.Join(dir, "segments.pcap"), false, []conn{
		{split, must(tlstest.Session(cs, ss, 1000))},
		{disorder, must(tlstest.Session(cs, ss, 1000))},
	})

	// Plain HTTP on the TLS port, and a TLS connection whose second server
	// record has a corrupted header: no TLS connection for the first, the
	// problem recorded on the second.
	plain := []tlstest.Write{
		{FromClient: true, Data: []byte("GET / HTTP/1.1\r\nHost: example.test\r\n\r\n")},
		{FromClient: false, Data: []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")},
	}
	cm, sm := p.Configs("malformed.example.test", tls.VersionTLS12, tls.VersionTLS12)
	corrupt := must(tlstest.Session(cm, sm, 100))
	flight := corrupt[1].Data
	second := 5 + int(flight[3])<<8 | int(flight[4])
	flight[second+1] = 0x09 // record version 0x09xx
	writeCapture(filepath.Join(dir, "malformed.pcap"), false, []conn{
		{l("10.0.0.1:50050", "10.0.0.2:443", 0), plain},
		{l("10.0.0.1:50051", "10.0.0.2:443", time.Second), corrupt},
	})

	// One connection for each way a handshake can fail to be seen whole.
	c3, s3 := p.Configs("impaired.example.test", tls.VersionTLS13, tls.VersionTLS13)
	c2, s2 := p.Configs("impaired.example.test", tls.VersionTLS12, tls.VersionTLS12)
	untrusted13, _ := p.Configs("untrusted13.example.test", tls.VersionTLS13, tls.VersionTLS13)
	untrusted13.RootCAs = x509.NewCertPool()
	aborted, _ := tlstest.Session(untrusted13, s3, 100) // the client rejects the certificate: an encrypted alert
	full12 := must(tlstest.Session(c2, s2, 2000))
	full13 := must(tlstest.Session(c3, s3, 2000))
	imp := func(port int, at time.Duration) layout {
		return l(fmt.Sprintf("10.0.0.1:%d", port), "10.0.0.2:443", at)
	}
	reset := imp(50060, time.Second)
	reset.keep, reset.rstFromServer = 1, true
	silent := imp(50061, 2*time.Second)
	silent.keep = 1
	cut := imp(50062, 3*time.Second)
	cut.keep = 2
	oneSided := imp(50063, 4*time.Second)
	oneSided.onlyClient = true
	lost := imp(50064, 5*time.Second)
	lost.mss, lost.dropServerSeg = 300, 2
	snapped := imp(50065, 6*time.Second)
	snapped.snaplen = 400
	writeCapture(filepath.Join(dir, "impaired.pcap"), false, []conn{
		{imp(50059, 0), aborted},
		{reset, full12},
		{silent, full12},
		{cut, full12},
		{oneSided, full13},
		{lost, full12},
		{snapped, full12},
	})

	// Encrypted Client Hello: the outer SNI is the public name, the real one
	// travels encrypted; once with a HelloRetryRequest, which confirms ECH.
	echList, echKey, err := tlstest.ECH("public.example.test")
	check(err)
	ce, se := p.Configs("secret.example.test", tls.VersionTLS13, tls.VersionTLS13)
	ce.EncryptedClientHelloConfigList = echList
	se.EncryptedClientHelloKeys = []tls.EncryptedClientHelloKey{echKey}
	ceh, seh := ce.Clone(), se.Clone()
	ceh.CurvePreferences = []tls.CurveID{tls.X25519, tls.CurveP256}
	seh.CurvePreferences = []tls.CurveID{tls.CurveP256}
	writeCapture(filepath.Join(dir, "ech.pcap"), false, []conn{
		{l("10.0.0.1:50070", "10.0.0.2:443", 0), must(tlstest.Session(ce, se, 1000))},
		{l("10.0.0.1:50071", "10.0.0.2:443", time.Second), must(tlstest.Session(ceh, seh, 1000))},
	})

	// IPv6, written as pcapng; and a connection picked up without its SYN.
	c6, s6 := p.Configs("ipv6.example.test", tls.VersionTLS13, tls.VersionTLS13)
	mid := l("[2001:db8::1]:50041", "[2001:db8::2]:443", time.Second)
	mid.noSYN = true
	writeCapture(filepath.Join(dir, "ipv6.pcapng"), true, []conn{
		{l("[2001:db8::1]:50040", "[2001:db8::2]:443", 0), must(tlstest.Session(c6, s6, 2000))},
		{mid, must(tlstest.Session(c6, s6, 2000))},
	})
}

// writeBulk writes at least sizeMB megabytes: TLS 1.2 and 1.3 connections,
// eight at a time interleaved, each a handshake followed by a download, so
// that most packets are bulk data after the handshake, as in real traffic.
func writeBulk(path string, sizeMB, response int, keyLog string, p *tlstest.PKI) {
	c12, s12 := p.Configs("bulk12.example.test", tls.VersionTLS12, tls.VersionTLS12)
	c13, s13 := p.Configs("bulk13.example.test", tls.VersionTLS13, tls.VersionTLS13)
	if keyLog != "" {
		kf, err := os.Create(keyLog)
		check(err)
		defer kf.Close()
		c12.KeyLogWriter, c13.KeyLogWriter = kf, kf
	}
	w, closeCapture := createPcap(path)
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
			batch = append(batch, lay.packets(must(tlstest.Session(client, server, response))))
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
	closeCapture()
	fmt.Fprintf(os.Stderr, "gen: %s: %d connections, %d MB\n", path, n, written>>20)
}

// createPcap creates path as a pcap of Ethernet frames with nanosecond
// times, written through a 1 MiB buffer; closeCapture flushes and closes it.
func createPcap(path string) (w *pcapgo.Writer, closeCapture func()) {
	f, err := os.Create(path)
	check(err)
	bw := bufio.NewWriterSize(f, 1<<20)
	w = pcapgo.NewWriterNanos(bw)
	check(w.WriteFileHeader(65535, layers.LinkTypeEthernet))
	return w, func() {
		check(bw.Flush())
		check(f.Close())
	}
}
