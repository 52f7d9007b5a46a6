package export

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/tlssniff/tlssniff/capture"
	"github.com/tlssniff/tlssniff/parser"
)

// What flows hold before their connection is decided stays within the
// budget whatever comes: hoarding flows are cut, the connection that
// passes is written from what was kept and counted as cut, and a file is
// written that pcapgo reads back.
func TestHeldWithinBudget(t *testing.T) {
	var buf bytes.Buffer
	const limit = 64 << 10
	e := New(capture.NewPcapngWriter(&buf), limit, nil)
	server := netip.MustParseAddrPort("10.0.0.2:443")
	frame := make([]byte, 1500)
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 2000 {
		client := netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(1000+i%50))
		e.packet(&capture.Packet{Time: t0.Add(time.Duration(i) * time.Millisecond), Src: client, Dst: server,
			Frame: frame, LinkType: layers.LinkTypeEthernet, Length: len(frame)})
		if u := e.mem.Used(); u > limit {
			t.Fatalf("packet %d: %d bytes held, limit %d", i, u, limit)
		}
	}
	newcomer := netip.MustParseAddrPort("10.0.0.1:2000")
	for i := range 5 {
		e.packet(&capture.Packet{Time: t0.Add(time.Duration(3000+i) * time.Millisecond), Src: newcomer, Dst: server,
			Frame: frame, LinkType: layers.LinkTypeEthernet, Length: len(frame)})
	}
	e.Decide(&parser.Connection{Client: newcomer, Server: server}, true)
	e.Decide(&parser.Connection{Client: netip.MustParseAddrPort("10.0.0.1:1000"), Server: server}, true)
	e.Decide(&parser.Connection{Client: netip.MustParseAddrPort("10.0.0.1:1001"), Server: server}, false)
	st, err := e.Close()
	if err != nil || st.Connections != 2 || st.Cut != 1 || st.Packets < 5 || st.Packets >= 45 {
		t.Fatalf("%+v, %v", st, err)
	}
	r, err := pcapgo.NewNgReader(&buf, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		if _, _, err := r.ReadPacketData(); err != nil {
			break
		}
		n++
	}
	if uint64(n) != st.Packets {
		t.Errorf("read %d packets back, wrote %d", n, st.Packets)
	}
}

// FuzzExporter feeds packets of 16 flows in any order, with decisions
// among them: what is held never passes the budget (besides each flow's
// fixed bookkeeping), and the file written reads back with as many
// packets as were counted.
func FuzzExporter(f *testing.F) {
	f.Add([]byte{0, 200, 1, 200, 0x40, 0, 0x81, 1})
	f.Add(bytes.Repeat([]byte{3, 255, 0x43, 7, 255, 0x87}, 50))
	f.Fuzz(func(t *testing.T, ops []byte) {
		var buf bytes.Buffer
		const limit = 16 << 10
		e := New(capture.NewPcapngWriter(&buf), limit, nil)
		server := netip.MustParseAddrPort("10.0.0.2:443")
		client := func(b byte) netip.AddrPort {
			return netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), 1000+uint16(b&15))
		}
		frame := make([]byte, 2048)
		t0 := time.Unix(1_700_000_000, 0)
		for i := 0; i+1 < len(ops); i += 2 {
			op, arg := ops[i], ops[i+1]
			switch op >> 6 {
			case 0, 3: // a packet of flow op&15, arg*8 bytes, from either side
				src, dst := client(op), server
				if op&16 != 0 {
					src, dst = dst, src
				}
				e.packet(&capture.Packet{Time: t0.Add(time.Duration(i) * time.Millisecond), Src: src, Dst: dst,
					Flags: capture.FlagSYN * (op >> 5 & 1), Frame: frame[:int(arg)*8], LinkType: layers.LinkTypeEthernet, Length: int(arg) * 8})
			case 1: // decided: passes
				e.Decide(&parser.Connection{Client: client(op), Server: server}, true)
			case 2: // decided: filtered out
				e.Decide(&parser.Connection{Client: client(op), Server: server}, false)
			}
			if held := e.mem.Used() - int64(len(e.flows))*flowCost; held > limit {
				t.Fatalf("op %d: %d bytes held, limit %d", i/2, held, limit)
			}
		}
		st, err := e.Close()
		if err != nil {
			t.Fatal(err)
		}
		r, err := pcapgo.NewNgReader(&buf, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatal(err)
		}
		n := uint64(0)
		for {
			if _, _, err := r.ReadPacketData(); err != nil {
				break
			}
			n++
		}
		if n != st.Packets {
			t.Fatalf("read %d packets back, wrote %d", n, st.Packets)
		}
	})
}
