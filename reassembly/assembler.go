package reassembly

import (
	"cmp"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/tlssniff/tlssniff/budget"
	"github.com/tlssniff/tlssniff/capture"
	"github.com/tlssniff/tlssniff/flowstats"
)

// Stream receives one TCP connection's bytes. Side 0 is the side believed to
// be the client: the SYN sender, else the guess described in the package doc.
type Stream interface {
	// Data delivers in-order bytes sent by side, captured at ts. data is
	// valid only during the call. Returning false says no more bytes of that
	// side are wanted: the assembler stops buffering and delivering them.
	Data(side int, data []byte, ts time.Time) bool
	// Gap says n bytes sent by side were lost before the next Data.
	Gap(side int, n int, ts time.Time)
	// Cut says n bytes sent by side were dropped before the next Data to
	// stay within the memory budget or the flow's buffer limit.
	Cut(side int, n int, ts time.Time)
	// Shed asks the stream to free what it buffers, as Cut does for the
	// assembler's bytes: the memory budget is spent and this flow holds
	// more than the one asking. It must not charge the budget.
	Shed()
	// Close ends the stream: FIN from both sides, RST, idle timeout,
	// eviction or end of input.
	Close()
}

// Factory makes the Stream of a new connection between side 0 (client) and
// side 1 (server), first seen at start. stats is kept up to date for as long
// as the flow lives; the Stream may read it at any time, not change it.
// What the Stream buffers it charges to mem, the flow's account, which the
// assembler closes when the flow ends.
type Factory func(client, server netip.AddrPort, start time.Time, stats *flowstats.Stats, mem *budget.Account) Stream

// Config bounds what the assembler keeps.
type Config struct {
	MaxFlows      int // flows tracked at once; the least recently active is evicted
	MaxFlowBuffer int // what the out-of-order segments buffered per flow may cost (reorder.Buffer.Cost)
	// Memory is the budget every flow charges: its bookkeeping, its
	// out-of-order segments, and what its Stream keeps and buffers. A flow that
	// cannot be afforded evicts the least recently active ones.
	Memory      int64
	IdleTimeout time.Duration // capture time without a packet after which a flow is closed
	// MaxAge is how long a stream may take, from its first packet, before
	// it is ended (Close) even though packets still come: it decides
	// stalled handshakes. The flow is kept to skip what follows.
	MaxAge time.Duration
}

// DefaultConfig holds the limits used unless the caller sets others.
var DefaultConfig = Config{
	MaxFlows:      1 << 18,
	MaxFlowBuffer: 1 << 18,
	Memory:        256 << 20,
	IdleTimeout:   5 * time.Minute,
	MaxAge:        time.Minute,
}

// flowCost is what a flow of the assembler's own costs while it lives: the
// struct (about 600 bytes), its map entry and its account. Its Stream
// charges its own state to the account, given back when the assembler
// lets the Stream go.
const flowCost = 1024

// Stats counts what the assembler did.
type Stats struct {
	Flows        uint64 // flows created
	Evicted      uint64 // flows closed to stay under MaxFlows
	IdleClosed   uint64 // flows closed by IdleTimeout
	Aged         uint64 // streams ended by MaxAge
	Retransmits  uint64 // segments whose bytes were all delivered already
	OutOfOrder   uint64 // segments buffered ahead of a hole
	Gaps         uint64 // holes given up on
	GapBytes     uint64
	Cuts         uint64 // holes given up on, or buffered bytes dropped, for memory
	CutBytes     uint64
	SkippedBytes uint64 // bytes of sides that wanted no more
	Memory       budget.Stats
}

// Add returns the sum of two assemblers' counts.
func (s Stats) Add(o Stats) Stats {
	return Stats{Flows: s.Flows + o.Flows, Evicted: s.Evicted + o.Evicted, IdleClosed: s.IdleClosed + o.IdleClosed,
		Aged: s.Aged + o.Aged, Retransmits: s.Retransmits + o.Retransmits, OutOfOrder: s.OutOfOrder + o.OutOfOrder,
		Gaps: s.Gaps + o.Gaps, GapBytes: s.GapBytes + o.GapBytes, Cuts: s.Cuts + o.Cuts, CutBytes: s.CutBytes + o.CutBytes,
		SkippedBytes: s.SkippedBytes + o.SkippedBytes, Memory: s.Memory.Add(o.Memory)}
}

// key names a flow. Its fields leave no padding, so that the map hashes
// and compares it as one run of 56 bytes: two netip.AddrPorts (each with
// six bytes of padding) and a bool were hashed field by field.
type key struct {
	lo, hi netip.Addr
	ports  uint32 // lo's port, then hi's
	udp    uint32 // 1 for UDP
}

