package fuzzmem

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB that keeps what Check reports.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

var sink []byte

func TestCheck(t *testing.T) {
	b := Bound{Base: 1 * MiB, PerByte: 16}
	if got := b.For(1000); got != 1*MiB+16000 {
		t.Errorf("For(1000) = %d", got)
	}
	if got := b.String(); got != "1.0 MiB + 16×len(input)" {
		t.Errorf("String() = %q", got)
	}
	capped := Bound{Base: 1 * MiB, PerByte: 16, Max: 2 * MiB}
	if got := capped.For(1 << 20); got != 2*MiB {
		t.Errorf("For(1 MiB) with a ceiling of 2 MiB = %d", got)
	}
	if got := capped.For(1000); got != 1*MiB+16000 {
		t.Errorf("For(1000) under the ceiling = %d", got)
	}
	if got := capped.String(); got != "1.0 MiB + 16×len(input), at most 2.0 MiB" {
		t.Errorf("String() = %q", got)
	}

	var r recorder
	if got := Check(&r, b, 1000, func() { sink = make([]byte, 64<<10) }); got < 64<<10 || len(r.errs) != 0 {
		t.Errorf("64 KiB under a bound of 1 MiB: measured %d, reported %q", got, r.errs)
	}

	r = recorder{}
	got := Check(&r, b, 1000, func() { sink = make([]byte, 8*MiB) })
	if got < 8*MiB {
		t.Errorf("8 MiB allocated, %d measured", got)
	}
	want := "allocated 8.0 MiB for 1000 bytes of input: over the bound of 1.0 MiB (1.0 MiB + 16×len(input))"
	if len(r.errs) != 1 || r.errs[0] != want {
		t.Errorf("8 MiB over a bound of 1 MiB: reported %q, want %q", r.errs, want)
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 64 * MiB: "64.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := size(n); got != want {
			t.Errorf("size(%d) = %q, want %q", n, got, want)
		}
	}
}

// An input that hangs ends the process with a panic naming the test, as
// a fuzz worker must end for the fuzzer to save the input. The test runs
// itself in a child process, which the panic ends.
func TestCheckEndsAHang(t *testing.T) {
	if os.Getenv("FUZZMEM_HANG") == "1" {
		Timeout = 100 * time.Millisecond
		Check(t, Bound{Base: MiB}, 1, func() { time.Sleep(5 * time.Second) })
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCheckEndsAHang$")
	cmd.Env = append(os.Environ(), "FUZZMEM_HANG=1")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "panic: fuzzmem: TestCheckEndsAHang: one input of 1 bytes took over 100ms") {
		t.Errorf("a hanging input: %v\n%s", err, out)
	}
	// A quick one is not ended.
	Check(t, Bound{Base: MiB}, 1, func() {})
}
