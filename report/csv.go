package report

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"

	"github.com/tlssniff/tlssniff/parser"
)

// csvHeader names the CSV columns: the flat fields of the JSON schema, with
// the same names and values, wire strings escaped as in the table; an
// absent value is an empty cell.
var csvHeader = []string{"start", "client_ip", "client_port", "server_ip", "server_port", "sni", "version",
	"cipher_suite", "group", "alpn", "resumed", "established", "outcome", "outcome_detail", "reason",
	"ja3", "ja4", "ja3s", "client_hello_length", "client_hello_tcp_segments", "cert_subject", "cert_not_after", "cert_days_left", "cert_status", "validation_status",
	"handshake_ms", "syn_to_synack_ms", "synack_to_ack_ms", "syn_to_client_hello_ms", "client_hello_to_server_hello_ms",
	"server_flight_ms", "hello_retry_ms", "client_first_data_ms", "server_first_data_ms",
	"gaps", "retransmitted_segments", "issues", "ts", "uid", "community_id", "protocol"}

// CSV writes one row per connection after a header row, as soon as each is
// written.
type CSV struct {
	w      *csv.Writer
	header bool
	arena  arena
}

// NewCSV returns a CSV sink writing to w.
func NewCSV(w io.Writer) *CSV { return &CSV{w: csv.NewWriter(w)} }

// Write implements Sink.
func (s *CSV) Write(c *parser.Connection) error {
	if err := s.writeHeader(); err != nil {
		return err
	}
	j := s.arena.connection(c)
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return cell(*p)
	}
	num := func(p *float64) string {
		if p == nil {
			return ""
		}
		return strconv.FormatFloat(*p, 'f', -1, 64)
	}
	var ja3, ja4, ja3s, chLen, chSeg, subject, notAfter, daysLeft, status string
	if ch := j.ClientHello; ch != nil {
		ja3, ja4, chLen, chSeg = ch.JA3, ch.JA4, strconv.Itoa(ch.Length), strconv.Itoa(ch.Segments)
	}
	if j.ServerHello != nil {
		ja3s = j.ServerHello.JA3S
	}
	if len(j.Certificates) > 0 {
		subject, notAfter = cell(j.Certificates[0].Subject), j.Certificates[0].NotAfter
	}
	if d, ok := c.CertDaysLeft(); ok {
		daysLeft = strconv.Itoa(d)
	}
	if j.Validation != nil {
		status = j.Validation.Status
	}
	t := j.Timing
	err := s.w.Write([]string{j.Start.String(), j.Client.IP, strconv.Itoa(int(j.Client.Port)), j.Server.IP, strconv.Itoa(int(j.Server.Port)),
		str(j.SNI), str(j.Version), str(j.CipherSuite), str(j.Group), str(j.ALPN),
		strconv.FormatBool(j.Resumed), strconv.FormatBool(j.Established), j.Outcome, j.OutcomeDetail, j.Reason,
		ja3, ja4, ja3s, chLen, chSeg, subject, notAfter, daysLeft, c.CertStatus(), status,
		num(t.HandshakeMS), num(t.SYNToSYNACKMS), num(t.SYNACKToACKMS), num(t.SYNToClientHelloMS), num(t.ClientHelloToServerHelloMS),
		num(t.ServerFlightMS), num(t.HelloRetryMS), num(t.ClientFirstDataMS), num(t.ServerFirstDataMS),
		strconv.Itoa(j.Quality.Gaps), strconv.FormatUint(j.Quality.Retransmits, 10), strconv.Itoa(len(j.Issues)),
		string(j.TS.appendJSON(nil)), j.UID, j.CommunityID, c.Protocol()})
	if err != nil {
		return err
	}
	s.w.Flush()
	return s.w.Error()
}

// cell is a wire string as a CSV cell: escaped as for a terminal (a CSV
// is read on terminals too, and clean leaves no tab or carriage return),
// and, when it begins with a character that makes a spreadsheet read a
// formula (=, +, -, @), preceded by a single quote, as OWASP's CSV
// injection advice says.
func cell(s string) string {
	s = clean(s)
	if s != "" && strings.ContainsRune("=+-@", rune(s[0])) {
		return "'" + s
	}
	return s
}

// writeHeader writes the header row once.
func (s *CSV) writeHeader() error {
	if s.header {
		return nil
	}
	s.header = true
	return s.w.Write(csvHeader)
}

// Close implements Sink: a run without connections still gets its header.
func (s *CSV) Close() error {
	if err := s.writeHeader(); err != nil {
		return err
	}
	s.w.Flush()
	return s.w.Error()
}
