// Command measure runs a command three times with its output discarded and
// prints the median of its wall times in seconds and of its peak resident
// memories in MiB, for make bench: on a shared machine one run's figures
// moved by a tenth from one run to the next (a 100 MB capture's peak RSS by
// 3 MiB), which is what the growth from it to 1 GB is judged against.
//
//	go run ./internal/measure ./tlssniff -r bench/bulk.pcap --json
package main

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"time"
)

const runs = 3

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "measure: usage: measure COMMAND [ARG ...]")
		os.Exit(2)
	}
	var walls, rsss []float64
	for range runs {
		cmd := exec.Command(os.Args[1], os.Args[2:]...)
		cmd.Stderr = os.Stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "measure: %s: %v\n", os.Args[1], err)
			os.Exit(1)
		}
		walls = append(walls, time.Since(start).Seconds())
		rsss = append(rsss, float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss)/1024) // KiB on Linux
	}
	fmt.Printf("%.3f %.1f\n", median(walls), median(rsss))
}

func median(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}
