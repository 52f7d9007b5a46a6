package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func TestFormats(t *testing.T) {
	le := pcapFile(t, layers.LinkTypeEthernet, frame(t, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, false, "x"))
	var us bytes.Buffer // microsecond resolution
	w := pcapgo.NewWriter(&us)
	w.WriteFileHeader(65535, layers.LinkTypeEthernet)
	fr := frame(t, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, false, "x")
	w.WritePacket(gopacket.CaptureInfo{Timestamp: t0, CaptureLength: len(fr), Length: len(fr)}, fr)
	gz := gzipped(le)
	var ng bytes.Buffer
	nw, _ := pcapgo.NewNgWriter(&ng, layers.LinkTypeRaw)
	nw.AddInterface(pcapgo.NgInterface{LinkType: layers.LinkTypeEthernet})
	raw := frame(t, nil, false, "x")
	nw.WritePacket(gopacket.CaptureInfo{Timestamp: t0, CaptureLength: len(raw), Length: len(raw), InterfaceIndex: 0}, raw)
	nw.WritePacket(gopacket.CaptureInfo{Timestamp: t0.Add(time.Millisecond), CaptureLength: len(fr), Length: len(fr), InterfaceIndex: 1}, fr)
	nw.Flush()

	for _, tc := range []struct {
		name  string
		data  []byte
		n     int
		micro bool
	}{
		{"pcap, nanoseconds, little-endian", le, 1, false},
		{"pcap, nanoseconds, big-endian", bigEndian(t, le), 1, false},
		{"pcap, microseconds, little-endian", us.Bytes(), 1, true},
		{"pcap, microseconds, big-endian", bigEndian(t, us.Bytes()), 1, true},
		{"gzip", gz, 1, false},
		{"pcapng with raw IP and Ethernet interfaces", ng.Bytes(), 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := openBytes(t, tc.data)
			if err != nil {
				t.Fatal(err)
			}
			pkts := readAll(t, f)
			want := t0
			if tc.micro {
				want = t0.Truncate(time.Microsecond)
			}
			if len(pkts) != tc.n || !pkts[0].Time.Equal(want) || pkts[0].Src != src {
				t.Errorf("packets %+v", pkts)
			}
		})
	}
}

// bigEndian rewrites a little-endian pcap file in big-endian byte order.
func bigEndian(t *testing.T, le []byte) []byte {
	out := bytes.Clone(le)
	swap32 := func(b []byte) { binary.BigEndian.PutUint32(b, binary.LittleEndian.Uint32(b)) }
	swap16 := func(b []byte) { binary.BigEndian.PutUint16(b, binary.LittleEndian.Uint16(b)) }
	swap32(out[0:])
	swap16(out[4:])
	swap16(out[6:])
	for off := 8; off < 24; off += 4 {
		swap32(out[off:])
	}
	for off := 24; off < len(out); {
		n := int(binary.LittleEndian.Uint32(le[off+8:]))
		for k := 0; k < 16; k += 4 {
			swap32(out[off+k:])
		}
		off += 16 + n
	}
	return out
}

