package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/tlssniff/tlssniff/parser"
)

// ECSVersion is the Elastic Common Schema version whose fields ECS
// documents use.
const ECSVersion = "8.17.0"

// ECS documents: one per connection, nested objects whose every field is
// one the Elastic Common Schema defines, with its type (keyword as a
// string, long as an integer, date as RFC 3339, ip as an address), or sits
// under tlssniff.* for what ECS has no field for. The client is source and
// client, the server destination and server; hashes are upper-case hex as
// ECS asks, JA3 as its authors print it.
type ecsDoc struct {
	Timestamp   string          `json:"@timestamp"`
	ECS         ecsVersion      `json:"ecs"`
	Event       ecsEvent        `json:"event"`
	Source      ecsEndpoint     `json:"source"`
	Destination ecsEndpoint     `json:"destination"`
	Client      ecsEndpoint     `json:"client"`
	Server      ecsEndpoint     `json:"server"`
	Network     ecsNetwork      `json:"network"`
	TLS         ecsTLS          `json:"tls"`
	Related     ecsRelated      `json:"related"`
	TLSSniff    ecsTLSSniffData `json:"tlssniff"`
}

type ecsVersion struct {
	Version string `json:"version"`
}

type ecsEvent struct {
	Kind     string   `json:"kind"`
	Category []string `json:"category"`
	Type     []string `json:"type"`
	Outcome  string   `json:"outcome"`
	Reason   string   `json:"reason,omitempty"`
	Start    string   `json:"start"`
	End      string   `json:"end,omitempty"`
	Duration *int64   `json:"duration,omitempty"` // nanoseconds, from the first packet to the end of the handshake
	ID       string   `json:"id"`
	Dataset  string   `json:"dataset"`
	Module   string   `json:"module"`
}

type ecsEndpoint struct {
	IP      string `json:"ip"`
	Port    uint16 `json:"port"`
	Address string `json:"address"`
	Domain  string `json:"domain,omitempty"`
	Packets uint64 `json:"packets"`
}

type ecsNetwork struct {
	Transport   string `json:"transport"`
	Type        string `json:"type"`
	IANANumber  string `json:"iana_number"`
	Protocol    string `json:"protocol"`
	CommunityID string `json:"community_id"`
	Packets     uint64 `json:"packets"`
}

type ecsTLS struct {
	Version         string        `json:"version,omitempty"`
	VersionProtocol string        `json:"version_protocol,omitempty"`
	Cipher          string        `json:"cipher,omitempty"`
	Curve           string        `json:"curve,omitempty"`
	Established     bool          `json:"established"`
	Resumed         bool          `json:"resumed"`
	NextProtocol    string        `json:"next_protocol,omitempty"`
	Client          ecsTLSClient  `json:"client"`
	Server          *ecsTLSServer `json:"server,omitempty"`
}

type ecsTLSClient struct {
	ServerName       string   `json:"server_name,omitempty"`
	JA3              string   `json:"ja3,omitempty"`
	SupportedCiphers []string `json:"supported_ciphers,omitempty"`
	ecsCert
}

type ecsTLSServer struct {
	JA3S string `json:"ja3s,omitempty"`
	ecsCert
}

// ecsCert is the certificate fields of tls.client and tls.server: those of
// the leaf of the side's chain.
type ecsCert struct {
	Hash      *ecsHash `json:"hash,omitempty"`
	Subject   string   `json:"subject,omitempty"`
	Issuer    string   `json:"issuer,omitempty"`
	NotBefore string   `json:"not_before,omitempty"`
	NotAfter  string   `json:"not_after,omitempty"`
	X509      *ecsX509 `json:"x509,omitempty"`
}

type ecsHash struct {
	SHA256 string `json:"sha256"`
}

type ecsX509 struct {
	AlternativeNames   []string `json:"alternative_names,omitempty"`
	Issuer             ecsDN    `json:"issuer"`
	Subject            ecsDN    `json:"subject"`
	NotBefore          string   `json:"not_before"`
	NotAfter           string   `json:"not_after"`
	SerialNumber       string   `json:"serial_number"`
	SignatureAlgorithm string   `json:"signature_algorithm,omitempty"`
	PublicKeyAlgorithm string   `json:"public_key_algorithm,omitempty"`
	PublicKeySize      int      `json:"public_key_size,omitempty"`
	VersionNumber      string   `json:"version_number,omitempty"`
}

