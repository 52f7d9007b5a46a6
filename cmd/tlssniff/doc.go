// Command tlssniff reconstructs every TLS handshake in a packet capture.
//
// It runs the pipeline (capture → reassembly → parser, by pipeline.Run)
// into the report, and owns what belongs to the command line: flags, their
// validation with hints, the choice of source and sink, the terminal,
// signals, and exit codes (docs/CONTRACT.md:
// 0 success, 1 unreadable or corrupt input, with what was read still
// printed, 2 usage error). Data goes to stdout; diagnostics go to stderr
// through one logger (messages.go), prefixed "tlssniff: ", as "error:" or
// "warning:" lines, with a "hint:" line where one helps.
package main
