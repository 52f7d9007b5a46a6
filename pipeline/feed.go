package pipeline

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/tlssniff/tlssniff/capture"
	"github.com/tlssniff/tlssniff/reassembly"
)

// feed reads a source once and passes its packets, in batches, to every
// worker.
type feed struct {
	src      capture.Source
	duration time.Duration // of capture time to read, from the first packet; 0 for all
	outs     []chan *packetBatch
	stop     *atomic.Bool
	readErr  error
	slabs    *capture.Slabs    // for the payloads the feed copies
	batches  chan *packetBatch // batches released by the workers
	done     chan struct{}     // closed when run returns
}

const (
	batchLen = 256 // packets per batch at most
	// batchBytes bounds the bytes a batch keeps from being reused (the
	// frames of a file's held records, the payloads the feed copies),
	// past its last packet, so that the batches in flight hold a few MiB
	// whatever the packets' sizes.
	batchBytes = 2 << 20
	feedDepth  = 4 // batches waiting for a worker at most
)

// packetBatch is packets whose payloads live in slabs, the source's or
// the feed's, held until every worker has released the batch.
type packetBatch struct {
	packets []capture.Packet
	routes  []route // with several workers, each packet's
	holds   []*capture.Hold
	refs    atomic.Int32
	feed    *feed
}

// route says which worker a packet is for, and whether every worker's
// assembler must be told its time (reassembly.Sweeps): the feed works it
// out once, where each worker used to hash the addresses of every packet
// and look at those of its flows only, reading each packet's 200 bytes.
type route struct {
	shard int32
	sweep bool
}

func (b *packetBatch) release() {
	if b.refs.Add(-1) != 0 {
		return
	}
	for _, h := range b.holds {
		h.Release()
	}
	clear(b.holds)
	b.packets, b.routes, b.holds = b.packets[:0], b.routes[:0], b.holds[:0]
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
		close(f.done)
	}()
	var slab *capture.Hold // the feed's, that b's copies go to
	var hold *capture.Hold // the source's last kept for b
	used, pinned := 0, 0
	b := f.newBatch()
	// Packets are decoded into the feed's own array, which stays in its
	// core's cache, and copied into the batch at once when it is sent.
	// Decoded in place in a recycled batch, each packet's stores waited on
	// lines the workers' core had read: with two workers at a long round
	// trip between the two vCPUs, File.Next less its read system call took
	// 0.48 s of CPU in a profile against 0.09 held on one CPU. Copied, six
	// alternated rounds took 497 to 559 ms against 546 to 601 (median 504
	// against 555), 40.8 against 45.0 µs of CPU a connection; one worker
	// took the same time.
	read := make([]capture.Packet, 0, batchLen)
	dispatch := func() {
		if len(read) == 0 {
			return
		}
		b.packets = append(b.packets, read...)
		read = read[:0]
		b.refs.Store(int32(len(f.outs)))
		for _, o := range f.outs {
			o <- b
		}
		b, slab, hold, used, pinned = f.newBatch(), nil, nil, 0, 0
	}
	var deadline time.Time
	var sweeps reassembly.Sweeps
	// The shard of the last flow: packets come in runs of one flow.
	var lastSrc, lastDst netip.AddrPort
	var shard int32
	// A pipe (tcpdump -w - | tlssniff -r -) may hold the next packet back
	// for long: what was read is passed on before a read that may wait,
	// so that its connections are written as they are decided.
	waiter, _ := f.src.(capture.Waiter)
	if waiter != nil && !waiter.Piped() {
		waiter = nil
	}
	for !f.stop.Load() {
		if waiter != nil && len(read) > 0 && waiter.Waits() {
			dispatch()
		}
		at := len(read)
		read = read[:at+1]
		p := &read[at]
		err := f.src.Next(p)
		if err != nil {
			read = read[:at]
			if !errors.Is(err, io.EOF) {
				f.readErr = err
			}
			break
		}
		if f.duration > 0 {
			if deadline.IsZero() {
				deadline = p.Time.Add(f.duration)
			}
			if p.Time.After(deadline) {
				read = read[:at]
				break
			}
		}
		if n := len(f.outs); n > 1 {
			if p.Src != lastSrc || p.Dst != lastDst {
				lastSrc, lastDst = p.Src, p.Dst
				shard = int32(shardOf(p.Src, p.Dst, n))
			}
			b.routes = append(b.routes, route{shard, sweeps.Due(p.Time)})
		}
		// The source's buffer is reused at the next call: keep it, or a
		// copy.
		switch n := len(p.Payload); {
		case n == 0:
		case p.Hold != nil:
			if p.Hold != hold {
				hold = p.Hold
				hold.Keep()
				b.holds = append(b.holds, hold)
			}
			pinned += len(p.Frame) // the frame, in the same slab, may be longer
		case n > capture.SlabSize/4:
			p.Payload = bytes.Clone(p.Payload)
			pinned += n
		default:
			pinned += n
			if slab == nil || used+n > capture.SlabSize {
				slab, used = f.slabs.Get(), 0
				b.holds = append(b.holds, slab) // the batch releases it
			}
			dst := slab.Bytes()[used : used+n : used+n]
			copy(dst, p.Payload)
			p.Payload = dst
			used += n
		}
		if len(read) == batchLen || pinned >= batchBytes {
			dispatch()
		}
	}
	dispatch()
}

