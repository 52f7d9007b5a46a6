package budget

import (
	"math/bits"
	"testing"
)

// holder is an account's owner that can drop all it charged.
type holder struct {
	a    *Account
	shed int
}

func open(b *Budget) *holder {
	h := &holder{}
	h.a = b.Open(func() { h.shed++; h.a.Release(int(h.a.held)) })
	return h
}

// When the budget is spent, the largest other holder is cut, never the
// one asking; a charge larger than any other holder's is refused.
func TestCutsTheLargestOther(t *testing.T) {
	b := New(1000)
	small, large, asker := open(b), open(b), open(b)
	if !small.a.Charge(100) || !large.a.Charge(600) || !asker.a.Charge(200) {
		t.Fatal("charges within the limit refused")
	}
	if !asker.a.Charge(300) { // 1200 > 1000: large (600) is cut
		t.Fatal("refused while a larger holder could be cut")
	}
	if large.shed != 1 || small.shed != 0 || asker.shed != 0 || b.Used() != 600 {
		t.Errorf("sheds %d %d %d, used %d", small.shed, large.shed, asker.shed, b.Used())
	}
	// The asker holds 500 now; small holds 100 < 500+n: refused, not cut.
	if asker.a.Charge(600) {
		t.Error("charged past the limit by cutting a smaller holder")
	}
	s := b.Stats()
	if small.shed != 0 || s.Cuts != 1 || s.CutBytes != 600 || s.Refused != 1 || s.RefusedSize != 600 || s.Peak != 900 {
		t.Errorf("stats %+v, small cut %d times", s, small.shed)
	}
}

// A new holder needing more than any other holds gets it by cutting
// several, largest first: many small holders cannot starve it.
func TestManySmallHoldersMakeRoom(t *testing.T) {
	b := New(10000)
	var hs []*holder
	for range 100 {
		h := open(b)
		h.a.Charge(100)
		hs = append(hs, h)
	}
	asker := open(b)
	if !asker.a.Charge(1000) {
		t.Fatal("refused while others held more than the asker")
	}
	cut := 0
	for _, h := range hs {
		cut += h.shed
	}
	if cut != 10 || b.Used() != 10000 {
		t.Errorf("%d holders cut, %d used", cut, b.Used())
	}
}

// Fixed bytes count against the limit but make no account a target; a
// fixed charge past the limit is made and says it did not fit.
func TestFixed(t *testing.T) {
	b := New(1000)
	h, other := open(b), open(b)
	if !h.a.Fixed(900) {
		t.Fatal("fixed charge within the limit did not fit")
	}
	if other.a.Charge(200) {
		t.Error("charged past the limit: the fixed bytes cannot be cut")
	}
	if h.shed != 0 {
		t.Error("an account holding only fixed bytes was cut")
	}
	if other.a.Fixed(200) || b.Used() != 1100 {
		t.Errorf("fixed past the limit: used %d", b.Used())
	}
	h.a.Close()
	other.a.Close()
	if b.Used() != 0 {
		t.Errorf("%d bytes used after every account closed", b.Used())
	}
	if !h.a.Charge(10) || b.Used() != 0 {
		t.Error("a closed account charged the budget")
	}
}

// The largest holder is found among many in O(1) lists, within a factor
// of two: of a thousand holders, one much larger is cut first.
func TestLargestAmongMany(t *testing.T) {
	b := New(1000*1000 + 10000) // full once all have charged
	var hs []*holder
	for range 1000 {
		h := open(b)
		h.a.Charge(1000)
		hs = append(hs, h)
	}
	big := open(b)
	big.a.Charge(10000)
	asker := b.Open(nil)
	if !asker.Charge(5000) {
		t.Fatal("refused")
	}
	if big.shed != 1 {
		t.Error("the largest holder was not cut first")
	}
	for _, h := range hs {
		if h.shed != 0 {
			t.Fatal("a small holder was cut before the largest")
		}
	}
}

// Reset keeps the fixed bytes asked for and gives back the rest.
func TestReset(t *testing.T) {
	b := New(1000)
	h := open(b)
	h.a.Fixed(300)
	h.a.Charge(200)
	h.a.Reset(100)
	if b.Used() != 100 || h.a.Held() != 100 {
		t.Errorf("used %d, held %d after Reset(100)", b.Used(), h.a.Held())
	}
	h.a.Reset(500) // keeps no more than it had
	if b.Used() != 100 {
		t.Errorf("used %d", b.Used())
	}
}

// A holder holding as much as the asker is not cut for it.
func TestEqualHolderNotCut(t *testing.T) {
	b := New(200)
	other, asker := open(b), open(b)
	other.a.Charge(100)
	asker.a.Charge(100)
	if asker.a.Charge(1) || other.shed != 0 {
		t.Errorf("charged by cutting a holder of the same size (cut %d times)", other.shed)
	}
}

// What a cut frees is counted, also when the holder keeps part of it; a
// shed that frees nothing is a refusal.
func TestCutStats(t *testing.T) {
	b := New(1000)
	var half *Account
	half = b.Open(func() { half.Release(300) })
	half.Charge(600)
	if !b.Open(nil).Charge(600) {
		t.Fatal("refused")
	}
	if s := b.Stats(); s.Cuts != 1 || s.CutBytes != 300 || half.Held() != 300 {
		t.Errorf("stats %+v, held %d", s, half.Held())
	}
	b = New(1000)
	b.Open(func() {}).Charge(900)
	if b.Open(nil).Charge(200) {
		t.Error("charged past the limit")
	}
	if s := b.Stats(); s.Cuts != 0 || s.Refused != 1 || s.RefusedSize != 200 {
		t.Errorf("a holder that frees nothing: stats %+v", s)
	}
}

// Close gives back what an account held, charged and fixed.
func TestCloseGivesBack(t *testing.T) {
	b := New(1000)
	h := open(b)
	h.a.Charge(300)
	h.a.Fixed(200)
	h.a.Close()
	if b.Used() != 0 {
		t.Errorf("%d used after Close", b.Used())
	}
}

// The lists stay whole through any order of charges and releases: the
// largest holder found is always one of the largest by bit length.
func TestListsAfterManyMoves(t *testing.T) {
	b := New(1 << 40)
	var accounts []*Account
	for range 40 {
		accounts = append(accounts, b.Open(func() {}))
	}
	x := uint64(7)
	for range 20000 {
		x = x*6364136223846793005 + 1442695040888963407
		a := accounts[x>>33%uint64(len(accounts))]
		if n := int(x >> 40 % 5000); x&1 == 0 {
			a.Charge(n)
		} else {
			a.Release(n)
		}
		best := 0
		for _, c := range accounts {
			best = max(best, bits.Len64(uint64(c.held)))
		}
		got := b.largest(nil)
		if best == 0 && got != nil || best > 0 && (got == nil || bits.Len64(uint64(got.held)) != best) {
			t.Fatalf("largest holds %v; the largest list is %d", got, best)
		}
	}
}
