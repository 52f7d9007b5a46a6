package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/pflag"
)

// flagGroups are the headings of --help and the flags under each, in
// order; a flag left out goes under the last.
var flagGroups = []struct {
	title string
	names []string
}{
	{"Input", []string{"read", "interface", "filter", "snaplen", "no-promiscuous-mode", "buffer-size", "list-interfaces"}},
	{"Output", []string{"format", "json", "ladder", "summary", "html", "zeek-dir", "write", "metrics", "metrics-servers", "ascii", "color", "sort"}},
	{"Selection (a flag given twice takes either value; different flags must all match)", []string{"sni", "host", "net",
		"port", "outcome", "cert-expires-within", "cert-status", "count", "duration"}},
	{"Certificates and decryption", []string{"ca-file", "keylog", "rsa-key"}},
	{"Limits", []string{"idle-timeout", "max-age", "max-flows", "memory", "workers"}},
	{"Other", []string{"verbose", "version", "help"}},
}

// flagHelp writes the flags under their headings: a boolean flag without
// pflag's "[=true|false]", a default when it is not the zero value.
func flagHelp(fs *pflag.FlagSet) string {
	listed := map[string]bool{}
	groups := slices.Clone(flagGroups)
	for _, g := range groups {
		for _, n := range g.names {
			listed[n] = true
		}
	}
	fs.VisitAll(func(f *pflag.Flag) {
		if !listed[f.Name] {
			last := &groups[len(groups)-1]
			last.names = append(slices.Clip(last.names), f.Name)
		}
	})
	var b strings.Builder
	for _, g := range groups {
		fmt.Fprintf(&b, "\n%s:\n", g.title)
		for _, name := range g.names {
			f := fs.Lookup(name)
			if f == nil {
				continue
			}
			varname, text := pflag.UnquoteUsage(f)
			left := "      --" + f.Name
			if f.Shorthand != "" {
				left = "  -" + f.Shorthand + ", --" + f.Name
			}
			if f.Value.Type() != "bool" {
				left += " " + varname
				if d := f.DefValue; d != "" && d != "0" && d != "0s" && d != "[]" {
					text += " (default " + d + ")"
				}
			}
			fmt.Fprintf(&b, "%-34s %s\n", left, text)
		}
	}
	return b.String()
}

// didYouMean names the flags closest to an unknown one, by edit distance
// (at most 2) or as a prefix: "--outcome" for "--outcom".
func didYouMean(fs *pflag.FlagSet, unknown string) []string {
	unknown = strings.TrimLeft(unknown, "-")
	if i := strings.IndexByte(unknown, '='); i >= 0 {
		unknown = unknown[:i]
	}
	var out []string
	fs.VisitAll(func(f *pflag.Flag) {
		if unknown != "" && (strings.HasPrefix(f.Name, unknown) || editDistance(unknown, f.Name) <= 2) {
			out = append(out, "--"+f.Name)
		}
	})
	return out
}

// editDistance is Levenshtein's distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev, cur := make([]int, len(b)+1), make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
