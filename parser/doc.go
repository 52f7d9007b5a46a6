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
// Conn is a handshake core fed by the adapter of its transport. The core
// (conn.go, handshake.go, records.go, tls13.go, outcome.go, timing.go)
// knows TLS handshake messages and the connection model only; the adapters
// know their framing and nothing of the model:
//
//   - stream.go: TLS records over TCP, cut by RecordLayer;
//   - dtls.go: DTLS records over UDP, handshake fragments put back
//     together (dtlswire.go);
//   - quic.go: QUIC packets over UDP, Initial packets decrypted and their
//     CRYPTO frames put in order (quicwire.go, quiccrypto.go).
//
// They feed the core through the narrow API listed in records.go: a record,
// handshake bytes or a whole message, a protected record whose place the
// transport knows, the end of a side. The core gathers handshake bytes
// across records, cuts messages at their 4-byte headers, and decodes each
// with cryptobyte. Kept bytes are copied once, at the message boundary.
// Malformed input becomes an Issue on the Connection; nothing panics and the
// rest of the connection is still read. Decryption plugs in at
// Conn.protected (records.go): with a record's keys it opens the record and
// passes the plaintext on as handshake bytes or an alert, instead of
// inferring what the record held from its size.
//
// Certificates are decoded in certificate.go and judged (trust, OCSP, SCT)
// in validate.go, whose Validator keeps a bounded cache of verdicts.
//
// # Roles
//
// The caller names side 0 as the client when it saw the SYN; the side that
// sends a ClientHello is the client whatever the caller thought.
//
// # Deciding a handshake
//
// A connection is emitted once: when its handshake is decided, or when the
// caller closes it (FIN, RST, idle timeout, end of input). Up to TLS 1.2 the
// handshake completes when both Finished messages are seen: a side's first
// handshake record after its ChangeCipherSpec is its encrypted Finished. In
// TLS 1.3 the Finished messages are inferred (below). A completed handshake
// is decided once each side has sent its first application data, or after
// 16 more records without it: this gives the time to first data, counts TLS
// 1.3 tickets (they come before the server's data), and costs a few
// segments. The connection's start is its first packet, the SYN when
// captured; the time to first data is measured from it.
// A session is resumed when a TLS 1.3 ServerHello selects a
// pre_shared_key, or when a TLS 1.2 server sends ChangeCipherSpec without a
// Certificate, ServerKeyExchange or ServerHelloDone before it and before
// the client's ClientKeyExchange or ChangeCipherSpec: an abbreviated
// handshake. When bytes of the server's flight were lost (they could hold
// the Certificate), it takes a ServerHello echoing the client's session id
// or a ticket the client offered; otherwise resumed stays false and an
// "undecided" issue says so.
//
// Renegotiation, HelloRequest and KeyUpdate are encrypted once a session is
// up, and the connection is written when its first handshake is decided:
// they are reported (as EncryptedHandshake) when they come before that, not
// when they come later in a long connection. With keys, a TLS 1.0-1.2
// renegotiation is read whole (renegotiation.go), and the connection waits
// for it to end before it is decided.
//
// # Where the time went
//
// Connection.Diagnosis lists findings, each with the time it cost when it
// can be measured. The round trip is the TCP handshake's (SYN to SYN/ACK
// is the leg from the capture point to the server and back, SYN/ACK to
// ACK the leg to the client), so every figure holds wherever the capture
// point sits. Without a TCP handshake (QUIC, DTLS, a flow picked up late)
// the ClientHello/ServerHello pair stands for it, the server's think time
// included, and the capture is taken to be near the client:
//   - round_trips: the client's wait from its ClientHello to the server's
//     Finished (as seen, plus the client's leg; a Finished sent again
//     counts when it was resent), in round trips, against what the kind
//     needs: TLS 1.3 1, with a HelloRetryRequest 2, resumed 1; TLS 1.2 full
//     2, resumed 1. Its cost is the time the round trips do not explain.
//   - server_think: ClientHello (the second, after a HelloRetryRequest) to
//     ServerHello less the server's leg, plus, in a full TLS 1.2
//     handshake, the client's Finished to the server's, likewise: one
//     finding naming both. Near the client a lost answer looks the same,
//     and the sentence says so.
//   - hello_retry: the round trip a HelloRetryRequest cost (first to second
//     ClientHello), with the key shares the client sent and the group the
//     server asked for.
//   - server_flight_waited_for_acks: a server flight (ServerHello to its
//     last message) of more than a third of a 10-segment initial window
//     that took from 3/4 to 4.5 round trips: it waited for the client's
//     ACKs. Its bytes and the chain's are given. Otherwise a long flight is
//     server_flight_spread.
//   - retransmission: segments of the handshake sent again, and the
//     longest time one waited after its side's last message (a
//     retransmission timeout). Only a capture that saw the first copy
//     shows them.
//   - client_think: the end of the server's flight (or its last resent
//     segment) to the client's next message, less the client's leg.
//   - no_resumption and resumption_refused (Sessions, in the order
//     connections are written): the same client address had been given
//     session tickets or a TLS 1.2 session id by the same server and name,
//     and this full handshake did not offer them, or offered them and was
//     not resumed.
//
// A step is a finding when it takes at least 10 ms and a quarter of the
// round trip, or when the round trips leave at least that much
// unexplained and the step takes a quarter of it.
//
// # Why a handshake failed
//
// Connection.Reason joins what ended a failed handshake with what the
// connection shows that explains it, in this order (the first that
// applies; the first alert is the one read):
//   - The server alerted before any ServerHello: protocol_version — no
//     version in common, with the versions the client offered;
//     inappropriate_fallback — a fallback retry refused; unrecognized_name
//     — the server does not serve the SNI; handshake_failure or
//     insufficient_security — nothing in common, with the cipher suites and
//     groups the client offered (GREASE and signalling values left out).
//   - decrypt_error or bad_record_mac from either side: the peer's
//     handshake did not verify (a middlebox, or keys that disagree).
//   - The client alerted about the certificate (bad_certificate,
//     unsupported_certificate, certificate_revoked, certificate_expired,
//     certificate_unknown, unknown_ca, bad_certificate_status_response,
//     bad_certificate_hash_value), or gave up after the server's flight
//     without its Finished: the chain's worst problem as judged at capture
//     time — expired (with the date), not yet valid, revoked by its stapled
//     OCSP response, not leading to a trusted root (with the verifier's
//     words), not covering the SNI, a SHA-1 or MD5 signature, a weak key;
//     a chain without a problem here was turned down by the client's own
//     trust store or pinning. A chain that was not captured, or is
//     encrypted (TLS 1.3 without keys), is said so, with what the alert
//     tells (certificate_expired: "expired, it says").
//   - The server alerted after a CertificateRequest and the client's
//     Certificate: the client sent none, or the server turned its chain
//     down (its problem as above); certificate_required (TLS 1.3) says
//     none was sent.
//   - No ServerHello and no alert: the server closed or reset the
//     connection after the ClientHello (a name it does not serve, or no
//     TLS on that port), the client reset it first, or nothing answered
//     (lost, filtered, or nothing speaking TLS).
//
// A failure none of these explains has no Reason; its OutcomeDetail still
// says who did what after which message. Reason never quotes a string
// from the wire.
//
// CertStatus words the server chain in one word for tables and filters
// (the worst first: expired, not-yet-valid, revoked, self-signed,
// untrusted, mismatch, weak, ok, unparsable), and CertDaysLeft counts the
// leaf's days left at the connection's start, so that an old capture
// reads the same on any day.
//
// # With keys
//
// Given a key log (Options.Keys, package keylog), a connection looks its
// secrets up by its ClientHello random and reads what they open, as if sent
// in the clear; messages and alerts so read are marked Decrypted:
//
//   - TLS 1.3 over TCP (decrypt.go): from the first protected record, the
//     handshake traffic secrets open each side's records (AES-GCM,
//     ChaCha20-Poly1305, AES-CCM in ccm.go); after a side's Finished, its
//     application traffic secret opens the tickets and alerts that follow,
//     up to its first application data, which is counted, never read. A
//     side whose handshake secret the log lacks (OpenSSL logs a client's
//     only when it sends its Finished) is read without keys, the other
//     with them.
//   - TLS 1.0-1.2 (decrypt12.go): the CLIENT_RANDOM master secret is
//     expanded with the version's PRF at each side's ChangeCipherSpec; the
//     side's handshake and alert records after it are opened (its
//     Finished, alerts, a renegotiation), application data is counted,
//     never read.
//   - QUIC (quic.go): Handshake packets with the handshake secrets, the
//     first 1-RTT packets with the traffic secrets, their CRYPTO frames
//     read in a stream of each level.
//
// A record that does not open (secrets of another connection, a truncated
// key log) stops the decryption of the connection, whose records are then
// inferred as without keys; Decryption says which happened. With a key log
// still being followed (Options.KeysFollowed), a TLS 1.3 connection whose
// secrets are not there yet holds its protected records, bounded and
// charged to the budget, until they come or it must be decided. A
// CompressedCertificate (RFC 8879; zlib or brotli) is decompressed, never
// past maxHandshakeBuffer, and its chain judged as any other.
//
// # TLS 1.3 without keys
//
// After the ServerHello every handshake message travels inside
// application_data records, so messages are inferred from record sizes,
// directions and order (tls13.go), and marked encrypted. The sizes used are
// exact for the suite: a Finished record is 4 + hash + 1 + tag bytes (53
// with SHA-256 and a 16-byte tag, 69 with SHA-384), an encrypted alert
// 2 + 1 + tag (19), an EndOfEarlyData 4 + 1 + tag (21).
//
//   - The server's records up to the first of a Finished's size form its
//     flight. Resumed by PSK it is EncryptedExtensions and Finished; else
//     four records are EncryptedExtensions, Certificate, CertificateVerify
//     and Finished, five add a CertificateRequest after EncryptedExtensions.
//     Records that hold several messages (one record for the whole flight,
//     as some servers send) stay EncryptedHandshake, and the flight summary
//     lists the messages they must hold.
//   - The client's records after that flight, up to the first of a
//     Finished's size among the first three, are its flight: before the
//     Finished, an EndOfEarlyData when 0-RTT data was sent (early data is
//     then accepted), and a Certificate, with a CertificateVerify when there
//     are two records, when the server asked for one (the server's flight
//     then gets a CertificateRequest). Without a record of that size (the
//     client pads its records, or its suite's hash is one the rules do not
//     know), the client's flight ends when the server sends a record after
//     it, other than an alert — a ticket or an answer: the server had the
//     client's Finished —, or at its third record; its Finished is then
//     the first record after an EndOfEarlyData, or the third when the
//     server asked for a certificate.
//   - A record of an encrypted alert's size, from either side before the
//     client's Finished, is an Alert: a client that rejects the server's
//     certificate sends one, and the outcome says the client aborted after
//     the server's flight.
//   - After a Finished, the server's first record of at least 80 bytes is a
//     NewSessionTicket, and so is each next record of the same length
//     (servers that send two tickets send them alike); the first record
//     that is not one starts the application data.
//   - Records the client sends before the ServerHello are 0-RTT data.
//
// The rules cannot decide, and may name a record wrongly, when: a server
// sends no ticket and answers with data of 80 bytes or more (the answer is
// taken for a ticket); a ticket is under 80 bytes, or a second ticket
// differs in length from the first; a server that speaks first sends
// 0.5-RTT data after its Finished (taken for a ticket when large enough);
// the server's records are padded, or its flight is packed in records
// whose last is not its Finished alone, and it sends tickets before the
// client's answer (they are counted in its flight); a client pads its
// records and the capture holds nothing from the server after them (the
// handshake stays incomplete); a client certificate and its
// CertificateVerify share one record with the Finished. With keys every
// message is read instead (above).
package parser
