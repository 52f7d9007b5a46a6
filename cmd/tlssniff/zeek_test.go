package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/tlssniff/tlssniff/internal/testenv"
)

// zeekKnown are the fields where tlssniff's Zeek-format record differs from
// Zeek's baseline and tlssniff is right, with the evidence (see
// knownMismatches).
var zeekKnown = map[string]string{
	"chrome-63.0.3211.0-canary-tls_experiment.pcap 192.168.0.2:62873>104.196.219.53:443 resumed": "Zeek",
	"tls-expired-cert.pcap 192.168.4.149:60540>122.1.240.204:443 validation_status":              "Zeek's OpenSSL",
	"CVE-2015-3194.pcap 192.168.6.74:52122>104.236.167.107:4433 validation_status":               "Zeek's roots",
}

// readZeekTSV reads a log in Zeek's ASCII format as zeek-cut does: the
// separator from the first line, the field names from #fields, the types
// from #types; each row becomes a map of the fields that are set, values
// in JSON's shapes (vectors as lists, T and F as booleans, counts, ports
// and times as numbers).
func readZeekTSV(t *testing.T, path string) (rows []map[string]any, header map[string]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	header = map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	var fields, types []string
	for sc.Scan() {
		line := sc.Text()
		if len(header) == 0 {
			if line != `#separator \x09` {
				t.Fatalf("%s: first line %q, want #separator \\x09", path, line)
			}
			header["separator"] = "\t"
			continue
		}
		if strings.HasPrefix(line, "#") {
			k, v, _ := strings.Cut(line[1:], "\t")
			header[k] = v
			switch k {
			case "fields":
				fields = strings.Split(v, "\t")
			case "types":
				types = strings.Split(v, "\t")
			}
			continue
		}
		cols := strings.Split(line, "\t")
		if len(cols) != len(fields) || len(types) != len(fields) {
			t.Fatalf("%s: %d columns, %d fields, %d types: %q", path, len(cols), len(fields), len(types), line)
		}
		row := map[string]any{}
		for i, col := range cols {
			if col == header["unset_field"] {
				continue
			}
			row[fields[i]] = zeekValue(t, types[i], col, header)
		}
		rows = append(rows, row)
	}
	for _, k := range []string{"set_separator", "empty_field", "unset_field", "path", "open", "fields", "types", "close"} {
		if _, ok := header[k]; !ok {
			t.Errorf("%s: no #%s line", path, k)
		}
	}
	return rows, header
}

// zeekValue decodes one column of a Zeek TSV log.
func zeekValue(t *testing.T, typ, col string, header map[string]string) any {
	unescape := func(s string) string {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
				if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
					b.WriteByte(byte(v))
					i += 3
					continue
				}
			}
			b.WriteByte(s[i])
		}
		return b.String()
	}
	switch {
	case strings.HasPrefix(typ, "vector["), strings.HasPrefix(typ, "set["):
		out := []any{}
		if col != header["empty_field"] {
			for _, e := range strings.Split(col, header["set_separator"]) {
				out = append(out, unescape(e))
			}
		}
		return out
	case typ == "bool":
		if col != "T" && col != "F" {
			t.Errorf("bool %q", col)
		}
		return col == "T"
	case typ == "count", typ == "port", typ == "time", typ == "interval", typ == "double":
		v, err := strconv.ParseFloat(col, 64)
		if err != nil {
			t.Errorf("%s %q: %v", typ, col, err)
		}
		return v
	}
	if col == header["empty_field"] {
		return ""
	}
	return unescape(col)
}

