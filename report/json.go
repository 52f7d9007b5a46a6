package report

import (
	"encoding/hex"
	"io"
	"time"
	"unicode/utf8"

	"github.com/tlssniff/tlssniff/parser"
)

func validation(v *parser.Validation) *Validation {
	if v == nil {
		return nil
	}
	out := Validation(*v)
	return &out
}

// flight converts f into out, one of the arena's.
func flight(a *arena, out *Flight, f *parser.Flight) *Flight {
	if f == nil {
		return nil
	}
	*out = Flight{Records: f.Records, Bytes: f.Bytes, Messages: take(&a.strs, len(f.Messages))}
	for i, m := range f.Messages {
		out.Messages[i] = m.String()
	}
	return out
}

func quic(q *parser.QUICInfo) *QUIC {
	if q == nil {
		return nil
	}
	packets := func(n [4]int) map[string]int {
		return map[string]int{"initial": n[0], "0rtt": n[1], "handshake": n[2], "1rtt": n[3]}
	}
	out := &QUIC{Version: parser.QUICVersionName(q.Version), DCID: hex.EncodeToString(q.DCID), SCID: hex.EncodeToString(q.SCID),
		ServerSCID: hex.EncodeToString(q.ServerSCID), Retry: q.Retry, VersionNegotiation: []string{},
		ClientPackets: packets(q.ClientPackets), ServerPackets: packets(q.ServerPackets)}
	for _, v := range q.VersionNegotiation {
		out.VersionNegotiation = append(out.VersionNegotiation, parser.QUICVersionName(v))
	}
	return out
}

func quality(q parser.Quality) Quality {
	t := &q.Transport
	out := Quality{MissingSYN: q.MissingSYN, MissingStart: q.MissingStart, OneSided: q.OneSided, Gaps: q.Gaps, GapBytes: q.GapBytes,
		Retransmits: t.Retransmits, OutOfOrder: t.OutOfOrder, Truncated: t.Truncated, Overlaps: t.Overlaps,
		Conflicts: t.Conflicts, ClientPackets: t.Packets[parser.FromClient], ServerPackets: t.Packets[parser.FromServer],
		Marks: []Mark{}}
	for _, m := range t.Marks {
		kind := "out_of_order"
		if m.Retransmit {
			kind = "retransmission"
		}
		out.Marks = append(out.Marks, Mark{TS: Timestamp(m.Time), From: parser.Direction(m.Side).String(), Kind: kind})
	}
	return out
}

// JSON writes one JSON object per connection and line, as soon as it is
// written, so that output streams (encode.go). Wire strings are escaped as
// JSON requires (control characters as \u00XX); bidirectional formatting
// characters, which JSON lets through, are escaped too so that a line
// printed on a terminal shows what was sent in its order. Invalid UTF-8
// becomes U+FFFD, and the bytes are kept beside the string in hex.
type JSON struct {
	w     io.Writer
	buf   []byte
	arena arena
}

// NewJSON returns an NDJSON sink writing to w.
func NewJSON(w io.Writer) *JSON { return &JSON{w: w} }

// Write implements Sink.
func (j *JSON) Write(c *parser.Connection) error {
	j.buf = append(j.arena.connection(c).appendJSON(j.buf[:0]), '\n')
	_, err := j.w.Write(j.buf)
	return err
}

// hexIfInvalid is s in hex when s is not valid UTF-8, else "".
func hexIfInvalid(s string) string {
	if utf8.ValidString(s) {
		return ""
	}
	return hex.EncodeToString([]byte(s))
}

// hexString is hex.EncodeToString in one allocation for the short values
// of every connection (session IDs: 32 bytes at most).
func hexString(b []byte) string {
	var buf [64]byte
	if len(b) > len(buf)/2 {
		return hex.EncodeToString(b)
	}
	return string(hex.AppendEncode(buf[:0], b))
}

// Close implements Sink.
func (j *JSON) Close() error { return nil }

