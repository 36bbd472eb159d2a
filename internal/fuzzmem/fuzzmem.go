// Package fuzzmem is the memory check of Berth's fuzz targets: it measures
// the heap one call of a parser allocates and fails the input when that is
// out of proportion to the input's size. A parser of untrusted input that
// passes only the crash check can still take PID 1 down by allocating a
// gigabyte for a kilobyte (an alias bomb, a length field believed); this
// check catches that while fuzzing, and on every seed in go test.
//
// What is measured is runtime.MemStats.TotalAlloc before and after the
// call: every byte allocated, freed or not. That is an upper bound of the
// heap the call can have held at once, so a call under its Bound never
// needed more than the Bound. Check also ends a call that hangs (Timeout). Allocations of other goroutines in the same
// interval count too; fuzz targets run one input at a time, and the bounds
// leave room for that noise.
package fuzzmem

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"
)

// MiB is a mebibyte, for writing bounds.
const MiB = 1 << 20

// Bound is how much heap a parser may allocate for one input: Base plus
// PerByte for each byte of the input, and never more than Max when Max is
// set. Max is for a parser whose input size is capped (user-data at 16
// MiB): what the cap allows must fit in the memory of the host too. Each
// fuzz target picks its own, above what its real inputs need, and says why.
type Bound struct {
	Base    uint64
	PerByte uint64
	Max     uint64 // 0: no ceiling
}

// For is the bound for an input of n bytes.
func (b Bound) For(n int) uint64 {
	limit := b.Base + b.PerByte*uint64(max(n, 0))
	if b.Max > 0 {
		limit = min(limit, b.Max)
	}
	return limit
}

func (b Bound) String() string {
	s := fmt.Sprintf("%s + %d×len(input)", size(b.Base), b.PerByte)
	if b.Max > 0 {
		s += ", at most " + size(b.Max)
	}
	return s
}

// Allocated runs f and returns the bytes it allocated on the heap.
func Allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// LogEnv names the environment variable that makes Check log what each
// input allocated (go test -v -run FuzzX with BERTH_FUZZMEM_LOG=1), for
// choosing a bound from what the seeds need.
const LogEnv = "BERTH_FUZZMEM_LOG"

// Timeout is how long one input may take before Check ends the process:
// a parser that hangs on an input, as a YAML alias bomb hung the boot, is
// a finding too. Go's fuzzing notices no hang by itself (the run ends in
// "context deadline exceeded" with nothing saved), but it saves the input
// of a worker that dies. Real inputs take milliseconds.
var Timeout = 10 * time.Second

// Check runs f, the parse of an input of n bytes, and fails t when f
// allocated more than b allows for n bytes. When f takes longer than
// Timeout, it panics from another goroutine, which ends the process and
// makes the fuzzer save the input. It returns what f allocated.
func Check(t testing.TB, b Bound, n int, f func()) uint64 {
	t.Helper()
	watchdog := time.AfterFunc(Timeout, func() {
		panic(fmt.Sprintf("fuzzmem: %s: one input of %d bytes took over %s", t.Name(), n, Timeout))
	})
	got := Allocated(f)
	watchdog.Stop()
	if os.Getenv(LogEnv) != "" {
		t.Logf("allocated %s for %d bytes of input (bound %s)", size(got), n, size(b.For(n)))
	}
	if limit := b.For(n); got > limit {
		t.Errorf("allocated %s for %d bytes of input: over the bound of %s (%s)", size(got), n, size(limit), b)
	}
	return got
}

// size writes a byte count for people: 1536 B, 12.0 KiB, 64.0 MiB.
func size(n uint64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}
