package report

import (
	"fmt"
	"math/rand"
	"slices"
	"testing"
	"time"

	"github.com/tlssniff/tlssniff/parser"
)

// nearestRank is the reference: the smallest value at or above which lie
// p% of ds.
func nearestRank(ds []time.Duration, p int) time.Duration {
	s := slices.Sorted(slices.Values(ds))
	return s[(p*len(s)+99)/100-1]
}

// TestQuantiles: exact up to the limit; past it, every percentile within
// 1% of the exact one and the maximum exact, in bounded memory.
func TestQuantiles(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, n := range []int{1, 2, 99, 100, 4096, 100_000} {
		q := quantiles{limit: 4096}
		var ds []time.Duration
		for range n {
			d := time.Duration(rng.ExpFloat64() * 30e6) // ms-scale handshakes, a long tail
			ds = append(ds, d)
			q.add(d)
		}
		l := q.latency()
		if l.N != n || l.Max != slices.Max(ds) {
			t.Fatalf("%d values: N %d, max %v", n, l.N, l.Max)
		}
		for p, got := range map[int]time.Duration{50: l.P50, 90: l.P90, 99: l.P99} {
			want := nearestRank(ds, p)
			if n <= 4096 && got != want || float64(abs(got-want)) > 0.01*float64(want) {
				t.Errorf("%d values, P%d: %v, exact %v", n, p, got, want)
			}
		}
		if n > 4096 && (q.exact != nil || len(q.buckets) > maxBucket) {
			t.Errorf("%d values: %d kept, %d buckets", n, len(q.exact), len(q.buckets))
		}
	}
}

func abs(d time.Duration) time.Duration { return max(d, -d) }

// TestCounter: names are counted exactly while they are few; past the
// limit, the names with many connections are kept, each count over by at
// most its err, which is at most n/limit, and how many names there were
// is estimated within 5%; memory stays at the limit.
func TestCounter(t *testing.T) {
	few := newCounter(10, 0)
	for i := range 100 {
		few.add(fmt.Sprint(i%7), &entry{outcome: parser.OutcomeEstablished})
	}
	if n, exact := few.total(); n != 7 || !exact || few.m["3"].Conns != 14 || few.m["3"].err != 0 {
		t.Fatalf("7 names: total %d (exact %v), %+v", n, exact, few.m["3"])
	}
	const limit, n = 100, 200_000
	c := newCounter(limit, 8)
	rng := rand.New(rand.NewSource(2))
	heavy, distinct := map[string]int{}, map[string]bool{}
	for i := range n {
		name := fmt.Sprintf("name-%d", rng.Intn(50_000))
		if i%10 < 3 { // three names take 10% of the connections each
			name = fmt.Sprintf("heavy-%d", i%10)
			heavy[name]++
		}
		distinct[name] = true
		c.add(name, &entry{outcome: parser.OutcomeEstablished, handshake: new(time.Duration),
			costs: []parser.Finding{{Kind: name, Cost: time.Millisecond, HasCost: true}}})
		if len(c.m) > limit {
			t.Fatalf("%d names kept", len(c.m))
		}
	}
	// A name that took the place of another, and its struct, kept
	// nothing of it: its handshakes and causes are its own.
	for name, g := range c.m {
		own := g.Conns - g.err
		if g.handshakes.n != own || len(g.handshakes.exact) > own || len(g.causes) != 1 || g.causes[name] != time.Duration(own)*time.Millisecond {
			t.Fatalf("%s: %d connections of its own, %d handshakes (%d kept exactly), causes %v", name, own, g.handshakes.n, len(g.handshakes.exact), g.causes)
		}
	}
	for name, want := range heavy {
		g := c.m[name]
		if g == nil || g.Conns < want || g.Conns-g.err > want || g.err > n/limit {
			t.Errorf("%s: %+v, want %d connections", name, g, want)
		}
	}
	got, exact := c.total()
	if exact || got < len(distinct)*95/100 || got > len(distinct)*105/100 {
		t.Errorf("%d names: %d (exact %v)", len(distinct), got, exact)
	}
	// The same names again give the same estimate: a summary does not
	// change from one run to the next.
	var again hyperLogLog
	for name := range distinct {
		again.add(name)
	}
	if again.estimate() != c.names.estimate() {
		t.Errorf("the same %d names estimated %d, then %d", len(distinct), c.names.estimate(), again.estimate())
	}
}
