package capture

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Packet is one TCP segment read from a capture.
type Packet struct {
	Time     time.Time
	Src, Dst netip.AddrPort
	Seq, Ack uint32
	Flags    uint8
	// Payload is the captured TCP payload. It is valid only until the next
	// call to Next on the source that returned it.
	Payload []byte
	// UDP marks a UDP datagram; Seq, Ack and Flags are then zero.
	UDP bool
	// Truncated is set when the capture cut the packet short (snaplen);
	// Missing is then how many bytes of the frame were not captured.
	Truncated bool
	Missing   int
	// Tunnel names the tunnels the packet came through, outermost first
	// ("gre/erspan", "vxlan", "mpls"); empty when none.
	Tunnel string
	// Frame is the captured frame the packet was decoded from (for an IP
	// datagram put together from fragments, its last fragment), with its
	// link type and its length on the wire, to write it out again (-w).
	// It is valid only until the next call to Next, as Payload.
	Frame    []byte
	LinkType layers.LinkType
	Length   int
	// Hold, when set, can keep Frame and Payload valid past the next call
	// to Next (a classic pcap file's records and the packets decoded in
	// place from them).
	Hold *Hold
}

// Stats counts what a source read and what it could not use.
type Stats struct {
	Packets   uint64 // frames read
	Bytes     uint64 // captured bytes read
	TCP       uint64 // TCP segments returned
	UDP       uint64 // UDP datagrams returned
	Other     uint64 // frames without TCP or UDP (ARP, ICMP, …)
	Fragments uint64 // IP fragments taken in; a datagram's last is counted as what it completes
	// DatagramsDropped counts datagrams whose fragments were given up to
	// bound memory.
	DatagramsDropped uint64
	Undecoded        uint64 // frames that could not be decoded
	// UnknownInterface counts pcapng packets skipped because they name an
	// interface their section does not describe (or one past the
	// MaxInterfaces kept); InterfacesDropped the descriptions past it.
	UnknownInterface, InterfacesDropped uint64
	Kernel                              *KernelStats // a live capture's, from libpcap
}

// Add returns the counts of s and o together.
func (s Stats) Add(o Stats) Stats {
	s.Packets += o.Packets
	s.Bytes += o.Bytes
	s.TCP += o.TCP
	s.UDP += o.UDP
	s.Other += o.Other
	s.Fragments += o.Fragments
	s.DatagramsDropped += o.DatagramsDropped
	s.Undecoded += o.Undecoded
	s.UnknownInterface += o.UnknownInterface
	s.InterfacesDropped += o.InterfacesDropped
	if o.Kernel != nil {
		k := KernelStats{}
		if s.Kernel != nil {
			k = *s.Kernel
		}
		k.Received += o.Kernel.Received
		k.Dropped += o.Kernel.Dropped
		k.IfDropped += o.Kernel.IfDropped
		s.Kernel = &k
	}
	return s
}

// ErrNotCapture is returned by Open for a file that is neither pcap nor pcapng.
var ErrNotCapture = errors.New("not a pcap or pcapng file")

// packetReader is what pcapgo's pcap and pcapng readers have in common.
type packetReader interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

// File reads TCP segments from one pcap or pcapng file.
type File struct {
	name   string
	closer io.Closer
	pump   *pump // reads the input when it is not a regular file: a pipe, a socket, a terminal
	r      packetReader
	ng     *pcapgo.NgReader // nil for pcap
	pcap   *pcapReader      // nil for pcapng
	link   layers.LinkType  // pcap's one link type
	dec    *decoder
	filter filterFunc // nil keeps every frame
	stats  Stats
	// Key logs of the Decryption Secrets Blocks read before onSecrets was
	// set, and what receives them.
	secrets   [][]byte
	onSecrets func(keyLog []byte)
}

// OnSecrets has fn receive the TLS key log of every pcapng Decryption
// Secrets Block: those read so far at once, the others as the reading
// meets them, before the packets that follow them. keyLog is fn's to keep.
func (f *File) OnSecrets(fn func(keyLog []byte)) {
	for _, s := range f.secrets {
		fn(s)
	}
	f.secrets, f.onSecrets = nil, fn
}

// secretsBlock takes a Decryption Secrets Block's key log.
func (f *File) secretsBlock(keyLog []byte) {
	if f.onSecrets != nil {
		f.onSecrets(keyLog)
	} else {
		f.secrets = append(f.secrets, keyLog)
	}
}

