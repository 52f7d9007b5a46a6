package reassembly

import (
	"time"

	"github.com/tlssniff/tlssniff/reorder"
)

// TCP's byte streams: each side's bytes put in order by sequence number,
// delivered once, with holes, overlaps and retransmissions counted.

type side struct {
	next  uint32 // next sequence number to deliver
	pos   uint64 // stream offset of next: pending is keyed by offset, free of wraparound
	known bool   // next is set: SYN seen or first data taken as the start
	// The initial sequence number of the side's SYN; another, of a SYN
	// (or SYN/ACK) sent again with a new one, is taken once the other side
	// acknowledges it or the side's data follows it (follow).
	isn, otherISN     uint32
	synSeen, hasOther bool
	done              bool // the stream wants no more bytes of this side
	// pending holds out-of-order segments by stream offset.
	pending reorder.Buffer
}

// start takes seq as the next sequence number: the SYN's, or the first
// seen. Offsets already given keep their meaning; the first starts far
// from 0 so that a sequence number behind it cannot wrap an offset.
func (sd *side) start(seq uint32) {
	if !sd.known {
		sd.pos, sd.known = 1<<62, true
	} else {
		sd.pos = sd.offset(seq)
	}
	sd.next = seq
}

// follow takes the side's other ISN when seq is the first sequence number
// after it: the other side acknowledged it, or the side's data follows it.
func (sd *side) follow(seq uint32) {
	if sd.hasOther && seq == sd.otherISN+1 {
		sd.isn, sd.hasOther = sd.otherISN, false
		sd.start(seq)
	}
}

// offset is the stream offset of sequence number seq, near next.
func (sd *side) offset(seq uint32) uint64 { return sd.pos + uint64(int64(seqDiff(seq, sd.next))) }

// advance moves next (and pos) n bytes on.
func (sd *side) advance(n int) {
	sd.next += uint32(n)
	sd.pos += uint64(n)
}

// data handles payload sent by side s starting at seq; missing bytes after
// it were on the wire but not in the capture.
func (a *Assembler) data(f *flow, s int, seq uint32, payload []byte, missing int, ts time.Time) {
	sd := &f.sides[s]
	if !sd.known {
		sd.start(seq) // picked up mid-stream
	}
	if sd.done {
		a.stats.SkippedBytes += uint64(len(payload))
		if end := seq + uint32(len(payload)+missing); seqAfter(end, sd.next) {
			sd.advance(int(seqDiff(end, sd.next)))
		}
		return
	}
	switch d := seqDiff(seq, sd.next); {
	case d > 0:
		a.buffer(f, s, seq, payload, ts) // bytes the capture cut off become a hole
		return
	case d < 0:
		if -int(d) >= len(payload)+missing {
			a.stats.Retransmits++
			f.stats.AddMark(ts, s, true)
			return
		}
		f.stats.Overlaps++
		cut := min(int(-d), len(payload))
		missing -= int(-d) - cut
		payload = payload[cut:]
		seq += uint32(cut)
	}
	if g, ok := sd.pending.First(); ok && conflict(g, sd.pos, payload) {
		f.stats.AddConflict(ts, s)
	}
	a.deliver(f, s, payload, ts)
	if missing > 0 && !sd.done {
		a.gap(f, s, missing, ts, false)
	}
	a.drain(f, s)
}

// deliver passes in-order bytes to the stream and advances the side.
func (a *Assembler) deliver(f *flow, s int, data []byte, ts time.Time) {
	sd := &f.sides[s]
	sd.advance(len(data))
	if len(data) > 0 && !f.stream.Data(s, data, ts) {
		sd.done = true
		a.drop(f, s)
		if f.sides[1-s].done {
			a.finish(f)
		}
	}
}

// gap gives up on n bytes of side s: lost, or dropped (cut) for memory.
func (a *Assembler) gap(f *flow, s int, n int, ts time.Time, cut bool) {
	f.sides[s].advance(n)
	if cut {
		a.stats.Cuts++
		a.stats.CutBytes += uint64(n)
		f.stream.Cut(s, n, ts)
		return
	}
	a.stats.Gaps++
	a.stats.GapBytes += uint64(n)
	f.stream.Gap(s, n, ts)
}

// buffer keeps a copy of an out-of-order segment, counted as such unless
// every byte of it was buffered already (a retransmission). When the flow's
// limit or the memory budget refuses it, it gives up on every hole before
// this segment instead, so memory stays bounded.
func (a *Assembler) buffer(f *flow, s int, seq uint32, payload []byte, ts time.Time) {
	sd := &f.sides[s]
	limit := a.cfg.MaxFlowBuffer - f.sides[1-s].pending.Cost()
	r, conflicted := sd.pending.Insert(sd.offset(seq), payload, ts, limit)
	if conflicted {
		f.stats.AddConflict(ts, s)
	}
	if r == reorder.Duplicate {
		a.stats.Retransmits++ // already buffered: keep one copy
		f.stats.AddMark(ts, s, true)
		return
	}
	a.stats.OutOfOrder++
	f.stats.AddMark(ts, s, false)
	if r == reorder.Refused {
		for sd.pending.Len() > 0 && !sd.done {
			a.skipHole(f, s, true)
		}
		if !sd.done && seqAfter(seq, sd.next) {
			a.gap(f, s, int(seqDiff(seq, sd.next)), ts, true)
		}
		a.data(f, s, seq, payload, 0, ts)
	}
}

// conflict reports whether payload at stream offset off and the buffered
// piece g hold different bytes for an offset both cover.
func conflict(g reorder.Piece, off uint64, payload []byte) bool {
	from, to := max(off, g.Offset), min(off+uint64(len(payload)), g.End())
	if to <= from {
		return false
	}
	return string(g.Data[from-g.Offset:to-g.Offset]) != string(payload[from-off:to-off])
}

// acked handles an acknowledgement of side s's bytes up to ack: bytes the
// receiver acknowledged but the capture never showed are lost for good.
func (a *Assembler) acked(f *flow, s int, ack uint32, ts time.Time) {
	sd := &f.sides[s]
	sd.follow(ack)
	if !sd.known || sd.done {
		return
	}
	if g, ok := sd.pending.First(); ok && g.Offset <= sd.offset(ack) {
		a.skipHole(f, s, false)
	}
}

// skipHole gives up on the bytes before the earliest buffered segment,
// lost or cut, and delivers what follows.
func (a *Assembler) skipHole(f *flow, s int, cut bool) {
	sd := &f.sides[s]
	first, ok := sd.pending.First()
	if !ok {
		return
	}
	if first.Offset > sd.pos {
		a.gap(f, s, int(first.Offset-sd.pos), first.Time, cut)
	}
	a.drain(f, s)
}

// drain delivers buffered segments that are now in order.
func (a *Assembler) drain(f *flow, s int) {
	sd := &f.sides[s]
	for !sd.done {
		g, ok := sd.pending.First()
		if !ok || g.Offset > sd.pos {
			return
		}
		sd.pending.PopFirst()
		if g.Offset < sd.pos {
			f.stats.Overlaps++ // bytes delivered since it was buffered
		}
		if g.End() > sd.pos {
			a.deliver(f, s, g.Data[sd.pos-g.Offset:], g.Time)
		}
	}
	sd.pending.Clear()
}

// drop frees what side s had buffered.
func (a *Assembler) drop(f *flow, s int) { f.sides[s].pending.Clear() }
