package report

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tlssniff/tlssniff/parser"
)

// TestCommunityIDVectors: Zeek's own test vectors for Community ID v1,
// seed 0 (its community_id_v1 btest), either way round.
func TestCommunityIDVectors(t *testing.T) {
	a, b := netip.MustParseAddrPort("1.2.3.4:1122"), netip.MustParseAddrPort("5.6.7.8:3344")
	for _, tc := range []struct {
		transport parser.Transport
		want      string
	}{
		{parser.TCP, "1:wCb3OG7yAFWelaUydu0D+125CLM="},
		{parser.UDP, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg="},
	} {
		if got, back := communityID(tc.transport, a, b), communityID(tc.transport, b, a); got != tc.want || back != tc.want {
			t.Errorf("%s: %s and %s, want %s", tc.transport, got, back, tc.want)
		}
	}
}

// TestEpochTimeAndUID: ts keeps every microsecond, before 1970 too, and
// uids are Zeek-shaped, stable, and differ with any part of the key.
func TestEpochTimeAndUID(t *testing.T) {
	for tm, want := range map[time.Time]string{
		time.Unix(1772366400, 123456789): "1772366400.123456",
		time.Unix(0, 0):                  "0.000000",
		time.Unix(-1, 500000000):         "-1.500000",
		time.Unix(1e10, 999999000):       "10000000000.999999",
	} {
		if got := string(EpochTime(tm).appendJSON(nil)); got != want {
			t.Errorf("%v: %s, want %s", tm, got, want)
		}
	}
	c, s := netip.MustParseAddrPort("10.0.0.1:50001"), netip.MustParseAddrPort("10.0.0.2:443")
	t0 := time.Unix(1772366400, 0)
	u := uid(parser.TCP, c, s, t0)
	if len(u) != 18 || u[0] != 'C' || u != uid(parser.TCP, c, s, t0) {
		t.Errorf("uid %q", u)
	}
	for _, other := range []string{uid(parser.UDP, c, s, t0), uid(parser.TCP, s, c, t0), uid(parser.TCP, c, s, t0.Add(time.Nanosecond))} {
		if other == u {
			t.Errorf("uid %q for another connection", other)
		}
	}
}
