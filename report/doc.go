// Package report writes parsed connections, the last stage of tlssniff's
// pipeline:
//
//	capture ──▶ reassembly ──▶ parser ──Connection──▶ report
//
// Every output format is a Sink: Write one connection, Close at the end.
// JSON writes NDJSON, one object per connection and line as soon as it is
// written, so output streams; its schema is the Connection struct of this
// package (docs/CONTRACT.md and more), never the parser's types. Table
// writes one row per connection, aligned as tablewriter aligns the
// summary's tables. Strings from the wire are escaped before they reach a
// terminal.
//
// It reads no flags or environment, detects no terminal and computes no TLS
// facts: the parser decided them.
package report
