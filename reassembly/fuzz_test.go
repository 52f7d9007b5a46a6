package reassembly

import (
	"bytes"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/tlssniff/tlssniff/budget"
	"github.com/tlssniff/tlssniff/capture"
	"github.com/tlssniff/tlssniff/flowstats"
	"github.com/tlssniff/tlssniff/reorder"
)

// checker is a Stream that checks each delivered byte against what was sent.
type checker struct {
	t      *testing.T
	sent   []byte
	cursor int
	lost   int
}

func (c *checker) Data(side int, data []byte, ts time.Time) bool {
	if side != 0 || c.cursor+len(data) > len(c.sent) || !bytes.Equal(data, c.sent[c.cursor:c.cursor+len(data)]) {
		c.t.Fatalf("side %d delivered %q at %d; sent %q", side, data, c.cursor, c.sent)
	}
	c.cursor += len(data)
	return true
}

func (c *checker) Gap(side int, n int, ts time.Time) { c.cursor += n; c.lost += n }
func (c *checker) Cut(side int, n int, ts time.Time) { c.Gap(side, n, ts) }
func (c *checker) Shed()                             {}
func (c *checker) Close()                            {}

// FuzzAssembler cuts a payload into segments and sends them in an order, with
// duplicates and losses, chosen by ops: what comes out at each offset equals
// what went in, and without losses everything comes out, unless the payload
// is larger than the flow's buffer budget, past which holes are given up.
func FuzzAssembler(f *testing.F) {
	f.Add([]byte("the quick brown fox jumps over the lazy dog"), []byte{5, 0x83, 7, 0x41, 3}, uint32(0xfffffff0))
	f.Add([]byte("abcdefgh"), []byte{1, 1, 1, 0xff}, uint32(1))
	f.Add([]byte("one byte at a time, last first"), []byte{0x20, 0}, uint32(0xfffffffa))
	f.Fuzz(func(t *testing.T, payload, ops []byte, isn uint32) {
		if len(payload) == 0 || len(ops) == 0 {
			return
		}
		type piece struct{ off, n int }
		var pieces []piece
		for off, i := 0, 0; off < len(payload); i++ {
			n := min(1+int(ops[i%len(ops)]&0x1f), len(payload)-off)
			pieces = append(pieces, piece{off, n})
			off += n
		}
		// Each op byte's top bits: 0x80 swap with the next piece, 0x40
		// send twice, 0x20 drop (unless it is the first). The first op's
		// 0x20 bit instead sends every piece last first (one-byte pieces
		// when the low bits are 0): held segments must come out in order.
		order := append([]piece(nil), pieces...)
		dropped := false
		var send []piece
		for i := 0; i < len(order); i++ {
			op := ops[i%len(ops)]
			if op&0x80 != 0 && i+1 < len(order) {
				order[i], order[i+1] = order[i+1], order[i]
			}
			if op&0x20 != 0 && i > 0 {
				dropped = true
				continue
			}
			send = append(send, order[i])
			if op&0x40 != 0 {
				send = append(send, order[i])
			}
		}
		if ops[0]&0x20 != 0 {
			slices.Reverse(send)
		}
		ck := &checker{t: t, sent: payload}
		cfg := DefaultConfig
		const room = 64 // bytes, each a segment at worst
		cfg.MaxFlowBuffer = room * (reorder.PieceCost + 8)
		a := New(cfg, func(client, server netip.AddrPort, start time.Time, _ *flowstats.Stats, _ *budget.Account) Stream {
			return ck
		})
		p := capture.Packet{Time: t0, Src: cli, Dst: srv, Flags: capture.FlagSYN, Seq: isn - 1}
		a.Add(&p)
		for _, pc := range send {
			p := capture.Packet{Time: t0, Src: cli, Dst: srv, Flags: capture.FlagACK, Seq: isn + uint32(pc.off),
				Payload: payload[pc.off : pc.off+pc.n]}
			a.Add(&p)
		}
		a.Flush()
		if !dropped && len(payload) <= room && (ck.cursor != len(payload) || ck.lost != 0) {
			t.Fatalf("nothing dropped, yet %d of %d bytes came out with %d lost", ck.cursor-ck.lost, len(payload), ck.lost)
		}
	})
}
