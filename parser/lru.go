package parser

import "sync"

// lru keeps the values used most recently, up to max of their costs, and
// counts how often a lookup found one. It is safe for concurrent use: the
// workers of a run share one.
//
// Its entries sit in one slice, linked by index from the most recently
// used, and those forgotten are reused: a full cache allocates nothing,
// and an entry costs its key twice (the map's and its own), its value and
// 16 bytes. With container/list (an element and an entry apart, each
// with its key) the 4,096 sessions of a run over bench/mix-1024.pcap took
// 1.2 MiB of a 12 MiB live heap, most of what it grew by from the 100 MB
// capture.
type lru[K comparable, V any] struct {
	mu      sync.Mutex
	max     int
	size    int
	m       map[K]int32 // index of k's entry
	entries []lruEntry[K, V]
	head    int32 // the most recently used entry, -1 when none is; the ring goes on by next
	free    int32 // the first of the entries forgotten, chained by next; -1 when none is
	hits    int
	misses  int
}

type lruEntry[K comparable, V any] struct {
	key        K
	v          V
	cost       int
	prev, next int32
}

func newLRU[K comparable, V any](max int) *lru[K, V] {
	return &lru[K, V]{max: max, m: map[K]int32{}, head: -1, free: -1}
}

// get returns the value kept for k, marking it used; a lookup that finds
// one is counted, one that does not only if countMiss.
func (l *lru[K, V]) get(k K, countMiss bool) (V, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i, ok := l.m[k]
	if !ok {
		if countMiss {
			l.misses++
		}
		var zero V
		return zero, false
	}
	l.hits++
	l.toFront(i)
	return l.entries[i].v, true
}

// put keeps v for k at cost, forgetting the least recently used values
// beyond max; a value found there meanwhile (another worker's) stays.
func (l *lru[K, V]) put(k K, v V, cost int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i, ok := l.m[k]; ok {
		l.toFront(i)
		return
	}
	l.add(k, v, cost)
}

// set is put, except that a value found for k is replaced by v.
func (l *lru[K, V]) set(k K, v V, cost int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i, ok := l.m[k]; ok {
		e := &l.entries[i]
		l.size += cost - e.cost
		e.v, e.cost = v, cost
		l.toFront(i)
		return
	}
	l.add(k, v, cost)
}

// add keeps v for k, which is not kept, at cost; l.mu is held.
func (l *lru[K, V]) add(k K, v V, cost int) {
	if cost > l.max {
		return
	}
	for l.size+cost > l.max {
		oldest := l.entries[l.head].prev
		delete(l.m, l.entries[oldest].key)
		l.size -= l.entries[oldest].cost
		l.unlink(oldest)
		l.entries[oldest] = lruEntry[K, V]{next: l.free} // its key and value go to the collector
		l.free = oldest
	}
	i := l.free
	if i >= 0 {
		l.free = l.entries[i].next
	} else {
		i = int32(len(l.entries))
		l.entries = append(l.entries, lruEntry[K, V]{})
	}
	l.entries[i] = lruEntry[K, V]{key: k, v: v, cost: cost}
	l.pushFront(i)
	l.m[k] = i
	l.size += cost
}

// toFront marks entry i used last.
func (l *lru[K, V]) toFront(i int32) {
	if i != l.head {
		l.unlink(i)
		l.pushFront(i)
	}
}

// unlink takes entry i out of the ring.
func (l *lru[K, V]) unlink(i int32) {
	e := &l.entries[i]
	if e.next == i {
		l.head = -1
		return
	}
	l.entries[e.prev].next, l.entries[e.next].prev = e.next, e.prev
	if l.head == i {
		l.head = e.next
	}
}

// pushFront puts entry i, out of the ring, first in it.
func (l *lru[K, V]) pushFront(i int32) {
	e := &l.entries[i]
	if l.head < 0 {
		e.prev, e.next = i, i
	} else {
		h := &l.entries[l.head]
		e.prev, e.next = h.prev, l.head
		l.entries[h.prev].next = i
		h.prev = i
	}
	l.head = i
}

// counts returns how many lookups found a value, and how many did not.
func (l *lru[K, V]) counts() (hits, misses int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hits, l.misses
}
