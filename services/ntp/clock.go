package ntp

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// clock is what the service changes: the seam its tests replace.
type clock interface {
	// Step moves the clock by d at once.
	Step(d time.Duration) error
	// Discipline hands offset to the kernel's PLL, which slews the clock
	// by it (and learns the frequency error) over about the poll
	// interval; it tells the kernel the clock's maximum and estimated
	// error, the leap second due tonight (leapInsert, leapDelete or
	// leapNone), and that the clock is synchronised (STA_UNSYNC clear).
	Discipline(offset, maxErr, estErr time.Duration, leap int, poll time.Duration) error
}

// kernelClock is the system clock, through adjtimex(2). Both calls need
// CAP_SYS_TIME.
type kernelClock struct{}

// maxPhase is the most the kernel's PLL takes in one ADJ_OFFSET: it
// clamps larger offsets to it.
const maxPhase = 500 * time.Millisecond

func (kernelClock) Step(d time.Duration) error {
	// ADJ_SETOFFSET adds the offset to the clock in the kernel, with no
	// read-modify-write window (settimeofday would need one).
	sec, nsec := int64(d/time.Second), int64(d%time.Second)
	if nsec < 0 { // the nanoseconds field must be 0..999999999
		sec, nsec = sec-1, nsec+int64(time.Second)
	}
	tx := unix.Timex{Modes: unix.ADJ_SETOFFSET | unix.ADJ_NANO, Time: unix.Timeval{Sec: sec, Usec: nsec}}
	if _, err := unix.Adjtimex(&tx); err != nil {
		return fmt.Errorf("step the clock by %v: %w", d, err)
	}
	return nil
}

func (kernelClock) Discipline(offset, maxErr, estErr time.Duration, leap int, poll time.Duration) error {
	offset = max(-maxPhase, min(maxPhase, offset))
	status := int32(unix.STA_PLL)
	switch leap {
	case leapInsert:
		status |= unix.STA_INS
	case leapDelete:
		status |= unix.STA_DEL
	}
	tx := unix.Timex{
		Modes:    unix.ADJ_OFFSET | unix.ADJ_STATUS | unix.ADJ_MAXERROR | unix.ADJ_ESTERROR | unix.ADJ_TIMECONST | unix.ADJ_NANO,
		Offset:   offset.Nanoseconds(),
		Status:   status,
		Maxerror: maxErr.Microseconds(),
		Esterror: estErr.Microseconds(),
		Constant: timeConstant(poll),
	}
	if _, err := unix.Adjtimex(&tx); err != nil {
		return fmt.Errorf("adjtimex (slew by %v): %w", offset, err)
	}
	return nil
}

// timeConstant is the PLL's time constant for a poll interval, as ntpd
// sets it: log2 of the interval in seconds, less 4 (64 s gives 2).
func timeConstant(poll time.Duration) int64 {
	tc := int64(0)
	for s := poll / time.Second; s > 1; s >>= 1 {
		tc++
	}
	return max(0, tc-4)
}
