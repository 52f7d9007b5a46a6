package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/tlssniff/tlssniff/internal/testenv"
	"github.com/tlssniff/tlssniff/internal/tlstest"
)

// The attacks of issue 11, made by a small generator: each writes a
// capture whose size grows with n. The tests run them at small n in CI;
// with TLSSNIFF_ATTACKS=DIR, TestWriteAttacks writes them at the sizes the
// README's measurements use, for make attacks.

// attackWriter writes Ethernet/IPv4 frames to a pcap.
type attackWriter struct {
	t   testing.TB
	w   *pcapgo.Writer
	buf *bufio.Writer
	f   *os.File
	ts  time.Time
}

func newAttackWriter(t testing.TB, path string) *attackWriter {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	b := bufio.NewWriterSize(f, 1<<20)
	w := pcapgo.NewWriter(b)
	w.WriteFileHeader(65535, layers.LinkTypeEthernet)
	return &attackWriter{t: t, w: w, buf: b, f: f, ts: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
}

func (a *attackWriter) close() {
	if err := a.buf.Flush(); err != nil {
		a.t.Fatal(err)
	}
	a.f.Close()
}

var attackEth = &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}

func (a *attackWriter) frame(src, dst netip.AddrPort, l4 gopacket.SerializableLayer, payload []byte, proto layers.IPProtocol) {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	if n, ok := l4.(interface {
		SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
	}); ok {
		n.SetNetworkLayerForChecksum(ip)
	}
	a.serialize(attackEth, ip, l4, gopacket.Payload(payload))
}

// serialize writes one frame of layers.
func (a *attackWriter) serialize(ls ...gopacket.SerializableLayer) {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ls...); err != nil {
		a.t.Fatal(err)
	}
	a.write(buf.Bytes())
}

// write writes one frame, a microsecond after the last.
func (a *attackWriter) write(frame []byte) {
	a.ts = a.ts.Add(time.Microsecond)
	a.w.WritePacket(gopacket.CaptureInfo{Timestamp: a.ts, CaptureLength: len(frame), Length: len(frame)}, frame)
}

func (a *attackWriter) tcp(src, dst netip.AddrPort, seq uint32, syn bool, payload []byte) {
	t := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), Seq: seq, SYN: syn, ACK: !syn, Window: 65535}
	a.frame(src, dst, t, payload, layers.IPProtocolTCP)
}

// session writes a TCP connection: the SYNs, then the session's writes,
// each one segment.
func (a *attackWriter) session(client, server netip.AddrPort, writes []tlstest.Write) {
	seq := [2]uint32{1000, 5000} // client, server
	a.tcp(client, server, seq[0]-1, true, nil)
	a.tcp(server, client, seq[1]-1, true, nil)
	for _, w := range writes {
		src, dst, k := client, server, 0
		if !w.FromClient {
			src, dst, k = server, client, 1
		}
		a.tcp(src, dst, seq[k], false, w.Data)
		seq[k] += uint32(len(w.Data))
	}
}

func (a *attackWriter) udp(src, dst netip.AddrPort, payload []byte) {
	a.frame(src, dst, &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}, payload, layers.IPProtocolUDP)
}

// attackClient is the i-th attacking client; the server is 192.0.2.1:443.
func attackClient(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), uint16(20000+i%40000))
}

var attackServer = netip.MustParseAddrPort("192.0.2.1:443")

// handshakeHeader is a handshake record header and a ClientHello header
// claiming n bytes.
func clientHelloHeader(n int) []byte {
	return []byte{22, 3, 1, 0, 0, 1, byte(n >> 16), byte(n >> 8), byte(n)}
}

// oneByteRecords sends, from c, a ClientHello of body bytes in records of
// one byte each.
func oneByteRecords(a *attackWriter, c netip.AddrPort, body int) {
	a.tcp(c, attackServer, 99, true, nil)
	msg := append([]byte{1, byte(body >> 16), byte(body >> 8), byte(body)}, make([]byte, body)...)
	var seg []byte
	seq := uint32(100)
	for _, b := range msg {
		seg = append(seg, 22, 3, 1, 0, 1, b)
		if len(seg) >= 1440 {
			a.tcp(c, attackServer, seq, false, seg)
			seq += uint32(len(seg))
			seg = seg[:0]
		}
	}
	a.tcp(c, attackServer, seq, false, seg)
}