func gzipped(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

func TestBadFiles(t *testing.T) {
	for name, data := range map[string][]byte{
		"empty":        nil,
		"text":         []byte("this is a text file, not a capture\n"),
		"random":       {0x9e, 0x12, 0x77, 0x01, 0xff, 0x00, 0x42, 0x42},
		"gzip of text": gzipped([]byte("hello")),
	} {
		if _, err := openBytes(t, data); !errors.Is(err, ErrNotCapture) {
			t.Errorf("%s: %v", name, err)
		}
	}
	_, err := openBytes(t, pcapFile(t, layers.LinkType(147)))
	if err == nil || !strings.Contains(err.Error(), "unsupported link type 147") {
		t.Errorf("link type 147: %v", err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.pcap")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestTruncatedFile(t *testing.T) {
	fr := frame(t, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, false, "payload")
	data := pcapFile(t, layers.LinkTypeEthernet, fr, fr, fr)
	f, err := openBytes(t, data[:len(data)-10])
	if err != nil {
		t.Fatal(err)
	}
	var p Packet
	for i := 0; i < 2; i++ {
		if err := f.Next(&p); err != nil {
			t.Fatalf("packet %d: %v", i+1, err)
		}
	}
	err = f.Next(&p)
	var re *ReadError
	if !errors.As(err, &re) || re.Packet != 3 || err.Error() != "test: stopped at packet 3: file is truncated" {
		t.Errorf("error %v", err)
	}
}

func TestSnaplenTruncation(t *testing.T) {
	fr := frame(t, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, false, strings.Repeat("p", 100))
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	w.WriteFileHeader(80, layers.LinkTypeEthernet)
	w.WritePacket(gopacket.CaptureInfo{Timestamp: t0, CaptureLength: 80, Length: len(fr)}, fr[:80])
	f, _ := openBytes(t, b.Bytes())
	pkts := readAll(t, f)
	if len(pkts) != 1 || !pkts[0].Truncated || len(pkts[0].Payload)+pkts[0].Missing != 100 {
		t.Errorf("packets %+v", pkts)
	}
}

// ngBlock builds a little-endian pcapng block around body (padded).
func ngBlock(typ uint32, body []byte) []byte {
	body = append(body, make([]byte, -len(body)&3)...)
	n := uint32(12 + len(body))
	b := binary.LittleEndian.AppendUint32(nil, typ)
	b = binary.LittleEndian.AppendUint32(b, n)
	b = append(b, body...)
	return binary.LittleEndian.AppendUint32(b, n)
}

func ngSection() []byte {
	return ngBlock(ngSectionHeader, []byte{0x4D, 0x3C, 0x2B, 0x1A, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
}

func ngIDB() []byte { return ngBlock(ngInterface, []byte{1, 0, 0, 0, 0, 0, 4, 0}) } // Ethernet, snaplen 262144

func ngEPB(iface uint32, f []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, iface)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0) // timestamp
	b = binary.LittleEndian.AppendUint32(b, uint32(len(f)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(f)))
	return ngBlock(ngEnhancedPacket, append(b, f...))
}

// payloads reads every segment of a capture file and returns the
// payloads.
func payloads(t testing.TB, b []byte) ([]string, Stats) {
	f, err := openBytes(t, b)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range readAll(t, f) {
		got = append(got, string(p.Payload))
	}
	return got, f.Stats()
}

// A pcapng packet that names an interface its section never described is
// skipped and counted; the packets after it are read (pcapgo's error for
// it ended the file).
func TestPcapngUnknownInterface(t *testing.T) {
	fr := func(s string) []byte {
		return frame(t, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, false, s)
	}
	spb := func(f []byte) []byte {
		return ngBlock(ngSimplePacket, append(binary.LittleEndian.AppendUint32(nil, uint32(len(f))), f...))
	}
	file := slicesConcat(ngSection(), ngIDB(), ngEPB(0, fr("one")), ngEPB(7, fr("bad")), ngEPB(0, fr("two")),
		spb(fr("simple")), // interface 0 exists
		ngSection(), spb(fr("none")), ngIDB(), ngEPB(0, fr("three")))
	got, st := payloads(t, file)
	if strings.Join(got, ",") != "one,two,simple,three" || st.UnknownInterface != 2 {
		t.Errorf("read %q, %d skipped", got, st.UnknownInterface)
	}
}

// A million interface descriptions keep MaxInterfaces: the rest are left
// out without being kept, and the packet after them is read.
func TestPcapngMillionInterfaces(t *testing.T) {
	idb := ngIDB()
	file := ngSection()
	for range 1_000_000 {
		file = append(file, idb...)
	}
	file = append(file, ngEPB(3, frame(t, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, false, "after"))...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got, st := payloads(t, file)
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d bytes of capture, %d allocated", len(file), allocated)
	if len(got) != 1 || st.InterfacesDropped != 1_000_000-MaxInterfaces || allocated > 16<<20 {
		t.Errorf("read %q, %d dropped, %d bytes allocated", got, st.InterfacesDropped, allocated)
	}
}

func slicesConcat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

// ngSecrets is a Decryption Secrets Block of secrets type typ.
func ngSecrets(typ uint32, keyLog string) []byte {
	b := binary.LittleEndian.AppendUint32(nil, typ)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(keyLog)))
	return ngBlock(ngDecryptionSecrets, append(b, keyLog...))
}

// TestDecryptionSecretsBlocks: a TLS key log in a Decryption Secrets Block
// reaches OnSecrets wherever it sits, before the packets after it; other
// secrets types and a block whose length lies are passed over, and the
// packets are read either way.
func TestDecryptionSecretsBlocks(t *testing.T) {
	fr := frame(t, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, false, "p")
	b := slicesConcat(ngSection(), ngSecrets(ngTLSKeyLog, "CLIENT_RANDOM a b\n"), ngIDB(), ngEPB(0, fr),
		ngSecrets(0x57474b4c, "wireguard"), ngSecrets(ngTLSKeyLog, "second"), ngEPB(0, fr))
	f, err := openBytes(t, b)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	f.OnSecrets(func(k []byte) { events = append(events, "secrets "+string(k)) })
	var p Packet
	for f.Next(&p) == nil {
		events = append(events, "packet "+string(p.Payload))
	}
	if want := []string{"secrets CLIENT_RANDOM a b\n", "packet p", "secrets second", "packet p"}; !slices.Equal(events, want) {
		t.Errorf("events %q, want %q", events, want)
	}
	// A block whose secrets length runs past it gives nothing; the file
	// goes on.
	liar := ngSecrets(ngTLSKeyLog, "abcd")
	binary.LittleEndian.PutUint32(liar[12:], 1000)
	got, _ := payloads(t, slicesConcat(ngSection(), ngIDB(), liar, ngEPB(0, fr)))
	if len(got) != 1 {
		t.Errorf("packets after a lying block: %q", got)
	}
}

// FuzzPcapng reads any bytes as a pcapng file with a key log in it:
// nothing panics, and the key logs handed on are never more than the file.
func FuzzPcapng(f *testing.F) {
	fr := frame(f, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, false, "payload")
	f.Add(slicesConcat(ngSection(), ngSecrets(ngTLSKeyLog, "CLIENT_RANDOM 00 11\n"), ngIDB(), ngEPB(0, fr)))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := openBytes(t, b)
		if err != nil {
			return
		}
		total := 0
		file.OnSecrets(func(k []byte) { total += len(k) })
		var p Packet
		for file.Next(&p) == nil {
		}
		if total > len(b) {
			t.Fatalf("%d bytes of key logs from a file of %d", total, len(b))
		}
	})
}

