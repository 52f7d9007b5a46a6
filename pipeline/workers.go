package pipeline

import (
	"cmp"
	"crypto/rsa"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tlssniff/tlssniff/budget"
	"github.com/tlssniff/tlssniff/capture"
	"github.com/tlssniff/tlssniff/flowstats"
	"github.com/tlssniff/tlssniff/keylog"
	"github.com/tlssniff/tlssniff/parser"
	"github.com/tlssniff/tlssniff/reassembly"
)

// Flows are sharded across workers so that the cores share the analysis.
// One reader decodes the input once (feed.go) and hands every batch of
// packets to every worker, their payloads kept in the file's slab (a
// classic pcap's Hold) or copied into recycled slabs, each packet marked
// with the worker whose flows its addresses hash to; each worker
// reassembles and parses the packets marked for it. One worker is fed the
// same way, so that reading a file runs beside the analysis. The output is
// the same as one worker's:
//
//   - every worker's assembler sweeps its idle flows at the same packets,
//     which the feed marks for all (reassembly.Sweeps), so idle flows are
//     closed at the same packet whichever worker holds them;
//   - a connection is tagged with the index of the packet that decided it
//     (the end of input: after them all), and merge writes them in that
//     order, those of one packet by start, client and server.
//
// Only the flow table's and the budget's limits differ: each worker has its share, so
// which flow is evicted or cut when the table or the budget is full
// depends on the number of workers. A live capture is read by its one
// worker directly, without the copy; with several workers, by a worker per
// socket of a fanout group (capture.Sharded), the kernel sharding the
// flows, and its connections are written as they are decided.

// liveLag is how far behind the wall clock a live capture's packets may be
// read.
const liveLag = 2 * time.Second

// batch is the connections a worker decided at one packet.
type batch struct {
	index int64 // the packet's index; math.MaxInt64 for the end of input
	conns []*parser.Connection
	mark  time.Time // with StartOrder, the earliest start of a connection the worker decides later (order.go)
}

// worker analyses the flows of one shard.
type worker struct {
	cfg  *Config
	src  capture.Source    // read directly: live; nil when fed
	fed  *feedSource       // its share of a file's feed
	asm  reassembly.Config // with the worker's share of the limits
	stop *atomic.Bool
	out  chan batch

	asmStats reassembly.Stats // set when run returns
	readErr  error
}

