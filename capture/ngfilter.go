package capture

import (
	"encoding/binary"
	"io"
	"math"
)

// MaxInterfaces is how many interfaces of one pcapng section are kept:
// pcapgo keeps every Interface Description Block it reads, and a file of a
// million of them took 900 MB. Packets of the interfaces past it are
// skipped and counted, as those naming an interface never described.
const MaxInterfaces = 1024

// pcapng block types (draft-ietf-opsawg-pcapng, section 4).
const (
	ngSectionHeader     = 0x0A0D0D0A
	ngInterface         = 0x00000001
	ngObsoletePacket    = 0x00000002
	ngSimplePacket      = 0x00000003
	ngEnhancedPacket    = 0x00000006
	ngDecryptionSecrets = 0x0000000A
	ngTLSKeyLog         = 0x544c534b // a Decryption Secrets Block's secrets type: a TLS key log
	// maxSecretsBlock bounds the key log one Decryption Secrets Block may
	// hold: 200 bytes a handshake, some 80,000 handshakes.
	maxSecretsBlock         = 16 << 20
	ngByteOrderMagic uint32 = 0x1A2B3C4D
	ngBlockHeaderLen        = 12 // type, total length, and the body's first word
	ngMinBlockLen           = 12
	ngPassEverything        = math.MaxInt64
)

// ngFilter passes a pcapng stream to pcapgo block by block, leaving out
// what would make it hoard memory or stop: Interface Description Blocks
// past MaxInterfaces in a section, and packet blocks that name an
// interface the section has not described (pcapgo returns an error for
// those, which ended the file). Blocks are streamed, never buffered whole;
// anything it cannot frame is passed on for pcapgo to report.
type ngFilter struct {
	r      io.Reader
	order  binary.ByteOrder // of the current section; nil before the first
	ifaces int              // interfaces kept in the current section
	hdr    []byte           // a kept block's first bytes, not yet passed on
	pass   int64            // bytes of the current block still to pass on
	skip   int64            // bytes of the current block still to leave out
	stats  *Stats
	// secrets receives the key log of each Decryption Secrets Block.
	secrets func(keyLog []byte)
	buf     [ngBlockHeaderLen]byte
}

func (f *ngFilter) Read(p []byte) (int, error) {
	for {
		switch {
		case len(f.hdr) > 0:
			n := copy(p, f.hdr)
			f.hdr = f.hdr[n:]
			return n, nil
		case f.pass > 0:
			n, err := f.r.Read(p[:min(int64(len(p)), f.pass)])
			f.pass -= int64(n)
			return n, err
		case f.skip > 0:
			n, err := f.r.Read(p[:min(int64(len(p)), f.skip)]) // read over, not passed on
			f.skip -= int64(n)
			if err != nil {
				return 0, err
			}
			continue
		}
		n, err := io.ReadFull(f.r, f.buf[:])
		if err != nil {
			if n > 0 { // a block cut short: pcapgo says the file is truncated
				f.hdr = f.buf[:n]
				continue
			}
			return 0, err
		}
		f.block()
	}
}

// block decides on the block whose first bytes are in buf.
func (f *ngFilter) block() {
	b := f.buf[:]
	if binary.LittleEndian.Uint32(b) == ngSectionHeader { // the same in both orders
		switch ngByteOrderMagic {
		case binary.LittleEndian.Uint32(b[8:]):
			f.order = binary.LittleEndian
		case binary.BigEndian.Uint32(b[8:]):
			f.order = binary.BigEndian
		default:
			f.order = nil
		}
		f.ifaces = 0
	}
	f.hdr = b
	if f.order == nil {
		f.pass = ngPassEverything // not pcapng as we know it: pcapgo will say so
		return
	}
	length := int64(f.order.Uint32(b[4:]))
	if length < ngMinBlockLen || length%4 != 0 {
		f.pass = ngPassEverything
		return
	}
	rest := length - ngBlockHeaderLen
	keep := true
	switch f.order.Uint32(b) {
	case ngInterface:
		if keep = f.ifaces < MaxInterfaces; keep {
			f.ifaces++
		} else {
			f.stats.InterfacesDropped++
		}
	case ngEnhancedPacket:
		keep = int64(f.order.Uint32(b[8:])) < int64(f.ifaces)
	case ngObsoletePacket:
		keep = int(f.order.Uint16(b[8:])) < f.ifaces
	case ngSimplePacket:
		keep = f.ifaces > 0
	case ngDecryptionSecrets:
		if f.order.Uint32(b[8:]) == ngTLSKeyLog && rest <= maxSecretsBlock+4 {
			f.readSecrets(rest)
			f.hdr = nil
			return
		}
	}
	if keep {
		f.pass = rest
		return
	}
	if t := f.order.Uint32(b); t != ngInterface {
		f.stats.Packets++
		f.stats.UnknownInterface++
	}
	f.hdr, f.skip = nil, rest
}

// readSecrets reads the rest of a Decryption Secrets Block holding a TLS
// key log (draft-ietf-opsawg-pcapng, section 4.7) and hands the key log on;
// the block is not passed to pcapgo, which has no use for it. The buffer
// grows with the bytes that come, not with the length the block claims.
func (f *ngFilter) readSecrets(rest int64) {
	body, err := io.ReadAll(io.LimitReader(f.r, rest))
	if err != nil || int64(len(body)) < rest || len(body) < 4 {
		f.hdr = nil
		f.pass = 0 // a block cut short: the file ends here
		return
	}
	n := int64(f.order.Uint32(body))
	if n <= int64(len(body))-4 && f.secrets != nil {
		f.secrets(body[4 : 4+n])
	}
}