// attacks are the generators, by name; n scales each.
var attacks = map[string]func(a *attackWriter, n int){
	// ClientHellos of n KiB in all, in records of one byte each: one flow,
	// or one a MiB (the largest message accepted) past that.
	"one-byte-records": func(a *attackWriter, n int) {
		for i := 0; i*1024 < n; i++ {
			oneByteRecords(a, attackClient(i), min(n-i*1024, 1024)<<10-4)
		}
	},
	// One flow sends a ClientHello of n thousand bytes in one-byte
	// segments, last first.
	"reversed-segments": func(a *attackWriter, n int) {
		c := attackClient(1)
		a.tcp(c, attackServer, 99, true, nil)
		body := n*1000 - 9
		msg := append(clientHelloHeader(body), make([]byte, body)...)
		binary.BigEndian.PutUint16(msg[3:], uint16(min(len(msg)-5, 1<<14)))
		for i := len(msg) - 1; i >= 0; i-- {
			a.tcp(c, attackServer, 100+uint32(i), false, msg[i:i+1])
		}
	},
	// n flows each send one DTLS datagram of 16 fragments, one byte each,
	// of messages that claim 64 KiB.
	"dtls-fragment-headers": func(a *attackWriter, n int) {
		for i := range n {
			var rec []byte
			for seq := range 16 {
				rec = append(rec, 1, 0, 0xff, 0xff, 0, byte(seq), 0, 0x10, 0, 0, 0, 1, 0x42)
			}
			d := append([]byte{22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, byte(len(rec) >> 8), byte(len(rec))}, rec...)
			a.udp(attackClient(i), attackServer, d)
		}
	},
	// n flows each park a partial ClientHello of 15 kB.
	"partial-hellos": func(a *attackWriter, n int) {
		rec := append(clientHelloHeader(16000), make([]byte, 15000)...)
		binary.BigEndian.PutUint16(rec[3:], 16000+4) // a record not yet whole
		for i := range n {
			c := attackClient(i)
			a.tcp(c, attackServer, 99, true, nil)
			for off := 0; off < len(rec); off += 1400 {
				a.tcp(c, attackServer, 100+uint32(off), false, rec[off:min(off+1400, len(rec))])
			}
		}
	},
	// n thousand IP fragments, each the first of a datagram never
	// completed, each with an id of its own.
	"fragment-ids": func(a *attackWriter, n int) {
		for i := range n * 1000 {
			ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, Id: uint16(i), Flags: layers.IPv4MoreFragments,
				SrcIP: attackClient(i >> 16).Addr().AsSlice(), DstIP: attackServer.Addr().AsSlice()}
			a.serialize(attackEth, ip, gopacket.Payload(make([]byte, 24)))
		}
	},
	// n flows each send a handshake message claiming 1 MiB, the most
	// accepted, and all of it but its last byte, in whole records.
	"partial-messages": func(a *attackWriter, n int) {
		body := 1<<20 - 4
		msg := append([]byte{1, byte(body >> 16), byte(body >> 8), byte(body)}, make([]byte, body-1)...)
		var stream []byte
		for off := 0; off < len(msg); off += 1 << 14 {
			rec := msg[off:min(off+1<<14, len(msg))]
			stream = append(append(stream, 22, 3, 1, byte(len(rec)>>8), byte(len(rec))), rec...)
		}
		for i := range n {
			c := attackClient(i)
			a.tcp(c, attackServer, 99, true, nil)
			for off := 0; off < len(stream); off += 1400 {
				a.tcp(c, attackServer, 100+uint32(off), false, stream[off:min(off+1400, len(stream))])
			}
		}
	},
	// n flows each park 1,500 one-byte segments behind a hole: a flow's
	// limit, at their real cost.
	"parked-one-byte": func(a *attackWriter, n int) {
		for i := range n {
			c := attackClient(i)
			a.tcp(c, attackServer, 99, true, nil)
			for off := 2; off < 1502; off++ {
				a.tcp(c, attackServer, 100+uint32(off), false, []byte{0x42})
			}
		}
	},
	// n flows each park 230 kB of out-of-order data behind a hole, as
	// much as a flow may buffer (256 KiB at its real cost).
	"parked-out-of-order": func(a *attackWriter, n int) {
		data := make([]byte, 1400)
		for i := range n {
			c := attackClient(i)
			a.tcp(c, attackServer, 99, true, nil)
			for off := 1400; off < 230_000; off += 1400 {
				a.tcp(c, attackServer, 100+uint32(off), false, data)
			}
		}
	},
}

