package parser

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tlssniff/tlssniff/budget"
)

// collect records what a RecordLayer delivers, copying bodies.
type collect struct {
	records []Record
	skip    bool // want no bodies
}

func (c *collect) WantBody(typ uint8) bool { return !c.skip }
func (c *collect) Record(r Record) {
	r.Body = bytes.Clone(r.Body)
	c.records = append(c.records, r)
}

func record(typ uint8, body string) string {
	return string([]byte{typ, 3, 3, byte(len(body) >> 8), byte(len(body))}) + body
}

func TestRecordLayer(t *testing.T) {
	hello := record(22, "\x01\x00\x00\x00")
	for _, tc := range []struct {
		name     string
		stream   string
		types    []uint8
		preamble int64
		err      string
	}{
		{"two records", hello + record(23, "secret"), []uint8{22, 23}, 0, ""},
		{"empty record", record(20, "") + hello, []uint8{20, 22}, 0, ""},
		{"SOCKS5 before TLS", "\x05\x01\x00" + hello, []uint8{22}, 3, ""},
		{"STARTTLS", "220 mail.example.test ESMTP\r\n" + hello, []uint8{22}, 29, ""},
		{"malformed header later", hello + "\x17\x09\x09\x00\x01x", []uint8{22}, 0, "malformed record header 17 09 09 00 01 at stream offset 9"},
		{"oversized record", hello + "\x17\x03\x03\xff\xff", []uint8{22}, 0, "malformed record header"},
		{"not TLS", strings.Repeat("GET / HTTP/1.1\r\n", 5000), nil, 0, ErrNotTLS.Error()},
		{"SSL 2.0 ClientHello", "\x80\x2e\x01\x03\x01\x00\x15\x00\x00\x00\x10" + strings.Repeat("x", 37), []uint8{recordSSLv2}, 0, ""},
		{"SSL 2.0 ClientHello offering SSL 2.0", "\x80\x2e\x01\x00\x02\x00\x15\x00\x00\x00\x10" + strings.Repeat("x", 37), []uint8{recordSSLv2}, 0, ""},
		{"SSL 2.0 ClientHello of one byte", "\x80\x04\x01\x03\x01x", []uint8{recordSSLv2}, 0, ""},
		{"SSL 2.0 ClientHello of none", "\x80\x03\x01\x03\x01", nil, 0, ErrNotTLS.Error()},
		{"an SSL 2.0 header of version 1.0 is no hello", "\x80\x2e\x01\x01\x00" + strings.Repeat("x", 41), nil, 0, ""},
		{"an SSL 2.0 header of version 0.3 is no hello", "\x80\x2e\x01\x00\x03" + strings.Repeat("x", 41), nil, 0, ""},
		{"record version 3.4", "\x16\x03\x04\x00\x04\x01\x00\x00\x00", []uint8{22}, 0, ""},
		{"record version 3.5 is no header", "\x16\x03\x05\x00\x04\x01\x00\x00\x00" + hello, []uint8{22}, 9, ""},
		{"the longest preamble", strings.Repeat("A", maxPreamble) + hello, []uint8{22}, maxPreamble, ""},
		{"a preamble too long", strings.Repeat("A", maxPreamble+1) + hello, nil, 0, ErrNotTLS.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, size := range []int{len(tc.stream), 1, 2, 3, 7} {
				var l RecordLayer
				h := &collect{}
				var err error
				for b := []byte(tc.stream); len(b) > 0 && err == nil; {
					n := min(size, len(b))
					err = l.Feed(b[:n], time.Time{}, h)
					b = b[n:]
				}
				var types []uint8
				for _, r := range h.records {
					types = append(types, r.Type)
				}
				if !reflect.DeepEqual(types, tc.types) || l.Preamble() != tc.preamble {
					t.Errorf("chunks of %d: types %v preamble %d, want %v %d", size, types, l.Preamble(), tc.types, tc.preamble)
				}
				if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
					t.Errorf("chunks of %d: error %v, want %q", size, err, tc.err)
				}
			}
		})
	}
}

