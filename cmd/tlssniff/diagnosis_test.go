package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tlssniff/tlssniff/report"
)

// tsharkEvent is one TCP segment of a connection as tshark reads it.
type tsharkEvent struct {
	at           float64 // ms from the capture's first frame
	fromServer   bool
	flags        string // tcp.flags.str
	types        []string
	retransmit   bool
	keyShares    string
	psk          bool // a pre_shared_key extension (41)
	certificates []string
}

// tsharkStreams reads a capture's TCP segments, by client port.
func tsharkStreams(t *testing.T, path string, serverPort func(string) bool) map[string][]tsharkEvent {
	out := map[string][]tsharkEvent{}
	for _, r := range tsharkFields(t, path, "tcp", "frame.time_relative", "tcp.srcport", "tcp.dstport", "tcp.flags.str",
		"tls.handshake.type", "tcp.analysis.retransmission", "tls.handshake.extensions_key_share_group",
		"tls.handshake.extension.type", "tls.handshake.certificate_length") {
		sec, _ := strconv.ParseFloat(r[0], 64)
		e := tsharkEvent{at: sec * 1000, fromServer: serverPort(r[1]), flags: r[3], retransmit: r[5] == "1", keyShares: r[6],
			psk: slices.Contains(strings.Split(r[7], ","), "41"), certificates: strings.Split(r[8], ",")}
		if r[4] != "" {
			e.types = strings.Split(r[4], ",")
		}
		client := r[1]
		if e.fromServer {
			client = r[2]
		}
		out[client] = append(out[client], e)
	}
	return out
}

// first returns the time of the first event that matches.
func first(t *testing.T, evs []tsharkEvent, match func(tsharkEvent) bool) float64 {
	t.Helper()
	for _, e := range evs {
		if match(e) {
			return e.at
		}
	}
	t.Fatal("tshark: no such segment")
	return 0
}

func hasType(typ string, fromServer bool) func(tsharkEvent) bool {
	return func(e tsharkEvent) bool { return e.fromServer == fromServer && slices.Contains(e.types, typ) }
}

// firstVisit is the time of the first ClientHello to serverPort.
func firstVisit(t *testing.T, ts map[string][]tsharkEvent, server map[string]string, serverPort string) float64 {
	at := math.Inf(1)
	for port, evs := range ts {
		if server[port] == serverPort {
			at = min(at, first(t, evs, hasType("1", false)))
		}
	}
	return at
}

