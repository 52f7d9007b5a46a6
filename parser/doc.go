// Package parser reads TLS from the byte streams of a connection's two
// directions and reconstructs its handshake: every record and message in
// order, the negotiated parameters, certificates, alerts, fingerprints
// (JA3, JA3S, JA4) and the problems met on the way.
//
// It sits between reassembly and report: it is fed in-order bytes with their
// capture timestamps, does no I/O, imports nothing of this project and no
// packet library, and formats nothing for display.
//
// # Layers
//
// RecordLayer cuts a byte stream into records (RFC 8446, section 5.1; RFC
// 5246, section 6.2). It buffers a record body only when asked to: bodies of
// application data and of anything sent after a side starts encrypting are
// skipped by their length without a copy. A stream whose first bytes are not
// a record header (or an SSL 2.0-compatible ClientHello) is not TLS. After a
// gap the layer resynchronises at the next plausible record header.
//
// Conn gathers handshake bytes across records, cuts messages at their 4-byte
// headers, and decodes each with cryptobyte. Kept bytes are copied once, at
// the message boundary. Malformed input becomes an Issue on the Connection;
// nothing panics and the rest of the connection is still read.
//
// # Roles
//
// The caller names side 0 as the client when it saw the SYN; the side that
// sends a ClientHello is the client whatever the caller thought.
//
// # Deciding a handshake
//
// A connection is emitted once: as soon as both Finished messages were seen
// or inferred (established), or when the caller closes it. Up to TLS 1.2 a
// side's first handshake record after its ChangeCipherSpec is its encrypted
// Finished. In TLS 1.3 without keys, the server's application_data records
// after ServerHello form its encrypted flight (EncryptedExtensions through
// Finished, reported as EncryptedHandshake records), and the client's first
// application_data record after that flight is its Finished. A session is
// resumed when a TLS 1.3 ServerHello selects a pre_shared_key, or when a TLS
// 1.2 server sends ChangeCipherSpec without a Certificate, ServerKeyExchange
// or ServerHelloDone before it.
package parser
