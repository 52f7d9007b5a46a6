package metrics

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tlssniff/tlssniff/parser"
)

func connTo(sni string) *parser.Connection {
	return &parser.Connection{Server: netip.MustParseAddrPort("10.0.0.2:443"), Outcome: parser.OutcomeEstablished,
		ClientHello: &parser.ClientHello{HasServerName: true, ServerName: sni}}
}

// Server names stay bounded whatever comes: the most seen are labelled,
// the rest counted as other, no count is lost, and a name that is not
// valid UTF-8 does not stop the run.
func TestServerLabelsBounded(t *testing.T) {
	m := New(3, nil)
	total := 0
	for i := range 5 {
		for range 10 - i {
			m.Write(connTo(fmt.Sprintf("top%d.example", i)))
			total++
		}
	}
	for i := range 3 * maxTracked {
		m.Write(connTo(fmt.Sprintf("churn%d.example", i)))
		total++
	}
	m.Write(connTo("bad\xff\xfe"))
	total++
	if n := testutil.CollectAndCount(m.handshakes); n > 4*3+1 {
		t.Errorf("%d series", n)
	}
	sum := 0.0
	for _, name := range []string{"top0.example", "top1.example", "top2.example", Other} {
		sum += testutil.ToFloat64(m.handshakes.WithLabelValues("established", "", name))
	}
	if sum != float64(total) || testutil.ToFloat64(m.handshakes.WithLabelValues("established", "", "top0.example")) != 10 {
		t.Errorf("%v of %d handshakes under the top names and other", sum, total)
	}
	if len(m.counts) > maxTracked {
		t.Errorf("%d names tracked", len(m.counts))
	}
}