// keyOf orders the two endpoints by port, then address: any order names a
// flow the same both ways, and ports, which differ in almost every flow,
// compare in one instruction where netip's order (address first) took 50
// a packet (callgrind).
func keyOf(a, b netip.AddrPort, udp bool) key {
	if pa, pb := a.Port(), b.Port(); pa > pb || pa == pb && a.Addr().Compare(b.Addr()) > 0 {
		a, b = b, a
	}
	k := key{lo: a.Addr(), hi: b.Addr(), ports: uint32(a.Port())<<16 | uint32(b.Port())}
	if udp {
		k.udp = 1
	}
	return k
}

// recentFlows is how many open flows an Assembler finds by their ports
// before its map: packets come in runs of one flow, and between a few
// hundred flows at once, so most are found without hashing the 56 bytes
// of their key. The slot of a flow is a multiplicative hash of its ports.
const recentFlows = 256

func recentSlot(k key) int { return int(k.ports * 0x9E3779B1 >> 24) }

type flow struct {
	key   key
	id    uint64
	start time.Time
	ended bool // the stream was closed and let go before the flow ended: MaxAge, or it wanted no more
	// lingering is set by a RST or the second FIN: the flow takes the
	// segments still in flight for lingerWindow, then closes.
	lingering bool
	client    netip.AddrPort
	stream    Stream
	stats     flowstats.Stats
	sides     [2]side
	mem       *budget.Account
	last      time.Time
	links     [2]links // in Assembler.active and Assembler.age
}

// Assembler puts TCP segments in order per direction and hands them to
// Streams. It is driven by capture time only and is not safe for
// concurrent use.
type Assembler struct {
	cfg       Config
	factory   Factory
	flows     map[key]*flow
	recent    [recentFlows]*flow // open flows, by their ports (recentSlot)
	active    flowList           // least recently active first
	age       flowList           // streams not yet ended, oldest first
	lingering []lingerer         // flows reset or finished, not yet closed
	// free holds closed flows, about 640 bytes each, to reuse: allocated
	// afresh, flows were a tenth of the bytes a run allocated on
	// bench/mix-1024.pcap. The pool is the assembler's own, not one that
	// other assemblers take from, as its lingering list may still name
	// them; the collector empties it of what is not reused.
	free    sync.Pool // of *flow
	mem     *budget.Budget
	closing bool // a flow is being closed: evict nothing meanwhile
	nextID  uint64
	sweeps  Sweeps
	stats   Stats
}

// Sweeps says at which times an Assembler does the work of Advance: at the
// first time at or past a second after it last did. A pipeline feeding
// several assemblers the same packets keeps one beside them, to know at
// which of the packets a shard does not take its assembler still has to
// be told the time.
type Sweeps struct{ next time.Time }

// Due reports whether the work is due at now, counting it done if so.
func (s *Sweeps) Due(now time.Time) bool {
	if now.Before(s.next) {
		return false
	}
	s.next = now.Add(time.Second)
	return true
}

// New returns an assembler that makes a Stream per connection with factory.
func New(cfg Config, factory Factory) *Assembler {
	a := &Assembler{cfg: cfg, factory: factory, flows: map[key]*flow{}, mem: budget.New(cfg.Memory),
		active: flowList{which: activeLinks}, age: flowList{which: ageLinks}}
	a.mem.Evict = a.evict
	return a
}

// evict closes the least recently active flow but the one whose account
// is not, when cutting buffers could not make room: fewer flows, then. A
// flow being read was touched first, so it is the most recently active.
// While a flow is being closed (its last bytes flushed to its stream),
// none is evicted: the flow being read could be the next in line.
func (a *Assembler) evict(not *budget.Account) bool {
	if a.closing {
		return false
	}
	f := a.active.head
	if f != nil && f.mem == not {
		f = f.links[activeLinks].next
	}
	if f == nil {
		return false
	}
	a.stats.Evicted++
	a.close(f)
	return true
}

// Stats returns the counts so far.
func (a *Assembler) Stats() Stats {
	s := a.stats
	s.Memory = a.mem.Stats()
	return s
}

