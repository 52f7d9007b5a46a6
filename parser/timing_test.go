package parser

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/tlssniff/tlssniff/flowstats"
)

// TestTiming derives every step from a real TLS 1.2 session played at one
// write per millisecond, and places the capture point from the TCP legs.
func TestTiming(t *testing.T) {
	c, s := testPKI(t).Configs("www.example.test", tls.VersionTLS12, tls.VersionTLS12)
	writes := session(t, c, s)
	ms := func(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }
	for _, tc := range []struct {
		name          string
		synack, ack   time.Duration // after the SYN
		near          string
		wantRoundTrip time.Duration
	}{
		{"near the client", ms(40), ms(40.5), "client", ms(40.5)},
		{"near the server", ms(0.5), ms(40.5), "server", ms(40.5)},
		{"in the middle", ms(20), ms(40), "", ms(40)},
	} {
		syn := t0.Add(-ms(50)) // the SYN came 50 ms before the first write
		var got *Connection
		conn := NewConn(TCP, clientAddr, serverAddr, syn, Options{
			Emit:      func(c *Connection) { got = c },
			Transport: &flowstats.Stats{SYN: true, SYNTime: syn, SYNACKTime: syn.Add(tc.synack), ACKTime: syn.Add(tc.ack)},
		})
		for i, w := range writes {
			side := 0
			if !w.FromClient {
				side = 1
			}
			conn.Data(side, w.Data, t0.Add(time.Duration(i)*time.Millisecond))
		}
		conn.Close()
		tm := got.Timing
		if tm.CaptureNear != tc.near || *tm.TCPRoundTrip != tc.wantRoundTrip || *tm.SYNToClientHello != ms(50) {
			t.Errorf("%s: near %q, round trip %v, SYN to ClientHello %v", tc.name, tm.CaptureNear, *tm.TCPRoundTrip, *tm.SYNToClientHello)
		}
		// Writes: ClientHello (0), the server's flight (1), the client's
		// flight (2), the server's ticket and Finished (3), then data.
		if *tm.ClientHelloToServerHello != ms(1) || *tm.Handshake != ms(2) || tm.HelloRetry != nil {
			t.Errorf("%s: ClientHello to ServerHello %v, handshake %v, HRR %v", tc.name, *tm.ClientHelloToServerHello, *tm.Handshake, tm.HelloRetry)
		}
		if tm.ClientFirstData == nil || tm.ServerFirstData == nil || *tm.ClientFirstData <= ms(52) || *tm.ServerFirstData <= *tm.ClientFirstData {
			t.Errorf("%s: first data client %v server %v", tc.name, tm.ClientFirstData, tm.ServerFirstData)
		}
	}
}
