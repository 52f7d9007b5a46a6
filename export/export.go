// Package export writes the packets of chosen connections to a pcapng file
// (-w), so that what tlssniff found can be opened in Wireshark: every
// packet of each connection that passes the filters, from its first, in
// the order it was captured, and the connection's key log lines as a
// Decryption Secrets Block before them when keys were given.
//
// It sits beside the pipeline: Source wraps the capture source and sees
// each packet as it is read; Decide is told of each connection as it is
// written. A flow's packets read before its connection is decided are
// held, charged to a memory budget of their own (a share of --memory):
// when it is spent the flows holding the most are cut, and a flow cut
// that passes afterwards is written from where its packets were kept
// again (Stats counts them). Packets after the decision are written, or
// dropped, as they come. Flows remembered are bounded (maxFlows, the least
// recently active forgotten first).
//
// Known limits: of an IP datagram put together from fragments, the last
// fragment is written (the frame the packet was decoded from); a flow
// that carries no connection (not TLS) is held until the budget or the
// flow table needs the room.
package export

import (
	"container/list"
	"net/netip"
	"sync"

	"github.com/tlssniff/tlssniff/budget"
	"github.com/tlssniff/tlssniff/capture"
	"github.com/tlssniff/tlssniff/keylog"
	"github.com/tlssniff/tlssniff/parser"
)

// maxFlows bounds the flows remembered, decided or not.
const maxFlows = 1 << 16

// flowCost is what a flow's bookkeeping costs: its map entry, list
// element and state; a held frame costs frameCost besides its bytes.
const (
	flowCost  = 256
	frameCost = 64
)

// state is what was decided of a flow's connection.
type state uint8

const (
	undecided state = iota
	pass
	drop
)

type flowKey struct {
	a, b netip.AddrPort // a < b
	udp  bool
}

func keyOf(x, y netip.AddrPort, udp bool) flowKey {
	if y.Compare(x) < 0 {
		x, y = y, x
	}
	return flowKey{x, y, udp}
}

type flow struct {
	key    flowKey
	state  state
	frames []capture.Frame
	cut    bool // frames were dropped to stay within the budget
	acct   *budget.Account
	elem   *list.Element
}

// Stats says what was written.
type Stats struct {
	Packets     uint64 // written
	Connections uint64 // whose packets were written
	Cut         uint64 // of those, connections some of whose first packets were dropped to stay within the budget
}

// Exporter holds and writes packets. It is safe for concurrent use: the
// source is read on one goroutine, connections are written on another.
type Exporter struct {
	mu    sync.Mutex
	w     *capture.PcapngWriter
	keys  *keylog.Log
	mem   *budget.Budget
	flows map[flowKey]*flow
	lru   list.List // of *flow, the most recently active first
	stats Stats
	err   error
}

// New returns an exporter writing to w within memory bytes; keys, when
// set, gives the key log lines of the connections written.
func New(w *capture.PcapngWriter, memory int64, keys *keylog.Log) *Exporter {
	e := &Exporter{w: w, keys: keys, mem: budget.New(memory), flows: map[flowKey]*flow{}}
	e.mem.Evict = func(not *budget.Account) bool {
		for el := e.lru.Back(); el != nil; el = el.Prev() {
			if f := el.Value.(*flow); f.acct != not {
				e.forget(f)
				return true
			}
		}
		return false
	}
	return e
}

// Source returns src with every packet it reads seen by e first.
func (e *Exporter) Source(src capture.Source) capture.Source {
	if sh, ok := src.(capture.Sharded); ok {
		return &shardedSource{src, sh, e}
	}
	if w, ok := src.(capture.Waiter); ok {
		return &waitingSource{source{src, e}, w} // a pipe's, passed on
	}
	return &source{src, e}
}

type waitingSource struct {
	source
	capture.Waiter
}

type source struct {
	capture.Source
	e *Exporter
}