// connection converts c into the JSON schema, made of a's memory, which it
// first empties: a sink that writes each connection before the next
// reuses one arena, and what it returned before is overwritten.
func (a *arena) connection(c *parser.Connection) *Connection {
	a.reset()
	out := &a.conn
	*out = Connection{
		Transport:          c.Transport.String(),
		Tunnel:             nonEmpty(c.Tunnel),
		QUIC:               quic(c.QUIC),
		Client:             Endpoint{IP: c.Client.Addr().String(), Port: c.Client.Port()},
		Server:             Endpoint{IP: c.Server.Addr().String(), Port: c.Server.Port()},
		Start:              Timestamp(c.Start),
		TS:                 EpochTime(c.Start),
		UID:                uid(c.Transport, c.Client, c.Server, c.Start),
		CommunityID:        communityID(c.Transport, c.Client, c.Server),
		Resumed:            c.Resumed,
		Established:        c.Established,
		Outcome:            c.Outcome.String(),
		OutcomeDetail:      c.OutcomeDetail,
		Reason:             c.Reason(),
		Quality:            quality(c.Quality),
		Alerts:             take(&a.alerts, len(c.Alerts))[:0],
		Messages:           take(&a.messages, len(c.Messages))[:0],
		Issues:             take(&a.issues, len(c.Issues))[:0],
		MessagesDropped:    c.MessagesDropped,
		Certificates:       certificates(a, c.Certificates),
		Validation:         validation(c.Validation),
		ServerFlight:       flight(a, &a.flights[0], c.ServerFlight),
		ClientFlight:       flight(a, &a.flights[1], c.ClientFlight),
		EarlyData:          EarlyData(c.EarlyData),
		ClientValidation:   validation(c.ClientValidation),
		ClientCertificates: certificates(a, c.ClientCertificates),
		Decryption:         Decryption{Keys: c.Decryption.Keys, Detail: c.Decryption.Detail},
	}
	if sni, ok := c.SNI(); ok {
		out.SNI, out.SNIHex = a.str(sni), hexIfInvalid(sni)
	}
	if c.ServerHello != nil {
		out.Version = a.str(parser.VersionName(c.Version))
		out.CipherSuite = a.str(parser.CipherSuiteName(c.CipherSuite))
		out.ServerHello = serverHello(a, c.ServerHello)
	}
	if c.HasGroup {
		out.Group = a.str(parser.GroupName(c.Group))
	}
	if alpn, ok := c.ALPN(); ok {
		out.ALPN, out.ALPNHex = a.str(alpn), hexIfInvalid(alpn)
	}
	if c.HelloRetryRequest != nil {
		out.HelloRetryRequest = serverHello(a, c.HelloRetryRequest)
	}
	if m, ok := c.SNIMatchesCert(); ok {
		out.SNIMatchesCert = &m
	}
	if ch := c.ClientHello; ch != nil {
		out.ClientHello = clientHello(a, ch)
		if e := out.ClientHello.ECH; e != nil {
			e.OuterSNI, e.Grease = out.SNI, c.ECHGrease()
		}
	}
	if ske := c.ServerKeyExchange; ske != nil {
		out.ServerKeyExchange = &KeyExchange{DHBits: ske.DHBits}
		if ske.HasGroup {
			out.ServerKeyExchange.Group = a.str(parser.GroupName(ske.Group))
		}
	}
	for _, al := range c.Alerts {
		out.Alerts = append(out.Alerts, Alert{TS: Timestamp(al.Time), From: al.From.String(),
			Level: parser.AlertLevelName(al.Level), Description: parser.AlertName(al.Description), Decrypted: al.Decrypted})
	}
	for _, m := range c.Messages {
		out.Messages = append(out.Messages, Message{TS: Timestamp(m.Time), From: m.From.String(), Type: m.Type.String(),
			Length: m.Length, Encrypted: m.Encrypted, Decrypted: m.Decrypted, OffsetMS: ms(m.Time.Sub(c.Start))})
	}
	for _, i := range c.Issues {
		out.Issues = append(out.Issues, Issue{TS: Timestamp(i.Time), From: i.From.String(), Kind: i.Kind.String(), Detail: i.Detail})
	}
	for _, r := range c.Renegotiations {
		j := Renegotiation{TS: Timestamp(r.Time), By: r.By.String(), Resumed: r.Resumed, Established: r.Established,
			Refused: r.Refused}
		if r.Version != 0 {
			j.Version, j.CipherSuite = a.str(parser.VersionName(r.Version)), a.str(parser.CipherSuiteName(r.CipherSuite))
		}
		out.Renegotiations = append(out.Renegotiations, j)
	}
	out.Timing = timing(c, (*[timingFields]float64)(take(&a.floats, timingFields)))
	out.Diagnosis = diagnosis(a, c)
	return out
}

