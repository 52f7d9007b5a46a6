// Package reorder keeps the pieces of a byte sequence that came ahead of
// where it is read, keyed by their offset, until the bytes before them
// come: TCP segments past a hole, DTLS handshake fragments, QUIC CRYPTO
// frames and IP fragments all go through a Buffer. It sits below the
// pipeline's stages and imports nothing of ours but the memory budget.
//
// Every operation is O(log n) in the pieces held, whatever the order and
// size in which they come: pieces sit in a B-tree (github.com/google/btree)
// rather than a sorted slice, whose inserts at the front cost O(n) each
// and made one-byte pieces in reverse order quadratic. Each piece is
// charged to a budget.Account at its real cost, its copy and its share of
// the tree (PieceCost); an empty Buffer holds no tree at all.
package reorder

import (
	"bytes"
	"time"

	"github.com/google/btree"

	"github.com/tlssniff/tlssniff/budget"
)

// PieceCost is what a piece costs besides its bytes: its entry in the
// tree's nodes, at the fill a B-tree keeps (half to full), and the
// allocation header of its copy. TestPieceCost checks it against the heap.
const PieceCost = 144

// degree of the B-tree: nodes of 15 to 31 pieces.
const degree = 16

// freeList is shared by every tree and keeps no node: a Buffer emptied
// gives its memory back rather than holding it for later.
var freeList = btree.NewFreeListG[Piece](0)

// Piece is bytes at an offset, captured at Time.
type Piece struct {
	Offset uint64
	Data   []byte
	Time   time.Time
}

// End is the offset just past the piece.
func (p Piece) End() uint64 { return p.Offset + uint64(len(p.Data)) }

// Result says what Insert did with a piece.
type Result int

const (
	Kept      Result = iota // a copy of the bytes not held before was kept
	Duplicate               // every byte was held already
	Refused                 // the limit or the memory budget refused a copy
)

// Buffer holds pieces ahead of a sequence's read position. The zero value
// is ready; it charges Account, when set.
type Buffer struct {
	Account *budget.Account
	tree    *btree.BTreeG[Piece]
	bytes   int // data bytes held
	cost    int // what the pieces cost: their copies and PieceCost each
	steps   int // comparisons made: tests pin linear growth on it
}

// Len returns the number of pieces held.
func (b *Buffer) Len() int {
	if b.tree == nil {
		return 0
	}
	return b.tree.Len()
}

// Steps returns the comparisons made so far: tests pin linear growth on it.
func (b *Buffer) Steps() int { return b.steps }

// Bytes returns the data bytes held.
func (b *Buffer) Bytes() int { return b.bytes }

// Cost returns what the pieces held cost: their copies and PieceCost each,
// as charged.
func (b *Buffer) Cost() int { return b.cost }

// Insert keeps a copy of the bytes of data, at off, that no piece holds
// yet: for overlapping bytes the first copy wins, and the pieces held never
// overlap, so the bytes held are distinct ones. conflict reports that
// overlapping bytes differed from those held. It is Refused when a copy
// would make the Cost pass limit or the budget refuses it (copies
// of earlier gaps may have been kept), Duplicate when every byte was held.
// Its cost is O(log n) for each piece it meets, and it meets at most one
// piece for each byte of data. data is not retained.
func (b *Buffer) Insert(off uint64, data []byte, ts time.Time, limit int) (r Result, conflict bool) {
	r = Duplicate
	for len(data) > 0 {
		if last, ok := b.last(); ok && off >= last.End() {
			// Past every piece, as segments after a hole mostly come: no
			// piece to meet, and the search for one is spared.
			return b.keep(off, data, ts, limit, conflict)
		}
		if p, ok := b.atOrBefore(off); ok && p.End() > off {
			n := min(p.End()-off, uint64(len(data)))
			conflict = conflict || !bytes.Equal(p.Data[off-p.Offset:][:n], data[:n])
			data, off = data[n:], off+n
			continue
		}
		// A gap up to the next piece, or past the end of data.
		n := uint64(len(data))
		if p, ok := b.after(off); ok && p.Offset < off+n {
			n = p.Offset - off
		}
		if r, _ = b.keep(off, data[:n], ts, limit, false); r == Refused {
			return Refused, conflict
		}
		data, off = data[n:], off+n
	}
	return r, conflict
}

// keep inserts a copy of data at off, where no piece holds a byte of it.
func (b *Buffer) keep(off uint64, data []byte, ts time.Time, limit int, conflict bool) (Result, bool) {
	if b.cost+PieceCost+len(data) > limit {
		return Refused, conflict
	}
	c := append([]byte(nil), data...)
	if !b.Account.Charge(PieceCost + cap(c)) {
		return Refused, conflict
	}
	b.cost += PieceCost + cap(c)
	if b.tree == nil {
		b.tree = btree.NewWithFreeListG(degree, func(x, y Piece) bool { b.steps++; return x.Offset < y.Offset }, freeList)
	}
	b.tree.ReplaceOrInsert(Piece{Offset: off, Data: c, Time: ts})
	b.bytes += len(c)
	return Kept, conflict
}

// last returns the piece with the highest offset: it ends last, as pieces
// never overlap.
func (b *Buffer) last() (Piece, bool) {
	if b.tree == nil {
		return Piece{}, false
	}
	return b.tree.Max()
}

func (b *Buffer) atOrBefore(off uint64) (p Piece, ok bool) {
	if b.tree == nil {
		return p, false
	}
	b.tree.DescendLessOrEqual(Piece{Offset: off}, func(x Piece) bool { p, ok = x, true; return false })
	return p, ok
}

func (b *Buffer) after(off uint64) (p Piece, ok bool) {
	if b.tree == nil {
		return p, false
	}
	b.tree.AscendGreaterOrEqual(Piece{Offset: off + 1}, func(x Piece) bool { p, ok = x, true; return false })
	return p, ok
}

// First returns the piece with the lowest offset.
func (b *Buffer) First() (Piece, bool) {
	if b.tree == nil {
		return Piece{}, false
	}
	return b.tree.Min()
}

// PopFirst removes and returns the piece with the lowest offset. Its Data
// is the caller's.
func (b *Buffer) PopFirst() (Piece, bool) {
	if b.tree == nil {
		return Piece{}, false
	}
	p, ok := b.tree.DeleteMin()
	if ok {
		b.release(p)
	}
	if b.tree.Len() == 0 {
		b.tree = nil
	}
	return p, ok
}

func (b *Buffer) release(p Piece) {
	b.bytes -= len(p.Data)
	b.cost -= PieceCost + cap(p.Data)
	b.Account.Release(PieceCost + cap(p.Data))
}

// Clear drops every piece and returns how many data bytes were held and
// the end of the furthest piece (0 when empty).
func (b *Buffer) Clear() (n int, end uint64) {
	if b.tree == nil {
		return 0, 0
	}
	n = b.bytes
	b.tree.Ascend(func(p Piece) bool {
		end = max(end, p.End())
		b.release(p)
		return true
	})
	b.tree = nil
	return n, end
}
