// Package capture reads packets from capture files or a live interface and
// decodes them down to TCP segments, the first stage of tlssniff's pipeline:
//
//	capture ──Packet──▶ reassembly ──▶ parser ──▶ report
//
// It opens pcap (microsecond and nanosecond, both byte orders) and pcapng
// (several interfaces, mixed link types) with pcapgo, finds the format and
// gzip compression by magic number, and reads "-" from standard input. A
// pipe, socket or terminal is read by a goroutine of its own (pump.go), so
// that a reader can tell when the next packet is not here yet and can end
// the input without it (Waiter).
// pcap's records are then read by hand, into slabs a Hold can keep,
// because pcapgo copies each twice and a pipeline sharing packets between
// workers once more (pcapReader's comment has the figures).
// Several files are merged into one stream in capture-time order. Live
// capture and BPF filters go through libpcap (gopacket/pcap), only in a cgo
// build; without cgo they return ErrNoLibpcap.
//
// Plain frames (Ethernet, IPv4 without options or IPv6, TCP; no tunnel,
// fragment or truncation) are decoded by hand, because gopacket's
// DecodingLayerParser was a third of the worker's time outside reassembly
// on the dense benchmark capture (plainTCP's comment has the figures).
// Every other frame is decoded with one reused gopacket DecodingLayerParser
// per link type: Ethernet, Linux SLL and SLL2, raw IPv4/IPv6 and BSD loopback, 802.1Q
// VLANs and QinQ, IPv6 extension headers, GRE, ERSPAN II, VXLAN, Geneve,
// GTP-U (UDP 2152) and IP-in-IP; PPP links, MPLS, PPPoE, ERSPAN III and
// CAPWAP data (UDP 5247, with IEEE 802.3 or 802.11 frames inside), which
// gopacket does not decode in place, are unwrapped by hand. Inner
// addresses name the connection and Packet.Tunnel the tunnels. Decoding
// allocates nothing per packet (but for GTP-U extension headers, which
// gopacket's layer keeps in a slice): a Packet's Payload aliases the
// reader's buffer and is valid only until the
// next call to Next. IPv4 and IPv6 fragments are reassembled (defrag.go)
// with a memory budget of their own; only that path allocates. pcapng
// blocks pass a filter (ngfilter.go) before pcapgo, so that a hostile file
// cannot make it hoard interface descriptions or stop at a packet of an
// interface never described.
//
// It knows nothing of TLS and prints nothing; what it could not decode is
// counted in Stats.
package capture