// TestWhereTheTimeWent checks each finding of parser.Diagnosis on the
// captures made for it (samples/delays.pcap near the client,
// samples/delays-server.pcap near the server: the same connections over
// a 50 ms delay line), its cost against tshark's frame times: a server
// that takes 300 ms before its ServerHello, a 7 kB chain that waits for
// the client's ACKs, a HelloRetryRequest, a lost segment, a client that
// thinks 200 ms before its Finished, and a client that does not resume
// the session it was given.
func TestWhereTheTimeWent(t *testing.T) {
	for _, name := range []string{"delays.pcap", "delays-server.pcap"} {
		t.Run(name, func(t *testing.T) {
			path := "../../samples/" + name
			ts := tsharkStreams(t, path, func(port string) bool { return strings.HasPrefix(port, "4437") })
			out, errs, code := tlssniff(t, "-r", path, "--json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			findings := map[string]map[string]report.Finding{} // client port, kind
			resumed := map[string]bool{}
			server := map[string]string{}
			for _, c := range parseNDJSON(t, out) {
				port := strconv.Itoa(int(c.Client.Port))
				findings[port], resumed[port], server[port] = map[string]report.Finding{}, c.Resumed, strconv.Itoa(int(c.Server.Port))
				for _, f := range c.Diagnosis {
					findings[port][f.Kind] = f
				}
			}
			for port, evs := range ts {
				fs := findings[port]
				if fs == nil {
					continue // make.sh's probe of a port
				}
				syn := first(t, evs, func(e tsharkEvent) bool { return strings.HasSuffix(e.flags, "S·") && !e.fromServer })
				synack := first(t, evs, func(e tsharkEvent) bool { return strings.HasSuffix(e.flags, "S·") && e.fromServer })
				ack := first(t, evs, func(e tsharkEvent) bool { return !e.fromServer && e.at > synack })
				toServer, toClient := synack-syn, ack-synack
				ch := first(t, evs, hasType("1", false))
				sh := first(t, evs, hasType("2", true))
				cost := func(kind string, want float64, within float64) {
					t.Helper()
					f, ok := fs[kind]
					if !ok || f.CostMS == nil || math.Abs(*f.CostMS-want) > within {
						t.Errorf("port %s (server %s): %s %+v, want a cost of %.3f ms (tshark); findings %v", port, server[port], kind, f, want, fs)
					}
				}
				switch server[port] {
				case "44370": // the slow server
					cost("server_think", sh-ch-toServer, 0.002)
					if *fs["server_think"].CostMS < 300 {
						t.Errorf("the server slept 300 ms; server_think %v", *fs["server_think"].CostMS)
					}
				case "44371": // the big chain on a window of 4 segments
					shd := first(t, evs, hasType("14", true))
					cost("server_flight_waited_for_acks", shd-sh, 0.002)
					if rtt := toServer + toClient; shd-sh < 0.75*rtt {
						t.Errorf("tshark: the flight took %.3f ms, the round trip %.3f", shd-sh, rtt)
					}
					sum := 0
					for _, e := range evs {
						for _, l := range e.certificates {
							n, _ := strconv.Atoi(l)
							sum += n
						}
					}
					if !strings.Contains(fs["server_flight_waited_for_acks"].Text, "a chain of 3 certificates, "+strconv.Itoa(sum)+" bytes") {
						t.Errorf("chain of %d bytes (tshark): %q", sum, fs["server_flight_waited_for_acks"].Text)
					}
				case "44372": // HelloRetryRequest: an X25519 key share, a server of P-256 only
					chs := slices.DeleteFunc(slices.Clone(evs), func(e tsharkEvent) bool { return !hasType("1", false)(e) })
					if len(chs) != 2 || chs[0].keyShares != "29" {
						t.Fatalf("tshark: ClientHellos %+v", chs)
					}
					cost("hello_retry", chs[1].at-chs[0].at, 0.002)
					if !strings.Contains(fs["hello_retry"].Text, "key shares for x25519, the server asked for secp256r1") {
						t.Errorf("hello_retry: %q", fs["hello_retry"].Text)
					}
				case "44373": // the server's first segment lost
					if name == "delays-server.pcap" {
						resent := first(t, evs, func(e tsharkEvent) bool { return e.retransmit && e.fromServer })
						cost("retransmission", resent-sh, 0.002)
					} else {
						// The client's capture cannot see the loss: the wait is
						// the server's, as the server's capture measured it.
						cost("server_think", sh-ch-toServer, 0.002)
					}
				case "44375": // the client that thinks 200 ms
					shd := first(t, evs, hasType("14", true))
					cke := first(t, evs, hasType("16", false))
					cost("client_think", cke-shd-toClient, 0.002)
					if *fs["client_think"].CostMS < 200 {
						t.Errorf("the client slept 200 ms; client_think %v", *fs["client_think"].CostMS)
					}
				case "44374": // the client that comes back without the tickets, then resumes
					chEv := evs[slices.IndexFunc(evs, hasType("1", false))]
					_, noResumption := fs["no_resumption"]
					firstVisit := ch == firstVisit(t, ts, server, "44374")
					if resumed[port] != chEv.psk || noResumption != (!chEv.psk && !firstVisit) {
						t.Errorf("port %s: pre_shared_key offered %v (tshark), resumed %v, no_resumption finding %v", port, chEv.psk,
							resumed[port], noResumption)
					}
				}
				if rt, ok := fs["round_trips"]; ok {
					// The client's wait: its ClientHello to the server's last
					// flight, as the server's Finished reached it.
					var others float64
					for kind, f := range fs {
						if kind != "round_trips" && f.CostMS != nil {
							others = max(others, *f.CostMS)
						}
					}
					if *rt.CostMS > 10 && others < *rt.CostMS/2 {
						t.Errorf("port %s: %.1f ms unexplained by %v", port, *rt.CostMS, fs)
					}
				} else {
					t.Errorf("port %s: no round_trips finding", port)
				}
			}
		})
	}
}

// TestSlowestServers: the summary leads with the slowest servers of the
// delay-line captures, each with the main cause its connections'
// findings give, the cost being the finding's (TestWhereTheTimeWent
// checks those against tshark).
func TestSlowestServers(t *testing.T) {
	for name, lost := range map[string]string{"delays.pcap": "server think time", "delays-server.pcap": "retransmissions"} {
		path := "../../samples/" + name
		out, _, _ := tlssniff(t, "-r", path, "--summary")
		_, rest, _ := strings.Cut(out, "Slowest servers")
		rows := strings.Split(rest, "\n")[2:7]
		want := map[string]string{"44370": "server think time", "44371": "flight over the congestion window",
			"44372": "HelloRetryRequest", "44373": lost, "44375": "client think time"}
		js, _, _ := tlssniff(t, "-r", path, "--json")
		cost := map[string]float64{}
		for _, c := range parseNDJSON(t, js) {
			for _, f := range c.Diagnosis {
				if f.Kind != "round_trips" && f.CostMS != nil && *f.CostMS > cost[strconv.Itoa(int(c.Server.Port))] {
					cost[strconv.Itoa(int(c.Server.Port))] = *f.CostMS
				}
			}
		}
		for _, row := range rows {
			port := strings.TrimPrefix(strings.Fields(row)[0], "10.9.0.2:")
			if cause := fmt.Sprintf("%s, %.1f ms a connection", want[port], cost[port]); !strings.HasSuffix(row, cause) {
				t.Errorf("%s: row %q, want it to end with %q", name, row, cause)
			}
		}
	}
}

// TestFindingsExplainTheExtraTime: on every sample and corpus capture, a
// handshake whose round trips leave time unexplained (10 ms and a
// quarter of a round trip at least) has a finding that accounts for at
// least half of it.
func TestFindingsExplainTheExtraTime(t *testing.T) {
	checked := 0
	for _, path := range append(samples(t), corpusCaptures(t)...) {
		out, _, _ := tlssniff(t, "-r", path, "--json")
		for _, c := range parseNDJSON(t, out) {
			var extra, best float64
			for _, f := range c.Diagnosis {
				switch {
				case f.Kind == "round_trips":
					extra = *f.CostMS
				case f.CostMS != nil:
					best = max(best, *f.CostMS)
				}
			}
			if extra < 10 || c.Timing.TCPRoundTripMS != nil && extra < *c.Timing.TCPRoundTripMS/4 {
				continue
			}
			checked++
			if best < extra/2 {
				t.Errorf("%s %s:%d: %.1f ms unexplained; findings %+v", path, c.Client.IP, c.Client.Port, extra, c.Diagnosis)
			}
		}
	}
	if checked < 20 {
		t.Errorf("only %d slow handshakes checked", checked)
	}
}
