package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestLayering holds the pipeline to ../shared/STYLE.md: data flows one way,
// parser imports nothing of the pipeline, pipeline joins the stages up to
// the parser and report does not see it, export (-w) sees packets and
// connections but no stage sees it, and only capture and reassembly import
// gopacket. budget, reorder, flowstats and keylog sit below every
// stage: the memory account, the out-of-order buffer, the transport
// statistics and the TLS secrets they share, importing nothing else of ours.
func TestLayering(t *testing.T) {
	const mod = "github.com/tlssniff/tlssniff/"
	below := []string{"budget", "reorder", "flowstats", "keylog"}
	allowed := map[string][]string{
		"budget":     {},
		"flowstats":  {},
		"keylog":     {},
		"reorder":    {"budget"},
		"capture":    below,
		"reassembly": append([]string{"capture"}, below...),
		"parser":     below,
		"report":     append([]string{"parser"}, below...),
		"pipeline":   append([]string{"capture", "reassembly", "parser"}, below...),
		"export":     append([]string{"capture", "parser"}, below...),
		"metrics":    append([]string{"capture", "parser"}, below...),
	}
	gopacket := map[string]bool{"capture": true, "reassembly": true}
	for pkg, ok := range allowed {
		out, err := exec.Command("go", "list", "-deps", "../../"+pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if own, isOurs := strings.CutPrefix(dep, mod); isOurs && own != pkg && !slices.Contains(ok, own) {
				t.Errorf("%s imports %s", pkg, own)
			}
		}
		direct, err := exec.Command("go", "list", "-f", `{{join .Imports " "}}`, "../../"+pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(direct)) {
			if strings.HasPrefix(dep, "github.com/gopacket/") && !gopacket[pkg] {
				t.Errorf("%s imports %s", pkg, dep)
			}
		}
	}
}
