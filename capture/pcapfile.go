package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Hold is a slab of SlabSize bytes that stays valid while anyone holds
// it, and goes back to its Slabs when the last lets go. A classic pcap
// file's records are read into them, so a Packet's Frame and Payload, with
// its Hold, stay valid after the next call to Next for as long as a caller
// that called Keep has not called Release; pipeline's feed hands packets
// to several workers this way, without copying them, and copies those of
// other sources into slabs of its own.
type Hold struct {
	buf  []byte
	refs atomic.Int32
	from *Slabs
}

// Bytes returns the slab.
func (h *Hold) Bytes() []byte { return h.buf }

// Keep keeps the slab's bytes until Release; call it before the next call
// to Next.
func (h *Hold) Keep() { h.refs.Add(1) }

// Release gives back what Keep or Slabs.Get held. It may be called from
// any goroutine.
func (h *Hold) Release() {
	if h.refs.Add(-1) != 0 {
		return
	}
	select {
	case h.from.free <- h:
	default: // enough are free: let this one go
	}
}

// Slabs recycles the slabs of Holds.
type Slabs struct{ free chan *Hold }

// NewSlabs returns a pool that keeps up to 64 free slabs.
func NewSlabs() *Slabs { return &Slabs{free: make(chan *Hold, 64)} }

// Get returns a slab, held once by the caller.
func (s *Slabs) Get() *Hold {
	var h *Hold
	select {
	case h = <-s.free:
	default:
		h = &Hold{buf: make([]byte, SlabSize), from: s}
	}
	h.refs.Store(1)
	return h
}

const (
	// SlabSize is the bytes of a Hold's slab. A pcap record longer than
	// that (only a file declaring a snap length above libpcap's 262,144
	// has one) is read into a buffer of its own, without a Hold.
	SlabSize = 1 << 20
	// readSize is the most read from the file at once: 256 KiB reads were
	// faster than 1 MiB ones on bench/mix-1024.pcap (145–178 against
	// 162–293 ms a GB for the bare loop), as the bytes read are still in
	// the CPU's cache when they are decoded.
	readSize = 256 << 10
)

// pcapReader reads the records of a classic pcap file straight into slabs
// and returns them in place. pcapgo's Reader returns the same bytes (its
// NewReader still checks the file header), but copies each record twice on
// the way, through a bufio.Reader of its own and its packet buffer, and a
// pipeline sharing packets with several workers needed a third copy. In a
// pprof of make bench's BenchmarkPipeline (summary, one worker, on
// bench/mix-1024.pcap) reading was 1.30 s of the worker's 3.20 s; test
// binaries before and after, alternated four times: NDJSON with one worker
// 743 against 617 ms (median), 57.5 against 49.6 CPU-µs a connection.
// Mapping the file instead (mmap, slabs as windows of it) saves the
// kernel's copy but was 3 to 4 times slower on the virtual machine of
// make bench's figures: BenchmarkFile took 565 to 745 ms against 172 to
// 176, with or without MADV_POPULATE_READ, as faulting each page in cost
// more than copying it. Its errors are pcapgo's, word for word, at the
// same records (FuzzPcapReader).
type pcapReader struct {
	r      io.Reader
	big    bool   // the file's byte order (u32)
	factor uint32 // nanoseconds per unit of the timestamp's fraction
	max    int    // the longest record taken, as pcapgo's
	snap   uint32

	slab       *Hold // the slab being read, held by the reader
	start, end int   // its bytes not yet returned
	err        error // what the file's reader returned last, once the slab's bytes run out
	slabs      *Slabs
}

// newPcapReader reads a classic pcap file whose header begins r.
func newPcapReader(r io.Reader) (*pcapReader, layers.LinkType, error) {
	var hdr [24]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, 0, err
	}
	check, err := pcapgo.NewReader(bytes.NewReader(hdr[:]))
	if err != nil {
		return nil, 0, err
	}
	pr := &pcapReader{r: r, big: true, factor: 1000, snap: check.Snaplen(), slabs: NewSlabs()}
	switch binary.LittleEndian.Uint32(hdr[:4]) { // pcapgo took the magic
	case 0xa1b2c3d4:
		pr.big = false
	case 0xa1b23c4d:
		pr.big, pr.factor = false, 1
	case 0x4d3cb2a1:
		pr.factor = 1
	}
	pr.max = 262144
	if pr.snap > 262144 {
		pr.max = int(pr.snap) // as pcapgo: negative in a 32-bit int past 2^31
	}
	pr.slab = pr.slabs.Get()
	return pr, check.LinkType(), nil
}

