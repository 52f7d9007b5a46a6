// Command tlssniff reconstructs TLS handshakes from packet captures.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
