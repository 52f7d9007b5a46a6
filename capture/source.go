package capture

import (
	"errors"
	"fmt"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Source is where packets come from: files (Merge) or an interface (Live).
type Source interface {
	// Next reads the next TCP segment or UDP datagram into p; p.Payload is valid until the
	// next call. It returns io.EOF at the end, ErrNoPacket when a live
	// source had nothing for a while.
	Next(p *Packet) error
	Stats() Stats
	Close() error
}

// Waiter is a source whose next packet may be long in coming when Piped:
// a capture read from a pipe. Waits says whether the next Next may wait, so
// that what was read before is passed on; Interrupt, from any goroutine,
// has Next return io.EOF instead of waiting, so that a stopped run ends
// without the next packet. Piped does not change: a reader asks it once,
// and asks nothing per packet of regular files.
type Waiter interface {
	Piped() bool
	Waits() bool
	Interrupt()
}

// Sharded is a source read by several workers at once, each through one of
// its shards: a live capture whose kernel fans the flows out (OpenFanout).
type Sharded interface {
	Source
	Shards() []Source
}

// ErrNoPacket is returned by a live source when no packet came within its
// read timeout; the caller may do housekeeping and call Next again.
var ErrNoPacket = errors.New("no packet yet")

// ErrNoLibpcap is returned for live capture and BPF filters by a build
// without libpcap.
var ErrNoLibpcap = errors.New("this tlssniff was built without libpcap (CGO_ENABLED=0)")

// LiveConfig is how an interface is opened; zero values take libpcap's
// defaults (promiscuous mode on).
type LiveConfig struct {
	SnapLen     int    // bytes kept per packet; 0 for 262144
	NoPromisc   bool   // do not put the interface in promiscuous mode
	BufferBytes int    // kernel buffer size; 0 for 32 MiB
	Filter      string // BPF expression, tcpdump syntax
}

// KernelCounter is a live source whose kernel counts may be read while it
// is being read (Live, Fanout).
type KernelCounter interface {
	KernelStats() (KernelStats, bool)
}

// KernelStats is what libpcap reports of a live capture.
type KernelStats struct {
	Received  uint64 // packets the filter accepted
	Dropped   uint64 // dropped by the kernel: no room in the buffer
	IfDropped uint64 // dropped by the interface or its driver
}

// Interface is a network interface to capture on.
type Interface struct {
	Name, Description string
	Addresses         []string
}

// LiveError is an interface that could not be opened, with a hint.
type LiveError struct {
	Iface string
	Err   error
	Hint  string
}

func (e *LiveError) Error() string { return fmt.Sprintf("capture on %s: %v", e.Iface, e.Err) }
func (e *LiveError) Unwrap() error { return e.Err }

// FilterError is a BPF expression libpcap refused.
type FilterError struct {
	Expr string
	Err  error
}

func (e *FilterError) Error() string { return fmt.Sprintf("filter %q: %v", e.Expr, e.Err) }
func (e *FilterError) Unwrap() error { return e.Err }

// count adds one decoded frame to the counts and reports whether it is a
// TCP segment to return; it sets p's time and what the snapshot length cut.
func (s *Stats) count(r result, lt layers.LinkType, data []byte, ci gopacket.CaptureInfo, p *Packet) bool {
	s.Packets++
	s.Bytes += uint64(len(data))
	switch r {
	case resultTCP, resultUDP:
		p.Time = ci.Timestamp
		p.Frame, p.LinkType, p.Length = data, lt, ci.Length
		p.Missing = 0
		if p.Truncated && ci.Length > ci.CaptureLength {
			p.Missing = ci.Length - ci.CaptureLength
		}
		if r == resultUDP {
			s.UDP++
		} else {
			s.TCP++
		}
		return true
	case resultOther:
		s.Other++
	case resultFragment:
		s.Fragments++
	default:
		s.Undecoded++
	}
	return false
}

// filterFunc keeps a frame of link type lt when it returns true.
type filterFunc func(lt layers.LinkType, data []byte, ci gopacket.CaptureInfo) bool
