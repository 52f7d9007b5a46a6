package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"

	"github.com/gopacket/gopacket/pcapgo"
)

// records reads r with read until an error and describes every record
// and the error that ended it.
func records(read func() ([]byte, string, error)) []string {
	var out []string
	for {
		data, ci, err := read()
		if err != nil {
			return append(out, "error: "+err.Error())
		}
		out = append(out, fmt.Sprintf("%s %x", ci, data))
	}
}

// samePcapRecords requires the slab reader to return what pcapgo's Reader
// returns for file (which starts with a pcap magic, as Open sees to), record for record, error for error, whether the file
// comes in one piece or a byte at a time.
func samePcapRecords(t *testing.T, file []byte) {
	t.Helper()
	want := []string{}
	if pr, err := pcapgo.NewReader(bytes.NewReader(file)); err != nil {
		want = append(want, "header: "+err.Error())
	} else {
		want = records(func() ([]byte, string, error) {
			data, ci, err := pr.ZeroCopyReadPacketData()
			return data, fmt.Sprint(ci.Timestamp.UnixNano(), ci.CaptureLength, ci.Length, ci.InterfaceIndex), err
		})
	}
	for _, in := range []io.Reader{bytes.NewReader(file), iotest.OneByteReader(bytes.NewReader(file)), iotest.HalfReader(bytes.NewReader(file))} {
		got := []string{}
		if r, _, err := newPcapReader(in); err != nil {
			got = append(got, "header: "+err.Error())
		} else {
			var kept []*Hold
			got = records(func() ([]byte, string, error) {
				data, ci, err := r.ZeroCopyReadPacketData()
				if h := r.held(data); h != nil {
					h.Keep() // as the feed does: kept slabs are never reused
					kept = append(kept, h)
				}
				return data, fmt.Sprint(ci.Timestamp.UnixNano(), ci.CaptureLength, ci.Length, ci.InterfaceIndex), err
			})
			for _, h := range kept {
				h.Release()
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%d records, pcapgo %d (last %q, pcapgo's %q)", len(got), len(want), got[len(got)-1], want[len(want)-1])
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("record %d:\n%.200s\npcapgo:\n%.200s", i, got[i], want[i])
			}
		}
	}
}

// pcapBytes is a classic pcap file of the given header and records of the
// given captured lengths, with random contents.
func pcapBytes(rng *rand.Rand, magic uint32, order binary.AppendByteOrder, snap uint32, lengths ...int) []byte {
	var b []byte
	b = order.AppendUint32(b, magic)
	b = order.AppendUint16(b, 2)
	b = order.AppendUint16(b, 4)
	b = append(b, make([]byte, 8)...)
	b = order.AppendUint32(b, snap)
	b = order.AppendUint32(b, 1)
	for _, n := range lengths {
		b = order.AppendUint32(b, rng.Uint32())
		b = order.AppendUint32(b, rng.Uint32()) // past a second's fraction too: pcapgo's overflow is kept
		b = order.AppendUint32(b, uint32(n))
		b = order.AppendUint32(b, uint32(n+rng.IntN(3)))
		for range n {
			b = append(b, byte(rng.Uint32()))
		}
	}
	return b
}

// TestPcapReaderAsPcapgo reads files that cross many slabs, records longer
// than a slab, every magic, and every way a file can be cut short.
func TestPcapReaderAsPcapgo(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var lengths []int
	for total := 0; total < 3*SlabSize; {
		n := rng.IntN(1600)
		if rng.IntN(50) == 0 {
			n = rng.IntN(262144)
		}
		lengths = append(lengths, n)
		total += n + 16
	}
	for _, h := range []struct {
		magic uint32
		order binary.AppendByteOrder
	}{{0xa1b2c3d4, binary.LittleEndian}, {0xa1b23c4d, binary.LittleEndian}, {0xa1b2c3d4, binary.BigEndian}, {0xa1b23c4d, binary.BigEndian}} {
		samePcapRecords(t, pcapBytes(rng, h.magic, h.order, 262144, lengths...))
	}
	// A snap length above libpcap's lets records be longer than a slab.
	long := pcapBytes(rng, 0xa1b2c3d4, binary.LittleEndian, 4*SlabSize, 100, SlabSize+1, 3*SlabSize, 5, 2*SlabSize-7)
	samePcapRecords(t, long)
	for _, cut := range []int{4, 23, 24, 30, 40, 140, 156, 157, 1000, SlabSize, len(long) - 1} {
		samePcapRecords(t, long[:cut])
	}
	// Lengths pcapgo refuses: past the snap length, past the wire length.
	bad := pcapBytes(rng, 0xa1b2c3d4, binary.LittleEndian, 65535, 10, 300000)
	samePcapRecords(t, bad)
	bad = pcapBytes(rng, 0xa1b2c3d4, binary.LittleEndian, 65535, 10, 20)
	binary.LittleEndian.PutUint32(bad[24+16+10+12:], 19)
	samePcapRecords(t, bad)
}

// FuzzPcapReader requires the slab reader to read any file as pcapgo does.
func FuzzPcapReader(f *testing.F) {
	rng := rand.New(rand.NewPCG(3, 4))
	f.Add(pcapBytes(rng, 0xa1b2c3d4, binary.LittleEndian, 65535, 60, 0, 1514))
	f.Add(pcapBytes(rng, 0xa1b23c4d, binary.BigEndian, 0xffffffff, 3, 70000))
	f.Fuzz(func(t *testing.T, file []byte) {
		if len(file) < 4 || !isPcapMagic(file) {
			t.Skip("not what Open gives the reader") // gzip and pcapng go elsewhere
		}
		samePcapRecords(t, file)
	})
}
