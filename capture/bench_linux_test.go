package capture

import (
	"fmt"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkPinnedReadLoop is BenchmarkReadLoop on each CPU alone (the
// first eight the process may use), its thread held there: make bench
// prints them beside the pipeline's figures. On a virtual machine the host
// can slow one CPU for minutes (on the machine of make bench's figures in
// the README, 320 to 390 ms against 230 to 250 on the other, either way
// round, in the same hour). The read loop, on one CPU, takes the faster; a
// pipeline spread over both is slowed too (NDJSON with two workers there:
// a median of 608 ms against 566 with both fast).
func BenchmarkPinnedReadLoop(b *testing.B) {
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		b.Skip(err)
	}
	for cpu, n := 0, 0; cpu < len(all)*64 && n < 8; cpu++ {
		if !all.IsSet(cpu) {
			continue
		}
		n++
		b.Run(fmt.Sprintf("cpu=%d", cpu), func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var one unix.CPUSet
			one.Set(cpu)
			if err := unix.SchedSetaffinity(0, &one); err != nil {
				b.Skip(err)
			}
			defer unix.SchedSetaffinity(0, &all)
			readLoop(b)
		})
	}
}
