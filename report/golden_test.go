package report

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tlssniff/tlssniff/capture"
	"github.com/tlssniff/tlssniff/parser"
	"github.com/tlssniff/tlssniff/pipeline"
	"github.com/tlssniff/tlssniff/reassembly"
)

// sampleConnections reads the samples through the pipeline, as tlssniff
// -r does with one worker and the system's roots.
func sampleConnections(t *testing.T, paths ...string) []*parser.Connection {
	t.Helper()
	var files []*capture.File
	for _, p := range paths {
		f, err := capture.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files = append(files, f)
	}
	roots := func() *x509.CertPool {
		roots, _ := x509.SystemCertPool() // nil, trusting none, when there is none
		return roots
	}
	conns, err := pipeline.Read(capture.NewMerge(files...), reassembly.DefaultConfig, parser.NewValidator(roots))
	if err != nil {
		t.Fatal(err)
	}
	return conns
}

// render writes conns through a view.
func render(t *testing.T, s Sink, buf *bytes.Buffer, conns []*parser.Connection) string {
	t.Helper()
	for _, c := range conns {
		if err := s.Write(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestGolden renders every sample's connections in every view and compares
// them with the golden files, which cmd/tlssniff's TestGolden checks the
// command line against (and rewrites with -update): what each view shows
// of real handshakes, byte for byte.
func TestGolden(t *testing.T) {
	paths, _ := filepath.Glob("../samples/*.pcap*")
	if len(paths) < 8 {
		t.Fatalf("samples missing: %v", paths)
	}
	check := func(name, got string) {
		want, err := os.ReadFile(filepath.Join("testdata", "golden", name))
		if err != nil {
			t.Fatal(err)
		}
		if got != string(want) {
			t.Errorf("%s differs from the golden file:\n%s", name, got)
		}
	}
	for _, path := range paths {
		conns := sampleConnections(t, path)
		for suffix, view := range map[string]func(*bytes.Buffer) Sink{
			".ndjson":       func(b *bytes.Buffer) Sink { return NewJSON(b) },
			".table":        func(b *bytes.Buffer) Sink { return NewTable(b) },
			".csv":          func(b *bytes.Buffer) Sink { return NewCSV(b) },
			".ladder":       func(b *bytes.Buffer) Sink { return NewLadder(b, LadderOptions{}) },
			".ladder-ascii": func(b *bytes.Buffer) Sink { return NewLadder(b, LadderOptions{ASCII: true}) },
			".summary":      func(b *bytes.Buffer) Sink { return NewSummary(b) },
		} {
			var b bytes.Buffer
			check(filepath.Base(path)+suffix, render(t, view(&b), &b, conns))
		}
	}
	// The HTML report of them all, titled as the command line names them
	// from cmd/tlssniff.
	var b bytes.Buffer
	title := fmt.Sprintf("../%s and %d more captures", paths[0], len(paths)-1)
	check("samples.html", render(t, NewHTML(&b, title), &b, sampleConnections(t, paths...)))
}

// TestLadderColors: with colors, the ladder is the plain one with SGR
// added: the endpoints bold, established green and other outcomes red,
// the client's arrows cyan and the server's magenta, dimmed when
// encrypted or TCP, alerts red, and capture marks yellow.
func TestLadderColors(t *testing.T) {
	conns := sampleConnections(t, "../samples/alerts.pcap", "../samples/impaired.pcap", "../samples/tls12.pcap")
	var plain, colored bytes.Buffer
	render(t, NewLadder(&plain, LadderOptions{}), &plain, conns)
	out := render(t, NewLadder(&colored, LadderOptions{Color: true}), &colored, conns)
	if got := regexp.MustCompile("\x1b\\[[0-9;]*m").ReplaceAllString(out, ""); got != plain.String() {
		t.Fatalf("without its SGR the colored ladder differs from the plain one:\n%s", got)
	}
	for _, want := range []string{
		sgrBold + "10.0.0.1:50001 ",
		sgrGreen + "established" + sgrReset,
		sgrRed + "alert" + sgrReset,
		sgrCyan + "── ClientHello ",
		sgrMagenta + "◀",
		sgrDim + sgrCyan + "┄┄ Finished",
		sgrDim + sgrCyan + "── SYN ",
		sgrDim + sgrMagenta + "◀",
		sgrRed + "◀",
		sgrYellow,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the colored ladder", want)
		}
	}
}