// Open opens a pcap or pcapng file, gzip-compressed or not; "-" reads
// standard input. The format is found by magic number, never by name.
func Open(name string) (*File, error) {
	var f io.ReadCloser = os.Stdin
	if name != "-" {
		file, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		if st, err := file.Stat(); err == nil && st.IsDir() {
			file.Close()
			return nil, fmt.Errorf("%s: is a directory", name)
		}
		f = file
	}
	file, err := newFile(name, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return file, nil
}

func newFile(name string, rc io.ReadCloser) (_ *File, err error) {
	var in io.Reader = rc
	var pumped *pump
	if f, ok := rc.(*os.File); ok {
		if st, statErr := f.Stat(); statErr == nil && !st.Mode().IsRegular() {
			pumped = newPump(f)
			in = pumped
			defer func() {
				if err != nil {
					pumped.interrupt() // its goroutine ends with its read
				}
			}()
		}
	}
	// Smaller than a pcap read (readSize), so that those go straight
	// from the file to a slab.
	br := bufio.NewReaderSize(in, 1<<16)
	magic, _ := br.Peek(4)
	var src io.Reader = br
	if len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, ErrNotCapture)
		}
		zr := bufio.NewReaderSize(gz, 1<<16)
		magic, _ = zr.Peek(4)
		src = zr
	}
	file := &File{name: name, closer: rc, pump: pumped, dec: newDecoder()}
	switch {
	case len(magic) < 4:
		return nil, fmt.Errorf("%s: %w", name, ErrNotCapture)
	case magic[0] == 0x0a && magic[1] == 0x0d && magic[2] == 0x0d && magic[3] == 0x0a:
		// Without WantMixedLinkType pcapgo silently drops the packets of
		// interfaces whose link type differs from the first one's.
		ng, err := pcapgo.NewNgReader(&ngFilter{r: src, stats: &file.stats, secrets: file.secretsBlock},
			pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			return nil, fmt.Errorf("%s: bad pcapng header: %v", name, err)
		}
		file.r, file.ng = ng, ng
		if err := file.checkNgLinks(); err != nil {
			return nil, err
		}
	case isPcapMagic(magic):
		r, link, err := newPcapReader(src)
		if err != nil {
			return nil, fmt.Errorf("%s: bad pcap header: %v", name, err)
		}
		file.r, file.pcap, file.link = r, r, link
		if !supported(file.link) {
			return nil, unsupportedLink(name, file.link)
		}
	default:
		return nil, fmt.Errorf("%s: %w", name, ErrNotCapture)
	}
	return file, nil
}

func isPcapMagic(m []byte) bool {
	switch uint32(m[0])<<24 | uint32(m[1])<<16 | uint32(m[2])<<8 | uint32(m[3]) {
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1: // µs and ns, both byte orders
		return true
	}
	return false
}

func unsupportedLink(name string, lt layers.LinkType) error {
	return fmt.Errorf("%s: unsupported link type %d (%s)", name, int(lt), lt)
}

// checkNgLinks fails when no interface of a pcapng file has a link type this
// package decodes.
func (f *File) checkNgLinks() error {
	var first layers.LinkType
	for i := 0; i < f.ng.NInterfaces(); i++ {
		iface, err := f.ng.Interface(i)
		if err != nil {
			continue
		}
		if supported(iface.LinkType) {
			return nil
		}
		if i == 0 {
			first = iface.LinkType
		}
	}
	if f.ng.NInterfaces() == 0 {
		return nil
	}
	return unsupportedLink(f.name, first)
}

// Piped reports whether the file is read from a pipe, a socket or a
// terminal, whose next packet may be long in coming.
func (f *File) Piped() bool { return f.pump != nil }

// Waits reports whether the next Next may wait for bytes not yet written:
// the input is a pipe (tcpdump -w - | tlssniff -r -) and nothing more of it
// has been read, though what was may still hold packets. A regular file
// never waits.
func (f *File) Waits() bool { return f.pump != nil && f.pump.waits() }

// Interrupt ends a pipe's input where it is: Next returns io.EOF instead of
// waiting for more. It may be called from any goroutine; a regular file,
// which never waits, reads on.
func (f *File) Interrupt() {
	if f.pump != nil {
		f.pump.interrupt()
	}
}

// Name is the name the file was opened with.
func (f *File) Name() string { return f.name }

// Stats returns the counts so far.
func (f *File) Stats() Stats {
	s := f.stats
	s.DatagramsDropped = f.dec.defrag.dropped
	return s
}

// Close closes the file.
func (f *File) Close() error {
	f.Interrupt() // the pump's goroutine ends with its read
	return f.closer.Close()
}

// Next reads the next TCP segment into p. It returns io.EOF at the end of
// the file and a *ReadError when the file is truncated or corrupt.
func (f *File) Next(p *Packet) error {
	for {
		data, ci, err := f.r.ZeroCopyReadPacketData()
		if err != nil {
			if err == io.EOF || f.pump != nil && f.pump.interrupted() { // a record cut by Interrupt is no error
				return io.EOF
			}
			return &ReadError{Name: f.name, Packet: f.stats.Packets + 1, Err: err}
		}
		lt := f.link
		if f.ng != nil {
			iface, err := f.ng.Interface(ci.InterfaceIndex)
			if err != nil {
				f.stats.Packets++
				f.stats.Undecoded++
				continue
			}
			lt = iface.LinkType
		}
		if f.filter != nil && !f.filter(lt, data, ci) {
			continue
		}
		if f.stats.count(f.dec.decode(lt, data, p), lt, data, ci, p) {
			p.Hold = nil
			if f.pcap != nil {
				p.Hold = f.pcap.held(p.Payload)
			}
			return nil
		}
	}
}

// ReadError says where a capture file stopped being readable.
type ReadError struct {
	Name   string
	Packet uint64 // 1-based number of the packet that could not be read
	Err    error
}

func (e *ReadError) Error() string {
	reason := e.Err.Error()
	if errors.Is(e.Err, io.ErrUnexpectedEOF) {
		reason = "file is truncated"
	}
	return fmt.Sprintf("%s: stopped at packet %d: %s", e.Name, e.Packet, reason)
}

func (e *ReadError) Unwrap() error { return e.Err }
