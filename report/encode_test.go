package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// referenceJSON is what the encoder must write: encoding/json's bytes for
// v, its bidirectional formatting characters then escaped.
func referenceJSON(t testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for _, r := range string(b) {
		if strings.ContainsRune(bidiControls, r) {
			fmt.Fprintf(&out, `\u%04x`, r)
		} else {
			out.WriteRune(r)
		}
	}
	return out.Bytes()
}

// TestEncoderMatchesEncodingJSON: connections of random values in every
// field (nil and empty lists, absent and present pointers, maps, strings
// of any runes, floats of any size) encode to encoding/json's bytes.
func TestEncoderMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for i := range 3000 {
		var c Connection
		fill(reflect.ValueOf(&c).Elem(), rng)
		if got, want := c.appendJSON(nil), referenceJSON(t, &c); !bytes.Equal(got, want) {
			t.Fatalf("connection %d:\n got  %s\n want %s", i, got, want)
		}
	}
}

// fill sets v to a random value: pointers absent a third of the time,
// lists and maps nil a quarter of the time and otherwise of up to three
// elements, strings from what JSON must escape and random runes, numbers
// of every size.
func fill(v reflect.Value, rng *rand.Rand) {
	if v.Type() == reflect.TypeFor[Timestamp]() {
		loc := time.FixedZone("", rng.Intn(48)*1800-12*3600) // written in UTC whatever its zone
		v.Set(reflect.ValueOf(Timestamp(time.Unix(rng.Int63n(1<<33), rng.Int63n(1e9)).In(loc))))
		return
	}
	if v.Type() == reflect.TypeFor[EpochTime]() {
		v.Set(reflect.ValueOf(EpochTime(time.Unix(rng.Int63n(1<<34)-1<<33, rng.Int63n(1e9)))))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if rng.Intn(3) > 0 {
			v.Set(reflect.New(v.Type().Elem()))
			fill(v.Elem(), rng)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i), rng)
		}
	case reflect.Slice:
		if rng.Intn(4) > 0 {
			v.Set(reflect.MakeSlice(v.Type(), rng.Intn(4), 3))
			for i := range v.Len() {
				fill(v.Index(i), rng)
			}
		}
	case reflect.Map:
		if rng.Intn(4) > 0 {
			v.Set(reflect.MakeMap(v.Type()))
			for range rng.Intn(5) {
				k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
				fill(k, rng)
				fill(e, rng)
				v.SetMapIndex(k, e)
			}
		}
	case reflect.String:
		strs := []string{"", "TLS 1.3", "a\"b\\c", "<&>", "\x00\x1f\t\n", "\u2028", "\u202eevil", "\xff", "日本"}
		s := strs[rng.Intn(len(strs))]
		for range rng.Intn(3) {
			s += string(rune(rng.Intn(0x110000)))
		}
		v.SetString(s)
	case reflect.Bool:
		v.SetBool(rng.Intn(2) == 0)
	case reflect.Int, reflect.Int64:
		v.SetInt(rng.Int63n(1<<40) - 1<<39)
	case reflect.Uint8, reflect.Uint16, reflect.Uint64:
		v.SetUint(rng.Uint64() >> (64 - v.Type().Bits()))
	case reflect.Float64:
		floats := []float64{0, 0.015, 1e-7, 1e21, 123456.789, -2.5}
		v.SetFloat(floats[rng.Intn(len(floats))] * math.Pow(10, float64(rng.Intn(9)-4)))
	default:
		panic("fill: " + v.Type().String())
	}
}

