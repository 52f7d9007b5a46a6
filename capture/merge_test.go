package capture

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func TestMergeOrdersByTime(t *testing.T) {
	fr := frame(t, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, false, "x")
	mk := func(offsets ...time.Duration) *File {
		var b bytes.Buffer
		w := pcapgo.NewWriterNanos(&b)
		w.WriteFileHeader(65535, layers.LinkTypeEthernet)
		for _, o := range offsets {
			w.WritePacket(gopacket.CaptureInfo{Timestamp: t0.Add(o), CaptureLength: len(fr), Length: len(fr)}, fr)
		}
		f, err := openBytes(t, b.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	m := NewMerge(mk(1, 4, 5), mk(2, 3, 6))
	var got []time.Duration
	var p Packet
	for m.Next(&p) == nil {
		got = append(got, p.Time.Sub(t0))
	}
	for i := range got {
		if got[i] != time.Duration(i+1) {
			t.Fatalf("order %v", got)
		}
	}
	if m.Err() != nil || m.Stats().TCP != 6 {
		t.Errorf("err %v stats %+v", m.Err(), m.Stats())
	}
}

// A file that fails while others go on: its packets up to the damage are
// merged with the others', and Err names it.
func TestMergeWithADamagedFile(t *testing.T) {
	fr := frame(t, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, false, "payload")
	good, err := openBytes(t, pcapFile(t, layers.LinkTypeEthernet, fr, fr))
	if err != nil {
		t.Fatal(err)
	}
	data := pcapFile(t, layers.LinkTypeEthernet, fr, fr, fr)
	damaged, err := openBytes(t, data[:len(data)-10])
	if err != nil {
		t.Fatal(err)
	}
	m := NewMerge(good, damaged)
	n := 0
	var p Packet
	for m.Next(&p) == nil {
		n++
	}
	if n != 4 || m.Err() == nil || !strings.Contains(m.Err().Error(), "file is truncated") {
		t.Errorf("%d packets, error %v", n, m.Err())
	}
}