// writeInterfaces writes a pcapng of n thousand Interface Description
// Blocks and then a packet, into dir, and returns the path.
func writeInterfaces(t testing.TB, dir string, n int) string {
	le := binary.LittleEndian
	block := func(typ uint32, body []byte) []byte {
		b := le.AppendUint32(le.AppendUint32(nil, typ), uint32(12+len(body)))
		return le.AppendUint32(append(b, body...), uint32(12+len(body)))
	}
	path := filepath.Join(dir, "pcapng-interfaces-"+strconv.Itoa(n)+".pcapng")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.Write(block(0x0A0D0D0A, []byte{0x4D, 0x3C, 0x2B, 0x1A, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}))
	idb := block(1, []byte{1, 0, 0, 0, 0, 0, 4, 0})
	for range n * 1000 {
		w.Write(idb)
	}
	epb := le.AppendUint32(nil, 0)
	epb = append(epb, make([]byte, 8)...)
	epb = le.AppendUint32(le.AppendUint32(epb, 60), 60)
	w.Write(block(6, append(epb, make([]byte, 60)...)))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return path
}

// writeAttack writes attack name at scale n into dir and returns the path.
func writeAttack(t testing.TB, dir, name string, n int) string {
	path := filepath.Join(dir, name+"-"+strconv.Itoa(n)+".pcap")
	a := newAttackWriter(t, path)
	attacks[name](a, n)
	a.close()
	return path
}

var budgetLine = regexp.MustCompile(`memory budget ([0-9.]+) MiB, peak ([0-9.]+) MiB; (\d+) cuts`)

// runAttack reads an attack with -v under a budget and returns the
// budget's peak in MiB and the flows cut.
func runAttack(t *testing.T, path string, memory string, args ...string) (out string, peak float64, cuts int) {
	t.Helper()
	out, errs, code := tlssniff(t, append([]string{"-r", path, "--json", "-v", "--memory", memory}, args...)...)
	if code != 0 {
		t.Fatalf("%s: exit %d: %s", path, code, errs)
	}
	m := budgetLine.FindStringSubmatch(errs)
	if m == nil {
		t.Fatalf("no budget line in -v: %s", errs)
	}
	limit, _ := strconv.ParseFloat(m[1], 64)
	peak, _ = strconv.ParseFloat(m[2], 64)
	if want, _ := parseSize(memory); limit != float64(want)/(1<<20) {
		t.Errorf("-v says a budget of %.1f MiB for --memory %s", limit, memory)
	}
	cuts, _ = strconv.Atoi(m[3])
	if peak > limit {
		t.Errorf("%s: peak %.1f MiB over the %.1f MiB budget", path, peak, limit)
	}
	return out, peak, cuts
}

// TestWriteAttacks writes every attack at two sizes into
// $TLSSNIFF_ATTACKS, to measure time and peak RSS by hand (make attacks);
// with TLSSNIFF_ATTACK=NAME:N, only that one at that size.
func TestWriteAttacks(t *testing.T) {
	dir := testenv.OptIn(t, "TLSSNIFF_ATTACKS")
	if name, n, ok := strings.Cut(os.Getenv("TLSSNIFF_ATTACK"), ":"); ok {
		size, err := strconv.Atoi(n)
		if err != nil || attacks[name] == nil {
			t.Fatalf("TLSSNIFF_ATTACK=%s:%s: no such attack or size", name, n)
		}
		writeAttack(t, dir, name, size)
		return
	}
	sizes := map[string][2]int{"one-byte-records": {1024, 4096}, "reversed-segments": {160, 640},
		"dtls-fragment-headers": {4000, 16000}, "partial-hellos": {25000, 100000}, "parked-out-of-order": {1000, 4000},
		"fragment-ids": {1000, 4000}, "partial-messages": {300, 1200}, "parked-one-byte": {1000, 4000}}
	for name, ns := range sizes {
		for _, n := range ns {
			writeAttack(t, dir, name, n)
		}
	}
	writeInterfaces(t, dir, 1000)
	writeInterfaces(t, dir, 4000)
}