func TestRecordLayerSkipsBodies(t *testing.T) {
	var l RecordLayer
	h := &collect{skip: true}
	big := strings.Repeat("z", 16000)
	if err := l.Feed([]byte(record(23, big)+record(23, "x")), time.Time{}, h); err != nil {
		t.Fatal(err)
	}
	if len(h.records) != 2 || h.records[0].Body != nil || h.records[0].Length != 16000 || cap(l.body) != 0 {
		t.Errorf("records %d, first body %d bytes, buffer cap %d", len(h.records), len(h.records[0].Body), cap(l.body))
	}
}

func TestRecordLayerGapResync(t *testing.T) {
	var l RecordLayer
	h := &collect{}
	hello := record(22, "\x01\x00\x00\x00")
	l.Feed([]byte(hello+record(23, "abcdef")[:7]), time.Time{}, h)
	l.Gap(1000)
	// After the gap: the tail of some record, then two whole records.
	err := l.Feed([]byte("tail of a lost record"+record(21, "\x02\x28")+record(23, "zz")), time.Time{}, h)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.records) != 3 || h.records[1].Type != 21 || string(h.records[1].Body) != "\x02\x28" {
		t.Fatalf("records %+v", h.records)
	}
	if h.records[1].Offset != int64(len(hello)+7+1000+21) {
		t.Errorf("offset after gap %d", h.records[1].Offset)
	}
}

// A record body gathered across segments is charged as its buffer grows,
// exactly its capacity, and given back when the record is delivered.
func TestRecordBodyCharged(t *testing.T) {
	mem := budget.New(1 << 30).Open(nil)
	l := RecordLayer{Memory: mem}
	h := &collect{}
	stream := []byte(record(22, "\x01\x00\x00\x00") + record(22, strings.Repeat("c", 5000)))
	for len(stream) > 0 {
		n := min(len(stream), 333)
		if err := l.Feed(stream[:n], time.Time{}, h); err != nil {
			t.Fatal(err)
		}
		stream = stream[n:]
		if mem.Buffered() != int64(cap(l.body)) {
			t.Fatalf("%d bytes charged for a buffer of %d", mem.Buffered(), cap(l.body))
		}
	}
	if len(h.records) != 2 || len(h.records[1].Body) != 5000 || mem.Buffered() != 0 {
		t.Errorf("%d records, %d bytes still charged", len(h.records), mem.Buffered())
	}
}

// After a gap the layer takes up reading at a header whose record is
// followed by another plausible header, or that ends the bytes it has;
// one followed by junk is passed over.
func TestRecordLayerResyncEdges(t *testing.T) {
	hello := record(22, "\x01\x00\x00\x00")
	for _, tc := range []struct {
		name  string
		after string
		want  []uint8
	}{
		{"a record and the next header", "xx" + record(21, "\x02\x28") + "\x17\x03\x03\x00\x01", []uint8{22, 21, 23}},
		{"a header alone at the end", "xx" + "\x15\x03\x03\x00\x01", []uint8{22, 21}},
		{"a header then junk", "xx" + record(21, "\x02\x28") + "\x99\x99\x99\x99\x99" + record(23, "z"), []uint8{22, 23}},
		{"a header then junk at the end", "xx" + record(21, "\x02\x28") + "\x99\x99\x99\x99\x99", []uint8{22}},
	} {
		var l RecordLayer
		h := &collect{}
		l.Feed([]byte(hello), time.Time{}, h)
		l.Gap(100)
		if err := l.Feed([]byte(tc.after), time.Time{}, h); err != nil {
			t.Fatal(err)
		}
		l.Feed([]byte("x"), time.Time{}, h) // the last record's body, when one is open
		var types []uint8
		for _, r := range h.records {
			types = append(types, r.Type)
		}
		if !reflect.DeepEqual(types, tc.want) {
			t.Errorf("%s: records %v, want %v", tc.name, types, tc.want)
		}
	}
}

// A preamble in one segment and a hello at the very start of the next: the
// hello is found there.
func TestRecordLayerHelloStartsASegment(t *testing.T) {
	var l RecordLayer
	h := &collect{}
	for _, seg := range []string{"\x05\x01\x00", record(22, "\x01\x00\x00\x00")} {
		if err := l.Feed([]byte(seg), time.Time{}, h); err != nil {
			t.Fatal(err)
		}
	}
	if len(h.records) != 1 || l.Preamble() != 3 {
		t.Errorf("%d records, preamble %d", len(h.records), l.Preamble())
	}
}