// held is the Hold of b, bytes of the record returned last, when they are
// in its slab (a datagram put together from IP fragments is elsewhere).
func (r *pcapReader) held(b []byte) *Hold {
	if cap(b) == 0 || &b[:cap(b)][cap(b)-1] != &r.slab.buf[SlabSize-1] {
		return nil
	}
	return r.slab
}

// fill makes the slab hold n unread bytes, moving what is unread to a new
// slab first when they would not fit after it, and returns how many it
// holds: fewer than n only when the file ended or failed.
func (r *pcapReader) fill(n int) int {
	if r.start+n > SlabSize {
		next := r.slabs.Get()
		r.end = copy(next.buf, r.slab.buf[r.start:r.end])
		r.start = 0
		r.slab.Release()
		r.slab = next
	}
	for r.end-r.start < n && r.err == nil {
		k, err := r.r.Read(r.slab.buf[r.end:min(max(r.end+readSize, r.start+n), SlabSize)])
		r.end += k
		r.err = err
	}
	return r.end - r.start
}

// ZeroCopyReadPacketData returns the next record, valid until the next
// call (longer, through its Hold).
func (r *pcapReader) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	var ci gopacket.CaptureInfo
	if got := r.fill(16); got < 16 {
		return nil, ci, r.short(got)
	}
	h := r.slab.buf[r.start : r.start+16]
	ci.Timestamp = time.Unix(int64(r.u32(h[0:4])), int64(r.u32(h[4:8])*r.factor)).UTC()
	ci.CaptureLength = int(r.u32(h[8:12]))
	ci.Length = int(r.u32(h[12:16]))
	r.start += 16
	switch {
	case ci.CaptureLength > r.max:
		return nil, ci, fmt.Errorf("capture length exceeds snap length: %d > %d", ci.CaptureLength, r.snap)
	case ci.CaptureLength > ci.Length:
		return nil, ci, fmt.Errorf("capture length exceeds original packet length: %d > %d", ci.CaptureLength, ci.Length)
	case ci.CaptureLength < 0: // a uint32 past 2^31 in a 32-bit int
		return nil, ci, errors.New("length from file does not fit in int")
	case ci.CaptureLength > SlabSize:
		data, err := r.long(ci.CaptureLength)
		return data, ci, err
	}
	if got := r.fill(ci.CaptureLength); got < ci.CaptureLength {
		return nil, ci, r.short(got)
	}
	data := r.slab.buf[r.start : r.start+ci.CaptureLength]
	r.start += ci.CaptureLength
	return data, ci, nil
}

// u32 reads a record header's field in the file's byte order: a flag, not
// a binary.ByteOrder, whose four calls through the interface at every
// record were not inlined.
func (r *pcapReader) u32(b []byte) uint32 {
	if r.big {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

// short is the error of a read that found got bytes of a record's header
// or data, and then the end of the file or an error: io.ReadFull's.
func (r *pcapReader) short(got int) error {
	switch {
	case !errors.Is(r.err, io.EOF):
		return r.err
	case got > 0:
		return io.ErrUnexpectedEOF
	}
	return io.EOF
}

// long reads a record longer than a slab into a buffer that grows with
// the bytes actually read, so that a length on the wire sizes nothing.
func (r *pcapReader) long(n int) ([]byte, error) {
	var buf bytes.Buffer
	buf.Write(r.slab.buf[r.start:r.end])
	r.start = r.end
	if r.err == nil {
		_, r.err = io.CopyN(&buf, r.r, int64(n-buf.Len()))
	}
	if buf.Len() < n {
		return nil, r.short(buf.Len())
	}
	return buf.Bytes(), nil
}
