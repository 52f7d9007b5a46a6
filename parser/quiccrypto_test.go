package parser

import (
	"bytes"
	"testing"
	"time"

	"github.com/tlssniff/tlssniff/reorder"
)

// TestCryptoStream puts CRYPTO frames back in order: out of order,
// overlapping, retransmitted.
func TestCryptoStream(t *testing.T) {
	msg := []byte("a ClientHello too large for one Initial packet")
	var c cryptoStream
	var got []byte
	for _, f := range []cryptoFrame{{20, msg[20:30]}, {0, msg[0:12]}, {10, msg[10:25]}, {0, msg[0:5]}, {30, msg[30:]}} {
		out, _ := c.add(f, time.Time{})
		got = append(got, out...)
	}
	if !bytes.Equal(got, msg) || c.held.Len() != 0 {
		t.Errorf("got %q, %d held", got, c.held.Len())
	}
}

// FuzzCryptoStream cuts a handshake into CRYPTO frames at fuzzed offsets,
// overlapping and reordered: what comes out must be what went in, in
// order, once.
func FuzzCryptoStream(f *testing.F) {
	f.Add([]byte("a ClientHello in CRYPTO frames"), []byte{10, 5, 0, 12, 3, 30})
	f.Fuzz(func(t *testing.T, msg, ops []byte) {
		if len(msg) == 0 || len(ops) > 2048 { // storms of small frames too
			return
		}
		var c cryptoStream
		var got []byte
		for i := 0; i+1 < len(ops); i += 2 {
			off := int(ops[i]) % len(msg)
			end := min(off+int(ops[i+1])+1, len(msg))
			out, _ := c.add(cryptoFrame{uint64(off), msg[off:end]}, time.Time{})
			got = append(got, out...)
			if !bytes.HasPrefix(msg, got) {
				t.Fatalf("read %q of %q", got, msg)
			}
		}
		out, _ := c.add(cryptoFrame{0, msg}, time.Time{})
		got = append(got, out...)
		if !bytes.Equal(got, msg) {
			t.Fatalf("read %q of %q", got, msg)
		}
	})
}

// cryptoStorm sends a CRYPTO stream of n one-byte frames, all ahead of
// offset 0 and last first, then offset 0, and returns the comparisons the
// reassembly took. What is held stays within maxCryptoHeld: the frames
// past it are refused, and what was held comes out in order.
func cryptoStorm(t *testing.T, n int) int {
	var c cryptoStream
	msg := bytes.Repeat([]byte{7}, n)
	for i := n - 1; i > 0; i-- {
		out, refused := c.add(cryptoFrame{uint64(i), msg[i : i+1]}, t0)
		if out != nil {
			t.Fatalf("%d bytes out before offset 0", len(out))
		}
		if refused && c.held.Cost()+reorder.PieceCost+8 <= maxCryptoHeld {
			t.Fatalf("a frame refused with room left: %d held", c.held.Cost())
		}
		if !refused && i < n/2 {
			t.Fatalf("frame %d held past the limit", i)
		}
		if c.held.Cost() > maxCryptoHeld {
			t.Fatalf("%d bytes held past the limit", c.held.Cost())
		}
	}
	steps := c.held.Steps()
	if out, _ := c.add(cryptoFrame{0, msg[:1]}, t0); len(out) != 1 || c.held.Len() == 0 {
		t.Fatalf("%d bytes out, %d held: the frames kept were the last ones, after a hole", len(out), c.held.Len())
	}
	return steps
}

// CRYPTO frames ahead of offset 0 cost O(log n) each, held or refused
// (the drain rescanned a map of all of them before: quadratic).
func TestCryptoFrameStormIsLinear(t *testing.T) {
	small, large := cryptoStorm(t, 64_000), cryptoStorm(t, 256_000)
	ratio := float64(large) / float64(small)
	t.Logf("comparisons: %d for 64,000 frames, %d for 256,000: %.2fx", small, large, ratio)
	if ratio > 5 {
		t.Errorf("4x the frames took %.1fx the comparisons", ratio)
	}
}
