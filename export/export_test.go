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
