// Package metrics serves what tlssniff sees to Prometheus (--metrics),
// through prometheus/client_golang: handshakes by outcome, version and
// server, the handshake's and the ClientHello-to-ServerHello latencies as
// histograms (classic buckets, and native ones for a Prometheus that asks
// for them), alerts by description and side, the days left on each
// server's certificate, and the packets the kernel received and dropped.
//
// It is a sink beside the report's: Write takes each connection as it is
// written. Server names are bounded: a handshake is counted under its
// server's name while that name is among the Servers most counted so far,
// and under "other" otherwise, so that every series only grows and there
// are at most 4×Servers names (maxNamed) however many servers there are.
// A server is its SNI, or its address when the client sent none.
package metrics

import (
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tlssniff/tlssniff/capture"
	"github.com/tlssniff/tlssniff/parser"
)

// MaxServers bounds the server names labelled at once: finding the least
// counted of them is a walk over them all.
const MaxServers = 1000

// Other is the server label of the handshakes of servers not in the top.
const Other = "other"

// maxTracked bounds the servers whose handshakes are counted to find the
// top ones; when it is reached, those outside the top are forgotten.
const maxTracked = 10000

// Metrics holds the collectors of one run.
type Metrics struct {
	reg        *prometheus.Registry
	handshakes *prometheus.CounterVec
	latency    prometheus.Histogram
	helloRTT   prometheus.Histogram
	alerts     *prometheus.CounterVec
	daysLeft   *prometheus.GaugeVec

	servers int            // how many names are labelled at once
	counts  map[string]int // handshakes by server, for the top
	named   map[string]bool
	top     map[string]bool // the servers most counted now
}

// latencyBuckets are the classic buckets of the latency histograms, in
// seconds: 1 ms to 10 s.
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func histogram(name, help string) prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "tlssniff", Name: name, Help: help,
		Buckets: latencyBuckets, NativeHistogramBucketFactor: 1.1, NativeHistogramMaxBucketNumber: 160,
		NativeHistogramMinResetDuration: time.Hour})
}

// New returns the metrics of a run labelling at most servers server names
// (the rest are "other"); kernel, when not nil, gives the kernel's counts.
func New(servers int, kernel capture.KernelCounter) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "tlssniff", Name: "handshakes_total",
			Help: "TLS, DTLS and QUIC handshakes decided, by outcome, negotiated version and server (SNI, or address)."},
			[]string{"outcome", "version", "server"}),
		latency: histogram("handshake_duration_seconds", "From the first ClientHello to the client's Finished."),
		helloRTT: histogram("client_hello_to_server_hello_seconds",
			"From the first ClientHello to the ServerHello: a network round trip and the server's think time."),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "tlssniff", Name: "alerts_total",
			Help: "Alerts read in the clear, by description and the side that sent them."}, []string{"description", "side"}),
		daysLeft: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "tlssniff", Name: "certificate_days_left",
			Help: "Days from the last handshake seen to the expiry of the server's certificate (negative: expired)."},
			[]string{"server"}),
		servers: max(servers, 1),
		counts:  map[string]int{},
		named:   map[string]bool{},
		top:     map[string]bool{},
	}
	m.reg.MustRegister(m.handshakes, m.latency, m.helloRTT, m.alerts, m.daysLeft,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if kernel != nil {
		count := func(name, help string, v func(capture.KernelStats) uint64) prometheus.Collector {
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "tlssniff", Name: name, Help: help}, func() float64 {
				ks, _ := kernel.KernelStats()
				return float64(v(ks))
			})
		}
		m.reg.MustRegister(
			count("packets_received_total", "Packets the capture filter accepted, as the kernel counts them.",
				func(k capture.KernelStats) uint64 { return k.Received }),
			count("packets_dropped_total", "Packets the kernel dropped: no room in the capture buffer.",
				func(k capture.KernelStats) uint64 { return k.Dropped }))
	}
	return m
}

// Handler serves the metrics, in the text format or as protocol buffers
// (which native histograms need) as the scraper asks.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// maxNamed bounds the server names ever labelled.
func (m *Metrics) maxNamed() int { return 4 * m.servers }

// server is the label of a handshake with name: its name while it is
// among the servers most counted, else Other.
func (m *Metrics) server(name string) string {
	if _, ok := m.counts[name]; !ok && len(m.counts) == maxTracked {
		// Full: forget every server outside the top, once every
		// maxTracked-Servers new names, so each costs O(1) on average.
		for n := range m.counts {
			if !m.top[n] {
				delete(m.counts, n)
			}
		}
	}
	m.counts[name]++
	if !m.top[name] {
		if len(m.top) < m.servers {
			m.top[name] = true
		} else {
			least := ""
			for n := range m.top {
				if least == "" || m.counts[n] < m.counts[least] {
					least = n
				}
			}
			if m.counts[name] > m.counts[least] {
				delete(m.top, least)
				m.top[name] = true
			}
		}
	}
	if !m.top[name] || !m.named[name] && len(m.named) == m.maxNamed() {
		return Other
	}
	m.named[name] = true
	return name
}

// Write counts a connection.
func (m *Metrics) Write(c *parser.Connection) error {
	name, ok := c.SNI()
	if !ok {
		name = c.Server.Addr().String()
	}
	// A label is valid UTF-8 (client_golang panics otherwise); a wire
	// string is kept to the length of a DNS name.
	name = strings.ToValidUTF8(name[:min(len(name), 253)], "\uFFFD")
	server := m.server(name)
	version := ""
	if c.Version != 0 {
		version = parser.VersionName(c.Version)
	}
	m.handshakes.WithLabelValues(c.Outcome.String(), version, server).Inc()
	if d := c.Timing.Handshake; d != nil {
		m.latency.Observe(d.Seconds())
	}
	if d := c.Timing.ClientHelloToServerHello; d != nil {
		m.helloRTT.Observe(d.Seconds())
	}
	for _, a := range c.Alerts {
		m.alerts.WithLabelValues(parser.AlertName(a.Description), a.From.String()).Inc()
	}
	if days, ok := c.CertDaysLeft(); ok && server != Other {
		m.daysLeft.WithLabelValues(server).Set(float64(days))
	}
	return nil
}

// Close implements the sink interface; the metrics stay served.
func (m *Metrics) Close() error { return nil }
