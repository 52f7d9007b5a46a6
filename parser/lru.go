package parser

import (
	"container/list"
	"sync"
)

// lru keeps the values used most recently, up to max of their costs, and
// counts how often a lookup found one. It is safe for concurrent use: the
// workers of a run share one.
type lru[K comparable, V any] struct {
	mu     sync.Mutex
	max    int
	size   int
	m      map[K]*list.Element // of *lruEntry, in recent
	recent list.List           // from the most recently used
	hits   int
	misses int
}

type lruEntry[K comparable, V any] struct {
	key  K
	v    V
	cost int
}

func newLRU[K comparable, V any](max int) *lru[K, V] {
	return &lru[K, V]{max: max, m: map[K]*list.Element{}}
}

// get returns the value kept for k, marking it used; a lookup that finds
// one is counted, one that does not only if countMiss.
func (l *lru[K, V]) get(k K, countMiss bool) (V, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.m[k]
	if !ok {
		if countMiss {
			l.misses++
		}
		var zero V
		return zero, false
	}
	l.hits++
	l.recent.MoveToFront(e)
	return e.Value.(*lruEntry[K, V]).v, true
}

// put keeps v for k at cost, forgetting the least recently used values
// beyond max; a value found there meanwhile (another worker's) stays.
func (l *lru[K, V]) put(k K, v V, cost int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.m[k]; ok {
		l.recent.MoveToFront(e)
		return
	}
	l.add(k, v, cost)
}

// add keeps v for k, which is not kept, at cost; l.mu is held.
func (l *lru[K, V]) add(k K, v V, cost int) {
	for l.size+cost > l.max && l.recent.Len() > 0 {
		back := l.recent.Back()
		oldest := back.Value.(*lruEntry[K, V])
		delete(l.m, oldest.key)
		l.size -= oldest.cost
		if l.size+cost <= l.max {
			// The last one forgotten makes room: its entry takes v, so
			// that a full cache allocates nothing.
			*oldest = lruEntry[K, V]{k, v, cost}
			l.recent.MoveToFront(back)
			l.m[k] = back
			l.size += cost
			return
		}
		l.recent.Remove(back)
	}
	if cost <= l.max {
		l.m[k] = l.recent.PushFront(&lruEntry[K, V]{k, v, cost})
		l.size += cost
	}
}

// set is put, except that a value found for k is replaced by v.
func (l *lru[K, V]) set(k K, v V, cost int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.m[k]; ok {
		ent := e.Value.(*lruEntry[K, V])
		l.size += cost - ent.cost
		ent.v, ent.cost = v, cost
		l.recent.MoveToFront(e)
		return
	}
	l.add(k, v, cost)
}

// counts returns how many lookups found a value, and how many did not.
func (l *lru[K, V]) counts() (hits, misses int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hits, l.misses
}