// TestZeekFormat checks --format zeek and --zeek-dir against every Zeek
// baseline of the corpus, field by field: each field Zeek set has the same
// value in both of tlssniff's records, each field Zeek left unset is left
// out, the JSON and TSV records agree on every field, and x509.log holds
// every certificate of the chains, once.
func TestZeekFormat(t *testing.T) {
	dir := testenv.Corpus(t, "zeek")
	expected, _ := filepath.Glob(filepath.Join(dir, "expected", "*.zeek.json"))
	if len(expected) == 0 {
		t.Fatal("no Zeek baselines")
	}
	matched, total := 0, 0
	for _, exp := range expected {
		name := strings.TrimSuffix(filepath.Base(exp), ".zeek.json")
		capture := filepath.Join(dir, "traces", name)
		out, stderr, code := tlssniff(t, "-r", capture, "--format", "zeek")
		if code != 0 {
			t.Errorf("%s: exit %d: %s", name, code, stderr)
		}
		var jsonRows []map[string]any
		for line := range strings.Lines(out) {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("%s: %v: %s", name, err, line)
			}
			jsonRows = append(jsonRows, m)
		}
		logs := t.TempDir()
		if _, stderr, code := tlssniff(t, "-r", capture, "--zeek-dir", logs, "--format", "json"); code != 0 {
			t.Fatalf("%s: --zeek-dir: exit %d: %s", name, code, stderr)
		}
		tsvRows, header := readZeekTSV(t, filepath.Join(logs, "ssl.log"))
		if header["path"] != "ssl" {
			t.Errorf("%s: #path %q", name, header["path"])
		}
		if len(tsvRows) != len(jsonRows) {
			t.Fatalf("%s: %d TSV rows, %d JSON", name, len(tsvRows), len(jsonRows))
		}
		fps := map[string]bool{}
		for i, j := range jsonRows {
			if !reflect.DeepEqual(j, tsvRows[i]) {
				t.Errorf("%s: JSON and TSV records differ:\n%v\n%v", name, j, tsvRows[i])
			}
			for _, k := range []string{"cert_chain_fps", "client_cert_chain_fps"} {
				l, _ := j[k].([]any)
				for _, fp := range l {
					fps[fp.(string)] = true
				}
			}
		}
		certs, xh := readZeekTSV(t, filepath.Join(logs, "x509.log"))
		logged := map[string]bool{}
		for _, c := range certs {
			fp := c["fingerprint"].(string)
			if logged[fp] {
				t.Errorf("%s: certificate %s logged twice", name, fp)
			}
			logged[fp] = true
			if c["certificate.subject"] == nil || c["certificate.not_valid_after"] == nil {
				t.Errorf("%s: x509 record without subject or validity: %v", name, c)
			}
		}
		if xh["path"] != "x509" || !reflect.DeepEqual(logged, fps) {
			t.Errorf("%s: x509.log (#path %q) holds %d certificates, the chains %d", name, xh["path"], len(logged), len(fps))
		}

		var z struct{ Connections []map[string]any }
		b, err := os.ReadFile(exp)
		if err != nil || json.Unmarshal(b, &z) != nil {
			t.Fatalf("%s: %v", exp, err)
		}
		for _, e := range z.Connections {
			key := fmt.Sprintf("%s %s:%v>%s:%v", name, e["id.orig_h"], e["id.orig_p"], e["id.resp_h"], e["id.resp_p"])
			var rec map[string]any
			for _, r := range jsonRows {
				if r["id.orig_h"] == e["id.orig_h"] && r["id.orig_p"] == e["id.orig_p"] &&
					r["id.resp_h"] == e["id.resp_h"] && r["id.resp_p"] == e["id.resp_p"] {
					rec = r
				}
			}
			total++
			if rec == nil {
				t.Errorf("%s: no record", key)
				continue
			}
			matched++
			for field, want := range e {
				got, set := rec[field]
				if want == nil && !set || reflect.DeepEqual(want, got) {
					matched++
				} else if who, ok := zeekKnown[key+" "+field]; ok {
					t.Logf("known: %s %s: %s says %v, we say %v", key, field, who, want, got)
				} else {
					t.Errorf("%s %s: Zeek says %v, we say %v (set %v)", key, field, want, got, set)
				}
				total++
			}
		}
	}
	t.Logf("Zeek format: %d/%d fields as Zeek's baselines", matched, total)
	if total < 400 {
		t.Errorf("only %d fields compared", total)
	}
}
