package main

import (
	"cmp"
	"encoding/csv"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tlssniff/tlssniff/internal/testenv"
	"github.com/tlssniff/tlssniff/parser"
)

const (
	failuresPcap = "../../samples/failures.pcap"
	failuresCA   = "../../samples/failures-ca.pem"
	failuresKeys = "../../samples/failures.keys" // curl's key log
)

// tsharkFailures is what tshark reads of samples/failures.pcap, by client
// port: the alerts (description and sender's port), the leaf
// certificate's notAfter and names, the cipher suites and groups of the
// ClientHello, whether the server asked for a certificate and whether the
// client's Certificate held none, and who sent a FIN.
type tsharkConn struct {
	serverPort          string
	start               time.Time
	alert, alertFrom    string
	notAfter            time.Time
	names               []string
	suites, groups      []string
	certRequest, noCert bool
	serverFIN           bool
	clientRST           bool
	sni                 string
}

func tsharkFailures(t *testing.T, keyed bool) map[string]*tsharkConn {
	testenv.Tool(t, "tshark")
	conns := map[string]*tsharkConn{}
	get := func(src, dst string) *tsharkConn {
		client, server := src, dst
		if strings.HasPrefix(src, "4436") {
			client, server = dst, src
		}
		c := conns[client]
		if c == nil {
			c = &tsharkConn{serverPort: server}
			conns[client] = c
		}
		return c
	}
	read := []string{"-r", failuresPcap}
	if keyed {
		read = append(read, "-o", "tls.keylog_file:"+failuresKeys)
	}
	for _, r := range tsharkWith(t, read, "tcp", "tcp.srcport", "tcp.dstport", "frame.time_epoch", "tcp.flags.fin",
		"tls.alert_message.desc", "tls.handshake.type", "x509af.utcTime", "x509ce.dNSName", "tls.handshake.ciphersuite",
		"tls.handshake.extensions_supported_group", "tls.handshake.certificates_length", "tls.handshake.extensions_server_name", "tcp.flags.reset") {
		c := get(r[0], r[1])
		if c.start.IsZero() {
			sec, _ := strconv.ParseFloat(r[2], 64)
			c.start = time.Unix(0, int64(math.Round(sec*1e6))*1e3)
		}
		fromServer := c.serverPort == r[0]
		c.serverFIN = c.serverFIN || fromServer && r[3] == "1"
		c.clientRST = c.clientRST || !fromServer && r[12] == "1"

		if r[4] != "" {
			c.alert, c.alertFrom = r[4], map[bool]string{true: "server", false: "client"}[fromServer]
		}
		types := strings.Split(r[5], ",")
		if slices.Contains(types, "1") {
			c.suites, c.groups, c.sni = strings.Split(r[8], ","), strings.Split(r[9], ","), r[11]
		}
		c.certRequest = c.certRequest || fromServer && slices.Contains(types, "13")
		c.noCert = c.noCert || !fromServer && slices.Contains(types, "11") && r[10] == "0"
		if fromServer && r[6] != "" && c.notAfter.IsZero() {
			// notBefore and notAfter of each certificate, the leaf first
			dates := strings.Split(r[6], ",")
			c.notAfter, _ = time.Parse("2006-01-02 15:04:05 (UTC)", dates[1])
			c.names = strings.Split(r[7], ",")
		}
	}
	maps.DeleteFunc(conns, func(_ string, c *tsharkConn) bool { return c.suites == nil }) // make.sh's probes of the ports
	return conns
}

// TestWhyItFailed checks each rule of parser.Reason on the real failures
// of samples/failures.pcap (curl against OpenSSL and Python's ssl), and on
// the failures of the other samples and the corpus: the sentence is built
// here from what tshark reads of the same packets (the alert and who sent
// it, the certificate's dates, what the client offered, the Certificate
// the client sent empty, the server's FIN), and must be the one tlssniff
// writes, in JSON and in the table's outcome column.
func TestWhyItFailed(t *testing.T) {
	for _, keyed := range []bool{false, true} {
		t.Run(fmt.Sprintf("keyed=%v", keyed), func(t *testing.T) { whyItFailed(t, keyed) })
	}
}

