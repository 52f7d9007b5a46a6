package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// TestFragments: IPv4 and IPv6 fragments, in any order and overlapping,
// give back the TCP segment; a datagram never completed gives nothing.
func TestFragments(t *testing.T) {
	payload := strings.Repeat("0123456789abcdef", 40) // 640 bytes of TCP payload
	for _, ip6 := range []bool{false, true} {
		whole := frame(t, nil, ip6, payload)
		hdr := 20
		if ip6 {
			hdr = 40 + 8 // the hop-by-hop header stays in the unfragmentable part
		}
		body := whole[hdr:]                                                        // TCP header and payload
		pieces := []struct{ off, end int }{{0, 264}, {256, 512}, {512, len(body)}} // 8-byte units, one overlap
		frag := func(i int) []byte {
			pc := pieces[i]
			more := pc.end < len(body)
			if ip6 {
				h := bytes.Clone(whole[:hdr])
				h[40] = 44 // the hop-by-hop header's next header: Fragment
				binary.BigEndian.PutUint16(h[4:], uint16(8+8+pc.end-pc.off))
				fh := []byte{6, 0, 0, 0, 0, 0, 0x12, 0x34}
				binary.BigEndian.PutUint16(fh[2:], uint16(pc.off/8)<<3)
				if more {
					fh[3] |= 1
				}
				binary.BigEndian.PutUint32(fh[4:], 0xbeef)
				return append(append(h, fh...), body[pc.off:pc.end]...)
			}
			h := bytes.Clone(whole[:hdr])
			binary.BigEndian.PutUint16(h[2:], uint16(hdr+pc.end-pc.off))
			binary.BigEndian.PutUint16(h[4:], 0xbeef)
			flags := uint16(pc.off / 8)
			if more {
				flags |= 0x2000
			}
			binary.BigEndian.PutUint16(h[6:], flags)
			return append(h, body[pc.off:pc.end]...)
		}
		for name, order := range map[string][]int{"in order": {0, 1, 2}, "reversed": {2, 1, 0}, "last first": {2, 0, 1}, "one lost": {0, 2}} {
			t.Run(fmt.Sprintf("IPv6 %v, %s", ip6, name), func(t *testing.T) {
				var frames [][]byte
				for _, i := range order {
					frames = append(frames, frag(i))
				}
				f, err := openBytes(t, pcapFile(t, layers.LinkTypeRaw, frames...))
				if err != nil {
					t.Fatal(err)
				}
				pkts := readAll(t, f)
				if name == "one lost" {
					if len(pkts) != 0 || f.Stats().Fragments != 2 {
						t.Errorf("packets %d, stats %+v", len(pkts), f.Stats())
					}
					return
				}
				if len(pkts) != 1 || string(pkts[0].Payload) != payload || pkts[0].Seq != 1000 || pkts[0].Dst.Port() != 443 {
					t.Fatalf("packets %d, stats %+v", len(pkts), f.Stats())
				}
			})
		}
	}
}

// TestFragmentMemory: a flood of datagrams that never complete keeps at
// most maxDatagrams pending.
func TestFragmentMemory(t *testing.T) {
	var d defragmenter
	a := netip.MustParseAddr("192.0.2.1")
	for i := range 100000 {
		d.add(fragKey{a, a, uint32(i), 6}, 0, true, make([]byte, 1480))
	}
	if len(d.pending) != maxDatagrams || d.dropped != 100000-maxDatagrams {
		t.Errorf("%d pending, %d dropped", len(d.pending), d.dropped)
	}
}

// TestLyingLengths: a record whose length field lies (beyond the snapshot
// length, beyond the file, or a pcapng block claiming gigabytes) stops the
// file with a ReadError after the good packets, without a huge allocation.
func TestLyingLengths(t *testing.T) {
	good := pcapFile(t, layers.LinkTypeEthernet, frame(t, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, false, "ok"))
	record := func(caplen, length uint32, data []byte) []byte {
		h := make([]byte, 16)
		binary.LittleEndian.PutUint32(h[8:], caplen)
		binary.LittleEndian.PutUint32(h[12:], length)
		return append(h, data...)
	}
	var ng bytes.Buffer
	nw, _ := pcapgo.NewNgWriter(&ng, layers.LinkTypeEthernet)
	fr := frame(t, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, false, "ok")
	nw.WritePacket(gopacket.CaptureInfo{Timestamp: t0, CaptureLength: len(fr), Length: len(fr)}, fr)
	nw.Flush()
	epb := []byte{6, 0, 0, 0, 0xf0, 0xff, 0xff, 0xff} // an Enhanced Packet Block of 4 GiB
	for name, data := range map[string][]byte{
		"caplen over the snaplen":  append(bytes.Clone(good), record(0x7fffffff, 0x7fffffff, []byte("short"))...),
		"caplen past the file end": append(bytes.Clone(good), record(60000, 60000, []byte("short"))...),
		"pcapng block of 4 GiB":    append(ng.Bytes(), epb...),
	} {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			f, err := openBytes(t, data)
			if err != nil {
				t.Fatal(err)
			}
			var p Packet
			n := 0
			for err = f.Next(&p); err == nil; err = f.Next(&p) {
				n++
			}
			runtime.ReadMemStats(&after)
			var re *ReadError
			if n != 1 || !errors.As(err, &re) || re.Packet != 2 {
				t.Errorf("%d packets, then %v", n, err)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
				t.Errorf("%d bytes allocated", grew)
			}
		})
	}
}

// FuzzDefrag cuts a datagram into fragments at fuzzed offsets, overlapping
// and in a fuzzed order: what comes out must be what went in, once, when
// the last byte is in, and never before.
func FuzzDefrag(f *testing.F) {
	f.Add([]byte("0123456789abcdef0123456789abcdef"), []byte{8, 3, 16, 1, 0, 2})
	f.Fuzz(func(t *testing.T, payload, ops []byte) {
		if len(payload) == 0 || len(payload) > 4096 || len(ops) > 64 {
			return
		}
		var d defragmenter
		k := fragKey{id: 1, proto: 6}
		covered := make([]bool, len(payload))
		remaining := len(payload)
		for i := 0; i+1 < len(ops); i += 2 {
			off := int(ops[i]) * 8 % len(payload) &^ 7
			end := min(off+int(ops[i+1])*8+8, len(payload))
			for j := off; j < end; j++ {
				if !covered[j] {
					covered[j] = true
					remaining--
				}
			}
			whole, ok := d.add(k, off, end < len(payload), payload[off:end])
			if ok != (remaining == 0) {
				t.Fatalf("complete %v with %d bytes missing", ok, remaining)
			}
			if ok {
				if !bytes.Equal(whole, payload) {
					t.Fatalf("reassembled %q, sent %q", whole, payload)
				}
				return
			}
		}
	})
}
