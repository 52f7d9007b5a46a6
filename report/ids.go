package report

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/tlssniff/tlssniff/parser"
)

// The keys that join a connection's record with other tools' records of it.

// EpochTime is a time written as Zeek writes ts: epoch seconds with six
// decimals, a JSON number, spelled from integers so that no microsecond is
// lost to floating point.
type EpochTime time.Time

func (t EpochTime) appendJSON(b []byte) []byte {
	us := time.Time(t).UnixMicro()
	sec, frac := us/1e6, us%1e6
	if frac < 0 { // before 1970
		sec, frac = sec-1, frac+1e6
	}
	b = strconv.AppendInt(b, sec, 10)
	return appendDigits(append(b, '.'), int(frac), 6)
}

// MarshalJSON implements json.Marshaler.
func (t EpochTime) MarshalJSON() ([]byte, error) { return t.appendJSON(nil), nil }

// UnmarshalJSON implements json.Unmarshaler.
func (t *EpochTime) UnmarshalJSON(b []byte) error {
	sec, frac, _ := strings.Cut(string(b), ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return err
	}
	us, err := strconv.ParseInt((frac + "000000")[:6], 10, 64)
	if err != nil {
		return err
	}
	*t = EpochTime(time.UnixMicro(s*1e6 + us))
	return nil
}

// appendDigits appends the n ≤ 9 last decimal digits of v ≥ 0, zeros
// first.
func appendDigits(b []byte, v, n int) []byte {
	b = append(b, "000000000"[:n]...)
	for i := len(b) - 1; v > 0 && i >= len(b)-n; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return b
}

// communityID is Community ID v1 with seed 0 (github.com/corelight/
// community-id-spec), as Zeek, Suricata, Arkime and Elastic compute it:
// the SHA-1 of the seed, both addresses, the IP protocol, a zero byte and
// both ports, the lower endpoint first, in base64.
func communityID(transport parser.Transport, a, b netip.AddrPort) string {
	proto := byte(6)
	if transport == parser.UDP {
		proto = 17
	}
	ia, ib := a.Addr().Unmap(), b.Addr().Unmap()
	if c := ia.Compare(ib); c > 0 || c == 0 && a.Port() > b.Port() {
		a, b, ia, ib = b, a, ib, ia
	}
	buf := make([]byte, 0, 2+16+16+2+4)
	buf = append(buf, 0, 0) // the seed
	buf = append(buf, ia.AsSlice()...)
	buf = append(buf, ib.AsSlice()...)
	buf = append(buf, proto, 0)
	buf = binary.BigEndian.AppendUint16(buf, a.Port())
	buf = binary.BigEndian.AppendUint16(buf, b.Port())
	sum := sha1.Sum(buf)
	var out [2 + 28]byte // "1:" and 20 bytes in base64
	copy(out[:], "1:")
	base64.StdEncoding.Encode(out[2:], sum[:])
	return string(out[:])
}

// uid is a connection's id, stable from run to run and whatever the number
// of workers: "C" and 17 base-62 digits of a hash of its transport,
// endpoints and first packet's time, in the shape of Zeek's uids.
func uid(transport parser.Transport, client, server netip.AddrPort, start time.Time) string {
	buf := make([]byte, 0, 1+2*18+8)
	buf = append(buf, byte(transport))
	buf, _ = client.AppendBinary(buf)
	buf, _ = server.AppendBinary(buf)
	buf = binary.BigEndian.AppendUint64(buf, uint64(start.UnixNano()))
	sum := sha1.Sum(buf)
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	out := [18]byte{'C'}
	hi, lo := binary.BigEndian.Uint64(sum[:8]), binary.BigEndian.Uint64(sum[8:16])
	for i := 1; i < len(out); i++ { // the 128 bits divided by 62, digit by digit
		var r uint64
		hi, r = hi/62, hi%62
		lo, r = bits.Div64(r, lo, 62)
		out[i] = digits[r]
	}
	return string(out[:])
}
