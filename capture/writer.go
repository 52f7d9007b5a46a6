package capture

import (
	"bytes"
	"io"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Frame is a frame as it was captured, kept to be written out again.
type Frame struct {
	Time     time.Time
	LinkType layers.LinkType
	Length   int // on the wire
	Data     []byte
}

// CopyFrame returns a copy of the frame p was decoded from.
func (p *Packet) CopyFrame() Frame {
	return Frame{Time: p.Time, LinkType: p.LinkType, Length: p.Length, Data: bytes.Clone(p.Frame)}
}

// PcapngWriter writes frames to a pcapng file (gopacket's pcapgo): one
// interface description per link type, in the order they first come, and
// key log lines as Decryption Secrets Blocks, which Wireshark reads to
// decrypt the packets after them.
type PcapngWriter struct {
	w      io.Writer
	ng     *pcapgo.NgWriter
	ifaces map[layers.LinkType]int
	keys   [][]byte // Decryption Secrets Blocks waiting for the section to start
}

// NewPcapngWriter returns a writer of a pcapng file to w; nothing is
// written before the first frame, key log or Flush.
func NewPcapngWriter(w io.Writer) *PcapngWriter {
	return &PcapngWriter{w: w, ifaces: map[layers.LinkType]int{}}
}

func (w *PcapngWriter) start(lt layers.LinkType) error {
	if w.ng != nil {
		return nil
	}
	intf := pcapgo.DefaultNgInterface
	intf.Name, intf.LinkType = "tlssniff", lt
	opts := pcapgo.DefaultNgWriterOptions
	opts.SectionInfo.Application = "tlssniff"
	ng, err := pcapgo.NewNgWriterInterface(w.w, intf, opts)
	if err != nil {
		return err
	}
	w.ng, w.ifaces[lt] = ng, 0
	for _, k := range w.keys {
		if err := ng.WriteDecryptionSecretsBlock(ngTLSKeyLog, k); err != nil {
			return err
		}
	}
	w.keys = nil
	return nil
}

// WriteFrame writes one frame; its data is not retained.
func (w *PcapngWriter) WriteFrame(f *Frame) error {
	if err := w.start(f.LinkType); err != nil {
		return err
	}
	id, ok := w.ifaces[f.LinkType]
	if !ok {
		intf := pcapgo.DefaultNgInterface
		intf.Name, intf.LinkType = "tlssniff", f.LinkType
		var err error
		if id, err = w.ng.AddInterface(intf); err != nil {
			return err
		}
		w.ifaces[f.LinkType] = id
	}
	ci := gopacket.CaptureInfo{Timestamp: f.Time, CaptureLength: len(f.Data), Length: max(f.Length, len(f.Data)), InterfaceIndex: id}
	return w.ng.WritePacket(ci, f.Data)
}

// WriteKeyLog writes key log lines as a Decryption Secrets Block before
// the frames written after it.
func (w *PcapngWriter) WriteKeyLog(lines []byte) error {
	if w.ng == nil {
		w.keys = append(w.keys, bytes.Clone(lines))
		return nil
	}
	return w.ng.WriteDecryptionSecretsBlock(ngTLSKeyLog, lines)
}

// Flush writes what is buffered; a file without a frame gets its section
// and one Ethernet interface, so that it is a pcapng file all the same.
func (w *PcapngWriter) Flush() error {
	if err := w.start(layers.LinkTypeEthernet); err != nil {
		return err
	}
	return w.ng.Flush()
}