func (s *source) Next(p *capture.Packet) error {
	err := s.Source.Next(p)
	if err == nil {
		s.e.packet(p)
	}
	return err
}

// shardedSource keeps a live capture's fanout: each shard is seen.
type shardedSource struct {
	capture.Source
	sh capture.Sharded
	e  *Exporter
}

func (s *shardedSource) Shards() []capture.Source {
	var out []capture.Source
	for _, sh := range s.sh.Shards() {
		out = append(out, &source{sh, s.e})
	}
	return out
}

// packet holds, writes or drops one packet.
func (e *Exporter) packet(p *capture.Packet) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := keyOf(p.Src, p.Dst, p.UDP)
	f := e.flows[k]
	if f != nil && f.state != undecided && !p.UDP && p.Flags&(capture.FlagSYN|capture.FlagACK) == capture.FlagSYN {
		e.forget(f) // a new connection on the same ports
		f = nil
	}
	if f == nil {
		f = e.newFlow(k)
	} else {
		e.lru.MoveToFront(f.elem)
	}
	switch f.state {
	case pass:
		fr := capture.Frame{Time: p.Time, LinkType: p.LinkType, Length: p.Length, Data: p.Frame}
		e.write(&fr)
	case undecided:
		if !f.acct.Charge(len(p.Frame) + frameCost) {
			f.cut = true
			return
		}
		f.frames = append(f.frames, p.CopyFrame())
	}
}

// newFlow remembers a flow, forgetting the least recently active one
// when there are maxFlows.
func (e *Exporter) newFlow(k flowKey) *flow {
	if len(e.flows) >= maxFlows {
		e.forget(e.lru.Back().Value.(*flow))
	}
	f := &flow{key: k}
	f.acct = e.mem.Open(func() { e.shed(f) })
	f.acct.Fixed(flowCost)
	f.elem = e.lru.PushFront(f)
	e.flows[k] = f
	return f
}

// shed drops what a flow holds to make room for another.
func (e *Exporter) shed(f *flow) {
	if e.release(f) > 0 {
		f.cut = true
	}
}

// release lets go of the frames a flow holds and returns what they cost.
func (e *Exporter) release(f *flow) int {
	n := int(f.acct.Buffered()) // the frames are all the flow charges, besides its Fixed bookkeeping
	f.frames = nil
	f.acct.Release(n)
	return n
}

// forget drops a flow and what it holds.
func (e *Exporter) forget(f *flow) {
	f.frames = nil
	f.acct.Close()
	e.lru.Remove(f.elem)
	delete(e.flows, f.key)
}

func (e *Exporter) write(fr *capture.Frame) {
	if e.err == nil {
		e.err = e.w.WriteFrame(fr)
		e.stats.Packets++
	}
}

// Decide says whether a connection's packets are written: those held are
// written (after its key log lines) or dropped, and so are those to come.
func (e *Exporter) Decide(c *parser.Connection, passes bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := keyOf(c.Client, c.Server, c.Transport == parser.UDP)
	f := e.flows[k]
	switch {
	case f == nil: // forgotten to make room: what comes next is decided
		f = e.newFlow(k)
		f.cut = true
	case f.state != undecided:
		return
	}
	if !passes {
		f.state = drop
		e.release(f)
		return
	}
	f.state = pass
	e.stats.Connections++
	if f.cut {
		e.stats.Cut++
	}
	if c.ClientHello != nil && e.keys != nil && e.err == nil {
		if lines := e.keys.Lines(c.ClientHello.Random); lines != nil {
			e.err = e.w.WriteKeyLog(lines)
		}
	}
	for i := range f.frames {
		e.write(&f.frames[i])
	}
	e.release(f)
}

// Close flushes the file and returns the first error met writing it.
func (e *Exporter) Close() (Stats, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err == nil {
		e.err = e.w.Flush()
	}
	return e.stats, e.err
}