// TestFloats: durations of every size are written as encoding/json writes
// them; what JSON cannot hold is null.
func TestFloats(t *testing.T) {
	for _, f := range []float64{0, math.Copysign(0, -1), 1, -1, 0.001, 123.456, 1e-6, 9.99e-7, 1e-7, 1.5e-10, 1e20, 1e21, 1.234e25,
		-3e-9, math.MaxFloat64, math.SmallestNonzeroFloat64, 1e6, 1234567.891} {
		if got, want := appendFloat(nil, f), referenceJSON(t, f); !bytes.Equal(got, want) {
			t.Errorf("%g: %s, want %s", f, got, want)
		}
	}
	// Whole microseconds in milliseconds, of every number of digits.
	rng := rand.New(rand.NewSource(1))
	for range 100000 {
		n := rng.Int63n(int64(math.Pow(10, float64(1+rng.Intn(17)))))
		if f := float64(n) / 1000; !bytes.Equal(appendFloat(nil, f), referenceJSON(t, f)) {
			t.Fatalf("%d/1000: %s, want %s", n, appendFloat(nil, f), referenceJSON(t, f))
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if got := appendFloat(nil, f); string(got) != "null" {
			t.Errorf("%g: %s", f, got)
		}
	}
}

// FuzzAppendMilli: a duration of whole microseconds in milliseconds, as
// ms makes it, is written as encoding/json writes it; so is the float
// next to it, which the short cut must not take.
func FuzzAppendMilli(f *testing.F) {
	for _, n := range []int64{0, 1, -1, 5, 10, 100, 999, 1000, 1001, 12345, 73150, 999999, 1e12, 999999999999999, 1e15, 1 << 53} {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, n int64) {
		n %= 2e15 // across the short cut's bound of 1e15
		v := float64(n) / 1000
		for _, v := range []float64{v, math.Nextafter(v, math.Inf(1)), -v} {
			if got, want := appendFloat(nil, v), referenceJSON(t, v); !bytes.Equal(got, want) {
				t.Fatalf("%d/1000 (%v): %s, want %s", n, v, got, want)
			}
		}
	})
}

// FuzzAppendString: any bytes, valid UTF-8 or not, are written as
// encoding/json writes the string, bidirectional formatting characters
// escaped.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "\"\\\x00\x1f\x7f\b\f\n\r\t", "<a href='x'>&amp;</a>", "\u2028\u2029",
		"\u202eevil\u202c", "\u061c\u200e\u2066", "\xff\xfe", "caf\xc3", "\xed\xa0\x80", "日本語", "\U0001F600"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := appendString(nil, s), referenceJSON(t, s); !bytes.Equal(got, want) {
			t.Fatalf("%q:\n got  %s\n want %s", s, got, want)
		}
	})
}

// TestAppendStringEveryByteEverywhere puts each byte, and each escaped
// rune, at every place of strings longer than the eight bytes appendString
// tests at once, among plain bytes on either side of every value.
func TestAppendStringEveryByteEverywhere(t *testing.T) {
	var specials []string
	for c := range 256 {
		specials = append(specials, string([]byte{byte(c)}))
	}
	specials = append(specials, "\u2028", "\u202e", "\u00e9")
	for _, pad := range []byte{' ', '~', '!', '=', '?', '[', 'a'} {
		for _, sp := range specials {
			for at := range 19 {
				s := strings.Repeat(string(pad), at) + sp + strings.Repeat(string(pad), 18-at)
				if got, want := appendString(nil, s), referenceJSON(t, s); !bytes.Equal(got, want) {
					t.Fatalf("%q:\n got  %s\n want %s", s, got, want)
				}
			}
		}
	}
}

// BenchmarkAppendString appends the strings of the golden NDJSON, the
// values NDJSON is made of: names, hex, times, fingerprints, wire text.
func BenchmarkAppendString(b *testing.B) {
	files, err := filepath.Glob("testdata/golden/*.ndjson")
	if err != nil || len(files) == 0 {
		b.Fatal("no golden NDJSON", err)
	}
	var strs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			strs = append(strs, v)
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	size := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		for line := range bytes.Lines(data) {
			var v any
			if err := json.Unmarshal(line, &v); err != nil {
				b.Fatal(f, err)
			}
			walk(v)
		}
	}
	for _, s := range strs {
		size += len(s)
	}
	b.SetBytes(int64(size))
	buf := make([]byte, 0, 1<<16)
	for b.Loop() {
		buf = buf[:0]
		for _, s := range strs {
			buf = appendString(buf, s)
		}
	}
}