type ecsDN struct {
	DistinguishedName string   `json:"distinguished_name"`
	CommonName        []string `json:"common_name,omitempty"`
	Organization      []string `json:"organization,omitempty"`
	Country           []string `json:"country,omitempty"`
}

type ecsRelated struct {
	IP    []string `json:"ip"`
	Hosts []string `json:"hosts,omitempty"`
	Hash  []string `json:"hash,omitempty"`
}

// ecsTLSSniffData is what tlssniff knows that ECS has no field for.
type ecsTLSSniffData struct {
	UID           string    `json:"uid"`
	Outcome       string    `json:"outcome"`
	OutcomeDetail string    `json:"outcome_detail"`
	Tunnel        string    `json:"tunnel,omitempty"`
	JA4           string    `json:"ja4,omitempty"`
	Group         string    `json:"group,omitempty"`
	Validation    string    `json:"validation,omitempty"`
	CertStatus    string    `json:"cert_status,omitempty"`
	Timing        Timing    `json:"timing"`
	Diagnosis     []Finding `json:"diagnosis,omitempty"`
	Alerts        []Alert   `json:"alerts,omitempty"`
	Issues        []Issue   `json:"issues,omitempty"`
	Messages      []string  `json:"messages"`
}

// set fills the fields from a chain's leaf certificate.
func (e *ecsCert) set(cert *parser.Certificate) {
	e.Hash = &ecsHash{SHA256: strings.ToUpper(cert.SHA256)}
	if cert.ParseError != "" {
		return
	}
	x := &ecsX509{AlternativeNames: cert.SANs, NotBefore: formatTime(cert.NotBefore), NotAfter: formatTime(cert.NotAfter),
		SerialNumber: strings.ToUpper(cert.Serial), SignatureAlgorithm: cert.SignatureAlgorithm,
		PublicKeyAlgorithm: cert.KeyType, PublicKeySize: cert.KeyBits,
		Issuer: ecsDN{DistinguishedName: cert.Issuer}, Subject: ecsDN{DistinguishedName: cert.Subject}}
	if p := cert.X509(); p != nil {
		x.VersionNumber = strconv.Itoa(p.Version)
		x.Issuer.CommonName, x.Issuer.Organization, x.Issuer.Country = nonEmptyList(p.Issuer.CommonName), p.Issuer.Organization, p.Issuer.Country
		x.Subject.CommonName, x.Subject.Organization, x.Subject.Country = nonEmptyList(p.Subject.CommonName), p.Subject.Organization, p.Subject.Country
	}
	e.X509, e.Subject, e.Issuer, e.NotBefore, e.NotAfter = x, cert.Subject, cert.Issuer, x.NotBefore, x.NotAfter
}

