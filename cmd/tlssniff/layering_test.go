package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestLayering holds the pipeline to ../shared/STYLE.md: data flows one way,
// parser imports nothing of ours, and only capture and reassembly import
// gopacket.
func TestLayering(t *testing.T) {
	const mod = "github.com/tlssniff/tlssniff/"
	allowed := map[string][]string{
		"capture":    {},
		"reassembly": {"capture"},
		"parser":     {},
		"report":     {"parser"},
	}
	gopacket := map[string]bool{"capture": true, "reassembly": true}
	for pkg, ok := range allowed {
		out, err := exec.Command("go", "list", "-deps", "../../"+pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			own, isOurs := strings.CutPrefix(dep, mod)
			switch {
			case isOurs && own != pkg && !slices.Contains(ok, own):
				t.Errorf("%s imports %s", pkg, own)
			case strings.HasPrefix(dep, "github.com/gopacket/") && !gopacket[pkg]:
				t.Errorf("%s imports %s", pkg, dep)
			}
		}
	}
}
