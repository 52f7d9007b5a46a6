//go:build cgo

package capture

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"
)

// LiveSupported is true in a build with libpcap (cgo).
const LiveSupported = true

// readTimeout is how long Live.Next waits for a packet before it returns
// ErrNoPacket, so that the caller can flush idle flows and notice signals.
const readTimeout = 100 * time.Millisecond

// defaultBuffer is the kernel buffer unless -B says otherwise: libpcap's
// 2 MB overflows in the bursts of a busy server.
const defaultBuffer = 32 << 20

// Live reads TCP segments from a network interface through libpcap.
type Live struct {
	name  string
	h     *pcap.Handle
	link  layers.LinkType
	dec   *decoder
	stats Stats
	kmu   sync.Mutex // libpcap's counts are read from other goroutines too (--metrics)
}

// OpenLive starts capturing on the interface named iface.
func OpenLive(iface string, cfg LiveConfig) (Source, error) {
	ih, err := pcap.NewInactiveHandle(iface)
	if err != nil {
		return nil, liveError(iface, err)
	}
	defer ih.CleanUp()
	snap := cfg.SnapLen
	if snap == 0 {
		snap = 262144
	}
	buf := cfg.BufferBytes
	if buf == 0 {
		buf = defaultBuffer
	}
	// Not immediate mode: libpcap then uses TPACKET_V3, whose blocks pack
	// packets by their size, where immediate mode's fixed slots of snaplen
	// bytes hold a handful of packets and drop bursts. Blocks are handed
	// over at readTimeout at the latest.
	for _, set := range []error{
		ih.SetSnapLen(snap),
		ih.SetPromisc(!cfg.NoPromisc),
		ih.SetTimeout(readTimeout),
		ih.SetBufferSize(buf),
	} {
		if set != nil {
			return nil, liveError(iface, set)
		}
	}
	h, err := ih.Activate()
	if err != nil {
		return nil, liveError(iface, err)
	}
	if cfg.Filter != "" {
		if err := h.SetBPFFilter(cfg.Filter); err != nil {
			h.Close()
			return nil, &FilterError{Expr: cfg.Filter, Err: err}
		}
	}
	if !supported(h.LinkType()) {
		h.Close()
		return nil, unsupportedLink(iface, h.LinkType())
	}
	return &Live{name: iface, h: h, link: h.LinkType(), dec: newDecoder()}, nil
}

// Next reads the next TCP segment into p; p.Payload is valid until the
// next call. It returns ErrNoPacket when none came within readTimeout.
func (l *Live) Next(p *Packet) error {
	for {
		data, ci, err := l.h.ZeroCopyReadPacketData()
		switch {
		case errors.Is(err, pcap.NextErrorTimeoutExpired):
			return ErrNoPacket
		case errors.Is(err, io.EOF):
			return io.EOF
		case err != nil:
			return fmt.Errorf("%s: %w", l.name, err)
		}
		if l.stats.count(l.dec.decode(l.link, data, p), l.link, data, ci, p) {
			return nil
		}
	}
}

// String describes the capture as tcpdump does once it listens: "lo,
// link-type EN10MB (Ethernet), snapshot length 262144 bytes".
func (l *Live) String() string {
	dlt := int(l.h.LinkType())
	return fmt.Sprintf("%s, link-type %s (%s), snapshot length %d bytes", l.name, pcap.DatalinkValToName(dlt),
		pcap.DatalinkValToDescription(dlt), l.h.SnapLen())
}

// Stats returns the counts so far, with the kernel's.
func (l *Live) Stats() Stats {
	s := l.stats
	s.DatagramsDropped = l.dec.defrag.dropped
	if ks, ok := l.KernelStats(); ok {
		s.Kernel = &ks
	}
	return s
}

// KernelStats returns the kernel's counts; it may be called while the
// capture is read.
func (l *Live) KernelStats() (KernelStats, bool) {
	l.kmu.Lock()
	defer l.kmu.Unlock()
	ks, err := l.h.Stats()
	if err != nil {
		return KernelStats{}, false
	}
	return KernelStats{Received: uint64(ks.PacketsReceived), Dropped: uint64(ks.PacketsDropped), IfDropped: uint64(ks.PacketsIfDropped)}, true
}

// Close stops the capture.
func (l *Live) Close() error {
	l.h.Close()
	return nil
}

// liveError explains why an interface could not be opened, with what the
// user can do about it.
func liveError(iface string, err error) error {
	msg := strings.ToLower(err.Error())
	switch {
	case strings.Contains(msg, "permission") || strings.Contains(msg, "not permitted"):
		return &LiveError{Iface: iface, Err: err, Hint: "capturing needs root or the capabilities: run with sudo, or " +
			"sudo setcap cap_net_raw,cap_net_admin+eip $(command -v tlssniff)"}
	case strings.Contains(msg, "no such device") || strings.Contains(msg, "doesn't exist"):
		hint := "list the interfaces with tlssniff -D"
		if names, err := interfaceNames(); err == nil && len(names) > 0 {
			hint = "the interfaces are: " + strings.Join(names, ", ")
		}
		return &LiveError{Iface: iface, Err: err, Hint: hint}
	}
	return &LiveError{Iface: iface, Err: err}
}

func interfaceNames() ([]string, error) {
	ifs, err := pcap.FindAllDevs()
	var names []string
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	return names, err
}

// Interfaces lists the interfaces libpcap can capture on.
func Interfaces() ([]Interface, error) {
	ifs, err := pcap.FindAllDevs()
	if err != nil {
		return nil, err
	}
	out := make([]Interface, len(ifs))
	for i, f := range ifs {
		out[i] = Interface{Name: f.Name, Description: f.Description}
		for _, a := range f.Addresses {
			out[i].Addresses = append(out[i].Addresses, a.IP.String())
		}
	}
	return out, nil
}

// SetFilter keeps only the packets that match the BPF expression (tcpdump
// syntax), compiled by libpcap for each link type the file holds.
func (f *File) SetFilter(expr string) error {
	compiled := map[layers.LinkType]*pcap.BPF{}
	compile := func(lt layers.LinkType) (*pcap.BPF, error) {
		if b, ok := compiled[lt]; ok {
			return b, nil
		}
		b, err := pcap.NewBPF(lt, 262144, expr)
		if err != nil {
			return nil, &FilterError{Expr: expr, Err: err}
		}
		compiled[lt] = b
		return b, nil
	}
	if _, err := compile(f.firstLink()); err != nil {
		return err // a bad expression is refused before any packet is read
	}
	f.filter = func(lt layers.LinkType, data []byte, ci gopacket.CaptureInfo) bool {
		b, err := compile(lt)
		return err == nil && b.Matches(ci, data)
	}
	return nil
}

// firstLink is the link type of the file's first packets.
func (f *File) firstLink() layers.LinkType {
	if f.ng != nil {
		if iface, err := f.ng.Interface(0); err == nil {
			return iface.LinkType
		}
	}
	return f.link
}
