package reorder

import (
	"bytes"
	"runtime"
	"testing"
	"time"

	"github.com/tlssniff/tlssniff/budget"
)

// drain pops every piece in order and returns the bytes from offset 0.
func drain(b *Buffer) []byte {
	var out []byte
	for {
		p, ok := b.PopFirst()
		if !ok {
			return out
		}
		if end := uint64(len(out)); p.End() > end && p.Offset <= end {
			out = append(out, p.Data[end-p.Offset:]...)
		}
	}
}

// reversed inserts n one-byte pieces last first and returns the
// comparisons it took.
func reversed(t *testing.T, n int) int {
	var b Buffer
	msg := bytes.Repeat([]byte("0123456789"), n/10+1)[:n]
	for i := n - 1; i >= 0; i-- {
		b.Insert(uint64(i), msg[i:i+1], time.Time{}, n*(PieceCost+8))
	}
	if got := drain(&b); !bytes.Equal(got, msg) {
		t.Fatalf("read %d bytes back", len(got))
	}
	return b.steps
}

// One-byte pieces in reverse order cost O(log n) each: four times as many
// take at most about four times the comparisons (a sorted slice took 16).
func TestReverseOrderIsLinear(t *testing.T) {
	small, large := reversed(t, 40_000), reversed(t, 160_000)
	ratio := float64(large) / float64(small)
	t.Logf("comparisons: %d for 40,000 pieces, %d for 160,000: %.2fx", small, large, ratio)
	if ratio > 5 {
		t.Errorf("4x the pieces took %.1fx the comparisons", ratio)
	}
}

// PieceCost covers what a piece really costs on the heap: one-byte pieces,
// the worst case, in random order.
func TestPieceCost(t *testing.T) {
	const n = 100_000
	bud := budget.New(1 << 40)
	b := Buffer{Account: bud.Open(nil)}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	x := uint64(1)
	for range n {
		x = x*6364136223846793005 + 1442695040888963407
		b.Insert(x>>20, []byte{1}, time.Time{}, n*(PieceCost+8))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d pieces: %d bytes on the heap, %d charged", b.Len(), heap, bud.Used())
	if heap > bud.Used() {
		t.Errorf("%d bytes on the heap, only %d charged", heap, bud.Used())
	}
	runtime.KeepAlive(&b)
}

// Overlaps: the first copy wins, a covered piece is a duplicate, differing
// bytes are a conflict, the limit and the budget refuse.
func TestInsert(t *testing.T) {
	var b Buffer
	if r, _ := b.Insert(10, []byte("klmno"), time.Time{}, 1<<20); r != Kept {
		t.Fatal(r)
	}
	if r, c := b.Insert(12, []byte("mn"), time.Time{}, 1<<20); r != Duplicate || c {
		t.Errorf("covered piece: %v, conflict %v", r, c)
	}
	if r, c := b.Insert(8, []byte("ijKLMNOpq"), time.Time{}, 1<<20); r != Kept || !c {
		t.Errorf("overlap with other bytes: %v, conflict %v", r, c)
	}
	if r, _ := b.Insert(0, []byte("abcdefgh"), time.Time{}, 1<<20); r != Kept {
		t.Fatal(r)
	}
	if got := string(drain(&b)); got != "abcdefghijklmnopq" {
		t.Errorf("read %q", got)
	}
	if r, _ := b.Insert(50, make([]byte, 101), time.Time{}, b.Cost()+PieceCost+100); r != Refused {
		t.Errorf("past the limit: %v", r)
	}
	small := budget.New(PieceCost)
	b = Buffer{Account: small.Open(nil)}
	if r, _ := b.Insert(5, []byte("x"), time.Time{}, 1<<20); r != Refused || b.Len() != 0 || small.Used() != 0 {
		t.Errorf("over the budget: %v, %d held, %d charged", r, b.Len(), small.Used())
	}
}

// FuzzReorder inserts pieces of a message at offsets and in an order
// chosen by ops, any order, backwards included, with overlaps: what is
// read back from offset 0 is the message, and the budget is given back.
func FuzzReorder(f *testing.F) {
	f.Add([]byte("the quick brown fox jumps over the lazy dog"), []byte{40, 3, 30, 5, 0, 9, 20, 20, 9, 12})
	f.Fuzz(func(t *testing.T, msg, ops []byte) {
		if len(msg) == 0 || len(ops) > 256 {
			return
		}
		bud := budget.New(1 << 30)
		b := Buffer{Account: bud.Open(nil)}
		for i := 0; i+1 < len(ops); i += 2 {
			off := int(ops[i]) % len(msg)
			end := min(off+1+int(ops[i+1]), len(msg))
			b.Insert(uint64(off), msg[off:end], time.Time{}, len(msg)*(PieceCost+8))
		}
		b.Insert(0, msg, time.Time{}, len(msg)*(PieceCost+8)) // whatever is missing: pieces never overlap
		if got := drain(&b); !bytes.Equal(got, msg) {
			t.Fatalf("read %q of %q", got, msg)
		}
		if bud.Used() != 0 || b.Bytes() != 0 {
			t.Fatalf("%d bytes still charged, %d held", bud.Used(), b.Bytes())
		}
	})
}
