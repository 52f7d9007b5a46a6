package parser

import (
	"time"

	"github.com/tlssniff/tlssniff/flowstats"
)

// Timing holds the durations of a connection's steps; a step not seen is
// nil, never zero.
type Timing struct {
	// Handshake runs from the first ClientHello to the client's Finished.
	Handshake *time.Duration
	// ClientHelloToServerHello runs from the first ClientHello to the
	// ServerHello.
	ClientHelloToServerHello *time.Duration
	// HelloRetry is the round trip a HelloRetryRequest (or a DTLS
	// HelloVerifyRequest) cost: from the first ClientHello to the second.
	HelloRetry *time.Duration
	// TCP handshake, as seen from the capture point: SYN to SYN/ACK is the
	// round trip to the server's side, SYN/ACK to ACK the one to the
	// client's.
	SYNToSYNACK *time.Duration
	SYNACKToACK *time.Duration
	// TCPRoundTrip is their sum: the client-server round trip wherever the
	// capture point is.
	TCPRoundTrip *time.Duration
	// CaptureNear says which end the capture point is close to, from the
	// two legs: "client" when the SYN/ACK-to-ACK leg is under a quarter of
	// the other, "server" the other way round, "" in between or unknown.
	CaptureNear string
	// SYNToClientHello runs from the SYN to the completed ClientHello.
	SYNToClientHello *time.Duration
	// ServerFlight runs from the ServerHello to the last message of the
	// server's flight (ServerHelloDone, or its Finished in TLS 1.3).
	ServerFlight *time.Duration
	// ClientFirstData and ServerFirstData run from the connection's first
	// packet (the SYN when captured) to each side's first application data.
	ClientFirstData *time.Duration
	ServerFirstData *time.Duration
}

func span(slot *time.Duration, from, to time.Time) *time.Duration {
	if from.IsZero() || to.IsZero() || to.Before(from) {
		return nil
	}
	*slot = to.Sub(from)
	return slot
}

// timing derives the connection's Timing from its landmarks.
func (c *Conn) timing(t flowstats.Stats) {
	cc := c.c
	d := &cc.durations
	cc.Timing = Timing{
		Handshake:                span(&d[0], cc.ClientHelloTime, cc.ClientFinishedTime),
		ClientHelloToServerHello: span(&d[1], cc.ClientHelloTime, cc.ServerHelloTime),
		HelloRetry:               span(&d[2], cc.ClientHelloTime, cc.SecondClientHelloTime),
		SYNToSYNACK:              span(&d[3], t.SYNTime, t.SYNACKTime),
		SYNACKToACK:              span(&d[4], t.SYNACKTime, t.ACKTime),
		SYNToClientHello:         span(&d[5], t.SYNTime, cc.ClientHelloTime),
		ServerFlight:             span(&d[6], cc.ServerHelloTime, c.serverFlightEnd()),
		ClientFirstData:          span(&d[7], cc.Start, cc.ClientDataTime),
		ServerFirstData:          span(&d[8], cc.Start, cc.ServerDataTime),
	}
	if a, b := cc.Timing.SYNToSYNACK, cc.Timing.SYNACKToACK; a != nil && b != nil {
		d[9] = *a + *b
		cc.Timing.TCPRoundTrip = &d[9]
		switch {
		case 4**b < *a:
			cc.Timing.CaptureNear = "client"
		case 4**a < *b:
			cc.Timing.CaptureNear = "server"
		}
	}
}

// serverFlightEnd is the time of the last message of the server's first
// flight: ServerHelloDone up to TLS 1.2 (or the Finished of an abbreviated
// handshake), the Finished in TLS 1.3.
func (c *Conn) serverFlightEnd() time.Time {
	for _, m := range c.c.Messages {
		if m.From == FromServer && (m.Type == MsgServerHelloDone || m.Type == MsgFinished) {
			return m.Time
		}
	}
	return time.Time{}
}
