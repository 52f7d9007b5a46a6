package capture

import (
	"fmt"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkPinnedReadLoop is BenchmarkReadLoop on each CPU alone (the
// first eight the process may use), its thread held there: make bench
// prints them beside the pipeline's figures. On a virtual machine one CPU
// can be much slower than the other for minutes, when the host gives its
// core's time to someone else, and a pipeline spread over both then runs
// at the pace of the slower (on the machine of make bench's figures in the
// README, 230 to 250 ms on one and 320 to 390 on the other, either way
// round, in the same hour), while the read loop, on one, takes the faster.
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
