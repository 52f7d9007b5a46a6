package main

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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

// TestFuzzTargetsListed: make fuzz runs every fuzz target of the module,
// so that a new one is not left to go test's replay of its seeds alone.
func TestFuzzTargetsListed(t *testing.T) {
	makefile, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	def := regexp.MustCompile(`(?m)^FUZZ_TARGETS := ((?:.*\\\n)*.*)$`).FindSubmatch(makefile)
	if def == nil {
		t.Fatal("no FUZZ_TARGETS in the Makefile")
	}
	listed := strings.Fields(strings.ReplaceAll(string(def[1]), "\\", ""))
	var found []string
	target := regexp.MustCompile(`(?m)^func (Fuzz\w+)\(f \*testing\.F\)`)
	err = filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		pkg, _ := filepath.Rel("../..", filepath.Dir(path)) // as make fuzz names it: ./pkg
		for _, m := range target.FindAllSubmatch(src, -1) {
			found = append(found, filepath.ToSlash(pkg)+":"+string(m[1]))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(listed)
	slices.Sort(found)
	if !slices.Equal(listed, found) || len(found) == 0 {
		t.Errorf("FUZZ_TARGETS lists %v\nthe tests define %v", listed, found)
	}
}
