// Package testenv is the one place where a test decides to skip. A test
// that needs something from outside Go (a program, the shared corpus, a
// pseudo-terminal) skips without it on a developer's machine but fails in
// CI (CI set), where .ci/run installs everything so that every test runs.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Unavailable skips t, or fails it in CI, because it lacks what it needs.
func Unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("must run in CI: %s", why)
	}
	t.Skip(why)
}

// Tool returns the path of a program the test runs.
func Tool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		Unavailable(t, name+" not installed")
	}
	return path
}

// Corpus returns the path of dir inside ../shared/corpus beside the
// repository (see its README): real captures and what Zeek and FoxIO's JA4
// tools report for them.
func Corpus(t testing.TB, dir string) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for root := wd; ; root = filepath.Dir(root) {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			path := filepath.Join(root, "..", "shared", "corpus", dir)
			if _, err := os.Stat(path); err != nil {
				Unavailable(t, "no conformance corpus: "+err.Error())
			}
			return path
		}
		if root == filepath.Dir(root) {
			t.Fatalf("no go.mod above %s", wd)
		}
	}
}

// OptIn skips a test that only runs when asked for, by setting env (a
// measurement run by hand, such as make attacks), and returns env's value.
func OptIn(t testing.TB, env string) string {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		t.Skip(env + " is not set")
	}
	return v
}
