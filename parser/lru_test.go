package parser

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestLRUForgetsLeastRecentlyUsed: the cache holds values up to its
// bound of their costs, forgets the one used least recently first, keeps
// the first of two values put for a key, keeps no value costlier than its
// bound, and counts its hits and misses.
func TestLRUForgetsLeastRecentlyUsed(t *testing.T) {
	const n = 100
	l := newLRU[int, string](n)
	for i := range n {
		l.put(i, fmt.Sprint(i), 1)
	}
	if got, ok := l.get(0, true); !ok || got != "0" { // now the most recent
		t.Fatalf("value 0: %q %v", got, ok)
	}
	l.put(n, "new", 1)
	if _, ok := l.get(1, true); ok {
		t.Error("value 1, the least recently used, is still kept")
	}
	l.put(0, "again", 1) // put twice at once: the first stays
	if got, ok := l.get(0, true); !ok || got != "0" {
		t.Errorf("value 0 put again: %q %v", got, ok)
	}
	if _, ok := l.get(2, true); !ok {
		t.Error("value 2 forgotten before its turn")
	}
	if len(l.m) != n || l.order(t) != n || l.size != n {
		t.Errorf("%d kept, %d in order, size %d; want %d", len(l.m), l.order(t), l.size, n)
	}
	l.put(-1, "costly", n/2) // makes room: the 50 least recently used go
	if len(l.m) != n/2+1 || l.size != n {
		t.Errorf("after a costly value: %d kept, size %d", len(l.m), l.size)
	}
	l.put(-2, "too costly", n+1)
	if _, ok := l.get(-2, true); ok || l.size > n {
		t.Errorf("a value costlier than the bound is kept: size %d", l.size)
	}
	if hits, misses := l.counts(); hits != 3 || misses != 2 {
		t.Errorf("%d hits, %d misses; want 3, 2", hits, misses)
	}
	if len(l.entries) > n+1 || l.order(t) != len(l.m) {
		t.Errorf("%d entries for %d kept, %d in order: forgotten ones are not reused", len(l.entries), len(l.m), l.order(t))
	}
}

// TestLRUAsAList: any sequence of puts, sets and gets leaves an lru with
// the values, the order and the size of a plain list kept the same way.
func TestLRUAsAList(t *testing.T) {
	type kv struct{ k, v, cost int }
	rnd := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		max := 1 + rnd.IntN(20)
		l := newLRU[int, int](max)
		var want []kv // the most recently used first
		find := func(k int) int { return slices.IndexFunc(want, func(e kv) bool { return e.k == k }) }
		toFront := func(i int, e kv) { want = append([]kv{e}, slices.Delete(want, i, i+1)...) }
		for step := range 300 {
			k, v, cost := rnd.IntN(30), step, rnd.IntN(max+2)
			switch i := find(k); rnd.IntN(3) {
			case 0: // get
				got, ok := l.get(k, true)
				if ok != (i >= 0) || ok && got != want[i].v {
					t.Fatalf("round %d step %d: get %d = %d %v, want %v", round, step, k, got, ok, want)
				}
				if ok {
					toFront(i, want[i])
				}
			case 1, 2: // put, set
				set := rnd.IntN(2) == 0
				if set {
					l.set(k, v, cost)
				} else {
					l.put(k, v, cost)
				}
				switch {
				case i >= 0 && !set:
					toFront(i, want[i])
				case i >= 0:
					toFront(i, kv{k, v, cost})
				case cost <= max:
					size := cost
					for _, e := range want {
						size += e.cost
					}
					for size > max {
						size -= want[len(want)-1].cost
						want = want[:len(want)-1]
					}
					want = append([]kv{{k, v, cost}}, want...)
				}
			}
			var got []kv
			for i, n := l.head, 0; i >= 0 && n < len(l.m); i, n = l.entries[i].next, n+1 {
				e := l.entries[i]
				got = append(got, kv{e.key, e.v, e.cost})
			}
			size := 0
			for _, e := range want {
				size += e.cost
			}
			if !slices.Equal(got, want) || l.order(t) != len(want) || l.size != size {
				t.Fatalf("round %d step %d: kept %v, size %d; want %v, size %d", round, step, got, l.size, want, size)
			}
		}
	}
}

// order walks l's ring both ways from its head, failing t where the two
// disagree, and returns how many entries it holds.
func (l *lru[K, V]) order(t *testing.T) int {
	t.Helper()
	if l.head < 0 {
		return 0
	}
	n := 0
	for i := l.head; ; {
		next := l.entries[i].next
		if l.entries[next].prev != i {
			t.Fatalf("entry %d's next is %d, whose prev is %d", i, next, l.entries[next].prev)
		}
		n++
		if i = next; i == l.head || n > len(l.entries) {
			return n
		}
	}
}
