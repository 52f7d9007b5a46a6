// Command measure runs a command with its output discarded and prints its
// wall time in seconds and its peak resident memory in MiB, for make bench.
//
//	go run ./internal/measure ./tlssniff -r bench/bulk.pcap --json
package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "measure: usage: measure COMMAND [ARG ...]")
		os.Exit(2)
	}
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "measure: %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	wall := time.Since(start)
	rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // KiB on Linux
	fmt.Printf("%.3f %.1f\n", wall.Seconds(), float64(rss)/1024)
}
