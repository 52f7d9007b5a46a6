package report

import (
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/tlssniff/tlssniff/parser"
)

// Sink writes connections in one output format.
type Sink interface {
	// Write writes one connection. It may write at once (NDJSON) or keep
	// the connection until Close (table).
	Write(c *parser.Connection) error
	// Close writes whatever is pending.
	Close() error
}

// timeFormat is RFC 3339 in UTC with nanoseconds, fixed width so that lines
// sort and align.
const timeFormat = "2006-01-02T15:04:05.000000000Z07:00"

func formatTime(t time.Time) string {
	var buf [len(timeFormat)]byte
	return string(appendTime(buf[:0], t))
}

// appendTime appends t as timeFormat writes it, by hand for the years 0 to
// 9999: time's general formatter was a sixth of writing NDJSON, which has a
// timestamp for every message (pprof, make bench).
func appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, timeFormat)
	}
	hour, minute, sec := t.Clock()
	b = appendDigits(b, year, 4)
	b = appendDigits(append(b, '-'), int(month), 2)
	b = appendDigits(append(b, '-'), day, 2)
	b = appendDigits(append(b, 'T'), hour, 2)
	b = appendDigits(append(b, ':'), minute, 2)
	b = appendDigits(append(b, ':'), sec, 2)
	b = appendDigits(append(b, '.'), t.Nanosecond(), 9)
	return append(b, 'Z')
}

// ms renders a duration in milliseconds with microsecond precision.
func ms(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}

// bidiControls are the Unicode bidirectional formatting characters: an
// override or isolate in a wire string would reorder what follows it on
// screen ("Trojan Source", CVE-2021-42574).
const bidiControls = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"

// clean escapes a string from the wire before it reaches a terminal:
// control characters, invalid UTF-8, bidirectional formatting characters
// and other non-printable runes become Go escapes, so a hostile SNI cannot
// move the cursor, fake a line or reorder the text after it.
func clean(s string) string {
	ok := true
	for _, r := range s {
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	q := strconv.QuoteToGraphic(s)
	return strings.ReplaceAll(q[1:len(q)-1], `\"`, `"`)
}