// TestAttacksStayWithinBudget runs each attack small and 4x as large
// under a small budget: the budget's peak stays under it, and what the
// budget cut is said on the connections.
func TestAttacksStayWithinBudget(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name   string
		n      int
		memory string
	}{
		{"one-byte-records", 16, "4MiB"},
		{"reversed-segments", 10, "4MiB"},
		{"dtls-fragment-headers", 500, "1MiB"},
		{"partial-hellos", 300, "2MiB"},
		{"parked-out-of-order", 20, "2MiB"},
		{"fragment-ids", 20, "1MiB"},
		{"partial-messages", 3, "2MiB"},
		{"parked-one-byte", 10, "2MiB"},
	} {
		for _, n := range []int{tc.n, 4 * tc.n} {
			out, peak, cuts := runAttack(t, writeAttack(t, dir, tc.name, n), tc.memory)
			t.Logf("%s at %d: budget peak %.1f MiB, %d cuts, %d connections", tc.name, n, peak, cuts, strings.Count(out, "\n"))
		}
	}
}

// TestHiddenHandshake: flows that park out-of-order data until the budget
// is spent, or so many flows that their own state fills it, cannot hide a
// handshake that comes after them with its segments reordered: the budget
// cuts the parked flows, the largest first, or evicts the least recently
// active, and the handshake is reported whole, without a memory_budget
// issue of its own.
func TestHiddenHandshake(t *testing.T) {
	for _, tc := range []struct {
		attack string
		n      int
	}{
		{"parked-out-of-order", 40}, // 9 MB parked under a 4 MiB budget
		{"partial-hellos", 2000},    // 2,000 flows of 5 kB state and a 15 kB partial record
	} {
		t.Run(tc.attack, func(t *testing.T) { hiddenHandshake(t, tc.attack, tc.n) })
	}
}

func hiddenHandshake(t *testing.T, attack string, n int) {
	path := filepath.Join(t.TempDir(), "hidden.pcap")
	a := newAttackWriter(t, path)
	attacks[attack](a, n)
	frames := sampleFrames(t, "../../samples/segments.pcap")
	// Frames 4 to 40 are the ClientHello in 37 segments of 7 bytes: send
	// them last first.
	slices.Reverse(frames[3:40])
	for _, f := range frames {
		a.write(f.data)
	}
	a.close()
	out, _, cuts := runAttack(t, path, "4MiB")
	if cuts == 0 {
		t.Errorf("the budget was never short: the attack did not bite")
	}
	var found bool
	for _, c := range parseNDJSON(t, out) {
		if c.Server.Port != 8443 {
			continue
		}
		if c.SNI == nil || *c.SNI != "segments.example.test" || c.Outcome != "established" || len(c.Issues) != 0 {
			t.Errorf("the handshake behind the budget: %v %s %+v", c.SNI, c.Outcome, c.Issues)
		}
		found = true
		break
	}
	if !found {
		t.Errorf("the handshake behind the budget was not reported:\n%s", out)
	}
}

// TestPcapngUnknownInterfaceWarns: tls12.pcap as pcapng with a packet that
// names interface 9 among its own: the connection is read whole, and a
// warning counts the packet skipped; the exit status stays 0.
func TestPcapngUnknownInterfaceWarns(t *testing.T) {
	var out bytes.Buffer
	w, err := pcapgo.NewNgWriter(&out, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range sampleFrames(t, "../../samples/tls12.pcap") {
		w.WritePacket(f.ci, f.data)
		if i == 3 {
			w.Flush()
			// An Enhanced Packet Block of interface 9, 20 bytes of data.
			epb := []byte{6, 0, 0, 0, 52, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 20, 0, 0, 0}
			epb = append(append(epb, make([]byte, 20)...), 52, 0, 0, 0)
			out.Write(epb)
		}
	}
	w.Flush()
	path := filepath.Join(t.TempDir(), "iface.pcapng")
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := tlssniff(t, "-r", path, "--json")
	conns := parseNDJSON(t, stdout)
	if code != 0 || len(conns) != 1 || conns[0].Outcome != "established" ||
		!strings.Contains(stderr, "tlssniff: warning: 1 pcapng packets skipped: they name an interface their section does not describe") {
		t.Errorf("exit %d, %d connections, stderr %q", code, len(conns), stderr)
	}
}
