package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tlssniff/tlssniff/internal/testenv"
	"github.com/tlssniff/tlssniff/internal/tlstest"
)

// promQuery asks a Prometheus server for an instant PromQL query and
// returns its samples by their labels written as {k="v",...}.
func promQuery(t *testing.T, server, query string) (map[string]float64, error) {
	resp, err := http.Get(server + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string
		Error  string
		Data   struct {
			Result []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, err
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s: %s", query, r.Error)
	}
	out := map[string]float64{}
	for _, s := range r.Data.Result {
		v, _ := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
		b, _ := json.Marshal(s.Metric)
		out[string(b)] = v
	}
	return out, nil
}

// freePort returns a loopback address no one listens on now.
func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestPrometheus runs Debian's Prometheus server against tlssniff's
// --metrics while handshakes run on loopback: established ones to three
// servers and one a client refuses. PromQL on the server then returns the
// counts tlssniff reported in its NDJSON: handshakes by outcome, the top
// servers by name and the rest as "other", alerts, the latency histograms
// (native, as the server asks for them), certificate days left and the
// kernel's packet counts.
func TestPrometheus(t *testing.T) {
	needLive(t)
	promBin := testenv.Tool(t, "prometheus")
	pki, err := tlstest.NewPKI()
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := tlsServer(t, pki)
	port := ln.Addr().(*net.TCPAddr).Port
	s := startSniffer(t, "-f", fmt.Sprintf("tcp port %d", port), "--json", "--metrics", "127.0.0.1:0", "--metrics-servers", "2")
	// The metrics are served once the capture is listening: wait for it.
	serving := regexp.MustCompile(`serving metrics at http://([0-9.:]+)/metrics`)
	s.await(t, "serving metrics", func() bool { return serving.MatchString(s.errs.String()) })
	m := serving.FindStringSubmatch(s.errs.String())

	dir := t.TempDir()
	config := fmt.Sprintf("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: tlssniff\n    static_configs:\n      - targets: ['%s']\n", m[1])
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	web := freePort(t)
	prom := exec.Command(promBin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+web, "--enable-feature=native-histograms")
	var promLog syncBuffer
	prom.Stdout, prom.Stderr = &promLog, &promLog
	prom.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { prom.Process.Kill(); prom.Wait() }()
	server := "http://" + web

	handshakes := []string{"a.example.test", "a.example.test", "a.example.test", "b.example.test", "b.example.test", "c.example.test"}
	for i, sni := range handshakes {
		v := []uint16{tls.VersionTLS12, tls.VersionTLS13}[i%2]
		cfg, _ := pki.Configs(sni, v, v)
		c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadFull(c, make([]byte, 6))
		c.Close()
	}
	// A client that does not trust the server's certificate: an alert.
	refusing, _ := pki.Configs("refused.example.test", tls.VersionTLS12, tls.VersionTLS12) // its alert in the clear
	refusing.RootCAs = x509.NewCertPool()
	if c, err := tls.Dial("tcp", ln.Addr().String(), refusing); err == nil {
		c.Close()
		t.Fatal("the refusing client accepted the certificate")
	}
	conns := parseNDJSON(t, strings.Join(s.waitLines(t, len(handshakes)+1), "\n")+"\n")

	byOutcome, alerts, timed := map[string]float64{}, 0.0, 0.0
	for _, c := range conns {
		byOutcome[fmt.Sprintf(`{"outcome":%q}`, c.Outcome)]++
		alerts += float64(len(c.Alerts))
		if c.Timing.HandshakeMS != nil {
			timed++
		}
	}
	if alerts == 0 || byOutcome[`{"outcome":"established"}`] != float64(len(handshakes)) {
		t.Fatalf("the NDJSON: %v, %v alerts", byOutcome, alerts)
	}
	want := []struct {
		query string
		want  map[string]float64
	}{
		{`sum by (outcome) (tlssniff_handshakes_total)`, byOutcome},
		{`sum by (server) (tlssniff_handshakes_total)`, map[string]float64{`{"server":"a.example.test"}`: 3,
			`{"server":"b.example.test"}`: 2, `{"server":"other"}`: 2}},
		{`sum(tlssniff_alerts_total)`, map[string]float64{`{}`: alerts}},
		{`histogram_count(tlssniff_handshake_duration_seconds)`, map[string]float64{`{"instance":"` + m[1] + `","job":"tlssniff"}`: timed}},
		{`count(tlssniff_certificate_days_left > 300)`, map[string]float64{`{}`: 2}},
		{`tlssniff_packets_received_total > bool 20`, map[string]float64{`{"instance":"` + m[1] + `","job":"tlssniff"}`: 1}},
	}
	var last map[int]string
	deadline := time.Now().Add(60 * time.Second)
	for {
		last = map[int]string{}
		for i, w := range want {
			got, err := promQuery(t, server, w.query)
			if err != nil || fmt.Sprint(got) != fmt.Sprint(w.want) {
				last[i] = fmt.Sprintf("%s: got %v (%v), want %v", w.query, got, err, w.want)
			}
		}
		if len(last) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, e := range last {
		t.Error(e)
	}
	if len(last) > 0 {
		t.Logf("prometheus:\n%s", promLog.String())
	}
	if code := s.interrupt(t, syscall.SIGINT); code != 0 {
		t.Errorf("exit %d", code)
	}
}