// TestPipeWaits: a capture read from a pipe says it may wait once nothing
// more of it is read, and not when bytes are; Interrupt ends a Next that
// waits, with io.EOF; a regular file never waits.
func TestPipeWaits(t *testing.T) {
	ipv4 := func(payload string) []byte {
		return frame(t, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, false, payload)
	}
	whole := pcapFile(t, layers.LinkTypeEthernet, ipv4("one"), ipv4("two"))
	first := pcapFile(t, layers.LinkTypeEthernet, ipv4("one"))
	second := whole[len(first):]

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write(first); err != nil {
		t.Fatal(err)
	}
	f, err := newFile("pipe", r)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var p Packet
	if !f.Piped() || !NewMerge(f).Piped() {
		t.Error("a pipe is not said to be one")
	}
	if err := f.Next(&p); err != nil || string(p.Payload) != "one" {
		t.Fatalf("first packet: %q, %v", p.Payload, err)
	}
	if !f.Waits() {
		t.Error("all the pipe held is read, and the file does not say it may wait")
	}
	if n := testing.AllocsPerRun(100, func() { f.Waits() }); n != 0 {
		t.Errorf("Waits allocates %v times a call; the feed asks before every packet", n)
	}
	if _, err := w.Write(second); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); f.Waits(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the pipe holds a packet, and the file still says it may wait after a minute")
		}
	}
	if err := f.Next(&p); err != nil || string(p.Payload) != "two" {
		t.Fatalf("second packet: %q, %v", p.Payload, err)
	}
	ended := make(chan error, 1)
	go func() { ended <- f.Next(&p) }() // waits: the pipe is open and empty
	f.Interrupt()
	select {
	case err := <-ended:
		if err != io.EOF {
			t.Errorf("Next after Interrupt: %v, not EOF", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Next still waits a minute after Interrupt")
	}

	path := filepath.Join(t.TempDir(), "whole.pcap")
	if err := os.WriteFile(path, whole, 0o644); err != nil {
		t.Fatal(err)
	}
	regular, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer regular.Close()
	regular.Interrupt() // reads on
	if regular.Piped() || NewMerge(regular).Piped() || regular.Waits() || len(readAll(t, regular)) != 2 {
		t.Error("a regular file says it is a pipe or may wait, or stops when interrupted")
	}
}

// TestPipeInPieces: what is written into a pipe is read through the pump as
// written, in pieces of other sizes than it read; and a capture, pcap, gzip
// or pcapng, written in pieces of random sizes, reads as the same packets
// as from memory.
func TestPipeInPieces(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var frames [][]byte
	for i := range 3000 { // 2 MiB: past a slab, and little for gzip to take off
		typ := layers.EthernetTypeIPv4
		if i%3 == 0 {
			typ = layers.EthernetTypeIPv6
		}
		payload := make([]byte, rng.IntN(1400))
		for j := range payload {
			payload[j] = byte(rng.IntN(256))
		}
		frames = append(frames, frame(t, []gopacket.SerializableLayer{eth(typ)}, i%3 == 0, string(payload)))
	}
	pcap := pcapFile(t, layers.LinkTypeEthernet, frames...)
	var ng bytes.Buffer
	nw, _ := pcapgo.NewNgWriter(&ng, layers.LinkTypeEthernet)
	for i, fr := range frames {
		nw.WritePacket(gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(fr), Length: len(fr)}, fr)
	}
	nw.Flush()
	// The pump itself, read in pieces of other sizes than it read.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		w.Write(pcap)
		w.Close()
	}()
	p := newPump(r)
	var got []byte
	for {
		b := make([]byte, 1+rng.IntN(5000))
		n, err := p.Read(b)
		got = append(got, b[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	r.Close()
	if !bytes.Equal(got, pcap) {
		t.Fatalf("the pump gave %d bytes, not the %d written", len(got), len(pcap))
	}
	for name, capture := range map[string][]byte{"pcap": pcap, "gzip": gzipped(pcap), "pcapng": ng.Bytes()} {
		f, err := openBytes(t, capture)
		if err != nil {
			t.Fatal(err)
		}
		want := readAll(t, f)
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for rest := capture; len(rest) > 0; {
				n := 1 + rng.IntN(3000)
				if rng.IntN(10) == 0 {
					n = 100000 // more than the pump reads at once
				}
				n = min(n, len(rest))
				w.Write(rest[:n])
				rest = rest[n:]
			}
			w.Close()
		}()
		piped, err := newFile("pipe", r)
		if err != nil {
			t.Fatal(err)
		}
		got := readAll(t, piped)
		piped.Close()
		if len(got) != len(frames) || len(got) != len(want) {
			t.Fatalf("%s: %d packets through the pipe, %d from memory, %d written", name, len(got), len(want), len(frames))
		}
		for i := range got {
			got[i].Hold, want[i].Hold = nil, nil
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("%s: packet %d differs through the pipe:\n%+v\n%+v", name, i, got[i], want[i])
			}
		}
	}
}
