package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/tlssniff/tlssniff/capture"
	"github.com/tlssniff/tlssniff/parser"
	"github.com/tlssniff/tlssniff/pipeline"
	"github.com/tlssniff/tlssniff/reassembly"
)

// Flows are sharded across workers so that the cores share the analysis.
// One reader decodes the input once (feed, below) and hands every packet,
// its payload copied into recycled slabs, to every worker; each worker
// reassembles and parses the flows whose hash falls to it. The output is
// the same as one worker's:
//
//   - every worker advances capture time on every packet, so idle flows
//     are closed at the same packet whichever worker holds them;
//   - a connection is tagged with the index of the packet that decided it
//     (the end of input: after them all), and merge writes them in that
//     order, those of one packet by start, client and server.
//
// Only --max-flows and --memory differ: each worker has its share, so
// which flow is evicted or cut when the table or the budget is full
// depends on the number of workers. A live capture is read by its one
// worker directly, without the copy.

// batch is the connections a worker decided at one packet.
type batch struct {
	index int64 // the packet's index; math.MaxInt64 for the end of input
	conns []*parser.Connection
}

// worker analyses the flows of one shard.
type worker struct {
	cli       *cli
	index, n  int
	src       capture.Source
	cfg       reassembly.Config
	validator *parser.Validator
	stop      *atomic.Bool
	out       chan batch

	asmStats reassembly.Stats // set when run returns
	readErr  error
}

// run reads the input to its end (or a stop) and sends what it decides to
// out, in packet order, then closes out.
func (w *worker) run() {
	defer close(w.out)
	var pending []*parser.Connection
	asm := reassembly.New(w.cfg, pipeline.Streams(w.validator, func(c *parser.Connection) { pending = append(pending, c) }))
	send := func(index int64) {
		if len(pending) > 0 {
			w.out <- batch{index, pending}
			pending = nil
		}
	}
	c := w.cli
	var p capture.Packet
	var index int64
	// The shard of the last flow: packets come in runs of one flow.
	var lastSrc, lastDst netip.AddrPort
	mine := true
	var deadline time.Time // of capture time in files, wall time live
	if c.duration > 0 && c.iface != "" {
		deadline = time.Now().Add(c.duration)
	}
	// A feed stops on its own and its workers take what it read, so that
	// all of them see the same packets; a source read directly is stopped
	// here.
	_, fed := w.src.(*feedSource)
	for fed || !w.stop.Load() {
		err := w.src.Next(&p)
		index++
		if errors.Is(err, capture.ErrNoPacket) {
			// Nothing on the wire: time goes on for idle and stalled flows.
			now := time.Now()
			asm.Advance(now)
			send(index)
			if !deadline.IsZero() && now.After(deadline) {
				break
			}
			continue
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				w.readErr = err
			}
			break
		}
		if c.duration > 0 {
			if deadline.IsZero() {
				deadline = p.Time.Add(c.duration)
			}
			if p.Time.After(deadline) {
				w.stop.Store(true) // every worker reaches it at this packet: the feed may stop
				break
			}
		}
		if w.n > 1 && (p.Src != lastSrc || p.Dst != lastDst) {
			lastSrc, lastDst = p.Src, p.Dst
			mine = shard(p.Src, p.Dst, w.n) == w.index
		}
		if !mine {
			asm.Advance(p.Time) // as Add would: idle flows close at the same packet in every worker
		} else {
			asm.Add(&p)
		}
		send(index)
		if fs, ok := w.src.(*feedSource); ok && fs.i == len(fs.cur.packets) {
			// A mark of progress at the end of each batch, even without a
			// connection, so that merge never waits on a worker with
			// nothing to say while another fills its channel.
			w.out <- batch{index: index}
		}
	}
	if fs, ok := w.src.(*feedSource); ok {
		go fs.drain() // the feed must not block on a worker that stopped
	}
	asm.Flush()
	send(math.MaxInt64)
	w.asmStats = asm.Stats()
}

// shard is the worker of a flow: a hash of its two endpoints that does not
// depend on their order.
func shard(a, b netip.AddrPort, n int) int {
	mix := func(ap netip.AddrPort) uint64 {
		ip := ap.Addr().As16()
		h := binary.LittleEndian.Uint64(ip[8:])*0x9E3779B97F4A7C15 ^ binary.LittleEndian.Uint64(ip[:8])
		return (h ^ uint64(ap.Port())) * 0xBF58476D1CE4E5B9
	}
	return int((mix(a) ^ mix(b)) >> 33 % uint64(n))
}

// merge writes the workers' connections in the order one worker would
// have decided them, until every worker is done.
func merge(ws []*worker, write func(*parser.Connection)) {
	heads := make([]batch, len(ws))
	done := make([]bool, len(ws))
	used := make([]bool, len(ws)) // the head was written: receive the next
	for i := range used {
		used[i] = true
	}
	for {
		// A worker sends one batch per packet index at most, in order, so
		// the next head is only needed now, not before writing the last:
		// a live capture's connection is written as soon as it is decided.
		for i, u := range used {
			if u && !done[i] {
				b, ok := <-ws[i].out
				heads[i], done[i], used[i] = b, !ok, false
			}
		}
		least := int64(-1)
		for i, h := range heads {
			if !done[i] && (least < 0 || h.index < least) {
				least = h.index
			}
		}
		if least < 0 {
			return
		}
		var conns []*parser.Connection
		for i := range ws {
			if !done[i] && heads[i].index == least {
				conns = append(conns, heads[i].conns...)
				used[i] = true
			}
		}
		pipeline.Order(conns)
		for _, c := range conns {
			write(c)
		}
	}
}