func nonEmptyList(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// doc builds the ECS document of a connection.
func (e *ECS) doc(c *parser.Connection) *ecsDoc {
	j := e.arena.connection(c)
	outcome := "unknown"
	switch {
	case c.Outcome == parser.OutcomeEstablished:
		outcome = "success"
	case c.Outcome.Failed():
		outcome = "failure"
	}
	typ := "ipv4"
	if c.Client.Addr().Is6() && !c.Client.Addr().Is4In6() {
		typ = "ipv6"
	}
	iana := "6"
	if c.Transport == parser.UDP {
		iana = "17"
	}
	proto := c.Protocol()
	d := &ecsDoc{
		Timestamp: formatTime(c.Start),
		ECS:       ecsVersion{ECSVersion},
		Event: ecsEvent{Kind: "event", Category: []string{"network"}, Type: []string{"connection", "protocol"},
			Outcome: outcome, Reason: j.Reason, Start: formatTime(c.Start), ID: j.UID, Dataset: "tlssniff.handshake", Module: "tlssniff"},
		Network: ecsNetwork{Transport: j.Transport, Type: typ, IANANumber: iana, Protocol: proto, CommunityID: j.CommunityID,
			Packets: j.Quality.ClientPackets + j.Quality.ServerPackets},
		TLS: ecsTLS{Established: c.Established, Resumed: c.Resumed},
		TLSSniff: ecsTLSSniffData{UID: j.UID, Outcome: j.Outcome, OutcomeDetail: j.OutcomeDetail, Timing: j.Timing,
			Diagnosis: j.Diagnosis, Alerts: j.Alerts, Issues: j.Issues, Messages: make([]string, 0, len(j.Messages))},
	}
	if j.Tunnel != nil {
		d.TLSSniff.Tunnel = *j.Tunnel
	}
	if h := c.Timing.Handshake; h != nil {
		// The event runs from the first packet to the end of the
		// handshake; ECS's duration is end less start.
		end := c.ClientHelloTime.Add(*h)
		ns := int64(end.Sub(c.Start))
		d.Event.Duration, d.Event.End = &ns, formatTime(end)
	}
	src := ecsEndpoint{IP: j.Client.IP, Port: j.Client.Port, Address: j.Client.IP, Packets: j.Quality.ClientPackets}
	dst := ecsEndpoint{IP: j.Server.IP, Port: j.Server.Port, Address: j.Server.IP, Packets: j.Quality.ServerPackets}
	if j.SNI != nil {
		dst.Domain = *j.SNI
		d.TLS.Client.ServerName = *j.SNI
		d.Related.Hosts = []string{*j.SNI}
	}
	d.Source, d.Client, d.Destination, d.Server = src, src, dst, dst
	d.Related.IP = []string{j.Client.IP, j.Server.IP}
	if c.Version != 0 {
		// "1.2" and "tls", "3.0" and "ssl", "1.2" and "dtls", as ECS spells them.
		name := parser.VersionName(c.Version)
		if p, v, ok := strings.Cut(name, " "); ok && !strings.HasPrefix(name, "0x") {
			d.TLS.VersionProtocol, d.TLS.Version = strings.ToLower(p), v
		}
		d.TLS.Cipher = *j.CipherSuite
	}
	if j.Group != nil {
		d.TLS.Curve, d.TLSSniff.Group = *j.Group, *j.Group
	}
	if j.ALPN != nil {
		d.TLS.NextProtocol = *j.ALPN
	}
	if ch := j.ClientHello; ch != nil {
		d.TLS.Client.JA3, d.TLS.Client.SupportedCiphers, d.TLSSniff.JA4 = ch.JA3, ch.CipherSuites, ch.JA4
	}
	if sh := j.ServerHello; sh != nil || len(c.Certificates) > 0 {
		d.TLS.Server = &ecsTLSServer{}
		if sh != nil {
			d.TLS.Server.JA3S = sh.JA3S
		}
	}
	if len(c.Certificates) > 0 {
		d.TLS.Server.set(&c.Certificates[0])
		d.Related.Hash = append(d.Related.Hash, d.TLS.Server.Hash.SHA256)
		d.TLSSniff.CertStatus = c.CertStatus()
	}
	if len(c.ClientCertificates) > 0 {
		d.TLS.Client.set(&c.ClientCertificates[0])
		d.Related.Hash = append(d.Related.Hash, d.TLS.Client.Hash.SHA256)
	}
	if j.Validation != nil {
		d.TLSSniff.Validation = j.Validation.Status
	}
	for _, m := range j.Messages {
		d.TLSSniff.Messages = append(d.TLSSniff.Messages, m.From+" "+m.Type)
	}
	return d
}

// ECS writes one ECS document per connection and line. Wire strings are
// escaped as in NDJSON: bidirectional formatting characters too.
type ECS struct {
	w     io.Writer
	buf   bytes.Buffer
	enc   *json.Encoder
	arena arena
}

// NewECS returns a sink writing ECS documents to w, one per line.
func NewECS(w io.Writer) *ECS {
	e := &ECS{w: w}
	e.enc = json.NewEncoder(&e.buf)
	return e
}

// bidiEscapes writes bidirectional formatting characters as JSON escapes.
var bidiEscapes = func() *strings.Replacer {
	var pairs []string
	for _, r := range bidiControls {
		pairs = append(pairs, string(r), fmt.Sprintf(`\u%04x`, r))
	}
	return strings.NewReplacer(pairs...)
}()

// Write implements Sink.
func (e *ECS) Write(c *parser.Connection) error {
	e.buf.Reset()
	if err := e.enc.Encode(e.doc(c)); err != nil {
		return err
	}
	_, err := bidiEscapes.WriteString(e.w, e.buf.String())
	return err
}

// Close implements Sink.
func (e *ECS) Close() error { return nil }