// timing converts the connection's durations to milliseconds, null when a
// step was not seen, the values kept in vals; the place it was captured
// near points into c.
func timing(c *parser.Connection, vals *[timingFields]float64) Timing {
	t := &c.Timing
	ds := [timingFields]*time.Duration{t.Handshake, t.SYNToSYNACK, t.SYNACKToACK, t.TCPRoundTrip, t.SYNToClientHello,
		t.ServerFlight, t.HelloRetry, t.ClientHelloToServerHello, t.ClientFirstData, t.ServerFirstData}
	var p [timingFields]*float64
	for i, d := range ds {
		if d != nil {
			vals[i] = ms(*d)
			p[i] = &vals[i]
		}
	}
	var near *string
	if t.CaptureNear != "" {
		near = &t.CaptureNear
	}
	return Timing{HandshakeMS: p[0], SYNToSYNACKMS: p[1], SYNACKToACKMS: p[2], TCPRoundTripMS: p[3],
		CaptureNear: near, SYNToClientHelloMS: p[4], ServerFlightMS: p[5], HelloRetryMS: p[6],
		ClientHelloToServerHelloMS: p[7], ClientFirstDataMS: p[8], ServerFirstDataMS: p[9]}
}

// timingFields is how many durations Timing has.
const timingFields = 10

// diagnosis converts the connection's findings; the list is never null.
func diagnosis(a *arena, c *parser.Connection) []Finding {
	fs := c.Diagnosis()
	out, costs := take(&a.findings, len(fs)), take(&a.floats, len(fs))
	for i, f := range fs {
		out[i] = Finding{Kind: f.Kind, Text: f.Text}
		if f.HasCost {
			costs[i] = ms(f.Cost)
			out[i].CostMS = &costs[i]
		}
	}
	return out
}

// nonEmpty is s, or nil when it is empty.
func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// arena hands out the lists and pointed-to strings of one connection's
// schema from a few allocations instead of one a field: they were a third
// of the allocations of a run over the mixed capture. A sink's arena keeps
// what its largest connection needed, bounded by the parser's limits: a
// hello of 64 KiB names at most 32,768 code points (512 KiB of strings).
type arena struct {
	conn         Connection
	clientHello  ClientHello
	flights      [2]Flight         // the server's, the client's
	serverHellos pool[ServerHello] // the ServerHello's and the HelloRetryRequest's
	strs         pool[string]
	nums         pool[int]
	floats       pool[float64]
	messages     pool[Message]
	alerts       pool[Alert]
	issues       pool[Issue]
	certificates pool[Certificate]
	findings     pool[Finding]
}

// pool hands out slices of a chunk, and makes a new chunk when it is used
// up; emptied, it keeps one chunk as large as all it handed out.
type pool[T any] struct {
	chunk []T
	given int // since it was last emptied
}

func (a *arena) reset() {
	a.serverHellos.reset()
	a.strs.reset()
	a.nums.reset()
	a.floats.reset()
	a.messages.reset()
	a.alerts.reset()
	a.issues.reset()
	a.certificates.reset()
	a.findings.reset()
}

func (p *pool[T]) reset() {
	if p.given > cap(p.chunk) {
		p.chunk = make([]T, 0, p.given)
	}
	p.chunk, p.given = p.chunk[:0], 0
}

// take returns the next n elements of p, holding what they held before it
// was emptied: the caller sets each. It is never nil, so that an empty list
// is written [].
func take[T any](p *pool[T], n int) []T {
	if p.chunk == nil || cap(p.chunk)-len(p.chunk) < n {
		p.chunk = make([]T, 0, max(16, n))
	}
	i := len(p.chunk)
	p.chunk = p.chunk[:i+n]
	p.given += n
	return p.chunk[i : i+n : i+n]
}

// str returns a pointer to s.
func (a *arena) str(s string) *string {
	p := take(&a.strs, 1)
	p[0] = s
	return &p[0]
}

// names names each value; lists are never null.
func (a *arena) names(vs []uint16, name func(uint16) string) []string {
	out := take(&a.strs, len(vs))
	for i, v := range vs {
		out[i] = name(v)
	}
	return out
}