// addStats adds up the assemblers' counts.
func addStats(a, b reassembly.Stats) reassembly.Stats {
	return reassembly.Stats{Flows: a.Flows + b.Flows, Evicted: a.Evicted + b.Evicted, IdleClosed: a.IdleClosed + b.IdleClosed,
		Aged: a.Aged + b.Aged, Retransmits: a.Retransmits + b.Retransmits, OutOfOrder: a.OutOfOrder + b.OutOfOrder,
		Gaps: a.Gaps + b.Gaps, GapBytes: a.GapBytes + b.GapBytes, Cuts: a.Cuts + b.Cuts, CutBytes: a.CutBytes + b.CutBytes,
		SkippedBytes: a.SkippedBytes + b.SkippedBytes, Memory: a.Memory.Add(b.Memory)}
}

// feed reads a source once and passes its packets, in batches, to every
// worker.
type feed struct {
	src     capture.Source
	outs    []chan *packetBatch
	stop    *atomic.Bool
	readErr error
	free    chan *[slabSize]byte // slabs released by the workers
	batches chan *packetBatch    // batches released by the workers
}

const (
	batchLen = 1024    // packets per batch
	slabSize = 1 << 20 // payload bytes per slab; a larger payload gets its own
)

// packetBatch is packets whose payloads live in slabs until every worker
// has released the batch.
type packetBatch struct {
	packets []capture.Packet
	slabs   []*[slabSize]byte
	refs    atomic.Int32
	feed    *feed
}

func (b *packetBatch) release() {
	if b.refs.Add(-1) != 0 {
		return
	}
	for _, s := range b.slabs {
		select {
		case b.feed.free <- s:
		default: // enough are free: let this one go
		}
	}
	b.packets, b.slabs = b.packets[:0], b.slabs[:0]
	select {
	case b.feed.batches <- b:
	default:
	}
}

// run reads to the end of the source or a stop, then closes the workers'
// inputs.
func (f *feed) run() {
	defer func() {
		for _, o := range f.outs {
			close(o)
		}
	}()
	var slab *[slabSize]byte
	used := 0
	b := f.newBatch()
	dispatch := func() {
		if len(b.packets) == 0 {
			return
		}
		b.refs.Store(int32(len(f.outs)))
		for _, o := range f.outs {
			o <- b
		}
		b, slab, used = f.newBatch(), nil, 0
	}
	var p capture.Packet
	for !f.stop.Load() {
		err := f.src.Next(&p)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				f.readErr = err
			}
			break
		}
		// The source's buffer is reused at the next call: keep a copy.
		switch n := len(p.Payload); {
		case n > slabSize/4:
			p.Payload = bytes.Clone(p.Payload)
		case n > 0:
			if slab == nil || used+n > slabSize {
				select {
				case slab = <-f.free:
				default:
					slab = new([slabSize]byte)
				}
				used = 0
				b.slabs = append(b.slabs, slab)
			}
			dst := slab[used : used+n : used+n]
			copy(dst, p.Payload)
			p.Payload = dst
			used += n
		}
		b.packets = append(b.packets, p)
		if len(b.packets) == batchLen {
			dispatch()
		}
	}
	dispatch()
}

// newFeed reads src for n workers.
func newFeed(src capture.Source, n int, stop *atomic.Bool) *feed {
	f := &feed{src: src, stop: stop, outs: make([]chan *packetBatch, n)}
	for i := range f.outs {
		f.outs[i] = make(chan *packetBatch, 16)
	}
	f.free = make(chan *[slabSize]byte, 64)
	f.batches = make(chan *packetBatch, 64)
	return f
}

func (f *feed) newBatch() *packetBatch {
	select {
	case b := <-f.batches:
		return b
	default:
		return &packetBatch{packets: make([]capture.Packet, 0, batchLen), feed: f}
	}
}

// feedSource is one worker's view of a feed, as a capture.Source.
type feedSource struct {
	in  chan *packetBatch
	cur *packetBatch
	i   int
	f   *feed
}

func (s *feedSource) Next(p *capture.Packet) error {
	for s.cur == nil || s.i == len(s.cur.packets) {
		if s.cur != nil {
			s.cur.release()
		}
		b, ok := <-s.in
		if !ok {
			s.cur = nil
			return io.EOF
		}
		s.cur, s.i = b, 0
	}
	*p = s.cur.packets[s.i]
	s.i++
	return nil
}

// drain releases what the feed still sends until it closes the input.
func (s *feedSource) drain() {
	if s.cur != nil {
		s.cur.release()
		s.cur = nil
	}
	for b := range s.in {
		b.release()
	}
}

func (s *feedSource) Stats() capture.Stats { return s.f.src.Stats() }
func (s *feedSource) Close() error         { return nil }
