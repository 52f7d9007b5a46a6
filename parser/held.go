package parser

import "github.com/tlssniff/tlssniff/budget"

// held is what a connection keeps until it can be read — protected
// records or datagrams until their secrets come, QUIC packets until the
// Initial captured after them — copied and charged to the connection's
// account, within maxHeldRecords items and maxHeldBytes.
type held[T any] struct {
	items []T
	bytes int
}

// hold keeps item, n bytes; it reports false, keeping nothing, past the
// bounds or when the budget refuses.
func (h *held[T]) hold(mem *budget.Account, item T, n int) bool {
	if len(h.items) == maxHeldRecords || h.bytes+n > maxHeldBytes || !mem.Charge(n) {
		return false
	}
	h.items = append(h.items, item)
	h.bytes += n
	return true
}

// take returns what was kept, in order, and gives its memory back.
func (h *held[T]) take(mem *budget.Account) []T {
	items := h.items
	mem.Release(h.bytes)
	*h = held[T]{}
	return items
}
