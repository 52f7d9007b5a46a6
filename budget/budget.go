// Package budget is tlssniff's memory account: every byte a stage buffers
// on behalf of a flow (out-of-order TCP segments, partial records and
// handshake messages, DTLS fragments, QUIC CRYPTO frames) and the
// bookkeeping around it is charged here at its real cost before it is
// kept, and released when it is freed. It sits beside the pipeline, below
// every stage, and imports nothing of ours.
//
// A Budget has a limit. Each flow charges an Account of its own. When a
// charge would pass the limit, the Budget cuts the accounts holding the
// most, largest first, by calling their shed function, which must release
// what its holder can drop (and record on the connection that it did);
// the account asking is never cut to feed itself, nor is one that holds
// no more than the asker. When that cannot make room (what is charged is
// mostly the fixed cost of many holders), Evict ends holders, the least
// recently active first. A charge that cannot be met even so is refused:
// the asker drops what it was about to keep and says so. So a few flows that hoard cannot starve the rest, and
// a new handshake, holding little, always finds room while other flows
// hold more: the share every flow is sure of is as much as any other
// holds.
//
// Some memory cannot be shed while its holder lives (a flow's own
// bookkeeping): it is charged with Fixed, counts against the limit, and
// never makes its account a target.
//
// Finding the largest holder is O(1): accounts sit in lists by the bit
// length of what they could shed, so "largest" is exact to within a
// factor of two; within one list the least recently charged goes first.
//
// A Budget is not safe for concurrent use: each goroutine that buffers
// (one per worker) has its own, and --memory is divided between them.
package budget

import "math/bits"

// Budget is one memory limit shared by many accounts.
type Budget struct {
	// Evict, when set, is called when cutting cannot make room: it ends
	// a holder other than not (the least recently active flow), closing
	// its account, and reports whether there was one. It must not charge.
	Evict func(not *Account) bool

	limit, used, peak int64
	lists             [65]list // accounts by bits.Len64(held)
	stats             Stats
}

// Stats says how the budget was used.
type Stats struct {
	Limit, Peak int64  // bytes
	Cuts        uint64 // accounts cut to make room for another
	CutBytes    uint64 // bytes those cuts freed
	Refused     uint64 // charges refused
	RefusedSize uint64 // bytes of the refused charges
}

// Add adds up the stats of several budgets.
func (s Stats) Add(o Stats) Stats {
	return Stats{Limit: s.Limit + o.Limit, Peak: s.Peak + o.Peak, Cuts: s.Cuts + o.Cuts, CutBytes: s.CutBytes + o.CutBytes,
		Refused: s.Refused + o.Refused, RefusedSize: s.RefusedSize + o.RefusedSize}
}

// New returns a budget of limit bytes.
func New(limit int64) *Budget { return &Budget{limit: limit} }

// Used returns the bytes charged now.
func (b *Budget) Used() int64 { return b.used }

// Stats returns the budget's figures so far.
func (b *Budget) Stats() Stats {
	s := b.stats
	s.Limit, s.Peak = b.limit, b.peak
	return s
}

// Account is what one holder (a flow) has charged.
type Account struct {
	b          *Budget
	held       int64 // what shed can drop
	fixed      int64 // what it cannot
	shed       func()
	list       int
	prev, next *Account
}

// Open returns an empty account. shed is called when the budget needs the
// account's memory for another: it must release what it can and must not
// charge anything. A nil shed means nothing can be dropped.
func (b *Budget) Open(shed func()) *Account {
	a := &Account{b: b, shed: shed}
	b.lists[0].push(a)
	return a
}

// Held returns the bytes the account holds, fixed ones included.
func (a *Account) Held() int64 { return a.held + a.fixed }

// Buffered returns the bytes charged with Charge and not released: what
// shed could drop.
func (a *Account) Buffered() int64 { return a.held }

// Charge asks for n more bytes that shed can drop. It cuts larger holders
// when the budget is spent, and reports false, charging nothing, when room
// cannot be made. A nil account charges nothing and always succeeds (a
// caller without a budget).
func (a *Account) Charge(n int) bool {
	if a == nil || a.b == nil || n <= 0 {
		return true
	}
	if !a.b.room(a, int64(n)) {
		return false
	}
	a.add(int64(n))
	return true
}

// Fixed charges n bytes that cannot be shed while the holder lives: what
// it already keeps. It cuts larger holders to make room, charges the bytes
// in any case, and reports whether they fit within the limit.
func (a *Account) Fixed(n int) bool {
	if a == nil || a.b == nil || n <= 0 {
		return true
	}
	fits := a.b.room(a, int64(n))
	a.fixed += int64(n)
	a.b.used += int64(n)
	a.b.peak = max(a.b.peak, a.b.used)
	return fits
}

// Reset gives back everything but keep fixed bytes: the holder let go of
// what it kept on the account's behalf.
func (a *Account) Reset(keep int) {
	if a == nil || a.b == nil {
		return
	}
	a.add(-a.held)
	keep64 := min(a.fixed, int64(keep))
	a.b.used -= a.fixed - keep64
	a.fixed = keep64
}

// room makes room for n more bytes of a by cutting larger holders.
func (b *Budget) room(a *Account, n int64) bool {
	for b.used+n > b.limit {
		v := b.largest(a)
		if v == nil || v.held <= a.held {
			if b.Evict != nil && b.Evict(a) {
				continue // a holder fewer, its fixed bytes too
			}
			b.stats.Refused++
			b.stats.RefusedSize += uint64(n)
			return false
		}
		before := v.held
		v.shed()
		if v.held >= before {
			// A holder that frees nothing would be asked forever.
			b.stats.Refused++
			b.stats.RefusedSize += uint64(n)
			return false
		}
		b.stats.Cuts++
		b.stats.CutBytes += uint64(before - v.held)
	}
	return true
}

// Release gives back n bytes charged with Charge.
func (a *Account) Release(n int) {
	if a == nil || n <= 0 {
		return
	}
	a.add(-min(int64(n), a.held))
}

// Close releases everything, fixed bytes too, and forgets the account.
func (a *Account) Close() {
	if a == nil || a.b == nil {
		return
	}
	a.add(-a.held)
	a.b.used -= a.fixed
	a.fixed = 0
	a.b.lists[a.list].remove(a)
	a.b = nil
}

func (a *Account) add(n int64) {
	b := a.b
	if b == nil {
		return // closed: its holder is gone
	}
	a.held += n
	b.used += n
	b.peak = max(b.peak, b.used)
	l := 0
	if a.shed != nil {
		l = bits.Len64(uint64(a.held))
	}
	b.lists[a.list].remove(a)
	a.list = l
	b.lists[l].push(a) // to the back: the least recently charged is cut first
}

// largest returns the account that could shed the most besides not, or
// nil. Only lists above 0 hold accounts with something to shed.
func (b *Budget) largest(not *Account) *Account {
	for i := len(b.lists) - 1; i > 0; i-- {
		for a := b.lists[i].head; a != nil; a = a.next {
			if a != not {
				return a
			}
		}
	}
	return nil
}

// list is an intrusive doubly linked list of accounts.
type list struct{ head, tail *Account }

func (l *list) push(a *Account) {
	a.prev, a.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = a
	} else {
		l.head = a
	}
	l.tail = a
}

func (l *list) remove(a *Account) {
	if a.prev != nil {
		a.prev.next = a.next
	} else if l.head == a {
		l.head = a.next
	}
	if a.next != nil {
		a.next.prev = a.prev
	} else if l.tail == a {
		l.tail = a.prev
	}
	a.prev, a.next = nil, nil
}