// ints renders small code points as JSON numbers; lists are never null, an
// absent extension gives an empty list.
func ints[T uint8 | uint16](a *arena, vs []T) []int {
	out := take(&a.nums, len(vs))
	for i, v := range vs {
		out[i] = int(v)
	}
	return out
}

func clientHello(a *arena, ch *parser.ClientHello) *ClientHello {
	out := &a.clientHello
	*out = ClientHello{
		JA3: ch.JA3, JA3String: ch.JA3String, JA4: ch.JA4, JA4R: ch.JA4R,
		Length: ch.Length, Segments: ch.Segments, SSLv2: ch.SSLv2,
		Version:             parser.VersionName(ch.Version),
		SessionID:           hexString(ch.SessionID),
		CipherSuites:        a.names(ch.CipherSuites, parser.CipherSuiteName),
		CompressionMethods:  ints(a, ch.CompressionMethods),
		Extensions:          a.names(ch.Extensions, parser.ExtensionName),
		SupportedVersions:   a.names(ch.SupportedVersions, parser.VersionName),
		SupportedGroups:     a.names(ch.SupportedGroups, parser.GroupName),
		KeyShares:           a.names(ch.KeyShares, parser.GroupName),
		SignatureAlgorithms: a.names(ch.SignatureAlgorithms, parser.SignatureSchemeName),
		ECPointFormats:      ints(a, ch.ECPointFormats),
		ALPN:                append([]string{}, ch.ALPN...),
		PSKModes:            ints(a, ch.PSKModes),
		PSKIdentities:       ch.PSKIdentities,
		EarlyData:           ch.EarlyData,
		ExtendedMasterSec:   ch.ExtendedMasterSec,
		RenegotiationInfo:   ch.RenegotiationInfo,
		StatusRequest:       ch.StatusRequest,
		SCT:                 ch.SCT,
		PaddingLength:       ch.PaddingLen,
		CompressCertificate: ints(a, ch.CompressCertificate),
		RecordSizeLimit:     ch.RecordSizeLimit,
	}
	if ch.HasSessionTicket {
		out.SessionTicketLength = &ch.SessionTicketLen
	}
	if e := ch.ECH; e != nil {
		out.ECH = &ECH{Type: "inner", KDF: e.KDF, AEAD: e.AEAD, ConfigID: e.ConfigID, EncLength: e.EncLen, PayloadLength: e.PayloadLen}
		if e.Outer {
			out.ECH.Type = "outer"
		}
	}
	return out
}

func serverHello(a *arena, sh *parser.ServerHello) *ServerHello {
	out := &take(&a.serverHellos, 1)[0]
	*out = ServerHello{
		JA3S: sh.JA3S, JA3SString: sh.JA3SString, Length: sh.Length,
		Version:     parser.VersionName(sh.Version),
		SessionID:   hexString(sh.SessionID),
		CipherSuite: parser.CipherSuiteName(sh.CipherSuite),
		Compression: sh.Compression,
		Extensions:  a.names(sh.Extensions, parser.ExtensionName),
		PSKSelected: sh.PSKSelected,
	}
	if sh.SupportedVersion != 0 {
		out.SelectedVersion = a.str(parser.VersionName(sh.SupportedVersion))
	}
	if sh.HasKeyShare {
		out.KeyShare = a.str(parser.GroupName(sh.KeyShare))
	}
	if sh.HasALPN {
		out.ALPN = &sh.ALPN
	}
	return out
}

func certificates(a *arena, chain []parser.Certificate) []Certificate {
	out := take(&a.certificates, len(chain))[:0]
	for _, c := range chain {
		jc := Certificate{SHA256: c.SHA256, Length: c.Length, Subject: c.Subject, Issuer: c.Issuer,
			SANs: c.SANs, KeyType: c.KeyType, KeyBits: c.KeyBits, SignatureAlgorithm: c.SignatureAlgorithm,
			Serial: c.Serial, ParseError: c.ParseError}
		if jc.SANs == nil {
			jc.SANs = []string{}
		}
		if c.ParseError == "" {
			jc.NotBefore, jc.NotAfter = formatTime(c.NotBefore), formatTime(c.NotAfter)
		}
		out = append(out, jc)
	}
	return out
}