// run reads the input to its end (or a stop) and sends what it decides to
// out, in packet order, then closes out.
func (w *worker) run() {
	defer close(w.out)
	var pending []*parser.Connection
	streams := Streams(parser.Options{Validator: w.cfg.Validator, Keys: w.cfg.Keys, KeysFollowed: w.cfg.KeysFollowed, RSAKeys: w.cfg.RSAKeys,
		Emit: func(c *parser.Connection) { pending = append(pending, c) }})
	var flows starts
	var now time.Time // of the last packet: capture time, or live the wall clock less liveLag
	if w.cfg.StartOrder {
		base := streams
		streams = func(client, server netip.AddrPort, start time.Time, fs *flowstats.Stats, mem *budget.Account) reassembly.Stream {
			t := flows.shell()
			t.Conn, t.start = base(client, server, start, fs, mem).(*parser.Conn), start
			flows.add(t)
			return t
		}
	}
	asm := reassembly.New(w.asm, streams)
	mark := func(index int64) batch {
		b := batch{index: index, conns: pending}
		if w.cfg.StartOrder {
			b.mark = flows.mark(now)
		}
		pending = nil
		return b
	}
	send := func(index int64) {
		if len(pending) > 0 {
			w.out <- mark(index)
		}
	}
	c := w.cfg
	var read capture.Packet // a packet of a source read directly
	var index int64
	var deadline time.Time // live, of wall time (a file's is the feed's)
	if c.Duration > 0 && c.Live {
		deadline = time.Now().Add(c.Duration)
	}
	// A feed stops on its own and its workers take what it read, so that
	// all of them see the same packets; a source read directly is stopped
	// here.
	fs, fed := w.fed, w.fed != nil
	for fed || !w.stop.Load() {
		// A fed packet is read in its batch, where the feed put it:
		// copying the 200 bytes of each, with the collector's write
		// barriers for its pointers, was a twentieth of a run.
		var p *capture.Packet
		var err error
		mine := true
		if fed {
			var fp fedPacket
			fp, err = fs.next()
			if err == nil && fp.end {
				// A mark of progress at the end of each batch, even
				// without a connection, so that merge never waits on a
				// worker with nothing to say while another fills its
				// channel.
				index, now = fp.index, fp.p.Time
				w.out <- mark(index)
				continue
			}
			p, index, mine = fp.p, fp.index, fp.mine
		} else {
			p, err = &read, w.src.Next(&read)
			index++
		}
		if errors.Is(err, capture.ErrNoPacket) {
			// Nothing on the wire: time goes on for idle and stalled flows,
			// less what the kernel may still hold stamped before now (a
			// loaded machine hands packets over late): a flow that lingers
			// after its RST or FIN is not closed before its last packets
			// are read.
			wall := time.Now()
			now = wall.Add(-liveLag)
			asm.Advance(now)
			send(index)
			if !deadline.IsZero() && wall.After(deadline) {
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
		if !deadline.IsZero() && p.Time.After(deadline) {
			w.stop.Store(true) // the other sockets' workers too
			break
		}
		now = p.Time
		if !mine {
			asm.Advance(p.Time) // a sweep, as Add would do it: idle flows close at the same packet in every worker
		} else {
			asm.Add(p)
		}
		send(index)
	}
	if fed {
		go fs.drain() // the feed must not block on a worker that stopped
	}
	asm.Flush()
	w.out <- batch{index: math.MaxInt64, conns: pending, mark: endOfTime}
	w.asmStats = asm.Stats()
}

// shardOf is the worker of a flow: a hash of its two endpoints that does
// not depend on their order. The addresses are read through AsSlice: As16's
// array is copied with a 16-byte load of two 8-byte stores, which the CPU
// cannot forward, and took 25 ns a packet (1.04 million of them on
// bench/mix-1024.pcap) against 3.9 for IPv4 and 4.9 for IPv6 now; the
// worker is picked by a multiplication, not a division.
func shardOf(a, b netip.AddrPort, n int) int {
	mix := func(ap netip.AddrPort) uint64 {
		var h uint64
		switch s := ap.Addr().AsSlice(); len(s) {
		case 4:
			h = uint64(binary.BigEndian.Uint32(s))
		case 16:
			h = binary.LittleEndian.Uint64(s[8:])*0x9E3779B97F4A7C15 ^ binary.LittleEndian.Uint64(s[:8])
		}
		return (h ^ uint64(ap.Port())<<40) * 0xBF58476D1CE4E5B9
	}
	return int(((mix(a) ^ mix(b)) >> 32) * uint64(n) >> 32)
}

// judged passes a worker's batches on once the chains of their
// connections are judged: in a goroutine of its own, so that the
// signature checks of new chains run beside the parsing.
func judged(in chan batch, v *parser.Validator) <-chan batch {
	if v == nil {
		return in
	}
	out := make(chan batch, cap(in))
	go func() {
		defer close(out)
		for b := range in {
			for _, c := range b.conns {
				v.Judge(c)
			}
			out <- b
		}
	}()
	return out
}

// merge writes the workers' connections in the order one worker would
// have decided them (or, with StartOrder, started them), until every
// worker is done.
func merge(ins []<-chan batch, o *orderer) {
	heads := make([]batch, len(ins))
	done := make([]bool, len(ins))
	used := make([]bool, len(ins)) // the head was written: receive the next
	var conns []*parser.Connection // those decided at one packet, reused
	for i := range used {
		used[i] = true
	}
	for {
		// A worker sends one batch per packet index at most, in order, so
		// the next head is only needed now, not before writing the last:
		// a live capture's connection is written as soon as it is decided.
		for i, u := range used {
			if u && !done[i] {
				b, ok := <-ins[i]
				heads[i], done[i], used[i] = b, !ok, false
				if !ok {
					o.done(i)
				}
			}
		}
		least := int64(-1)
		for i, h := range heads {
			if !done[i] && (least < 0 || h.index < least) {
				least = h.index
			}
		}
		if least < 0 {
			o.take(nil)
			return
		}
		conns = conns[:0]
		for i := range ins {
			if !done[i] && heads[i].index == least {
				conns = append(conns, heads[i].conns...)
				o.mark(i, heads[i].mark)
				used[i] = true
			}
		}
		o.take(conns)
		clear(conns) // take keeps none: let the written go
	}
}

// fanIn writes the connections of workers fed by the kernel as they come:
// their packets have no common order to merge them by.
func fanIn(ins []<-chan batch, write func(*parser.Connection)) {
	all := make(chan batch)
	var wg sync.WaitGroup
	for _, in := range ins {
		wg.Go(func() {
			for b := range in {
				all <- b
			}
		})
	}
	go func() {
		wg.Wait()
		close(all)
	}()
	for b := range all {
		Order(b.conns)
		for _, c := range b.conns {
			write(c)
		}
	}
}

// Config configures Run.
type Config struct {
	// Reassembly bounds the assemblers; with several workers each gets its
	// share of MaxFlows and Memory.
	Reassembly reassembly.Config
	// Validator, when set, judges certificate chains.
	Validator *parser.Validator
	// Keys, when set, holds secrets to decrypt handshakes with.
	Keys *keylog.Log
	// RSAKeys are servers' private keys for TLS 1.0-1.2 RSA key exchanges.
	RSAKeys []*rsa.PrivateKey
	// KeysFollowed says Keys is still being filled (key logs followed as
	// they grow, live): connections wait a little for their secrets.
	KeysFollowed bool
	// Workers is how many workers share a file's flows; a live source is
	// read by one.
	Workers int
	// Live says the source is an interface: when no packet comes, time
	// goes on by the wall clock, and Duration is wall time.
	Live bool
	// Duration, when set, stops the run after that long: capture time in
	// files, wall time live.
	Duration time.Duration
	// StartOrder writes connections in the order they started rather
	// than decided, within bounds (order.go). A live capture read by
	// several sockets (capture.Sharded) writes them as decided.
	StartOrder bool
}

// Overhead is the memory a run uses outside the budget: the runtime, the
// read buffers, IP reassembly's own 4 MiB, the Validator's parsed
// certificates, verdicts and fingerprints (9 MiB at most), and for files the slabs of
// the packets in flight between the feed and the workers: the batches
// waiting for a worker and those being read, each holding batchBytes and
// its last packet, in slabs of 1 MiB.
func (cfg Config) Overhead() int64 {
	const base = 64<<20 + 9<<20
	if cfg.Live {
		return base
	}
	return base + int64(feedDepth+cfg.Workers+1)*(batchBytes+2*capture.SlabSize)
}

// Result is what a run saw besides its connections.
type Result struct {
	Reassembly reassembly.Stats // the assemblers' counts, added up
	ReadErr    error            // the error that ended the reading, if not the end of input
}

// Run reads src to its end, or until stop is set, and passes every
// connection to write in the order one worker would decide them. write
// may set stop.
func Run(src capture.Source, cfg Config, stop *atomic.Bool, write func(*parser.Connection)) Result {
	// Files are read once by a feed and analysed by workers that shard the
	// flows; a live capture is read straight from the source, without
	// copying payloads.
	srcs := []capture.Source{src}
	asm := cfg.Reassembly
	var fd *feed
	sharded, byKernel := src.(capture.Sharded)
	switch {
	case byKernel:
		srcs = sharded.Shards()
	case !cfg.Live:
		fd = newFeed(src, cfg.Workers, stop, cfg.Duration)
		srcs = make([]capture.Source, len(fd.outs)) // each worker reads its share of the feed
		go fd.run()
		if w, ok := src.(capture.Waiter); ok && w.Piped() {
			go interrupting(stop, w, fd.done)
		}
	}
	asm.MaxFlows = max(asm.MaxFlows/len(srcs), 1)
	asm.Memory /= int64(len(srcs))
	ws := make([]*worker, len(srcs))
	for i, s := range srcs {
		ws[i] = &worker{cfg: &cfg, src: s, asm: asm, stop: stop, out: make(chan batch, 256)}
		if fd != nil {
			ws[i].fed = &feedSource{in: fd.outs[i], shard: int32(i)}
		}
		go ws[i].run()
	}
	outs := make([]<-chan batch, len(ws))
	for i, w := range ws {
		outs[i] = judged(w.out, cfg.Validator)
	}
	sessions := parser.NewSessions()
	write = noting(sessions, write)
	if byKernel {
		fanIn(outs, write)
	} else {
		merge(outs, newOrderer(cfg.StartOrder, len(outs), write))
	}
	var res Result
	for _, w := range ws {
		res.Reassembly = res.Reassembly.Add(w.asmStats)
	}
	for _, w := range ws {
		res.ReadErr = cmp.Or(res.ReadErr, w.readErr)
	}
	if fd != nil {
		res.ReadErr = fd.readErr
	}
	return res
}

// interrupting ends a pipe's input once stop is set, until the feed is
// done: the feed stops at its next packet, which a pipe may hold back for
// as long as its writer likes (tcpdump -w - | tlssniff -r - -c 1 on a quiet
// link). stop is a flag, so it is looked at ten times a second.
func interrupting(stop *atomic.Bool, w capture.Waiter, done <-chan struct{}) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			if stop.Load() {
				w.Interrupt()
				return
			}
		}
	}
}
