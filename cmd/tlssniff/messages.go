package main

import (
	"fmt"
	"io"
)

// logger writes tlssniff's messages to stderr by the rules of age's
// cmd/age/tui.go: every line starts with "tlssniff: " and is lower case;
// an error is an "error:" line followed by "hint:" lines that say how to
// fix it; a warning says what was skipped, and the run goes on; the rest
// (-v statistics, "listening on") is plain. stdout carries data only.
type logger struct{ w io.Writer }

func (l logger) printf(format string, v ...any) {
	fmt.Fprintf(l.w, "tlssniff: "+format+"\n", v...)
}

func (l logger) errorf(format string, v ...any)   { l.printf("error: "+format, v...) }
func (l logger) warningf(format string, v ...any) { l.printf("warning: "+format, v...) }
func (l logger) hintf(format string, v ...any)    { l.printf("hint: "+format, v...) }