// newFeed reads src for n workers, for duration of capture time if set.
func newFeed(src capture.Source, n int, stop *atomic.Bool, duration time.Duration) *feed {
	f := &feed{src: src, stop: stop, duration: duration, outs: make([]chan *packetBatch, n)}
	for i := range f.outs {
		f.outs[i] = make(chan *packetBatch, feedDepth)
	}
	f.slabs = capture.NewSlabs()
	f.batches = make(chan *packetBatch, 64)
	f.done = make(chan struct{})
	return f
}

func (f *feed) newBatch() *packetBatch {
	select {
	case b := <-f.batches:
		return b
	default:
		b := &packetBatch{packets: make([]capture.Packet, 0, batchLen), feed: f}
		if len(f.outs) > 1 {
			b.routes = make([]route, 0, batchLen)
		}
		return b
	}
}

// feedSource is one worker's view of a feed.
type feedSource struct {
	in    chan *packetBatch
	shard int32 // the worker's, of several
	cur   *packetBatch
	i     int
	base  int64 // the packets of the batches before cur
	ended bool  // cur's end was returned
}

// fedPacket is what feedSource.next returns.
type fedPacket struct {
	p     *capture.Packet // in its batch, valid until the next call; at a batch's end, its last
	index int64           // p's among all packets, from 1
	mine  bool            // p is of the worker's shard, not only a time to sweep at
	end   bool            // the batch's end: p is there for its index and time only
}

// next returns the next packet of the worker's shard or at which its
// assembler sweeps, then, past a batch's last packet, its end.
func (s *feedSource) next() (fedPacket, error) {
	if s.cur == nil || s.ended {
		if s.cur != nil {
			s.base += int64(len(s.cur.packets))
			s.cur.release()
		}
		b, ok := <-s.in
		if !ok {
			s.cur = nil
			return fedPacket{}, io.EOF
		}
		s.cur, s.i, s.ended = b, 0, false
	}
	ps := s.cur.packets
	for s.i < len(ps) {
		i := s.i
		s.i++
		r := route{s.shard, false}
		if len(s.cur.routes) > 0 {
			r = s.cur.routes[i]
		}
		if r.shard == s.shard || r.sweep {
			return fedPacket{p: &ps[i], index: s.base + int64(i) + 1, mine: r.shard == s.shard}, nil
		}
	}
	s.ended = true
	return fedPacket{p: &ps[len(ps)-1], index: s.base + int64(len(ps)), end: true}, nil
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
