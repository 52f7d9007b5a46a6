package parser

import (
	"time"

	"github.com/tlssniff/tlssniff/reorder"
)

// QUIC's CRYPTO frames carry the handshake at offsets (RFC 9000, section
// 19.6), and may come out of order, twice, or overlapping.

// cryptoStream puts one direction's CRYPTO data back in order.
type cryptoStream struct {
	next uint64
	held reorder.Buffer // frames ahead of next
}

// maxCryptoHeld bounds what the out-of-order CRYPTO frames kept per
// direction cost (reorder.Buffer.Cost).
const maxCryptoHeld = 64 << 10

// add takes one frame and returns the bytes now contiguous: f.data itself
// when nothing was held, valid until the next call. refused says the frame
// came ahead of a hole and could not be held: it is lost.
func (c *cryptoStream) add(f cryptoFrame, ts time.Time) (out []byte, refused bool) {
	end := f.offset + uint64(len(f.data))
	if end <= c.next {
		return nil, false // a retransmission
	}
	if f.offset > c.next {
		r, _ := c.held.Insert(f.offset, f.data, ts, maxCryptoHeld)
		return nil, r == reorder.Refused
	}
	out = f.data[c.next-f.offset:]
	c.next = end
	owned := false // out is f.data until held bytes join it
	for {
		p, ok := c.held.First()
		if !ok || p.Offset > c.next {
			return out, false
		}
		c.held.PopFirst()
		if p.End() > c.next {
			if !owned {
				out, owned = append([]byte(nil), out...), true
			}
			out = append(out, p.Data[c.next-p.Offset:]...)
			c.next = p.End()
		}
	}
}
