// Package capture reads packets from capture files and decodes them down to
// TCP segments, the first stage of tlssniff's pipeline:
//
//	capture ──Packet──▶ reassembly ──▶ parser ──▶ report
//
// It opens pcap (microsecond and nanosecond, both byte orders) and pcapng
// (several interfaces, mixed link types) with pcapgo, finds the format and
// gzip compression by magic number, and reads "-" from standard input.
// Several files are merged into one stream in capture-time order.
//
// Frames are decoded with one reused gopacket DecodingLayerParser per link
// type: Ethernet, Linux SLL and SLL2, raw IPv4/IPv6 and BSD loopback, 802.1Q
// VLANs and QinQ, IPv6 extension headers, and the GRE, ERSPAN II, VXLAN and
// Geneve tunnels, whose inner addresses are reported. Decoding allocates
// nothing per packet: a Packet's Payload aliases the reader's buffer and is
// valid only until the next call to Next. IP fragments are counted, not yet
// reassembled.
//
// It knows nothing of TLS and prints nothing; what it could not decode is
// counted in Stats.
package capture
