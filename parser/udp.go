package parser

import "time"

// datagrams is the adapter of a UDP flow until its first datagram that is
// not STUN says which it is: DTLS records or QUIC packets. STUN, which
// WebRTC sends before and beside DTLS on the same ports, is skipped.
type datagrams struct {
	unframed
	c     *Conn
	dtls  *dtls
	quic  *quic
	inner adapter // the one chosen
}

func (d *datagrams) data(side int, b []byte, ts time.Time) bool {
	if isSTUN(b) {
		return true
	}
	switch {
	case d.dtls != nil:
	case (d.quic == nil || d.quic.info == nil) && isDTLSRecord(b):
		d.dtls, d.c.ja4 = &dtls{c: d.c}, 'd'
		d.inner = d.dtls
	case d.quic == nil:
		d.quic, d.c.ja4 = newQUIC(d.c), 'q'
		d.inner = d.quic
	}
	return d.inner.data(side, b, ts)
}

func (d *datagrams) release() {
	if d.inner != nil {
		d.inner.release()
	}
}

func (d *datagrams) openedHandshake(side int, ts time.Time, b []byte) {
	if d.inner != nil {
		d.inner.openedHandshake(side, ts, b)
	}
}

func (d *datagrams) shed(side int) int {
	if d.inner == nil {
		return 0
	}
	return d.inner.shed(side)
}

// unframed is what the UDP adapters share: a datagram comes whole, so no
// frame is ever in progress, lost part way, or preceded by a preamble.
type unframed struct{}

func (unframed) lose(int, int)                     {}
func (unframed) started(int) bool                  { return true }
func (unframed) preamble(int) int64                { return 0 }
func (unframed) pending(int) (uint8, []byte, bool) { return 0, nil, false }
func (unframed) release()                          {} // only QUIC holds datagrams