// whyItFailed is TestWhyItFailed with curl's key log given to tshark and
// tlssniff, or not: with it the TLS 1.3 chains and alerts are read.
func whyItFailed(t *testing.T, keyed bool) {
	ts := tsharkFailures(t, keyed)
	names := func(hex []string, name func(uint16) string) []string {
		var out []string
		for _, h := range hex {
			if n, _ := strconv.ParseUint(strings.TrimPrefix(h, "0x"), 16, 16); !parser.IsGREASE(uint16(n)) && n != 0xff {
				out = append(out, name(uint16(n)))
			}
		}
		return out
	}
	for _, trusted := range []bool{false, true} {
		args := []string{"-r", failuresPcap, "--json"}
		if trusted {
			args = append(args, "--ca-file", failuresCA)
		}
		if keyed {
			args = append(args, "--keylog", failuresKeys)
		}
		out, errs, code := tlssniff(t, args...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		conns := parseNDJSON(t, out)
		if len(conns) != len(ts) {
			t.Errorf("%d connections, tshark reads %d", len(conns), len(ts))
		}
		for _, c := range conns {
			port := strconv.Itoa(int(c.Client.Port))
			w := ts[port]
			if w == nil {
				t.Errorf("client port %s: not in tshark's reading", port)
				continue
			}
			var want string
			switch {
			case w.alert == "45" && w.alertFrom == "client" && !w.notAfter.IsZero():
				want = "the client rejected the server's certificate: expired " + w.notAfter.Format("2006-01-02")
			case w.alert == "45" && w.alertFrom == "client":
				want = "the client rejected the server's certificate: expired, it says; the certificate is encrypted " +
					"(TLS 1.3 without keys: give --keylog to see it)"
			case w.alert == "48" && w.alertFrom == "client" && trusted:
				want = "the client rejected the server's certificate: its chain is valid here: the peer's own trust store or pinning turned it down"
			case w.alert == "48" && w.alertFrom == "client":
				want = "the client rejected the server's certificate: its chain does not lead to a trusted root (unable to get local issuer certificate)"
			case w.alert == "40" && w.certRequest && w.noCert, w.alert == "116" && w.alertFrom == "server":
				want = "the server asked for a client certificate and the client sent none"
			case w.alert == "40":
				suites, groups := names(w.suites, parser.CipherSuiteName), names(w.groups, parser.GroupName)
				if len(suites) != 1 || len(groups) != 5 {
					t.Fatalf("the capture changed: suites %v, groups %v", suites, groups)
				}
				want = fmt.Sprintf("no cipher suite, group or signature algorithm in common: the client offered only cipher suite %s, "+
					"5 groups: %s and 1 more", suites[0], strings.Join(groups[:4], ", "))
			case w.alert == "112" && w.alertFrom == "server":
				want = "the server does not serve the name the client asked for (SNI)"
			case w.alert == "20" && w.alertFrom == "server":
				want = "the server could not verify the client's handshake (bad_record_mac): a middlebox changed it, or the " +
					"two stacks disagree on the keys"
			case w.alert == "86" && w.alertFrom == "server" && slices.Contains(w.suites, "0x5600"):
				want = "the server refused a fallback: the client offered TLS 1.2 at most with TLS_FALLBACK_SCSV, which says an " +
					"attempt at a higher version, one the server supports, had failed"
			case w.alert == "" && w.clientRST && c.ServerHello == nil:
				want = "the client reset the connection before any answer from the server"
			case w.alert == "" && w.serverFIN && len(w.suites) > 0 && c.ServerHello == nil:
				want = "the server closed the connection after the ClientHello without answering: it does not serve this name, " +
					"or does not speak TLS on this port"
			}
			if c.Reason != want {
				t.Errorf("port %s (server %s, alert %q from %s, trusted %v): reason\n%q, want\n%q", port, w.serverPort, w.alert,
					w.alertFrom, trusted, c.Reason, want)
			}
			if want == "" && !c.Established {
				t.Errorf("port %s: failed (%s) without a rule", port, c.Outcome)
			}
		}
		table, _, _ := tlssniff(t, slices.DeleteFunc(slices.Clone(args), func(a string) bool { return a == "--json" })...)
		for _, c := range conns {
			if c.Reason != "" && !strings.Contains(table, ": "+c.Reason+"\n") {
				t.Errorf("the table does not end a row with %q:\n%s", c.Reason, table)
			}
		}
	}
}

// TestReasonsOfOtherFailures: every failed connection of the samples and
// the corpus that a rule explains gets its sentence, and the alert or
// close it starts from is the one tshark reads.
func TestReasonsOfOtherFailures(t *testing.T) {
	traces := testenv.Corpus(t, "zeek/traces")
	corpusFile := func(t *testing.T, name string) string { return filepath.Join(traces, name) }
	for _, tc := range []struct {
		path   string
		server uint16
		want   string
	}{
		{"../../samples/alerts.pcap", 443, "the client rejected the server's certificate: its chain does not lead to a trusted root " +
			"(self signed certificate in certificate chain)"},
		{"../../samples/impaired.pcap", 443, "the client gave up after the server's certificate: the certificate is encrypted " +
			"(TLS 1.3 without keys: give --keylog to see it)"},
		{corpusFile(t, "tls-1.2-handshake-failure.pcap"), 0, "no cipher suite, group or signature algorithm in common: the client " +
			"offered 8 cipher suites: TLS_ECDHE_RSA_WITH_NULL_SHA, TLS_ECDHE_ECDSA_WITH_NULL_SHA, TLS_ECDH_anon_WITH_NULL_SHA, " +
			"TLS_ECDH_RSA_WITH_NULL_SHA and 4 more, 25 groups: sect571r1, sect571k1, secp521r1, sect409k1 and 21 more"},
		{corpusFile(t, "certificate-request-failed.pcap"), 0, "the server asked for a client certificate and the client sent none"},
	} {
		out, _, _ := tlssniff(t, "-r", tc.path, "--json")
		var got []string
		for _, c := range parseNDJSON(t, out) {
			if c.Reason != "" {
				got = append(got, c.Reason)
			}
		}
		if !slices.Contains(got, tc.want) {
			t.Errorf("%s: reasons %q, want one %q", tc.path, got, tc.want)
		}
	}
	// The corpus's capture of a client certificate the server refused:
	// tshark reads the server's CertificateRequest and a client
	// Certificate of no certificates before the server's alert.
	path := corpusFile(t, "certificate-request-failed.pcap")
	rows := tsharkFields(t, path, "tls.handshake.type==11 && tls.handshake.certificates_length==0", "frame.number")
	reqs := tsharkFields(t, path, "tls.handshake.type==13", "frame.number")
	alerts := tsharkFields(t, path, "tls.alert_message.desc==40", "frame.number")
	if len(rows) != 1 || len(reqs) != 1 || len(alerts) != 1 {
		t.Errorf("tshark: empty client Certificate in %v, CertificateRequest in %v, handshake_failure in %v", rows, reqs, alerts)
	}
}

// TestCertificatesEverywhere: the table's certificate column, the CSV's
// cert_ columns and the --cert-expires-within and --cert-status filters
// on samples/failures.pcap, against the notAfter and names tshark reads
// and the days from each connection's first packet.
func TestCertificatesEverywhere(t *testing.T) {
	ts := tsharkFailures(t, false)
	out, errs, code := tlssniff(t, "-r", failuresPcap, "--format", "csv", "--ca-file", failuresCA)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	within30 := map[string]bool{}
	statuses := map[string]string{}
	for _, r := range rows[1:] {
		port, sni := r[col["client_port"]], r[col["sni"]]
		w := ts[port]
		var wantDays, wantAfter, wantStatus string
		if !w.notAfter.IsZero() {
			days := int(math.Floor(w.notAfter.Sub(w.start).Hours() / 24))
			wantDays, wantAfter = strconv.Itoa(days), w.notAfter.Format("2006-01-02T15:04:05.000000000Z")
			switch {
			case days < 0:
				wantStatus = parser.CertExpired
			case !slices.Contains(w.names, sni):
				wantStatus = parser.CertMismatch
			default:
				wantStatus = parser.CertOK
			}
			if days < 30 {
				within30[port] = true
			}
		}
		statuses[port] = wantStatus
		if got := [3]string{r[col["cert_days_left"]], r[col["cert_not_after"]], r[col["cert_status"]]}; got != [3]string{wantDays, wantAfter, wantStatus} {
			t.Errorf("port %s: cert_days_left, cert_not_after, cert_status %q, want %q %q %q", port, got, wantDays, wantAfter, wantStatus)
		}
	}
	if len(within30) != 2 || !slices.Contains(slices.Collect(maps.Values(statuses)), parser.CertMismatch) {
		t.Fatalf("the capture changed: %d certificates expire within 30 days, statuses %v", len(within30), statuses)
	}
	ports := func(args ...string) map[string]bool {
		out, errs, code := tlssniff(t, append([]string{"-r", failuresPcap, "--json", "--ca-file", failuresCA}, args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
		got := map[string]bool{}
		for _, c := range parseNDJSON(t, out) {
			got[strconv.Itoa(int(c.Client.Port))] = true
		}
		return got
	}
	if got := ports("--cert-expires-within", "30"); !equalSets(got, within30) {
		t.Errorf("--cert-expires-within 30: client ports %v, want %v", got, within30)
	}
	want := map[string]bool{}
	for port, s := range statuses {
		if s == parser.CertMismatch || s == parser.CertExpired {
			want[port] = true
		}
	}
	if got := ports("--cert-status", "mismatch", "--cert-status", "expired"); !equalSets(got, want) {
		t.Errorf("--cert-status mismatch,expired: client ports %v, want %v", got, want)
	}
	table, _, _ := tlssniff(t, "-r", failuresPcap, "--ca-file", failuresCA, "--cert-status", "ok")
	for _, line := range strings.Split(strings.TrimSpace(table), "\n")[1:] {
		if !strings.Contains(line, "d ok  ") {
			t.Errorf("a row of --cert-status ok without days left and ok:\n%s", line)
		}
	}
}

func equalSets(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// TestSummaryAnswers: the summary's alerts by server and its certificates
// at risk on samples/failures.pcap are what tshark reads: each alert with
// its sender, server and SNI; each certificate that expired, ends within
// 30 days of the last connection, or does not cover the SNI, with its
// notAfter.
func TestSummaryAnswers(t *testing.T) {
	ts := tsharkFailures(t, false)
	out, errs, code := tlssniff(t, "-r", failuresPcap, "--summary", "--ca-file", failuresCA)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	section := func(title string) []string {
		_, rest, ok := strings.Cut(out, title)
		if !ok {
			t.Fatalf("no section %q in\n%s", title, out)
		}
		lines := strings.Split(rest, "\n")[2:] // the rest of the title line, the header
		end := slices.Index(lines, "")
		var rows []string
		for _, l := range lines[:end] {
			rows = append(rows, strings.Join(strings.Fields(l), " "))
		}
		slices.Sort(rows)
		return rows
	}
	alerts := map[string]int{}
	var last time.Time
	for _, w := range ts {
		if w.alert != "" {
			desc, _ := strconv.Atoi(w.alert)
			alerts[fmt.Sprintf("127.0.0.1:%s %s %s %s", w.serverPort, cmp.Or(w.sni, "-"), w.alertFrom, parser.AlertName(uint8(desc)))]++
		}
		if w.start.After(last) {
			last = w.start
		}
	}
	var want []string
	for k, n := range alerts {
		want = append(want, fmt.Sprintf("%s %d", k, n))
	}
	slices.Sort(want)
	if got := section("Alerts by server"); !slices.Equal(got, want) {
		t.Errorf("alerts by server:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	risky := map[string]int{}
	for _, w := range ts {
		if w.notAfter.IsZero() {
			continue
		}
		days := int(math.Floor(w.notAfter.Sub(last).Hours() / 24))
		status, left := parser.CertOK, strconv.Itoa(days)
		switch {
		case days < 0:
			status, left = parser.CertExpired, "expired"
		case !slices.Contains(w.names, w.sni):
			status = parser.CertMismatch
		case days >= 30:
			continue
		}
		risky[fmt.Sprintf("127.0.0.1:%s %s %s %s %s %s", w.serverPort, w.sni, w.names[0], w.notAfter.Format("2006-01-02"), left, status)]++
	}
	want = want[:0]
	for k, n := range risky {
		want = append(want, fmt.Sprintf("%s %d", k, n))
	}
	slices.Sort(want)
	if got := section("Certificates at risk"); len(want) != 3 || !slices.Equal(got, want) {
		t.Errorf("certificates at risk:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