// Add processes one segment. p.Payload is not retained.
func (a *Assembler) Add(p *capture.Packet) {
	a.Advance(p.Time)
	k := keyOf(p.Src, p.Dst, p.UDP)
	slot := &a.recent[recentSlot(k)]
	f := *slot
	if f == nil || f.key != k {
		f = a.flows[k]
	}
	if f != nil && f.lingering && (p.Flags&(capture.FlagSYN|capture.FlagACK) == capture.FlagSYN || p.Time.Sub(f.last) > lingerWindow) {
		a.close(f) // a new connection on the same ports
		f = nil
	}
	if f == nil {
		if len(p.Payload) == 0 && p.Flags&capture.FlagSYN == 0 {
			return // a bare ACK, FIN or RST opens nothing
		}
		f = a.newFlow(k, p)
	}
	*slot = f
	a.touch(f, p.Time)
	s := 0
	if p.Src != f.client {
		s = 1
	}
	sd := &f.sides[s]
	st := &f.stats
	st.Packets[s]++
	if p.Missing > 0 {
		st.Truncated++
	}
	if p.UDP {
		a.datagram(f, s, p)
		return
	}
	seq := p.Seq
	switch {
	case p.Flags&capture.FlagSYN != 0 && p.Flags&capture.FlagACK != 0:
		if !st.SYNACK {
			st.SYNACK, st.SYNACKTime = true, p.Time
		}
	case p.Flags&capture.FlagSYN != 0:
		if !st.SYN {
			st.SYN, st.SYNTime = true, p.Time
		}
	case p.Flags&capture.FlagACK != 0 && s == 0 && st.SYNACK && st.ACKTime.IsZero():
		st.ACKTime = p.Time
	}
	if p.Flags&capture.FlagSYN != 0 {
		seq++ // the SYN takes one sequence number; data on a SYN follows it
		switch {
		case !sd.synSeen:
			sd.synSeen, sd.isn = true, p.Seq
			if !sd.known || len(p.Payload) == 0 {
				sd.start(seq)
			}
		case p.Seq != sd.isn:
			// Sent again with another ISN (a stack that lost its state, a
			// middlebox): it counts once the other side acknowledges it or
			// data follows it, so that a stray one makes no bogus gap.
			sd.otherISN, sd.hasOther = p.Seq, true
		}
		// The same SYN again (a retransmission, a TCP Fast Open SYN sent
		// again without its data): the data already taken stands.
	}
	if len(p.Payload) > 0 || p.Missing > 0 {
		sd.follow(seq)
		a.data(f, s, seq, p.Payload, p.Missing, p.Time)
	}
	if p.Flags&capture.FlagACK != 0 {
		a.acked(f, 1-s, p.Ack, p.Time)
	}
	if p.Flags&capture.FlagRST != 0 {
		if !st.Reset {
			st.Reset, st.ResetSide, st.ResetTime = true, s, p.Time
		}
		a.linger(f)
		return
	}
	if p.Flags&capture.FlagFIN != 0 {
		st.FIN[s] = true
		if st.FIN[1-s] {
			a.linger(f)
		}
	}
}

// lingerWindow is how long, in capture time, a flow that was reset or
// finished by both sides still takes segments: those in flight when the
// RST was sent (a server's certificate flight after the client's RST) and
// late retransmissions belong to it, not to a new connection picked up
// mid-stream. A SYN on the same ports ends it at once.
const lingerWindow = time.Second

// makeRoom closes a flow for a new one: a lingering flow, which is over,
// else the least recently active, which is evicted.
func (a *Assembler) makeRoom() {
	for len(a.lingering) > 0 {
		l := a.lingering[0]
		a.lingering[0] = lingerer{}
		a.lingering = a.lingering[1:]
		if l.open() {
			a.close(l.f)
			return
		}
	}
	if a.active.head != nil {
		a.stats.Evicted++
		a.close(a.active.head)
	}
}

// linger has f close once it has been idle for lingerWindow.
func (a *Assembler) linger(f *flow) {
	if !f.lingering {
		f.lingering = true
		a.lingering = append(a.lingering, lingerer{f, f.id})
	}
}

// datagram hands a UDP datagram to its flow's stream as it is: there is
// nothing to order.
func (a *Assembler) datagram(f *flow, s int, p *capture.Packet) {
	sd := &f.sides[s]
	if sd.done {
		a.stats.SkippedBytes += uint64(len(p.Payload))
		return
	}
	if !f.stream.Data(s, p.Payload, p.Time) {
		sd.done = true
		if f.sides[1-s].done {
			a.finish(f)
		}
	}
}

func (a *Assembler) newFlow(k key, p *capture.Packet) *flow {
	if len(a.flows) >= a.cfg.MaxFlows {
		a.makeRoom()
	}
	client, server := p.Src, p.Dst
	switch {
	case p.Flags&capture.FlagSYN != 0 && p.Flags&capture.FlagACK != 0:
		client, server = p.Dst, p.Src
	case p.Flags&capture.FlagSYN != 0:
	case looksLikeServer(client.Port(), server.Port()):
		client, server = server, client
	}
	a.nextID++
	a.stats.Flows++
	f, ok := a.free.Get().(*flow)
	if !ok {
		f = new(flow)
	}
	f.key, f.id, f.client, f.start = k, a.nextID, client, p.Time
	f.mem = a.mem.Open(func() { a.shed(f) })
	f.mem.Fixed(flowCost) // not yet in the activity list: never evicted for itself
	for s := range f.sides {
		f.sides[s].pending.Account = f.mem
	}
	f.stats.Tunnel = p.Tunnel
	f.stats.UDP = p.UDP
	f.stream = a.factory(client, server, p.Time, &f.stats, f.mem)
	a.flows[k] = f
	a.age.pushBack(f)
	return f
}

