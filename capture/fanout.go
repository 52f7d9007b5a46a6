//go:build cgo && linux

package capture

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Fanout is a live capture read by several workers: one AF_PACKET socket
// each, joined in a PACKET_FANOUT_HASH group, so that the kernel hands
// each socket whole flows (its hash is symmetric, and IP fragments are
// put together first) and no single reader caps the rate. The BPF filter
// and the snapshot length apply on every socket. Its sockets are read
// through Shards, not Next.
type Fanout struct {
	name   string
	link   layers.LinkType
	snap   int
	shards []*fanoutShard
}

// fanoutShard is one socket of a Fanout.
type fanoutShard struct {
	tp    *afpacket.TPacket
	link  layers.LinkType
	name  string
	dec   *decoder
	stats Stats
	kmu   sync.Mutex // the socket's counts are read from other goroutines too (--metrics)
}

// fanoutGroups counts the groups this process made.
var fanoutGroups atomic.Uint32

// blockSize is an AF_PACKET ring block: TPACKET_V3 packs packets in it by
// their size, as libpcap does.
const blockSize = 1 << 20

// OpenFanout starts capturing on iface with n sockets in one fanout group.
func OpenFanout(iface string, cfg LiveConfig, n int) (Sharded, error) {
	snap := cfg.SnapLen
	if snap == 0 {
		snap = 262144
	}
	// libpcap says what the interface is (and whether it may be opened),
	// and compiles the filter, with the snapshot length in its returns.
	probe, err := pcap.OpenLive(iface, 64, false, time.Millisecond)
	if err != nil {
		return nil, liveError(iface, err)
	}
	link := probe.LinkType()
	probe.Close()
	if !supported(link) {
		return nil, unsupportedLink(iface, link)
	}
	prog, err := pcap.CompileBPFFilter(link, snap, cfg.Filter)
	if err != nil {
		return nil, &FilterError{Expr: cfg.Filter, Err: err}
	}
	var raw []bpf.RawInstruction
	if ifc, err := net.InterfaceByName(iface); err == nil && ifc.Flags&net.FlagLoopback != 0 {
		// A socket on loopback sees each packet leave and come back;
		// libpcap keeps one of the two, so do these (the filter's jumps
		// are relative: what comes before them does not move them).
		raw, err = bpf.Assemble([]bpf.Instruction{
			bpf.LoadExtension{Num: bpf.ExtType},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.PACKET_OUTGOING, SkipFalse: 1},
			bpf.RetConstant{Val: 0},
		})
		if err != nil {
			return nil, err
		}
	}
	for _, ins := range prog {
		raw = append(raw, bpf.RawInstruction{Op: ins.Code, Jt: ins.Jt, Jf: ins.Jf, K: ins.K})
	}
	buf := cfg.BufferBytes
	if buf == 0 {
		buf = defaultBuffer
	}
	f := &Fanout{name: iface, link: link, snap: snap}
	id := uint16(os.Getpid()) + uint16(fanoutGroups.Add(1)) // a group of its own
	for i := range n {
		tp, err := afpacket.NewTPacket(afpacket.OptInterface(iface), afpacket.OptTPacketVersion(afpacket.TPacketVersion3),
			afpacket.OptBlockSize(blockSize), afpacket.OptFrameSize(blockSize), afpacket.OptNumBlocks(max(buf/n/blockSize, 2)),
			afpacket.OptBlockTimeout(readTimeout), afpacket.OptPollTimeout(readTimeout))
		if err == nil {
			err = errors.Join(tp.SetBPF(raw), tp.SetPromiscuous(!cfg.NoPromisc),
				tp.SetFanout(afpacket.FanoutHash|afpacket.FanoutHashWithDefrag, id))
			if err != nil {
				tp.Close()
			}
		}
		if err != nil {
			f.Close()
			return nil, liveError(iface, err)
		}
		f.shards = append(f.shards, &fanoutShard{tp: tp, link: link, name: fmt.Sprintf("%s socket %d", iface, i+1), dec: newDecoder()})
	}
	return f, nil
}

// Shards returns a Source for each socket, to be read by its own worker.
func (f *Fanout) Shards() []Source {
	out := make([]Source, len(f.shards))
	for i, s := range f.shards {
		out[i] = s
	}
	return out
}

// Next is not how a Fanout is read: its Shards are.
func (f *Fanout) Next(*Packet) error {
	return errors.New("capture: a fanout is read through its shards")
}

// String describes the capture as tcpdump does, with its sockets.
func (f *Fanout) String() string {
	return fmt.Sprintf("%s, link-type %s (%s), snapshot length %d bytes, %d sockets in a fanout group", f.name,
		pcap.DatalinkValToName(int(f.link)), pcap.DatalinkValToDescription(int(f.link)), f.snap, len(f.shards))
}

// KernelStats adds up the kernel's counts of the sockets; it may be called
// while they are read.
func (f *Fanout) KernelStats() (KernelStats, bool) {
	var sum KernelStats
	for _, sh := range f.shards {
		ks, ok := sh.KernelStats()
		if !ok {
			return sum, false
		}
		sum.Received, sum.Dropped = sum.Received+ks.Received, sum.Dropped+ks.Dropped
	}
	return sum, true
}

// Stats adds up the sockets' counts and the kernel's.
func (f *Fanout) Stats() Stats {
	var s Stats
	for _, sh := range f.shards {
		s = s.Add(sh.Stats())
	}
	return s
}

// Close stops every socket.
func (f *Fanout) Close() error {
	for _, s := range f.shards {
		s.tp.Close()
	}
	return nil
}

func (s *fanoutShard) Next(p *Packet) error {
	for {
		data, ci, err := s.tp.ZeroCopyReadPacketData()
		switch {
		case errors.Is(err, afpacket.ErrTimeout):
			return ErrNoPacket
		case err != nil:
			return fmt.Errorf("%s: %w", s.name, err)
		}
		if s.stats.count(s.dec.decode(s.link, data, p), s.link, data, ci, p) {
			return nil
		}
	}
}

// Stats returns the socket's counts, with the kernel's.
func (s *fanoutShard) Stats() Stats {
	st := s.stats
	st.DatagramsDropped = s.dec.defrag.dropped
	ks, _ := s.KernelStats()
	st.Kernel = &ks
	return st
}

// KernelStats returns the kernel's counts of the socket (which reset when
// read: afpacket adds them up); it may be called while the socket is read.
func (s *fanoutShard) KernelStats() (KernelStats, bool) {
	s.kmu.Lock()
	defer s.kmu.Unlock()
	if _, v3, err := s.tp.SocketStats(); err == nil {
		return KernelStats{Received: uint64(v3.Packets()), Dropped: uint64(v3.Drops())}, true
	}
	return KernelStats{}, false
}

func (s *fanoutShard) Close() error { return nil }
