package report

import (
	"container/heap"
	"maps"
	"math"
	"math/bits"
	"slices"
	"time"
)

// The bounded structures the summary and the HTML report count with, so
// that their memory stays flat whatever the capture holds: exact while
// what they count is small, estimates past that, and said to be.

// quantiles keeps durations: as they are up to its exact limit, so that
// percentiles are exact, then as counts in buckets 1% wide, from which
// percentiles are within 1%; only the buckets used are kept (a server's
// handshakes fill a few dozen). A zero limit keeps none.
type quantiles struct {
	limit   int
	exact   []time.Duration
	buckets map[int]uint32 // by bucketOf, once past limit
	n       int
	max     time.Duration
}

const (
	bucketBase = 1.01
	// maxBucket bounds the buckets: 1.01^2800 ns is over a year.
	maxBucket = 2800
)

func bucketOf(d time.Duration) int {
	if d < 1 {
		return 0
	}
	return min(int(math.Log(float64(d))/math.Log(bucketBase)), maxBucket-1)
}

func (q *quantiles) add(d time.Duration) {
	if q.limit == 0 {
		return
	}
	q.n++
	q.max = max(q.max, d)
	if q.buckets == nil {
		if len(q.exact) < q.limit {
			q.exact = append(q.exact, d)
			return
		}
		q.buckets = map[int]uint32{}
		for _, e := range q.exact {
			q.buckets[bucketOf(e)]++
		}
		q.exact = nil
	}
	q.buckets[bucketOf(d)]++
}

// each calls fn with the durations in increasing order and how many there
// are of each: past the exact limit, a bucket's geometric middle (the
// largest the maximum).
func (q *quantiles) each(fn func(d time.Duration, n int)) {
	if q.buckets == nil {
		slices.Sort(q.exact)
		for _, d := range q.exact {
			fn(d, 1)
		}
		return
	}
	for _, i := range slices.Sorted(maps.Keys(q.buckets)) {
		fn(min(time.Duration(math.Pow(bucketBase, float64(i)+0.5)), q.max), int(q.buckets[i]))
	}
}

// latency returns the nearest-rank percentiles: the smallest value at or
// above which lie q of the values.
func (q *quantiles) latency() latency {
	if q.n == 0 {
		return latency{}
	}
	l := latency{N: q.n, Max: q.max}
	ranks := []struct {
		rank int
		v    *time.Duration
	}{{(50*q.n + 99) / 100, &l.P50}, {(90*q.n + 99) / 100, &l.P90}, {(99*q.n + 99) / 100, &l.P99}}
	seen := 0
	q.each(func(d time.Duration, n int) {
		seen += n
		for len(ranks) > 0 && ranks[0].rank <= seen {
			*ranks[0].v = d
			ranks = ranks[1:]
		}
	})
	return l
}

// counter counts connections by a name, for at most limit names: past it,
// a new name takes the place of the one counted least (Space-Saving:
// Metwally, Agrawal, El Abbadi, 2005), inheriting its count as an error
// bound, so that every name with more than n/limit connections is kept
// and each count is over by at most its err. How many names there were is
// counted exactly up to limit, then estimated (a HyperLogLog).
type counter struct {
	limit   int
	latency int // the exact limit of each name's quantiles; 0 for none
	m       map[string]*group
	least   byConns // the same groups, the one counted least first
	evicted bool
	names   hyperLogLog
}

// byConns is a heap of groups by their count (container/heap), each
// group knowing its place: the least is found in O(1), a count kept in
// order in O(log limit), whatever the names.
type byConns []*group

func (h byConns) Len() int           { return len(h) }
func (h byConns) Less(i, j int) bool { return h[i].Conns < h[j].Conns }
func (h byConns) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *byConns) Push(x any) {
	g := x.(*group)
	g.index = len(*h)
	*h = append(*h, g)
}
func (h *byConns) Pop() any { panic("counter: groups are replaced, never popped") }

func newCounter(limit, latency int) *counter {
	return &counter{limit: limit, latency: latency, m: map[string]*group{}}
}

func (c *counter) add(name string, e *entry) {
	g := c.m[name]
	if g == nil {
		c.names.add(name)
		if len(c.m) < c.limit {
			g = &group{Name: name, handshakes: quantiles{limit: c.latency}}
			heap.Push(&c.least, g)
		} else {
			// The least counted gives the new name its place, its count
			// as an error bound, and its struct with the room it made:
			// past limit, names come and go at every connection.
			g = c.least[0]
			delete(c.m, g.Name)
			clear(g.causes)
			*g = group{Name: name, Conns: g.Conns, err: g.Conns, causes: g.causes,
				handshakes: quantiles{limit: c.latency, exact: g.handshakes.exact[:0]}}
			c.evicted = true
		}
		c.m[name] = g
	}
	c.count(g, e)
}

// addKey counts e under the name in key, which is made a string only
// when the name is new.
func (c *counter) addKey(key []byte, e *entry) {
	if g := c.m[string(key)]; g != nil {
		c.count(g, e)
		return
	}
	c.add(string(key), e)
}

// count adds e to g and keeps g in its place among the least counted.
func (c *counter) count(g *group, e *entry) {
	g.add(e)
	heap.Fix(&c.least, g.index)
}

// total is how many names there were, and whether that is exact.
func (c *counter) total() (int, bool) {
	if !c.evicted {
		return len(c.m), true
	}
	return c.names.estimate(), false
}

// hyperLogLog estimates how many distinct strings it was given (Flajolet
// et al., 2007), within about 1.6% with its 4,096 registers. Its hash has
// no random seed, so that the same capture gets the same estimate every
// run: with maphash's, two runs of the summary on bench/mix-1024.pcap said
// "~2955" and "~3076" SNIs. Traffic made to collide in it can only lower
// an estimate the summary marks as one.
type hyperLogLog struct {
	registers []uint8
}

const hllBits = 12

func (h *hyperLogLog) add(s string) {
	if h.registers == nil {
		h.registers = make([]uint8, 1<<hllBits)
	}
	x := hash64(s)
	i := x >> (64 - hllBits)
	rank := uint8(bits.LeadingZeros64(x<<hllBits|1<<(hllBits-1)) + 1)
	h.registers[i] = max(h.registers[i], rank)
}

// hash64 is FNV-1a (hash/fnv's, without its allocation per string)
// followed by MurmurHash3's finalizer, which spreads FNV's weak high bits
// over the whole word: the register index is taken from them.
func hash64(s string) uint64 {
	x := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		x = (x ^ uint64(s[i])) * 1099511628211
	}
	x = (x ^ x>>33) * 0xff51afd7ed558ccd
	x = (x ^ x>>33) * 0xc4ceb9fe1a85ec53
	return x ^ x>>33
}

func (h *hyperLogLog) estimate() int {
	m := float64(len(h.registers))
	sum, zeros := 0.0, 0
	for _, r := range h.registers {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	e := 0.7213 / (1 + 1.079/m) * m * m / sum
	if e <= 2.5*m && zeros > 0 { // small range: linear counting
		e = m * math.Log(m/float64(zeros))
	}
	return int(e + 0.5)
}