// looksLikeServer guesses, for a connection picked up without its SYN,
// whether port a is the server's rather than port b: a well-known TLS port
// wins, then the lower port below 1024 (services listen there, clients use
// ephemeral ports). Otherwise the sender of the first packet is the client.
func looksLikeServer(a, b uint16) bool {
	switch {
	case tlsPorts[a] != tlsPorts[b]:
		return tlsPorts[a]
	case (a < 1024) != (b < 1024):
		return a < 1024
	}
	return false
}

var tlsPorts = map[uint16]bool{443: true, 465: true, 563: true, 636: true, 853: true, 989: true, 990: true,
	992: true, 993: true, 994: true, 995: true, 5061: true, 5223: true, 8443: true}

// shed frees what f buffers because the memory budget needs it for a
// flow that holds less: the stream's buffers, then each side's
// out-of-order segments, the bytes up to the last of them cut.
func (a *Assembler) shed(f *flow) {
	if !f.ended {
		f.stream.Shed()
	}
	for s := range f.sides {
		sd := &f.sides[s]
		if _, end := sd.pending.Clear(); end > sd.pos && !sd.done {
			a.gap(f, s, int(end-sd.pos), f.last, true)
		}
	}
}

// close flushes what is buffered, across holes, and ends the flow.
func (a *Assembler) close(f *flow) {
	a.closing = true
	defer func() { a.closing = false }()
	for s := range f.sides {
		for f.sides[s].pending.Len() > 0 && !f.sides[s].done {
			a.skipHole(f, s, false)
		}
		a.drop(f, s)
	}
	if !f.ended {
		f.stream.Close()
	}
	f.mem.Close()
	delete(a.flows, f.key)
	if slot := &a.recent[recentSlot(f.key)]; *slot == f {
		*slot = nil
	}
	a.active.remove(f)
	a.age.remove(f)
	*f = flow{}
	a.free.Put(f)
}

// lingerer is a lingering flow, as long as it has the id it had then: the
// struct is reused once the flow is closed, and ids are never reused.
type lingerer struct {
	f  *flow
	id uint64
}

func (l lingerer) open() bool { return l.f.id == l.id }

// touch marks f active at ts, moving it to the end of the activity list.
func (a *Assembler) touch(f *flow, ts time.Time) {
	if ts.After(f.last) {
		f.last = ts
	}
	a.active.moveToBack(f)
}

// Advance tells the assembler that capture time is now: flows idle for
// longer than IdleTimeout are closed and streams older than MaxAge ended.
// Add calls it with each packet's time; a live capture also calls it when
// no packet comes. It works at most once per second of capture time
// (Sweeps).
func (a *Assembler) Advance(now time.Time) {
	if !a.sweeps.Due(now) {
		return
	}
	kept := a.lingering[:0]
	for _, l := range a.lingering {
		switch {
		case !l.open(): // closed since
		case now.Sub(l.f.last) > lingerWindow:
			a.close(l.f)
		default:
			kept = append(kept, l)
		}
	}
	clear(a.lingering[len(kept):])
	a.lingering = kept
	for f := a.active.head; f != nil && now.Sub(f.last) > a.cfg.IdleTimeout; f = a.active.head {
		a.stats.IdleClosed++
		a.close(f)
	}
	for f := a.age.head; f != nil && now.Sub(f.start) > a.cfg.MaxAge; f = a.age.head {
		a.stats.Aged++
		a.end(f)
	}
}

// end ends f's stream and keeps the flow, wanting no more of its bytes.
func (a *Assembler) end(f *flow) {
	for s := range f.sides {
		f.sides[s].done = true
		a.drop(f, s)
	}
	a.finish(f)
}

// finish closes f's stream once it wants no more of either side (a
// decided connection ignores it) and lets it go: the flow is kept to skip
// what follows, charged for its own bookkeeping only, and the stream's
// memory is the garbage collector's.
func (a *Assembler) finish(f *flow) {
	a.age.remove(f)
	f.ended = true
	f.stream.Close()
	f.stream = nil
	f.mem.Reset(flowCost)
}

// Flush closes every flow, oldest first, at the end of input.
func (a *Assembler) Flush() {
	all := make([]*flow, 0, len(a.flows))
	for _, f := range a.flows {
		all = append(all, f)
	}
	slices.SortFunc(all, func(x, y *flow) int { return cmp.Compare(x.id, y.id) })
	for _, f := range all {
		a.close(f)
	}
}
